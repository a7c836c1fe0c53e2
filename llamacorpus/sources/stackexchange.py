"""Stack Exchange (2% of LLaMA): "We kept the data from the 28 largest websites, removed the HTML
tags from text and sorted the answers by score (from highest to lowest)."

Inputs: a site's ``Posts.xml`` (``coffee.stackexchange.com-Posts.xml``, or ``Posts.xml`` in a
folder named after the site; ``.gz``/``.bz2``/``.xz``/``.zst`` too) or the site's dump archive
as the Internet Archive ships it (``coffee.stackexchange.com.7z``, ``stackoverflow.com-Posts.7z``),
read with py7zr without extracting to disk. The site is the file name without ``-Posts``, the
archive or compression suffixes.

Reading streams the file: the dumps hold one ``<row .../>`` element per line (newlines inside a
post are ``&#xA;``), so each row is parsed alone with lxml, and one big Posts.xml is read by many
workers in byte-range pieces (:mod:`llamacorpus.sources.lines`); a compressed or archived one is
first decompressed once to a staging copy, which the pieces then share. A row longer than
``max_record_bytes`` is ``error:oversize_record``, skipped without being held. A row that is not well-formed XML, or
lacks an integer ``Id``/``PostTypeId``/``Score`` (or an answer its ``ParentId``), is an
``error:malformed_row`` at ``file:line`` and the next rows are read as usual (lxml's iterparse
stops at the first broken row, or with ``recover`` swallows the rows after it). Posts other than
questions and answers (tag wikis, moderator nominations...) are dropped as ``post_type=N``.

Steps:

1. ``top_sites`` (global, :mod:`llamacorpus.steps.filters.top_sites`): posts (questions and answers) are counted per site over all inputs;
   sites are ranked by that count (ties by name) and the ``top_sites`` largest kept (0 keeps
   all). Posts of other sites are dropped as ``not_top_sites``; per-site meta sites
   (``*.meta.stackexchange.com``, ``meta.*``) as ``meta_site`` unless ``include_meta_sites``.
2. ``html_to_text``: each post body, HTML to text (:mod:`llamacorpus.steps.clean.html_text`).
3. ``join_answers`` (global, :mod:`llamacorpus.steps.clean.threads`): posts are grouped by (site, question id) with a GroupByKey, so an
   answer may come before its question, in another bundle or another file. A question becomes one
   document; its answers are folded into it (counted as ``answer_merged``: their text is in the
   question's document), answers whose question is absent as ``orphan_answer``, a post seen twice
   (the same site given twice) as ``duplicate_post``.
4. ``min_chars`` when set.

Document layout (plain text)::

    Question: <title>

    <question body>

    Answer:
    <best answer body>

    Answer:
    <next answer body>

Answers are sorted by their score as a number, highest first (RedPajama compared the strings, so
"9" came before "10"); equal scores put the accepted answer first, then the older (lower id).

Document id ``stackexchange/<site>/<question id>``. Meta: ``site``, ``question_id``, ``url``
(``https://<site>/questions/<id>``), ``title``, ``score`` (the question's), ``answer_count``
(answers in the document), ``accepted_answer_id`` (None without one), ``tags``, ``timestamp``
(the question's CreationDate), ``answer_ids`` and ``answer_scores`` (in document order) and
``site_rank`` (1 = the largest site among the inputs).
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import queue
import re
import threading
from typing import IO, Iterator

from lxml import etree

from llamacorpus import fileio
from llamacorpus.config import field
from llamacorpus.document import Document, make_document
from llamacorpus.sources import lines
from llamacorpus.sources.base import RunContext, Source, SourceConfig, Split
from llamacorpus.steps import BadInput, Drop
from llamacorpus.steps.clean.budget import CleanerBudget
from llamacorpus.steps.clean.html_text import HtmlToText
from llamacorpus.steps.clean.threads import JoinAnswers
from llamacorpus.steps.filters.length import MinChars
from llamacorpus.steps.filters.top_sites import TopSites

QUESTION, ANSWER = 1, 2


@dataclasses.dataclass
class StackExchangeConfig(SourceConfig):
    #: keep the N sites with the most posts (questions + answers) among the inputs; 0 keeps all
    top_sites: int = 28
    #: rank and keep per-site meta sites (discussion about the site itself) too
    include_meta_sites: bool = False
    #: work the HTML cleaner may spend per post (error:cleaner_budget past it)
    cleaner_budget: CleanerBudget = field(default_factory=CleanerBudget)

    def check(self):
        super().check()
        self.require(self.top_sites >= 0, "top_sites", "must be >= 0")


# ---------------------------------------------------------------------------- reading rows

_COMPRESSION = (".gz", ".bz2", ".xz", ".zst", ".zstd")
_POSTS_SUFFIX = re.compile(r"[-_.]?posts$", re.IGNORECASE)


def site_name(path: str) -> str:
    """``.../coffee.stackexchange.com-Posts.xml`` -> ``coffee.stackexchange.com`` (also ``.7z``
    archives, compressed files, and ``<site>/Posts.xml``)."""
    parts = path.rstrip("/").split("/")
    name = parts[-1]
    for suffix in (*_COMPRESSION, ".xml", ".7z"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    name = _POSTS_SUFFIX.sub("", name)
    if not name and len(parts) > 1:  # <site>/Posts.xml
        return site_name(parts[-2])
    return name


def parse_tags(tags: str) -> list[str]:
    """``<a><b>`` (older dumps) or ``|a|b|`` (newer ones) -> ``["a", "b"]``."""
    return [t for t in re.split(r"[<>|]+", tags or "") if t]


def _int(attrs, key: str, default=None) -> int:
    value = attrs.get(key)
    if value is None:
        if default is None:
            raise ValueError(f"no {key}")
        return default
    return int(value)


def parse_row(line: bytes, site: str, location: str, parser) -> Document | Drop | BadInput | None:
    """One line of Posts.xml -> a post document, a Drop, a BadInput, or None (not a row)."""
    stripped = line.strip()
    if not stripped.startswith(b"<row"):
        return None
    try:
        attrs = etree.fromstring(stripped, parser).attrib
    except etree.XMLSyntaxError as exc:
        return BadInput("malformed_row", location, f"XMLSyntaxError: {exc}")
    try:
        post_id, post_type = _int(attrs, "Id"), _int(attrs, "PostTypeId")
        score = _int(attrs, "Score", 0)
        if post_type not in (QUESTION, ANSWER):
            return Drop(f"post_type={post_type}", location=location)
        question_id = post_id if post_type == QUESTION else _int(attrs, "ParentId")
        accepted = _int(attrs, "AcceptedAnswerId", 0) or None
    except ValueError as exc:
        return BadInput("malformed_row", location, f"missing or non-integer attribute: {exc}")
    meta = {"site": site, "post_id": post_id, "question_id": question_id, "score": score,
            "post_type": "question" if post_type == QUESTION else "answer", "location": location}
    if post_type == QUESTION:
        meta.update(title=attrs.get("Title", ""), tags=parse_tags(attrs.get("Tags", "")),
                    accepted_answer_id=accepted, timestamp=attrs.get("CreationDate", ""))
    return make_document("stackexchange", f"{site}/{post_id}", attrs.get("Body", ""), **meta)


def row_parser() -> etree.XMLParser:
    """A parser for one row: no DTD, no entity expansion, no network."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)


