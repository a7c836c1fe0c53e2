"""The whole pipeline at growing multiples of the real samples (issue 15 "The benchmark").

    python bench/scale.py [--factors 1,4,16] [--workers 1,2] [--sources all|commoncrawl,...]
                          [--output build/scale] [--json FILE]

For each factor, the scale corpus (bench/scale_corpus.py) is built once under
``OUTPUT/corpus/x<N>`` (kept: a later run with that factor reuses it). For each worker count the
real command runs, one source at a time (so that each source's wall time, CPU time and memory are
its own), then the mix stage over all seven (tokenizer, encoding, shard shuffle)::

    beam_main.py --recipe llama1 --input_root CORPUS --output RUN --sources S --stages documents
        --set sources.commoncrawl.classifier.epoch=50 --set ...lr=0.5     (the Makefile's DEMO_SET)
        --set sources.commoncrawl.perplexity.models_dir=CORPUS/models/lm --set ...lm_model="{lang}.arpa"
        --set sources.S.split_bytes=4194304      (--split-bytes: big files in pieces, see SPLIT_BYTES)
        --direct_running_mode multi_processing --direct_num_workers W
    beam_main.py ... --stages mix                                        (every source reused)

The perplexity step scores with the corpus's bundled toy LM (SentencePiece botchan 1k + the KenLM
test ARPA) instead of ``train-lm``'s model: training the LM is a separate command, and its cost is
not a stage of the documents run. With ``--sources commoncrawl`` only the Common Crawl chain runs
(read -> HTML to text -> URL dedup -> CCNet line dedup (on) -> language ID -> perplexity ->
Wikipedia-reference classifier), and no mix stage.

``--one-job`` also runs, at the largest factor and each worker count, the whole chain as a user
runs it: one ``beam_main.py ... --stages documents,mix`` of all seven sources and the mix stage,
where Beam starts once and every source's stages share the workers (its wall, CPU, peak RSS and
cores busy, beside the sum of the separate runs, and its own two-worker speed-up).

Measured per run: wall seconds; CPU seconds of the whole process tree (``wait4``'s rusage of the
reaped tree, or the polled ``/proc`` readings where those are larger); peak RSS of the whole
tree (``/proc`` polled every 0.2 s, summed over every descendant); the CPU seconds the hypervisor
stole from the machine during the run (``/proc/stat``'s steal, all cores). Per stage (from the run's
``stats/run.json``): documents in and out and busy seconds, the adapter's ``micros`` counter
summed over workers; global steps (dedups, classifier, cut-offs) have no such counter, their
cost is inside the source's CPU seconds.

Shuffle bytes: Beam's local runner does not report what crosses a GroupByKey, so they are
estimated: the elements each global step shuffles are made by the step's own key functions from
the documents the source's reader makes of the smallest corpus (at most ``--sample`` per
source), encoded with Beam's ``FastPrimitivesCoder``; their mean size times the items counted in
the run (the step's documents in, or lines for line dedup) gives the bytes. The mix stage's
figures come from bench/bench_mix_shuffle.py run on the smallest run's output. Memory per million
documents (or lines) of each global step is those bytes per million: the FnApiRunner holds a
GroupByKey's encoded input in memory until the stage after it runs.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import scale_math as sm  # noqa: E402  (bench/scale_math.py)

SOURCES = ("commoncrawl", "c4", "github", "wikipedia", "books", "arxiv", "stackexchange")
DEMO_SET = ["--set", "sources.commoncrawl.classifier.epoch=50", "--set", "sources.commoncrawl.classifier.lr=0.5"]
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
#: the global steps of the llama1 recipe: (source, step) -> what is counted per item
GLOBAL_STEPS = {
    ("commoncrawl", "url_dedup"): "documents",
    ("commoncrawl", "line_dedup"): "lines",
    ("commoncrawl", "wiki_classifier"): "documents",
    ("commoncrawl", "perplexity_bucket"): "documents",
    ("github", "exact_dedup"): "documents",
    ("books", "near_dedup"): "documents",
}
#: pieces of one big file (a key of every source, default 64 MiB). The recipe's default leaves every
#: file of these corpora whole (x16's enwiki dump is 28 MB, its beer Posts.xml 41 MB), where a
#: real 22 GB dump is ~350 pieces: at 4 MiB the big files here are 3 to 10 pieces each, so the
#: workers share them as they share a real one.
SPLIT_BYTES = 4 << 20
MIX_SHUFFLE = {  # bench/bench_mix_shuffle.py line -> our name
    "tokenizer sample: part files (staged)": "tokenizer_sample",
    "shard shuffle: GroupByKey((split, shard))": "shard_shuffle",
}


# ---------------------------------------------------------------------------- process-tree monitor

def read_tree() -> tuple[dict[int, int], dict[int, int], dict[int, float]]:
    """pid -> ppid, pid -> RSS bytes, pid -> CPU seconds of every process now in /proc."""
    parents, rss, cpu = {}, {}, {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                pid, ppid, ticks = sm.parse_stat(f.read())
            with open(f"/proc/{name}/statm") as f:
                resident = int(f.read().split()[1]) * PAGE
        except (OSError, ValueError, IndexError):
            continue
        parents[pid], rss[pid], cpu[pid] = ppid, resident, ticks / TICKS
    return parents, rss, cpu


class TreeMonitor(threading.Thread):
    """Polls a process tree: its peak summed RSS, each process's last CPU reading, the root
    process's own CPU (the Beam runner, which also feeds the workers on the local runner), and the
    wall seconds spent with under 0.5, 0.5 to 1.5, and 1.5 or more cores busy."""

    def __init__(self, root: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.peak_rss, self.cpu_seen = 0, {}
        self.busy_s = [0.0] * (len(sm.BUSY_EDGES) + 1)
        self.done = threading.Event()

    def run(self):
        last, last_t = {}, None
        while not self.done.is_set():
            parents, rss, cpu = read_tree()
            now = time.perf_counter()
            tree = sm.descendants(parents, self.root)
            self.peak_rss = max(self.peak_rss, sum(rss.get(p, 0) for p in tree))
            reading = {pid: cpu.get(pid, 0.0) for pid in tree}
            for pid, c in reading.items():
                self.cpu_seen[pid] = max(self.cpu_seen.get(pid, 0.0), c)
            if last_t is not None:
                self.busy_s[sm.busy_bin(sm.cpu_used(last, reading), now - last_t)] += now - last_t
            last, last_t = reading, now
            self.done.wait(self.interval)


def measured_run(cmd: list[str], log_path: Path, env: dict) -> dict:
    """Run ``cmd``; wall s, CPU s and peak RSS of its whole tree, exit status, and the CPU seconds
    the hypervisor stole from this machine meanwhile (all cores: a shared machine's slow run shows
    there, not in the run's own figures)."""
    steal = read_steal()
    started = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        monitor = TreeMonitor(proc.pid)
        monitor.start()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    monitor.done.set()
    monitor.join()
    reaped = usage.ru_utime + usage.ru_stime
    return {"wall_s": round(wall, 2), "cpu_s": round(max(reaped, sm.tree_cpu(monitor.cpu_seen)), 2),
            "cpu_s_reaped": round(reaped, 2), "peak_rss_mb": round(monitor.peak_rss / sm.MB, 1),
            "rc": proc.returncode, "log": str(log_path), "steal_s": round((read_steal() - steal) / TICKS, 2),
            "runner_cpu_s": round(monitor.cpu_seen.get(proc.pid, 0.0), 2),
            "busy_wall_s": [round(x, 2) for x in monitor.busy_s]}


def read_steal() -> int:
    try:
        with open("/proc/stat") as f:
            return sm.steal_ticks(f.read())
    except OSError:
        return 0


# ---------------------------------------------------------------------------- corpora and runs

def corpus(output: Path, factor: int, sources: list[str], log) -> Path:
    """The scale corpus at ``factor`` for ``sources`` under OUTPUT/corpus/x<N> (built only where
    missing or written at another factor)."""
    import fcntl

    root = output / "corpus" / f"x{factor}"
    root.mkdir(parents=True, exist_ok=True)
    marker = root / ".scale_sources.json"
    with open(output / "corpus" / f".x{factor}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two benchmarks never write one corpus at once
        built = json.loads(marker.read_text()) if marker.exists() else {}
        missing = [s for s in sources if built.get(s) != factor]
        if missing:
            import scale_corpus

            started = time.perf_counter()
            summary = scale_corpus.build(root, factor, missing, log=lambda m: log(f"  corpus x{factor}: {m}"))
            for s, info in summary["sources"].items():
                built[s] = info["factor"]
            marker.write_text(json.dumps(built, sort_keys=True))
            log(f"  corpus x{factor} ({', '.join(missing)}) built in {time.perf_counter() - started:.0f} s")
    return root


def beam_command(root: Path, out: Path, workers: int, sources: list[str] | None, stages: str,
                 split_bytes: int = SPLIT_BYTES) -> list[str]:
    cmd = [sys.executable, str(ROOT / "beam_main.py"), "--recipe", "llama1", "--input_root", str(root),
           "--output", str(out), "--stages", stages, "--no_report", "--quiet", *DEMO_SET,
           "--set", f"sources.commoncrawl.perplexity.models_dir={root / 'models' / 'lm'}",
           "--set", 'sources.commoncrawl.perplexity.lm_model="{lang}.arpa"',
           "--direct_running_mode", "multi_processing", "--direct_num_workers", str(workers)]
    for source in sources or SOURCES:  # the mix stage too: a section that differs would be built again
        cmd += ["--set", f"sources.{source}.split_bytes={split_bytes}"]
    if sources:
        cmd[4:4] = ["--sources", ",".join(sources)]
    return cmd


def fresh_run(output: Path, tag: str) -> tuple[Path, dict]:
    """An empty ``OUTPUT/runs/<tag>`` and the environment its Beam runs get (this checkout first
    on PYTHONPATH)."""
    out = output / "runs" / tag
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    return out, dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def run_factor(output: Path, root: Path, factor: int, workers: int, sources: list[str], mix: bool, log,
               split_bytes: int = SPLIT_BYTES) -> dict:
    """Every source, one Beam run each, then the mix stage; run.json figures and measurements."""
    out, env = fresh_run(output, f"x{factor}-w{workers}" + ("" if mix else "-" + "+".join(sources)))
    result = {"factor": factor, "workers": workers, "output": str(out), "split_bytes": split_bytes, "sources": {},
              "load_avg": []}
    for source in sources:
        m = measured_run(beam_command(root, out, workers, [source], "documents", split_bytes), out / f"{source}.log", env)
        result["load_avg"].append(os.getloadavg()[0])
        run = json.loads((out / "stats" / "run.json").read_text()) if m["rc"] == 0 else {}
        s = run.get("sources", {}).get(source, {})
        result["sources"][source] = {**m, "documents_in": s.get("documents_in", 0),
                                     "records_read": s.get("records_read", 0),
                                     "documents_out": s.get("documents_out", 0),
                                     "pipeline_s": run.get("run", {}).get("seconds"),
                                     "stages": sm.stage_rows(s)}
        log(f"  x{factor} w{workers} {source}: {s.get('documents_in', 0):,} docs in, "
            f"{m['wall_s']:.0f} s wall, {m['cpu_s']:.0f} CPU-s, {m['peak_rss_mb']:.0f} MB, "
            f"{m['steal_s']:.1f} s stolen, rc {m['rc']}")
    if mix:
        m = measured_run(beam_command(root, out, workers, None, "mix"), out / "mix.log", env)
        result["load_avg"].append(os.getloadavg()[0])
        run = json.loads((out / "stats" / "run.json").read_text()) if m["rc"] == 0 else {}
        docs_in = sum(s["documents_out"] for s in result["sources"].values())
        result["mix"] = {**m, "documents_in": docs_in, "mixture": mixture_summary(run.get("mixture", {}))}
        log(f"  x{factor} w{workers} mix: {docs_in:,} docs in, {m['wall_s']:.0f} s wall, "
            f"{m['cpu_s']:.0f} CPU-s, {m['peak_rss_mb']:.0f} MB, {m['steal_s']:.1f} s stolen, rc {m['rc']}")
    return result


def run_one_job(output: Path, root: Path, factor: int, workers: int, log, split_bytes: int = SPLIT_BYTES) -> dict:
    """The whole chain as a user runs it: one Beam job of all seven sources and the mix stage
    (``--stages documents,mix``), so Beam starts once and the sources' stages share the workers."""
    out, env = fresh_run(output, f"x{factor}-w{workers}-one-job")
    m = measured_run(beam_command(root, out, workers, None, "documents,mix", split_bytes), out / "run.log", env)
    run = json.loads((out / "stats" / "run.json").read_text()) if m["rc"] == 0 else {}
    docs_in = sum(s.get("documents_in", 0) for s in run.get("sources", {}).values())
    result = {"factor": factor, "workers": workers, "output": str(out), **m, "documents_in": docs_in,
              "load_avg": os.getloadavg()[0], "mixture": mixture_summary(run.get("mixture", {}))}
    log(f"  x{factor} w{workers} one job: {docs_in:,} docs in, {m['wall_s']:.0f} s wall, {m['cpu_s']:.0f} CPU-s, "
        f"{m['peak_rss_mb']:.0f} MB, {m['steal_s']:.1f} s stolen, rc {m['rc']}")
    return result


def one_job_report(jobs: list[dict], runs: list[dict]) -> list[str]:
    """The one-job runs beside the sum of the per-source runs at the same factor and workers."""
    if not jobs:
        return []
    f, by = sm.fmt, {(r["factor"], r["workers"]): r for r in runs}
    rows = []
    for j in jobs:
        separate = by.get((j["factor"], j["workers"]))
        rows.append([f"x{j['factor']} w{j['workers']}", f(j["documents_in"]), f(j["wall_s"], ".1f"),
                     f(j["cpu_s"], ".1f"), f(j["busy_wall_s"][-1], ".1f"), f(j["runner_cpu_s"], ".1f"),
                     f(j["peak_rss_mb"], ",.0f"), f(j["steal_s"], ".1f"),
                     f(total_wall(separate) if separate else None, ".1f")])
    lines = ["\nOne Beam job (the user's command: all seven sources and the mix stage, --stages documents,mix); "
             "'separate' = the sum of the per-source runs above",
             sm.table(["run", "docs in", "wall s", "CPU s", ">=1.5 cores s", "runner CPU s", "peak RSS MB",
                       "stolen s", "separate wall s"], rows, "<>>>>>>>>")]
    one, many = jobs[0], jobs[-1]
    if one["workers"] != many["workers"]:
        lines.append(f"one job, x{one['factor']}: {many['workers']} workers vs {one['workers']}: "
                     f"{f(sm.speedup(one['wall_s'], many['wall_s']), '.2f')}x (target >= 1.7)")
    return lines


def mixture_summary(mixture: dict) -> dict:
    """Documents and tokens the mix stage wrote (run.json's ``mixture``: realised per source)."""
    sources = mixture.get("sources", [])
    return {"documents": sum(s.get("realised_documents", 0) for s in sources),
            "tokens": mixture.get("realised_tokens"), "shard_count": mixture.get("shard_count")}


# ---------------------------------------------------------------------------- shuffle estimates

def element_sizes(root: Path, sources: list[str], sample: int) -> dict:
    """Mean encoded bytes per input item of each global step, from up to ``sample`` documents of
    each source as its reader makes them (see the module docstring)."""
    import itertools

    from apache_beam.coders import coders

    import scale_corpus
    from llamacorpus.document import pack, stable_hash
    from llamacorpus.pipeline import recipe as recipe_mod
    from llamacorpus.steps.dedup import exact, lines, near, urls
    from llamacorpus.steps.filters import wiki_classifier

    coder = coders.FastPrimitivesCoder()
    size = lambda element: len(coder.encode(element))  # noqa: E731
    recipe = recipe_mod.load("llama1")
    out = {}
    for source in sources:
        docs = list(itertools.islice(scale_corpus.read_documents(source, root), sample))
        if not docs:
            continue
        if source == "commoncrawl":
            packed = list(map(pack, docs))
            out["commoncrawl/url_dedup"] = per_item(sum(size((urls.url_key(d), p)) for d, p in zip(docs, packed)),
                                                    len(docs), "documents", "GroupByKey (url key, packed document)")
            total = n_lines = 0
            scope = lines.Scope()  # the recipe's scope: run, with the report's tags
            entry = lines.entry_struct(scope, True)
            for d, p in zip(docs, packed):
                hashes = lines.line_hashes(d["text"])
                key = stable_hash(d["id"])
                prefix, tags = lines.scope_key(scope, lines.segment_of(d))
                total += size((key, (p, b"".join(hashes))))  # the documents' side of the join
                for h, copies in lines.copies_per_hash(hashes).items():  # hash group + decision back
                    total += size((prefix + h, entry.pack(key, copies, *tags))) + size((key, lines.pack_decision(h, True)))
                n_lines += sum(1 for h in hashes if h != lines.BLANK)
            out["commoncrawl/line_dedup"] = per_item(total, n_lines, "lines",
                                                     "GroupByKey (hash, packed entry) + CoGroupByKey packed documents and decisions")
            cfg = recipe.sources["commoncrawl"].classifier
            out["commoncrawl/wiki_classifier"] = per_item(
                sum(size(kv) for d in docs for kv in wiki_classifier.url_keys(d))
                + sum(size((d["id"], d["text"][:cfg.max_chars])) for d in docs), len(docs), "documents",
                "CoGroupByKey url keys + training examples gathered (upper bound: every page an example)")
            out["commoncrawl/perplexity_bucket"] = per_item(len(docs) * size(("en", 123.456)), len(docs), "documents",
                                                            "(language, perplexity) into quantiles (before combiner lifting)")
        elif source == "github":
            out["github/exact_dedup"] = per_item(
                sum(size((exact.content_key(d), pack(d))) + size((exact.content_key(d), exact.winner_key(d["id"]))) for d in docs),
                len(docs), "documents", "CoGroupByKey (sha1, packed document) + winner (sha1, (hash, id))")
        elif source == "books":
            cfg = recipe.sources["books"].near_dedup
            sign = near._Sign(cfg)
            sign.setup()
            out["books/near_dedup"] = per_item(sum(size(kv) for d in docs for kv in sign.process(d)), len(docs), "documents",
                                               f"GroupByKey ({cfg.bands} band keys, id) per book; shingles of paired books not counted")
    return out


def per_item(total: int, items: int, unit: str, what: str) -> dict:
    mean = total / items if items else 0.0
    return {"bytes_per_item": round(mean, 1), "unit": unit, "sampled": items, "what": what}


def mix_shuffle(run_output: str) -> dict:
    """bench/bench_mix_shuffle.py's bytes per input document on a finished run."""
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_mix_shuffle.py"), "--output", run_output,
                           "--recipe", str(ROOT / "llamacorpus" / "recipes" / "llama1.yaml")],
                          capture_output=True, text=True, cwd=ROOT)
    out = {}
    for line in proc.stdout.splitlines():
        for label, name in MIX_SHUFFLE.items():
            if line.startswith(label):
                per_doc = float(line.rsplit("bytes", 2)[1].split()[0].replace(",", ""))
                out[f"mix/{name}"] = {"bytes_per_item": per_doc, "unit": "documents", "what": label,
                                      "from": "bench/bench_mix_shuffle.py"}
    if not out:
        out["error"] = (proc.stderr or proc.stdout)[-500:]
    return out


