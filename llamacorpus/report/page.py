"""The report page: one self-contained HTML file (inline CSS, plots as SVG ``data:`` URIs, no
script, no external resource).

Every section has a stable id, listed in :data:`RUN_SECTIONS` and :func:`source_section_ids`, so
links, tests and users can point at it; numeric table cells carry the exact figure from run.json
in ``data-value``, and the shown figure is in one format for every table (:func:`llamacorpus.report.
data.number`: ``144,601``, ``52.37``, ``0.8458``, percentages for shares; never an exponent or a
unit suffix). Everything taken from the data (reasons, ids, text of dropped documents, meta) is
HTML-escaped. The run's warnings (a planned source absent from the shards or off its target, an
untrained classifier) open the page, in the colour of a failure, and repeat in their sections.

Text uses a font stack with CJK fallbacks (Noto Sans CJK, WenQuanYi, the platform's own), so
Chinese or Japanese page text in samples renders where such a font is installed; the plots
have the same fallback (:mod:`.plots`).
"""
from __future__ import annotations

import html
import json
import re
from typing import Any, Iterable, Sequence

from llamacorpus.report import data as rd
from llamacorpus.report import plots

RUN_SECTIONS = ("summary", "warnings", "toc", "overview", "mixture")
SOURCE_SUBSECTIONS = ("funnel", "lengths", "languages", "perplexity", "classifier", "scores", "dedup", "licenses",
                      "sites", "domains", "kept", "dropped", "errors")
#: subsections shown for a source even when this run has no data for them ("not in this run")
EXPECTED = {"perplexity": ("commoncrawl",), "classifier": ("commoncrawl",), "licenses": ("github",),
            "sites": ("stackexchange",), "domains": ("commoncrawl", "c4")}
TOP_DOMAINS = 25
PERPLEXITY_FIELDS = ("perplexity",)
CLASSIFIER_FIELDS = ("wiki_prob",)
LANGUAGE_FIELDS = ("language_score",)
SAMPLE_TEXT_CHARS = 1500
META_VALUE_CHARS = 160

CSS = """
:root { --ink:#1f2933; --muted:#616e7c; --line:#d9e2ec; --soft:#f5f7fa; --accent:#3b6ea8; --warn:#b44d12; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,
       "Noto Sans CJK SC","Noto Sans CJK JP","Source Han Sans SC","WenQuanYi Micro Hei","WenQuanYi Zen Hei",
       "PingFang SC","Hiragino Sans","Microsoft YaHei","Malgun Gothic",sans-serif;
       color:var(--ink); background:#fff; }
header.top { background:#243b53; color:#fff; padding:22px 32px 18px; }
header.top h1 { margin:0 0 4px; font-size:24px; font-weight:600; }
header.top p { margin:2px 0; color:#d9e2ec; }
main { max-width:1180px; margin:0 auto; padding:8px 32px 48px; }
h2 { font-size:20px; border-bottom:2px solid var(--line); padding-bottom:4px; margin-top:36px; }
h3 { font-size:16px; margin:26px 0 8px; color:#243b53; }
h4 { font-size:14px; margin:16px 0 6px; }
a { color:var(--accent); text-decoration:none; } a:hover { text-decoration:underline; }
dl.facts { display:grid; grid-template-columns:max-content 1fr max-content 1fr; gap:4px 18px; margin:14px 0; }
dl.facts dt { color:var(--muted); } dl.facts dd { margin:0; font-variant-numeric:tabular-nums; }
table { border-collapse:collapse; margin:8px 0 12px; font-size:13px; }
th, td { padding:4px 8px; border-bottom:1px solid var(--line); text-align:left; vertical-align:top; }
th { background:var(--soft); font-weight:600; vertical-align:bottom; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
td.num { white-space:nowrap; }
tr.total td { font-weight:600; border-top:2px solid var(--line); }
.scroll { overflow-x:auto; }
nav.toc ol { columns:2; column-gap:40px; margin:8px 0; padding-left:20px; }
nav.toc ol ol { columns:1; font-size:13px; padding-left:16px; }
figure { margin:10px 0 16px; } figure img { max-width:100%; height:auto; display:block; }
figcaption { color:var(--muted); font-size:12px; margin-top:2px; }
p.absent { color:var(--muted); font-style:italic; background:var(--soft); border-left:3px solid var(--line);
           padding:6px 10px; margin:6px 0; }
p.note { color:var(--warn); margin:4px 0; }
.sample { border:1px solid var(--line); border-radius:4px; margin:8px 0; }
.sample .head { background:var(--soft); padding:4px 8px; font-size:12px; color:var(--muted); word-break:break-all; }
.sample pre { margin:0; padding:8px; max-height:14em; overflow:auto; white-space:pre-wrap; word-break:break-word;
              font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,"Noto Sans Mono CJK SC",
                   "WenQuanYi Micro Hei Mono","WenQuanYi Micro Hei",monospace; }
.reason { margin:14px 0 4px; } .reason code { font-size:13px; }
code { background:var(--soft); padding:0 3px; border-radius:3px; }
.ok { color:#1e7e34; } .bad { color:#b3261e; font-weight:600; }
td.bad { background:#fdecea; white-space:nowrap; }
div.warnings { border:1px solid #f1b0aa; border-left:4px solid #b3261e; background:#fdecea; padding:6px 12px;
               margin:14px 0; }
div.warnings ul { margin:4px 0; padding-left:20px; } p.warning { color:#b3261e; font-weight:600; margin:6px 0; }
section.source { border-top:4px solid var(--accent); margin-top:40px; }
"""


# ---------------------------------------------------------------------------- small pieces

def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-") or "x"


