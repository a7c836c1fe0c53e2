"""Run statistics: distributions computed in the graph, counters from Beam metrics, and the
``<output>/stats/run.json`` + per-source table that end every run.

Distributions: every measure ``("<source>/<step>/<field>", value)`` is combined per key into a
distribution (count, sum, min, max and a sparse histogram over fixed, mergeable buckets) and into
101 approximate quantiles. A step's measures come keyed by the document's outcome
(``<field>@kept``, ``@dropped``: :func:`llamacorpus.steps.adapter.measure_key`): the distribution
of the field is over all of them, and ``by_outcome`` holds one per outcome (without quantiles).
All are Beam combiners, so they work the same on Dataflow; the result lands in
``<output>/stats/distributions/<group>.json``.

Categories: documents per value of a source's category fields (``Source.category_fields``: meta
fields, or the derived ``domain``, the registered domain of ``meta.url``), at most
:data:`MAX_CATEGORY_VALUES` values per key, the rest summed under ``(other)``.

Histogram buckets: :mod:`llamacorpus.histogram`.
"""
from __future__ import annotations

import collections
import dataclasses
import json
import math
from typing import Any, Iterable

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter

from llamacorpus import fileio, urls
from llamacorpus.layout import Layout
from llamacorpus.histogram import bucket_edges, bucket_of
from llamacorpus.report import data as report_data
from llamacorpus.report import text as report_text
from llamacorpus.steps.adapter import NAMESPACE, OUTCOME_SEP

QUANTILES = 101
MAX_CATEGORY_VALUES = 1000
OTHER = "(other)"
#: category fields computed from a document's meta rather than read from it
DERIVED_CATEGORIES = {"domain": lambda meta: urls.registered_domain(str(meta.get("url") or ""))}


class DistributionFn(beam.CombineFn):
    """count, sum, min, max and bucket counts of a stream of numbers."""

    def create_accumulator(self):
        return [0, 0.0, math.inf, -math.inf, collections.Counter()]

    def add_input(self, acc, value):
        value = float(value)
        if math.isnan(value):
            return acc
        acc[0] += 1
        acc[1] += value
        acc[2] = min(acc[2], value)
        acc[3] = max(acc[3], value)
        acc[4][bucket_of(value)] += 1
        return acc

    def merge_accumulators(self, accs):
        out = self.create_accumulator()
        for a in accs:
            out[0] += a[0]
            out[1] += a[1]
            out[2] = min(out[2], a[2])
            out[3] = max(out[3], a[3])
            out[4].update(a[4])
        return out

    def extract_output(self, acc):
        n = acc[0]
        return {"count": n, "sum": acc[1], "mean": acc[1] / n if n else None,
                "min": acc[2] if n else None, "max": acc[3] if n else None,
                "histogram": dict(sorted(acc[4].items(), key=lambda kv: bucket_edges(kv[0])[0]))}


class WriteDistributions(beam.PTransform):
    """measures -> ``<output>/stats/distributions/<group>.json`` ({key: {count, ..., histogram,
    quantiles}}); a group is a source, or a later stage such as the mixture."""

    def __init__(self, output: str, group: str):
        super().__init__()
        self.path = Layout(output).distributions(group)

    def expand(self, measures):
        whole = measures | "Whole" >> beam.Map(lambda kv: (kv[0].split(OUTCOME_SEP, 1)[0], kv[1]))
        dists = whole | "Distribution" >> beam.CombinePerKey(DistributionFn())
        quants = whole | "Quantiles" >> beam.ApproximateQuantiles.PerKey(QUANTILES)
        outcomes = (measures
                    | "WithOutcome" >> beam.Filter(lambda kv: OUTCOME_SEP in kv[0])
                    | "ByOutcome" >> beam.CombinePerKey(DistributionFn())
                    | "OutcomeKey" >> beam.Map(lambda kv: (kv[0].split(OUTCOME_SEP, 1)[0],
                                                           (kv[0].split(OUTCOME_SEP, 1)[1], kv[1]))))
        return ({"d": dists, "q": quants, "o": outcomes}
                | "Join" >> beam.CoGroupByKey()
                | "Merge" >> beam.Map(merge_distribution)
                | "All" >> beam.combiners.ToDict()
                | "Write" >> beam.Map(self._write))

    def _write(self, table):
        fileio.atomic_write(self.path, json.dumps(dict(sorted(table.items())), indent=1, sort_keys=True))
        return len(table)