# ---------------------------------------------------------------------------- summary

def item_count(run: dict, key: str, unit: str) -> int:
    """Items of a global step counted in a run: its documents in, or its lines for line dedup."""
    source, step = key.split("/")
    if source == "mix":
        return run.get("mix", {}).get("documents_in", 0)
    for row in run["sources"].get(source, {}).get("stages", []):
        if row["stage"] == step:
            return row["counters"].get("lines_in", 0) if unit == "lines" else row["in"]
    return 0


def summarize(runs: list[dict], sizes: dict) -> dict:
    """Linearity, speed-up, CC rate, shuffle bytes and memory per million from the runs."""
    factors = sorted({r["factor"] for r in runs})
    workers = sorted({r["workers"] for r in runs})
    by = {(r["factor"], r["workers"]): r for r in runs}
    w_lin, small, large, second = sm.linearity_runs(list(by))
    out = {"factors": factors, "workers": workers, "linearity": {}, "linearity_last": {}, "speedup": {},
           "shuffle": {}, "memory": {}, "linearity_runs": [w_lin, small, large, second]}
    if small != large:
        out["linearity"] = linearities(by[small, w_lin], by[large, w_lin])
        if second not in (None, small):
            out["linearity_last"] = linearities(by[second, w_lin], by[large, w_lin])
    at = sm.speedup_factor(list(by))
    out["speedup_at"] = at
    if at is not None:
        one, many = by[at, workers[0]], by[at, workers[-1]]
        for source in many["sources"]:
            if source in one["sources"]:
                out["speedup"][source] = sm.speedup(one["sources"][source]["wall_s"], many["sources"][source]["wall_s"])
        if "mix" in one and "mix" in many:
            out["speedup"]["mix"] = sm.speedup(one["mix"]["wall_s"], many["mix"]["wall_s"])
        out["speedup"]["total"] = sm.speedup(total_wall(one), total_wall(many))
    for r in runs:
        cc = r["sources"].get("commoncrawl")
        if cc:
            r["cc_docs_per_core_s"] = sm.rate(cc["documents_in"], cc["cpu_s"])
            r["cc_docs_per_wall_core_s"] = sm.rate(cc["documents_in"], cc["wall_s"] * r["workers"])
    for key, s in sizes.items():
        if "/" not in key:
            continue
        unit = s["unit"]
        out["shuffle"][key] = {
            **s, "bytes": {f"x{r['factor']}-w{r['workers']}": sm.shuffle_bytes(item_count(r, key, unit), s["bytes_per_item"])
                           for r in runs},
            "mb_per_million": round(s["bytes_per_item"], 1)}  # bytes/item x 1e6 items = MB per million
    for source in SOURCES:
        pts = [(r["sources"][source]["documents_in"], r["sources"][source]["peak_rss_mb"] * sm.MB)
               for r in runs if r["workers"] == w_lin and source in r["sources"]]
        s = sm.slope(pts)
        if s is not None:
            out["memory"][source] = {"rss_mb_per_million_docs": round(s, 1), "points": pts}
    return out


