"""A scale corpus from the real samples (issue 15): an input root N times the size of tests/fixtures.

    python bench/scale_corpus.py --factor N --output DIR [--sources commoncrawl,wikipedia] [--report]

Writes, for every source of ``llamacorpus/recipes/llama1.yaml`` (or those ``--sources`` names), the files the
recipe's input globs read, multiplied N times, under DIR in the same layout, so that
``python beam_main.py --recipe llamacorpus/recipes/llama1.yaml --input_root DIR --output OUT`` runs on it
unchanged. The recipe takes no model from the input root (fastText lid.176 is package data; the
perplexity LMs come from ``train-lm`` into ``<output>/models/lm``). ``tests/fixtures/models`` is
copied to ``DIR/models``, its SentencePiece model and toy KenLM ARPA also as
``DIR/models/lm/en.sp.model`` and ``en.arpa`` (the layout ``tests/test_perplexity.py`` gives
them), so that a run without ``train-lm`` can point the perplexity step at them::

    --set sources.commoncrawl.perplexity.models_dir=DIR/models/lm \
    --set 'sources.commoncrawl.perplexity.lm_model="{lang}.arpa"'

``--sources commoncrawl`` alone also writes the Wikipedia dumps, at factor 1, when DIR has none:
the Common Crawl branch trains its Wikipedia-reference classifier on ``sources.wikipedia.inputs``.
``--report`` reads the result back with the project's readers and prints documents per source,
the Common Crawl line-dedup removal fraction and the language mix. The output is deterministic:
the same factor gives the same bytes (gzip members carry no time stamp; nothing depends on the
clock or on hash seeds).

Copy 0 is the original: its files are the fixture files byte for byte (Wikipedia excepted: its
pages, byte for byte, are rewritten into a multistream dump). Copies 1..N-1 differ from it and
from each other as follows.

Words (all sources). A copy's text differs by *word substitution between real words*: for each
pool (a source, and for Common Crawl and Wikipedia a language) the words of the fixture text are
ranked by frequency; the most frequent quarter of them, at most :data:`FUNCTION_WORDS` (the, of,
und, der...: the function words), are kept. Copy k draws half of the other (content) words
(:data:`SHARE`, by a CRC32 of k and the word) and replaces each by the word k places further on
(cyclically, never itself) in its group: the words of one script and length (short length classes
merged so that a group holds at least :data:`GROUP_SIZE` words when the pool has them), in
frequency order. A unit (a line, an HTML text segment, a document) that this leaves unchanged has
all its content words replaced, and if it has none, its function words. So a copy keeps the
sentence frame, half the content words, the script, the language and about the length of its
original; every substitute is a real word of the same language from the fixtures; two copies of
one text differ wherever either substitutes a word (copies stay distinct while k is below the
group size: ``--factor`` stops at :data:`MAX_FACTOR`). A substitute is written as the fixtures
mostly write it (a name keeps its capital) in the case shape of the word it replaces (``Alice``
-> ``Queen``, ``ALICE`` -> ``QUEEN``); digits, punctuation, URLs, markup and the spans named below
are left as they are. Copy k's choice and mapping are functions of the word alone, the same in
every document of the pool. One-word lines are where copies can meet: a substitute may be another
page's one-word line, so the line-dedup removal fraction creeps up with the factor (measured: +0.5
points at 2x, +4.4 at 64x).

* **commoncrawl** (WARC and WET files, one file per fixture file and copy, ``-copyNNN`` in the
  name, one gzip member per record): each record gets ``?copy=k`` (``&copy=k``) in its
  ``WARC-Target-URI``, a new ``WARC-Record-ID`` (a UUID5 of the old one and k; ``Concurrent-To``,
  ``Refers-To`` and ``Warcinfo-ID`` follow), the same ``WARC-Date``, so the document id
  sha1(url, date) is new, and recomputed digests and lengths. Boilerplate lines (a line whose
  CCNet dedup hash occurs twice or more in the 1x corpus after URL dedup: menus, footers,
  cookie notices) are kept in every copy and stay shared; every other (body) line gets the word
  substitution of its page's language (fastText lid.176 on the 1x text). WARC responses: the
  substitution is applied to the HTML's text between tags and to image alt texts (markup,
  scripts, styles, entities untouched; letters written as character references are written out;
  a text segment that is part of the page's boilerplate lines and of none of its body lines is
  kept), re-encoded in the page's charset, HTTP Content-Length fixed; the request record's
  request line follows the URL.
  WET records: line by line; a WET record that is the resiliparse text of a WARC response
  beside it (``realpages-00000``) gets the text of that response's copy, so the pair still agrees.
* **c4**: one shard per copy (``...-copyNNN.json.gz``, so ids ``c4/<shard>/<line>`` are new),
  url with ``copy=k``, every line of the text substituted, timestamp kept.
* **wikipedia**: per language, one multistream dump ``<lang>wiki-<date>-pages-articles-
  multistream.xml.bz2`` (header stream with ``<siteinfo>``, streams of 100 pages, a last stream
  with ``</mediawiki>``) and its ``-multistream-index.txt.bz2`` of ``offset:page_id:title``.
  The language's fixture dumps are merged (a page in two of them, as the bg UTF-16 and UTF-8
  copies, once: its latest revision). Copy k: page id + k * 10^d (d: digits of the largest id),
  revision and parent ids likewise, the title substituted (" (k)" appended where that leaves it
  taken), the wikitext substituted outside markup (template names and parameter names,
  namespace and interwiki prefixes, tags, entities, URLs, table attribute lines untouched), and
  ``bytes`` and ``sha1`` recomputed.
* **github**: one JSONL per copy; ``repo_name`` ``owner/name-copyNNN``, ``path``
  ``copyNNN/<path>`` (the file name and extension unchanged), licence kept; the code after the
  leading licence comment substituted (the comment itself untouched, so the header step removes
  the same; words of licence wording are never produced), with the most frequent words (keywords)
  kept: a copy renames half the other identifiers, the same way throughout the copy.
* **books**: one file per book and copy (``<stem>-copyNNN.txt``, so ids ``books/gutenberg/<stem>``
  are new); the Gutenberg header and licence footer kept, the body substituted. One mapping per
  copy for every book, so the four Alice editions stay near-duplicates of each other within a copy
  (their shared 5-grams map alike: containment 0.956 to 0.999 in every copy, as in the fixtures),
  while a copy shares with its original or another copy at most about a third of its 5-grams
  (containment 0.09 to 0.33 measured, against near-dedup's 0.9).
* **arxiv**: one directory per paper and copy: the arXiv id in the name moved k months on
  (``1907.10121`` -> ``1908.10121``) and ``-copyNNN`` appended (the id of a paper without one is
  its name); ``.tex`` files substituted outside commands, their reference arguments (``\\begin``,
  ``\\label``, ``\\ref``, ``\\cite``, ``\\input``, ``\\usepackage``...), comments and escaped
  characters; other files copied.
* **stackexchange**: per site one Posts.xml, one row per line; copy k's rows follow copy 0's with
  ``Id``, ``ParentId`` and ``AcceptedAnswerId`` + k * 10^d; ``Body`` and ``Title`` substituted
  outside the escaped HTML tags and entities; users, dates, scores and tags kept.
"""
from __future__ import annotations

