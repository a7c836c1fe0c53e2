"""HTML fragments (Stack Exchange post bodies) to readable plain text, with lxml.

What survives, and how it looks:

* paragraphs and other blocks (``p``, ``div``, headings, ``tr``...) are separated by a blank line;
  inside them whitespace collapses to single spaces and ``<br>`` is a line break;
* list items start with ``- `` (``ul``) or ``1. `` (``ol``, honouring ``start``), nested lists
  indent by two spaces, items of a list follow each other without a blank line;
* ``<pre>`` blocks are code: kept character for character between ``````` fences; inline
  ``<code>`` is kept between backticks;
* ``<blockquote>`` lines start with ``> ``; table cells are joined with `` | ``;
* images, scripts and styles vanish; every other tag is unwrapped, so no tag remains, and
  entities (``&amp;``, ``&lt;``, ``&#39;``...) are decoded by the parser.

Bounded: elements nested deeper than :data:`MAX_RENDER_DEPTH` are rendered as their plain text
(one inline run, without layout) and counted (:attr:`Rendered.flattened`); HTML nested deeper than
the parser's own limit (libxml2 stops at 256 levels, at 2048 with ``huge_tree``, and silently
returns what it read before, often nothing) raises :class:`HtmlTooDeep`, which the mapper counts
as ``error:cleaner_budget`` rather than keeping an empty or cut post. Work (elements and text
visited) is charged to the document's budget (:mod:`llamacorpus.steps.clean.budget`).
"""
from __future__ import annotations

import re
import threading
from typing import NamedTuple

from lxml import etree
from lxml import html as lxml_html

from llamacorpus.document import Document, replace, with_meta
from llamacorpus.steps import BadInput, Mapper
from llamacorpus.steps.clean.budget import DEFAULT as DEFAULT_BUDGET
from llamacorpus.steps.clean.budget import (CleanerBudget, CleanerBudgetExceeded, WorkMeter, budget_error,
                                            unlimited)

BLOCKS = frozenset({"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "table", "tr", "hr", "dl", "dt", "dd",
                    "section", "article", "header", "footer", "figure", "figcaption", "details", "summary",
                    "center", "address"})
SKIPPED = frozenset({"img", "script", "style", "head", "title", "meta", "link", "iframe", "object", "svg"})
CELLS = frozenset({"td", "th"})
_BREAK = "\x00"  # a <br> in inline text, kept apart from the source's own newlines
FENCE = "```"
#: elements nested deeper than this are rendered as plain text (their layout is not kept)
MAX_RENDER_DEPTH = 64
#: work units per element visited (its text is charged by its length)
ELEMENT_UNITS = 20


class HtmlTooDeep(CleanerBudgetExceeded):
    """HTML nested deeper than the parser reads: what it returns would be cut short."""


class Rendered(NamedTuple):
    text: str
    flattened: int  # subtrees deeper than MAX_RENDER_DEPTH rendered as plain text


class _Renderer:
    def __init__(self, meter: WorkMeter):
        self.meter = meter
        self.depth = 0
        self.flattened = 0
        self.out: list[str] = []
        self.inline: list[str] = []
        self.lists: list[list] = []  # per open list: [tag, next number, width of the current marker]
        self.marker = ""  # the list marker waiting for the first line of an item
        self.quote = 0
        self.first_cell = True
        self.last_in_list = False

    # -- emitting
    def _emit(self, lines: list[str]) -> None:
        if not lines:
            return
        content = "".join(" " * level[2] for level in self.lists)  # where an item's text lines up
        first = content[: len(content) - len(self.marker)] + self.marker
        quote = "> " * self.quote
        text = "\n".join((quote + (first if i == 0 else content) + line).rstrip()
                         for i, line in enumerate(lines))
        if self.out:
            self.out.append("\n" if self.marker and self.last_in_list else "\n\n")
        self.out.append(text)
        self.marker = ""
        self.last_in_list = bool(self.lists)

    def flush(self) -> None:
        if not self.inline:
            return
        lines = [" ".join(line.split()) for line in "".join(self.inline).split(_BREAK)]
        self.inline = []
        first = next((i for i, line in enumerate(lines) if line), len(lines))
        last = next((i for i in range(len(lines) - 1, first - 1, -1) if lines[i]), first - 1)
        self._emit(lines[first:last + 1])

    def code(self, text: str) -> None:
        self.flush()
        self._emit([FENCE, *text.rstrip("\n").split("\n"), FENCE])

    # -- walking
    def walk(self, element) -> None:
        self.meter.spend(ELEMENT_UNITS + len(element.text or "") + len(element.tail or ""))
        tag = element.tag.lower() if isinstance(element.tag, str) else None
        if tag is None or tag in SKIPPED:
            pass
        elif self.depth >= MAX_RENDER_DEPTH:
            self.flattened += 1
            self.inline.append(plain_text(element, self.meter))
        elif tag == "pre":
            self.code(plain_text(element, self.meter, sep=""))
        elif tag == "code":
            self.inline.append(f"`{plain_text(element, self.meter, sep='')}`")
        elif tag == "br":
            self.inline.append(_BREAK)
        elif tag in ("ul", "ol"):
            self.flush()
            if not self.lists:  # a new list is a new block, even right after another one
                self.last_in_list = False
            start = element.get("start", "1")
            self.lists.append([tag, int(start) if start.lstrip("-").isdigit() else 1, 0])
            self.children(element)
            self.flush()
            self.lists.pop()
        elif tag == "li":
            self.flush()
            if not self.lists:  # an item outside any list: as if in a <ul>
                self.lists.append(["ul", 1, 0])
                self.walk_item(element)
                self.lists.pop()
            else:
                self.walk_item(element)
        elif tag == "blockquote":
            self.flush()
            self.quote += 1
            self.children(element)
            self.flush()
            self.quote -= 1
        elif tag in CELLS:
            if not self.first_cell:
                self.inline.append(" | ")
            self.first_cell = False
            self.children(element)
        elif tag in BLOCKS:
            self.flush()
            self.first_cell = True
            self.children(element)
            self.flush()
        else:
            self.children(element)
        if element.tail:
            self.inline.append(element.tail)

    def walk_item(self, element) -> None:
        level = self.lists[-1]
        self.marker = "- " if level[0] == "ul" else f"{level[1]}. "
        level[1] += 1
        level[2] = len(self.marker)
        self.children(element)
        self.flush()
        self.marker = ""

    def children(self, element) -> None:
        if element.text:
            self.inline.append(element.text)
        self.depth += 1
        for child in element:
            self.walk(child)
        self.depth -= 1