def linearities(a: dict, b: dict) -> dict:
    """Cost-per-document ratios b/a of every source (CPU s of its run), stage (busy s) and the mix stage."""
    out = {}
    for source, sb in b["sources"].items():
        sa = a["sources"].get(source)
        if not sa:
            continue
        out[f"{source}/(source, CPU s)"] = sm.linearity((sa["cpu_s"], sa["documents_in"] or 1),
                                                        (sb["cpu_s"], sb["documents_in"] or 1))
        rows_a = {r["stage"]: r for r in sa["stages"]}
        for r in sb["stages"]:
            ra = rows_a.get(r["stage"])
            if ra and r["busy_s"] is not None:
                out[f"{source}/{r['stage']}"] = sm.linearity((ra["busy_s"], ra["in"]), (r["busy_s"], r["in"]))
    if "mix" in a and "mix" in b:
        out["mix/(stage, CPU s)"] = sm.linearity((a["mix"]["cpu_s"], a["mix"]["documents_in"]),
                                                 (b["mix"]["cpu_s"], b["mix"]["documents_in"]))
    return out


def measurements(run: dict) -> list[tuple[str, dict]]:
    """``(name, measured_run figures)`` of every Beam run of ``run``: each source's, then the mix stage's."""
    return [*run["sources"].items(), *([("mix", run["mix"])] if "mix" in run else [])]


