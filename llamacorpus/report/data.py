"""The figures of the run report, derived from ``run.json`` alone (no corpus re-read), as plain
data the HTML, the plots, the printed table and the tests share.

What run.json holds and where each section finds it:

* funnel: ``sources.<s>.steps`` (in, kept, dropped per reason, errors per kind, chars, bytes);
* lengths: the distributions ``<s>/output/chars`` and ``<s>/output/tokens`` (any step's
  ``chars``/``tokens`` field when ``output`` has none), beside ``<s>/input/chars`` (the
  documents as read, before the steps);
* languages: the per-language outcome counters of the steps (``by_language``);
* scores: every other distribution ``<s>/<step>/<field>``, split by outcome where it has
  ``by_outcome`` (kept and dropped documents), with its thresholds
  (:func:`thresholds`): for ``perplexity``, a step report of the source (``stats/<name>.json``
  whose ``source`` matches) with ``languages.<lang>.cutoffs`` = [head max, middle max]; a step
  report whose ``source`` and ``step`` match gives ``threshold`` (for its ``measure``, else for
  every field of its step); else the source's recipe section: ``min_<f>``, ``max_<f>``,
  ``<f>_threshold``, ``<stem>_threshold`` for ``<stem>_score``/``<stem>_prob`` (0 = off);
* dedup: steps whose extra counters say lines (``lines_in``, ``lines_removed``...) or whose drop
  reasons say duplicate, and step reports with ``clusters``/``candidate_pairs``;
* categories (licences, sites, buckets, registered domains): ``categories.<s>/<step>/<field>``
  ({value: documents}), the drop reasons ``<field>=<value>`` and extra counters
  ``<name>=<value>`` of the steps; licence values as SPDX ids (:func:`llamacorpus.licenses.spdx_of`);
* mixture: ``mixture`` (the plan rows and, once shards are written, the realised mixture), and
  each planned source's status (:func:`mixture_checks`);
* warnings (:func:`warnings`): a planned source absent from the shards or off its target, a step
  report that says ``trained: false`` (the Wikipedia-reference classifier that could not train).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterator

import numpy

from llamacorpus.document import SOURCES
from llamacorpus.histogram import bucket_edges
from llamacorpus.licenses import spdx_of

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
        """Documents out of the records read (what the read step dropped counts as not kept)."""
        return kept_fraction(self.records_read, self.documents_out)


def kept_fraction(records_read: int, documents_out: int) -> float | None:
    return documents_out / records_read if records_read else None


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
    """A histogram ready to draw: bar i spans [lows[i], highs[i]) with counts[i] values; ``parts``
    splits the counts into series (``kept``/``dropped``, or ``input``/``output``) on the same bars."""

    lows: list[float]
    highs: list[float]
    counts: list[int]
    log_x: bool
    parts: dict[str, list[int]] = dataclasses.field(default_factory=dict)


def _log_x(dists: list[dict]) -> bool:
    lo = min((d["min"] for d in dists if d.get("min") is not None), default=None)
    hi = max((d["max"] for d in dists if d.get("max") is not None), default=None)
    return lo is not None and lo >= 0 and hi > 1 and hi / max(lo, 1.0) >= 100


def histogram_bars(dist: dict, parts: dict[str, dict] | None = None) -> Bars:
    """Bars from a distribution's bucket labels (:func:`llamacorpus.histogram.bucket_edges`), with
    ``parts`` (name -> distribution over the same buckets) as series on the same bars; ``dist``
    None draws the parts beside each other on their common buckets.

    Values spanning more than two decades above 1 (lengths, perplexities) are drawn on a log axis,
    where the buckets at or below 1 become one bar [0.5, 1]."""
    parts = parts or {}
    every = [d for d in [dist, *parts.values()] if d]
    labels = {label for d in every for label in d.get("histogram", {})}
    log_x = bool(labels) and _log_x(every)
    merged: dict[tuple[float, float], dict[str, int]] = {}
    for label in labels:
        low, high = bucket_edges(label)
        if log_x and high <= 1:
            low, high = 0.5, 1.0
        cell = merged.setdefault((low, high), {})
        for name, d in [("", dist or {}), *parts.items()]:
            cell[name] = cell.get(name, 0) + d.get("histogram", {}).get(label, 0)
    edges = sorted(merged)
    counts = [merged[e][""] if dist else max(merged[e][n] for n in parts) for e in edges]
    return Bars([lo for lo, _ in edges], [hi for _, hi in edges], counts, log_x,
                {name: [merged[e][name] for e in edges] for name in parts})


OUTCOMES = ("kept", "dropped")


def outcome_parts(dist: dict) -> dict[str, dict]:
    """The distribution's ``by_outcome`` split (kept, dropped) when the step measured both kinds."""
    by = dist.get("by_outcome") or {}
    return {o: by[o] for o in OUTCOMES if o in by}


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
            # lengths of what is read or written: the source's own keys only (the classifier's
            # max_chars, text it reads per page, is no threshold on documents)
            if value and not (step in WHOLE_DOCUMENT_STEPS and "." in key):
                out.append(Threshold(f"{key} = {value:g}", float(value)))
    return out


