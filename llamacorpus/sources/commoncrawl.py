"""Common Crawl (67% of LLaMA), the CCNet way: read WET/WARC, URL dedup, whole-run line dedup,
fastText language ID, then the perplexity buckets and the Wikipedia-reference classifier.

Inputs
    ``inputs``: globs (local, ``gs://``; ``http(s)://`` URLs are taken literally) of
    ``*.warc.wet.gz`` (``conversion`` records: CC's extracted text) and ``*.warc.gz`` (HTTP
    ``response`` records: HTML, turned into text by resiliparse), in any mix; a file's records say
    what it is. ``paths_listing``: a Common Crawl ``wet.paths.gz``/``warc.paths.gz`` whose lines are
    joined to ``base_url`` (``max_listed_files`` takes the first N). Files fan out with Reshuffle.

Reading (:func:`iter_records`, then :func:`to_document`)
    FastWARC streams the records (one gzip member each in CC files); WARC headers are read by name.
    Strict parsing with recovery: a record followed by something that is not a WARC header had a
    wrong Content-Length (``bad_content_length``, the record is not trusted), and so has one that
    claims more bytes than the file holds while records follow it (its gzip member ends before the
    file does, or a ``WARC/1.x`` line follows in a plain file); an unparseable header
    is ``malformed_warc_record`` (``malformed_http_header`` for a response's HTTP head, which
    spoils that record only); corrupt compressed data is ``corrupt_gzip``; after each, reading
    resumes at the next gzip member (``.gz``) or the next ``WARC/1.x`` line (plain files). A record
    cut short is ``truncated_gzip`` (``truncated_record`` in a plain file), as is a file whose last
    gzip member is cut; a file without any record is ``empty_file``. Locations are
    ``<file>@<offset of the record's gzip member>`` (the offset CC's index uses). A WET text that is
    not UTF-8 is ``invalid_utf8`` (CC writes UTF-8, so it is corruption). A WET text is read as
    CCNet reads it (``process_wet_file.py``): every line stripped, empty lines dropped, the first
    line is the title (CC's WET writes the page's ``<title>`` there) and is not in the text.

    A WARC response becomes a document only when its status is 2xx (else dropped as
    ``http_status=<code>``) and its payload is HTML (``text/html``, ``application/xhtml+xml`` from
    the HTTP Content-Type, else CC's ``WARC-Identified-Payload-Type``; else dropped as
    ``not_html``). Chunked, gzip and deflate payloads (non-CC WARCs) are decoded. Bytes become text
    by the rule every source uses (:func:`llamacorpus.text.decode`): UTF-8 first, else the declared
    charset (the HTML meta tag in the first 4 KB, else the HTTP Content-Type's; WHATWG labels, so
    ``iso-8859-1`` is windows-1252), else the HTTP header's when the meta tag's is contradicted,
    else charset detection. A few bytes invalid in the declared charset become U+FFFD rather than
    the whole page mojibake; a declaration the bytes contradict (a "utf-8" page in cp1251 was 84%
    U+FFFD) is counted as ``read/charset_redetected``; a payload that is not text is dropped as
    ``binary``.
    ``main_content`` (default false) selects resiliparse's main-content heuristics; the default
    extracts the whole visible page like CC's WET files, which is what CCNet and LLaMA processed and
    what line dedup is designed to clean (menus and footers repeat across pages and go there). (A
    WARC page's text keeps resiliparse's indentation and empty lines, which the CCNet reading of a
    WET text drops; line dedup normalises the first away and removes the second.) A record body
    over ``max_page_bytes`` is dropped unread (``page_too_large``); text under ``min_chars``
    (CCNet's min_len, 300) is dropped as ``too_short``.

Documents
    id ``commoncrawl/<sha1 hex of "url\\x1fWARC-Date">``: the payload digest alone is not unique
    (one payload at many URLs is common), and the same capture read from its WET and its WARC gets
    the same id, which URL dedup then resolves. Meta: ``url``, ``digest`` (WARC-Payload-Digest),
    ``date`` (WARC-Date), ``cc_segment`` (the file's path from ``crawl-data/``, else its name),
    ``source_domain``, ``title`` (HTML ``<title>``; a WET record's first line, CCNet's rule), then
    ``original_nlines``/``nlines`` (line dedup), ``language``/``language_score`` (language ID).
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import os
import re
import urllib.request
import zlib
from typing import IO, Iterator, Literal, NamedTuple

from llamacorpus import fileio
from llamacorpus.config import FilePath, field
from llamacorpus.document import make_document
from llamacorpus.sources import wikipedia
from llamacorpus.sources.base import RunContext, Source, SourceConfig
from llamacorpus.sources.wikipedia.references import ReferenceReader
from llamacorpus.steps import BadInput, Drop, Note
from llamacorpus.steps.dedup.lines import LineDedup, parse_scope
from llamacorpus.steps.dedup.urls import UrlDedup
from llamacorpus.steps.filters.langid import LanguageId
from llamacorpus.steps.filters.perplexity import PerplexityConfig, perplexity_prepare, perplexity_steps
from llamacorpus.steps.filters.wiki_classifier import ClassifierConfig, classifier_prepare, classifier_steps
from llamacorpus.text import decode
from llamacorpus.urls import domain

SOURCE_NAME = "commoncrawl"
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
GZIP_MAGIC = b"\x1f\x8b\x08"
WARC_MARKER = b"\nWARC/1."
#: bytes of a page searched for its meta charset (HTML's prescan looks at 1024; real pages put it later)
META_SCAN_BYTES = 4096
_META_CHARSET = re.compile(rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:+-]+)""", re.I)
HTTP_TIMEOUT = 120


