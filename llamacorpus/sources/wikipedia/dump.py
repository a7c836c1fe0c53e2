"""Streaming reader of MediaWiki XML dumps (pages-articles, any export schema version).

:func:`iter_pages` yields the dump's :class:`SiteInfo` first, then a :class:`Page` (raw wikitext
of the page's last revision) or a :class:`~llamacorpus.steps.BadInput` per ``<page>``.

How it reads: the decompressed bytes are read in blocks and cut at ``<page>`` / ``</page>`` tags
(in a dump's XML they occur only as tags: text escapes ``<``), and lxml parses each page on its
own. Memory holds one block and one page, whatever the dump's size. Parsing page by page
confines an XML error to its page: lxml's whole-document recovery would go on after an error,
but libxml2 then ignores every entity reference for the rest of the document, so each later
``&lt;``, ``&amp;``, ``&quot;`` would vanish silently from the wikitext.

The encoding is the one the file declares: a byte-order mark (a UTF-16 dump with CRLF line ends
reads like its UTF-8 copy) or the XML declaration, UTF-8 by default. A dump in another encoding
is transcoded to UTF-8 as it streams, so the page parser always gets UTF-8 bytes.

Positions are ``<file>:<line>``, lines of the decompressed XML (the line of the ``<page>`` tag).
Bad input, the run going on:

* ``truncated_bz2`` (``truncated_gzip``, ``truncated_xz``, ``truncated_zstd``): the compressed
  stream ends early; the pages before it were read, the page it cuts is lost (the message holds
  the decompressed byte offset). ``truncated_xml``: an uncompressed file ends inside a page.
* ``corrupt_bz2`` (...): damaged compressed data; the same holds.
* ``malformed_xml``: a page that is not well-formed XML (a tag inside its text, an unescaped
  ``&``, bytes that are not in the file's encoding, a ``<page>`` never closed before the next
  one) is lost, with lxml's message; the pages around it are read. Stray content between pages
  is one record of its own.
* ``malformed_page``: a well-formed ``<page>`` without a numeric ``<id>`` or a ``<title>``.
* ``invalid_encoding``: a non-UTF-8 dump whose bytes do not decode; the rest of the file is lost.
"""
from __future__ import annotations

import bz2
import codecs
import collections
import dataclasses
import io
import lzma
import os
import re
import urllib.parse
import zlib
from typing import Iterator, NamedTuple

from lxml import etree

from llamacorpus import fileio
from llamacorpus.sources.base import Split, whole_file
from llamacorpus.sources.lines import piece_bytes
from llamacorpus.steps import BadInput

ARTICLE_NS = 0
BLOCK_SIZE = 1 << 20
MAX_HEAD_BYTES = 16 << 20  # a first stream (the <siteinfo>) bigger than this means the index is wrong
_PAGE_START = re.compile(rb"<page[\s>]")
_PAGE_END = re.compile(rb"</page>")
_SITEINFO = re.compile(rb"<siteinfo[\s>].*?</siteinfo\s*>", re.S)
_ROOT = re.compile(rb"<mediawiki\b[^>]*>")
_XML_LANG = re.compile(rb"""\sxml:lang\s*=\s*["']([^"']*)["']""")
_DECLARED_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_PAGE_ID = re.compile(rb"<id>\s*(\d+)\s*</id>")
_DBNAME = re.compile(r"^([a-z][a-z0-9_]*?)(wiki|wiktionary|wikibooks|wikinews|wikiquote|wikisource|wikiversity|"
                     r"wikivoyage)$")
_FILE_NAME = re.compile(r"^([a-z][a-z0-9_]*?)wiki-")
#: "#REDIRECT [[X]]" and its translations: a hash, one word (the local magic word), a link
_REDIRECT_TEXT = re.compile(r"^\s*#[^\W\d_]+\s*:?\s*\[\[")
_CODECS = {".bz2": "bz2", ".gz": "gzip", ".xz": "xz", ".zst": "zstd", ".zstd": "zstd"}


