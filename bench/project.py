"""From bench/scale.py's measured rates to the real job, on paper (issue 15): the core-hours to
build LLaMA-1's corpus stage by stage, the shuffle bytes of each global step at that size, and
what that means on Dataflow.

    python bench/project.py --scale build/scale/scale-all-x1_4_16-w1_2.json \\
        [--cc build/scale/scale-commoncrawl-x64-w1.json] [--workers 500] [--vcpus 8] [--json FILE]

Every figure comes from a measured one: a source's CPU seconds per document (whole process
tree, at the largest factor, one worker), split into its stages by their busy seconds (the
adapter's micros counter; "global steps + Beam" is the rest of the source's CPU seconds), times
the real number of documents (:data:`REAL`, each with where it comes from), times the measured
linearity ratio where it is above 1 (cost per document grew by it between the smallest and the
largest factor: carried over once, as a penalty; no credit is taken where it fell). Common Crawl
rests on the x64 chain run when ``--cc`` is given. The mix stage rests on its measured CPU
seconds per input document, and its input is each source's real documents times the measured
share the source keeps. Shuffle bytes are scale.py's estimated bytes per item times the real
items (lines per page measured at the largest factor for line dedup). One vCPU is taken as one
core of the measuring machine.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import scale_math as sm  # noqa: E402

#: source -> (documents, unit, where the figure comes from). Assumptions, stated.
REAL = {
    "commoncrawl": (5 * 90_000 * 40_000, "pages",
                    "5 snapshots x ~90,000 WARC files x ~40,000 pages (issue 15; CC announces 2.5-3.5B pages "
                    "per 2017-2020 snapshot)"),
    "c4": (365_000_000, "documents", "c4/en: ~365M documents (Raffel et al. 2020; TFDS c4/en train 364.9M)"),
    "github": (280_000_000, "files", "BigQuery github_repos.contents: ~280M files (assumed; order of magnitude)"),
    "wikipedia": (29_000_000, "pages", "20 languages, mid-2022 article counts (List of Wikipedias: en 6.5M, "
                  "de 2.7M, sv 2.5M, fr 2.4M, nl 2.1M, ... sl 0.18M: ~29M articles)"),
    "books": (267_000, "books", "Gutenberg ~70k (2022) + Books3 ~197k books (issue 15)"),
    "arxiv": (2_100_000, "papers", "arXiv submissions to end 2022: ~2.1M (arXiv stats)"),
    "stackexchange": (29_000_000, "questions", "28 largest sites: stackoverflow ~23M questions + ~6M on the other 27 "
                      "(Stack Exchange data dump 2022; assumed)"),
}


def source_rows(source: str, run: dict, linearity: dict, real_docs: float, rests_on: str) -> list[dict]:
    """Projection rows of one source: its stages with busy seconds, then the rest of its CPU s."""
    s = run["sources"][source]
    docs = s["documents_in"] or 1
    penalty = linearity.get(f"{source}/(source, CPU s)")
    rows, busy = [], 0.0
    for st in s["stages"]:
        if st["busy_s"] is None or not st["in"]:
            continue
        busy += st["busy_s"]
        share_in = st["in"] / docs  # documents reaching the stage per document read
        per_core = st["in"] / st["busy_s"]
        lin = linearity.get(f"{source}/{st['stage']}")
        rows.append(projection_row(source, st["stage"], real_docs * share_in, per_core, lin,
                                   f"{rests_on}: {st['in']:,} docs in {st['busy_s']:.1f} busy s"))
    rest = max(s["cpu_s"] - busy, 0.0)
    if rest:
        rows.append(projection_row(source, "global steps + Beam", real_docs, docs / rest, penalty,
                                   f"{rests_on}: source CPU {s['cpu_s']:.1f} s - stages' {busy:.1f} s over {docs:,} docs"))
    return rows


def projection_row(source: str, stage: str, items: float, per_core_s: float, lin: float | None, rests_on: str) -> dict:
    return {"source": source, "stage": stage, "items": items, "per_core_s": per_core_s, "linearity": lin,
            "core_hours": sm.core_hours(items, per_core_s, lin), "rests_on": rests_on}


def project(scale: dict, cc: dict | None = None) -> dict:
    """The projection table (rows), the mix stage, the shuffle at real size, and totals."""
    runs = scale["runs"]
    w0 = min(r["workers"] for r in runs)
    large = max(r["factor"] for r in runs if r["workers"] == w0)
    run = next(r for r in runs if r["factor"] == large and r["workers"] == w0)
    lin = scale["summary"]["linearity"]
    rows = []
    for source, (n, _, _) in REAL.items():
        if cc and source == "commoncrawl":
            cc_run = max((r for r in cc["runs"] if r["workers"] == min(x["workers"] for x in cc["runs"])),
                         key=lambda r: r["factor"])
            rows += source_rows(source, cc_run, {**lin, **cc["summary"]["linearity"]}, n,
                                f"x{cc_run['factor']} w{cc_run['workers']}")
        elif source in run["sources"]:
            rows += source_rows(source, run, lin, n, f"x{large} w{w0}")
    kept_real = sum(REAL[s][0] * run["sources"][s]["documents_out"] / max(run["sources"][s]["documents_in"], 1)
                    for s in REAL if s in run["sources"])
    if "mix" in run and run["mix"]["documents_in"]:
        m = run["mix"]
        rows.append(projection_row("mix", "tokenizer + encode + shards", kept_real, m["documents_in"] / m["cpu_s"],
                                   lin.get("mix/(stage, CPU s)"),
                                   f"x{large} w{w0}: {m['documents_in']:,} docs in {m['cpu_s']:.1f} CPU s; "
                                   "input = real docs x measured kept share"))
    shuffle = []
    for key, s in scale["summary"]["shuffle"].items():
        source, step = key.split("/")
        if source == "mix":
            items = kept_real
        else:
            items = REAL[source][0]
            if s["unit"] == "lines":
                items *= lines_per_doc(run if not cc else cc_largest(cc), source, step)
        shuffle.append({"step": key, "items": items, "unit": s["unit"], "bytes_per_item": s["bytes_per_item"],
                        "bytes": sm.shuffle_bytes(items, s["bytes_per_item"]), "what": s["what"]})
    total = sum(r["core_hours"] for r in rows)
    return {"rows": rows, "total_core_hours": total, "shuffle": shuffle,
            "shuffle_bytes": sum(s["bytes"] for s in shuffle), "mix_input_documents": kept_real}


def cc_largest(cc: dict) -> dict:
    return max(cc["runs"], key=lambda r: (r["factor"], -r["workers"]))


def lines_per_doc(run: dict, source: str, step: str) -> float:
    """Non-blank lines per document entering ``step`` (its counters), measured in ``run``."""
    for st in run["sources"][source]["stages"]:
        if st["stage"] == step and st["in"]:
            return st["counters"].get("lines_in", 0) / st["in"]
    return 0.0


def format_projection(p: dict, workers: int, vcpus: int) -> str:
    f = sm.fmt
    rows = [[r["source"], r["stage"], f(r["items"], ",.3g"), f(r["per_core_s"], ",.1f"), f(r["linearity"], ".2f"),
             f(r["core_hours"], ",.0f"), r["rests_on"]] for r in p["rows"]]
    rows.append(["TOTAL", "", "", "", "", f(p["total_core_hours"], ",.0f"), ""])
    out = [sm.table(["source", "stage", "items", "items/core-s", "lin.", "core-hours", "rests on (measured)"], rows,
                    "<<>>>><")]
    out.append("\nShuffle of each global step at LLaMA-1 size (estimated bytes per item x real items)")
    out.append(sm.table(["global step", "items", "per", "B/item", "TB shuffled"],
                        [[s["step"], f(s["items"], ",.3g"), s["unit"], f(s["bytes_per_item"], ",.1f"),
                          f(s["bytes"] / 1e12, ",.2f")] for s in p["shuffle"]]
                        + [["TOTAL", "", "", "", f(p["shuffle_bytes"] / 1e12, ",.2f")]]))
    plan = sm.dataflow_plan(p["total_core_hours"], vcpus, workers)
    out.append(f"\nOn Dataflow: {workers} workers x {vcpus} vCPUs = {plan['vcpus']:,} vCPUs -> "
               f"{plan['hours']:,.1f} hours wall at the measured per-core rates (one vCPU taken as one core here; "
               f"scaling assumed linear in workers, as the measured 2-worker speed-up bounds it), "
               f"{p['shuffle_bytes'] / 1e12:,.1f} TB through the shuffle service.")
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=Path, required=True, help="bench/scale.py's JSON of a whole-pipeline run")
    parser.add_argument("--cc", type=Path, default=None, help="bench/scale.py's JSON of the Common Crawl chain (x64)")
    parser.add_argument("--workers", type=int, default=500)
    parser.add_argument("--vcpus", type=int, default=8)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    scale = json.loads(args.scale.read_text())
    cc = json.loads(args.cc.read_text()) if args.cc else None
    p = project(scale, cc)
    print(format_projection(p, args.workers, args.vcpus))
    print("\nassumed sizes:")
    for source, (n, unit, where) in REAL.items():
        print(f"  {source}: {n:,} {unit}: {where}")
    if args.json:
        args.json.write_text(json.dumps(p, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
