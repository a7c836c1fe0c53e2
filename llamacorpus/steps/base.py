"""The step contract (docs/architecture.md, "Step contract"), free of Beam so every step is testable alone.

* A :class:`Filter` scores a document (``score(doc) -> dict`` of figures that go into
  ``meta``) and then decides (``keep(doc) -> (bool, reason)``) from those figures and the
  recipe threshold. Score and decision are separate so statistics can show the whole
  distribution beside the threshold.
* A :class:`Mapper` rewrites a document (``map(doc) -> doc``) or drops it by returning
  :class:`Drop`.
* A global step needs the whole collection; it is a Beam composite
  (:class:`llamacorpus.steps.adapter.GlobalStep`) whose pure parts live beside it.

Sources read raw files with a generator that yields documents, :class:`Drop` (a record
that is read fine but is not a document: a redirect, another namespace),
:class:`BadInput` (a record that cannot be read: truncated stream, broken XML, not JSON) or
:class:`Note` (something the reader noticed, counted and nothing else: a charset re-detected).

:func:`run_steps` runs a chain of filters and mappers on plain lists, with the same
outcome accounting the Beam adapter does; tests use it.
"""
from __future__ import annotations

import collections
import dataclasses
import re
from typing import Any, Iterable, Iterator, Sequence

from llamacorpus.document import Document, with_meta

KEPT = "kept"


@dataclasses.dataclass(frozen=True)
class Drop:
    """A document (or raw record) dropped on purpose, with the reason counted."""

    reason: str
    doc: Document | None = None  # the document as scored, for the rejected sample
    location: str = ""

    def __post_init__(self):
        check_reason(self.reason)


@dataclasses.dataclass(frozen=True)
class BadInput:
    """Input that could not be read or processed: counted as ``error:<kind>``, written to errors/."""

    kind: str
    location: str
    message: str = ""
    doc_id: str = ""

    def __post_init__(self):
        check_reason(self.kind)

    def record(self, source: str, step: str) -> dict:
        return {"source": source, "step": step, "kind": self.kind, "location": self.location,
                "message": self.message[:2000], "doc_id": self.doc_id}


@dataclasses.dataclass(frozen=True)
class Note:
    """What a reader noticed that is no record (``charset_redetected``): counted as
    ``<source>/read/<what>``, outside the in = kept + dropped + errored identity."""

    what: str
    n: int = 1

    def __post_init__(self):
        check_reason(self.what)


_REASON = re.compile(r"^[a-z0-9_.=-]+$")


def check_reason(reason: str) -> None:
    """Reasons and error kinds become counter and file names: keep them simple."""
    if not _REASON.match(reason or ""):
        raise ValueError(f"reason {reason!r} must match {_REASON.pattern}")


@dataclasses.dataclass(frozen=True)
class RunContext:
    """Where a run reads and writes, for steps and sources that need it besides their own section.

    ``layout`` names every path under the output (:mod:`llamacorpus.layout`).
    """

    output: str
    models_dir: str
    input_root: str
    batch_size: int = 64

    @property
    def layout(self):
        from llamacorpus.layout import Layout

        return Layout(self.output, self.models_dir)