def num(value: float | int | None, text: str | None = None) -> str:
    """A numeric cell: the exact value in ``data-value``, a readable one shown."""
    if value is None:
        return '<td class="num" data-value="">–</td>'
    shown = text if text is not None else rd.number(value)
    return f'<td class="num" data-value="{esc(value)}">{esc(shown)}</td>'


def table(headers: Sequence[str], rows: Iterable[str], table_id: str = "", text: Sequence[int] = (0,)) -> str:
    """``rows`` are ready ``<tr>`` contents; the headers of columns not in ``text`` are right-aligned
    over their numbers."""
    ident = f' id="{esc(table_id)}"' if table_id else ""
    head = "".join(f'<th{"" if i in text else " class=num"}>{esc(h)}</th>' for i, h in enumerate(headers))
    return f'<div class="scroll"><table{ident}><thead><tr>{head}</tr></thead><tbody>' + \
        "".join(rows) + "</tbody></table></div>"


def absent(what: str) -> str:
    return f'<p class="absent">Not in this run: {what}</p>'


def figure(uri: str, alt: str, caption: str = "") -> str:
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f'<figure><img class="plot" src="{uri}" alt="{esc(alt)}">{cap}</figure>'


def section(ident: str, title: str, body: str, level: int = 3) -> str:
    return f'<section id="{esc(ident)}"><h{level}>{esc(title)}</h{level}>{body}</section>'


def sub_id(source: str, part: str) -> str:
    return f"{source}-{part}"


def source_section_ids(source: str, run: dict) -> list[str]:
    """The ids of a source's section and of the subsections the page shows for it."""
    return [f"source-{source}"] + [sub_id(source, p) for p in shown_subsections(run, source)]


# ---------------------------------------------------------------------------- distributions

def distribution_summary(dist: dict) -> str:
    parts = [f"{dist['count']:,} values", f"mean {rd.number(dist['mean'])}" if dist.get("mean") is not None else ""]
    for label, q in (("p10", 0.1), ("median", 0.5), ("p90", 0.9)):
        v = rd.quantile(dist, q)
        if v is not None:
            parts.append(f"{label} {rd.number(v)}")
    if dist.get("min") is not None:
        parts.append(f"min {rd.number(dist['min'])}, max {rd.number(dist['max'])}")
    by = rd.outcome_parts(dist)
    if by:
        parts.append(", ".join(f"{o} {d['count']:,}" for o, d in by.items()))
    return " · ".join(p for p in parts if p)


INPUT_LABEL, OUTPUT_LABEL = "as read (input)", "written (output)"


def distribution_figure(run: dict, source: str, key: str, dist: dict, beside: tuple[str, dict] | None = None) -> str:
    """A histogram of ``<source>/<key>`` with its thresholds, kept and dropped documents stacked
    where the step measured both, and its summary table; ``beside`` = ``(key, distribution)`` of
    the input lengths, drawn beside these (output) ones on the same buckets."""
    step, _, field = key.rpartition("/")
    full = f"{source}/{key}"
    lines = rd.thresholds(run, source, step, field)
    if not dist.get("count"):
        return absent(f"<code>{esc(full)}</code> has no values")
    if beside:
        bars = rd.histogram_bars(None, {INPUT_LABEL: beside[1], OUTPUT_LABEL: dist})
        uri = plots.histogram_plot(bars, field, lines, stacked=False)
    else:
        parts = rd.outcome_parts(dist)
        bars = rd.histogram_bars(dist, {f"{o} by {step}": d for o, d in parts.items()})
        uri = plots.histogram_plot(bars, f"{field} ({step})", lines)
    out = (f'<div class="dist" id="dist-{slug(full)}" data-key="{esc(full)}">'
           + figure(uri, f"histogram of {full}", f"<code>{esc(full)}</code>: {esc(distribution_summary(dist))}")
           + distribution_table(dist))
    if beside:
        in_full = f"{source}/{beside[0]}"
        out += (f'<div class="dist" id="dist-{slug(in_full)}" data-key="{esc(in_full)}"><p><code>{esc(in_full)}</code> '
                f"(drawn beside the output above: the documents as the reader made them, before the steps): "
                f"{esc(distribution_summary(beside[1]))}</p>" + distribution_table(beside[1], "input") + "</div>")
    return out + "</div>"


def distribution_table(dist: dict, label: str = "all") -> str:
    """count, mean, min, quantiles, max; then count, mean, min and max per outcome (kept, dropped)."""
    cells = [f"<td>{esc(label)}</td>", num(dist.get("count")), num(dist.get("mean")), num(dist.get("min"))]
    cells += [num(rd.quantile(dist, q)) for q in (0.1, 0.5, 0.9)]
    cells += [num(dist.get("max"))]
    rows = [f'<tr data-outcome="{esc(label)}">' + "".join(cells) + "</tr>"]
    for outcome, d in rd.outcome_parts(dist).items():
        rows.append(f'<tr data-outcome="{esc(outcome)}"><td>{esc(outcome)}</td>' + num(d.get("count")) + num(d.get("mean"))
                    + num(d.get("min")) + num(None) * 3 + num(d.get("max")) + "</tr>")
    return table(["documents", "count", "mean", "min", "p10", "median", "p90", "max"], rows)


def fields_of(run: dict, source: str) -> dict[str, dict]:
    return rd.distributions_of(run, source)


def classify_distribution(key: str, dedup_steps: set[str]) -> str:
    step, _, field = key.rpartition("/")
    if field in rd.LENGTH_FIELDS and step in ("output", "input"):
        return "lengths"
    if field in PERPLEXITY_FIELDS:
        return "perplexity"
    if field in CLASSIFIER_FIELDS:
        return "classifier"
    if field in LANGUAGE_FIELDS:
        return "languages"
    if step in dedup_steps:
        return "dedup"
    return "scores"