WHOLE_DOCUMENT_STEPS = ("input", "output")


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


def line_dedup_reports(run: dict, source: str) -> list[tuple[str, dict]]:
    """Line dedup's per-dump reports (``stats/line_dedup.json``: lines removed under each scope)."""
    return [(n, r) for n, r in step_reports_of(run, source)
            if isinstance(r.get("dumps"), dict) and isinstance(r.get("scopes"), list)]


# ---------------------------------------------------------------------------- categories

def categories(run: dict, source: str, field: str) -> dict[str, dict[str, int]]:
    """Documents per value of ``field`` (``license``, ``site``, ``bucket``...), as columns:
    ``{column: {value: documents}}``, from ``run["categories"]``, drop reasons ``<field>=<value>``
    and extra step counters ``<name>=<value>`` whose name mentions the field."""
    columns: dict[str, dict[str, int]] = {}
    normal = _normal_license if field == "license" else (lambda v: v)
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
    return {name: _merge_values(column, normal) for name, column in columns.items()}


def _normal_license(value: str) -> str:
    """A licence value as its SPDX id (``gpl-2.0`` and ``GPL-2.0`` are one); ``none``/``other`` as they are."""
    return value if value in ("none", "other", OTHER) else (spdx_of(value.replace("_or_", " OR ")) or value)


def _merge_values(column: dict[str, int], normal) -> dict[str, int]:
    out: dict[str, int] = {}
    for value, n in column.items():
        key = normal(value)
        out[key] = out.get(key, 0) + n
    return out


OTHER = "(other)"  # the values past the top ones, summed (llamacorpus.pipeline.stats.OTHER)


def category_table(columns: dict[str, dict[str, int]], top: int | None = None, by: list[str] | None = None
                   ) -> tuple[list[str], list[tuple[str, list[int | None]]]]:
    """(column names, rows of (value, counts per column)) sorted by the largest count (with ``by``:
    by those columns' counts in turn); with ``top``, the first ``top`` values, then the others
    summed as :data:`OTHER`. The values summed upstream (:data:`OTHER`) come last."""
    names = list(columns)

    def order(v):
        counts = [-columns[n].get(v, 0) for n in by] if by else [-max(c.get(v, 0) for c in columns.values())]
        return (v == OTHER, *counts, v)

    rows = [(v, [columns[n].get(v) for n in names]) for v in sorted({v for c in columns.values() for v in c}, key=order)]
    named = [r for r in rows if r[0] != OTHER]
    if top is not None and len(named) > top:
        rest = named[top:] + [r for r in rows if r[0] == OTHER]
        rows = named[:top] + [(OTHER, [sum(r[1][i] or 0 for r in rest) or None for i in range(len(names))])]
    return names, rows


DOMAIN_FIELD = "domain"


def top_domains(run: dict, source: str, top: int = 25) -> tuple[list[str], list[tuple[str, list[int | None]]]]:
    """Documents per registered domain (read, and kept at the output), the ``top`` largest by
    documents out (then read), then the rest as :data:`OTHER`; as Dolma's per-domain counts."""
    columns = categories(run, source, DOMAIN_FIELD)
    names = sorted(columns, key=lambda k: (k != "output", k))
    return category_table({n: columns[n] for n in names}, top, by=names)


# ---------------------------------------------------------------------------- formatting

SIGNIFICANT = 4