import argparse
import base64
import bz2
import codecs
import collections
import gzip
import hashlib
import html
import json
import os
import re
import shutil
import sys
import time
import unicodedata
import urllib.parse
import uuid
import zlib
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from lxml import etree
from resiliparse.parse.encoding import bytes_to_str, detect_encoding

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Project code: every llamacorpus import of the script is here (the package is being restructured).
from llamacorpus import fileio  # noqa: E402
from llamacorpus import sources as source_registry  # noqa: E402
from llamacorpus.steps.filters.code_heuristics import language_of  # noqa: E402
from llamacorpus.steps.filters.langid import default_model_path, load_model, predict  # noqa: E402
from llamacorpus.steps.clean.license_header import LICENCE_WORDING, strip_license_header  # noqa: E402
from llamacorpus.steps.dedup.lines import BLANK, line_hashes  # noqa: E402
from llamacorpus.steps.dedup.urls import preference, url_key  # noqa: E402
from llamacorpus.pipeline import recipe as recipe_mod  # noqa: E402
from llamacorpus.steps import RunContext  # noqa: E402
from llamacorpus.sources.books import END_MARKER, HEADER_SCAN_LINES, START_MARKERS  # noqa: E402
from llamacorpus.text import decode  # noqa: E402
from llamacorpus.sources.commoncrawl import document_id, html_to_text  # noqa: E402
from llamacorpus.sources.wikipedia.dump import SiteInfo, iter_pages  # noqa: E402

SOURCES = ("commoncrawl", "c4", "github", "wikipedia", "books", "arxiv", "stackexchange")
RECIPE = ROOT / "llamacorpus" / "recipes" / "llama1.yaml"
FIXTURES = ROOT / "tests" / "fixtures"
FUNCTION_WORDS = 100  # the most frequent words of a pool kept as they are (at most a quarter of it)
CODE_KEYWORDS = 300  # GitHub: keywords and common names kept
SHARE = 50  # per cent of the content words a copy substitutes (a share drawn per copy, by word)
GROUP_SIZE = 256  # a substitution group holds at least this many words (when the pool has them)
MAX_FACTOR = GROUP_SIZE
DEFAULT_DUMP_DATE = "20220701"  # LLaMA: "Wikipedia dumps from the June-August 2022 period"
PAGES_PER_STREAM = 100
GZIP_LEVEL = 6

# ---------------------------------------------------------------------------- words

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_MARKS = "\u0300-\u036f\u0483-\u0489\u0900-\u0dff"  # combining accents, Indic scripts' vowel signs
#: a word: one CJK character, or a run of letters (and combining marks) of other scripts
WORD = rf"[{_CJK}]|(?:(?![{_CJK}])[^\W\d_]|[{_MARKS}])+"
URL = r"(?:https?|ftp)://[^\s<>\"'\[\]{}|\\^`]+|www\.[\w.-]+"
ENTITY = r"&(?:#\d+|#[xX][0-9a-fA-F]+|\w+);"
_tokenizers: dict[str, re.Pattern] = {}


def tokenizer(protect: str = "") -> re.Pattern:
    """``(?P<skip>...)|(?P<word>...)``: what is left alone (URLs and ``protect``), else a word."""
    if protect not in _tokenizers:
        skip = f"{protect}|{URL}" if protect else URL
        _tokenizers[protect] = re.compile(f"(?P<skip>{skip})|(?P<word>{WORD})", re.S | re.M)
    return _tokenizers[protect]


def words(text: str, protect: str = "") -> Iterator[str]:
    """The words of ``text`` as written, outside the protected spans."""
    for m in tokenizer(protect).finditer(text):
        if m.lastgroup == "word":
            yield m.group(0)


def script(word: str) -> str:
    """The script of a word's first letter (LATIN, CYRILLIC, CJK, HIRAGANA...)."""
    return unicodedata.name(word[0], "?").split(" ")[0]


def recase(source: str, word: str) -> str:
    """``word`` (as it is usually written) in the case shape of ``source``: a lower-case source
    takes the word as usually written (a name keeps its capital), Title and UPPER are carried over."""
    if source.islower() or not source[:1].isupper():
        return word
    if len(source) > 1 and source.isupper():
        return word.upper()
    return word[:1].upper() + word[1:]