def grouped_distributions(run: dict, source: str) -> dict[str, list[tuple[str, dict]]]:
    dedup = {d.step for d in rd.dedup_steps(run["sources"][source])}
    groups: dict[str, list[tuple[str, dict]]] = {}
    for key, dist in fields_of(run, source).items():
        groups.setdefault(classify_distribution(key, dedup), []).append((key, dist))
    return groups


# ---------------------------------------------------------------------------- which subsections

def shown_subsections(run: dict, source: str) -> list[str]:
    """Every source shows the common subsections; perplexity, classifier, licences and sites show
    where they are expected (see :data:`EXPECTED`) or where the run has their data."""
    groups = grouped_distributions(run, source)
    present = {
        "domains": bool(rd.categories(run, source, rd.DOMAIN_FIELD)),
        "scores": bool(groups.get("scores")),
        "perplexity": bool(groups.get("perplexity")) or bool(rd.categories(run, source, "bucket")),
        "classifier": bool(groups.get("classifier")) or bool(rd.untrained_models(run, source)),
        "licenses": bool(rd.categories(run, source, "license")),
        "sites": bool(rd.categories(run, source, "site")),
    }
    return [p for p in SOURCE_SUBSECTIONS if p not in present or present[p] or source in EXPECTED.get(p, ())]


# ---------------------------------------------------------------------------- run-level sections

def summary_header(run: dict, output: str) -> str:
    info, recipe = run.get("run", {}), run.get("recipe", {})
    name = recipe.get("name") or "llamacorpus run"
    desc = f"<p>{esc(recipe['description'])}</p>" if recipe.get("description") else ""
    return (f'<header class="top" id="summary"><h1>{esc(name)}: run report</h1>{desc}'
            f"<p>{esc(output)}</p></header>")


def summary_facts(run: dict) -> str:
    info, totals, mix = run.get("run", {}), run.get("totals", {}), run.get("mixture") or {}
    facts = [
        ("started", info.get("started", "–")), ("duration", f"{info.get('seconds', 0):,.1f} s"),
        ("runner", info.get("runner", "–")), ("version", info.get("version", "–")),
        ("stages", ", ".join(info.get("stages") or []) or "–"), ("recipe hash", run.get("recipe_hash", "–")),
        ("sources built", ", ".join(info.get("sources_built") or []) or "–"),
        ("sources reused", ", ".join(info.get("sources_reused") or []) or "–"),
        ("records read", f"{totals.get('records_read', 0):,}"),
        ("documents in → out", f"{totals.get('documents_in', 0):,} → {totals.get('documents_out', 0):,}"),
        ("bytes in → out", f"{rd.human(totals.get('bytes_in', 0), 'B')} → {rd.human(totals.get('bytes_out', 0), 'B')}"),
        ("tokens in the shards", f"{mix['realised_tokens']:,}" if "realised_tokens" in mix else "–"),
    ]
    return '<dl class="facts" id="summary-facts">' + "".join(
        f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts) + "</dl>"


def warnings_box(run: dict) -> str:
    """The run's warnings, each linking to the section that shows it; "no warnings" when none."""
    found = rd.warnings(run)
    if not found:
        return '<section id="warnings"><p class="ok">No warnings: every planned source is in the mixture within ' \
               'tolerance (or the mix stage did not run) and every model the steps needed was trained.</p></section>'
    items = "".join(f'<li data-kind="{esc(w.kind)}" data-source="{esc(w.source)}"><a href="#{esc(w.section)}">'
                    f"{esc(w.source)}</a>: {esc(w.message)}</li>" for w in found)
    return (f'<section id="warnings"><div class="warnings"><p class="warning">{len(found)} warning'
            f'{"s" if len(found) > 1 else ""}</p><ul>{items}</ul></div></section>')


def status_cell(check: "rd.MixtureCheck | None") -> str:
    """A mixture verdict: ok in green, absent / off target in red, "–" before the shards exist."""
    if check is None or check.status is None:
        return "<td>–</td>"
    if check.ok:
        return '<td class="ok" data-status="ok">ok</td>'
    word = "absent" if check.status == "absent" else "off target" if check.status == "off_target" else check.status
    if check.status == "off_target" and check.off_by_pp is not None:
        word += f" ({check.off_by_pp:+.2f} pp)"
    return f'<td class="bad" data-status="{esc(check.status)}" title="{esc(check.describe())}">{esc(word)}</td>'


def toc(run: dict) -> str:
    items = ['<li><a href="#warnings">Warnings</a></li>', '<li><a href="#overview">Sources at a glance</a></li>',
             '<li><a href="#mixture">Mixture</a></li>']
    for source in rd.source_names(run):
        subs = "".join(f'<li><a href="#{sub_id(source, p)}">{esc(TITLES[p])}</a></li>'
                       for p in shown_subsections(run, source))
        items.append(f'<li><a href="#source-{esc(source)}">{esc(source)}</a><ol>{subs}</ol></li>')
    return f'<nav class="toc" id="toc"><h2>Contents</h2><ol>{"".join(items)}</ol></nav>'


OVERVIEW_HEADERS = ("source", "records read", "documents in", "documents out", "kept", "tokens in (≈)", "tokens out",
                    "bytes in", "bytes out", "errors", "target share", "realised share", "mixture")


