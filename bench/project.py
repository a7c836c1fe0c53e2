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


SAMPLE_CHARS = 500_000_000  # llama1.yaml tokenizer.sample_chars
#: UTF-8 of mostly Latin text plus the entries' framing (assumed 10%): an upper bound, as the
#: sample's part files are zstd-compressed (bench_mix_shuffle.py measures their bytes per document)
SAMPLE_BYTES = SAMPLE_CHARS * 1.1


def source_points(runs: list[dict], source: str) -> tuple[dict, dict | None, dict]:
    """(smallest, second largest or None, largest) runs of a source at one worker count: the
    count of the source's largest factor."""
    have = [r for r in runs if r["sources"].get(source, {}).get("rc", 0) == 0 and source in r["sources"]]
    w = max(have, key=lambda r: (r["factor"], -r["workers"]))["workers"]
    at = {r["factor"]: r for r in have if r["workers"] == w}
    fs = sorted(at)
    return at[fs[0]], (at[fs[-2]] if len(fs) > 1 else None), at[fs[-1]]


def source_rows(source: str, runs: list[dict], real_docs: float) -> list[dict]:
    """Projection rows of one source. Its total rests on the CPU seconds of its whole process tree
    (not on wall time, which other load stretches): the marginal rate between its smallest and
    largest factor (the per-run start-up cancels; with one factor, the average at it, start-up
    included), times the linearity penalty between its two largest factors. The total is split
    into the stages by their shares of the busy seconds at the largest factor (busy seconds are
    wall time inside the step, so under load they are scaled down to the CPU seconds when they
    exceed them); the rest is "global steps + Beam"."""
    small, prev, large = source_points(runs, source)
    s, a = large["sources"][source], small["sources"][source]
    tag = f"x{large['factor']} w{large['workers']}"
    rate, what = sm.marginal_rate((a["cpu_s"], a["documents_in"]), (s["cpu_s"], s["documents_in"]))
    if rate is None:
        rate, what = sm.rate(s["documents_in"], s["cpu_s"]), f"{tag}: {s['documents_in']:,} docs in {s['cpu_s']:.1f} CPU s"
    else:
        what = f"x{small['factor']}->x{large['factor']} w{large['workers']}: marginal {what} (tree CPU)"
    lin = None
    if prev is not None:
        p = prev["sources"][source]
        lin = sm.linearity((p["cpu_s"], p["documents_in"]), (s["cpu_s"], s["documents_in"]))
    total = sm.core_hours(real_docs, rate, lin)
    stages = [st for st in s["stages"] if st["busy_s"]]
    shares = sm.stage_shares([st["busy_s"] for st in stages], s["cpu_s"])
    rows = [{"source": source, "stage": "  " + st["stage"], "items": real_docs * st["in"] / max(s["documents_in"], 1),
             "per_core_s": None, "linearity": None, "core_hours": total * share,
             "rests_on": f"{tag}: {share:.0%} of the source's CPU ({st['busy_s']:.1f} busy s of {s['cpu_s']:.1f})"}
            for st, share in zip(stages, shares)]
    rows.append({"source": source, "stage": "  global steps + Beam", "items": real_docs, "per_core_s": None,
                 "linearity": None, "core_hours": total * max(1 - sum(shares), 0.0),
                 "rests_on": f"the rest ({max(1 - sum(shares), 0.0):.0%}) of the source's CPU"})
    head = {"source": source, "stage": "(source)", "items": real_docs, "per_core_s": rate, "linearity": lin,
            "core_hours": total, "rests_on": what + (f"; lin. x{prev['factor']}->x{large['factor']}" if prev else ""),
            "total": True}
    return [head, *rows]


def projection_row(source: str, stage: str, items: float, per_core_s: float, lin: float | None, rests_on: str) -> dict:
    return {"source": source, "stage": stage, "items": items, "per_core_s": per_core_s, "linearity": lin,
            "core_hours": sm.core_hours(items, per_core_s, lin), "rests_on": rests_on}


