"""Removal of a source file's leading licence/copyright comment, and only that.

LLaMA "removed boilerplate, such as headers, with regular expressions". RedPajama's regex removed
every leading line starting with ``#``, ``//`` or ``--`` (so ``#include``, ``#define``, ``#!``
shebangs, Markdown headings and any ordinary first comment went too) and then the first ``/* */``
block anywhere in the first 100 lines that mentioned "copyright". Here the comment syntax comes
from the file's language (meta ``language``), and a comment is removed only when it is at the top
of the file and contains licence wording:

* what may precede it stays: a ``#!`` shebang line and a Python/Ruby coding line
  (``# -*- coding: utf-8 -*-``);
* the leading comments are scanned in order (blank lines between them are fine): a block comment
  (``/* */``, ``<!-- -->``, ``{- -}``, ``--[[ ]]``, ``<# #>``) or a run of consecutive line
  comments (``#``, ``//``, ``--``, ``;``, ``%``, ``!``, ``'``, ``REM``) of the language;
* a comment is licence boilerplate when it mentions copyright, a licence, an SPDX identifier,
  "all rights reserved" or the MIT/BSD grant wording; such a comment is removed, any other stays;
* directive comments inside a removed run stay where they are (``# cython: ...``, ``# vim: ...``,
  ``//go:build``, ``# -*- mode -*-``, ``# type:``, pylint/mypy/eslint pragmas);
* scanning stops at the first line that is not a comment, so code (``#include``, ``#define``,
  ``import``), docstrings (a string, not a comment) and Markdown headings (Markdown has no line
  comments) are never touched.
"""
from __future__ import annotations

import re

from llamacorpus.document import Document, replace, with_meta
from llamacorpus.steps import BadInput, Mapper
from llamacorpus.steps.clean.budget import DEFAULT as DEFAULT_BUDGET
from llamacorpus.steps.clean.budget import CleanerBudget, CleanerBudgetExceeded, budget_error

#: work units per character: the scan reads each character at most three times (blank-line
#: test, comment end, licence wording)
SCAN_UNITS_PER_CHAR = 3

_C_LINE, _C_BLOCK = ("//",), (("/*", "*/"),)
_HASH = ("#",)
_HTML_BLOCK = (("<!--", "-->"),)

#: language -> (line comment prefixes, block comment (open, close) pairs)
COMMENT_SYNTAX: dict[str, tuple[tuple[str, ...], tuple[tuple[str, str], ...]]] = {
    **{lang: (_HASH, ()) for lang in ("Python", "Cython", "Shell", "Ruby", "Perl", "Makefile", "CMake", "Dockerfile",
                                      "YAML", "TOML", "R", "Julia", "Smali", "Fish")},
    "PowerShell": (_HASH, (("<#", "#>"),)),
    "INI": (("#", ";"), ()),
    **{lang: (_C_LINE, _C_BLOCK) for lang in ("C", "C++", "Java", "JavaScript", "TypeScript", "Go", "Rust", "C#",
                                              "Scala", "Objective-C", "Swift", "Kotlin")},
    "CSS": ((), _C_BLOCK),
    "PHP": (("//", "#"), _C_BLOCK),
    "SQL": (("--",), _C_BLOCK),
    "Lua": (("--",), (("--[[", "]]"),)),
    "Haskell": (("--",), (("{-", "-}"),)),
    "Assembly": ((";",), _C_BLOCK),
    "TeX": (("%",), ()),
    "Fortran": (("!",), ()),
    "Visual Basic": (("'",), ()),
    "Batchfile": (("REM", "rem", "::"), ()),
    **{lang: ((), _HTML_BLOCK) for lang in ("HTML", "XML", "Markdown")},
}

LICENCE_WORDING = re.compile(
    r"copyright|\(c\)\s*\d|©|licen[cs]e|spdx|all rights reserved|permission is hereby granted|"
    r"redistribution and use|free software|public domain", re.I)
CODING_LINE = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*[-\w.]+")
DIRECTIVE = re.compile(r"^\s*(#|//)\s*(-\*-.*-\*-|vim?:|cython:|distutils:|go:build|\+build|pylint:|mypy:|"
                       r"flake8:|type:|noqa|eslint|jshint|@ts-|prettier|fmt:|isort:)")