class Step:
    """What filters and mappers share. ``name`` names the counters ``<source>/<name>/...``."""

    name: str = ""

    def setup(self) -> None:
        """Load models; the Beam adapter calls it once per worker, before any document."""

    def teardown(self) -> None:
        """Release what :meth:`setup` loaded."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class Filter(Step):
    """Score, then decide. Subclasses implement :meth:`score` and :meth:`keep`."""

    #: meta fields whose values go to the distributions in run.json (histograms, quantiles);
    #: by default every numeric figure that :meth:`score` returns.
    measures: Sequence[str] | None = None

    def score(self, doc: Document) -> dict[str, Any]:
        raise NotImplementedError

    def score_batch(self, docs: Sequence[Document]) -> list[dict[str, Any]]:
        """Score many documents at once; override where the model batches (fastText, KenLM)."""
        return [self.score(d) for d in docs]

    def keep(self, doc: Document) -> tuple[bool, str | None]:
        raise NotImplementedError


class Mapper(Step):
    """Rewrite a document, or return :class:`Drop`. Subclasses implement :meth:`map`."""

    def map(self, doc: Document) -> Document | Drop:
        raise NotImplementedError


def numeric_measures(step: Filter, figures: dict[str, Any]) -> Iterator[tuple[str, float]]:
    names = step.measures if step.measures is not None else list(figures)
    for name in names:
        value = figures.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            yield name, float(value)


@dataclasses.dataclass
class StepResult:
    """One step applied to one document: exactly one of doc (kept), drop or error is set."""

    doc: Document | None = None
    drop: Drop | None = None
    error: BadInput | None = None
    measures: tuple[tuple[str, float], ...] = ()

    @property
    def outcome(self) -> str:
        if self.doc is not None:
            return KEPT
        if self.drop is not None:
            return f"dropped:{self.drop.reason}"
        return f"error:{self.error.kind}"


def apply_filter_scored(step: Filter, doc: Document, figures: dict[str, Any]) -> StepResult:
    scored = with_meta(doc, **figures) if figures else doc
    ok, reason = step.keep(scored)
    measures = tuple(numeric_measures(step, figures))
    if ok:
        return StepResult(doc=scored, measures=measures)
    return StepResult(drop=Drop(reason or "filtered", scored), measures=measures)


def apply_mapper(step: Mapper, doc: Document) -> StepResult:
    out = step.map(doc)
    if isinstance(out, Drop):
        return StepResult(drop=out if out.doc is not None else Drop(out.reason, doc, out.location))
    if isinstance(out, BadInput):
        return StepResult(error=out)
    return StepResult(doc=out)


def error_kind(exc: BaseException) -> str:
    """``error:<kind>`` for an exception: its class name in snake-ish lower case."""
    return re.sub(r"[^a-z0-9_]+", "_", type(exc).__name__.lower()).strip("_") or "exception"


def error_result(step: Step, doc: Document, exc: BaseException) -> StepResult:
    return StepResult(error=BadInput(error_kind(exc), doc.get("meta", {}).get("location", doc["id"]),
                                     f"{type(exc).__name__}: {exc}", doc["id"]))


def apply_batch(step: Step, docs: Sequence[Document]) -> list[StepResult]:
    """Apply one step to a batch; an exception isolates to the document that raised it."""
    if isinstance(step, Filter):
        try:
            figures = step.score_batch(docs)
        except Exception:  # find the culprit one document at a time
            figures = None
        results = []
        for i, doc in enumerate(docs):
            try:
                f = figures[i] if figures is not None else step.score(doc)
                results.append(apply_filter_scored(step, doc, f))
            except Exception as exc:  # noqa: BLE001 - every failure is counted, not raised
                results.append(error_result(step, doc, exc))
        return results
    if isinstance(step, Mapper):
        results = []
        for doc in docs:
            try:
                results.append(apply_mapper(step, doc))
            except Exception as exc:  # noqa: BLE001
                results.append(error_result(step, doc, exc))
        return results
    raise TypeError(f"{step!r} is neither a Filter nor a Mapper")


@dataclasses.dataclass
class ChainReport:
    """What :func:`run_steps` returns: kept documents and every outcome counted per step."""

    kept: list[Document]
    counts: dict[str, collections.Counter]
    dropped: list[tuple[str, Drop]]
    errors: list[dict]
    measures: list[tuple[str, str, float]]


def run_steps(steps: Sequence[Step], docs: Iterable[Document], source: str = "test") -> ChainReport:
    """Run a chain of filters and mappers without Beam (tests, notebooks)."""
    current = list(docs)
    counts: dict[str, collections.Counter] = {}
    dropped, errors, measures = [], [], []
    for step in steps:
        step.setup()
        counter = counts.setdefault(step.name, collections.Counter())
        counter["in"] += len(current)
        survivors = []
        for result in apply_batch(step, current):
            counter[result.outcome] += 1
            measures.extend((step.name, k, v) for k, v in result.measures)
            if result.doc is not None:
                survivors.append(result.doc)
            elif result.drop is not None:
                dropped.append((step.name, result.drop))
            else:
                errors.append(result.error.record(source, step.name))
        current = survivors
    return ChainReport(current, counts, dropped, errors, measures)
