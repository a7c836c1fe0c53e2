"""Books near-duplicate removal at growing numbers of books: time, memory, shuffle and linearity.

The corpus (generated in a temporary directory, never committed) is made from the six real books
of tests/fixtures/books, read by the books source (Gutenberg header and licence removed). Factor F
gives F copies of a set of 12 books:

* the 6 real books: the four Alice editions (near-duplicates of each other), Frankenstein, Pride
  and Prejudice;
* 2 edited editions, of Frankenstein and of Pride and Prejudice: every 40th paragraph removed,
  every 60th doubled, the first word of every 10th replaced (more than 90% inside the original);
* 4 books with no near-duplicate: Frankenstein, Pride and Prejudice and two Alice editions, each
  with every word tagged a suffix of its own (``fox`` -> ``foxua``).

Copy k > 0 tags every word with a suffix of its own (``fox`` -> ``foxqb``), so copies share no
5-gram: they are distinct books with the same lengths, and each copy keeps its own near-duplicate
families. Expected per copy: 7 books kept (the current Alice edition, Frankenstein, Pride and
Prejudice and the 4 single books), 5 removed; 8 of the 12 are in a candidate pair.

Each factor runs in a child process (Beam's FnApiRunner, one worker, in-process), twice: reading
the books only, and reading them then NearDedup. The step's cost is the difference of the two
pipelines' CPU seconds (process time around the run, threads included) and wall seconds.

Reported per factor:

* books, kept, books in a candidate pair, candidate pairs; the step's CPU and wall seconds and
  books per CPU-second;
* peak RSS of the child (Beam's local runner keeps a run's PCollections in memory, so it grows with
  the books; on Dataflow they live in the shuffle service);
* bytes shuffled per book: for every PCollection that enters a GroupByKey inside the step, its
  element count x Beam's sampled mean element size (a combiner's input is counted before it is
  combined: an upper bound); the two that carry shingle arrays are re-encoded exactly with Beam's
  coder instead; and the bytes of the side inputs;
* what the step holds in one place, measured with tracemalloc as rebuilt from the run's own
  statistics: the set of books in a candidate pair, the component combine, the removed-books dict
  and the statistics list, per million books in a candidate pair (a book without one adds none).

Then the linearity ratios cost(4F) / (4 x cost(F)) of the step's CPU seconds (bar: 1.15) and the
growth of memory per book between the last two factors.

    python bench/bench_near_dedup.py [--factors 1,4,16]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "books"
EDITED = ("84-0_frankenstein", "1342-0_pride-and-prejudice")
SINGLE = ("84-0_frankenstein", "1342-0_pride-and-prejudice", "11-0_alice_current", "alice30_1994-edition")
KEPT_PER_COPY = 7
BOOKS_PER_COPY = 12
LINEARITY_BAR = 1.15
_WORD = re.compile(r"\w+")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


# ---------------------------------------------------------------------------- corpus

def tag(k: int) -> str:
    """Copy k's word suffix: 'q' then k in base 26 letters ('' for copy 0)."""
    if k == 0:
        return ""
    out = ""
    while k:
        k, r = divmod(k, 26)
        out = _LETTERS[r] + out
    return "q" + out


def edited(text: str) -> str:
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    out = []
    for i, p in enumerate(paragraphs):
        if i % 40 == 39:
            continue
        if i % 10 == 9:
            p = _WORD.sub("edited", p, count=1)
        out.append(p)
        if i % 60 == 59:
            out.append(p)
    return "\n\n".join(out) + "\n"


def make_corpus(factor: int, root: Path) -> int:
    from llamacorpus.sources.books import SOURCE, BooksConfig

    base = {}
    for path in sorted(FIXTURES.glob("*.txt")):
        (doc,) = SOURCE.read(BooksConfig(), str(path))
        base[path.stem] = doc["text"]
    for name in EDITED:
        base[f"{name}_edited"] = edited(base[name])
    root.mkdir(parents=True, exist_ok=True)
    for k in range(factor):
        books = {name: (text, tag(k)) for name, text in base.items()}
        books.update({f"{name}_single": (base[name], "u" + _LETTERS[j] + tag(k)) for j, name in enumerate(SINGLE)})
        assert len(books) == BOOKS_PER_COPY
        for name, (text, suffix) in books.items():
            body = _WORD.sub(r"\g<0>" + suffix, text) if suffix else text
            (root / f"c{k:04d}_{name}.txt").write_text(body, encoding="utf-8")
    return factor * BOOKS_PER_COPY


