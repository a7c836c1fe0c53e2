"""Books (4.5% of LLaMA): Project Gutenberg plain texts and Books3 / PG-19 style JSONL, with
book-level near-duplicate removal ("removing books with more than 90% content overlap").

Readers, chosen by file name:

* ``*.txt`` (optionally ``.gz``/``.bz2``/``.xz``/``.zst``): one Gutenberg book per file, decoded by
  :func:`llamacorpus.text.decode` (meta ``encoding``): UTF-8 (a BOM dropped), else the charset its
  header declares (``Character set encoding: ISO-8859-1``), else the one detected; a declared
  charset the bytes contradict is re-detected and counted as ``read/charset_redetected``, and a
  file that is mostly not text is dropped as ``binary``. CRLF becomes LF. The
  Project Gutenberg header ends at its START marker (``*** START OF THIS/THE PROJECT GUTENBERG
  EBOOK ...``, or the old ``*END*THE SMALL PRINT! ...`` line of 1990s files) and the licence
  footer starts at the END marker (``*** END OF ...``, ``End of (the) Project Gutenberg ...``).
  Files without markers (already stripped) are kept whole. Id: ``books/gutenberg/<file stem>``
  (file names, not ebook numbers: two editions of ebook #11 are two books); meta ``title``,
  ``author``, ``gutenberg_id`` (from the header or file name), ``file``, ``pg_header``
  (``modern``/``old``/``none``), ``pg_footer``.
* ``*.jsonl`` / ``*.json`` (optionally compressed): one book per line, ``{"text", "meta": {...}}``
  as in The Pile's Books3 and RedPajama's PG-19 export (title fields at the top level are read
  too). Id: ``books/<collection>/<file stem>/<line>``, where collection is the record's
  ``meta.pile_set_name`` (``Books3`` -> ``books3``), ``pg19`` for records whose url is a Gutenberg
  one, else the recipe's ``jsonl_collection``. Ids are therefore unique across collections (in
  RedPajama, PG-19 and Books3 ids collided). A line that is not JSON, not UTF-8, or has no string
  ``text`` is an error with file and line; a truncated compressed stream too. An uncompressed
  file is read in byte-range pieces by many workers, with the same ids.

Steps: ``min_chars`` (when set), then :class:`~llamacorpus.steps.dedup.near.NearDedup`: word
5-gram MinHash LSH finds candidate pairs, each is measured exactly (``containment`` of the shorter
book in the longer; see that module for why), and a book is removed only when its own measured
overlap with a book that is kept is above 0.9 (strictly: "more than 90%"), books with the most
distinct 5-grams decided first, so no book goes through a chain of overlaps. The measured
overlaps, and for each removed book the kept book and the figure, go to
``<output>/stats/near_duplicates_books.json`` (and the removed book's meta).
"""
from __future__ import annotations

import dataclasses
import os
import re
from typing import Iterator

from llamacorpus import fileio, text
from llamacorpus.config import field
from llamacorpus.document import make_document
from llamacorpus.steps.filters.length import MinChars
from llamacorpus.steps.dedup.near import NearDedup, NearDedupConfig
from llamacorpus.sources import jsonl
from llamacorpus.sources.jsonl import json_records
from llamacorpus.sources.base import MAX_RECORD_BYTES, RunContext, Source, SourceConfig, Split
from llamacorpus.steps import BadInput, Drop, Note

NAME = "books"
COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zstd")
JSONL_SUFFIXES = (".jsonl", ".json")

START_MARKERS = (
    ("modern", re.compile(r"^\s*\*{3}\s*START OF (THIS|THE) PROJECT GUTENBERG", re.I)),
    ("old", re.compile(r"^\s*\*END\*?\s*THE SMALL PRINT", re.I)),
)
END_MARKER = re.compile(r"^\s*(\*{3}\s*END OF (THIS|THE) PROJECT GUTENBERG|End of (the |this )?Project Gutenberg)", re.I)
HEADER_FIELD = re.compile(r"^(Title|Author):\s*(.+?)\s*$", re.M)
EBOOK_NUMBER = re.compile(r"\[E(?:Book|Text) #(\d+)\]", re.I)
DECLARED_CHARSET = re.compile(rb"Character set encoding:\s*([A-Za-z0-9_.:-]+)", re.I)
FILE_NUMBER = re.compile(r"^(?:pg)?(\d+)(?:[-_.]|$)", re.I)
HEADER_SCAN_LINES = 600  # the START marker is searched in the first lines only


@dataclasses.dataclass
class BooksConfig(SourceConfig):
    #: collection name (id part) for JSONL records that do not name theirs
    jsonl_collection: str = "books3"
    #: book-level near-duplicate removal
    near_dedup: NearDedupConfig = field(default_factory=NearDedupConfig)

    def check(self):
        super().check()
        self.require(bool(re.fullmatch(r"[a-z0-9_-]+", self.jsonl_collection)), "jsonl_collection",
                     f"must be lower-case letters, digits, '-' or '_', got {self.jsonl_collection!r}")


# ---------------------------------------------------------------------------- Gutenberg text