def total_wall(run: dict) -> float:
    return sum(m["wall_s"] for _, m in measurements(run))


def total_cpu(run: dict) -> float:
    return sum(m["cpu_s"] for _, m in measurements(run))


def cores_busy_report(runs: list[dict]) -> list[str]:
    """Where the workers wait: at the largest factor, each Beam run's wall seconds by cores busy
    and the runner process's own CPU, one worker count beside the other."""
    largest = max((r["factor"] for r in runs), default=None)
    top = [r for r in runs if r["factor"] == largest and all("busy_wall_s" in m for _, m in measurements(r))]
    if not top:
        return []
    f, rows = sm.fmt, []
    for r in top:
        for name, m in [*measurements(r), ("TOTAL", None)]:
            ms = [m] if m else [x for _, x in measurements(r)]
            busy = [sum(x["busy_wall_s"][i] for x in ms) for i in range(len(sm.BUSY_EDGES) + 1)]
            wall, runner = sum(x["wall_s"] for x in ms), sum(x["runner_cpu_s"] for x in ms)
            rows.append([f"x{r['factor']} w{r['workers']}", name, f(wall, ".1f"), *[f(b, ".1f") for b in busy],
                         f(runner, ".1f"), f(sum(x["cpu_s"] for x in ms) / wall if wall else None, ".2f")])
    return ["\nCores busy (/proc polled every 0.2 s): wall s of each run with < 0.5, 0.5-1.5 and >= 1.5 cores busy; "
            "runner CPU s = the main process's (on the local runner it also moves every element between stages)",
            sm.table(["run", "source", "wall s", "<0.5", "0.5-1.5", ">=1.5", "runner CPU s", "cores"], rows,
                     "<<>>>>>>")]


