"""The figures of the run report, derived from ``run.json`` alone (no corpus re-read), as plain
data the HTML, the plots, the printed table and the tests share.

What run.json holds and where each section finds it:

* funnel: ``sources.<s>.steps`` (in, kept, dropped per reason, errors per kind, chars, bytes);
* lengths: the distributions ``<s>/output/chars`` and ``<s>/output/tokens`` (any step's
  ``chars``/``tokens`` field when ``output`` has none);
* languages: the per-language outcome counters of the steps (``by_language``);
* scores: every other distribution ``<s>/<step>/<field>`` with its thresholds
  (:func:`thresholds`): for ``perplexity``, a step report of the source (``stats/<name>.json``
  whose ``source`` matches) with ``languages.<lang>.cutoffs`` = [head max, middle max]; a step
  report whose ``source`` and ``step`` match gives ``threshold`` (for its ``measure``, else for
  every field of its step); else the source's recipe section: ``min_<f>``, ``max_<f>``,
  ``<f>_threshold``, ``<stem>_threshold`` for ``<stem>_score``/``<stem>_prob`` (0 = off);
* dedup: steps whose extra counters say lines (``lines_in``, ``lines_removed``...) or whose drop
  reasons say duplicate, and step reports with ``clusters``/``candidate_pairs``;
* categories (licences, sites, buckets): ``categories.<s>/<step>/<field>`` ({value: documents}),
  the drop reasons ``<field>=<value>`` and extra counters ``<name>=<value>`` of the steps;
* mixture: ``mixture`` (the plan rows and, once shards are written, the realised mixture).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterator

from llamacorpus.document import SOURCES
from llamacorpus.histogram import bucket_edges

LENGTH_FIELDS = ("chars", "tokens")
DEDUP_WORDS = ("dup",)  # drop reasons and step names that are deduplication
LINE_COUNTERS = ("lines_in", "lines_blank", "lines_removed", "documents_emptied")


# ---------------------------------------------------------------------------- overview

@dataclasses.dataclass
class SourceRow:
    """One line of the overview table: what went in and what came out of a source."""

    source: str
    records_read: int
    documents_in: int
    documents_out: int
    bytes_in: int
    bytes_out: int
    chars_in: int
    chars_out: int
    errors: int
    tokens_out: int | None  # cleaned tokens (training + validation split), None before mixing
    tokens_in_estimate: int | None  # chars_in at the source's tokens/char after cleaning
    target_share: float | None
    realised_share: float | None

    @property
    def kept_fraction(self) -> float | None:
        return self.documents_out / self.documents_in if self.documents_in else None


def source_names(run: dict) -> list[str]:
    """The run's sources in LLaMA's Table 1 order (run.json keeps them sorted by name)."""
    return sorted(run.get("sources", {}), key=lambda s: (SOURCES.index(s) if s in SOURCES else len(SOURCES), s))


def mixture_rows(run: dict) -> dict[str, dict]:
    """source -> the mixture plan row (with realised figures once the shards are written)."""
    return {row["source"]: row for row in (run.get("mixture") or {}).get("sources", [])}


def tokens_out(run: dict, source: str) -> int | None:
    """Tokens of the source's cleaned documents as the mix stage encoded them (training split plus
    held-out validation documents); None when the mix stage did not run."""
    row = mixture_rows(run).get(source)
    if row is None:
        return None
    validation = (run["mixture"].get("validation") or {}).get("planned", {}).get(source, {})
    return int(row["available_tokens"]) + int(validation.get("tokens", 0))


def source_rows(run: dict) -> list[SourceRow]:
    rows = []
    mix = mixture_rows(run)
    for name in source_names(run):
        s = run["sources"][name]
        out = tokens_out(run, name)
        estimate = None
        if out is not None and s["chars_out"]:
            estimate = round(s["chars_in"] * out / s["chars_out"])
        row = mix.get(name, {})
        rows.append(SourceRow(
            source=name, records_read=s["records_read"], documents_in=s["documents_in"],
            documents_out=s["documents_out"], bytes_in=s["bytes_in"], bytes_out=s["bytes_out"],
            chars_in=s["chars_in"], chars_out=s["chars_out"], errors=sum(s["errors"].values()),
            tokens_out=out, tokens_in_estimate=estimate, target_share=row.get("target_share"),
            realised_share=row.get("realised_share")))
    return rows


# ---------------------------------------------------------------------------- funnel

@dataclasses.dataclass
class FunnelStep:
    step: str
    documents_in: int
    kept: int
    dropped: dict[str, int]
    errors: dict[str, int]
    chars_in: int
    chars_out: int
    bytes_out: int
    seconds: float | None
    counters: dict[str, int]


def funnel(source_stats: dict) -> list[FunnelStep]:
    """The source's steps in order (the read step has no input text: it creates it)."""
    steps = []
    for s in source_stats.get("steps", []):
        steps.append(FunnelStep(step=s["step"], documents_in=s["in"], kept=s["kept"], dropped=dict(s["dropped"]),
                                errors=dict(s["errors"]), chars_in=s["chars_in"], chars_out=s["chars_out"],
                                bytes_out=s["bytes_out"], seconds=s.get("seconds"),
                                counters=dict(s.get("counters", {}))))
    return steps


