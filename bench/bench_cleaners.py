"""Worst-case seconds per KB of each cleaner (LaTeX, wikitext, HTML to text, licence headers) over
growing adversarial inputs, beside the typical case on the real fixtures.

Each case builds an input of N KB by repeating a hostile unit (an unclosed ``\\def\\q{``, a flat
run of unclosed ``{{a|``, HTML nested thousands deep...) and runs the cleaner's mapper on it as
the pipeline does (``LatexCleaner().map``, ``WikitextToText().map``, ``HtmlToText().map``,
``StripLicenseHeader().map``), median of ``--repeats`` runs. A linear cleaner shows the same s/KB
at every size; the exponent column is log(t_large / t_small) / log(N_large / N_small) (1: linear,
2: quadratic). A case whose run passes ``--max-seconds`` is not run at larger sizes. The outcome
column says what the mapper returned at the largest size (kept, dropped:<reason>,
error:<kind>), and units/char the work the cleaner counted against its budget
(llamacorpus.steps.clean.budget), where the code has one.

    python bench/bench_cleaners.py [--sizes 16,64,256] [--repeats 3] [--max-seconds 30] [--only latex,wikitext]

To measure the code before a change, run this file with PYTHONPATH pointing at that checkout
(``git archive <commit> llamacorpus | tar -x -C /tmp/old``; ``PYTHONPATH=/tmp/old``).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

from llamacorpus.document import make_document
from llamacorpus.steps import BadInput, Drop
from llamacorpus.steps.clean.html_text import HtmlToText
from llamacorpus.steps.clean.latex import LatexCleaner
from llamacorpus.steps.clean.license_header import StripLicenseHeader
from llamacorpus.steps.clean.wikitext import WikitextToText

try:  # the work budget, where the code under test has one
    from llamacorpus.steps.clean.budget import WorkMeter
except ImportError:  # pragma: no cover - older code
    WorkMeter = None

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
PAPER = "\\documentclass{article}\n%s\\begin{document}\n\\section{Introduction}\n"

#: cleaner -> case -> (head, repeated unit, tail)
CASES = {
    "latex": {
        "unclosed \\def\\q{ (issue 14)": (PAPER % "", "\\def\\q{ word ", ""),
        "unclosed \\def in the preamble": ("\\documentclass{article}\n", "\\def\\q{ word ", "\\begin{document}\\section{A}x"),
        "unclosed argument \\a{": (PAPER % "\\newcommand\\a[1]{#1}\n", "\\a{ word ", ""),
        "argument from below \\a x": (PAPER % "\\newcommand\\a{\\b}\\newcommand\\b[1]{(#1)}\n", "\\a x ", ""),
        "unclosed optional \\a[": (PAPER % "\\newcommand\\a[2][d]{#1#2}\n", "\\a[ w ", ""),
        "comment-only lines": (PAPER % "", "% a comment\n", ""),
        "\\verb without its delimiter": (PAPER % "", "\\verb+ \\verb! \\verb| ", ""),
        "\\section then spaces": (PAPER % "", "\\section" + " " * 60, ""),
        "\\long prefixes": (PAPER % "", "\\long", ""),
        "nested \\footnote{ in a title": ("\\documentclass{article}\\title{", "\\footnote{x} T ", "}\\begin{document}\\section{A}x"),
        "definitions inside a macro used often": (PAPER % ("\\newcommand\\a{" + "\\newcommand\\b{x}" * 200 + "}\n"), "\\a ", ""),
    },
    "wikitext": {
        "unclosed <ref> (issue 14)": ("", "x <ref>a ", ""),
        "unclosed <ref name=": ("", "x <ref name=", ""),
        "unclosed {{a|": ("", "w {{a|", ""),
        "unclosed [[a|": ("", "w [[a|", ""),
        "unclosed <div>": ("", "w <div>", ""),
        "unclosed <b>": ("", "w <b>", ""),
        "never-ended <x": ("", "w <x ", ""),
        "unclosed <nowiki>": ("", "w <nowiki>", ""),
        "unclosed [http://": ("", "w [http://x.org a ", ""),
        "unclosed {| tables": ("", "x\n{|\n", ""),
        "closed {{a|<div>}}": ("", "w {{a|<div>}}", ""),
        "closed [[a|<b>]]": ("", "w [[a|<b>]]", ""),
        "<div> nested deep": ("", "<div>", ""),
        "list lines": ("", "\n* item ", ""),
        "removed template then spaces": ("", "{{a}}" + " " * 40, "."),
    },
    "html": {
        "<div> nested deep (issue 14)": ("", "<div>", "deep text"),
        "<blockquote> nested deep": ("", "<blockquote>", "deep text"),
        "2000 levels deep, then text": ("<div>" * 2000, "word ", ""),
        "unclosed <b>": ("", "<b>x ", ""),
        "nested lists": ("", "<ul><li>x ", ""),
        "line breaks": ("", "<br>", "x"),
        "table cells": ("<table><tr>", "<td>c</td>", "</tr></table>"),
        "unclosed <script>": ("", "<script>x ", ""),
    },
    "license_header": {
        "one long comment run": ("", "# Copyright line of a licence header\n", "x = 1\n"),
        "unterminated block comment": ("/* Copyright 2020\n", " * text\n", ""),
        "many block comments": ("", "/* licence */\n", "int x;\n"),
    },
}
LANGUAGE = {"license_header": "Python"}


def mapper(cleaner: str):
    return {"latex": LatexCleaner, "wikitext": WikitextToText, "html": HtmlToText,
            "license_header": StripLicenseHeader}[cleaner]()


def document(cleaner: str, text: str, language: str | None = None) -> dict:
    source = {"latex": "arxiv", "wikitext": "wikipedia", "html": "stackexchange", "license_header": "github"}[cleaner]
    meta = {"location": "bench", "language": language or LANGUAGE.get(cleaner, "C")}
    return make_document(source, "bench/1", text, **meta)


def build(case: tuple[str, str, str], kb: int) -> str:
    head, unit, tail = case
    return head + unit * max(1, (kb * 1024 - len(head) - len(tail)) // len(unit)) + tail


def outcome(out) -> str:
    if isinstance(out, BadInput):
        return f"error:{out.kind}"
    if isinstance(out, Drop):
        return f"dropped:{out.reason}"
    return "kept" if out["text"].strip() else "kept, text empty"


def run_once(cleaner: str, doc: dict) -> tuple[float, str]:
    step = mapper(cleaner)
    started = time.perf_counter()
    out = step.map(doc)
    return time.perf_counter() - started, outcome(out)


def work_units(cleaner: str, text: str, language: str | None = None) -> float | None:
    """Work units per character the cleaner counts on ``text`` (None without a budget)."""
    if WorkMeter is None:
        return None
    from llamacorpus.steps.clean.budget import CleanerBudgetExceeded
    from llamacorpus.steps.clean.html_text import render_html
    from llamacorpus.steps.clean.latex import MacroExpansionError, clean_latex
    from llamacorpus.steps.clean.wikitext import WikitextError, wikitext_to_text

    meter = WorkMeter(1 << 62)
    try:
        if cleaner == "latex":
            clean_latex(text, meter=meter)
        elif cleaner == "wikitext":
            wikitext_to_text(text, meter=meter)
        elif cleaner == "html":
            render_html(text, meter)
        else:
            meter.spend(3 * len(text))
    except (CleanerBudgetExceeded, MacroExpansionError, WikitextError):
        pass
    return meter.used / max(1, len(text))


def bench_case(cleaner: str, name: str, case, sizes: list[int], repeats: int, max_seconds: float) -> dict:
    rows = []
    for kb in sizes:
        doc = document(cleaner, build(case, kb))
        times, result = [], ""
        for _ in range(repeats):
            seconds, result = run_once(cleaner, doc)
            times.append(seconds)
            if seconds > max_seconds:
                break
        median = statistics.median(times)
        rows.append({"kb": kb, "seconds": median, "s_per_kb": median / kb, "outcome": result})
        if median > max_seconds:
            break
    first, last = rows[0], rows[-1]
    exponent = (math.log(max(last["seconds"], 1e-6) / max(first["seconds"], 1e-6)) / math.log(last["kb"] / first["kb"])
                if len(rows) > 1 else float("nan"))
    units = work_units(cleaner, build(case, sizes[0]))
    return {"cleaner": cleaner, "case": name, "rows": rows, "exponent": exponent, "units_per_char": units,
            "stopped": len(rows) < len(sizes)}


def typical(cleaner: str) -> tuple[float, float | None, int]:
    """Median s/KB (and work units per character) over the real fixture documents of a cleaner."""
    texts = fixture_texts(cleaner)
    per_kb = []
    for text, language in texts:
        seconds, _ = run_once(cleaner, document(cleaner, text, language))
        per_kb.append(seconds / max(len(text.encode()) / 1024, 0.001))
    units = [work_units(cleaner, t, lang) for t, lang in texts]
    units = [u for u in units if u is not None]
    return statistics.median(per_kb), (statistics.median(units) if units else None), len(texts)


def fixture_texts(cleaner: str) -> list[tuple[str, str | None]]:
    if cleaner == "latex":
        from llamacorpus.sources.arxiv import SOURCE, ArxivConfig

        return [(next(iter(SOURCE.read(ArxivConfig(), f"{d}/")))["text"], None)
                for d in sorted((FIXTURES / "arxiv").iterdir()) if d.is_dir()]
    if cleaner == "wikitext":
        from llamacorpus.sources.wikipedia import Page, iter_pages

        return [(p.text, None) for p in iter_pages(str(FIXTURES / "wikipedia" / "enwiki-pages-articles1-shortened.xml.bz2"))
                if isinstance(p, Page) and p.ns == 0 and not p.is_redirect and len(p.text) > 1000][:40]
    if cleaner == "html":
        from lxml import etree

        bodies = []
        for _, row in etree.iterparse(str(FIXTURES / "stackexchange" / "beer.stackexchange.com-Posts.xml"), tag="row"):
            if len(row.get("Body", "")) > 200:
                bodies.append((row.get("Body"), None))
            row.clear()
        return bodies[:300]
    from llamacorpus.steps.filters.code_heuristics import language_of

    rows = [json.loads(line) for line in (FIXTURES / "github" / "github_sample.jsonl").read_text(encoding="utf-8").splitlines()]
    return [(r["content"], language_of(r["path"])) for r in rows if r.get("content") and language_of(r["path"])]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="16,64,256", help="input sizes in KB (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=30.0, help="a case stops growing past this")
    parser.add_argument("--only", default="", help="comma-separated cleaners (latex,wikitext,html,license_header)")
    parser.add_argument("--json", default="", help="also write the figures to this file")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    cleaners = [c for c in CASES if not args.only or c in args.only.split(",")]
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}; "
          f"python {sys.version.split()[0]}; sizes {sizes} KB; median of {args.repeats}")
    results, summary = [], {}
    for cleaner in cleaners:
        print(f"\n== {cleaner}")
        header = "".join(f"{f'{kb} KB s/KB':>14}" for kb in sizes)
        print(f"{'case':<42}{header}{'exponent':>10}{'units/char':>12}  outcome at the largest size")
        for name, case in CASES[cleaner].items():
            r = bench_case(cleaner, name, case, sizes, args.repeats, args.max_seconds)
            results.append(r)
            cells = "".join(f"{row['s_per_kb']:>14.5f}" for row in r["rows"]) + " " * 14 * (len(sizes) - len(r["rows"]))
            units = f"{r['units_per_char']:.1f}" if r["units_per_char"] is not None else "-"
            stop = f" (stopped: {r['rows'][-1]['seconds']:.1f} s at {r['rows'][-1]['kb']} KB)" if r["stopped"] else ""
            print(f"{name:<42}{cells}{r['exponent']:>10.2f}{units:>12}  {r['rows'][-1]['outcome']}{stop}")
        worst = max((r for r in results if r["cleaner"] == cleaner), key=lambda r: r["rows"][-1]["s_per_kb"])
        median, units, count = typical(cleaner)
        summary[cleaner] = {"worst_s_per_kb": worst["rows"][-1]["s_per_kb"], "worst_case": worst["case"],
                            "worst_kb": worst["rows"][-1]["kb"], "typical_s_per_kb": median,
                            "typical_units_per_char": units, "fixtures": count}
        print(f"worst: {worst['rows'][-1]['s_per_kb']:.5f} s/KB ({worst['case']}, {worst['rows'][-1]['kb']} KB); "
              f"typical: {median:.5f} s/KB median over {count} fixture documents"
              + (f", {units:.1f} units/char" if units is not None else ""))
    print("\nsummary (worst-case and typical seconds per KB):")
    for cleaner, s in summary.items():
        print(f"  {cleaner:<15} worst {s['worst_s_per_kb']:.5f} s/KB ({s['worst_case']} at {s['worst_kb']} KB)   "
              f"typical {s['typical_s_per_kb']:.5f} s/KB")
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "cases": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
