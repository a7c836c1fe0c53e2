"""The one document record every source emits (docs/architecture.md, "Document schema").

A document is a plain dict, so Beam pickles it cheaply and tests build one by hand:

    id      str   "<source>/<native id>", stable and unique across sources
    text    str   the cleaned text
    source  str   one of SOURCES
    meta    dict  source-specific fields (url, title, language, perplexity, ...)

Steps never mutate a document: they call :func:`replace` or :func:`with_meta` and
return the new dict.
"""
from __future__ import annotations

import hashlib
import json
import pickle
import threading
from typing import Any

import zstandard

SOURCES = ("commoncrawl", "c4", "github", "wikipedia", "books", "arxiv", "stackexchange")
FIELDS = ("id", "text", "source", "meta")

Document = dict  # alias for annotations: {"id", "text", "source", "meta"}


def make_document(source: str, native_id: str, text: str, **meta: Any) -> Document:
    """Build a document; the id is ``"<source>/<native_id>"``."""
    if not native_id:
        raise ValueError(f"{source}: empty native id")
    return {"id": f"{source}/{native_id}", "text": text, "source": source, "meta": dict(meta)}


def replace(doc: Document, **fields: Any) -> Document:
    """A copy of ``doc`` with some top-level fields replaced (meta is copied, not shared)."""
    new = {"id": doc["id"], "text": doc["text"], "source": doc["source"], "meta": dict(doc["meta"])}
    new.update(fields)
    return new


def with_meta(doc: Document, **meta: Any) -> Document:
    """A copy of ``doc`` whose meta also holds ``meta``."""
    new = replace(doc)
    new["meta"].update(meta)
    return new


def validate(doc: Any) -> None:
    """Raise ValueError unless ``doc`` follows the schema."""
    if not isinstance(doc, dict) or set(doc) != set(FIELDS):
        raise ValueError(f"a document has exactly the fields {FIELDS}, got {sorted(doc) if isinstance(doc, dict) else type(doc)}")
    for field in ("id", "text", "source"):
        if not isinstance(doc[field], str):
            raise ValueError(f"document field {field!r} must be str, got {type(doc[field]).__name__}")
    if not isinstance(doc["meta"], dict):
        raise ValueError("document field 'meta' must be a dict")
    if doc["source"] not in SOURCES:
        raise ValueError(f"unknown source {doc['source']!r}")
    if not doc["id"].startswith(doc["source"] + "/"):
        raise ValueError(f"document id {doc['id']!r} must start with '{doc['source']}/'")


#: zstd level of :func:`pack`: level 1 halves a web page's text (8.5 KB to 3.9 KB on the x64 Common
#: Crawl corpus) at ~40 us to pack and ~30 us to unpack a page, a few percent of its cost in the chain
PACK_LEVEL = 1
_codecs = threading.local()  # zstd (de)compressors are not thread-safe; Beam runs bundles in threads


def _codec() -> tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]:
    if not hasattr(_codecs, "pair"):
        _codecs.pair = zstandard.ZstdCompressor(level=PACK_LEVEL), zstandard.ZstdDecompressor()
    return _codecs.pair


def pack(doc: Document) -> bytes:
    """``doc`` as zstd-compressed bytes, the form a global step puts through a shuffle: the bytes
    a GroupByKey moves (Dataflow Shuffle's volume; the local runner's memory, which holds a
    GroupByKey's whole input) are about half of the document's own coder. :func:`unpack` inverts it."""
    return _codec()[0].compress(pickle.dumps(doc, protocol=pickle.HIGHEST_PROTOCOL))


def unpack(blob: bytes) -> Document:
    """The document :func:`pack` made ``blob`` of."""
    return pickle.loads(_codec()[1].decompress(blob))


def stable_hash(*parts: Any) -> int:
    """A 64-bit hash that is the same on every machine and run (unlike ``hash()``).

    Used for every deterministic choice: dedup winners, sampling, splits.
    """
    h = hashlib.sha1("\x1f".join(str(p) for p in parts).encode("utf-8"))
    return int.from_bytes(h.digest()[:8], "big")


def unit_interval(*parts: Any) -> float:
    """A deterministic number in [0, 1) from ``parts`` (for sampling and splits)."""
    return stable_hash(*parts) / 2.0**64


def to_json(value: Any) -> str:
    """One JSON line as every output writes it (meta columns, rejected samples, dead letters):
    UTF-8 kept, keys sorted, anything else as its str()."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def meta_from_json(text: str) -> dict:
    return json.loads(text) if text else {}
