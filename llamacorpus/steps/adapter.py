"""The one generic Beam adapter for steps, and the Beam pieces every source and global step shares.

* :class:`ReadFiles` fans input files out (``Create | Reshuffle``), cuts those the source splits
  into pieces, fans the pieces out, and streams each through the source's reader.
* :class:`ApplySteps` runs a chain of consecutive filters and mappers in one DoFn (one fused
  stage, models loaded once per worker in ``setup``), in batches so that filters can batch their
  model calls.
* :class:`GlobalStep` is the base of steps that need the whole collection (dedup, classifiers).

Every transform here returns a :class:`StepOutputs`: the kept documents plus the side outputs
the pipeline collects for the run (rejected samples, dead letters, measures).

Counters (namespace ``llamacorpus``), per source and step, are named
``<source>/<step>/<what>`` where ``<what>`` is ``in``, ``kept``, ``dropped:<reason>``,
``error:<kind>``, ``chars_in``, ``chars_out``, ``bytes_in``, ``bytes_out``, ``micros``, and
``<outcome>@<language>`` when the document's meta has a language. Documents in = kept +
dropped + errored holds for every step. ``micros`` is the step's own busy time: for the read,
the reader's (not the work Beam fuses after it, which runs while the read hands a document on);
for batched steps, the batch calls.
"""
from __future__ import annotations

import collections
import logging
import time
from typing import Any, Iterator, NamedTuple, Sequence

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from llamacorpus import fileio
from llamacorpus.document import Document, pack, stable_hash, unpack
from llamacorpus.steps import BadInput, Drop, Note, Step, StepResult, apply_batch, error_kind, progress
from llamacorpus.text import has_surrogates, surrogate_field

NAMESPACE = "llamacorpus"
REJECTED, ERRORS, MEASURES = "rejected", "errors", "measures"
REJECTED_TEXT_CHARS = 2000  # text kept per rejected sample record
FLUSH_SECONDS = 5.0  # buffered counters reach Beam at least this often within a long bundle


class StepOutputs(NamedTuple):
    """What a step transform returns; side outputs may be None."""

    documents: beam.PCollection
    rejected: beam.PCollection | None = None  # ((source, reason), (hash, sample record))
    errors: beam.PCollection | None = None  # error record dicts
    measures: beam.PCollection | None = None  # ("<source>/<step>/<field>[@<outcome>]", float)


def counter_name(source: str, step: str, what: str) -> str:
    return f"{source}/{step}/{what}"


OUTCOME_SEP = "@"


def measure_key(source: str, step: str, field: str, result: StepResult) -> str:
    """The key of a step's measure, by the document's outcome: ``<source>/<step>/<field>@kept``
    or ``@dropped``, so that the distributions show both beside the threshold."""
    outcome = "kept" if result.doc is not None else ("dropped" if result.drop is not None else "error")
    return f"{source}/{step}/{field}{OUTCOME_SEP}{outcome}"


class StepCounters:
    """Beam counters of one (source, step).

    With ``buffered=True`` increments gather in a local tally and reach Beam Metrics on
    :meth:`flush`, which the owner must call (the adapters flush at the end of each bundle), and
    on their own at least every :data:`FLUSH_SECONDS` while a bundle is long: a Metrics update per
    document and counter would cost more than most steps themselves. Unbuffered (the default),
    every ``inc`` goes to Metrics at once. Each flush also feeds the progress lines of a local run
    (:mod:`llamacorpus.steps.progress`).
    """

    def __init__(self, source: str, step: str, buffered: bool = False):
        self.source, self.step, self.buffered = source, step, buffered
        self._tally: collections.Counter = collections.Counter()
        self._metrics: dict[str, Any] = {}
        self._since_check = 0
        self._flushed = time.monotonic()

    def inc(self, what: str, n: int = 1) -> None:
        self._tally[what] += n
        if not self.buffered:
            self.flush()
        else:
            self._since_check += 1
            if self._since_check >= 1024:
                self._since_check = 0
                if time.monotonic() - self._flushed > FLUSH_SECONDS:
                    self.flush()

    def count_outcome(self, outcome: str, language: str | None = None) -> None:
        self.inc(outcome)
        if language:
            self.inc(f"{outcome}@{language}")

    def flush(self) -> None:
        increments = []
        for what, n in self._tally.items():
            if n:
                metric = self._metrics.get(what)
                if metric is None:
                    metric = self._metrics[what] = Metrics.counter(NAMESPACE, counter_name(self.source, self.step, what))
                metric.inc(n)
                increments.append((counter_name(self.source, self.step, what), n))
        self._tally.clear()
        self._flushed = time.monotonic()
        if increments:
            progress.record(increments)


