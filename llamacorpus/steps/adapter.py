"""The one generic Beam adapter for steps, and the Beam pieces every source and global step shares.

* :class:`ReadFiles` fans input files out (``Create | Reshuffle``) and streams each through a
  source's reader generator.
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
dropped + errored holds for every step.
"""
from __future__ import annotations

import collections
import time
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Sequence

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from llamacorpus.document import Document, stable_hash
from llamacorpus.steps import BadInput, Drop, Step, StepResult, apply_batch, error_kind

NAMESPACE = "llamacorpus"
REJECTED, ERRORS, MEASURES = "rejected", "errors", "measures"
REJECTED_TEXT_CHARS = 2000  # text kept per rejected sample record


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
    :meth:`flush`, which the owner must call (the adapters flush at the end of each bundle): a
    Metrics update per document and counter would cost more than most steps themselves.
    Unbuffered (the default), every ``inc`` goes to Metrics at once.
    """

    def __init__(self, source: str, step: str, buffered: bool = False):
        self.source, self.step, self.buffered = source, step, buffered
        self._tally: collections.Counter = collections.Counter()
        self._metrics: dict[str, Any] = {}

    def inc(self, what: str, n: int = 1) -> None:
        self._tally[what] += n
        if not self.buffered:
            self.flush()

    def count_outcome(self, outcome: str, language: str | None = None) -> None:
        self.inc(outcome)
        if language:
            self.inc(f"{outcome}@{language}")

    def flush(self) -> None:
        for what, n in self._tally.items():
            if n:
                metric = self._metrics.get(what)
                if metric is None:
                    metric = self._metrics[what] = Metrics.counter(NAMESPACE, counter_name(self.source, self.step, what))
                metric.inc(n)
        self._tally.clear()


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

class _ReadDoFn(beam.DoFn):
    def __init__(self, source: str, reader: Callable[[str], Iterable]):
        self.source, self.reader = source, reader

    def setup(self):
        self.out = OutcomeEmitter(self.source, "read")

    def process(self, path: str):
        self.out.counters.inc("files")
        started = time.perf_counter()
        try:
            for item in self.reader(path):
                yield from self._one(item)
        except Exception as exc:  # noqa: BLE001 - a reader that raises loses the rest of its file only
            self.out.counters.inc("in")
            yield from self.out.emit(StepResult(error=BadInput(error_kind(exc), path, f"{type(exc).__name__}: {exc}")))
        self.out.counters.inc("micros", int((time.perf_counter() - started) * 1e6))
        self.out.counters.flush()

    def _one(self, item):
        self.out.counters.inc("in")
        if isinstance(item, BadInput):
            yield from self.out.emit(StepResult(error=item))
        elif isinstance(item, Drop):
            yield from self.out.emit(StepResult(drop=item), _language(item.doc))
        else:
            yield from self.out.emit(StepResult(doc=item), _language(item))


class ReadFiles(beam.PTransform):
    """``paths -> documents``: fan the files out, stream each through ``reader(path)``.

    ``reader`` is a plain generator function yielding documents, :class:`Drop` and
    :class:`BadInput`; counters go under ``<source>/read/``.
    """

    def __init__(self, source: str, reader: Callable[[str], Iterable], paths: Sequence[str],
                 rebalance: bool = True):
        super().__init__()
        self.source, self.reader, self.paths, self.rebalance = source, reader, list(paths), rebalance

    def expand(self, pbegin):
        files = pbegin | "Files" >> beam.Create(self.paths) | "FanOut" >> beam.Reshuffle()
        out = files | "Read" >> beam.ParDo(_ReadDoFn(self.source, self.reader)).with_outputs(
            REJECTED, ERRORS, MEASURES, main="documents")
        docs = out.documents
        if self.rebalance:  # one file's records would otherwise stay fused on one worker
            docs = docs | "Rebalance" >> beam.Reshuffle()
        return StepOutputs(docs, out[REJECTED], out[ERRORS], out[MEASURES])


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

