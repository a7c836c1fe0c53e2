"""Writing and reading what a run produces: documents (Parquet), RedPajama JSONL.zst, rejected
samples, dead letters and the stage markers that let a rerun skip finished sources.

Documents are Parquet (zstd) with four string columns ``id, text, source, meta``; ``meta`` is a
JSON string, so every source shares one schema and ``datasets.load_dataset("parquet", ...)``
loads any mix of them. Beam's file sinks write under a temporary name and rename on success;
the small files written here go through :func:`llamacorpus.fileio.atomic_write`.
"""
from __future__ import annotations

import glob
import json
import os
from typing import Iterator

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from llamacorpus import fileio
from llamacorpus.document import meta_from_json, to_json

PARQUET_SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string()), ("source", pa.string()),
                            ("meta", pa.string())])
SHARD_TEMPLATE = "-SSSSS-of-NNNNN"
SUCCESS = "_SUCCESS"
REJECTED_PER_REASON = 20


def documents_dir(output: str, source: str) -> str:
    return f"{output.rstrip('/')}/documents/{source}"


def to_row(doc: dict) -> dict:
    return {"id": doc["id"], "text": doc["text"], "source": doc["source"], "meta": to_json(doc["meta"])}


def from_row(row: dict) -> dict:
    return {"id": row["id"], "text": row["text"], "source": row["source"], "meta": meta_from_json(row["meta"])}


class WriteDocuments(beam.PTransform):
    """Documents -> ``<output>/documents/<source>/part-XXXXX-of-YYYYY.parquet``."""

    def __init__(self, output: str, source: str, num_shards: int = 0):
        super().__init__()
        self.prefix = f"{documents_dir(output, source)}/part"
        self.num_shards = num_shards

    def expand(self, docs):
        return (docs
                | "ToRow" >> beam.Map(to_row)
                | "Parquet" >> beam.io.WriteToParquet(
                    self.prefix, PARQUET_SCHEMA, codec="zstd", file_name_suffix=".parquet",
                    shard_name_template=SHARD_TEMPLATE, num_shards=self.num_shards))


class ReadDocuments(beam.PTransform):
    """Documents written by :class:`WriteDocuments` (a finished source reused by a later run)."""

    def __init__(self, output: str, source: str):
        super().__init__()
        self.pattern = f"{documents_dir(output, source)}/part-*.parquet"

    def expand(self, pbegin):
        return pbegin | "Parquet" >> beam.io.ReadFromParquet(self.pattern) | "FromRow" >> beam.Map(from_row)


def read_documents(output_or_dir: str, source: str | None = None) -> Iterator[dict]:
    """Stream documents from Parquet files on one machine (commands, tests)."""
    directory = documents_dir(output_or_dir, source) if source else output_or_dir
    for path in sorted(glob.glob(os.path.join(directory, "part-*.parquet"))):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                yield from_row(row)


class ExportJsonl(beam.PTransform):
    """Documents -> ``<output>/jsonl/<source>/part-*.jsonl.zst`` as RedPajama's ``{"text", "meta"}``
    (meta also carries ``id`` and ``source``)."""

    def __init__(self, output: str, source: str):
        super().__init__()
        self.prefix = f"{output.rstrip('/')}/jsonl/{source}/part"

    def expand(self, docs):
        return (docs
                | "ToRedPajama" >> beam.Map(redpajama_line)
                | "Write" >> beam.io.WriteToText(self.prefix, file_name_suffix=".jsonl.zst",
                                                 shard_name_template=SHARD_TEMPLATE,
                                                 compression_type=CompressionTypes.ZSTD))


def redpajama_line(doc: dict) -> str:
    return to_json({"text": doc["text"], "meta": {**doc["meta"], "id": doc["id"], "source": doc["source"]}})


class WriteRejected(beam.PTransform):
    """A deterministic sample (lowest id hashes) of dropped documents per reason ->
    ``<output>/rejected/<source>/<reason>.jsonl``."""

    def __init__(self, output: str, per_reason: int = REJECTED_PER_REASON):
        super().__init__()
        self.output, self.per_reason = output.rstrip("/"), per_reason

    def expand(self, rejected):
        return (rejected
                | "Sample" >> beam.combiners.Top.PerKey(self.per_reason, key=lambda v: -v[0])
                | "Write" >> beam.Map(self._write))

    def _write(self, element):
        (source, reason), samples = element
        lines = [to_json(record) for _, record in sorted(samples, key=lambda v: v[0])]
        fileio.atomic_write(f"{self.output}/rejected/{source}/{reason}.jsonl", "\n".join(lines) + "\n")
        return source, reason, len(lines)


class WriteErrors(beam.PTransform):
    """Dead letters (file, position, message) -> ``<output>/errors/<source>/errors-*.jsonl``."""

    def __init__(self, output: str, source: str):
        super().__init__()
        self.prefix = f"{output.rstrip('/')}/errors/{source}/errors"

    def expand(self, errors):
        return (errors
                | "Json" >> beam.Map(to_json)
                | "Write" >> beam.io.WriteToText(self.prefix, file_name_suffix=".jsonl",
                                                 shard_name_template=SHARD_TEMPLATE))


def read_jsonl_dir(directory: str) -> list[dict]:
    """All JSON lines of the ``*.jsonl`` files in ``directory`` (errors/, rejected/)."""
    records = []
    for path in sorted(glob.glob(os.path.join(directory, "*.jsonl"))):
        with open(path, encoding="utf-8") as f:
            records.extend(json.loads(line) for line in f if line.strip())
    return records


# ---------------------------------------------------------------------------- stage markers

def marker_path(output: str, source: str) -> str:
    return f"{documents_dir(output, source)}/{SUCCESS}"


def read_marker(output: str, source: str) -> dict | None:
    path = marker_path(output, source)
    if not fileio.exists(path):
        return None
    try:
        return json.loads(fileio.read_bytes(path))
    except (ValueError, OSError):
        return None


def write_marker(output: str, source: str, fingerprint: str, extra: dict | None = None) -> None:
    fileio.atomic_write(marker_path(output, source),
                        json.dumps({"fingerprint": fingerprint, **(extra or {})}, sort_keys=True, indent=1))


def clear_source_outputs(output: str, source: str) -> None:
    """Remove a source's earlier documents, rejected samples and errors before it is rebuilt."""
    root = output.rstrip("/")
    for directory in (documents_dir(output, source), f"{root}/rejected/{source}", f"{root}/errors/{source}",
                      f"{root}/jsonl/{source}"):
        if fileio.has_scheme(directory):
            matches = FileSystems.match([f"{directory}/*"])[0].metadata_list
            if matches:
                FileSystems.delete([m.path for m in matches])
        elif os.path.isdir(directory):
            for name in os.listdir(directory):
                path = os.path.join(directory, name)
                if os.path.isfile(path):
                    os.remove(path)