# ---------------------------------------------------------------------------- one run (child)

def shuffle_figures(proto, result, prefix: str) -> dict:
    """Bytes into every GroupByKey under ``prefix`` and into every side input, from Beam's element
    counts and sampled element sizes."""
    from apache_beam.metrics import monitoring_infos as mi

    counts, sizes = {}, {}
    for info in result.monitoring_infos():
        pc = info.labels.get("PCOLLECTION")
        if info.urn == mi.ELEMENT_COUNT_URN and pc:
            counts[pc] = max(counts.get(pc, 0), mi.extract_counter_value(info))
        elif info.urn == mi.SAMPLED_BYTE_SIZE_URN and pc:
            n, total, _, _ = mi.extract_distribution(info)
            if n:
                sizes[pc] = total / n
    grouped, side = {}, {}
    for t in proto.components.transforms.values():
        if not t.unique_name.startswith(prefix):
            continue
        if t.spec.urn == "beam:transform:group_by_key:v1":
            (pc,) = t.inputs.values()
            grouped[t.unique_name[len(prefix):]] = counts.get(pc, 0) * sizes.get(pc, 0.0)
        elif t.spec.urn == "beam:transform:pardo:v1":
            from apache_beam.portability.api import beam_runner_api_pb2

            payload = beam_runner_api_pb2.ParDoPayload.FromString(t.spec.payload)
            for tag_ in payload.side_inputs:
                pc = t.inputs[tag_]
                side[t.unique_name[len(prefix):]] = counts.get(pc, 0) * sizes.get(pc, 0.0)
    return {"grouped": grouped, "side_inputs": side}


def exact_shingle_bytes(paths: list[str], stats: dict) -> dict:
    """Exact bytes of the two GroupByKeys that carry shingle arrays, re-encoded with Beam's coder
    from the run's pairs (Beam's sampled sizes mix pair ids of ~100 bytes with arrays of ~600 KB,
    so their mean is noisy): JoinShingles gets each paired book's array once and each pair end,
    BothEnds each pair with both arrays."""
    from apache_beam.coders import FastPrimitivesCoder

    from llamacorpus.sources.books import SOURCE, BooksConfig
    from llamacorpus.steps.dedup.near import NearDedupConfig, shingle_hashes

    coder, n = FastPrimitivesCoder(), NearDedupConfig().shingle_words
    pairs = [(q["a"], q["b"]) for q in stats["candidate_pairs"]]
    ends: dict[str, list] = {}
    for pair in pairs:
        for doc_id in pair:
            ends.setdefault(doc_id, []).append(pair)
    join = both = 0
    for path in paths:
        for doc in SOURCE.read(BooksConfig(), path):
            if doc["id"] in ends:
                shingles = shingle_hashes(doc["text"], n)
                join += len(coder.encode((doc["id"], shingles)))
                for pair in ends[doc["id"]]:
                    join += len(coder.encode((doc["id"], pair)))
                    both += len(coder.encode((pair, (doc["id"], shingles))))
    return {"JoinShingles/CoGroupByKeyImpl/GroupByKey": join, "BothEnds": both}


def held_in_one_place(stats: dict) -> dict:
    """Bytes (tracemalloc peak) of what the step holds in one place, rebuilt from the run's
    statistics as Beam decodes them: the paired-ids set, the component combine (accumulate and
    extract), the removed-books dict and the statistics list."""
    from llamacorpus.steps.dedup.near import _Components, is_duplicate, node_key

    pairs = stats["candidate_pairs"]
    ids_json = json.dumps(sorted({i for p in pairs for i in (p["a"], p["b"])}))
    dropped_json = json.dumps(stats["dropped"])
    pairs_json = json.dumps(pairs)
    edges = [(node_key(p["a"]), node_key(p["b"])) for p in pairs
             if is_duplicate(p, stats["threshold"], stats["measure"])]  # streamed into the combine

    def measure(build) -> int:
        tracemalloc.start()
        built = build()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        del built
        return peak

    def components():
        fn = _Components()
        acc = fn.create_accumulator()
        for edge in edges:
            acc = fn.add_input(acc, edge)
        return fn.extract_output(acc)

    return {"paired_ids": measure(lambda: set(json.loads(ids_json))),
            "components_combine": measure(components),
            "dropped_dict": measure(lambda: json.loads(dropped_json)),
            "stats_list": measure(lambda: json.loads(pairs_json))}


