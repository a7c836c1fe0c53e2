"""Wikitext to plain text (mwparserfromhell), and the reference URLs of a page.

:func:`wikitext_to_text` parses a page once and renders what a reader sees as prose:

* links become their anchor text (``[[Öresund]]`` -> ``Öresund``, ``[[Danmark|dansk]]`` ->
  ``dansk``, the pipe trick ``[[Foo (bar)|]]`` -> ``Foo``); a leading colon (``[[:Kategori:X]]``)
  makes a link visible text like any other;
* File/Image/Media links (with their captions) and Category links are removed. Their prefixes
  come from the dump's ``<siteinfo><namespaces>`` (see :class:`LinkNamespaces`): dumps list only
  each wiki's canonical local names (``Fil``, ``Kategori``, ``Файл``), so the English canonical
  names ``File``, ``Image``, ``Media`` and ``Category`` are always accepted as well. Local
  aliases that the dump does not list (``Bild``, ``Изображение``) are not known;
* interlanguage links (``[[de:Amager]]``: a language-code prefix, no label) are removed; inline
  interwiki links keep their label;
* templates (``{{...}}``, parser functions and magic words included) and template arguments are
  removed: their output depends on template pages a dump of articles does not expand, so an
  inline ``{{lang|fr|texte}}`` or ``{{convert|96|km2}}`` loses its words too;
* comments, behaviour switches (``__TOC__``, ``__NOTOC__``, localised ones) and tables
  (``{| ... |}`` and HTML ``<table>``) are removed, tables with their content;
* tags whose content is not prose are removed with it: ``<ref>``, ``<references>``, ``<gallery>``,
  ``<math>``, ``<chem>``/``<ce>``, ``<score>``, ``<timeline>``, ``<graph>``, ``<imagemap>``,
  ``<hiero>``, ``<mapframe>``/``<maplink>``, ``<templatestyles>``, ``<templatedata>``,
  ``<inputbox>``, ``<categorytree>``, ``<section>``, ``<includeonly>``. Every other tag
  (``<b>``, ``<span>``, ``<sub>``, ``<blockquote>``, ``<poem>``, ``<code>``, ``<nowiki>``,
  ``<syntaxhighlight>``...) is removed but its content kept; ``<br>``, ``<p>``, ``<div>``,
  ``<blockquote>``, ``<li>`` and ``----`` break lines. Tags the parser could not pair (a
  ``</div>`` whose ``<div>`` a template opened) are removed too;
* external links ``[http://x label]`` become ``label``; numbered ones ``[http://x]`` vanish;
  bare URLs stay as the page shows them;
* bold/italic quotes and list/indent markers (``*``, ``#``, ``:``, ``;``) are removed; HTML
  entities become their characters (``&nbsp;`` is U+00A0);
* section headings stay as plain lines (``== Se även ==`` -> ``Se även``); a heading whose section
  ends up empty (a "References" section holding only ``{{reflist}}``) is removed with it;
* lines are stripped, runs of spaces and of blank lines collapsed, and only where something was
  removed, what it leaves behind is tidied: ``Achilles ({{IPAc-en|...}}; {{lang-grc|...}},
  Akhilleus)`` -> ``Achilles (Akhilleus)``, ``word {{cn}}.`` -> ``word.``, a list item that was
  only ``{{cite web|...}}.`` disappears. A literal ``()`` or ``for (;;)`` is left alone.

mwparserfromhell leaves markup it cannot match as literal text (an unclosed ``{{``, a stray ``]]``).
MediaWiki shows such text literally too, but it is markup, not prose: every line that still holds
one of :data:`MARKUP_RESIDUE` after rendering is removed, and the count is reported
(``meta.markup_lines_removed``).

:func:`reference_urls` lists the URLs a page cites: external links inside ``<ref>...</ref>`` and
the ``url=`` (and ``*-url=``, except ``archive-url``) parameters of any template (``{{cite web}}``,
``{{cite news}}``, ``{{cite journal}}``...), in page order, without duplicates.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Iterator

import mwparserfromhell
from mwparserfromhell.nodes import (Argument, Comment, ExternalLink, Heading, HTMLEntity, Tag, Template, Text,
                                    Wikilink)
from mwparserfromhell.parser import ParserError
from mwparserfromhell.wikicode import Wikicode

from llamacorpus.document import Document, replace
from llamacorpus.steps import BadInput, Drop, Mapper
from llamacorpus.steps.clean.budget import DEFAULT as DEFAULT_BUDGET
from llamacorpus.steps.clean.budget import CleanerBudget, CleanerBudgetExceeded, WorkMeter, budget_error, unlimited
from llamacorpus.steps.clean.wikitext_balance import balance, ref_spans

#: meta fields a reader sets for this step only (removed from its output): where the page is in
#: its dump (for error records), and the dump's file and category link prefixes
LOCATION_META = "location"
LINK_NAMESPACES_META = "link_namespaces"

#: namespace numbers of links that are not prose (MediaWiki's fixed numbering)
MEDIA_NS, FILE_NS, CATEGORY_NS = -2, 6, 14
ENGLISH_FILE_NAMES = frozenset({"file", "image", "media"})
ENGLISH_CATEGORY_NAMES = frozenset({"category"})

#: tags removed together with their content
DROPPED_TAGS = frozenset({
    "ref", "references", "gallery", "math", "chem", "ce", "score", "timeline", "graph", "imagemap", "hiero",
    "mapframe", "maplink", "templatestyles", "templatedata", "inputbox", "categorytree", "section",
    "includeonly", "table",
})
#: tags whose content is a block: it starts and ends a line
BLOCK_TAGS = frozenset({"p", "div", "blockquote", "li", "dt", "dd", "center", "poem", "pre", "ul", "ol", "dl",
                        "h1", "h2", "h3", "h4", "h5", "h6", "tr", "caption", "syntaxhighlight", "source"})
LINE_BREAK_TAGS = frozenset({"br", "hr"})

#: work units charged per character for the pre-passes and the parse, and per node rendered
PARSE_UNITS_PER_CHAR = 4
NODE_UNITS = 20

#: markup that must not survive in cleaned text
MARKUP_RESIDUE = ("[[", "]]", "{{", "}}", "<ref", "{|", "|}", "<!--")

#: short interwiki prefixes that look like language codes but name other sites
NON_LANGUAGE_INTERWIKI = frozenset({"doi", "mw", "voy", "wmf", "rfc", "iso", "bbc", "ssp"})

#: stands where something was removed, until :func:`tidy_body` has cleaned around it: U+FDD0, a
#: Unicode noncharacter (reserved for internal use; removed from the input first). Not NUL: the C
#: tokenizer of mwparserfromhell stops at it.
REMOVED = "\ufdd0"

_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]+)*$")
_BEHAVIOUR_SWITCH = re.compile(r"__([^\W\d_]+(?:_[^\W\d_]+)*)__")
_QUOTES = re.compile(r"'{2,}")
_STRAY_TAG = re.compile(r"</?[A-Za-z][^<>]*>")  # what looks like a tag: the parser paired none of these
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_URL_PARAMETER = re.compile(r"url\s*=", re.I)
_PARENTHETICAL = re.compile(r"(?<!\s)\s*+\([^()]*\)\s*$")
# tidying around REMOVED (R): "(R; R)" -> "", "(R; x" -> "(x", "x, R)" -> "x)", "a: R, b" -> "a: b",
# "x R." -> "x.", a line starting "R : x" -> "x"; then spaces, blank lines and lines left holding
# only punctuation. Each pattern is linear: a match starts only where a run of spaces (or of
# spaces and R) starts, and runs are read once (lookaheads, possessive quantifiers), never retried
# from every character of a long run.
_W = "[ \t\ufdd0]"


def _drop_spaced_removal(m: re.Match) -> str:
    """A run of spaces and R before punctuation: from its first space on it goes, when an R is there."""
    run = m.group()
    first = min((i for i in (run.find(" "), run.find("\t")) if i >= 0), default=-1)
    return run[:first] if first >= 0 and REMOVED in run[first:] else run


_TIDY_AROUND_REMOVED = (
    (re.compile(r"(?<![ \t])[ \t]*+\((?=[^()\n]*\ufdd0)[\s\ufdd0,;:]*\)"), ""),
    (re.compile(r"\(\s*\ufdd0[\s\ufdd0]*(?:[,;:][\s\ufdd0]*)*"), "("),
    (re.compile(r"[,;:](?=%s*\ufdd0)%s*+\)" % (_W, _W)), ")"),
    (re.compile(r"([,;:])(?=%s*\ufdd0)%s*+[,;]" % (_W, _W)), r"\1"),
    (re.compile(r"(?<!%s)%s++(?=[.,;:!?)])" % (_W, _W)), _drop_spaced_removal),
    (re.compile(r"^(?=%s*\ufdd0)%s*+[,;:]+" % (_W, _W), re.M), ""),
)
_SPACES = re.compile(r"[ \t\u00a0\u200b]{2,}")
_ONLY_PUNCTUATION = re.compile(r"^[.,;:]+$")
_BLANK_LINES = re.compile(r"\n{3,}")


class WikitextError(ValueError):
    """Wikitext that mwparserfromhell cannot parse (or that nests too deep to render)."""


@dataclasses.dataclass(frozen=True)
class LinkNamespaces:
    """Case-folded link prefixes whose links are not prose: files (and media) and categories."""

    files: frozenset[str] = ENGLISH_FILE_NAMES
    categories: frozenset[str] = ENGLISH_CATEGORY_NAMES

    @classmethod
    def from_siteinfo(cls, namespaces: dict[int, str]) -> "LinkNamespaces":
        """From a dump's ``{namespace key: local name}``; English canonical names always count."""
        local = {key: normalize_prefix(name) for key, name in namespaces.items() if name}
        return cls(ENGLISH_FILE_NAMES | {local[k] for k in (MEDIA_NS, FILE_NS) if k in local},
                   ENGLISH_CATEGORY_NAMES | {local[k] for k in (CATEGORY_NS,) if k in local})

    def to_meta(self) -> dict[str, list[str]]:
        return {"files": sorted(self.files), "categories": sorted(self.categories)}

    @classmethod
    def from_meta(cls, value: dict | None) -> "LinkNamespaces":
        value = value or {}
        return cls(ENGLISH_FILE_NAMES | frozenset(value.get("files", ())),
                   ENGLISH_CATEGORY_NAMES | frozenset(value.get("categories", ())))