@dataclasses.dataclass(frozen=True)
class SiteInfo:
    """What a dump says about its wiki (``<siteinfo>``, the root's ``xml:lang``, the file name)."""

    path: str
    dbname: str = ""
    base: str = ""
    xml_lang: str = ""
    namespaces: dict[int, str] = dataclasses.field(default_factory=dict)

    @property
    def project(self) -> str:
        """``wikipedia``, or what else the dump is from (``wiktionary``, a host name)."""
        host = _host(self.base)
        if host:
            return "wikipedia" if host.endswith(".wikipedia.org") else host
        match = _DBNAME.match(self.dbname)
        return match.group(2) if match and match.group(2) != "wiki" else "wikipedia"

    @property
    def language(self) -> str:
        """The wiki's language code from ``<dbname>`` (``zh_min_nanwiki`` -> ``zh-min-nan``), else
        the ``<base>`` host, else ``xml:lang``, else the file name; "" when nothing tells."""
        match = _DBNAME.match(self.dbname)
        if match:
            return match.group(1).replace("_", "-")
        host = _host(self.base)
        if host.endswith(".wikipedia.org"):
            return host[: -len(".wikipedia.org")]
        if self.xml_lang:
            return self.xml_lang.lower()
        match = _FILE_NAME.match(os.path.basename(self.path))
        return match.group(1).replace("_", "-") if match else ""

    def namespace_of(self, title: str) -> int:
        """A title's namespace from its prefix (old dumps have no ``<ns>``)."""
        if ":" in title:
            prefix = title.split(":", 1)[0].strip().casefold()
            for key, name in self.namespaces.items():
                if name and name.casefold() == prefix:
                    return key
        return ARTICLE_NS


@dataclasses.dataclass(frozen=True)
class Page:
    """One ``<page>``: its last revision's wikitext as it is."""

    title: str
    ns: int
    page_id: int
    revision_id: int | None
    timestamp: str
    text: str
    redirect: bool  # the page has a <redirect> element
    location: str  # "<file>:<line of <page>>"

    @property
    def is_redirect(self) -> bool:
        """The ``<redirect>`` element, or (older dumps) a text starting ``#<magic word> [[...]]``
        in any language: ``#REDIRECT``, ``#перенаправлення``, ``#đổi``."""
        return self.redirect or bool(_REDIRECT_TEXT.match(self.text))


def _host(url: str) -> str:
    try:
        return (urllib.parse.urlsplit(url).hostname or "") if url else ""
    except ValueError:
        return ""


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _int(text: str | None) -> int | None:
    try:
        return int((text or "").strip())
    except ValueError:
        return None


# ---------------------------------------------------------------------------- bytes

def _encoding(head: bytes) -> tuple[str, int]:
    """(encoding, BOM length) from a file's first bytes."""
    for bom, name in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                      (codecs.BOM_UTF16_BE, "utf-16-be")):
        if head.startswith(bom):
            return name, len(bom)
    match = _DECLARED_ENCODING.match(head)
    return (codecs.lookup(match.group(1).decode()).name if match else "utf-8"), 0


class _Utf8Blocks:
    """The decompressed file as UTF-8 blocks, transcoded when the file declares another encoding."""

    def __init__(self, raw, encoding: str | None = None):
        # read1: what one read of the compressed file gives, so that what was decompressed before
        # a truncation is not lost with the exception
        self.read_raw = getattr(raw, "read1", raw.read)
        self.offset = 0  # decompressed bytes read
        self.decoder = None
        self.first = encoding is None  # a piece of a dump is in the encoding its head declares
        if encoding not in (None, "utf-8"):
            self.decoder = codecs.getincrementaldecoder(encoding)("strict")

    def read(self) -> bytes:
        """The next block; b"" at the end of the file."""
        while True:
            data = self.read_raw(BLOCK_SIZE)
            self.offset += len(data)
            if self.first:
                self.first = False
                encoding, bom = _encoding(data[:200])
                data = data[bom:]
                if encoding != "utf-8":
                    self.decoder = codecs.getincrementaldecoder(encoding)("strict")
            if self.decoder is None:
                return data
            text = self.decoder.decode(data, final=not data)
            if text or not data:  # a block may end inside a character
                return text.encode("utf-8")


class _Scanner:
    """The UTF-8 stream in a sliding buffer. ``pos`` is where the unread part starts (the current
    page's ``<page`` tag while a page is read); searches take offsets from ``pos`` and read more
    blocks as needed, dropping what lies before ``pos``, so returned indices hold until the next
    search."""

    def __init__(self, blocks: _Utf8Blocks):
        self.blocks = blocks
        self.buf = b""
        self.pos = 0
        self.line = 1  # line number at pos
        self.eof = False

    def more(self) -> bool:
        """Read another block; False at the end of the file."""
        data = b"" if self.eof else self.blocks.read()
        if not data:
            self.eof = True
            return False
        self.buf = self.buf[self.pos:] + data
        self.pos = 0
        return True

    def find(self, pattern: re.Pattern, offset: int = 0) -> int:
        """Index in ``buf`` of the next match at ``pos + offset`` or later; -1 at the end of the file."""
        while True:
            match = pattern.search(self.buf, self.pos + offset)
            if match:
                return match.start()
            offset = max(offset, len(self.buf) - self.pos - 16)  # a tag may straddle two blocks
            if not self.more():
                return -1

    def advance(self, index: int) -> None:
        self.line += self.buf.count(b"\n", self.pos, index)
        self.pos = index

    def line_at(self, index: int) -> int:
        return self.line + self.buf.count(b"\n", self.pos, index)