def child(root: str, with_step: bool, out_json: str) -> None:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    from llamacorpus.sources.books import SOURCE, BooksConfig
    from llamacorpus.steps.dedup.near import NearDedup, NearDedupConfig, stats_path

    paths = sorted(str(p) for p in Path(root).glob("*.txt"))
    output = tempfile.mkdtemp(prefix="near_dedup_out_")
    p = beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(["--direct_num_workers", "1"]))
    docs = p | "Paths" >> beam.Create(paths) | "Read" >> beam.FlatMap(lambda path: SOURCE.read(BooksConfig(), path))
    if with_step:
        docs = (docs | "NearDedup" >> NearDedup("books", NearDedupConfig(), output)).documents
    docs | "Count" >> beam.combiners.Count.Globally() | "Save" >> beam.Map(
        lambda n: Path(output, "kept.txt").write_text(str(n)))
    proto = p.to_runner_api()
    cpu, wall = time.process_time(), time.perf_counter()
    result = p.run()
    result.wait_until_finish()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    figures = {"books": len(paths), "kept": int(Path(output, "kept.txt").read_text()), "cpu_s": cpu, "wall_s": wall}
    if with_step:
        stats = json.loads(Path(stats_path(output, "books")).read_text())
        figures.update(shuffle_figures(proto, result, "NearDedup/"), exact_shingle_bytes=exact_shingle_bytes(paths, stats),
                       candidate_pairs=len(stats["candidate_pairs"]), removed=len(stats["dropped"]),
                       paired_books=len({i for q in stats["candidate_pairs"] for i in (q["a"], q["b"])}),
                       components=len(stats["components"]))
        figures["held"] = held_in_one_place(stats)
    Path(out_json).write_text(json.dumps(figures))
    shutil.rmtree(output)


# ---------------------------------------------------------------------------- parent