def normalize_prefix(name: str) -> str:
    """A namespace name as links may spell it: case-folded, underscores as spaces, single spaces."""
    return " ".join(name.replace("_", " ").split()).casefold()


# ---------------------------------------------------------------------------- the step

@dataclasses.dataclass(frozen=True)
class Rendered:
    """What :func:`wikitext_to_text` returns."""

    text: str
    residue_lines: int  # lines removed because they still held markup mwparserfromhell left unparsed


class WikitextToText(Mapper):
    """The wikitext of a page -> its plain text (:func:`wikitext_to_text`).

    Reads and removes the reader's transient meta (:data:`LOCATION_META`,
    :data:`LINK_NAMESPACES_META`); records ``markup_lines_removed`` in meta when lines holding
    unparsed markup were removed. Drops a page whose text ends up empty (reason ``empty``); a page
    mwparserfromhell cannot parse is an error ``unparsable_wikitext``, and one past its work
    budget (:mod:`llamacorpus.steps.clean.budget`) an error ``cleaner_budget``, each with the
    page's dump location and document id.
    """

    name = "wikitext"

    def __init__(self, budget: CleanerBudget = DEFAULT_BUDGET):
        self.budget = budget

    def map(self, doc: Document) -> Document | Drop | BadInput:
        meta = dict(doc["meta"])
        location = meta.pop(LOCATION_META, doc["id"])
        namespaces = LinkNamespaces.from_meta(meta.pop(LINK_NAMESPACES_META, None))
        try:
            rendered = wikitext_to_text(doc["text"], namespaces, self.budget.meter(len(doc["text"])))
        except CleanerBudgetExceeded as exc:
            return budget_error(doc, exc, self.name, location)
        except WikitextError as exc:
            return BadInput("unparsable_wikitext", location, str(exc), doc["id"])
        if rendered.residue_lines:
            meta["markup_lines_removed"] = rendered.residue_lines
        out = replace(doc, text=rendered.text, meta=meta)
        if not rendered.text:
            return Drop("empty", out, location)
        return out


