"""Training throughput of a preset on real shards: tokens/s, and how a step splits between waiting
for data (gathering windows from the memory-mapped shards and copying them to the device; on CUDA the
trainer gathers them a micro pass ahead on a thread, so this is only the wait that is left) and compute
(forward, backward, clipping, AdamW). On CUDA with bf16 the trainer also reports MFU, and compiles the
model unless ``--no-compile`` is passed through.

Without ``--shards`` the bench first builds the shards the README's run trains on: the pipeline's
``documents,mix`` stages on the c4 and wikipedia fixtures with the recipe's tokenizer settings (a
32,000-piece BPE), in a temporary directory. Then it trains ``--steps`` steps of the preset and reads
the trainer's own per-interval figures from train_log.json (the first interval, with its one-time
costs, is left out). Wall-clock figures depend on what else the machine runs: the load average is
printed beside them, and CPU seconds per 1,000 tokens (this process, all threads) are less
sensitive to it.

    /work/main/.venv/bin/python bench/bench_train.py [--shards DIR] [--preset small] [--steps 30] [--threads N]
        [--device cuda] [any other `llamacorpus train` flag]
    python3 bench/bench_train.py --shards build/gpu_shards --preset gpu-small --steps 60   # on a GPU

bench/gpu_check.sh is the whole GPU check (correctness, 300 steps, kernels, memory) in one call.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from llamacorpus.model import train

ROOT = Path(__file__).resolve().parent.parent


def build_shards(work: Path) -> Path:
    from llamacorpus.pipeline import run

    code = run.main(["--recipe", "llama1", "--input_root", str(ROOT / "tests" / "fixtures"),
                     "--sources", "c4,wikipedia", "--output", str(work), "--stages", "documents,mix", "--no_report"])
    if code:
        raise SystemExit(f"the pipeline failed ({code})")
    return work / "shards"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shards", default=None)
    p.add_argument("--preset", default="small")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--threads", type=int, default=None)
    args, rest = p.parse_known_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        shards = Path(args.shards) if args.shards else build_shards(Path(tmp) / "run")
        out = Path(tmp) / "train"
        cmd = ["--shards", str(shards), "--preset", args.preset, "--out", str(out), "--steps", str(args.steps),
               "--log_every", str(max(1, args.steps // 6)), "--eval_every", str(args.steps), "--keep", "1", *rest]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        cpu, wall = time.process_time(), time.perf_counter()
        train.main(cmd)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        log = json.loads((out / train.LOG_NAME).read_text())
    records = log["train"][1:] or log["train"]
    tps = statistics.median(r["tokens_per_s"] for r in records)
    data = statistics.median(r["data_fraction"] for r in records)
    mfu = [r["mfu"] for r in records if r["mfu"] is not None]
    tokens = args.steps * log["run"]["batch_tokens"]
    print()
    print(f"preset {args.preset}: {log['model']['parameters']:,} parameters, vocab {log['run']['model']['vocab_size']:,}, "
          f"{log['run']['batch_tokens']:,} tokens/step of {log['run']['seq_len']}-token windows, "
          f"{log['run']['precision']} on {log['run']['device']}, {torch.get_num_threads()} torch thread(s)")
    print(f"tokens/s (median over log intervals): {tps:,.0f}")
    print(f"step time split: waiting for data {100 * data:.1f}%, compute {100 * (1 - data):.1f}%")
    print(f"MFU: {100 * statistics.median(mfu):.1f}%" if mfu else
          "MFU: - (device peak unknown: CUDA bf16 on a known GPU, or --peak_tflops)")
    print(f"whole command: {wall:.1f} s wall, {1000 * cpu / tokens:.2f} CPU s per 1,000 trained tokens "
          f"(includes start-up and validation); load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"rerun: {sys.executable} bench/bench_train.py " + " ".join(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
