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


def lowest_hash_first(value: tuple) -> int:
    """The order of a sample: ``Top`` keeps the largest, so the lowest hashes win."""
    return -value[0]


def presampled(keyed: list, per_key: int, label: str) -> beam.PCollection:
    """Several ``(key, (hash, record))`` PCollections (every step's drops) -> one holding, per
    input, only the ``per_key`` records of lowest hash per key: what :class:`WriteSamples` keeps
    of their union is the same (the lowest of the union are among the lowest of each input). Each
    input is sampled in the stage that makes it, so the local runner never holds every record: a
    Flatten there is a buffer of all its inputs and a pass of its own."""
    top = beam.combiners.Top.PerKey
    return ([pc | f"{label}/{i}" >> top(per_key, key=lowest_hash_first) for i, pc in enumerate(keyed)]
            | f"{label}/flatten" >> beam.Flatten()
            | f"{label}/unpack" >> beam.FlatMap(lambda kv: [(kv[0], v) for v in kv[1]]))


class WriteSamples(beam.PTransform):
    """``(key, (hash, record))`` -> the ``per_key`` records of lowest hash per key, as JSON lines at
    ``path_of(key)`` (a deterministic sample: the same documents on every run and runner)."""

    def __init__(self, path_of, per_key: int):
        super().__init__()
        self.path_of, self.per_key = path_of, per_key

    def expand(self, keyed):
        return (keyed
                | "Sample" >> beam.combiners.Top.PerKey(self.per_key, key=lowest_hash_first)
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

#: how many of a failed source's errors its message quotes
FIRST_ERRORS = 5
#: the text that starts a failed source's message, however the runner wraps the exception
FAILED = "llamacorpus: source failed:"


class SourceFailed(RuntimeError):
    """A source with no readable input, or more errors than ``max_error_fraction`` allows."""


def read_marker(output: str, source: str) -> dict | None:
    try:
        return fileio.read_json(Layout(output).marker(source))
    except (ValueError, OSError):
        return None


def write_marker(output: str, source: str, fingerprint: str, extra: dict | None = None) -> None:
    fileio.write_json(Layout(output).marker(source), {"fingerprint": fingerprint, **(extra or {})})


def failure(source: str, records: int, errors: int, max_error_fraction: float, files: int,
            first_errors: list[dict]) -> str | None:
    """Why a source's output must not be marked finished, or None: no record read from any of
    its files, or errors (read and step errors) above ``max_error_fraction`` of the records read."""
    if records and errors / records <= max_error_fraction:
        return None
    why = (f"no record could be read from its {files} input file(s)" if not records else
           f"{errors} of its {records} records read are errors ({errors / records:.0%}, more than "
           f"max_error_fraction {max_error_fraction:g})")
    quoted = "; ".join(" ".join(f"{e.get('kind')} at {e.get('location')}: {e.get('message', '')[:200]}".split())
                       for e in first_errors[:FIRST_ERRORS])
    return f"{FAILED} {source}: {why}; no marker written. First errors: {quoted or '-'}"


def failure_messages(text: str) -> list[str]:
    """The failed-source messages inside a runner's error text (each once, in order)."""
    found = []
    for line in text.splitlines():
        if FAILED in line:
            message = line[line.index(FAILED) + len(FAILED):].split(" [while running")[0].strip()
            for tail in ("')", '")', "'", '"'):  # the closing quote of a repr around the message
                if message.endswith(tail) and message.count(tail[0]) % 2:
                    message = message[:-len(tail)]
                    break
            if message not in found:
                found.append(message)
    return found


class WriteMarker(beam.DoFn):
    """Writes a source's ``_SUCCESS`` marker inside the graph, as soon as everything the source
    writes is final: its side inputs are the counts the decision needs and what each of the
    source's sinks emits when done. A source that :func:`failure` refuses raises
    :class:`SourceFailed`, which fails the run; no marker is written for it."""

    def __init__(self, output: str, source: str, record: dict, max_error_fraction: float, files: int):
        self.output, self.source, self.record = output, source, record
        self.max_error_fraction, self.files = max_error_fraction, files

    def process(self, _, records: int, errors: int, documents: int, first_errors: list, *done):
        problem = failure(self.source, records, errors, self.max_error_fraction, self.files,
                          sorted(first_errors, key=error_order))
        if problem:
            raise SourceFailed(problem)
        write_marker(self.output, self.source, self.record["fingerprint"],
                     {**{k: v for k, v in self.record.items() if k != "fingerprint"},
                      "documents": documents, "records_read": records, "errors": errors})
        yield self.source


def error_order(record: dict) -> tuple:
    return str(record.get("location", "")), str(record.get("kind", "")), str(record.get("message", ""))


class MarkFinished(beam.PTransform):
    """``<output>/documents/<source>/_SUCCESS`` once ``done`` (what the source's sinks emit when
    finished) is complete; counts records read (the read step's documents, drops and errors),
    errors of every step and documents written, and fails the run for a source :func:`failure`
    refuses."""

    def __init__(self, output: str, source: str, record: dict, max_error_fraction: float, files: int,
                 read_outputs: list, dead_letters, documents, done: list):
        super().__init__()
        self.args = output, source, record, max_error_fraction, files
        self.read_outputs, self.dead_letters, self.documents, self.done = read_outputs, dead_letters, documents, done

    def expand(self, pbegin):
        count = beam.combiners.Count.Globally
        # each output counted where it is made, then the counts summed: a Flatten of the outputs
        # themselves would be materialised whole by the local runner (its Flatten is always a
        # buffer and a pass of its own: 7.5 s and every page read held, on one WARC's worth)
        records = ([out | f"Read/Count/{i}" >> count() for i, out in enumerate(self.read_outputs)]
                   | "Read/Counts" >> beam.Flatten() | "Read/Count" >> beam.CombineGlobally(sum))
        errors = self.dead_letters | "Errors/Count" >> count()
        first = self.dead_letters | "Errors/First" >> beam.combiners.Top.Of(
            FIRST_ERRORS, key=error_order, reverse=True)
        documents = self.documents | "Documents/Count" >> count()
        sides = [beam.pvalue.AsSingleton(c) for c in (records, errors, documents, first)]
        return (pbegin | "Start" >> beam.Create([None])
                | "Write" >> beam.ParDo(WriteMarker(*self.args), *sides,
                                        *[beam.pvalue.AsList(d) for d in self.done]))


def clear_source_outputs(output: str, source: str) -> None:
    """Remove a source's earlier documents (its marker first), rejected samples, errors and
    statistics before it is rebuilt."""
    layout = Layout(output)
    stats = [layout.marker(source), layout.source_stats(source), layout.distributions(source),
             layout.categories(source)]
    fileio.delete([path for path in stats if fileio.exists(path)])
    for directory in layout.source_outputs(source):
        fileio.delete(fileio.match_paths(f"{directory}/*"))


def remove_leftovers(output: str) -> list[str]:
    """Delete the ``beam-temp-*`` folders a killed run left in the output (Beam's file sinks write
    there before renaming); returns them."""
    return fileio.delete_dirs(output, "beam-temp-*")