def wikitext_to_text(wikitext: str, namespaces: LinkNamespaces | None = None,
                     meter: WorkMeter | None = None) -> Rendered:
    """The plain text of a page's wikitext (see the module docstring for what is kept). Raises
    :class:`CleanerBudgetExceeded` when ``meter`` runs out: the text and the parse (linear, see
    :func:`parse_page`) are charged by their length, rendering by the nodes and text it visits."""
    meter = meter or unlimited()
    meter.spend(PARSE_UNITS_PER_CHAR * len(wikitext))
    renderer = _Renderer(namespaces or LinkNamespaces(), meter)
    try:
        renderer.render(parse_page(wikitext))
    except RecursionError as exc:
        raise WikitextError("wikitext nests too deep to render") from exc
    sections = renderer.sections()
    meter.spend(sum(len(body) for _, _, body in sections))
    return tidy(sections)


# ---------------------------------------------------------------------------- parsing

def parse(wikitext: str, skip_style_tags: bool = False) -> Wikicode:
    try:
        return mwparserfromhell.parse(wikitext, skip_style_tags=skip_style_tags)
    except ParserError as exc:
        raise WikitextError(f"mwparserfromhell: {exc}") from exc


def parse_page(wikitext: str) -> Wikicode:
    """The one parse of a page for its text. Comments, references and tables are cut out first,
    cheaply and the way MediaWiki's preprocessor finds them (it halves mwparserfromhell's time on
    reference-heavy pages), and markup that never closes is escaped
    (:func:`llamacorpus.steps.clean.wikitext_balance.balance`: the parse stays linear);
    bold/italic quotes stay text for :func:`clean_text_node` to drop (MediaWiki scopes them to a
    line, while mwparserfromhell lets an unclosed ``''`` swallow the template around it)."""
    return parse(balance(strip_tables(strip_comments_and_refs(wikitext.replace(REMOVED, "")))), skip_style_tags=True)