# ---------------------------------------------------------------------------- 7z archives, streamed

_DONE = object()
QUEUE_CHUNK = 1 << 20  # bytes per queued piece
QUEUE_PIECES = 8  # pieces in flight: memory is py7zr's decompression block (<= 128 MB) + 8 MB


class _Cancelled(Exception):
    pass


class _QueueWriter:
    """What py7zr writes the member into (a ``py7zr.io.Py7zIO``): chunks onto a bounded queue."""

    def __init__(self, chunks: queue.Queue, cancelled: threading.Event):
        self.chunks, self.cancelled, self._size = chunks, cancelled, 0

    def write(self, data) -> int:
        view = memoryview(data)
        for start in range(0, len(view), QUEUE_CHUNK):  # py7zr hands over blocks of up to 128 MB
            piece = bytes(view[start:start + QUEUE_CHUNK])
            while True:
                if self.cancelled.is_set():
                    raise _Cancelled()
                try:
                    self.chunks.put(piece, timeout=0.2)
                    break
                except queue.Full:
                    continue
        self._size += len(view)
        return len(view)

    def read(self, size=None) -> bytes:
        return b""

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def flush(self) -> None:
        pass

    def size(self) -> int:
        return self._size

    def close(self) -> None:
        pass


class _QueueReader(io.RawIOBase):
    """The consuming end: a readable stream over the queue's chunks."""

    def __init__(self, chunks: queue.Queue):
        self.chunks, self.pending, self.done = chunks, b"", False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.pending and not self.done:
            item = self.chunks.get()
            if item is _DONE:
                self.done = True
            elif isinstance(item, BaseException):
                raise item
            else:
                self.pending = item
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