def overview(run: dict) -> str:
    rows = rd.source_rows(run)
    if not rows:
        return section("overview", "Sources at a glance", absent("no source was built or reused"), 2)
    checks, overall = rd.mixture_checks(run)
    by_source = {c.source: c for c in checks}
    trs = []
    for r in rows:
        trs.append(f'<tr data-source="{esc(r.source)}"><td><a href="#source-{esc(r.source)}">{esc(r.source)}</a></td>'
                   + num(r.records_read) + num(r.documents_in) + num(r.documents_out)
                   + num(r.kept_fraction, rd.percent(r.kept_fraction))
                   + num(r.tokens_in_estimate, "≈" + rd.number(r.tokens_in_estimate) if r.tokens_in_estimate else "–")
                   + num(r.tokens_out) + num(r.bytes_in) + num(r.bytes_out) + num(r.errors)
                   + num(r.target_share, rd.percent(r.target_share)) + num(r.realised_share, rd.percent(r.realised_share))
                   + status_cell(by_source.get(r.source)) + "</tr>")
    t = run.get("totals", {})
    tokens = [r.tokens_out for r in rows if r.tokens_out is not None]
    total_kept = rd.kept_fraction(t.get("records_read", 0), t.get("documents_out", 0))
    trs.append('<tr class="total" data-source=""><td>total</td>' + num(t.get("records_read")) + num(t.get("documents_in"))
               + num(t.get("documents_out")) + num(total_kept, rd.percent(total_kept)) + "<td></td>"
               + num(sum(tokens) if tokens else None) + num(t.get("bytes_in")) + num(t.get("bytes_out"))
               + num(sum(r.errors for r in rows)) + "<td></td><td></td>" + overall_cell(overall) + "</tr>")
    note = ("<p>Kept: documents out of the records read (what the reader dropped, a redirect or a post that is not a "
            "question or answer, counts as not kept). Tokens out: the cleaned documents as the mix stage encoded "
            "them (training split plus the held-out validation documents, BOS/EOS included). Tokens in are an "
            "estimate (≈): characters in at the source's tokens per character after cleaning. Shares: of the final "
            "mixture's tokens (see <a href=\"#mixture\">Mixture</a>); a planned source absent from the shards or "
            "off its target share by more than the tolerance is a failure.</p>")
    if not tokens:
        note += absent("token counts: the mix stage did not run (<code>--stages documents</code> or "
                       "<code>mixture.enabled: false</code>)")
    return section("overview", "Sources at a glance", table(OVERVIEW_HEADERS, trs, "overview-table") + note, 2)


MIXTURE_HEADERS = ("source", "available tokens", "proportion", "target share", "epochs", "planned tokens",
                   "planned share", "rate", "realised tokens", "realised documents", "realised share", "status")


def overall_cell(ok: bool | None) -> str:
    if ok is None:
        return "<td>–</td>"
    return '<td class="ok" data-status="ok">ok</td>' if ok else '<td class="bad" data-status="failed">failed</td>'



def mixture(run: dict) -> str:
    mix = run.get("mixture") or {}
    rows = mix.get("sources") or []
    if not rows:
        return section("mixture", "Mixture: plan and realised", absent(
            "the mixture plan (the mix stage did not run: <code>--stages documents</code> or "
            "<code>mixture.enabled: false</code>)"), 2)
    realised = "realised_tokens" in mix
    checks, overall = rd.mixture_checks(run)
    by_source = {c.source: c for c in checks}
    trs = []
    for r in rows:
        trs.append(f'<tr data-source="{esc(r["source"])}"><td>{esc(r["source"])}</td>' + num(r["available_tokens"])
                   + num(r["proportion"], rd.percent(r["proportion"])) + num(r["target_share"], rd.percent(r["target_share"]))
                   + num(r["epochs"]) + num(r["planned_tokens"])
                   + num(r["planned_share"], rd.percent(r["planned_share"])) + num(r["rate"])
                   + num(r.get("realised_tokens")) + num(r.get("realised_documents"))
                   + num(r.get("realised_share"), rd.percent(r.get("realised_share")))
                   + status_cell(by_source.get(r["source"])) + "</tr>")
    trs.append('<tr class="total" data-source=""><td>total</td>' + num(sum(r["available_tokens"] for r in rows))
               + "<td></td>" * 3 + num(mix.get("planned_tokens")) + "<td></td><td></td>" + num(mix.get("realised_tokens"))
               + num(sum(r.get("realised_documents", 0) for r in rows) if realised else None) + "<td></td>"
               + overall_cell(overall) + "</tr>")
    tolerance = checks[0].tolerance_pp if checks else rd.MIXTURE_TOLERANCE_PP
    shown = [r for r in rows if r["target_share"] or r.get("realised_share")]
    uri = plots.mixture_plot([r["source"] for r in shown], [r["target_share"] for r in shown],
                             [r.get("realised_share", 0.0) for r in shown] if realised else None)
    notes = "".join(f'<p class="note">{esc(n)}</p>' for n in mix.get("notes", []))
    facts = [("total asked", f"{mix.get('total_tokens_asked', 0):,} (0: the largest the epochs allow)"),
             ("shortfall rule", mix.get("shortfall_rule", "–")), ("target tokens", f"{mix.get('target_tokens', 0):,}"),
             ("planned tokens", f"{mix.get('planned_tokens', 0):,}")]
    if realised:
        facts.append(("realised tokens", f"{mix['realised_tokens']:,}"))
    if mix.get("shards"):
        facts.append(("shards", f"{mix['shards'].get('train', 0)} training + {mix['shards'].get('validation', 0)} "
                                f"validation in {mix['shards'].get('directory', '')}"))
    if mix.get("validation", {}).get("written"):
        w = mix["validation"]["written"]
        facts.append(("validation", f"{w.get('documents', 0):,} documents, {w.get('tokens', 0):,} tokens"))
    if mix.get("tokenizer"):
        tok = mix["tokenizer"]
        facts.append(("tokenizer", f"{tok.get('vocab_size', '?'):,} pieces, {'given' if tok.get('given') else 'trained'}"
                                   f", sha256 {str(tok.get('sha256', ''))[:12]}"))
    facts.append(("status", ("–" if overall is None else "ok" if overall else "failed")
                  + f" (a planned source absent from the shards, or off its target share by more than {tolerance:g} "
                    "percentage points, fails)"))
    dl = '<dl class="facts">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts) + "</dl>"
    body = (dl + notes + table(MIXTURE_HEADERS, trs, "mixture-table")
            + figure(uri, "target against realised share per source",
                     "Target share (recipe proportions over the present sources) against the realised share of "
                     "the tokens written to the shards." if realised else "Target share (the shards are not written yet)."))
    return section("mixture", "Mixture: plan and realised", body, 2)