def _line_end(text: str, pos: int) -> int:
    """Index just past the newline of the line that holds ``pos`` (or the end of the text)."""
    end = text.find("\n", pos)
    return len(text) if end < 0 else end + 1


def _skip_blank_lines(text: str, pos: int) -> int:
    while pos < len(text):
        end = _line_end(text, pos)
        if text[pos:end].strip():
            return pos
        pos = end
    return pos


def _block_comment(text: str, pos: int, blocks) -> int | None:
    """End of a block comment opening at ``pos`` (through the rest of its line when that is
    blank), or None."""
    for opener, closer in blocks:
        if text.startswith(opener, pos):
            close = text.find(closer, pos + len(opener))
            if close < 0:
                return None  # unterminated: not a header we can remove safely
            end = close + len(closer)
            rest = _line_end(text, end)
            return rest if not text[end:rest].strip() else end
    return None


def _line_run(text: str, pos: int, prefixes) -> int | None:
    """End of the run of consecutive line comments starting at ``pos``, or None."""
    end = pos
    while end < len(text):
        line_end = _line_end(text, end)
        if not text[end:line_end].lstrip().startswith(prefixes):
            break
        end = line_end
    return end if end > pos else None


def _leading_comments(text: str, language: str | None) -> tuple[int, list[tuple[int, int]], int] | None:
    """The comments at the top of ``text``: ``(where they may start, [(start, end)], where the code
    starts)``, after a shebang and a coding line; None for a language without known comment
    syntax. Each character is looked at a bounded number of times: linear in the text."""
    syntax = COMMENT_SYNTAX.get(language or "")
    if syntax is None or not text:
        return None
    prefixes, blocks = syntax
    pos = _line_end(text, 0) if text.startswith("#!") else 0
    for _ in range(2):  # a coding line may follow the shebang
        if pos < len(text) and CODING_LINE.match(text[pos:_line_end(text, pos)]):
            pos = _line_end(text, pos)
    first, comments = pos, []
    while True:
        start = _skip_blank_lines(text, pos)
        line = text[start:_line_end(text, start)]
        end = _block_comment(text, start + len(line) - len(line.lstrip()), blocks)
        if end is None and prefixes:
            end = _line_run(text, start, prefixes)
        if end is None:
            return first, comments, start
        comments.append((start, end))
        pos = end


def license_header(text: str, language: str | None) -> str:
    """The leading comments of ``text`` that are licence boilerplate (what
    :func:`strip_license_header` removes), joined; ``""`` when there are none."""
    found = _leading_comments(text, language)
    if found is None:
        return ""
    return "".join(text[start:end] for start, end in found[1] if LICENCE_WORDING.search(text[start:end]))


def strip_license_header(text: str, language: str | None) -> tuple[str, int]:
    """``text`` without its leading licence comment(s), and the number of characters removed."""
    found = _leading_comments(text, language)
    if found is None:
        return text, 0
    pos, comments, code = found
    pieces = [text[:pos]]
    removed = trim = False  # trim: blank lines left where a comment was removed
    for start, end in comments:
        comment = text[start:end]
        if LICENCE_WORDING.search(comment):
            pieces.extend(line for line in comment.splitlines(keepends=True) if DIRECTIVE.match(line))
            removed = trim = True
        else:
            pieces.append(text[start if trim else pos:end])
            trim = False
        pos = end
    if not removed:
        return text, 0
    out = "".join(pieces) + text[code if trim else pos:]
    return out, len(text) - len(out)


class StripLicenseHeader(Mapper):
    """Mapper: remove the leading licence comment; meta ``header_chars_removed`` says how much.

    Linear by construction (:func:`_leading_comments`); the text is charged to the document's work
    budget all the same (:mod:`llamacorpus.steps.clean.budget`), like every cleaner's."""

    name = "license_header"

    def __init__(self, budget: CleanerBudget = DEFAULT_BUDGET):
        self.budget = budget

    def map(self, doc: Document) -> Document | BadInput:
        try:
            self.budget.meter(len(doc["text"])).spend(SCAN_UNITS_PER_CHAR * len(doc["text"]))
        except CleanerBudgetExceeded as exc:
            return budget_error(doc, exc, self.name)
        text, removed = strip_license_header(doc["text"], doc["meta"].get("language"))
        if not removed:
            return doc
        return with_meta(replace(doc, text=text), header_chars_removed=removed)