def strip_comments_and_refs(wikitext: str) -> str:
    """``<!-- comments -->`` removed, ``<ref>...</ref>`` and ``<ref/>`` replaced by
    :data:`REMOVED`. A ``<ref>`` that never closes is left to the parser (and the residue check)."""
    if "<!--" in wikitext:
        wikitext = _COMMENT.sub("", wikitext)
    if "<ref" in wikitext.lower():
        pieces, last = [], 0
        for start, end in ref_spans(wikitext):
            pieces.append(wikitext[last:start])
            pieces.append(REMOVED)
            last = end
        pieces.append(wikitext[last:])
        wikitext = "".join(pieces)
    return wikitext


def strip_tables(wikitext: str) -> str:
    """Remove ``{| ... |}`` tables (nested ones too) line by line, as MediaWiki finds them: a table
    opens on a line starting with ``{|`` (after spaces or ``:`` indents) and closes on one starting
    with ``|}``; text after the ``|}`` stays. A table that never closes is left to the parser."""
    if "{|" not in wikitext:
        return wikitext
    lines = wikitext.split("\n")
    out: list[str] = []
    depth, opened_at = 0, 0
    for number, line in enumerate(lines):
        start = line.lstrip(" \t:")
        if start.startswith("{|"):
            if depth == 0:
                opened_at = number
            depth += 1
        elif depth and start.startswith("|}"):
            depth -= 1
            if depth == 0 and start[2:].strip():
                out.append(start[2:])
        elif depth == 0:
            out.append(line)
    if depth:
        out.extend(lines[opened_at:])
    return "\n".join(out)


# ---------------------------------------------------------------------------- rendering

@dataclasses.dataclass
class _Section:
    level: int  # 0 for the lead
    title: str
    parts: list[str]