def format_report(runs: list[dict], summary: dict) -> str:
    f = sm.fmt
    rows = []
    for r in runs:
        tag = f"x{r['factor']} w{r['workers']}"
        for source, s in r["sources"].items():
            rows.append([tag, source, "(source)", f(s["documents_in"]), f(s["documents_out"]), f(s["wall_s"], ".1f"),
                         f(s["cpu_s"], ".1f"), f(sm.rate(s["documents_in"], s["cpu_s"]), ",.1f"), f(s["peak_rss_mb"], ",.0f")])
            for st in s["stages"]:
                rows.append(["", "", st["stage"], f(st["in"]), f(st["out"]), "", f(st["busy_s"], ".1f"),
                             f(st["docs_per_core_s"], ",.0f"), ""])
        if "mix" in r:
            m = r["mix"]
            rows.append([tag, "mix", "(stage)", f(m["documents_in"]), f(m["mixture"].get("documents")), f(m["wall_s"], ".1f"),
                         f(m["cpu_s"], ".1f"), f(sm.rate(m["documents_in"], m["cpu_s"]), ",.1f"), f(m["peak_rss_mb"], ",.0f")])
        rows.append([tag, "TOTAL", "", "", "", f(total_wall(r), ".1f"), f(total_cpu(r), ".1f"), "",
                     f(max(m["peak_rss_mb"] for _, m in measurements(r)), ",.0f")])
    text = [sm.table(["run", "source", "stage", "docs in", "docs out", "wall s", "CPU s", "docs/s/core", "peak RSS MB"],
                     rows, "<<<>>>>>>"),
            "(source) rows: the source's own Beam run, CPU s of the whole process tree, docs/s per CPU-second of it; "
            "stage rows: CPU s = busy seconds inside the step (adapter micros, summed over workers); global steps "
            "have none (their cost is in the source row)."]
    for r in runs:
        m = r.get("mix")
        if m and m["mixture"].get("tokens"):
            text.append(f"mix x{r['factor']} w{r['workers']}: {m['mixture']['tokens']:,} tokens written, "
                        f"{m['mixture']['tokens'] / m['cpu_s']:,.0f} tokens per CPU-second of the whole mix run")
    stolen = sorted(((m.get("steal_s", 0.0), f"x{r['factor']} w{r['workers']} {name}", m["wall_s"])
                     for r in runs for name, m in measurements(r)), key=lambda t: -t[0])
    worst = "".join(f"; {tag} {x:.1f} s of {w:.0f} s" for x, tag, w in stolen[:5] if x >= 0.5)
    text.append(f"CPU stolen by the hypervisor during the runs (/proc/stat steal, all cores): "
                f"{sum(x for x, _, _ in stolen):.1f} s in all{worst}")
    text += cores_busy_report(runs)
    lin, last = summary["linearity"], summary["linearity_last"]
    if lin:
        w, small, large, second = summary["linearity_runs"]
        verdict = lambda v: "-" if v is None else ("holds" if v <= 1.15 else "FAILS")  # noqa: E731
        text.append(f"\nLinearity ({w} worker(s)): cost per document at x{large} / at x{small}"
                    + (f"; and x{large} / x{second} (the issue's cost(16x) / (4 x cost(4x)))" if last else "")
                    + ". Target <= 1.15")
        text.append(sm.table(["stage", f"x{large}/x{small}", "", *([f"x{large}/x{second}", ""] if last else [])],
                             [[k, f(v, ".2f"), verdict(v), *([f(last.get(k), ".2f"), verdict(last.get(k))] if last else [])]
                              for k, v in lin.items()], "<><><"[:3 + 2 * bool(last)]))
    if summary["speedup"]:
        text.append(f"\nSpeed-up at x{summary['speedup_at']}, {summary['workers'][-1]} workers vs {summary['workers'][0]} "
                    "(wall), target >= 1.7")
        text.append(sm.table(["run", "speed-up"], [[k, f(v, ".2f")] for k, v in summary["speedup"].items()]))
    cc = [(r["factor"], r["workers"], r.get("cc_docs_per_core_s"), r.get("cc_docs_per_wall_core_s")) for r in runs
          if r.get("cc_docs_per_core_s")]
    if cc:
        text.append("\nCommon Crawl chain (CCNet line dedup on), pages read per CPU-second of the tree (target >= 150 at x64)")
        text.append(sm.table(["run", "docs/CPU-s", "docs/(wall s x workers)"],
                             [[f"x{a} w{b}", f(c, ",.1f"), f(d, ",.1f")] for a, b, c, d in cc]))
    if summary["shuffle"]:
        text.append("\nShuffle per global step (ESTIMATED: counted items x encoded key+value bytes; the local runner "
                    "does not report shuffle bytes). Memory on the local runner: MB per million items held in memory; "
                    "mix/tokenizer_sample is the bytes of its part files, on disk, not shuffled.")
        keys = [k for r in runs for k in [f"x{r['factor']}-w{r['workers']}"]]
        rows = [[k, s["unit"], f(s["bytes_per_item"], ",.1f"), f(s["mb_per_million"], ",.0f")]
                + [f(s["bytes"].get(t, 0) / sm.MB, ",.1f") for t in keys[:4]] + [s["what"]]
                for k, s in summary["shuffle"].items()]
        text.append(sm.table(["global step", "per", "B/item", "MB/million", *[f"MB {t}" for t in keys[:4]], "what"],
                             rows, "<<>>" + ">" * len(keys[:4]) + "<"))
    if summary["memory"]:
        text.append("\nPeak RSS slope per source run (least squares over factors): MB per million documents read")
        text.append(sm.table(["source", "MB/million docs"], [[k, f(v["rss_mb_per_million_docs"], ",.0f")]
                                                           for k, v in summary["memory"].items()]))
    return "\n".join(text)