# ---------------------------------------------------------------------------- per-source sections

def funnel_section(run: dict, source: str) -> str:
    steps = rd.funnel(run["sources"][source])
    if not steps:
        return absent("no step counted anything for this source")
    trs = []
    for s in steps:
        drops = "<br>".join(f'<a href="#{sub_id(source, "dropped-" + slug(r))}">{esc(r)}</a>: {n:,}'
                            for r, n in sorted(s.dropped.items(), key=lambda kv: (-kv[1], kv[0]))) or "–"
        errors = "<br>".join(f'<a href="#{sub_id(source, "errors-" + slug(k))}">{esc(k)}</a>: {n:,}'
                             for k, n in sorted(s.errors.items())) or "–"
        extra = "<br>".join(f"{esc(k)}: {v:,}" for k, v in s.counters.items()) or "–"
        trs.append(f'<tr data-step="{esc(s.step)}"><td>{esc(s.step)}</td>' + num(s.documents_in) + num(s.kept)
                   + num(sum(s.dropped.values())) + f"<td>{drops}</td>" + num(sum(s.errors.values()))
                   + f"<td>{errors}</td>" + num(s.chars_in, None if s.step != "read" else "–")
                   + num(s.chars_out) + num(s.seconds, None if s.seconds is None else f"{s.seconds:.2f}")
                   + f"<td>{extra}</td></tr>")
    headers = ("step", "in", "kept", "dropped", "by reason", "errors", "by kind", "chars in", "chars out", "seconds",
               "other counters")
    return figure(plots.funnel_plot(steps), f"{source} funnel") + table(headers, trs, f"{source}-funnel-table",
                                                                        text=(0, 4, 6, 10))


def lengths_section(run: dict, source: str) -> str:
    """Lengths in characters, the documents as read beside those written, and in tokens (written)."""
    parts = []
    dists = rd.distributions_of(run, source)
    for field, unit in (("chars", "characters"), ("tokens", "tokens")):
        found = rd.length_distribution(run, source, field)
        if found is None:
            missing = ("the distribution <code>" + esc(source) + "/output/tokens</code> (token lengths per document, "
                       "from the mix stage's encoder)") if field == "tokens" else f"<code>{esc(source)}/output/chars</code>"
            parts.append(f"<h4>Length in {unit}</h4>" + absent(missing))
            continue
        key, dist = found
        input_key = f"input/{field}"
        beside = (input_key, dists[input_key]) if input_key in dists and dists[input_key].get("count") else None
        parts.append(f"<h4>Length in {unit}</h4>" + distribution_figure(run, source, key, dist, beside))
    return "".join(parts)


def language_table(run: dict, source: str, step: str | None = None, plot: bool = True) -> str:
    """Per language: the documents at ``step`` (the first step that saw languages), dropped there
    by reason, and kept at the end."""
    step, rows = rd.languages(run["sources"][source], step)
    if not rows:
        return ""
    reasons = sorted({r for row in rows for r in row.dropped})
    trs = [f'<tr data-language="{esc(r.language)}"><td>{esc(r.language)}</td>' + num(r.documents)
           + "".join(num(r.dropped.get(x, 0)) for x in reasons) + num(r.out) + "</tr>" for r in rows]
    out = figure(plots.language_plot(rows), f"{source} languages at {step}",
                 f"Documents per language at step <code>{esc(step)}</code>, kept and dropped there.") if plot else ""
    return out + table(["language", f"documents at {step}", *[f"dropped: {x}" for x in reasons], "documents out"],
                       trs, f"{source}-{slug(step)}-languages-table" if not plot else f"{source}-languages-table")


def languages_section(run: dict, source: str) -> str:
    out = language_table(run, source)
    dists = grouped_distributions(run, source).get("languages", [])
    if not out and not dists:
        return absent("per-language counts (no step of this source records <code>meta.language</code>)")
    return out + "".join(distribution_figure(run, source, key, dist) for key, dist in dists)


def distributions_section(run: dict, source: str, group: str, missing: str) -> str:
    dists = grouped_distributions(run, source).get(group, [])
    if not dists:
        return absent(missing)
    return "".join(distribution_figure(run, source, key, dist) for key, dist in dists)


