"""SentencePiece + KenLM perplexity throughput on real Common Crawl pages, one core, beside the bars of docs/architecture.md
section 9 (library limit ~317 docs/s, our bar 280 docs/s).

    python bench/bench_perplexity.py [--repeat N] [--models_dir DIR]

Pages: the English documents (bundled lid.176) of the real-page WET fixtures as the Common Crawl
reader emits them (min 300 characters). Models: ``DIR/lm/en.sp.model`` + ``en.arpa.bin``; by
default the bench trains them once into ``.cache/bench_perplexity/models`` from the Wikipedia
fixtures (the Wikipedia source, then ``llamacorpus train-lm``). Three figures:

* library: SentencePiece ``encode`` of each line + KenLM ``score`` of its pieces, text as is
  (what the two libraries reach with no normalisation);
* step: :class:`llamacorpus.steps.filters.perplexity.Perplexity` (CCNet normalisation + the above);
* in Beam: the step inside the generic adapter (``ApplySteps``) on the FnApiRunner, one worker:
  the pages (repeated ``--copies`` times) over the wall time the step adds to the same pipeline
  with a step that does nothing.

A real CCNet English model is 4.4 GB against the ~40 MB fixture model here: KenLM lookups then
miss the CPU caches more often and every figure drops; rerun with ``--models_dir`` on such models
to see it.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from llamacorpus.steps import Filter  # noqa: E402
CC = ROOT / "tests" / "fixtures" / "commoncrawl"
BAR, LIMIT = 280, 317
DEFAULT_MODELS = ROOT / ".cache" / "bench_perplexity" / "models"


def ensure_models(models_dir: Path) -> None:
    if (models_dir / "lm" / "en.arpa.bin").exists():
        return
    out = models_dir.parent / "wikipedia-run"
    subprocess.run([sys.executable, str(ROOT / "beam_main.py"), "--sources", "wikipedia", "--output", str(out),
                    "--stages", "documents", "--no_report"], check=True, cwd=ROOT)
    subprocess.run([sys.executable, "-m", "llamacorpus.cli", "train-lm", "--output", str(out), "--language", "en",
                    "--models_dir", str(models_dir), "--lmplz_memory", "1G"], check=True, cwd=ROOT)


def english_pages() -> list[dict]:
    from llamacorpus.steps.filters.langid import LanguageId
    from llamacorpus.sources.commoncrawl import SOURCE, CommonCrawlConfig

    cfg = CommonCrawlConfig(min_chars=300)
    docs = [d for path in sorted(CC.glob("realpages-*.warc.wet.gz")) for d in SOURCE.read(cfg, str(path))
            if isinstance(d, dict)]
    lid = LanguageId(["en"])
    lid.setup()
    scored = [{**d, "meta": {**d["meta"], **f}} for d, f in zip(docs, lid.score_batch(docs))]
    return [d for d in scored if d["meta"]["language"] == "en" and d["meta"]["language_score"] >= 0.5]


def best_rate(fn, items: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return items / best


class _Pass(Filter):
    """A step that does nothing: the baseline whose time is subtracted."""

    name = "pass"

    def score(self, doc):
        return {}

    def keep(self, doc):
        return True, None


def beam_seconds(step, docs: list[dict]) -> float:
    """Wall time of a FnApiRunner pipeline (one worker) that runs ``step`` in the adapter on ``docs``."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    from llamacorpus.steps.adapter import ApplySteps

    p = beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(["--direct_num_workers=1"]))
    scored = p | beam.Create(docs) | ApplySteps("commoncrawl", [step])
    scored.documents | beam.combiners.Count.Globally()
    started = time.perf_counter()
    p.run().wait_until_finish()
    return time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--models_dir", default=str(DEFAULT_MODELS))
    parser.add_argument("--copies", type=int, default=4, help="the pages repeated this often in the Beam runs")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    models = Path(args.models_dir)
    ensure_models(models)

    import kenlm
    import sentencepiece

    from llamacorpus.steps.filters.perplexity import Perplexity

    files = {"en": (str(models / "lm" / "en.sp.model"), str(models / "lm" / "en.arpa.bin"))}
    docs = english_pages()
    lines = sum(d["text"].count("\n") + 1 for d in docs)
    sp = sentencepiece.SentencePieceProcessor(model_file=files["en"][0], num_threads=1)
    lm = kenlm.Model(files["en"][1])

    def library():
        for d in docs:
            for pieces in sp.encode(d["text"].split("\n"), out_type=str):
                lm.score(" ".join(pieces))

    step = Perplexity(files)
    step.setup()
    results = {
        "library (SentencePiece + KenLM)": best_rate(library, len(docs), args.repeat),
        "step (CCNet normalise + SP + KenLM)": best_rate(lambda: step.score_batch(docs), len(docs), args.repeat),
    }
    many = docs * args.copies
    base = min(beam_seconds(_Pass(), many) for _ in range(args.repeat))
    with_step = min(beam_seconds(Perplexity(files), many) for _ in range(args.repeat))
    results["step in Beam (ApplySteps, 1 worker)"] = len(many) / max(with_step - base, 1e-9)

    print(f"SentencePiece + KenLM perplexity, one core: {len(docs)} English CC pages from the real-page WET "
          f"fixtures, {lines} lines, {sum(len(d['text']) for d in docs) / len(docs):.0f} chars/page; "
          f"model {files['en'][1]} ({os.path.getsize(files['en'][1]) / 1e6:.0f} MB); best of {args.repeat}")
    print(f"{'measure':<40} {'docs/s':>8} {'bar':>5} {'limit':>6}  vs bar")
    for name, rate in results.items():
        verdict = "meets" if rate >= BAR else f"{rate / BAR:.2f} of it"
        print(f"{name:<40} {rate:>8,.0f} {BAR:>5} {LIMIT:>6}  {verdict}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine load average (1 min): {load:.1f} on {os.cpu_count()} cores (above 1 per core, other "
          "processes slow every figure)")
    print(f"rerun: cd {ROOT} && /work/venv/bin/python bench/bench_perplexity.py --repeat {args.repeat}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