def run_child(root: Path, with_step: bool) -> dict:
    out = root.parent / f"result_{int(with_step)}.json"
    cmd = [sys.executable, __file__, "--child", str(root), "--out", str(out)] + (["--with-step"] if with_step else [])
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ})
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"child failed ({proc.returncode}): {proc.stderr.read().decode()[-3000:]}")
    proc.stderr.close()
    return {**json.loads(out.read_text()), "process_wall_s": wall, "process_cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mb": usage.ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--factors", default="1,4,16")
    parser.add_argument("--child")
    parser.add_argument("--out")
    parser.add_argument("--with-step", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.with_step, args.out)
        return
    factors = [int(f) for f in args.factors.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="near_dedup_bench_") as tmp:
        for factor in factors:
            root = Path(tmp, f"x{factor}", "books")
            books = make_corpus(factor, root)
            read = run_child(root, False)
            step = run_child(root, True)
            assert step["kept"] == KEPT_PER_COPY * factor and read["kept"] == books, (step, read)
            cpu, wall = step["cpu_s"] - read["cpu_s"], step["wall_s"] - read["wall_s"]
            held = step["held"]
            sampled = dict(step["grouped"])
            step["grouped"].update(step["exact_shingle_bytes"])
            shuffled = sum(step["grouped"].values())
            shingle_bytes = sum(step["exact_shingle_bytes"].values())
            rows.append({"factor": factor, "books": books, "kept": step["kept"], "removed": step["removed"],
                         "paired_books": step["paired_books"],
                         "shingle_arrays_bytes_per_paired_book": shingle_bytes / max(1, step["paired_books"]),
                         "other_shuffled_bytes_per_book": (shuffled - shingle_bytes) / books,
                         "candidate_pairs": step["candidate_pairs"], "components": step["components"],
                         "step_cpu_s": cpu, "step_wall_s": wall, "books_per_cpu_s": books / cpu,
                         "read_cpu_s": read["cpu_s"], "total_cpu_s": step["cpu_s"],
                         "peak_rss_mb": step["peak_rss_mb"], "read_peak_rss_mb": read["peak_rss_mb"],
                         "shuffled_bytes_per_book": shuffled / books,
                         "shuffled_by_group": {k: v / books for k, v in step["grouped"].items()},
                         "sampled_shingle_groups_per_book": {k: sampled.get(k, 0.0) / books for k in step["exact_shingle_bytes"]},
                         "side_input_bytes_per_book": {k: v / books for k, v in step["side_inputs"].items()},
                         "held_bytes": held, "held_mb_per_million_paired_books": {k: v / max(1, step["paired_books"]) for k, v in held.items()}})
            print(f"x{factor}: {books} books, step {cpu:.2f} CPU-s, {books / cpu:.1f} books/CPU-s", flush=True)
    print_table(rows)
    by = {r["factor"]: r for r in rows}
    for f in factors:
        if f * 4 in by and f in by:
            ratio = by[4 * f]["step_cpu_s"] / (4 * by[f]["step_cpu_s"])
            print(f"linearity cost({4 * f}x) / (4 x cost({f}x)), step CPU-s: {ratio:.3f} "
                  f"(bar {LINEARITY_BAR}: {'met' if ratio <= LINEARITY_BAR else 'NOT met'})")
    if len(rows) > 1:
        lo, hi = rows[-2], rows[-1]
        extra = hi["books"] - lo["books"]
        extra_paired = hi["paired_books"] - lo["paired_books"]
        held = {k: (hi["held_bytes"][k] - lo["held_bytes"][k]) / extra_paired for k in hi["held_bytes"]}
        print(f"growth from {lo['factor']}x to {hi['factor']}x: peak RSS with the step "
              f"{(hi['peak_rss_mb'] - lo['peak_rss_mb']) / extra:.2f} MB per more book, reading only "
              f"{(hi['read_peak_rss_mb'] - lo['read_peak_rss_mb']) / extra:.3f}; held in one place, "
              f"MB per million more books in a candidate pair (books without one add nothing): "
              f"{ {k: round(v, 1) for k, v in held.items()} } (total {sum(held.values()):.0f})")
    print(f"load average {os.getloadavg()[0]:.2f}")
    out = Path(tempfile.gettempdir(), "bench_near_dedup.json")
    out.write_text(json.dumps(rows, indent=1))
    print(f"JSON: {out}\nrerun: python bench/bench_near_dedup.py --factors {args.factors}")


def print_table(rows: list[dict]) -> None:
    head = ("factor", "books", "kept", "in a pair", "pairs", "step CPU-s", "step wall-s", "books/CPU-s",
            "peak RSS MB (read only)", "shuffled KB/book", "shingles KB/paired book", "other KB/book",
            "held MB/1M paired books")
    print(" | ".join(head))
    for r in rows:
        print(" | ".join([f"{r['factor']}x", str(r["books"]), str(r["kept"]), str(r["paired_books"]),
                          str(r["candidate_pairs"]), f"{r['step_cpu_s']:.2f}", f"{r['step_wall_s']:.2f}",
                          f"{r['books_per_cpu_s']:.1f}", f"{r['peak_rss_mb']:.0f} ({r['read_peak_rss_mb']:.0f})",
                          f"{r['shuffled_bytes_per_book'] / 1e3:.1f}",
                          f"{r['shingle_arrays_bytes_per_paired_book'] / 1e3:.1f}",
                          f"{r['other_shuffled_bytes_per_book'] / 1e3:.2f}",
                          f"{sum(r['held_mb_per_million_paired_books'].values()):.0f}"]))
    last = rows[-1]
    print(f"at {last['factor']}x, shuffled bytes per book by GroupByKey:",
          {k: round(v) for k, v in sorted(last["shuffled_by_group"].items(), key=lambda kv: -kv[1])})
    print(f"at {last['factor']}x, Beam's own sampled estimate of the two shingle groups (exact figures above):",
          {k: round(v) for k, v in last["sampled_shingle_groups_per_book"].items()})
    print(f"at {last['factor']}x, side-input bytes per book:", {k: round(v) for k, v in last["side_input_bytes_per_book"].items()})
    print(f"at {last['factor']}x, held in one place, MB per million books in a candidate pair:",
          {k: round(v, 1) for k, v in last["held_mb_per_million_paired_books"].items()})


if __name__ == "__main__":
    main()
