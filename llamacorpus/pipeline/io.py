"""Writing and reading what a run produces with Beam: documents (Parquet), RedPajama JSONL.zst,
samples of kept and of rejected documents, dead letters, and the markers that let a rerun skip
finished sources.

The Parquet form of a document is :mod:`llamacorpus.parquet`: each source's ``meta`` struct comes
from its declaration (``Source.meta_fields``); every path is
:class:`llamacorpus.layout.Layout`'s. Beam's file sinks write under a temporary name and rename on
success; the small files written here go through :func:`llamacorpus.fileio.atomic_write`.
"""
from __future__ import annotations

import json

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes

from llamacorpus import fileio, parquet
from llamacorpus import sources as source_registry
from llamacorpus.document import stable_hash, to_json
from llamacorpus.layout import Layout

SHARD_TEMPLATE = "-SSSSS-of-NNNNN"
REJECTED_PER_REASON = 20
KEPT_SAMPLES = 20
SAMPLE_TEXT_CHARS = 2000  # text kept per kept-sample record, as for rejected ones


class WriteDocuments(beam.PTransform):
    """Documents -> ``<output>/documents/<source>/part-XXXXX-of-YYYYY.parquet``, ``meta`` typed by
    ``meta_fields`` (default: the source's declaration)."""

    def __init__(self, output: str, source: str, num_shards: int = 0, meta_fields: dict | None = None):
        super().__init__()
        self.prefix = f"{Layout(output).documents(source)}/part"
        self.num_shards = num_shards
        self.meta_fields = dict(source_registry.get(source).meta_fields if meta_fields is None else meta_fields)

    def expand(self, docs):
        return (docs
                | "ToRow" >> beam.Map(parquet.to_row, self.meta_fields)
                | "Parquet" >> beam.io.WriteToParquet(
                    self.prefix, parquet.schema(self.meta_fields), codec="zstd", file_name_suffix=".parquet",
                    shard_name_template=SHARD_TEMPLATE, num_shards=self.num_shards))


class ReadDocuments(beam.PTransform):
    """Documents written by :class:`WriteDocuments` (a finished source reused by a later run)."""

    def __init__(self, output: str, source: str):
        super().__init__()
        self.pattern = f"{Layout(output).documents(source)}/{parquet.PART_GLOB}"

    def expand(self, pbegin):
        return pbegin | "Parquet" >> beam.io.ReadFromParquet(self.pattern) | "FromRow" >> beam.Map(parquet.from_row)


class ExportJsonl(beam.PTransform):
    """Documents -> ``<output>/jsonl/<source>/part-*.jsonl.zst`` as RedPajama's ``{"text", "meta"}``
    (meta also carries ``id`` and ``source``)."""

    def __init__(self, output: str, source: str):
        super().__init__()
        self.prefix = f"{Layout(output).jsonl(source)}/part"

    def expand(self, docs):
        return (docs
                | "ToRedPajama" >> beam.Map(redpajama_line)
                | "Write" >> beam.io.WriteToText(self.prefix, file_name_suffix=".jsonl.zst",
                                                 shard_name_template=SHARD_TEMPLATE,
                                                 compression_type=CompressionTypes.ZSTD))


def redpajama_line(doc: dict) -> str:
    return to_json({"text": doc["text"], "meta": {**doc["meta"], "id": doc["id"], "source": doc["source"]}})


class WriteSamples(beam.PTransform):
    """``(key, (hash, record))`` -> the ``per_key`` records of lowest hash per key, as JSON lines at
    ``path_of(key)`` (a deterministic sample: the same documents on every run and runner)."""

    def __init__(self, path_of, per_key: int):
        super().__init__()
        self.path_of, self.per_key = path_of, per_key

    def expand(self, keyed):
        return (keyed
                | "Sample" >> beam.combiners.Top.PerKey(self.per_key, key=lambda v: -v[0])
                | "Write" >> beam.Map(self._write))

    def _write(self, element):
        key, samples = element
        lines = [to_json(record) for _, record in sorted(samples, key=lambda v: v[0])]
        fileio.atomic_write(self.path_of(key), "\n".join(lines) + "\n")
        return key, len(lines)


class WriteRejected(beam.PTransform):
    """A deterministic sample (lowest id hashes) of dropped documents per reason ->
    ``<output>/rejected/<source>/<reason>.jsonl``."""

    def __init__(self, output: str, per_reason: int = REJECTED_PER_REASON):
        super().__init__()
        self.layout, self.per_reason = Layout(output), per_reason

    def expand(self, rejected):
        return rejected | WriteSamples(lambda key: self.layout.rejected(*key), self.per_reason)


def kept_sample(doc: dict) -> tuple:
    """A kept document's sample record (text cut as rejected ones are), keyed by its id's hash."""
    text = doc["text"]
    record = {"id": doc["id"], "chars": len(text), "text": text[:SAMPLE_TEXT_CHARS], "meta": doc["meta"]}
    return doc["source"], (stable_hash(doc["id"]), record)


class WriteKeptSamples(beam.PTransform):
    """A deterministic sample (lowest id hashes) of a source's kept documents ->
    ``<output>/samples/<source>/kept.jsonl``, shown in the report beside the dropped ones."""

    def __init__(self, output: str, per_source: int = KEPT_SAMPLES):
        super().__init__()
        self.layout, self.per_source = Layout(output), per_source

    def expand(self, docs):
        return (docs | "Key" >> beam.Map(kept_sample)
                | WriteSamples(self.layout.kept_samples, self.per_source))


class WriteErrors(beam.PTransform):
    """Dead letters (file, position, message) -> ``<output>/errors/<source>/errors-*.jsonl``."""

    def __init__(self, output: str, source: str):
        super().__init__()
        self.prefix = f"{Layout(output).errors(source)}/errors"

    def expand(self, errors):
        return (errors
                | "Json" >> beam.Map(to_json)
                | "Write" >> beam.io.WriteToText(self.prefix, file_name_suffix=".jsonl",
                                                 shard_name_template=SHARD_TEMPLATE))


def read_jsonl_dir(directory: str) -> list[dict]:
    """All JSON lines of the ``*.jsonl`` files in ``directory`` (errors/, rejected/)."""
    records = []
    for path in fileio.match_paths(f"{directory.rstrip('/')}/*.jsonl"):
        records.extend(json.loads(line) for _, line in fileio.iter_lines(path) if line.strip())
    return records


# ---------------------------------------------------------------------------- finished-source markers

def read_marker(output: str, source: str) -> dict | None:
    try:
        return fileio.read_json(Layout(output).marker(source))
    except (ValueError, OSError):
        return None


def write_marker(output: str, source: str, fingerprint: str, extra: dict | None = None) -> None:
    fileio.write_json(Layout(output).marker(source), {"fingerprint": fingerprint, **(extra or {})})


def clear_source_outputs(output: str, source: str) -> None:
    """Remove a source's earlier documents, rejected samples and errors before it is rebuilt."""
    for directory in Layout(output).source_outputs(source):
        fileio.delete(fileio.match_paths(f"{directory}/*"))