class NoPostsInArchive(ValueError):
    """A .7z dump without a Posts.xml member."""


@contextlib.contextmanager
def seven_zip_member(path: str, member_suffix: str = "posts.xml") -> Iterator[IO[bytes]]:
    """A readable stream of the archive member named ``Posts.xml``, decompressed in a thread into a
    small queue: memory stays bounded (py7zr's block of at most 128 MB, plus the queue) whatever
    the member's size, and nothing is written to disk."""
    import py7zr
    from py7zr.io import WriterFactory

    chunks: queue.Queue = queue.Queue(maxsize=QUEUE_PIECES)
    cancelled = threading.Event()

    class Factory(WriterFactory):
        def create(self, filename):
            return _QueueWriter(chunks, cancelled)

    with fileio.open_raw(path) as raw, py7zr.SevenZipFile(raw, mode="r") as archive:
        targets = [n for n in archive.getnames() if n.lower().rsplit("/", 1)[-1] == member_suffix]
        if not targets:
            raise NoPostsInArchive(f"{path}: no Posts.xml in the archive")

        def produce():
            try:
                archive.extract(targets=targets[:1], factory=Factory())
            except _Cancelled:
                return
            except BaseException as exc:  # noqa: BLE001 - handed to the reading side
                chunks.put(exc)
            chunks.put(_DONE)

        thread = threading.Thread(target=produce, name="py7zr-posts", daemon=True)
        thread.start()
        try:
            yield io.BufferedReader(_QueueReader(chunks), buffer_size=1 << 20)
        finally:
            cancelled.set()
            while thread.is_alive():  # let a blocked writer see the cancellation
                try:
                    chunks.get(timeout=0.1)
                except queue.Empty:
                    pass
            thread.join()


def open_posts(path: str):
    """The decompressed Posts.xml of an input (a .7z archive, a compressed or a plain file)."""
    return seven_zip_member(path) if path.lower().endswith(".7z") else fileio.open_decompressed(path)


def post_lines(split: Split, max_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """``(line number, line or None when longer than max_bytes)`` of a piece of Posts.xml."""
    if not split.whole:
        yield from lines.range_lines(split, max_bytes)
        return
    with open_posts(split.path) as f:
        yield from enumerate(lines.read_lines(f, max_bytes), start=1)


# ---------------------------------------------------------------------------- the source

class StackExchange(Source):
    name = "stackexchange"
    Config = StackExchangeConfig
    category_fields = ("site",)
    meta_fields = {"site": str, "question_id": int, "url": str, "title": str, "score": int, "answer_count": int,
                   "accepted_answer_id": int, "tags": list[str], "timestamp": str, "answer_ids": list[int],
                   "answer_scores": list[int], "site_rank": int, "location": str, "html_flattened": int}
    default_inputs = ("stackexchange/*-Posts.xml",)

    def read(self, cfg: StackExchangeConfig, path: str) -> Iterator:
        return self.read_split(cfg, Split(path))

    def splits(self, cfg: StackExchangeConfig, path: str, size: int | None, staging: str) -> list[Split]:
        if size is None:
            return super().splits(cfg, path, size, staging)
        if lines.is_compressed(path):
            return lines.staged_line_splits(path, size, staging, cfg.split_bytes, open_posts)
        return lines.line_splits(path, size, cfg.split_bytes)

    def count_lines(self, cfg: StackExchangeConfig, split: Split) -> int:
        return lines.count_range(split)

    def read_split(self, cfg: StackExchangeConfig, split: Split) -> Iterator:
        site = site_name(split.path)
        parser = row_parser()
        try:
            for number, line in post_lines(split, cfg.max_record_bytes):
                location = f"{split.path}:{number}"
                if line is None:
                    yield BadInput("oversize_record", location,
                                   f"row longer than max_record_bytes ({cfg.max_record_bytes}); skipped")
                    continue
                item = parse_row(line, site, location, parser)
                if item is not None:
                    yield item
        except NoPostsInArchive as exc:
            yield BadInput("no_posts_xml", split.path, str(exc))

    def steps(self, cfg: StackExchangeConfig, ctx: RunContext) -> list:
        steps = [TopSites(self.name, cfg.top_sites, cfg.include_meta_sites), HtmlToText(cfg.cleaner_budget), JoinAnswers(self.name)]
        return steps + [MinChars(cfg.min_chars)] if cfg.min_chars else steps


SOURCE = StackExchange()