def merge_distribution(element) -> tuple[str, dict]:
    key, parts = element
    out = {**parts["d"][0], "quantiles": list(parts["q"][0])}
    if parts["o"]:
        out["by_outcome"] = dict(sorted(parts["o"]))
    return key, out


def category_value(meta: dict, field: str) -> str:
    """The category of a document for ``field``: its meta value (or the derived one), "none" when absent."""
    derive = DERIVED_CATEGORIES.get(field)
    value = derive(meta) if derive else meta.get(field)
    return "none" if value is None or value == "" else str(value)


class WriteCategories(beam.PTransform):
    """("<source>/<step>/<field>", value) per document -> ``<output>/stats/categories/<source>.json``
    ({key: {value: documents}}, largest first; past :data:`MAX_CATEGORY_VALUES` values the rest are
    summed under :data:`OTHER`, so a category of millions of domains stays small)."""

    def __init__(self, output: str, group: str, max_values: int = MAX_CATEGORY_VALUES):
        super().__init__()
        self.path, self.max_values = Layout(output).categories(group), max_values

    def expand(self, keys):
        per_value = (keys
                     | "Count" >> beam.combiners.Count.PerElement()
                     | "ByKey" >> beam.Map(lambda kv: (kv[0][0], (kv[1], kv[0][1]))))
        top = per_value | "Top" >> beam.combiners.Top.PerKey(self.max_values)
        documents = (per_value | "N" >> beam.Map(lambda kv: (kv[0], kv[1][0]))
                     | "Documents" >> beam.CombinePerKey(sum))
        return ({"top": top, "documents": documents}
                | "Join" >> beam.CoGroupByKey()
                | "Table" >> beam.Map(self._column)
                | "All" >> beam.combiners.ToList()
                | "Write" >> beam.Map(self._write))

    @staticmethod
    def _column(element) -> tuple[str, dict[str, int]]:
        key, parts = element
        counts = {value: n for n, value in parts["top"][0]}
        counts = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        rest = parts["documents"][0] - sum(counts.values())
        if rest:
            counts[OTHER] = rest
        return key, counts

    def _write(self, columns):
        table = dict(sorted(columns))
        fileio.atomic_write(self.path, json.dumps(table, indent=1))
        return len(table)


# ---------------------------------------------------------------------------- counters -> run.json

def query_counters(result) -> dict[str, int]:
    """All llamacorpus counters of a finished run (committed values where the runner has them)."""
    counters: dict[str, int] = collections.Counter()
    for c in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]:
        try:
            value = c.committed
        except Exception:  # noqa: BLE001 - some runners only have attempted values
            value = None
        if value is None:
            value = c.attempted
        counters[c.key.metric.name] += int(value or 0)
    return dict(counters)


STEP_FIELDS = ("in", "kept", "chars_in", "chars_out", "bytes_in", "bytes_out")


def step_stats(counters: dict[str, int], source: str, step: str) -> dict[str, Any]:
    """One step's figures from the counters named ``<source>/<step>/<what>``."""
    prefix = f"{source}/{step}/"
    out: dict[str, Any] = {"step": step, **{f: 0 for f in STEP_FIELDS}, "dropped": {}, "errors": {},
                           "by_language": {}}
    extra: dict[str, int] = {}
    for name, value in counters.items():
        if not name.startswith(prefix):
            continue
        what = name[len(prefix):]
        if "@" in what:
            outcome, lang = what.rsplit("@", 1)
            out["by_language"].setdefault(lang, {})[outcome] = value
        elif what.startswith("dropped:"):
            out["dropped"][what[len("dropped:"):]] = value
        elif what.startswith("error:"):
            out["errors"][what[len("error:"):]] = value
        elif what in STEP_FIELDS:
            out[what] = value
        elif what == "micros":
            out["seconds"] = round(value / 1e6, 3)
        else:
            extra[what] = value
    out["dropped_total"] = sum(out["dropped"].values())
    out["errors_total"] = sum(out["errors"].values())
    out["balanced"] = out["in"] == out["kept"] + out["dropped_total"] + out["errors_total"]
    out["dropped"] = dict(sorted(out["dropped"].items()))
    out["errors"] = dict(sorted(out["errors"].items()))
    out["by_language"] = dict(sorted(out["by_language"].items()))
    if extra:
        out["counters"] = dict(sorted(extra.items()))
    return out