def text_size(doc: Document) -> tuple[int, int]:
    text = doc["text"]
    return len(text), len(text.encode("utf-8", "surrogatepass"))


def rejected_sample(source: str, drop: Drop) -> tuple:
    """The record a dropped document leaves in ``rejected/``: keyed for a deterministic sample."""
    doc = drop.doc or {}
    text = doc.get("text", "")
    record = {"id": doc.get("id", ""), "reason": drop.reason, "location": drop.location,
              "chars": len(text), "text": text[:REJECTED_TEXT_CHARS], "meta": doc.get("meta", {})}
    return (source, drop.reason), (stable_hash(record["id"], record["location"]), record)


class OutcomeEmitter:
    """Turns :class:`StepResult` objects into counted, tagged Beam outputs (shared by all adapters)."""

    def __init__(self, source: str, step: str):
        self.source, self.step = source, step
        self.counters = StepCounters(source, step, buffered=True)  # flushed by the DoFn per bundle

    def emit(self, result: StepResult, language: str | None = None) -> Iterator:
        self.counters.count_outcome(result.outcome, language)
        for field, value in result.measures:
            yield pvalue.TaggedOutput(MEASURES, (measure_key(self.source, self.step, field, result), value))
        if result.doc is not None:
            chars, nbytes = text_size(result.doc)
            self.counters.inc("chars_out", chars)
            self.counters.inc("bytes_out", nbytes)
            yield result.doc
        elif result.drop is not None:
            yield pvalue.TaggedOutput(REJECTED, rejected_sample(self.source, result.drop))
        else:
            yield pvalue.TaggedOutput(ERRORS, result.error.record(self.source, self.step))

    def count_in(self, doc: Document) -> None:
        chars, nbytes = text_size(doc)
        self.counters.inc("in")
        self.counters.inc("chars_in", chars)
        self.counters.inc("bytes_in", nbytes)


def _language(doc: Document | None) -> str | None:
    if doc is None:
        return None
    lang = doc["meta"].get("language")
    return lang if isinstance(lang, str) and lang else None


def _result_language(result: StepResult) -> str | None:
    return _language(result.doc if result.doc is not None else (result.drop.doc if result.drop else None))


# ---------------------------------------------------------------------------- reading

#: what an input that cannot be opened raises: error:unreadable_input, not a corrupt stream
UNREADABLE = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)
DONE = "done"  # the read's side output of finished pieces of split or staged files
#: a reader's counters reach Beam (and the progress lines) at least this often within one piece
READ_FLUSH_SECONDS = 2.0


def read_error_kind(exc: BaseException) -> str:
    return "unreadable_input" if isinstance(exc, UNREADABLE) else error_kind(exc)


def bad_unicode_field(doc: Document) -> str | None:
    """The first field of a document holding a lone surrogate (``text``, ``id``, ``meta.<key>``),
    or None: such a string cannot be written as UTF-8."""
    return surrogate_field({"text": doc.get("text", ""), "id": doc.get("id", "")}) or \
        surrogate_field(doc.get("meta", {}), "meta.")