class Vocabulary:
    """The words of one pool, ranked, and the per-copy substitution (see the module docstring)."""

    def __init__(self, written: collections.Counter, keep: int = FUNCTION_WORDS, exclude: str = ""):
        """``written``: how often each word occurs as written; words are grouped lower-cased, and a
        substitute is written as it usually is."""
        excluded = re.compile(exclude, re.I) if exclude else None
        counts, forms = collections.Counter(), {}
        for form, n in sorted(written.items(), key=lambda item: (-item[1], item[0])):
            counts[form.lower()] += n
            forms.setdefault(form.lower(), form)
        self.forms = forms
        ranked = sorted((w for w in counts if not (excluded and excluded.search(w))), key=lambda w: (-counts[w], w))
        keep = min(keep, len(ranked) // 4)
        self.function_words = frozenset(ranked[:keep])
        self.groups: list[list[str]] = []
        self.where: dict[str, tuple[int, int]] = {}
        self._group(ranked[:keep])
        self._group(ranked[keep:])

    @classmethod
    def of(cls, texts: Iterable[str], protect: str = "", **kwargs) -> "Vocabulary":
        counts = collections.Counter()
        for text in texts:
            counts.update(words(text, protect))
        return cls(counts, **kwargs)

    def _group(self, ranked: list[str]) -> None:
        """Groups of one script and length, in rank order; short classes merged into the next."""
        by_script = collections.defaultdict(list)
        for w in ranked:
            by_script[script(w)].append(w)
        for name in sorted(by_script):
            by_length = collections.defaultdict(list)
            for w in by_script[name]:
                by_length[len(w)].append(w)
            pending, first = [], len(self.groups)
            for length in sorted(by_length):
                pending += by_length[length]
                if len(pending) >= GROUP_SIZE:
                    self._add(pending)
                    pending = []
            if pending and len(self.groups) > first:
                last = self.groups.pop()
                pending = last + pending
            if pending:
                self._add(pending)

    def _add(self, group: list[str]) -> None:
        for i, w in enumerate(group):
            self.where[w] = (len(self.groups), i)
        self.groups.append(group)

    def word(self, word: str, k: int, level: int = 0) -> str:
        """Copy k's word for ``word`` (as written). Level 0: a content word in copy k's share of
        them is substituted; 1: every content word; 2: every known word."""
        low = word.lower()
        at = self.where.get(low)
        if at is None or (level < 2 and low in self.function_words):
            return word
        if level == 0 and zlib.crc32(f"{k}\0{low}".encode("utf-8", "surrogatepass")) % 100 >= SHARE:
            return word
        group = self.groups[at[0]]
        shift = 1 + (k - 1) % (len(group) - 1) if len(group) > 1 else 0  # never the word itself
        return recase(word, self.forms[group[(at[1] + shift) % len(group)]])

    def substitute(self, text: str, k: int, protect: str = "", level: int = 0) -> str:
        if k == 0:
            return text
        return tokenizer(protect).sub(
            lambda m: m.group(0) if m.lastgroup == "skip" else self.word(m.group(0), k, level), text)

    def vary(self, text: str, k: int, protect: str = "") -> str:
        """Copy k of ``text``: copy k's share of its content words substituted; all of them if
        that changes nothing; function words too if that still changes nothing."""
        for level in range(3):
            out = self.substitute(text, k, protect, level)
            if out != text or k == 0:
                break
        return out

    def vary_lines(self, text: str, k: int, protect: str = "") -> str:
        return "\n".join(self.vary(line, k, protect) for line in text.split("\n"))


def copy_name(name: str, k: int, suffixes: Iterable[str]) -> str:
    """``stem.ext`` -> ``stem-copyNNN.ext`` for the first of ``suffixes`` the name ends with."""
    for suffix in suffixes:
        if name.endswith(suffix):
            return f"{name[: -len(suffix)]}-copy{k:03d}{suffix}"
    return f"{name}-copy{k:03d}"


def copy_url(url: str, k: int) -> str:
    """``url`` with the query parameter ``copy=k`` (before any fragment)."""
    if k == 0:
        return url
    base, hashmark, fragment = url.partition("#")
    return f"{base}{'&' if '?' in base else '?'}copy={k}{hashmark}{fragment}"


def id_stride(ids: Iterable[int]) -> int:
    """10^d above the largest id: copy k's ids are ``id + k * stride``."""
    return 10 ** len(str(max(ids, default=0)))


def gzip_member(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)


def recipe_inputs(source: str, root: Path, recipe_path: Path = RECIPE) -> list[str]:
    """The files (arXiv: directories) the recipe reads for ``source`` under ``root``."""
    recipe = recipe_mod.load(str(recipe_path), input_root=str(root))
    ctx = RunContext(output="", models_dir="", input_root=str(root))
    cfg = recipe.sources[source]
    return source_registry.get(source).input_paths(cfg, ctx)


def relative(path: str, root: Path) -> str:
    return os.path.relpath(path.rstrip("/"), root)


# ---------------------------------------------------------------------------- Common Crawl

class WarcRecord:
    """One WARC record: version line, headers in order, block."""

    def __init__(self, data: bytes):
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("utf-8").split("\r\n")
        self.version = lines[0]
        self.headers = [tuple(line.split(": ", 1)) for line in lines[1:]]
        self.block = rest[:int(self.get("Content-Length"))]

    def get(self, name: str, default: str = "") -> str:
        return next((v for k, v in self.headers if k.lower() == name.lower()), default)

    def set(self, name: str, value: str) -> None:
        self.headers = [(k, value if k.lower() == name.lower() else v) for k, v in self.headers]

    @property
    def type(self) -> str:
        return self.get("WARC-Type")

    def http_split(self) -> tuple[bytes, bytes]:
        head, sep, payload = self.block.partition(b"\r\n\r\n")
        return head + sep, payload

    def to_bytes(self) -> bytes:
        self.set("Content-Length", str(len(self.block)))
        head = "\r\n".join([self.version] + [f"{k}: {v}" for k, v in self.headers])
        return head.encode("utf-8") + b"\r\n\r\n" + self.block + b"\r\n\r\n"


def warc_records(path: str) -> Iterator[tuple[int, WarcRecord]]:
    """(offset, record) of a WARC file of one gzip member per record, as Common Crawl writes it."""
    data = Path(path).read_bytes()
    offset = 0
    while offset < len(data):
        d = zlib.decompressobj(31)
        member = d.decompress(data[offset:])
        yield offset, WarcRecord(member)
        offset = len(data) - len(d.unused_data)


def digest(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def copy_record_id(record_id: str, k: int) -> str:
    """``<urn:uuid:X>`` -> copy k's id, a UUID5 of X and k."""
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{record_id}#copy{k}')}>"


_SKIP_HTML = re.compile(r"<!--.*?-->|<(script|style)\b[^>]*>.*?</\1\s*>|<[!?/]?[A-Za-z][^>]*>|<![^>]*>",
                        re.S | re.I)
_ENTITY = re.compile(ENTITY)
_ALT = re.compile(r"""\salt\s*=\s*(["'])(.*?)\1""", re.S | re.I)


def flat(text: str) -> str:
    return " ".join(text.split())


class HtmlPage:
    """An HTML payload cut into markup and text segments once; :meth:`render` writes copy k."""

    def __init__(self, payload: bytes, boilerplate: list[str], body: list[str]):
        encoding = detect_encoding(payload, from_html_meta=True)
        self.codec = codecs.lookup(encoding).name
        text = bytes_to_str(payload, encoding, errors="replace", fallback_encodings=())
        kept, varied = ("\n".join(flat(line) for line in lines) for lines in (boilerplate, body))
        self.segments: list[tuple[bool, str]] = []  # (vary it, text)
        pos = 0
        for m in _SKIP_HTML.finditer(text):
            self._text(text[pos:m.start()], kept, varied)
            alt = _ALT.search(m.group(0)) if m.group(0)[:4].lower() == "<img" else None
            if alt:  # an image's alt text is page text too
                self.segments.append((False, m.group(0)[:alt.start(2)]))
                self._text(alt.group(2), kept, varied)
                self.segments.append((False, m.group(0)[alt.end(2):]))
            else:
                self.segments.append((False, m.group(0)))
            pos = m.end()
        self._text(text[pos:], kept, varied)

    def _text(self, segment: str, kept: str, varied: str) -> None:
        """A text segment is kept when it is part of a boilerplate line and of no body line.
        Letters written as character references (``&#12388;``, ``&eacute;``) are written out."""
        if segment:
            segment = _ENTITY.sub(lambda m: letter if (letter := html.unescape(m.group(0))).isalpha() else m.group(0),
                                  segment)
            visible = flat(html.unescape(segment))
            self.segments.append((bool(visible) and (visible not in kept or visible in varied), segment))

    def render(self, vocab: Vocabulary, k: int) -> bytes:
        out = "".join(vocab.vary(s, k, ENTITY) if vary else s for vary, s in self.segments)
        return out.encode(self.codec, "xmlcharrefreplace")


class CrawlSample:
    """What copying the Common Crawl fixtures needs from the 1x corpus: boilerplate line hashes,
    each page's language and text, a vocabulary per language, the HTML pages."""

    def __init__(self, paths: list[str]):
        docs = list(documents("commoncrawl", paths))
        winners = url_winners(docs)
        counts = collections.Counter(h for d in winners for h in line_hashes(d["text"]))
        self.boilerplate = {h for h, c in counts.items() if c >= 2 and h != BLANK}
        model = load_model(default_model_path())
        self.language = {d["id"]: lang for d, (lang, _) in zip(docs, predict(model, [d["text"] for d in docs]))}
        self.text = {d["id"]: d["text"] for d in docs}
        by_language = collections.defaultdict(list)
        for d in winners:
            by_language[self.language[d["id"]]].extend(self.body_lines(d["text"]))
        self.vocab = {lang: Vocabulary.of(lines) for lang, lines in sorted(by_language.items())}
        self.fallback = Vocabulary.of(line for lines in by_language.values() for line in lines)
        self.pages: dict[str, HtmlPage] = {}  # document id -> page, for responses that are documents
        for path in paths:
            for _, rec in warc_records(path):
                if rec.type == "response":
                    doc_id = crawl_id(rec.get("WARC-Target-URI"), rec.get("WARC-Date"))
                    if doc_id in self.text:
                        lines = list(zip(self.text[doc_id].split("\n"), line_hashes(self.text[doc_id])))
                        head, payload = rec.http_split()
                        check_identity(head)
                        self.pages[doc_id] = HtmlPage(payload, [line for line, h in lines if h in self.boilerplate],
                                                      [line for line, h in lines if h not in self.boilerplate])
        self.twin_text = {}  # document id -> True when a WET record is the resiliparse text of its response
        for path in paths:
            for _, rec in warc_records(path):
                if rec.type == "conversion":
                    doc_id = crawl_id(rec.get("WARC-Target-URI"), rec.get("WARC-Date"))
                    if doc_id in self.pages:
                        self.twin_text[doc_id] = rec.block.decode("utf-8").strip() == self.html_text(doc_id, 0)

    def body_lines(self, text: str) -> list[str]:
        return [line for line, h in zip(text.split("\n"), line_hashes(text)) if h not in self.boilerplate]

    def vocab_of(self, doc_id: str) -> Vocabulary:
        return self.vocab.get(self.language.get(doc_id, ""), self.fallback)

    def html(self, doc_id: str, k: int) -> bytes:
        return self.pages[doc_id].render(self.vocab_of(doc_id), k)

    def html_text(self, doc_id: str, k: int) -> str:
        return html_to_text(self.html(doc_id, k))[1]

    def wet_text(self, doc_id: str, text: str, k: int) -> str:
        """Copy k of a WET text: boilerplate lines kept, body lines substituted."""
        if self.twin_text.get(doc_id):
            return self.html_text(doc_id, k)
        vocab = self.vocab_of(doc_id)
        lines = text.split("\n")
        return "\n".join(line if h in self.boilerplate or h == BLANK else vocab.vary(line, k)
                         for line, h in zip(lines, line_hashes(text)))


def crawl_id(url: str, date: str) -> str:
    """The document id the Common Crawl reader gives a record."""
    return f"commoncrawl/{document_id(url, date)}"


def check_identity(http_head: bytes) -> bool:
    """Responses are rewritten as stored: a transfer or content encoding would need decoding first."""
    for line in http_head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() in (b"transfer-encoding", b"content-encoding") and value.strip().lower() != b"identity":
            raise ValueError(f"response stored with {line.decode('latin-1')!r}: not supported")
    return True


def url_winners(docs: list[dict]) -> list[dict]:
    """The documents URL dedup keeps (one per normalised URL, :func:`url_dedup.preference`)."""
    best: dict[str, dict] = {}
    for doc in docs:
        key = url_key(doc)
        if key not in best or preference(doc) < preference(best[key]):
            best[key] = doc
    return list(best.values())


def copy_warc_record(rec: WarcRecord, k: int, sample: CrawlSample, name: str) -> WarcRecord:
    """Copy k of one record (see the module docstring)."""
    url, date = rec.get("WARC-Target-URI"), rec.get("WARC-Date")
    doc_id = crawl_id(url, date) if url else ""
    for header in ("WARC-Record-ID", "WARC-Concurrent-To", "WARC-Refers-To", "WARC-Warcinfo-ID"):
        if rec.get(header):
            rec.set(header, copy_record_id(rec.get(header), k))
    if rec.get("WARC-Filename"):
        rec.set("WARC-Filename", name)
    if url:
        rec.set("WARC-Target-URI", copy_url(url, k))
    payload = None
    if rec.type == "response" and doc_id in sample.pages:
        head, _ = rec.http_split()
        payload = sample.html(doc_id, k)
        head = re.sub(rb"(?im)^(content-length:[ \t]*)\d+", lambda m: m.group(1) + str(len(payload)).encode(), head)
        rec.block = head + payload
    elif rec.type == "request":
        head, body = rec.http_split()
        parts = request_target(copy_url(url, k))
        rec.block = re.sub(rb"^(\S+) \S+", lambda m: m.group(1) + b" " + parts.encode(), head, count=1) + body
        payload = body
    elif rec.type == "conversion" and doc_id in sample.text:
        tail = rec.block[len(rec.block.rstrip()):]
        rec.block = payload = sample.wet_text(doc_id, rec.block.decode("utf-8").strip(), k).encode("utf-8") + tail
    if rec.get("WARC-Block-Digest"):
        rec.set("WARC-Block-Digest", digest(rec.block))
    if payload is not None and rec.get("WARC-Payload-Digest"):
        rec.set("WARC-Payload-Digest", digest(payload))
    return rec


def request_target(url: str) -> str:
    """The request target (path and query) of ``url``."""
    parts = urllib.parse.urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


WARC_SUFFIXES = (".warc.wet.gz", ".warc.gz")


def scale_commoncrawl(fixtures: Path, out: Path, factor: int) -> dict:
    paths = recipe_inputs("commoncrawl", fixtures)
    sample = CrawlSample(paths) if factor > 1 else None
    written = []
    for path in paths:  # copy 0: the fixture files
        target = out / relative(path, fixtures)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        written.append(target)
    tasks = [(k, path, out / copy_name(relative(path, fixtures), k, WARC_SUFFIXES))
             for k in range(1, factor) for path in paths]
    written += in_parallel(_write_crawl_copy, tasks, sample)
    return {"files": len(written)}


_SHARED = None  # what forked workers of in_parallel read (set before the pool forks)


def in_parallel(fn, tasks: list, shared) -> list:
    """``[fn(shared, *task) for task in tasks]``, on every core: forked workers inherit ``shared``
    (no pickling). Each task writes its own file, so the bytes do not depend on the order."""
    global _SHARED
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    processes = min(cores, len(tasks))
    if processes <= 1:
        return [fn(shared, *task) for task in tasks]
    import multiprocessing

    _SHARED = shared
    try:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            return pool.starmap(_call_shared, [(fn, task) for task in tasks], chunksize=1)
    finally:
        _SHARED = None


def _call_shared(fn, task):
    return fn(_SHARED, *task)


def _write_crawl_copy(sample: "CrawlSample", k: int, path: str, target: Path) -> Path:
    with open(target, "wb") as f:
        for _, rec in warc_records(path):
            f.write(gzip_member(copy_warc_record(rec, k, sample, target.name).to_bytes()))
    return target


# ---------------------------------------------------------------------------- C4

def scale_c4(fixtures: Path, out: Path, factor: int) -> dict:
    paths = recipe_inputs("c4", fixtures)
    shards = {p: [json.loads(line) for line in gzip.open(p, "rt", encoding="utf-8")] for p in paths}
    vocab = Vocabulary.of(r["text"] for records in shards.values() for r in records)
    written = 0
    for path, records in shards.items():
        name = relative(path, fixtures)
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, out / name)
        for k in range(1, factor):
            lines = []
            for record in records:
                record = dict(record, text=vocab.vary_lines(record["text"], k))
                if "url" in record:
                    record["url"] = copy_url(record["url"], k)
                lines.append(json.dumps(record, ensure_ascii=False) + "\n")
            (out / copy_name(name, k, (".json.gz",))).write_bytes(gzip_member("".join(lines).encode("utf-8")))
        written += factor
    return {"files": written}


# ---------------------------------------------------------------------------- GitHub

def header_end(content: str, path: str) -> int:
    """Where the code after the leading licence comment starts (0 without one)."""
    stripped, removed = strip_license_header(content, language_of(path))
    if not removed:
        return 0
    common = len(os.path.commonprefix([content[::-1], stripped[::-1]]))
    return len(content) - common


def vary_code(vocab: Vocabulary, content: str, path: str, k: int) -> str:
    """Copy k of a file: the code after the licence comment substituted. A file that is only a
    licence comment has the comment's words substituted instead, when the header step still
    removes it the same way."""
    cut = header_end(content, path)
    varied = content[:cut] + vocab.vary(content[cut:], k)
    if varied == content and cut:
        whole = vocab.vary(content, k)
        language = language_of(path)
        if strip_license_header(whole, language)[0] == strip_license_header(content, language)[0]:
            return whole
    return varied


def scale_github(fixtures: Path, out: Path, factor: int) -> dict:
    paths = recipe_inputs("github", fixtures)
    written = 0
    for path in paths:
        rows = [json.loads(line) for line in open(path, encoding="utf-8")]
        code = [r["content"][header_end(r["content"], r["path"]):] for r in rows if isinstance(r.get("content"), str)]
        vocab = Vocabulary.of(code, keep=CODE_KEYWORDS, exclude=LICENCE_WORDING.pattern)
        name = relative(path, fixtures)
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, out / name)
        for k in range(1, factor):
            with open(out / copy_name(name, k, (".jsonl",)), "w", encoding="utf-8") as f:
                for row in rows:
                    row = dict(row, repo_name=f"{row['repo_name']}-copy{k:03d}", path=f"copy{k:03d}/{row['path']}")
                    if isinstance(row.get("content"), str):
                        row["content"] = vary_code(vocab, row["content"], row["path"], k)
                    f.write(json.dumps(row) + "\n")
        written += factor
    return {"files": written}


