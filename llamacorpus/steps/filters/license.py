"""Keep files under the recipe's licences (GitHub: LLaMA kept "projects that are distributed under
the Apache, BSD and MIT licenses").

Two tests, in one step (``license``):

* the repository's licence: a document's meta ``license`` is an SPDX id or ``A OR B`` (dual
  licensing), kept when either is allowed; the others are dropped as ``license=<spdx id>``
  (``license=none`` without one);
* the file's own licence (``file_headers``): a file whose leading licence comment (found as
  :func:`llamacorpus.steps.clean.license_header.license_header` finds it, by the file's
  ``language``) names licences, none of them allowed, is dropped as ``file_license=<spdx id>``
  whatever the repository's licence: a GPL file vendored into an MIT repository is GPL. The
  licences a header names: an ``SPDX-License-Identifier`` expression (``OR``: any allowed;
  ``AND``: all; ``WITH`` an exception: its licence), else the licence texts and notices
  :func:`llamacorpus.licenses.detect_license` knows, else the short names of the copyleft
  families (``GNU LGPL v2.1``, ``GPLv3``, ``AGPL``, ``MPL``, ``EPL``, ``CDDL``) alongside the
  permissive ones (``MIT``, ``BSD``, ``Apache``: a header that names one of those besides a
  copyleft licence is dual-licensed and kept). A header naming no licence (``Copyright 2020
  ACME``) leaves the repository's licence in force. The figure ``file_license`` (the SPDX id or
  expression found) goes into meta when there is one.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

from llamacorpus.document import Document
from llamacorpus.licenses import detect_license, license_reason, spdx_of
from llamacorpus.steps import Filter
from llamacorpus.steps.clean.license_header import license_header

_SPDX_LINE = re.compile(r"SPDX-License-Identifier:\s*([^\n\r]+)", re.I)
_SPDX_TOKEN = re.compile(r"\(|\)|\bOR\b|\bAND\b|\bWITH\b|[A-Za-z0-9.+-]+", re.I)
#: short names in a header's prose, by family (the first pattern of a family that matches names it)
_SHORT_NAMES = (
    ((r"\b(?:GNU\s+)?AGPL\b|GNU Affero", "AGPL-3.0"),),
    ((r"\bLGPL\s*-?\s*(?:v|version)?\s*2(?:\.\d)?\b", "LGPL-2.1"), (r"\bLGPL\b|GNU Lesser General Public", "LGPL-3.0")),
    ((r"\bGPL\s*-?\s*(?:v|version)?\s*2(?:\.0)?\b", "GPL-2.0"), (r"\bGPL\b|GNU General Public License", "GPL-3.0")),
    ((r"\bMPL\b|Mozilla Public License", "MPL-2.0"),),
    ((r"\bEPL\b|Eclipse Public License", "EPL-2.0"),),
    ((r"\bCDDL\b|Common Development and Distribution License", "CDDL-1.0"),),
    ((r"\bMIT\s+licen[cs]e|\blicen[cs]ed under (?:the )?MIT\b", "MIT"),),
    ((r"\bApache\s+(?:Software\s+)?Licen[cs]e|\bApache[- ]2\.0\b", "Apache-2.0"),),
    ((r"\bBSD[- ](?:3|three)\b|\b(?:new|modified|revised) BSD\b", "BSD-3-Clause"),
     (r"\bBSD[- ](?:2|two)\b|\bsimplified BSD\b|\bFreeBSD licen", "BSD-2-Clause")),
)
_SHORT_NAMES = tuple(tuple((re.compile(p, re.I), spdx) for p, spdx in family) for family in _SHORT_NAMES)


def _spdx_expression_ok(expression: str, allowed: set[str]) -> bool:
    """Whether an SPDX expression holds with only ``allowed`` licences (OR: one side, AND: both)."""
    tokens = [t for t in _SPDX_TOKEN.findall(expression)]
    pos = 0

    def licence() -> bool:
        nonlocal pos
        if pos < len(tokens) and tokens[pos] == "(":
            pos += 1
            value = disjunction()
            if pos < len(tokens) and tokens[pos] == ")":
                pos += 1
            return value
        name = tokens[pos] if pos < len(tokens) else ""
        pos += 1
        if pos < len(tokens) and tokens[pos].upper() == "WITH":  # an exception keeps its licence's terms
            pos += 2
        return _allowed(name, allowed)

    def chain(operand, operator: str, combine) -> bool:
        """``operand (operator operand)*``, folded with ``combine``."""
        nonlocal pos
        value = operand()
        while pos < len(tokens) and tokens[pos].upper() == operator:
            pos += 1
            value = combine(operand(), value)
        return value

    def conjunction() -> bool:
        return chain(licence, "AND", lambda a, b: a and b)

    def disjunction() -> bool:
        return chain(conjunction, "OR", lambda a, b: a or b)

    return disjunction()


def _allowed(name: str, allowed: set[str]) -> bool:
    spdx = spdx_of(name) or ""
    base = re.sub(r"-(?:only|or-later)$|\+$", "", spdx, flags=re.I)
    return spdx.lower() in allowed or base.lower() in allowed


def header_license(header: str) -> str | None:
    """The licence a file's licence comment names, as an SPDX expression (several names in prose
    are read as a choice, ``A OR B``), or None when it names none."""
    if not header:
        return None
    lines = [m.group(1).strip().rstrip("*/#-> \t").strip() for m in _SPDX_LINE.finditer(header)]
    lines = [line for line in lines if line]
    if lines:
        return lines[0] if len(lines) == 1 else " AND ".join(f"({line})" for line in lines)
    text = " ".join(header.split())
    detected = detect_license(text)
    if detected != "other":
        return detected
    named = []
    for family in _SHORT_NAMES:
        spdx = next((spdx for pattern, spdx in family if pattern.search(text)), None)
        if spdx:
            named.append(spdx)
    return " OR ".join(named) or None


def first_disallowed(expression: str, allowed: set[str]) -> str:
    """The first licence of ``expression`` that is not allowed (for the drop reason)."""
    for token in _SPDX_TOKEN.findall(expression):
        if token not in "()" and token.upper() not in ("OR", "AND", "WITH") and not _allowed(token, allowed):
            return token
    return expression


class LicenseFilter(Filter):
    """Keep files whose repository licence (meta ``license``) is in the recipe list (``A OR B``
    when either is), and, with ``file_headers``, whose own licence header names an allowed licence
    or none (see the module docstring)."""

    name = "license"
    measures = ()

    def __init__(self, licenses: Iterable[str], file_headers: bool = True):
        self.allowed = {spdx_of(x) for x in licenses}
        self._allowed_lower = {x.lower() for x in self.allowed if x}
        self.file_headers = file_headers

    def score(self, doc: Document) -> dict[str, Any]:
        if not self.file_headers:
            return {}
        named = header_license(license_header(doc["text"], doc["meta"].get("language")))
        return {"file_license": named} if named else {}

    def keep(self, doc: Document) -> tuple[bool, str | None]:
        spdx = doc["meta"].get("license")
        if not (spdx and any(part in self.allowed for part in spdx.split(" OR "))):
            return False, license_reason(spdx)
        named = doc["meta"].get("file_license") if self.file_headers else None
        if named and not _spdx_expression_ok(named, self._allowed_lower):
            return False, "file_" + license_reason(first_disallowed(named, self._allowed_lower))
        return True, None