def _printable(text: str) -> str:
    """``text`` with lone surrogates written as escapes (for error records)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _printable_bad_input(bad: BadInput) -> BadInput:
    """``bad`` with lone surrogates in its location, message or id escaped (they come from the input)."""
    fields = (bad.location, bad.message, bad.doc_id)
    if not any(has_surrogates(f) for f in fields):
        return bad
    return BadInput(bad.kind, *(_printable(f) for f in fields))


def _bad_input(kind: str, location: str, message: str) -> StepResult:
    return StepResult(error=BadInput(kind, _printable(location), message))


class _PlanDoFn(beam.DoFn):
    """input path -> its pieces (the source's ``splits``); empty and unreadable inputs counted."""

    def __init__(self, source: str, reader, staging: str, files_total: int):
        self.source, self.reader, self.staging, self.files_total = source, reader, staging, files_total

    def setup(self):
        self.out = OutcomeEmitter(self.source, "read")

    def process(self, path: str):
        counters = self.out.counters
        counters.inc("files")
        Metrics.gauge(NAMESPACE, counter_name(self.source, "read", "files_total")).set(self.files_total)
        try:
            yield from self._plan(path)
        finally:
            counters.flush()

    def _plan(self, path: str):
        counters = self.out.counters
        try:
            size = self.reader.size(path)
        except OSError as exc:  # listed before the run, gone or unreadable now
            counters.inc("in")
            yield from self.out.emit(_bad_input("unreadable_input", path, f"{type(exc).__name__}: {exc}"))
            return
        if size == 0:
            counters.inc("in")
            yield from self.out.emit(_bad_input("empty_file", path, "the input has no bytes"))
            return
        counters.inc("input_bytes", size or 0)
        try:
            pieces = self.reader.splits(path, size, self.staging)
        except UNREADABLE as exc:
            counters.inc("in")
            yield from self.out.emit(_bad_input("unreadable_input", path, f"{type(exc).__name__}: {exc}"))
            return
        except Exception as exc:  # noqa: BLE001 - a broken index or archive: read the file whole instead
            logging.getLogger(__name__).warning("%s: %s cannot be split (%s: %s); one worker reads it whole",
                                                self.source, path, type(exc).__name__, exc)
            counters.inc("split_fallback")
            pieces = [self.reader.whole(path, size)]
        counters.inc("splits", len(pieces))
        yield from pieces


class _CountDoFn(beam.DoFn):
    """piece -> (path, (piece, lines it holds)); lines are counted only for pieces that need a first line."""

    def __init__(self, source: str, reader):
        self.source, self.reader = source, reader

    def process(self, piece):
        lines = None
        if piece.first_line is None:
            try:
                lines = self.reader.count_lines(piece)
            except Exception as exc:  # noqa: BLE001 - the read of the piece reports what is wrong with it
                logging.getLogger(__name__).warning("%s: counting the lines of %s piece %d failed (%s: %s)",
                                                    self.source, piece.path, piece.index, type(exc).__name__, exc)
                lines = 0
        yield piece.path, (piece, lines)


def number_pieces(element):
    """(path, [(piece, lines)]) -> the file's pieces, each with its first line number: 1 plus the
    lines of the pieces before it."""
    _, entries = element
    following = 1
    for piece, lines in sorted(entries, key=lambda e: e[0].index):
        if piece.first_line is None:
            piece = piece._replace(first_line=following)
        following = piece.first_line + (lines or 0)
        yield piece


class _ReadDoFn(beam.DoFn):
    def __init__(self, source: str, reader):
        self.source, self.reader = source, reader

    def setup(self):
        self.out = OutcomeEmitter(self.source, "read")

    def process(self, piece):
        """The piece's outcomes. ``micros`` is the reader's own time: the work fused after the read
        (up to the next shuffle) runs inside each ``yield`` and is not counted here."""
        counters = self.out.counters
        clock = time.perf_counter
        started = clock()
        downstream = 0.0
        flushed = time.monotonic()
        try:
            for n, item in enumerate(self.reader.read(piece), 1):
                for out in self._one(item, piece.path):
                    handed = clock()
                    yield out
                    downstream += clock() - handed
                if n % 256 == 0 and time.monotonic() - flushed > READ_FLUSH_SECONDS:
                    counters.flush()
                    flushed = time.monotonic()
        except Exception as exc:  # noqa: BLE001 - a reader that raises loses the rest of its piece only
            counters.inc("in")
            yield from self.out.emit(_bad_input(read_error_kind(exc), piece.path, f"{type(exc).__name__}: {exc}"))
        counters.inc("splits_done")
        counters.inc("input_bytes_done", piece.size)
        if piece.count > 1 or piece.target:
            yield pvalue.TaggedOutput(DONE, ((piece.path, piece.count, piece.target), 1))
        else:
            counters.inc("files_done")
        counters.inc("micros", int((clock() - started - downstream) * 1e6))
        counters.flush()
        progress.flush()  # a finished piece is in the progress lines even if this worker ends now

    def _one(self, item, path: str):
        if isinstance(item, Note):
            self.out.counters.inc(item.what, item.n)
            return
        self.out.counters.inc("in")
        doc = item.doc if isinstance(item, Drop) else item
        if isinstance(doc, dict) and not isinstance(item, BadInput):
            field = bad_unicode_field(doc)
            if field is not None:
                location = doc.get("meta", {}).get("location") or (item.location if isinstance(item, Drop) else "")
                yield from self.out.emit(StepResult(error=BadInput(
                    "invalid_unicode", _printable(location or path), f"a lone UTF-16 surrogate in {field}",
                    _printable(doc.get("id", "")))))
                return
        if isinstance(item, BadInput):
            yield from self.out.emit(StepResult(error=_printable_bad_input(item)))
        elif isinstance(item, Drop):
            yield from self.out.emit(StepResult(drop=item), _language(item.doc))
        else:
            yield from self.out.emit(StepResult(doc=item), _language(item))


class _FinishFilesDoFn(beam.DoFn):
    """After the read: each split or staged file whose pieces are all read counts as a file done,
    and its staging copy is removed."""

    def __init__(self, source: str):
        self.source = source

    def setup(self):
        self.counters = StepCounters(self.source, "read")

    def process(self, element):
        (path, count, target), done = element
        if done >= count:
            self.counters.inc("files_done")
        if target:
            try:
                fileio.delete([target])
            except OSError as exc:  # the next run removes it with the source's outputs
                logging.getLogger(__name__).warning("%s: could not remove the staging copy %s: %s",
                                                    self.source, target, exc)


class ReadFiles(beam.PTransform):
    """``paths -> documents``: plan each input's pieces, fan them out, read each on its own.

    ``reader`` is a source's :class:`~llamacorpus.sources.base.InputReader` (``size``, ``splits``,
    ``whole``, ``count_lines``, ``read``; see sources/base.py for the contract): files, then
    Reshuffle, then their pieces, then the pieces' first line numbers where they depend on the
    pieces before them (counted in parallel, grouped per file), then Reshuffle, then read, then
    (``rebalance``) Reshuffle the documents, packed. Every input is one piece unless its source
    splits it.

    Counters go under ``<source>/read/``: ``files``, ``files_done``, ``splits`` (pieces),
    ``splits_done``, ``input_bytes`` (stored bytes of the inputs), ``input_bytes_done``, the gauge
    ``files_total``, and the outcomes. One rule for every reader, here: an empty input is
    ``error:empty_file``, one that cannot be opened ``error:unreadable_input``, and a record with a
    lone surrogate in its text, id or meta ``error:invalid_unicode``. Staging copies (``staging``,
    a directory) are removed once the source is read.
    """

    def __init__(self, source: str, reader, paths: Sequence[str], staging: str = "", rebalance: bool = True):
        super().__init__()
        self.source, self.reader, self.paths, self.rebalance = source, reader, list(paths), rebalance
        self.staging = staging

    def expand(self, pbegin):
        files = pbegin | "Files" >> beam.Create(self.paths) | "FanOut" >> beam.Reshuffle()
        planned = files | "Plan" >> beam.ParDo(
            _PlanDoFn(self.source, self.reader, self.staging, len(self.paths))).with_outputs(ERRORS, main="pieces")
        pieces = (planned.pieces
                  | "SpreadPieces" >> beam.Reshuffle()
                  | "CountLines" >> beam.ParDo(_CountDoFn(self.source, self.reader))
                  | "ByFile" >> beam.GroupByKey()
                  | "Number" >> beam.FlatMap(number_pieces)
                  | "FanOutPieces" >> beam.Reshuffle())
        out = pieces | "Read" >> beam.ParDo(_ReadDoFn(self.source, self.reader)).with_outputs(
            REJECTED, ERRORS, MEASURES, DONE, main="documents")
        (out[DONE] | "PiecesPerFile" >> beam.CombinePerKey(sum)
         | "FinishFiles" >> beam.ParDo(_FinishFilesDoFn(self.source)))
        errors = (planned[ERRORS], out[ERRORS]) | "Errors" >> beam.Flatten()
        docs = out.documents
        if self.rebalance:  # one file's records would otherwise stay fused on one worker
            # packed across the shuffle, as the global steps do: half the bytes, and the local
            # runner, which holds the whole reshuffle, keeps one bytes object per document
            docs = (docs | "Pack" >> beam.Map(pack) | "Rebalance" >> beam.Reshuffle()
                    | "Unpack" >> beam.Map(unpack))
        return StepOutputs(docs, out[REJECTED], errors, out[MEASURES])


# ---------------------------------------------------------------------------- filters and mappers

class _StepsDoFn(beam.DoFn):
    def __init__(self, source: str, steps: Sequence[Step], batch_size: int):
        self.source, self.steps, self.batch_size = source, list(steps), batch_size

    def setup(self):
        for step in self.steps:
            step.setup()
        self.emitters = [OutcomeEmitter(self.source, s.name) for s in self.steps]

    def teardown(self):
        for step in self.steps:
            step.teardown()

    def start_bundle(self):
        self.buffer: list[Document] = []

    def process(self, doc: Document):
        self.buffer.append(doc)
        if len(self.buffer) >= self.batch_size:
            yield from self._flush()

    def finish_bundle(self):
        for out in self._flush():
            if isinstance(out, pvalue.TaggedOutput):
                yield pvalue.TaggedOutput(out.tag, WindowedValue(out.value, MIN_TIMESTAMP, [GlobalWindow()]))
            else:
                yield WindowedValue(out, MIN_TIMESTAMP, [GlobalWindow()])
        for emitter in self.emitters:
            emitter.counters.flush()

    def _flush(self):
        batch, self.buffer = self.buffer, []
        for step, emitter in zip(self.steps, self.emitters):
            if not batch:
                break
            started = time.perf_counter()
            for doc in batch:
                emitter.count_in(doc)
            results = apply_batch(step, batch)
            emitter.counters.inc("micros", int((time.perf_counter() - started) * 1e6))
            survivors = []
            for doc_in, result in zip(batch, results):
                for out in emitter.emit(result, _result_language(result) or _language(doc_in)):
                    if isinstance(out, pvalue.TaggedOutput):
                        yield out
                    else:
                        survivors.append(out)
            batch = survivors
        yield from batch


class ApplySteps(beam.PTransform):
    """Run consecutive filters/mappers of one source as one fused, batched DoFn."""

    def __init__(self, source: str, steps: Sequence[Step], batch_size: int = 64):
        super().__init__()
        self.source, self.steps, self.batch_size = source, list(steps), batch_size

    def expand(self, docs):
        out = docs | beam.ParDo(_StepsDoFn(self.source, self.steps, self.batch_size)).with_outputs(
            REJECTED, ERRORS, MEASURES, main="documents")
        return StepOutputs(out.documents, out[REJECTED], out[ERRORS], out[MEASURES])


# ---------------------------------------------------------------------------- global steps

class GlobalStep(beam.PTransform):
    """Base for steps that need the whole collection; ``expand(docs)`` returns StepOutputs.

    Like a :class:`~llamacorpus.steps.base.Step`, a subclass sets ``name`` (the step name in
    counters, ``<source>/<name>/...``; an instance may be given another). It ends with
    :meth:`decide` for the final keep/drop per document, so counting and side outputs are the
    same as for filters, and counts anything else with :meth:`counters`.
    """

    name: str = "global"

    def __init__(self, source: str, name: str | None = None):
        super().__init__()
        self.source = source
        if name:
            self.name = name

    def counters(self) -> StepCounters:
        """This step's counters (unbuffered: each ``inc`` reaches Beam Metrics at once); DoFns of the
        step create them in ``setup``."""
        return StepCounters(self.source, self.name)

    def decide(self, pcoll, label: str = "Decide") -> StepOutputs:
        """Count and emit ``(doc, decision)`` verdicts (:class:`Decide`) under this step's name."""
        return decide(pcoll, self.source, self.name, label)


class Decide(beam.DoFn):
    """Emit a global step's verdicts: input ``(doc, decision)`` where decision is the new document
    (kept), a :class:`Drop` or a :class:`BadInput`. Counts like the adapter does."""

    def __init__(self, source: str, step: str):
        self.source, self.step = source, step

    def setup(self):
        self.out = OutcomeEmitter(self.source, self.step)

    def process(self, element):
        doc, decision = element
        self.out.count_in(doc)
        if isinstance(decision, Drop):
            result = StepResult(drop=decision if decision.doc is not None else Drop(decision.reason, doc))
        elif isinstance(decision, BadInput):
            result = StepResult(error=decision)
        else:
            result = StepResult(doc=decision)
        yield from self.out.emit(result, _result_language(result) or _language(doc))

    def finish_bundle(self):
        self.out.counters.flush()


def decide(pcoll, source: str, step: str, label: str = "Decide") -> StepOutputs:
    """Apply :class:`Decide` to ``(doc, decision)`` pairs and return the StepOutputs."""
    out = pcoll | label >> beam.ParDo(Decide(source, step)).with_outputs(REJECTED, ERRORS, MEASURES, main="documents")
    return StepOutputs(out.documents, out[REJECTED], out[ERRORS], out[MEASURES])