@dataclasses.dataclass
class CommonCrawlConfig(SourceConfig):
    inputs: list[str] = field(["commoncrawl/*.warc.wet.gz", "commoncrawl/*.warc.gz"])
    #: CCNet's min_len: documents with fewer characters of text are dropped when read
    min_chars: int = 300
    #: a Common Crawl wet.paths.gz / warc.paths.gz listing (path or URL); its lines join base_url
    paths_listing: str = ""
    base_url: str = "https://data.commoncrawl.org/"
    #: take only the first N files of the listing (0: all)
    max_listed_files: int = 0
    #: resiliparse main-content heuristics for WARC HTML (false: the whole visible page, as CC's WET)
    main_content: bool = False
    #: a record body larger than this is dropped unread (page_too_large)
    max_page_bytes: int = 4 * 1024 * 1024
    #: ccnet: every copy of a repeated line goes; c4: one copy stays; off: no line dedup
    line_dedup: Literal["ccnet", "c4", "off"] = "ccnet"
    #: where line hashes are shared: run (every file), dump (one CC snapshot), files:N (N files of a dump)
    line_dedup_scope: str = "run"
    #: languages kept by fastText language ID (LLaMA: en) and the minimum top-label probability
    languages: list[str] = field(["en"])
    language_threshold: float = 0.5
    #: fastText language-ID model; "" = the bundled lid.176.ftz
    lid_model: FilePath = ""
    perplexity: PerplexityConfig = field(default_factory=PerplexityConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)

    def resolve(self, sections: dict) -> None:
        """The classifier's Wikipedia dumps default to the Wikipedia source's inputs."""
        if not self.classifier.wikipedia_inputs:
            section = sections.get(wikipedia.SOURCE.name)
            self.classifier.wikipedia_inputs = list((section.inputs if section else None)
                                                    or wikipedia.SOURCE.default_inputs)

    def check(self):
        super().check()
        self.require(self.max_listed_files >= 0, "max_listed_files", "must be >= 0")
        self.require(self.max_page_bytes > 0, "max_page_bytes", "must be > 0")
        self.require(bool(self.languages), "languages", "must name at least one language")
        self.require(0 <= self.language_threshold <= 1, "language_threshold",
                     f"must be in [0, 1], got {self.language_threshold}")
        self.require(bool(self.inputs or self.paths_listing), "inputs", "give inputs or paths_listing")
        try:
            parse_scope(self.line_dedup_scope)
        except ValueError as exc:
            self.fail("line_dedup_scope", str(exc))


# ---------------------------------------------------------------------------- opening files

def is_url(path: str) -> bool:
    return path.startswith(("http://", "https://"))