class _Renderer:
    """Walks a parsed page once, appending visible text to the current section."""

    def __init__(self, namespaces: LinkNamespaces, meter: WorkMeter):
        self.namespaces, self.meter = namespaces, meter
        self._sections = [_Section(0, "", [])]
        self.out = self._sections[0].parts

    def sections(self) -> list[tuple[int, str, str]]:
        return [(s.level, s.title, "".join(s.parts)) for s in self._sections]

    def render(self, code: Wikicode) -> None:
        for node in code.nodes:
            self.node(node)

    def inline(self, code: Wikicode | None) -> str:
        """Render ``code`` on its own (a link label, a heading title) and return it."""
        if code is None:
            return ""
        saved, self.out = self.out, []
        try:
            self.render(code)
            return "".join(self.out)
        finally:
            self.out = saved

    def node(self, node) -> None:
        if isinstance(node, Text):
            self.meter.spend(NODE_UNITS + len(node.value))
            self.out.append(clean_text_node(node.value))
            return
        self.meter.spend(NODE_UNITS)
        if isinstance(node, Wikilink):
            self.out.append(self.wikilink(node))
        elif isinstance(node, Tag):
            self.tag(node)
        elif isinstance(node, HTMLEntity):
            self.out.append(node.normalize())
        elif isinstance(node, ExternalLink):
            self.out.append(self.inline(node.title) if node.brackets else str(node.url))
        elif isinstance(node, Heading):
            title = " ".join(self.inline(node.title).replace(REMOVED, "").split())
            section = _Section(node.level, title, [])
            self._sections.append(section)
            self.out = section.parts
        elif isinstance(node, (Template, Argument)):
            self.out.append(REMOVED)
        elif not isinstance(node, Comment):  # a node type newer than this code: its visible text
            self.out.append(node.__strip__(normalize=True, collapse=True) or "")

    def wikilink(self, node: Wikilink) -> str:
        title = self.inline(node.title).replace(REMOVED, "").strip()
        visible = title.startswith(":")
        title = title.lstrip(":").strip()
        if not visible and ":" in title:
            prefix = normalize_prefix(title.split(":", 1)[0])
            if prefix in self.namespaces.files or prefix in self.namespaces.categories:
                return REMOVED
            if node.text is None and _LANGUAGE_CODE.match(prefix) and prefix not in NON_LANGUAGE_INTERWIKI:
                return REMOVED  # an interlanguage link: shown beside the article, not in it
        if node.text is None:
            return title
        label = self.inline(node.text)
        return label if label.replace(REMOVED, "").strip() else pipe_trick(title)

    def tag(self, node: Tag) -> None:
        name = str(node.tag).strip().lower()
        if name in DROPPED_TAGS:
            self.out.append(REMOVED)
        elif name in LINE_BREAK_TAGS:
            self.out.append("\n")
        elif node.contents is not None and not node.self_closing:  # not a list/table marker
            block = "\n" if name in BLOCK_TAGS else ""
            self.out.append(block)
            self.render(node.contents)
            self.out.append(block)


def clean_text_node(value: str) -> str:
    """Text between nodes: behaviour switches, bold/italic quotes and tags the parser could not
    pair removed. It runs on raw text, so ``&lt;b&gt;`` written as entities stays."""
    if "__" in value:
        value = _BEHAVIOUR_SWITCH.sub(lambda m: REMOVED if m.group(1).replace("_", "").isupper() else m.group(0),
                                      value)
    if "''" in value:
        value = _QUOTES.sub("", value)
    if "<" in value:
        value = _STRAY_TAG.sub("", value)
    return value


def pipe_trick(title: str) -> str:
    """``[[Foo (bar)|]]`` shows ``Foo``; ``[[Help:Foo, baz|]]`` shows ``Foo``."""
    base = title.split(":", 1)[1] if ":" in title else title
    stripped = _PARENTHETICAL.sub("", base)
    if stripped == base and "," in base:
        stripped = base.split(",", 1)[0]
    return stripped.strip() or title


# ---------------------------------------------------------------------------- tidying