# ---------------------------------------------------------------------------- books

def gutenberg_body(lines: list[str]) -> tuple[int, int]:
    """(first, end) line of the body between the Project Gutenberg header and footer, as
    :func:`llamacorpus.sources.books.strip_gutenberg` finds them."""
    start = next((i + 1 for i, line in enumerate(lines[:HEADER_SCAN_LINES])
                  if any(rx.search(line) for _, rx in START_MARKERS)), 0)
    end = next((i for i in range(start, len(lines)) if END_MARKER.search(lines[i])), len(lines))
    return start, end


def scale_books(fixtures: Path, out: Path, factor: int) -> dict:
    paths = recipe_inputs("books", fixtures)
    books = {}
    for path in paths:
        raw = Path(path).read_bytes()
        text, encoding, _ = decode(raw)
        lines = text.split("\n")
        books[path] = (raw.startswith(codecs.BOM_UTF8), encoding, lines, gutenberg_body(lines))
    vocab = Vocabulary.of("\n".join(lines[a:b]) for _, _, lines, (a, b) in books.values())
    for path, (bom, encoding, lines, (start, end)) in books.items():
        name = relative(path, fixtures)
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, out / name)
        for k in range(1, factor):
            body = vocab.vary("\n".join(lines[start:end]), k)
            text = "\n".join(lines[:start] + [body] + lines[end:]) if start < end else "\n".join(lines)
            data = (codecs.BOM_UTF8 if bom else b"") + text.encode(encoding, "xmlcharrefreplace")
            (out / copy_name(name, k, (".txt",))).write_bytes(data)
    return {"files": len(books) * factor}