def iter_pages(path: str, split: Split | None = None) -> Iterator[SiteInfo | Page | BadInput]:
    """Stream a dump, or one piece of a multistream dump (:func:`multistream_splits`): its
    :class:`SiteInfo` first (before any page), then a :class:`Page` or a :class:`BadInput` per
    ``<page>``, and BadInput for what goes wrong with the file itself."""
    if split is not None and isinstance(split.info, Streams):
        yield from _iter_streams(path, split)
        return
    with fileio.open_decompressed(path) as raw:
        yield from _read(path, path, raw)


def _read(path: str, where: str, raw, head: bytes | None = None, header: bool = True):
    """The pages of decompressed XML (``raw``); locations are ``<where>:<line>``. ``head``: the
    dump's head when ``raw`` is a later bz2 stream of a multistream dump; ``header=False``: its
    SiteInfo is not yielded again."""
    codec = _CODECS.get(os.path.splitext(path.lower())[1], "")
    blocks = _Utf8Blocks(raw, _encoding(head[:200])[0] if head is not None else None)
    reader = _DumpReader(path, _Scanner(blocks), head, where, header)
    try:
        yield from reader.read()
    except EOFError as exc:
        yield BadInput(f"truncated_{codec or 'stream'}", reader.location(),
                       f"{exc} after {blocks.offset} decompressed bytes; the page at this line is lost")
    except (OSError, zlib.error, lzma.LZMAError) as exc:
        yield BadInput(f"corrupt_{codec or 'stream'}", reader.location(),
                       f"{type(exc).__name__}: {exc} after {blocks.offset} decompressed bytes")
    except (UnicodeDecodeError, LookupError) as exc:  # bytes not in the encoding, or an unknown one
        yield BadInput("invalid_encoding", reader.location(),
                       f"{exc} after {blocks.offset} decompressed bytes; the rest of the file is not read")


# ---------------------------------------------------------------------------- multistream dumps

class Streams(NamedTuple):
    """What a piece of a multistream dump carries (``Split.info``): the dump's head (its first
    bz2 stream, decompressed) and the offsets of the streams the piece holds."""

    head: bytes
    offsets: tuple[int, ...]


class _Range(io.RawIOBase):
    """``length`` bytes of a file from where it stands (None: to its end): one bz2 stream."""

    def __init__(self, raw, length: int | None):
        self.raw, self.left = raw, length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        want = len(buffer) if self.left is None else min(len(buffer), self.left)
        data = self.raw.read(want) if want else b""
        buffer[:len(data)] = data
        if self.left is not None:
            self.left -= len(data)
        return len(data)


def _iter_streams(path: str, split: Split) -> Iterator[SiteInfo | Page | BadInput]:
    """A piece of a multistream dump, stream by stream. A page's location is
    ``<file>@<offset of its bz2 stream>:<line in that stream>``, the address the dump's index
    uses: the same whichever worker reads which piece, found without decompressing what comes
    before it; and a damaged stream loses only its own pages."""
    streams = split.info
    ends = [*streams.offsets[1:], split.end]
    with fileio.open_raw(path) as raw:
        for i, (start, end) in enumerate(zip(streams.offsets, ends)):
            raw.seek(start)
            with bz2.BZ2File(io.BufferedReader(_Range(raw, None if end is None else end - start))) as stream:
                yield from _read(path, f"{path}@{start}", stream, streams.head if start > 0 else None, header=i == 0)


def multistream_index(path: str) -> str | None:
    """The ``-multistream-index`` file that goes with a multistream dump (``...-multistream.xml.bz2``
    -> ``...-multistream-index.txt.bz2``; ``...-multistream1.xml-p1p41242.bz2`` ->
    ``...-multistream-index1.txt-p1p41242.bz2``), or None for another file name."""
    directory, _, name = path.rpartition("/")
    at = name.find("multistream")
    if at < 0 or not name.lower().endswith(".bz2") or ".xml" not in name[at:]:
        return None
    at += len("multistream")
    index = name[:at] + "-index" + name[at:].replace(".xml", ".txt", 1)
    return f"{directory}/{index}" if directory else index