def plain_text(element, meter: WorkMeter, sep: str = " ") -> str:
    """The text under ``element`` (its tail excluded) without scripts, styles and the like, read
    without recursion (``etree.iterwalk``), its pieces joined with ``sep``."""
    parts, skipping = [], 0
    for event, el in etree.iterwalk(element, events=("start", "end")):
        tag = el.tag.lower() if isinstance(el.tag, str) else None
        if event == "start":
            meter.spend(ELEMENT_UNITS)
            if tag is None or tag in SKIPPED:
                skipping += 1
            elif not skipping and el.text:
                parts.append(el.text)
        else:
            if tag is None or tag in SKIPPED:
                skipping -= 1
            if not skipping and el is not element and el.tail:
                parts.append(el.tail)
    return sep.join(parts)


_PARSERS = threading.local()
_DOCUMENT_END = re.compile(r"</(?:body|html)\s*>", re.I)


def _parser() -> lxml_html.HTMLParser:
    """This thread's HTML parser (lxml parsers are not shared between threads)."""
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = _PARSERS.parser = lxml_html.HTMLParser(huge_tree=True)
    return parser


def render_html(html: str, meter: WorkMeter | None = None) -> Rendered:
    """The text of an HTML fragment, keeping paragraphs, list items and code blocks, and the
    number of subtrees flattened. Raises :class:`HtmlTooDeep` for HTML the parser cannot read
    to its end, :class:`CleanerBudgetExceeded` when ``meter`` runs out."""
    if not html or not html.strip():
        return Rendered("", 0)
    meter = meter or unlimited()
    meter.spend(len(html))
    parser = _parser()
    # lxml's fragment_fromstring appends "</body></html>", which an unclosed <script>, <textarea>
    # or <pre><style> took for its own text; an open body, closed by the parser, has no such text.
    # A fragment's own </body> or </html> goes: libxml2 drops what follows </html>.
    root = lxml_html.document_fromstring("<html><body>" + _DOCUMENT_END.sub("", html), parser=parser)
    root = root.find("body") if root.find("body") is not None else root
    fatal = [e for e in parser.error_log if e.level == etree.ErrorLevels.FATAL]
    if fatal:
        raise HtmlTooDeep(f"the HTML parser stopped: {fatal[0].message}")
    renderer = _Renderer(meter)
    renderer.children(root)
    renderer.flush()
    return Rendered("".join(renderer.out), renderer.flattened)


def html_to_text(html: str) -> str:
    """The text of an HTML fragment, keeping paragraphs, list items and code blocks."""
    return render_html(html).text


class HtmlToText(Mapper):
    """A document whose text is HTML -> the same document with its text (:func:`render_html`).

    Meta ``html_flattened`` (when not 0) counts the subtrees nested too deep to lay out; a post
    past its work budget, or nested deeper than the parser reads, is an ``error:cleaner_budget``
    with its location and id."""

    name = "html_to_text"

    def __init__(self, budget: CleanerBudget = DEFAULT_BUDGET):
        self.budget = budget

    def map(self, doc: Document) -> Document | BadInput:
        try:
            rendered = render_html(doc["text"], self.budget.meter(len(doc["text"])))
        except CleanerBudgetExceeded as exc:
            return budget_error(doc, exc, self.name)
        out = replace(doc, text=rendered.text)
        return with_meta(out, html_flattened=rendered.flattened) if rendered.flattened else out
