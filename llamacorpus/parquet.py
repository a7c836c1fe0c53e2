"""Documents on disk: the Parquet form of the document schema (:mod:`llamacorpus.document`) and
reading it back on one machine.

Four string columns ``id, text, source, meta``; ``meta`` is a JSON string, so every source shares
one schema and ``datasets.load_dataset("parquet", ...)`` loads any mix of them. The pipeline
writes these files (:mod:`llamacorpus.pipeline.io`); commands and tests read them here.
"""
from __future__ import annotations

from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from llamacorpus import fileio
from llamacorpus.document import meta_from_json, to_json
from llamacorpus.layout import Layout

SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string()), ("source", pa.string()), ("meta", pa.string())])
PART_GLOB = "part-*.parquet"


def to_row(doc: dict) -> dict:
    return {"id": doc["id"], "text": doc["text"], "source": doc["source"], "meta": to_json(doc["meta"])}


def from_row(row: dict) -> dict:
    return {"id": row["id"], "text": row["text"], "source": row["source"], "meta": meta_from_json(row["meta"])}


def read_documents(output_or_dir: str, source: str | None = None) -> Iterator[dict]:
    """Stream the documents of ``<output>/documents/<source>`` (or of a directory of part files)."""
    directory = Layout(output_or_dir).documents(source) if source else output_or_dir
    for path in fileio.match_paths(f"{directory.rstrip('/')}/{PART_GLOB}"):
        with fileio.open_raw(path) as f:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=1024):
                for row in batch.to_pylist():
                    yield from_row(row)