def perplexity_section(run: dict, source: str) -> str:
    out = distributions_section(run, source, "perplexity", "the perplexity distribution "
                                f"(<code>{esc(source)}/&lt;step&gt;/perplexity</code>)")
    reports = rd.perplexity_cutoffs(run, source)
    if not reports:
        out += absent("the head/middle/tail cut-offs (a step report with <code>languages.&lt;lang&gt;.cutoffs</code>)")
    for name, rep in reports:
        trs = [f'<tr data-language="{esc(lang)}"><td>{esc(lang)}</td>' + num(e["cutoffs"][0]) + num(e["cutoffs"][1])
               + num(e.get("documents")) + "</tr>"
               for lang, e in sorted(rep["languages"].items()) if isinstance(e, dict) and len(e.get("cutoffs") or []) == 2]
        how = ", ".join(f"{k}: {json.dumps(rep[k])}" for k in ("cutoffs_from", "percentiles", "scoring", "keep_buckets")
                        if k in rep)
        out += (f"<h4>Cut-offs (<code>stats/{esc(name)}.json</code>)</h4><p>{esc(how)}</p>"
                + table(["language", "head below", "middle below (tail above)", "documents"], trs,
                        f"{source}-perplexity-cutoffs-table"))
    for step in run["sources"][source].get("steps", []):
        if "bucket" in step["step"] and step.get("by_language"):
            out += f"<h4>Buckets per language (step <code>{esc(step['step'])}</code>)</h4>" + \
                language_table(run, source, step["step"], plot=False)
    buckets = rd.categories(run, source, "bucket")
    if buckets:
        out += "<h4>Documents per bucket</h4>" + category_section(buckets, f"{source}-buckets-table", "bucket")
    return out


def classifier_section(run: dict, source: str) -> str:
    out = "".join(f'<p class="warning" id="{sub_id(source, "classifier-warning")}">warning: {esc(rd.untrained_message(n, r))}'
                  "</p>" for n, r in rd.untrained_models(run, source))
    out += distributions_section(run, source, "classifier", "the classifier score distribution "
                                 f"(<code>{esc(source)}/&lt;step&gt;/wiki_prob</code>)")
    for name, rep in rd.step_reports_of(run, source):
        heldout = rep.get("heldout") if isinstance(rep.get("heldout"), dict) else {}
        figures = {k: v for k, v in {**rep, **heldout}.items()
                   if k in ("threshold", "precision", "recall", "f1", "tp", "fp", "fn", "tn", "positives",
                            "negatives", "labelled_by")}
        if "precision" in figures or "recall" in figures:
            trs = [f'<tr data-figure="{esc(k)}"><td>{esc(k)}</td>'
                   + (num(v) if isinstance(v, (int, float)) else f"<td>{esc(v)}</td>") + "</tr>" for k, v in figures.items()]
            out += f"<h4>Held-out evaluation (<code>stats/{esc(name)}.json</code>)</h4>" + table(["figure", "value"], trs)
    return out


def category_section(columns: dict[str, dict[str, int]], table_id: str, what: str, top: int | None = None) -> str:
    names, rows = rd.category_table(columns, top)
    trs = [f'<tr data-value="{esc(v)}"><td>{esc(v)}</td>' + "".join(num(c) for c in counts) + "</tr>"
           for v, counts in rows]
    first = names[0]
    shown = rows[:25]
    uri = plots.stacked_bars([v for v, _ in shown], [(first, plots.KEPT, [c[0] or 0 for _, c in shown])],
                             f"documents per {what} ({first})")
    return figure(uri, f"documents per {what}") + table([what, *names], trs, table_id)


def domains_section(run: dict, source: str) -> str:
    """Documents per registered domain, read and written, the largest first (as Dolma's analysis)."""
    columns = rd.categories(run, source, rd.DOMAIN_FIELD)
    if not columns:
        return absent("documents per registered domain (needs <code>domain</code> in the source's category fields: "
                      f"<code>categories.{esc(source)}/output/domain</code>)")
    names, rows = rd.top_domains(run, source, TOP_DOMAINS)
    out_col = names.index("output") if "output" in names else 0
    total = sum((columns[names[out_col]] or {}).values())
    trs = [f'<tr data-value="{esc(v)}"><td>{esc(v)}</td>' + "".join(num(c) for c in counts)
           + num(counts[out_col] / total if total and counts[out_col] else None,
                 rd.percent(counts[out_col] / total, 2) if total and counts[out_col] else "–") + "</tr>"
           for v, counts in rows]
    distinct = {n: sum(1 for v in c if v != rd.OTHER) for n, c in columns.items()}
    note = (f"<p>Registered domains (Public Suffix List, ICANN section) of <code>meta.url</code>; "
            + ", ".join(f"{n:,} distinct at {esc(k)}" for k, n in distinct.items())
            + f"; the {TOP_DOMAINS} with most documents written, the rest summed as <code>{esc(rd.OTHER)}</code>.</p>")
    shown = [(v, c) for v, c in rows if v != rd.OTHER and c[out_col]]
    uri = plots.stacked_bars([v for v, _ in shown], [(names[out_col], plots.KEPT, [c[out_col] for _, c in shown])],
                             f"documents per registered domain ({names[out_col]})")
    return (note + (figure(uri, "documents per registered domain") if shown else "")
            + table(["domain", *names, "share of output"], trs, f"{source}-domains-table"))


def kept_section(source: str, kept: list[dict]) -> str:
    """A deterministic sample of kept documents (``samples/<source>/kept.jsonl``), beside the dropped ones."""
    if not kept:
        return absent(f"kept samples (no <code>samples/{esc(source)}/kept.jsonl</code>)")
    return (f"<p>{len(kept):,} of the documents written, chosen by the hash of their id (the same ones on every "
            "run):</p>" + "".join(sample_block(r) for r in kept))


def licenses_section(run: dict, source: str) -> str:
    columns = rd.categories(run, source, "license")
    if not columns:
        return absent("licence counts (files per licence: drop reasons <code>license=&lt;id&gt;</code> or "
                      f"<code>categories.{esc(source)}/&lt;step&gt;/license</code>)")
    out = category_section(columns, f"{source}-licenses-table", "license")
    if not any(not c.startswith("dropped at ") for c in columns):
        out += absent("files kept per licence (only the dropped ones are counted: needs "
                      f"<code>categories.{esc(source)}/output/license</code>)")
    return out