def base_name(path: str) -> str:
    """File name without directories and without the compression suffix."""
    name = os.path.basename(path)
    for suffix in COMPRESSED:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def strip_gutenberg(text: str) -> tuple[str, dict]:
    """Remove the Project Gutenberg header and licence footer; return the body and what was found."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    start, header = 0, "none"
    for i, line in enumerate(lines[:HEADER_SCAN_LINES]):
        kind = next((k for k, rx in START_MARKERS if rx.search(line)), None)
        if kind:
            start, header = i + 1, kind
            break
    end = next((i for i in range(start, len(lines)) if END_MARKER.search(lines[i])), len(lines))
    front = "\n".join(lines[:start])
    info = {"pg_header": header, "pg_footer": end < len(lines)}
    for key, value in HEADER_FIELD.findall(front):
        info.setdefault(key.lower(), value)
    number = EBOOK_NUMBER.search(front)
    if number:
        info["gutenberg_id"] = int(number.group(1))
    return "\n".join(lines[start:end]).strip("\n").rstrip() + "\n", info


def read_gutenberg(path: str) -> Iterator:
    name = base_name(path)
    stem = name[: -len(".txt")] if name.lower().endswith(".txt") else name
    with fileio.open_decompressed(path) as f:
        raw = f.read()
    declared = DECLARED_CHARSET.search(raw[:8192])
    decoded = text.decode(raw, declared.group(1).decode("ascii") if declared else None)
    if decoded is None:
        yield Drop("binary", make_document(NAME, f"gutenberg/{stem}", "", collection="gutenberg", file=name), path)
        return
    if decoded.redetected:
        yield Note("charset_redetected")
    body, info = strip_gutenberg(decoded.text)
    if "gutenberg_id" not in info and FILE_NUMBER.match(stem):
        info["gutenberg_id"] = int(FILE_NUMBER.match(stem).group(1))
    doc = make_document(NAME, f"gutenberg/{stem}", body, collection="gutenberg", file=name,
                        encoding=decoded.encoding, **info)
    yield Drop("empty", doc, path) if not body.strip() else doc


# ---------------------------------------------------------------------------- JSONL (Books3, PG-19)

def collection_of(record: dict, meta: dict, default: str) -> str:
    pile = meta.get("pile_set_name")
    if isinstance(pile, str) and pile.strip():
        return re.sub(r"[^a-z0-9]+", "-", pile.strip().lower()).strip("-")
    url = meta.get("url") or record.get("url") or ""
    if isinstance(url, str) and "gutenberg.org" in url:
        return "pg19"
    return default


def book_document(record: dict, stem: str, number: int, location: str, default_collection: str):
    """One JSONL record -> a document, Drop (empty text) or BadInput (no text)."""
    if not isinstance(record.get("text"), str):
        return BadInput("missing_text", location, "record has no string field 'text'")
    meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
    collection = collection_of(record, meta, default_collection)
    fields = {k: v for k, v in {**{k: v for k, v in record.items() if k not in ("text", "meta")}, **meta}.items()
              if isinstance(k, str) and (isinstance(v, (str, int, float, bool)) or v is None)}
    fields.update(collection=collection, title=fields.get("title") or fields.get("short_book_title"),
                  file=f"{stem}:{number}")
    doc = make_document(NAME, f"{collection}/{stem}/{number}", record["text"], **fields)
    return doc if record["text"].strip() else Drop("empty", doc, location)


def read_jsonl(path: str, default_collection: str, max_bytes: int = MAX_RECORD_BYTES,
               split: Split | None = None) -> Iterator:
    stem = os.path.splitext(base_name(path))[0]
    for number, location, record in json_records(path, max_bytes, split):
        yield record if isinstance(record, BadInput) else book_document(record, stem, number, location,
                                                                         default_collection)


def is_jsonl(path: str) -> bool:
    return base_name(path).lower().endswith(JSONL_SUFFIXES)


class Books(Source):
    name = NAME
    Config = BooksConfig
    category_fields = ("collection",)
    meta_fields = {"collection": str, "file": str, "encoding": str, "title": str, "author": str, "gutenberg_id": int,
                   "pg_header": str, "pg_footer": bool, "url": str, "short_book_title": str, "publication_date": int}
    default_inputs = ("books/*.txt",)

    def read(self, cfg: BooksConfig, path: str) -> Iterator:
        return self.read_split(cfg, Split(path))

    def splits(self, cfg: BooksConfig, path: str, size: int | None, staging: str) -> list[Split]:
        return jsonl.splits(path, size, cfg.split_bytes) if is_jsonl(path) else super().splits(cfg, path, size, staging)

    def count_lines(self, cfg: BooksConfig, split: Split) -> int:
        return jsonl.count_lines(split)

    def read_split(self, cfg: BooksConfig, split: Split) -> Iterator:
        if is_jsonl(split.path):
            return read_jsonl(split.path, cfg.jsonl_collection, cfg.max_record_bytes, split)
        return read_gutenberg(split.path)

    def steps(self, cfg: BooksConfig, ctx: RunContext) -> list:
        steps: list = [MinChars(cfg.min_chars)] if cfg.min_chars else []
        if cfg.near_dedup.enabled:
            steps.append(NearDedup(NAME, cfg.near_dedup, ctx.output))
        return steps


SOURCE = Books()
