"""What mwparserfromhell is given: wikitext whose every construct closes, found in one linear pass.

mwparserfromhell's tokenizer tries each opener (``{{``, ``[[``, ``<tag``, ``[http://``, ``{|``) as
far as the text goes and, when it never closes, backtracks and tries the next character: a page
with many unclosed openers costs the square of its length (measured with mwparserfromhell 0.7 on
32 KB: ``<x `` 69 s, ``{{a|`` 21 s, ``[[a|`` 3 s, ``<div>`` 1.8 s; ``bench/bench_cleaners.py``).
MediaWiki shows such markup as literal text, and so does the parser once it gives up; so the
same text comes out when the openers that never close are escaped first, and the parse is linear:

* ``{{`` and ``[[`` (counted in pairs along runs of braces and brackets, as MediaWiki's
  preprocessor does) that no later ``}}``/``]]`` closes become the entities ``&#123;``/``&#91;``,
  which the parser reads as text (the renderer turns entities back into characters, and the
  residue check removes lines still holding ``{{`` or ``[[``);
* a tag whose ``</name>`` never follows is removed (the renderer removed unpaired tags already),
  and so is the ``<`` of a ``<name`` whose ``>`` never comes before the next ``<`` (kept as
  ``&lt;``, a later ``>`` would make a tag of it in the text); the raw-content tags the parser does not
  look into (``nowiki``, ``pre``, ``math``...: mwparserfromhell's ``PARSER_BLACKLIST``) are skipped
  whole when they close; tags that may stand alone (``br``, ``li``...) are left as they are;
* an external link's ``[`` with no ``]`` before the end of its line goes (the URL stays, a bare
  link, as the page shows it);
* openers nested deeper than :data:`MAX_NESTING` are escaped with their closers (the tokenizer
  gives up at depth 100 and backtracks there too);
* tables: :func:`llamacorpus.steps.clean.wikitext.strip_tables` removes the closed ones; the
  ``{|`` of one that never closes is escaped here.

:func:`ref_spans` finds ``<ref>...</ref>`` and ``<ref/>`` as MediaWiki's preprocessor does, in
one pass (the regular expression it replaces scanned to the end of the page for each ``<ref>``
that never closed).
"""
from __future__ import annotations

import re
from typing import Iterator

from mwparserfromhell.definitions import PARSER_BLACKLIST, SINGLE, URI_SCHEMES

#: templates, links and tags nested at most; deeper ones are escaped with their closers
MAX_NESTING = 40

RAW_TAGS = frozenset(PARSER_BLACKLIST)
STANDALONE_TAGS = frozenset(SINGLE)
_TAG = re.compile(r"<(?P<slash>/?)(?P<name>[A-Za-z][\w:.-]*)(?P<attrs>[^<>]*)(?P<end>>?)")
#: runs of braces and brackets, and an external link's "[" (no named groups: they cost 5x here)
_BRACKETS = re.compile(r"\{\{+|\}\}+|\[\[+|\]\]+|\[(?=[A-Za-z][A-Za-z0-9+.-]*:|//)")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_ESCAPED = {"{{": "&#123;&#123;", "}}": "&#125;&#125;", "[[": "&#91;&#91;", "]]": "&#93;&#93;"}
_TABLE_OPEN = re.compile(r"^([ \t:]*)\{\|", re.M)
_REF_TOKEN = re.compile(r"<ref(?:\s[^<>]*)?/>|<ref(?:\s[^<>]*)?>|</ref\s*>", re.I)