def sites_section(run: dict, source: str) -> str:
    columns = rd.categories(run, source, "site")
    if not columns:
        return absent("posts and documents per site (needs <code>categories."
                      f"{esc(source)}/read/site</code> and <code>categories.{esc(source)}/output/site</code>)")
    return category_section(columns, f"{source}-sites-table", "site")


def dedup_section(run: dict, source: str) -> str:
    steps = rd.dedup_steps(run["sources"][source])
    reports = rd.near_duplicate_reports(run, source)
    if not steps and not reports:
        return absent("deduplication (this source has no dedup step)")
    out = ""
    if steps:
        trs = []
        for d in steps:
            lines = d.lines
            removed = lines.get("lines_removed")
            frac = removed / lines["lines_in"] if removed is not None and lines.get("lines_in") else None
            trs.append(f'<tr data-step="{esc(d.step)}"><td>{esc(d.step)}</td>' + num(d.documents_in)
                       + num(sum(d.dropped.values())) + "<td>" + (", ".join(f"{esc(r)}: {n:,}" for r, n in d.dropped.items()) or "–")
                       + "</td>" + num(lines.get("lines_in")) + num(removed) + num(frac, rd.percent(frac))
                       + num(lines.get("lines_blank")) + num(lines.get("documents_emptied")) + "</tr>")
        out += table(["step", "documents in", "documents dropped", "reasons", "lines in", "lines removed",
                      "lines removed %", "blank lines", "documents emptied"], trs, f"{source}-dedup-table", text=(0, 3))
    for name, rep in rd.line_dedup_reports(run, source):
        out += line_dedup_by_dump(name, rep)
    for key, dist in grouped_distributions(run, source).get("dedup", []):
        out += distribution_figure(run, source, key, dist)
    for name, rep in reports:
        out += near_duplicates(name, rep)
    return out


def line_dedup_by_dump(name: str, rep: dict) -> str:
    """Per dump: lines in, and the lines each scope removes (– where the chosen scope cannot see it)."""
    scopes = rep.get("scopes", [])
    trs = []
    for dump, entry in [*rep.get("dumps", {}).items(), ("all dumps", rep.get("total", {}))]:
        lines_in, by = entry.get("lines_in"), entry.get("removed_by_scope", {})
        cells = ""
        for scope in scopes:
            removed = by.get(scope)
            frac = removed / lines_in if removed is not None and lines_in else None
            cells += num(removed) + num(frac, rd.percent(frac))
        trs.append(f'<tr data-dump="{esc(dump)}"><td>{esc(dump)}</td>' + num(entry.get("files"))
                   + num(entry.get("documents")) + num(lines_in) + cells + "</tr>")
    headers = ["dump", "files", "documents", "lines in"]
    for s in scopes:
        headers += [f"removed within {s}" + (" (chosen)" if s == rep.get("scope") else ""), "%"]
    return (f"<h4>Line dedup per dump (<code>stats/{esc(name)}.json</code>)</h4>"
            f"<p>Rule {esc(rep.get('rule', '?'))}, scope {esc(rep.get('scope', '?'))}: lines removed if hashes "
            "were shared within the whole run, one dump, or a group of files; – where the chosen scope's "
            "hash groups cannot measure it.</p>"
            + table(headers, trs, f"{slug(name)}-by-dump-table"))


def near_duplicates(name: str, rep: dict) -> str:
    measure = rep.get("measure", "")
    clusters = rep.get("clusters", [])
    pairs = rep.get("candidate_pairs", [])
    out = (f"<h4>Near-duplicate clusters (<code>stats/{esc(name)}.json</code>)</h4>"
           f"<p>{len(pairs):,} candidate pairs measured; duplicates: {esc(measure)} > {esc(rep.get('threshold', '?'))}; "
           f"{len(clusters):,} clusters, {len(rep.get('dropped', {})):,} documents dropped.</p>")
    dropped = rep.get("dropped", {})
    trs = []
    for c in clusters:
        for m in c.get("members", []):
            info = dropped.get(m)
            trs.append(f"<tr><td>{esc(c.get('representative', ''))}</td><td>{esc(m)}</td>"
                       + ("<td>kept</td>" + num(None) if info is None else
                          "<td>dropped</td>" + num(info.get("overlap"))) + "</tr>")
    if trs:
        out += table(["cluster (kept document)", "member", "verdict", f"{measure} with the kept one"], trs,
                     f"{slug(name)}-clusters-table", text=(0, 1, 2))
    ptrs = [f"<tr><td>{esc(p['a'])}</td><td>{esc(p['b'])}</td>" + num(p.get("containment"))
            + num(p.get("jaccard")) + f"<td>{'yes' if p.get('duplicate') else 'no'}</td></tr>"
            for p in sorted(pairs, key=lambda p: -p.get(measure, 0) if measure else 0)[:50]]
    if ptrs:
        more = f" (the 50 highest of {len(pairs):,})" if len(pairs) > 50 else ""
        out += f"<p>Measured overlaps of the candidate pairs{more}:</p>" + table(
            ["document a", "document b", "containment", "jaccard", "duplicate"], ptrs, f"{slug(name)}-pairs-table",
            text=(0, 1, 4))
    return out