def summarize_partial(args) -> int:
    """The tables of the runs a stopped benchmark finished (its scale-partial.json)."""
    runs = [r for path in args.summarize for r in json.loads(path.read_text())["runs"]]
    factors = sorted({r["factor"] for r in runs})
    sources = [s for s in SOURCES if s in runs[0]["sources"]]
    sizes = element_sizes(args.output / "corpus" / f"x{factors[0]}", sources, args.sample)
    if runs[0].get("mix", {}).get("rc") == 0:
        sizes.update(mix_shuffle(runs[0]["output"]))
    summary = summarize(runs, sizes)
    load = os.getloadavg()
    result = {"command": "python bench/scale.py --summarize " + " ".join(map(str, args.summarize)), "cpus": os.cpu_count(),
              "load_avg_end": load, "load_avg_median": sm.median(x for r in runs for x in r["load_avg"]),
              "runs": runs, "summary": summary}
    path = args.json or args.summarize[0].with_name(args.summarize[0].stem + "-summary.json")
    path.write_text(json.dumps(result, indent=1))
    print(format_report(runs, summary))
    print(f"\nmedian of the 1-min load after each run: {result['load_avg_median']:.2f} on {os.cpu_count()} cores; JSON: {path}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factors", default="1,4,16")
    parser.add_argument("--workers", default=None,
                        help="comma-separated worker counts (default 1,2 for the whole pipeline, 2 for --sources)")
    parser.add_argument("--sources", default="all", help="comma-separated sources, or all (then the mix stage too)")
    parser.add_argument("--output", type=Path, default=ROOT / "build" / "scale", help="corpora and runs (git-ignored)")
    parser.add_argument("--json", type=Path, default=None, help="default OUTPUT/scale-<sources>-<factors>-w<workers>.json")
    parser.add_argument("--sample", type=int, default=2000, help="documents per source for the shuffle element sizes")
    parser.add_argument("--no-mix", action="store_true", help="skip the mix stage even with all sources")
    parser.add_argument("--split-bytes", type=int, default=SPLIT_BYTES,
                        help="sources.<s>.split_bytes of every run (pieces of one big file; 0: never split)")
    parser.add_argument("--one-job", action="store_true",
                        help="also run, at the largest factor and each worker count, the whole chain as one Beam job "
                             "(all sources and the mix stage: what a user runs); about 10 more minutes at x16")
    parser.add_argument("--summarize", type=Path, nargs="+", default=None,
                        help="only summarize the runs in these JSON files (scale.py's own or its -partial.json "
                             "of a benchmark stopped before its end), together")
    args = parser.parse_args(argv)
    if args.summarize:
        return summarize_partial(args)
    factors = [int(x) for x in args.factors.split(",")]
    sources = list(SOURCES) if args.sources == "all" else [s.strip() for s in args.sources.split(",")]
    workers = [int(x) for x in (args.workers or ("1,2" if args.sources == "all" else "2")).split(",")]
    mix = set(sources) == set(SOURCES) and not args.no_mix
    log = lambda m: print(m, flush=True)  # noqa: E731
    tag = "all" if args.sources == "all" else "+".join(sources)
    path = args.json or args.output / f"scale-{tag}-x{'_'.join(map(str, factors))}-w{'_'.join(map(str, workers))}.json"
    started = time.time()
    runs = []
    for factor in factors:
        root = corpus(args.output, factor, sources, log)
        for w in workers:
            runs.append(run_factor(args.output, root, factor, w, sources, mix, log, args.split_bytes))
            partial = {"runs": runs}
            (path.with_name(path.stem + "-partial.json")).write_text(json.dumps(partial, indent=1))
    top = max(factors)
    jobs = [run_one_job(args.output, corpus(args.output, top, sources, log), top, w, log, args.split_bytes)
            for w in workers] if args.one_job and mix else []
    sizes = element_sizes(args.output / "corpus" / f"x{factors[0]}", sources, args.sample)
    if mix and runs[0].get("mix", {}).get("rc") == 0:
        sizes.update(mix_shuffle(runs[0]["output"]))
    summary = summarize(runs, sizes)
    load = os.getloadavg()
    result = {"command": " ".join(["python", "bench/scale.py", *(argv if argv is not None else sys.argv[1:])]),
              "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
              "seconds": round(time.time() - started, 1), "cpus": os.cpu_count(), "load_avg_end": load,
              "load_avg_median": sm.median(x for r in runs for x in r["load_avg"]),
              "runs": runs, "one_job": jobs, "summary": summary}
    path.write_text(json.dumps(result, indent=1))
    print(format_report(runs, summary))
    print("\n".join(one_job_report(jobs, runs)))
    print(f"\nload average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores; median of the "
          f"1-min load after each run: {result['load_avg_median']:.2f} (other processes share these cores)")
    print(f"total {result['seconds']:.0f} s; JSON: {path}")
    print(f"rerun: {result['command']}")
    return 0 if all(m["rc"] == 0 for r in runs for _, m in measurements(r)) and all(j["rc"] == 0 for j in jobs) else 1


if __name__ == "__main__":
    sys.exit(main())