def source_stats(counters: dict[str, int], source: str, step_order: list[str]) -> dict[str, Any]:
    """A source's funnel: its steps in order, and the totals in and out."""
    seen = {name.split("/")[1] for name in counters if name.startswith(source + "/")}
    # counters under the source's name from transforms outside its funnel (the Wikipedia reference
    # URLs read for the Common Crawl classifier, say) are reported beside it, not as steps
    side = {s: step_stats(counters, source, s) for s in sorted(seen - set(step_order))}
    steps = [step_stats(counters, source, s) for s in step_order]
    read = steps[0] if steps else step_stats(counters, source, "read")
    last = steps[-1] if steps else read
    dropped: collections.Counter = collections.Counter()
    errors: collections.Counter = collections.Counter()
    for s in steps:
        dropped.update({f"{s['step']}:{k}": v for k, v in s["dropped"].items()})
        errors.update({f"{s['step']}:{k}": v for k, v in s["errors"].items()})
    return {
        "records_read": read["in"],
        "documents_in": read["kept"],
        "documents_out": last["kept"],
        "chars_in": read["chars_out"],
        "chars_out": last["chars_out"],
        "bytes_in": read["bytes_out"],
        "bytes_out": last["bytes_out"],
        "dropped": dict(sorted(dropped.items())),
        "errors": dict(sorted(errors.items())),
        "files": read.get("counters", {}).get("files", 0),
        "seconds": round(sum(s.get("seconds", 0.0) for s in steps), 3),
        "steps": steps,
        **({"side_counters": {name: st.get("counters", {}) | {f"error:{k}": v for k, v in st["errors"].items()}
                              for name, st in side.items()}} if side else {}),
    }


def write_source_stats(output: str, source: str, stats: dict) -> None:
    fileio.write_json(Layout(output).source_stats(source), stats)


def build_run_json(output: str, sources: Iterable[str], recipe: dict, recipe_hash: str, run_info: dict) -> dict:
    """Gather the per-source stats files, distributions and mixture of a run into one dict, with
    its ``warnings`` (a planned source absent from the shards or off target, an untrained model:
    :func:`llamacorpus.report.data.warnings`)."""
    layout = Layout(output)
    per_source = {}
    for s in sources:
        data = fileio.read_json(layout.source_stats(s))
        if data is not None:
            per_source[s] = data
    run = {
        "run": run_info,
        "recipe_hash": recipe_hash,
        "recipe": recipe,
        "sources": per_source,
        "totals": {k: sum(v.get(k, 0) for v in per_source.values())
                   for k in ("records_read", "documents_in", "documents_out", "chars_in", "chars_out",
                             "bytes_in", "bytes_out")},
        "distributions": merged(layout.distributions(g) for g in [*per_source, "mixture"]),
        "categories": merged(layout.categories(s) for s in per_source),
        "mixture": fileio.read_json(layout.stats("mixture")) or {},
        "step_reports": step_reports(output),
    }
    run["warnings"] = [dataclasses.asdict(w) for w in report_data.warnings(run)]
    return run


def merged(paths: Iterable[str]) -> dict:
    """The union of the JSON objects stored at ``paths`` (absent files skipped)."""
    out: dict = {}
    for path in paths:
        out.update(fileio.read_json(path) or {})
    return out


def step_reports(output: str) -> dict[str, Any]:
    """What global steps wrote beside the counters (``<output>/stats/<name>.json``: perplexity
    cut-offs, classifier precision/recall, near-duplicate clusters...), keyed by file name."""
    pattern = f"{Layout(output).stats_dir}/*.json"
    paths = fileio.match_paths(pattern)
    skip = {"run", "mixture"}
    out = {}
    for path in sorted(paths):
        name = path.rsplit("/", 1)[-1][: -len(".json")]
        if name not in skip:
            out[name] = fileio.read_json(path)
    return out


def write_run_json(output: str, run: dict) -> str:
    path = Layout(output).run_json
    fileio.write_json(path, run)
    return path


def format_table(run: dict, color: bool = False) -> str:
    """The per-source table printed at the end of a run, with its warnings: the table
    ``llamacorpus stats`` prints (:func:`llamacorpus.report.text.format_sources`)."""
    return report_text.format_sources(run, color)