def short_meta(meta: dict) -> str:
    parts = []
    for k, v in meta.items():
        text = json.dumps(v, ensure_ascii=False, default=str) if not isinstance(v, str) else v
        if len(text) > META_VALUE_CHARS:
            text = text[:META_VALUE_CHARS] + "…"
        parts.append(f"<b>{esc(k)}</b>: {esc(text)}")
    return "; ".join(parts)


def sample_block(record: dict) -> str:
    text = record.get("text") or ""
    cut = text[:SAMPLE_TEXT_CHARS] + ("\n…" if len(text) > SAMPLE_TEXT_CHARS else "")
    head = f"<b>{esc(record.get('id') or record.get('location') or '?')}</b> · {record.get('chars', len(text)):,} chars"
    if record.get("id") and record.get("location"):
        head += f" · {esc(record['location'])}"
    meta = short_meta(record.get("meta") or {})
    return (f'<div class="sample"><div class="head">{head}{"<br>" + meta if meta else ""}</div>'
            f"<pre>{esc(cut) if cut else '(no text)'}</pre></div>")


def dropped_section(run: dict, source: str, samples: dict[str, list[dict]], per_reason: int) -> str:
    reasons = rd.drop_reasons(run["sources"][source])
    if not reasons:
        return "<p>Nothing was dropped.</p>"
    out, seen = "", set()
    for step, reason, n in reasons:
        if reason in seen:
            continue
        seen.add(reason)
        steps = [s for s, r, _ in reasons if r == reason]
        total = sum(m for _, r, m in reasons if r == reason)
        got = samples.get(reason, [])[:per_reason]
        body = "".join(sample_block(r) for r in got) or absent(f"samples for <code>{esc(reason)}</code> "
                                                              f"(no <code>rejected/{esc(source)}/{esc(reason)}.jsonl</code>)")
        out += (f'<div class="reason" id="{sub_id(source, "dropped-" + slug(reason))}" data-reason="{esc(reason)}">'
                f"<h4><code>{esc(reason)}</code>: {total:,} documents at {esc(', '.join(steps))}"
                f"{f' (showing {len(got)})' if got else ''}</h4>{body}</div>")
    return out


def errors_section(run: dict, source: str, errors: dict[str, list[dict]], per_kind: int) -> str:
    kinds = run["sources"][source].get("errors", {})
    if not kinds:
        return "<p>No input failed.</p>"
    out = ""
    for key, n in kinds.items():
        step, _, kind = key.partition(":")
        got = [e for e in errors.get(kind, []) if e.get("step") in (step, None)][:per_kind]
        trs = [f"<tr><td>{esc(e.get('location', ''))}</td><td>{esc(e.get('message', ''))}</td></tr>" for e in got]
        out += (f'<div class="reason" id="{sub_id(source, "errors-" + slug(kind))}"><h4><code>{esc(key)}</code>: '
                f"{n:,}</h4>" + (table(["location", "message"], trs, text=(0, 1)) if trs else
                                 absent(f"error records in <code>errors/{esc(source)}/</code>")) + "</div>")
    return out


TITLES = {"funnel": "Funnel", "lengths": "Lengths", "languages": "Languages", "perplexity": "Perplexity buckets",
          "classifier": "Wikipedia-reference classifier", "scores": "Other scores", "dedup": "Deduplication",
          "licenses": "Licences", "sites": "Sites", "domains": "Top domains", "kept": "Kept documents (samples)",
          "dropped": "Dropped documents (samples)", "errors": "Errors"}


def source_section(run: dict, source: str, samples: dict, errors: dict, per_reason: int,
                   kept_samples: dict | None = None) -> str:
    s = run["sources"][source]
    kept = rd.percent(rd.kept_fraction(s["records_read"], s["documents_out"]))
    intro = (f"<p>{s['records_read']:,} records read from {s.get('files', 0):,} files; {s['documents_in']:,} "
             f"documents in, {s['documents_out']:,} out ({kept} of the records read kept); {s['chars_in']:,} → "
             f"{s['chars_out']:,} characters.</p>")
    builders = {
        "funnel": lambda: funnel_section(run, source),
        "lengths": lambda: lengths_section(run, source),
        "languages": lambda: languages_section(run, source),
        "perplexity": lambda: perplexity_section(run, source),
        "classifier": lambda: classifier_section(run, source),
        "scores": lambda: distributions_section(run, source, "scores", "other score distributions for this source"),
        "dedup": lambda: dedup_section(run, source),
        "licenses": lambda: licenses_section(run, source),
        "sites": lambda: sites_section(run, source),
        "domains": lambda: domains_section(run, source),
        "kept": lambda: kept_section(source, (kept_samples or {}).get(source, [])),
        "dropped": lambda: dropped_section(run, source, samples.get(source, {}), per_reason),
        "errors": lambda: errors_section(run, source, errors.get(source, {}), per_reason),
    }
    body = intro + "".join(section(sub_id(source, p), TITLES[p], builders[p]()) for p in shown_subsections(run, source))
    return f'<section class="source" id="source-{esc(source)}"><h2>{esc(source)}</h2>{body}</section>'


def page(run: dict, output: str, samples: dict, errors: dict, per_reason: int = 3, kept: dict | None = None) -> str:
    """The whole report page; ``samples`` (source -> reason -> records) and ``kept`` (source ->
    records) are the sampled dropped and kept documents, ``errors`` the failed inputs."""
    title = f"{(run.get('recipe') or {}).get('name') or 'llamacorpus'}: run report"
    body = (summary_header(run, output) + "<main>" + summary_facts(run) + warnings_box(run) + toc(run) + overview(run)
            + mixture(run)
            + "".join(source_section(run, s, samples, errors, per_reason, kept) for s in rd.source_names(run))
            + "</main>")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>{body}</body></html>\n")