def project(scale: dict, cc: dict | None = None) -> dict:
    """The projection table (rows), the mix stage, the shuffle at real size, and totals."""
    runs = scale["runs"] + (cc["runs"] if cc else [])
    rows = []
    kept_real = 0.0
    for source, (n, _, _) in REAL.items():
        if not any(source in r["sources"] for r in runs):
            continue
        rows += source_rows(source, runs, n)
        _, _, large = source_points(runs, source)
        s = large["sources"][source]
        kept_real += n * s["documents_out"] / max(s["documents_in"], 1)
    mixes = [r for r in scale["runs"] if r.get("mix", {}).get("rc", 0) == 0 and "mix" in r]
    if mixes:
        w = max(mixes, key=lambda r: (r["factor"], -r["workers"]))["workers"]
        at = sorted((r for r in mixes if r["workers"] == w), key=lambda r: r["factor"])
        a, b = at[0]["mix"], at[-1]["mix"]
        rate, what = sm.marginal_rate((a["cpu_s"], a["documents_in"]), (b["cpu_s"], b["documents_in"]))
        what = f"x{at[0]['factor']}->x{at[-1]['factor']} w{w}: marginal {what}"
        if rate is None:
            rate, what = sm.rate(b["documents_in"], b["cpu_s"]), f"x{at[-1]['factor']} w{w}: average, start-up included"
        row = projection_row("mix", "tokenizer + encode + shards", kept_real, rate, None,
                             f"{what}; input = real docs x measured kept share")
        rows.append({**row, "total": True})
    shuffle = []
    for key, s in scale["summary"]["shuffle"].items():
        source, step = key.split("/")
        if source == "mix":
            items = kept_real
        else:
            items = REAL[source][0] * items_per_document(source_points(runs, source)[2], source, step, s["unit"])
        volume = sm.shuffle_bytes(items, s["bytes_per_item"])
        what = s["what"]
        if key == "mix/tokenizer_sample" and volume > SAMPLE_BYTES:  # the sample is bounded by sample_chars
            volume, what = SAMPLE_BYTES, f"{what}; capped: tokenizer.sample_chars = {SAMPLE_CHARS:,} characters"
        shuffle.append({"step": key, "items": items, "unit": s["unit"], "bytes_per_item": s["bytes_per_item"],
                        "bytes": volume, "what": what})
    total = sum(r["core_hours"] for r in rows if r.get("total"))
    return {"rows": rows, "total_core_hours": total, "shuffle": shuffle,
            "shuffle_bytes": sum(s["bytes"] for s in shuffle), "mix_input_documents": kept_real}


def items_per_document(run: dict, source: str, step: str, unit: str) -> float:
    """Items ``step`` counts per document the source read, measured in ``run``: the share of
    documents that reach it, or for lines its non-blank lines (counter ``lines_in``) per document
    read."""
    docs = run["sources"][source]["documents_in"]
    for st in run["sources"][source]["stages"]:
        if st["stage"] == step and docs:
            return (st["counters"].get("lines_in", 0) if unit == "lines" else st["in"]) / docs
    return 1.0


def format_projection(p: dict, workers: int, vcpus: int) -> str:
    f = sm.fmt
    rows = [[r["source"] if r.get("total") else "", r["stage"], f(r["items"], ",.3g"),
             f(r["per_core_s"], ",.1f"), f(r["linearity"], ".2f"),
             f(r["core_hours"], ",.0f"), r["rests_on"]] for r in p["rows"]]
    rows.append(["TOTAL", "", "", "", "", f(p["total_core_hours"], ",.0f"), ""])
    out = [sm.table(["source", "stage", "items", "items/core-s", "lin.", "core-hours", "rests on (measured)"], rows,
                    "<<>>>><")]
    out.append("\nShuffle of each global step at LLaMA-1 size (estimated bytes per item x real items)")
    out.append(sm.table(["global step", "items", "per", "B/item", "GB shuffled"],
                        [[s["step"], f(s["items"], ",.3g"), s["unit"], f(s["bytes_per_item"], ",.1f"),
                          f(s["bytes"] / 1e9, ",.1f")] for s in p["shuffle"]]
                        + [["TOTAL", "", "", "", f(p["shuffle_bytes"] / 1e9, ",.1f")]]))
    plan = sm.dataflow_plan(p["total_core_hours"], vcpus, workers)
    out.append(f"\nOn Dataflow: {workers} workers x {vcpus} vCPUs = {plan['vcpus']:,} vCPUs -> "
               f"{plan['hours']:,.1f} hours wall at the measured per-core rates (one vCPU taken as one core here; "
               f"scaling assumed linear in workers: measured only up to 2 local workers), "
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