def number(value: float | int | None) -> str:
    """One format for every number in a table: positional, never an exponent; integers and
    values of 1,000 or more as whole numbers grouped by thousands (``144,601``, ``430,913``);
    smaller floats to :data:`SIGNIFICANT` significant digits, trailing zeros dropped (``52.37``,
    ``0.8458``, ``0.25``, ``1``, ``0.00001234``)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    text = numpy.format_float_positional(value, precision=SIGNIFICANT, unique=False, fractional=False, trim="-")
    return f"{round(value):,}" if abs(float(text)) >= 1000 else text


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


# ---------------------------------------------------------------------------- checks and warnings

MIXTURE_TOLERANCE_PP = 0.5  # the mixture contract's default (stats/mixture.json "tolerance_pp")


@dataclasses.dataclass
class MixtureCheck:
    """One planned source's realised share against its target. ``status`` is ``ok``, ``absent``
    (planned, no tokens in the shards), ``off_target`` (off by more than the tolerance) or
    ``None`` when the shards are not written."""

    source: str
    status: str | None
    target_share: float
    realised_share: float | None
    tolerance_pp: float

    @property
    def ok(self) -> bool | None:
        return None if self.status is None else self.status == "ok"

    @property
    def off_by_pp(self) -> float | None:
        return None if self.realised_share is None else 100 * (self.realised_share - self.target_share)

    def describe(self) -> str:
        if self.status == "absent":
            return f"planned {percent(self.target_share)} of the tokens, absent from the shards"
        if self.status == "off_target":
            return (f"realised {percent(self.realised_share, 2)} against a target of {percent(self.target_share, 2)} "
                    f"({self.off_by_pp:+.2f} pp; tolerance {self.tolerance_pp:g} pp)")
        return "within tolerance" if self.status == "ok" else "not realised yet (no shards)"


def _derived_status(row: dict, realised: bool, tolerance_pp: float) -> str | None:
    if not realised:
        return None
    planned = (row.get("target_share") or 0) > 0 or (row.get("planned_tokens") or 0) > 0
    if not planned:
        return "ok"
    if not row.get("realised_tokens"):
        return "absent"
    off = abs(100 * ((row.get("realised_share") or 0.0) - (row.get("target_share") or 0.0)))
    return "off_target" if off > tolerance_pp else "ok"


def mixture_checks(run: dict) -> tuple[list[MixtureCheck], bool | None]:
    """Each mixture row's status and the mixture's: the fields of the mixture contract
    (``status``, ``ok``, ``tolerance_pp`` written by the mix stage) where present, else derived
    from the planned and realised shares with a :data:`MIXTURE_TOLERANCE_PP` tolerance."""
    mix = run.get("mixture") or {}
    tolerance = float(mix.get("tolerance_pp", MIXTURE_TOLERANCE_PP))
    realised = "realised_tokens" in mix
    checks = []
    for row in mix.get("sources") or []:
        status = row["status"] if "status" in row else _derived_status(row, realised, tolerance)
        checks.append(MixtureCheck(row["source"], status, float(row.get("target_share") or 0.0),
                                   row.get("realised_share"), tolerance))
    if not checks or not realised:
        return checks, None
    overall = mix["ok"] if isinstance(mix.get("ok"), bool) else all(c.ok for c in checks)
    return checks, overall


@dataclasses.dataclass
class Warning:
    """Something the run did not do as the recipe planned; ``kind`` is ``mixture`` or
    ``untrained_model``."""

    kind: str
    source: str
    message: str
    section: str  # the report subsection that shows it


def untrained_models(run: dict, source: str | None = None) -> list[tuple[str, dict]]:
    """``(name, report)`` of the step reports that say ``trained: false`` (a model that could not be
    trained, as the Wikipedia-reference classifier with too few positives)."""
    return [(n, r) for n, r in sorted((run.get("step_reports") or {}).items())
            if isinstance(r, dict) and r.get("trained") is False and source in (None, r.get("source"))]


def untrained_message(name: str, rep: dict) -> str:
    what = "the Wikipedia-reference classifier" if "classifier" in name else f"the model of stats/{name}.json"
    why = rep.get("message") or rep.get("reason") or "no reason given"
    return (f"{what} was not trained ({rep.get('reason', 'untrained')}): {why}; "
            "its pages passed unscored")


def warnings(run: dict) -> list[Warning]:
    """Every warning of the run, in source order: untrained models, then mixture failures."""
    out = []
    for name, rep in untrained_models(run):
        source = rep.get("source", "")
        out.append(Warning("untrained_model", source, untrained_message(name, rep), f"{source}-classifier"))
    checks, _ = mixture_checks(run)
    for c in checks:
        if c.ok is False:
            out.append(Warning("mixture", c.source, c.describe(), "mixture"))
    order = {s: i for i, s in enumerate(SOURCES)}
    return sorted(out, key=lambda w: (order.get(w.source, len(order)), w.kind))