def stream_offsets(index: str) -> list[int]:
    """The byte offsets of the bz2 streams that hold pages, from a multistream index
    (``offset:page id:title`` per page, one offset per stream of pages)."""
    offsets, previous = [], None
    with fileio.open_decompressed(index) as f:
        for line in f:
            head = line.split(b":", 1)[0]
            if head != previous and line.strip():
                offsets.append(int(head))
                previous = head
    if any(b <= a for a, b in zip(offsets, offsets[1:])):
        raise ValueError(f"{index}: stream offsets are not increasing")
    return offsets


def multistream_splits(path: str, size: int | None, split_bytes: int) -> list[Split]:
    """Pieces of a multistream dump that has its index beside it: runs of whole bz2 streams of
    about :func:`~llamacorpus.sources.lines.piece_bytes` each (one run of all of them when
    ``split_bytes`` is 0), the first from byte 0 (it holds the ``<siteinfo>`` stream), each
    carrying :class:`Streams` (the dump's head and its streams' offsets) in ``info``. One whole
    piece for any other file. Raises ValueError for an index that does not fit the dump."""
    index = multistream_index(path)
    if size is None or index is None or not fileio.exists(index):
        return [whole_file(path, size)]
    offsets = stream_offsets(index)
    if not offsets or offsets[0] <= 0 or offsets[-1] >= size:
        raise ValueError(f"{index}: stream offsets {offsets[:1]}..{offsets[-1:]} do not fit {path} ({size} bytes)")
    if offsets[0] > MAX_HEAD_BYTES:
        raise ValueError(f"{path}: a first stream of {offsets[0]} bytes is no <siteinfo> stream")
    step = piece_bytes(size, split_bytes)
    cuts = [0]
    for offset in offsets[1:]:
        if offset - cuts[-1] >= step:
            cuts.append(offset)
    with fileio.open_raw(path) as raw:
        for cut in [offsets[0], *cuts[1:]]:
            raw.seek(cut)
            if raw.read(3) != b"BZh":
                raise ValueError(f"{index}: offset {cut} is not the start of a bz2 stream in {path}")
        raw.seek(0)
        head = bz2.decompress(raw.read(offsets[0]))
    if not _SITEINFO.search(head):
        raise ValueError(f"{path}: the first bz2 stream holds no <siteinfo>")
    streams = [0, *offsets]
    ends = [*cuts[1:], None]
    return [Split(path, start=a, end=b, index=i, count=len(cuts), size=(b if b is not None else size) - a,
                  info=Streams(head, tuple(o for o in streams if a <= o and (b is None or o < b))))
            for i, (a, b) in enumerate(zip(cuts, ends))]


def multistream_site(path: str) -> SiteInfo | None:
    """The :class:`SiteInfo` of a multistream dump that has its index beside it, from its first
    bz2 stream alone (at most :data:`MAX_HEAD_BYTES` of it), without reading the index: a real
    one is hundreds of MB decompressed. None for any other file, or a first stream without one."""
    index = multistream_index(path)
    if index is None or not fileio.exists(index):
        return None
    decompressor, out, read = bz2.BZ2Decompressor(), [], 0
    with fileio.open_raw(path) as raw:
        while not decompressor.eof and read < MAX_HEAD_BYTES:
            chunk = raw.read(1 << 16)
            if not chunk:
                break
            read += len(chunk)
            out.append(decompressor.decompress(chunk))
    head = b"".join(out)
    return site_info(path, head) if _SITEINFO.search(head) else None


def site_info(path: str, head: bytes) -> SiteInfo:
    """The :class:`SiteInfo` in a dump's head (what precedes its first page)."""
    return next(i for i in _DumpReader(path, None)._header(head) if isinstance(i, SiteInfo))


# ---------------------------------------------------------------------------- XML