class _HttpStream(io.RawIOBase):
    """An http(s) body from ``offset`` (a Range request) that knows its position: FastWARC needs
    ``tell()`` and reports record offsets from it."""

    def __init__(self, url: str, offset: int):
        request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
        self._response = urllib.request.urlopen(request, timeout=HTTP_TIMEOUT)
        self._position = offset
        skip = offset if self._response.status != 206 else 0  # a server without Range support
        while skip:
            skipped = len(self._response.read(min(skip, 1 << 20)))
            if not skipped:
                raise EOFError(f"{url} ends before offset {offset}")
            skip -= skipped

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._response.read(size if size is not None and size >= 0 else None)
        self._position += len(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        self._response.close()
        super().close()


def open_at(path: str, offset: int = 0) -> IO[bytes]:
    """The raw bytes of ``path`` from ``offset`` (local, any Beam filesystem, or http(s)); the
    stream's ``tell()`` is the absolute file offset."""
    if is_url(path):
        return _HttpStream(path, offset)
    f = open(path, "rb") if not fileio.has_scheme(path) else fileio.open_raw(path)
    if offset:
        f.seek(offset)
    return f


def next_sync_point(path: str, after: int, compressed: bool, chunk: int = 1 << 20) -> int | None:
    """The offset of the first gzip member (or ``WARC/1.`` line) that starts after ``after``."""
    marker = GZIP_MAGIC if compressed else WARC_MARKER
    skip = 0 if compressed else 1  # a WARC marker starts after its newline
    with open_at(path, after + 1) as f:
        base, tail = after + 1, b""
        while True:
            data = f.read(chunk)
            if not data:
                return None
            window = tail + data
            hit = window.find(marker)
            if hit >= 0:
                return base - len(tail) + hit + skip
            tail = window[-(len(marker) - 1):]
            base += len(data)


def gzip_tail_is_complete(path: str, offset: int) -> bool:
    """Whether every gzip member from ``offset`` to the end of the file is whole."""
    with open_at(path, offset) as f:
        data = f.read()
    while data:
        d = zlib.decompressobj(31)
        try:
            while data:
                d.decompress(data, 1 << 20)  # output is discarded; bounded memory per call
                data = d.unconsumed_tail
        except zlib.error:
            return False
        if not d.eof:
            return False
        data = d.unused_data
    return True


def record_follows(path: str, offset: int, compressed: bool) -> bool:
    """Whether another record starts after the one at ``offset``: its gzip member ends before the
    file does (``.gz``), or a ``WARC/1.x`` line follows it (plain files)."""
    if not compressed:
        return next_sync_point(path, offset, compressed) is not None
    d = zlib.decompressobj(31)
    with open_at(path, offset) as f:
        while not d.eof:
            data = f.read(1 << 20)
            if not data:
                return False
            try:
                while data and not d.eof:
                    d.decompress(data, 1 << 20)  # output is discarded; bounded memory per call
                    data = d.unconsumed_tail
            except zlib.error:
                return False
        return bool(d.unused_data or f.read(1))


def _ran_past_the_end(item) -> bool:
    """Whether the last record a clean pass read may claim more bytes than the file holds: its
    body was cut (``truncated_*``) or its Content-Length is past max_page_bytes (skipped unread)."""
    return (isinstance(item, BadInput) and item.kind in ("truncated_gzip", "truncated_record")
            or isinstance(item, Drop) and item.reason == "page_too_large")


def segment_name(path: str) -> str:
    """CCNet's cc_segment: the path from ``crawl-data/`` when there is one, else the file name."""
    at = path.find("crawl-data/")
    return path[at:] if at >= 0 else os.path.basename(path)


# ---------------------------------------------------------------------------- records

class RawRecord(NamedTuple):
    """What a document is made from: one WET conversion or WARC response record, body read."""

    kind: str  # "conversion" | "response"
    location: str  # <file>@<offset>
    url: str
    date: str
    digest: str
    body: bytes
    status: int = 0  # HTTP status (responses)
    content_type: str = ""  # HTTP mime type, else WARC-Identified-Payload-Type (responses)
    transfer_encoding: str = ""
    content_encoding: str = ""
    charset: str = ""  # the HTTP Content-Type's charset (responses)


class _Malformed(Exception):
    """A record FastWARC returned whose header block is not a WARC header."""


def _take(rec, location: str, max_bytes: int):
    """A parsed FastWARC record -> RawRecord, Drop, BadInput, or None (a type we skip)."""
    from fastwarc.warc import WarcRecordType

    kind = rec.record_type
    if kind == WarcRecordType.unknown:
        warc_type = rec.headers.get("WARC-Type")
        if warc_type is None or "\n" in warc_type:
            raise _Malformed(location)
        return None
    if kind not in (WarcRecordType.conversion, WarcRecordType.response):
        return None
    headers = rec.headers
    url = headers.get("WARC-Target-URI") or ""
    if rec.content_length > max_bytes:
        return Drop("page_too_large", location=location)
    if kind == WarcRecordType.response:
        if not rec.is_http:
            return Drop("not_html", location=location)
        try:  # here, not in the iterator, so a broken HTTP head spoils this record only
            rec.parse_http()
        except (OSError, ValueError) as exc:
            return BadInput("malformed_http_header", location, f"{type(exc).__name__}: {exc}")
        if not rec.http_headers.status_code:
            return BadInput("malformed_http_header", location, "no HTTP status line")
    body = rec.reader.read()
    if len(body) < rec.content_length:
        return BadInput("truncated_gzip" if location.split("@")[0].lower().endswith(".gz") else "truncated_record",
                        location, f"record body has {len(body)} of {rec.content_length} bytes")
    common = dict(location=location, url=url, date=headers.get("WARC-Date") or "",
                  digest=headers.get("WARC-Payload-Digest") or headers.get("WARC-Block-Digest") or "", body=body)
    if kind == WarcRecordType.conversion:
        return RawRecord("conversion", **common)
    http = rec.http_headers
    mime = (rec.http_content_type or headers.get("WARC-Identified-Payload-Type") or "").lower()
    return RawRecord("response", status=http.status_code, content_type=mime,
                     transfer_encoding=(http.get("Transfer-Encoding") or "").lower(),
                     content_encoding=(http.get("Content-Encoding") or "").lower(), charset=rec.http_charset or "",
                     **common)


def iter_records(path: str, max_bytes: int = 1 << 62) -> Iterator:
    """Stream the WET conversion and WARC response records of one file, recovering from bad ones.

    Yields :class:`RawRecord`, :class:`Drop` (``page_too_large``, non-HTTP responses) and
    :class:`BadInput`; see the module docstring for the error kinds. Each record is yielded only
    once the next header has parsed, so a record whose Content-Length is wrong is never passed on.
    """
    from fastwarc.warc import ArchiveIterator

    compressed = path.lower().endswith(".gz")
    start, resync, seen, errors, clean = 0, False, 0, 0, False
    last, last_offset = None, None
    while start is not None:
        pending, pending_offset, reading, count, failure, failed_at = None, None, None, 0, None, start
        stream = open_at(path, start)
        try:
            for rec in ArchiveIterator(stream, parse_http=False):
                reading = rec.stream_pos
                count += 1
                item = _take(rec, f"{path}@{reading}", max_bytes)
                if pending is not None:
                    yield pending
                pending, pending_offset, reading = item, reading, None
        except _Malformed:
            failure = BadInput("malformed_warc_record", f"{path}@{reading}", "the header block is not a WARC header")
            failed_at = reading
        except (OSError, ValueError, EOFError, zlib.error) as exc:
            message = f"{type(exc).__name__}: {exc}"
            if reading is not None or "decompress" in message.lower():  # corrupt data, not a bad length
                failed_at = reading if reading is not None else (pending_offset if pending_offset is not None else start)
                if not (resync and count == 0):
                    where = "in this record" if reading is not None else "after this record"
                    failure = BadInput("corrupt_gzip" if compressed else "corrupt_record", f"{path}@{failed_at}",
                                       f"corrupt data {where}: {message}")
            elif pending_offset is not None:
                failure = BadInput("bad_content_length", f"{path}@{pending_offset}",
                                   f"the record is not followed by a WARC header ({message}): its Content-Length "
                                   "is wrong or the next header is corrupt")
                failed_at, pending = pending_offset, None
            elif not (resync and compressed):
                failure = BadInput("malformed_warc_record", f"{path}@{start}", message)
        else:
            failed_at = None
            if _ran_past_the_end(pending) and record_follows(path, pending_offset, compressed):
                failure = BadInput("bad_content_length", f"{path}@{pending_offset}",
                                   "its Content-Length runs past the end of the file, over the records after it")
                failed_at, pending = pending_offset, None
        finally:
            stream.close()
        seen += count
        if pending is not None:
            yield pending
            last = pending
        if failed_at is None:
            clean, last_offset = True, pending_offset
            break
        if failure is not None:
            errors += 1
            last = failure
            yield failure
        start, resync = next_sync_point(path, failed_at, compressed), True
    if seen == 0 and errors == 0:
        yield BadInput("empty_file", f"{path}@0", "the file holds no WARC record")
    elif (compressed and clean and last_offset is not None and not isinstance(last, BadInput)
          and not gzip_tail_is_complete(path, last_offset)):
        yield BadInput("truncated_gzip", f"{path}@{last_offset}", "the file ends inside a gzip member")


# ---------------------------------------------------------------------------- records -> documents

def _decode_payload(raw: RawRecord, max_bytes: int) -> bytes:
    """The HTTP payload with transfer and content encodings undone (CC stores it decoded already)."""
    body = raw.body
    if "chunked" in raw.transfer_encoding:
        body = _dechunk(body)
    encoding = raw.content_encoding.strip()
    if encoding in ("gzip", "x-gzip", "deflate"):
        d = zlib.decompressobj(47 if encoding != "deflate" else 15)
        try:
            out = d.decompress(body, max_bytes + 1)
        except zlib.error:  # "deflate" is often sent raw, without the zlib header
            d = zlib.decompressobj(-15)
            out = d.decompress(body, max_bytes + 1)
        body = out
    elif encoding not in ("", "identity"):
        raise ValueError(f"unsupported Content-Encoding {encoding!r}")
    return body


def _dechunk(data: bytes) -> bytes:
    parts, pos = [], 0
    while True:
        eol = data.index(b"\r\n", pos)
        size = int(data[pos:eol].split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return b"".join(parts)
        parts.append(data[eol + 2:eol + 2 + size])
        pos = eol + 4 + size


class HtmlText(NamedTuple):
    """An HTML payload as text: its ``<title>``, its visible text, and whether the charset it
    declared was contradicted by its bytes (:func:`llamacorpus.text.decode`)."""

    title: str
    text: str
    charset_redetected: bool = False


def declared_charsets(html: bytes, http_charset: str = "") -> list[str]:
    """The charsets a page declares, in the order :func:`llamacorpus.text.decode` tries them: its
    ``<meta charset>`` / ``http-equiv`` tag in the first :data:`META_SCAN_BYTES`, then the HTTP
    Content-Type's; as the codecs the WHATWG labels map to (``iso-8859-1`` and ``us-ascii`` are
    windows-1252; a meta tag's ``utf-16`` is UTF-8, as bytes a meta tag can be read in are not)."""
    from resiliparse.parse.encoding import map_encoding_to_html5

    meta = _META_CHARSET.search(html, 0, META_SCAN_BYTES)
    out = []
    for label, in_meta in ((meta.group(1).decode("ascii") if meta else "", True), (http_charset, False)):
        encoding = map_encoding_to_html5(label, fallback_utf8=False) if label else None
        if encoding:
            out.append("utf-8" if in_meta and encoding.startswith("utf-16") else encoding)
    return out


def html_to_text(html: bytes, main_content: bool = False, http_charset: str = "") -> HtmlText | None:
    """An HTML payload as a :class:`HtmlText`, or None when its bytes are not text. Bytes to str by
    the one rule (:func:`llamacorpus.text.decode`: UTF-8, else the declared charset, else
    detection), then resiliparse's tree and plain text."""
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    decoded = decode(html, declared_charsets(html, http_charset))
    if decoded is None:
        return None
    tree = HTMLTree.parse(decoded.text)
    return HtmlText((tree.title or "").strip(), extract_plain_text(tree, main_content=main_content).strip(),
                    decoded.redetected)


def document_id(url: str, date: str) -> str:
    return hashlib.sha1(f"{url}\x1f{date}".encode("utf-8", "surrogatepass")).hexdigest()


def wet_title_and_text(body: str) -> tuple[str, str]:
    """CCNet's reading of a WET text (``process_wet_file.py``): every line stripped, empty lines
    dropped, the first line is the page's title (CC's WET writes the HTML title there) and the
    others, joined by ``"\\n"``, are the text."""
    lines = [line for line in (raw.strip() for raw in body.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
             if line]
    return (lines[0], "\n".join(lines[1:])) if lines else ("", "")


def to_document(raw: RawRecord, cfg: CommonCrawlConfig, segment: str) -> Iterator:
    """A RawRecord -> a document, Drop or BadInput with the record's location, after a
    ``Note("charset_redetected")`` when the page's declared charset was contradicted."""
    if raw.kind == "conversion":
        try:
            title, text = wet_title_and_text(raw.body.decode("utf-8"))
        except UnicodeDecodeError as exc:
            yield BadInput("invalid_utf8", raw.location, str(exc))
            return
    else:
        if not 200 <= raw.status < 300:
            yield Drop(f"http_status={raw.status}", location=raw.location)
            return
        if raw.content_type not in HTML_TYPES:
            yield Drop("not_html", location=raw.location)
            return
        try:
            html = _decode_payload(raw, cfg.max_page_bytes)
        except (ValueError, zlib.error) as exc:
            yield BadInput("bad_content_encoding", raw.location, f"{type(exc).__name__}: {exc}")
            return
        if len(html) > cfg.max_page_bytes:
            yield Drop("page_too_large", location=raw.location)
            return
        page = html_to_text(html, cfg.main_content, raw.charset)
        if page is None:
            yield Drop("binary", location=raw.location)
            return
        if page.charset_redetected:
            yield Note("charset_redetected")
        title, text = page.title, page.text
    doc = make_document(SOURCE_NAME, document_id(raw.url, raw.date), text, url=raw.url, digest=raw.digest,
                        date=raw.date, cc_segment=segment, source_domain=domain(raw.url), title=title)
    yield Drop("too_short", doc, raw.location) if len(text) < cfg.min_chars else doc


def read_listing(listing: str, base_url: str, limit: int = 0) -> list[str]:
    """The file URLs of a Common Crawl ``*.paths.gz`` listing joined to ``base_url``."""
    with open_at(listing) as raw:
        data = raw.read()
    if listing.endswith(".gz"):
        data = gzip.decompress(data)
    paths = [line.strip() for line in data.decode("utf-8").splitlines() if line.strip()]
    if limit:
        paths = paths[:limit]
    base = base_url.rstrip("/")
    return [f"{base}/{p.lstrip('/')}" for p in paths]


class CommonCrawl(Source):
    name = SOURCE_NAME
    Config = CommonCrawlConfig
    category_fields = ("language", "bucket", "domain")
    meta_fields = {"url": str, "digest": str, "date": str, "cc_segment": str, "source_domain": str, "title": str,
                   "original_nlines": int, "nlines": int, "language": str, "language_score": float,
                   "perplexity": float, "bucket": str, "wiki_prob": float}

    def input_paths(self, cfg: CommonCrawlConfig, ctx: RunContext) -> list[str]:
        literal = [p for p in cfg.inputs if is_url(p)]
        globs = [p for p in cfg.inputs if not is_url(p)]
        paths = fileio.expand_inputs(globs, ctx.input_root, what=f"sources.{self.name}.inputs") if globs else []
        paths += literal
        if cfg.paths_listing:
            listing = cfg.paths_listing if is_url(cfg.paths_listing) else fileio.join(ctx.input_root, cfg.paths_listing)
            if not is_url(listing) and not fileio.exists(listing):
                raise fileio.InputError(f"sources.{self.name}.paths_listing {listing!r} does not exist")
            paths += read_listing(listing, cfg.base_url, cfg.max_listed_files)
        if not paths:
            raise fileio.InputError(f"sources.{self.name}: inputs and paths_listing give no file")
        return list(dict.fromkeys(paths))

    def prepare(self, cfg: CommonCrawlConfig, ctx: RunContext) -> list[str]:
        paths = self.input_paths(cfg, ctx)
        if cfg.lid_model and not fileio.exists(cfg.lid_model):
            raise fileio.InputError(f"sources.{self.name}.lid_model {cfg.lid_model!r} does not exist")
        perplexity_prepare(cfg.perplexity, ctx)
        classifier_prepare(cfg.classifier, ctx)
        return paths

    def read(self, cfg: CommonCrawlConfig, path: str) -> Iterator:
        segment = segment_name(path)
        for item in iter_records(path, cfg.max_page_bytes):
            if isinstance(item, RawRecord):
                yield from to_document(item, cfg, segment)
            else:
                yield item

    def steps(self, cfg: CommonCrawlConfig, ctx: RunContext) -> list:
        steps: list = [UrlDedup(self.name)]
        if cfg.line_dedup != "off":
            steps.append(LineDedup(self.name, cfg.line_dedup, scope=cfg.line_dedup_scope,
                                   stats_path=ctx.layout.line_dedup))
        steps.append(LanguageId(cfg.languages, cfg.language_threshold, cfg.lid_model))
        references = ReferenceReader(tuple(cfg.classifier.wikipedia_languages), split_bytes=cfg.split_bytes)
        pages = self.reader(CommonCrawlConfig(min_chars=0))  # fetched reference pages: any length
        return steps + perplexity_steps(cfg.perplexity, ctx) + classifier_steps(cfg.classifier, ctx, references, pages)


SOURCE = CommonCrawl()
