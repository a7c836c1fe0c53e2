"""Documents on disk: the Parquet form of the document schema (:mod:`llamacorpus.document`) and
reading it back on one machine.

Columns ``id, text, source`` (strings) and ``meta``, a struct of the source's typed fields: each
source declares them (``Source.meta_fields``, ``{name: type}``, the types of :data:`ARROW_TYPES`)
and :func:`schema` builds the source's Arrow schema from that declaration, so a reader filters
on ``row["meta"]["language_score"]`` without parsing anything. ``meta.extra`` (a JSON string, or
null) holds what the declaration does not type: the rule of :func:`to_row`, for every source:

* a declared field whose value has its type goes to its column (an ``int`` also fits ``float``);
  a declared field that is ``None`` or absent is null there (for a typed column they are one
  thing: "no value");
* anything else goes to ``extra`` under its own name: an undeclared key (with its value, ``None``
  included), a value of another type than declared (``"score": "12"`` where ``int`` is declared;
  a bool is not an int), an int beyond int64, a string with a lone surrogate (``extra`` is then
  ASCII-escaped JSON, which reads back to the same string). Nothing is lost and nothing raises.

:func:`from_row` reverses it: the non-null typed fields, then ``extra``'s keys, give the meta dict
the pipeline had, less its declared fields that were ``None`` (``1`` declared ``float`` reads back
as ``1.0``). Files written when ``meta`` was one JSON string read back too. Each source has its own schema (its own ``meta`` struct); all
sources share ``id``, ``text`` and ``source``.
"""
from __future__ import annotations

import json
from typing import Any, Iterator, Mapping

import pyarrow as pa
import pyarrow.parquet as pq

from llamacorpus import fileio
from llamacorpus.document import meta_from_json, to_json
from llamacorpus.layout import Layout
from llamacorpus.text import has_surrogates

PART_GLOB = "part-*.parquet"
EXTRA = "extra"
#: the Python types a source may declare for a meta field, and their Arrow types
ARROW_TYPES: dict[Any, pa.DataType] = {
    str: pa.string(), int: pa.int64(), float: pa.float64(), bool: pa.bool_(),
    list[str]: pa.list_(pa.string()), list[int]: pa.list_(pa.int64()), list[float]: pa.list_(pa.float64()),
}
_INT64 = (-(2**63), 2**63 - 1)
MetaFields = Mapping[str, Any]


def schema(meta_fields: MetaFields) -> pa.Schema:
    """The Parquet schema of one source's documents: its declared meta fields, then ``extra``."""
    if EXTRA in meta_fields:
        raise ValueError(f"meta field name {EXTRA!r} is reserved for the undeclared fields")
    unknown = {k: t for k, t in meta_fields.items() if t not in ARROW_TYPES}
    if unknown:
        raise TypeError(f"meta fields of undeclarable types {unknown}: use one of {list(ARROW_TYPES)}")
    meta = pa.struct([*(pa.field(k, ARROW_TYPES[t]) for k, t in meta_fields.items()), pa.field(EXTRA, pa.string())])
    return pa.schema([("id", pa.string()), ("text", pa.string()), ("source", pa.string()), ("meta", meta)])


def _scalar_fits(value: Any, kind: type) -> Any:
    """``value`` as ``kind`` when it is one (int widened to float), else raise ValueError."""
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and _INT64[0] <= value <= _INT64[1]
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:  # str
        ok = isinstance(value, str) and not has_surrogates(value)
    if not ok:
        raise ValueError
    return value


def fit(value: Any, kind: Any) -> Any:
    """``value`` as the declared ``kind`` (a type of :data:`ARROW_TYPES`); ValueError when it is not one."""
    item = getattr(kind, "__args__", None)
    if item:
        if not isinstance(value, (list, tuple)):
            raise ValueError
        return [_scalar_fits(v, item[0]) for v in value]
    return _scalar_fits(value, kind)


def _extra_json(extra: dict) -> str:
    text = to_json(extra)
    return json.dumps(extra, ensure_ascii=True, sort_keys=True, default=str) if has_surrogates(text) else text


def split_meta(meta: dict, meta_fields: MetaFields) -> dict:
    """A document's meta as the ``meta`` struct: typed fields, the rest JSON in ``extra``."""
    struct: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in meta.items():
        kind = meta_fields.get(key)
        if kind is None:
            extra[key] = value
            continue
        if value is None:
            continue
        try:
            struct[key] = fit(value, kind)
        except ValueError:
            extra[key] = value
    struct[EXTRA] = _extra_json(extra) if extra else None
    return struct


def join_meta(meta: Any) -> dict:
    """The ``meta`` struct read back (or an older file's JSON string) as the meta dict."""
    if meta is None:
        return {}
    if isinstance(meta, str):
        return meta_from_json(meta)
    out = {k: v for k, v in meta.items() if k != EXTRA and v is not None}
    if meta.get(EXTRA):
        out.update(json.loads(meta[EXTRA]))
    return out


def to_row(doc: dict, meta_fields: MetaFields) -> dict:
    return {"id": doc["id"], "text": doc["text"], "source": doc["source"], "meta": split_meta(doc["meta"], meta_fields)}


def from_row(row: dict) -> dict:
    return {"id": row["id"], "text": row["text"], "source": row["source"], "meta": join_meta(row["meta"])}


def read_documents(output_or_dir: str, source: str | None = None) -> Iterator[dict]:
    """Stream the documents of ``<output>/documents/<source>`` (or of a directory of part files)."""
    directory = Layout(output_or_dir).documents(source) if source else output_or_dir
    for path in fileio.match_paths(f"{directory.rstrip('/')}/{PART_GLOB}"):
        with fileio.open_raw(path) as f:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=1024):
                for row in batch.to_pylist():
                    yield from_row(row)