# ---------------------------------------------------------------------------- arXiv

_ARXIV_ID = re.compile(r"(?<![\d.])(\d{2})(\d{2})\.(\d{4,5})(?!\d)")
#: commands and their names, reference-like arguments, comments, escaped characters
LATEX_PROTECT = (r"\\(?:begin|end|label|ref|eqref|cref|Cref|autoref|pageref|cite[a-zA-Z]*|nocite|input|include|"
                 r"includeonly|subfile|usepackage|RequirePackage|documentclass|documentstyle|bibliography|"
                 r"bibliographystyle|includegraphics|graphicspath|usetikzlibrary|url|href|hypersetup|"
                 r"newenvironment|renewenvironment|newtheorem|setlength|addtolength|newlength|newcounter|"
                 r"setcounter|addtocounter|color|textcolor|definecolor)\*?\s*(?:\[[^\]]*\]\s*)*\{[^{}]*\}"
                 r"|\\[A-Za-z@]+|\\.|(?<!\\)%[^\n]*")


def copy_paper_name(name: str, k: int) -> str:
    """The arXiv id moved k months on, ``-copyNNN`` appended."""
    def shift(m):
        months = int(m.group(1)) * 12 + int(m.group(2)) - 1 + k
        return f"{months // 12 % 100:02d}{months % 12 + 1:02d}.{m.group(3)}"

    return f"{_ARXIV_ID.sub(shift, name, count=1)}-copy{k:03d}"