def tidy(sections: list[tuple[int, str, str]]) -> Rendered:
    """Join rendered sections into clean text: empty sections and residue lines removed."""
    residue = 0
    cleaned = []
    for level, title, body in sections:
        body, removed = tidy_body(body)
        residue += removed
        if level and any(mark in title for mark in MARKUP_RESIDUE):
            title, residue = "", residue + 1
        cleaned.append((level, title, body))
    blocks = []
    for (level, title, body), kept in zip(cleaned, sections_to_keep(cleaned)):
        if kept:
            blocks.append(f"{title}\n{body}".strip() if level else body)
    return Rendered("\n\n".join(b for b in blocks if b), residue)


def tidy_body(body: str) -> tuple[str, int]:
    """Clean one section's text; returns it and the number of residue lines removed."""
    if REMOVED in body:
        for pattern, replacement in _TIDY_AROUND_REMOVED:
            body = pattern.sub(replacement, body)
        body = body.replace(REMOVED, "")
    lines, residue = [], 0
    for line in body.split("\n"):
        line = _SPACES.sub(" ", line).strip()
        if any(mark in line for mark in MARKUP_RESIDUE):
            residue += 1
        elif not _ONLY_PUNCTUATION.match(line):
            lines.append(line)
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip(), residue


def sections_to_keep(sections: list[tuple[int, str, str]]) -> list[bool]:
    """A section is kept when its body has text or a kept subsection follows it (before the next
    heading of its own level or above); the lead always is."""
    keep = [False] * len(sections)
    for i in range(len(sections) - 1, -1, -1):
        level, _, body = sections[i]
        if level == 0 or body:
            keep[i] = True
            continue
        for j in range(i + 1, len(sections)):
            if sections[j][0] <= level:
                break
            if keep[j]:
                keep[i] = True
                break
    return keep


# ---------------------------------------------------------------------------- reference URLs

def reference_urls(wikitext: str) -> list[str]:
    """The URLs a page cites: external links in ``<ref>`` tags and the ``url=`` parameters of
    templates (``{{cite web |url=...}}`` and any other); those of references first, in page order,
    then those of templates outside references; each once.

    Each reference is parsed on its own (found as MediaWiki's preprocessor finds them, comments
    removed first), and the rest of the page only when it has a ``url=`` parameter, so most of an
    article is never parsed."""
    text = _COMMENT.sub("", wikitext) if "<!--" in wikitext else wikitext
    urls: list[str] = []
    rest, last = [], 0
    for start, end in sorted(ref_spans(text)):
        rest.append(text[last:start])
        last = end
        code = parse(balance(text[start:end]), skip_style_tags=True)
        for tag in code.ifilter_tags(recursive=False):
            if tag.contents is not None:
                urls.extend(str(link.url).strip() for link in _links_outside_templates(tag.contents))
        urls.extend(_template_urls(code))
    rest.append(text[last:])
    outside = "".join(rest)
    if _URL_PARAMETER.search(outside):
        urls.extend(_template_urls(parse(balance(outside), skip_style_tags=True)))
    return list(dict.fromkeys(u for u in urls if u))


def _template_urls(code: Wikicode) -> Iterator[str]:
    for template in code.ifilter_templates(recursive=True):
        for param in template.params:
            if is_url_parameter(str(param.name)):
                yield _parameter_url(param.value)


def is_url_parameter(name: str) -> bool:
    """``url``, ``URL``, ``chapter-url``, ``chapterurl``...; not ``archive-url``/``archiveurl``."""
    name = name.strip().lower().replace("_", "-")
    return name.endswith("url") and not name.startswith("archive")


def _links_outside_templates(code: Wikicode) -> Iterator[ExternalLink]:
    """External links of ``code``, not descending into templates (their url parameters are read
    by name, so an ``archive-url`` is not taken for the cited page)."""
    for node in code.nodes:
        if isinstance(node, ExternalLink):
            yield node
        elif isinstance(node, Tag) and node.contents is not None:
            yield from _links_outside_templates(node.contents)


def _parameter_url(value: Wikicode) -> str:
    text = "".join(str(n) for n in value.nodes if not isinstance(n, Comment)).strip()
    first = text.split(maxsplit=1)[0] if text else ""
    return first if "://" in first or first.startswith("//") else ""