def drop_reasons(source_stats: dict) -> list[tuple[str, str, int]]:
    """(step, reason, documents) of every drop, in funnel order, largest first within a step."""
    out = []
    for s in source_stats.get("steps", []):
        out += [(s["step"], r, n) for r, n in sorted(s["dropped"].items(), key=lambda kv: (-kv[1], kv[0]))]
    return out


# ---------------------------------------------------------------------------- distributions

def distributions_of(run: dict, source: str) -> dict[str, dict]:
    """``<step>/<field>`` -> distribution, for one source."""
    prefix = source + "/"
    return {k[len(prefix):]: v for k, v in sorted(run.get("distributions", {}).items()) if k.startswith(prefix)}


def length_distribution(run: dict, source: str, field: str) -> tuple[str, dict] | None:
    """The source's ``output/<field>`` distribution, else the last step's ``<field>`` one."""
    dists = distributions_of(run, source)
    key = f"output/{field}"
    if key in dists:
        return key, dists[key]
    others = [k for k in dists if k.endswith("/" + field)]
    return (others[-1], dists[others[-1]]) if others else None


def quantile(dist: dict, q: float) -> float | None:
    """The q-quantile (0..1) from the distribution's 101 approximate quantiles."""
    qs = dist.get("quantiles") or []
    if not qs:
        return None
    return qs[min(len(qs) - 1, round(q * (len(qs) - 1)))]


@dataclasses.dataclass
class Bars:
    """A histogram ready to draw: bar i spans [lows[i], highs[i]) with counts[i] values."""

    lows: list[float]
    highs: list[float]
    counts: list[int]
    log_x: bool


def histogram_bars(dist: dict) -> Bars:
    """Bars from a distribution's bucket labels (:func:`llamacorpus.histogram.bucket_edges`).

    Values spanning more than two decades above 1 (lengths, perplexities) are drawn on a log axis,
    where the buckets at or below 1 become one bar [0.5, 1]."""
    buckets = sorted(((bucket_edges(label), n) for label, n in dist.get("histogram", {}).items()), key=lambda b: b[0])
    lo, hi = dist.get("min"), dist.get("max")
    log_x = bool(buckets) and lo is not None and lo >= 0 and hi > 1 and hi / max(lo, 1.0) >= 100
    lows, highs, counts = [], [], []
    small = 0
    for (low, high), n in buckets:
        if log_x and high <= 1:
            small += n
            continue
        lows.append(low)
        highs.append(high)
        counts.append(n)
    if small:
        lows.insert(0, 0.5)
        highs.insert(0, 1.0)
        counts.insert(0, small)
    return Bars(lows, highs, counts, log_x)


# ---------------------------------------------------------------------------- thresholds

@dataclasses.dataclass
class Threshold:
    label: str
    value: float


def step_reports_of(run: dict, source: str, step: str | None = None) -> Iterator[tuple[str, dict]]:
    """``(name, report)`` of the step reports that name this source (and step)."""
    for name, rep in sorted((run.get("step_reports") or {}).items()):
        if isinstance(rep, dict) and rep.get("source") == source and (step is None or rep.get("step") == step):
            yield name, rep


def _recipe_section(run: dict, source: str) -> dict:
    return ((run.get("recipe") or {}).get("sources") or {}).get(source) or {}