def scale_arxiv(fixtures: Path, out: Path, factor: int) -> dict:
    papers = [Path(p) for p in recipe_inputs("arxiv", fixtures)]
    tex = {p: sorted(f for f in p.rglob("*") if f.is_file() and f.suffix == ".tex") for p in papers}
    vocab = Vocabulary.of((f.read_text(encoding="utf-8") for files in tex.values() for f in files), LATEX_PROTECT)
    names = {p.name for p in papers}
    for paper in papers:
        target = out / relative(str(paper), fixtures)
        shutil.copytree(paper, target, dirs_exist_ok=True)
        for k in range(1, factor):
            name = copy_paper_name(paper.name, k)
            if name in names:
                raise ValueError(f"copy {k} of {paper.name} would be named like another paper: {name}")
            names.add(name)
            for f in sorted(f for f in paper.rglob("*") if f.is_file()):
                dest = target.parent / name / f.relative_to(paper)
                dest.parent.mkdir(parents=True, exist_ok=True)
                if f in tex[paper]:
                    dest.write_text(vocab.vary(f.read_text(encoding="utf-8"), k, LATEX_PROTECT), encoding="utf-8")
                else:
                    shutil.copyfile(f, dest)
    return {"files": len(papers) * factor}


# ---------------------------------------------------------------------------- Stack Exchange

_ROW_ID = re.compile(r'(?<= )(Id|ParentId|AcceptedAnswerId)="(\d+)"')
_ROW_TEXT = re.compile(r'(?<= )(Body|Title)="([^"]*)"')
#: inside an attribute value: escaped tags (&lt;...&gt;) and entities
ESCAPED_HTML = rf"&lt;.*?&gt;|{ENTITY}"


def scale_stackexchange(fixtures: Path, out: Path, factor: int) -> dict:
    paths = recipe_inputs("stackexchange", fixtures)
    sites = {}
    for path in paths:
        lines = Path(path).read_text(encoding="utf-8").splitlines(keepends=True)
        rows = [i for i, line in enumerate(lines) if line.lstrip().startswith("<row")]
        sites[path] = (lines, rows)
    vocab = Vocabulary.of((m.group(2) for lines, rows in sites.values() for i in rows
                           for m in _ROW_TEXT.finditer(lines[i])), ESCAPED_HTML)
    for path, (lines, rows) in sites.items():
        stride = id_stride(int(m.group(2)) for i in rows for m in _ROW_ID.finditer(lines[i]))
        target = out / relative(path, fixtures)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "w", encoding="utf-8", newline="") as f:
            f.writelines(lines[:rows[-1] + 1])
            for k in range(1, factor):
                for i in rows:
                    row = _ROW_ID.sub(lambda m: f'{m.group(1)}="{int(m.group(2)) + k * stride}"', lines[i])
                    f.write(_ROW_TEXT.sub(lambda m: f'{m.group(1)}="{vocab.vary(m.group(2), k, ESCAPED_HTML)}"', row))
            f.writelines(lines[rows[-1] + 1:])
    return {"files": len(sites)}


# ---------------------------------------------------------------------------- Wikipedia

#: wikitext left alone: tags, template names and parameter names, link prefixes (namespaces,
#: interwiki), behaviour switches, table attribute lines, entities
WIKI_PROTECT = (r"<[^<>\n]*>|\{\{\s*#?[^|{}\n]*|\|[ \t]*[\w\- ]{1,50}?[ \t]*=|\[\[\s*:?[^\]|\[:\n]*:|__[A-Z]+__|"
                r"^\s*\{\|[^\n]*|^\s*\|-[^\n]*|^#\w+|" + ENTITY)
_PAGE = re.compile(r"<page[\s>].*?</page>", re.S)