def ref_spans(text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each reference: ``<ref .../>``, or ``<ref ...>`` to the first
    ``</ref>`` after it (a ``<ref>`` inside is text). A ``<ref>`` that never closes is not one;
    the self-closing references after it still are."""
    opened = -1
    pending: list[tuple[int, int]] = []  # self-closing ones inside an open <ref>
    for m in _REF_TOKEN.finditer(text):
        token = m.group()
        if token[1] == "/":
            if opened >= 0:
                yield opened, m.end()
                opened, pending = -1, []
        elif token.endswith("/>"):
            if opened >= 0:
                pending.append(m.span())
            else:
                yield m.span()
        elif opened < 0:
            opened = m.start()
    yield from pending


class _Construct:
    """An opener, and the closer that closes it (``close`` None while it is open)."""

    __slots__ = ("open", "close", "escape_open", "escape_close")

    def __init__(self, open_span: tuple[int, int], escape_open: str, escape_close: str = ""):
        self.open, self.close = open_span, None
        self.escape_open, self.escape_close = escape_open, escape_close


def _tags(text: str, constructs: list, edits: list) -> list[tuple[int, int]]:
    """Pair the tags of ``text``; returns the spans of raw-content tags (skipped by the rest)."""
    stacks: dict[str, list[_Construct]] = {}
    raw_spans: list[tuple[int, int]] = []
    raw_unclosed: set[str] = set()  # raw tags with no closer after the last one looked for
    skip_to = 0
    for m in _TAG.finditer(text):
        if m.start() < skip_to:
            continue
        name = m.group("name").lower()
        if not m.group("end"):  # "<name ..." with no ">" before the next "<": its "<" goes
            edits.append((m.start(), m.start() + 1, ""))
        elif m.group("slash"):
            stack = stacks.get(name)
            if stack:
                stack.pop().close = m.span()
        elif m.group("attrs").endswith("/") or name in STANDALONE_TAGS:
            continue
        elif name in RAW_TAGS:
            closer = None if name in raw_unclosed else \
                re.compile(r"</%s\s*>" % re.escape(name), re.I).search(text, m.end())
            if closer is None:
                raw_unclosed.add(name)
                edits.append((m.start(), m.end(), ""))
            else:
                raw_spans.append((m.start(), closer.end()))
                skip_to = closer.end()
        else:
            construct = _Construct(m.span(), "")
            constructs.append(construct)
            stacks.setdefault(name, []).append(construct)
    return raw_spans


def _brackets(text: str, raw_spans: list[tuple[int, int]], constructs: list, edits: list) -> None:
    """Pair ``{{ }}`` and ``[[ ]]`` (two by two along runs); remove external links' ``[`` whose
    line has no ``]`` after them."""
    stacks: dict[str, list[_Construct]] = {"{": [], "[": []}
    raw = iter(raw_spans)
    raw_span = next(raw, None)
    line_end = -1
    ext_unclosed = False  # an external link on this line found no "]": none after it will
    for m in _BRACKETS.finditer(text):
        start, end = m.span()
        while raw_span is not None and raw_span[1] <= start:
            raw_span = next(raw, None)
        if raw_span is not None and raw_span[0] <= start:
            continue
        token = m.group()
        if token == "[":  # an external link, when its scheme is one MediaWiki links
            scheme = _SCHEME.match(text, end)
            if scheme and scheme.group(1).lower() not in URI_SCHEMES:
                continue
            if line_end < start:
                line_end = text.find("\n", start)
                line_end = len(text) if line_end < 0 else line_end
                ext_unclosed = False
            if ext_unclosed or text.find("]", end, line_end) < 0:
                ext_unclosed = True
                edits.append((start, end, ""))
            continue
        first = token[0]
        opening = first in "{["
        stack = stacks["{" if first in "{}" else "["]
        pair = token[:2]
        for k in range(start, end - 1, 2):
            if opening:
                construct = _Construct((k, k + 2), _ESCAPED[pair], _ESCAPED["}}" if first == "{" else "]]"])
                constructs.append(construct)
                stack.append(construct)
            elif stack:
                stack.pop().close = (k, k + 2)


def _too_deep(constructs: list) -> list:
    """The closed constructs nested :data:`MAX_NESTING` deep or deeper inside other closed ones."""
    events = []
    for c in constructs:
        if c.close is not None:
            events.append((c.open[0], 1, c))
            events.append((c.close[0], -1, c))
    events.sort(key=lambda e: (e[0], e[1]))
    depth, deep = 0, []
    for _, step, c in events:
        if step > 0:
            if depth >= MAX_NESTING:
                deep.append(c)
            depth += 1
        else:
            depth -= 1
    return deep


def balance(text: str) -> str:
    """``text`` with the openers that never close (and those nested too deep) escaped or removed,
    as the module docstring says; text whose constructs all close comes back unchanged."""
    constructs: list[_Construct] = []
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement)
    raw_spans = _tags(text, constructs, edits) if "<" in text else []
    if "{{" in text or "[[" in text or "[" in text:
        _brackets(text, raw_spans, constructs, edits)
    for c in constructs:
        if c.close is None:
            edits.append((*c.open, c.escape_open))
    for c in _too_deep(constructs):
        edits.append((*c.open, c.escape_open))
        edits.append((*c.close, c.escape_close))
    if edits:
        edits.sort()
        pieces, pos = [], 0
        for start, end, replacement in edits:
            if start < pos:  # a tag inside a tag's attributes, already replaced
                continue
            pieces.append(text[pos:start])
            pieces.append(replacement)
            pos = end
        pieces.append(text[pos:])
        text = "".join(pieces)
    if "{|" in text:
        text = _TABLE_OPEN.sub(r"\1&#123;|", text)
    return text