def _find_keys(section: Any, keys: set[str], path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(section, dict):
        for k, v in section.items():
            here = f"{path}.{k}" if path else k
            if k in keys and isinstance(v, (int, float)) and not isinstance(v, bool):
                yield here, v
            else:
                yield from _find_keys(v, keys, here)


def recipe_keys_for(field: str) -> set[str]:
    """Recipe keys that hold a threshold on ``field`` (see the module docstring)."""
    keys = {f"min_{field}", f"max_{field}", f"{field}_threshold"}
    if field.startswith(("min_", "max_")):
        keys.add(field)
    for suffix in ("_score", "_prob"):
        if field.endswith(suffix):
            keys.add(field[: -len(suffix)] + "_threshold")
    return keys


def perplexity_cutoffs(run: dict, source: str) -> list[tuple[str, dict]]:
    """``(name, report)`` of the step reports holding perplexity cut-offs per language
    (``languages.<lang>.cutoffs`` = [head max, middle max])."""
    return [(n, r) for n, r in step_reports_of(run, source)
            if isinstance(r.get("languages"), dict) and any(isinstance(v, dict) and v.get("cutoffs")
                                                            for v in r["languages"].values())]


def thresholds(run: dict, source: str, step: str, field: str) -> list[Threshold]:
    """The lines to draw on the histogram of ``<source>/<step>/<field>``."""
    out: list[Threshold] = []
    if field == "perplexity":
        for _, rep in perplexity_cutoffs(run, source):
            for lang, entry in sorted(rep["languages"].items()):
                if isinstance(entry, dict) and len(entry.get("cutoffs") or []) == 2:
                    head, middle = entry["cutoffs"]
                    out += [Threshold(f"{lang}: head < {head:,.4g}", float(head)),
                            Threshold(f"{lang}: middle < {middle:,.4g}", float(middle))]
    for _, rep in step_reports_of(run, source, step):
        value = rep.get("threshold")
        if isinstance(value, (int, float)) and rep.get("measure", field) == field:
            out.append(Threshold(f"{step}.threshold = {value:g}", float(value)))
    if not out:  # a recipe threshold of 0 is the filter switched off
        for key, value in _find_keys(_recipe_section(run, source), recipe_keys_for(field)):
            if value:
                out.append(Threshold(f"{key} = {value:g}", float(value)))
    return out


# ---------------------------------------------------------------------------- languages

@dataclasses.dataclass
class LanguageRow:
    language: str
    documents: int  # outcomes at the first step that saw languages
    dropped: dict[str, int]  # reason -> documents dropped at that step
    out: int | None  # kept at the last step (None when the last step records no language)


def languages(source_stats: dict, step: str | None = None) -> tuple[str | None, list[LanguageRow]]:
    """(the step, its rows by descending count): per language, the outcomes at ``step`` (default:
    the first step with per-language counts) and the documents kept by the last step."""
    steps = [s for s in source_stats.get("steps", []) if s.get("by_language") and step in (None, s["step"])]
    if not steps:
        return None, []
    first, last = steps[0], source_stats["steps"][-1]
    rows = []
    for lang, outcomes in first["by_language"].items():
        dropped = {k[len("dropped:"):]: v for k, v in outcomes.items() if k.startswith("dropped:")}
        final = last.get("by_language", {}).get(lang, {}).get("kept", 0) if last.get("by_language") else None
        rows.append(LanguageRow(lang, sum(outcomes.values()), dropped, final))
    rows.sort(key=lambda r: (-r.documents, r.language))
    return first["step"], rows


# ---------------------------------------------------------------------------- dedup

@dataclasses.dataclass
class DedupStep:
    step: str
    documents_in: int
    dropped: dict[str, int]
    lines: dict[str, int]  # line counters, when the step removes lines


def dedup_steps(source_stats: dict) -> list[DedupStep]:
    """Steps that deduplicate: by name, by a duplicate drop reason, or by line counters."""
    out = []
    for s in source_stats.get("steps", []):
        counters = s.get("counters", {})
        lines = {k: counters[k] for k in LINE_COUNTERS if k in counters}
        dup_reasons = {r: n for r, n in s["dropped"].items() if any(w in r for w in DEDUP_WORDS)}
        if lines or dup_reasons or any(w in s["step"] for w in DEDUP_WORDS):
            out.append(DedupStep(s["step"], s["in"], dup_reasons or dict(s["dropped"]), lines))
    return out


def near_duplicate_reports(run: dict, source: str) -> list[tuple[str, dict]]:
    return [(n, r) for n, r in step_reports_of(run, source) if "clusters" in r or "candidate_pairs" in r]


# ---------------------------------------------------------------------------- categories

def categories(run: dict, source: str, field: str) -> dict[str, dict[str, int]]:
    """Documents per value of ``field`` (``license``, ``site``, ``bucket``...), as columns:
    ``{column: {value: documents}}``, from ``run["categories"]``, drop reasons ``<field>=<value>``
    and extra step counters ``<name>=<value>`` whose name mentions the field."""
    columns: dict[str, dict[str, int]] = {}
    for key, counts in sorted((run.get("categories") or {}).items()):
        src, _, rest = key.partition("/")
        step, _, f = rest.rpartition("/")
        if src == source and f == field:
            columns[f"{step}"] = dict(counts)
    for s in run.get("sources", {}).get(source, {}).get("steps", []):
        prefix = field + "="
        dropped = {r[len(prefix):]: n for r, n in s["dropped"].items() if r.startswith(prefix)}
        if dropped:
            columns[f"dropped at {s['step']}"] = dropped
        for name, n in s.get("counters", {}).items():
            what, eq, value = name.partition("=")
            if eq and field in what:
                columns.setdefault(f"{s['step']} {what}", {})[value] = n
    return columns


def category_table(columns: dict[str, dict[str, int]]) -> tuple[list[str], list[tuple[str, list[int | None]]]]:
    """(column names, rows of (value, counts per column)) sorted by the largest count."""
    names = list(columns)
    values = sorted({v for c in columns.values() for v in c},
                    key=lambda v: (-max(c.get(v, 0) for c in columns.values()), v))
    return names, [(v, [columns[n].get(v) for n in names]) for v in values]


# ---------------------------------------------------------------------------- formatting

def human(n: float | None, unit: str = "") -> str:
    """1234567 -> "1.23M"; small numbers as they are."""
    if n is None:
        return "–"
    if abs(n) < 1000:
        return f"{n:g}{unit}" if isinstance(n, float) and not n.is_integer() else f"{int(n)}{unit}"
    for suffix in ("k", "M", "G", "T", "P"):
        n /= 1000
        if abs(n) < 1000:
            return f"{n:.3g}{suffix}{unit}"
    return f"{n:.3g}E{unit}"


def percent(x: float | None, digits: int = 1) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.{digits}f}%"