class WikiPage:
    """One ``<page>`` element as written in its dump, with what a copy changes."""

    def __init__(self, chunk: str):
        self.chunk = chunk
        elem = etree.fromstring(chunk.encode("utf-8"))
        ns = "{%s}" % elem.tag[1:].split("}")[0] if elem.tag.startswith("{") else ""
        self.title = elem.findtext(f"{ns}title") or ""
        self.ns = int(elem.findtext(f"{ns}ns") or 0)
        self.page_id = int(elem.findtext(f"{ns}id"))
        self.revision_id = int(elem.findtext(f"{ns}revision/{ns}id") or 0)
        self.text = elem.findtext(f"{ns}revision/{ns}text") or ""

    def copy(self, k: int, title: str, id_stride_: int, rev_stride: int, text: str) -> str:
        def escape(s: str) -> str:
            return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")

        chunk = re.sub(r"<title>.*?</title>", lambda m: f"<title>{escape(title)}</title>", self.chunk, count=1,
                       flags=re.S)
        chunk = re.sub(r"<id>\d+</id>", f"<id>{self.page_id + k * id_stride_}</id>", chunk, count=1)
        revision = chunk.find("<revision>")
        if revision >= 0:
            head, tail = chunk[:revision], chunk[revision:]
            for tag in ("id", "parentid"):  # the revision's own, before its contributor's <id>
                tail = re.sub(rf"<{tag}>(\d+)</{tag}>", lambda m: f"<{tag}>{int(m.group(1)) + k * rev_stride}</{tag}>",
                              tail, count=1)
            chunk = head + tail
        data = text.encode("utf-8")
        chunk = re.sub(r"(<text\b[^>]*?)(?:\s*/>|>.*?</text>)",
                       lambda m: re.sub(r'bytes="\d+"', f'bytes="{len(data)}"', m.group(1)) + f">{escape(text)}</text>",
                       chunk, count=1, flags=re.S)
        return re.sub(r"<sha1>[^<]*</sha1>", f"<sha1>{mediawiki_sha1(data)}</sha1>", chunk, count=1)