class _DumpReader:
    def __init__(self, path: str, scanner: _Scanner | None, head: bytes | None = None, where: str = "",
                 header: bool = True):
        self.path, self.scan, self.head = path, scanner, head
        self.where = where or path  # what locations start with: the file, or ``<file>@<stream offset>``
        self.header = header  # yield the SiteInfo (and what is wrong with the head)
        self.parser = etree.XMLParser(huge_tree=True, resolve_entities=False, no_network=True, recover=False)
        self.site: SiteInfo | None = None
        self.current_line = 1  # the page being read, for errors of the stream

    def location(self, line: int | None = None) -> str:
        return f"{self.where}:{line if line is not None else self.current_line}"

    def read(self) -> Iterator[SiteInfo | Page | BadInput]:
        scan = self.scan
        following = scan.find(_PAGE_START)
        before = scan.buf[scan.pos:following if following >= 0 else len(scan.buf)]
        head = self._header(before if self.head is None else self.head)
        if self.header:
            yield from head
        else:
            collections.deque(head, maxlen=0)  # sets self.site; the piece's first stream yielded it
        if self.head is not None:  # a later stream of a multistream dump: its head came from the first
            yield from self._stray(before, scan.pos)
        while following >= 0:
            scan.advance(following)
            self.current_line = scan.line
            end = scan.find(_PAGE_END, 5)
            if end < 0:
                yield BadInput("truncated_xml", self.location(), "the file ends inside this <page>")
                return
            inner = _PAGE_START.search(scan.buf, scan.pos + 5, end)
            if inner:  # a <page> never closed before the next one
                yield BadInput("malformed_xml", self.location(),
                               f"<page> not closed before the next <page> at line {scan.line_at(inner.start())}",
                               self._doc_id(_PAGE_ID.search(scan.buf, scan.pos, inner.start())))
                following = inner.start()
                continue
            end += len(b"</page>")
            yield self._page(scan.buf[scan.pos:end])
            scan.advance(end)
            following = scan.find(_PAGE_START)
            yield from self._stray(scan.buf[scan.pos:following if following >= 0 else len(scan.buf)], scan.pos)

    def _stray(self, gap: bytes, at: int) -> Iterator[BadInput]:
        """What stands between two pages (``gap``, from ``at`` in the buffer): nothing but space."""
        stray = gap.strip()
        if stray and stray != b"</mediawiki>":
            where = self.scan.line_at(at + len(gap) - len(gap.lstrip()))
            yield BadInput("malformed_xml", self.location(where), f"content between pages: {stray[:200]!r}")

    def _header(self, head: bytes) -> Iterator[SiteInfo | BadInput]:
        root = _ROOT.search(head)
        xml_lang = ""
        if root:
            match = _XML_LANG.search(root.group(0))
            xml_lang = match.group(1).decode("utf-8", "replace") if match else ""
        siteinfo = _SITEINFO.search(head)
        namespaces: dict[int, str] = {}
        dbname = base = ""
        if siteinfo:
            try:
                elem = etree.fromstring(siteinfo.group(0), self.parser)
            except etree.XMLSyntaxError as exc:
                yield BadInput("malformed_xml", self.location(1), f"<siteinfo>: {exc}")
            else:
                for child in elem.iter():
                    name = _local(child.tag)
                    if name == "dbname":
                        dbname = (child.text or "").strip()
                    elif name == "base":
                        base = (child.text or "").strip()
                    elif name == "namespace" and _int(child.get("key")) is not None:
                        namespaces[_int(child.get("key"))] = (child.text or "").strip()
        elif not root:
            yield BadInput("malformed_xml", self.location(1), "no <mediawiki> root element in the file's head")
        self.site = SiteInfo(self.path, dbname, base, xml_lang, namespaces)
        yield self.site

    def _doc_id(self, match) -> str:
        if match is None or self.site is None:
            return ""
        return f"wikipedia/{self.site.language}/{int(match.group(1))}"

    def _page(self, chunk: bytes) -> Page | BadInput:
        try:
            elem = etree.fromstring(chunk, self.parser)
        except etree.XMLSyntaxError as exc:
            line = self.current_line + max(exc.lineno - 1, 0) if exc.lineno else self.current_line
            return BadInput("malformed_xml", self.location(),
                            f"page not used: line {line}: {exc.msg}", self._doc_id(_PAGE_ID.search(chunk)))
        fields = _fields(elem)
        page_id, title = _int(fields.get("id")), fields.get("title")
        if page_id is None or not title:
            return BadInput("malformed_page", self.location(),
                            f"<page> without a numeric <id> or a <title> (id={fields.get('id')!r}, title={title!r})")
        ns = _int(fields.get("ns"))
        return Page(title=title, ns=ns if ns is not None else self.site.namespace_of(title), page_id=page_id,
                    revision_id=_int(fields.get("revision_id")), timestamp=fields.get("timestamp", ""),
                    text=fields.get("text", ""), redirect="redirect" in fields, location=self.location())


def _fields(elem) -> dict[str, str]:
    """title, ns, id, redirect of a page; id, timestamp, text of its last revision."""
    fields: dict[str, str] = {}
    for child in elem:
        name = _local(child.tag)
        if name in ("title", "ns", "id"):
            fields[name] = (child.text or "").strip()
        elif name == "redirect":
            fields["redirect"] = child.get("title", "")
        elif name == "revision":
            for part in child:
                sub = _local(part.tag)
                if sub == "id":
                    fields["revision_id"] = (part.text or "").strip()
                elif sub == "timestamp":
                    fields["timestamp"] = (part.text or "").strip()
                elif sub == "text":
                    fields["text"] = part.text or ""
    return fields
