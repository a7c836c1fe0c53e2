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
"""
from __future__ import annotations

from lxml import etree
from lxml import html as lxml_html

from llamacorpus.document import Document, replace
from llamacorpus.steps import Mapper

BLOCKS = frozenset({"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "table", "tr", "hr", "dl", "dt", "dd",
                    "section", "article", "header", "footer", "figure", "figcaption", "details", "summary",
                    "center", "address"})
SKIPPED = frozenset({"img", "script", "style", "head", "title", "meta", "link", "iframe", "object", "svg"})
CELLS = frozenset({"td", "th"})
_BREAK = "\x00"  # a <br> in inline text, kept apart from the source's own newlines
FENCE = "```"


class _Renderer:
    def __init__(self):
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
        while lines and not lines[0]:
            lines.pop(0)
        while lines and not lines[-1]:
            lines.pop()
        self._emit(lines)

    def code(self, text: str) -> None:
        self.flush()
        self._emit([FENCE, *text.rstrip("\n").split("\n"), FENCE])

    # -- walking
    def walk(self, element) -> None:
        tag = element.tag.lower() if isinstance(element.tag, str) else None
        if tag is None or tag in SKIPPED:
            pass
        elif tag == "pre":
            self.code(element.text_content())
        elif tag == "code":
            self.inline.append(f"`{element.text_content()}`")
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
        for child in element:
            self.walk(child)


def html_to_text(html: str) -> str:
    """The text of an HTML fragment, keeping paragraphs, list items and code blocks."""
    if not html or not html.strip():
        return ""
    try:
        root = lxml_html.fragment_fromstring(html, create_parent="div")
    except etree.ParserError:  # only comments or processing instructions
        return ""
    renderer = _Renderer()
    renderer.children(root)
    renderer.flush()
    return "".join(renderer.out)


class HtmlToText(Mapper):
    """A document whose text is HTML -> the same document with :func:`html_to_text` of it."""

    name = "html_to_text"

    def map(self, doc: Document) -> Document:
        return replace(doc, text=html_to_text(doc["text"]))