def mediawiki_sha1(data: bytes) -> str:
    """The ``<sha1>`` of a revision: SHA-1 in base 36, 31 digits."""
    n, digits = int(hashlib.sha1(data).hexdigest(), 16), ""
    while n:
        n, d = divmod(n, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[d] + digits
    return digits.rjust(31, "0")


def dump_parts(path: str) -> tuple[SiteInfo, str, list[WikiPage]]:
    """(site info, header before the first page, pages) of one fixture dump."""
    site = next(item for item in iter_pages(path) if isinstance(item, SiteInfo))
    with fileio.open_decompressed(path) as f:
        raw = f.read()
    boms = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
    for bom, name in boms:
        if raw.startswith(bom):
            text = raw[len(bom):].decode(name)
            break
    else:
        text = raw.decode("utf-8")
    text = text.replace("\r\n", "\n")
    first = _PAGE.search(text)
    header = re.sub(r"^\s*<\?xml[^>]*\?>\s*", "", text[:first.start() if first else len(text)])
    return site, header, [WikiPage(m.group(0)) for m in _PAGE.finditer(text)]


def dump_date(paths: list[str]) -> str:
    for path in paths:
        m = re.search(r"(?<!\d)(20\d{6})(?!\d)", os.path.basename(path))
        if m:
            return m.group(1)
    return DEFAULT_DUMP_DATE


def write_multistream(dump: Path, index: Path, header: str, pages: Iterator[tuple[int, str, str]]) -> int:
    """Write a multistream dump (header stream, streams of 100 pages, closing stream) and its
    index of ``offset:page_id:title``; ``pages`` yields (page id, title, page XML). Returns pages."""
    count = 0
    with open(dump, "wb") as f, bz2.open(index, "wt", encoding="utf-8") as idx:
        f.write(bz2.compress(header.rstrip(" ").encode("utf-8")))
        batch: list[tuple[int, str, str]] = []

        def flush():
            offset = f.tell()
            f.write(bz2.compress("".join(f"  {xml.strip()}\n" for _, _, xml in batch).encode("utf-8")))
            idx.writelines(f"{offset}:{page_id}:{title}\n" for page_id, title, _ in batch)
            batch.clear()

        for page in pages:
            batch.append(page)
            count += 1
            if len(batch) == PAGES_PER_STREAM:
                flush()
        if batch:
            flush()
        f.write(bz2.compress(b"</mediawiki>\n"))
    return count


def wiki_copies(pages: list[WikiPage], vocab: Vocabulary, factor: int, stride: int,
                rev_stride: int) -> Iterator[tuple[int, str, str]]:
    """(page id, title, page XML) of copies 0..factor-1 of a language's pages, in id order."""
    titles = {p.title for p in pages}
    yield from ((p.page_id, p.title, p.chunk) for p in pages)
    for k in range(1, factor):
        for p in pages:
            prefix, rest = p.title.split(":", 1) if p.ns and ":" in p.title else ("", p.title)
            title = f"{prefix}:{vocab.vary(rest, k)}" if prefix else vocab.vary(rest, k)
            if title in titles:
                title = f"{p.title} ({k})"
            titles.add(title)
            text = vocab.vary(p.text, k, WIKI_PROTECT)
            yield p.page_id + k * stride, title, p.copy(k, title, stride, rev_stride, text)


def scale_wikipedia(fixtures: Path, out: Path, factor: int) -> dict:
    by_language = collections.defaultdict(list)
    for path in recipe_inputs("wikipedia", fixtures):
        site, header, pages = dump_parts(path)
        by_language[site.language].append((path, header, pages))
    (out / "wikipedia").mkdir(parents=True, exist_ok=True)
    counts = {}
    for language, dumps in sorted(by_language.items()):
        # the header of the dump with a <siteinfo> and the most pages; a page id once, latest revision
        # (pages are read with CRLF made LF, so one dump in two encodings gives the same pages)
        header = max(dumps, key=lambda d: ("<siteinfo" in d[1], len(d[2]), d[0]))[1]
        chosen: dict[int, WikiPage] = {}
        for _, _, pages in sorted(dumps, key=lambda d: d[0]):
            for page in pages:
                if page.page_id not in chosen or page.revision_id > chosen[page.page_id].revision_id:
                    chosen[page.page_id] = page
        pages = [chosen[i] for i in sorted(chosen)]
        vocab = Vocabulary.of((p.text for p in pages), WIKI_PROTECT)
        stride, rev_stride = id_stride(p.page_id for p in pages), id_stride(p.revision_id for p in pages)
        name = f"{language}wiki-{dump_date([d[0] for d in dumps])}-pages-articles-multistream"
        counts[language] = write_multistream(out / "wikipedia" / f"{name}.xml.bz2",
                                             out / "wikipedia" / f"{name}-index.txt.bz2", header,
                                             wiki_copies(pages, vocab, factor, stride, rev_stride))
    return {"files": 2 * len(counts), "pages": counts}


# ---------------------------------------------------------------------------- the corpus

SCALERS = {"commoncrawl": scale_commoncrawl, "c4": scale_c4, "github": scale_github, "wikipedia": scale_wikipedia,
           "books": scale_books, "arxiv": scale_arxiv, "stackexchange": scale_stackexchange}


def copy_models(models: Path, out: Path) -> None:
    """The fixture models, and the perplexity step's layout of them (see the module docstring)."""
    shutil.copytree(models, out, dirs_exist_ok=True)
    (out / "lm").mkdir(exist_ok=True)
    shutil.copyfile(models / "botchan_en_unigram_1000.model", out / "lm" / "en.sp.model")
    shutil.copyfile(models / "kenlm_test.arpa", out / "lm" / "en.arpa")


def plan(sources: Iterable[str], factor: int, output: Path) -> dict[str, int]:
    """source -> factor to write. Common Crawl without Wikipedia also gets the Wikipedia dumps at
    factor 1 when ``output`` has none: the Common Crawl branch trains its Wikipedia-reference
    classifier on them."""
    out = {source: factor for source in sources}
    if "commoncrawl" in out and "wikipedia" not in out and not (output / "wikipedia").exists():
        out["wikipedia"] = 1
    return out


def build(output: Path, factor: int, sources: Iterable[str] = SOURCES, fixtures: Path = FIXTURES,
          log=print) -> dict:
    """Write the scale corpus; returns what was written per source (factor, files, bytes)."""
    if not 1 <= factor <= MAX_FACTOR:
        raise ValueError(f"--factor must be 1..{MAX_FACTOR} (copies are distinct up to the group size)")
    output.mkdir(parents=True, exist_ok=True)
    summary = {"sources": {}}
    for source, n in plan(sources, factor, output).items():
        shutil.rmtree(output / source, ignore_errors=True)
        started = time.perf_counter()
        result = {"factor": n, **SCALERS[source](fixtures, output, n)}
        result["bytes"] = sum(f.stat().st_size for f in (output / source).rglob("*") if f.is_file())
        summary["sources"][source] = result
        log(f"{source}: x{n}, {result['files']} files, {result['bytes'] / 1e6:.1f} MB, "
            f"{time.perf_counter() - started:.1f} s")
    copy_models(fixtures / "models", output / "models")
    (output / "scale_corpus.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    return summary


# ---------------------------------------------------------------------------- reading it back

def documents(source: str, paths: Iterable[str]) -> Iterator[dict]:
    """The documents the source's reader makes of ``paths`` (its drops, errors and notes left out)."""
    src, cfg = source_registry.get(source), recipe_mod.load(str(RECIPE)).sources[source]
    for path in paths:
        for item in src.read(cfg, path):
            if isinstance(item, dict):
                yield item


def read_documents(source: str, root: Path) -> Iterator[dict]:
    """The documents the source's reader makes of the recipe's inputs under ``root``."""
    return documents(source, recipe_inputs(source, root))


def crawl_line_stats(docs: Iterable[dict]) -> dict:
    """CCNet line dedup over the documents URL dedup keeps, streamed: every copy of a line hash
    seen twice or more is removed (the ``ccnet`` rule of ``line_dedup.hash_decisions``)."""
    best: dict[str, tuple] = {}  # url key -> (preference, packed hashes)
    read = 0
    for doc in docs:
        read += 1
        key, rank = url_key(doc), preference(doc)
        if key not in best or rank < best[key][0]:
            best[key] = (rank, b"".join(h for h in line_hashes(doc["text"]) if h != BLANK))
    hashes = np.frombuffer(b"".join(packed for _, packed in best.values()), dtype=np.uint64)
    _, counts = np.unique(hashes, return_counts=True)
    removed = int(counts[counts >= 2].sum())
    return {"documents": read, "after_url_dedup": len(best), "lines": int(len(hashes)), "removed": removed,
            "fraction": removed / max(len(hashes), 1)}


def crawl_report(root: Path) -> dict:
    """:func:`crawl_line_stats` of the Common Crawl documents under ``root``, and their fastText
    languages, in one streamed read."""
    model = load_model(default_model_path())
    languages, batch = collections.Counter(), []

    def classify():
        languages.update(lang for lang, _ in predict(model, batch))
        batch.clear()

    def counted():
        for doc in read_documents("commoncrawl", root):
            batch.append(doc["text"])
            if len(batch) == 256:
                classify()
            yield doc
        if batch:
            classify()

    stats = crawl_line_stats(counted())
    stats["languages"] = dict(languages.most_common())
    return stats


def report(root: Path, sources: Iterable[str]) -> dict:
    """Documents per source as the readers make them, with :func:`crawl_report` for Common Crawl."""
    out = {}
    for source in sources:
        started = time.perf_counter()
        if source == "commoncrawl":
            out[source] = crawl_report(root)
        else:
            out[source] = {"documents": sum(1 for _ in read_documents(source, root))}
        out[source]["read_seconds"] = round(time.perf_counter() - started, 1)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factor", type=int, required=True, help=f"copies of every document (1..{MAX_FACTOR})")
    parser.add_argument("--output", type=Path, required=True, help="the input root to write")
    parser.add_argument("--sources", default=",".join(SOURCES), help="comma-separated sources (default: all)")
    parser.add_argument("--fixtures", type=Path, default=FIXTURES, help="the 1x sample (default tests/fixtures)")
    parser.add_argument("--report", action="store_true", help="read the result back and print its figures")
    args = parser.parse_args(argv)
    sources = [s.strip() for s in args.sources.split(",") if s.strip()]
    unknown = sorted(set(sources) - set(SOURCES))
    if unknown:
        parser.error(f"unknown sources {unknown} (sources: {', '.join(SOURCES)})")
    if not 1 <= args.factor <= MAX_FACTOR:
        parser.error(f"--factor must be 1..{MAX_FACTOR}")
    started = time.perf_counter()
    build(args.output, args.factor, sources, args.fixtures)
    print(f"total {time.perf_counter() - started:.1f} s")
    if args.report:
        print(json.dumps(report(args.output, sources), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
