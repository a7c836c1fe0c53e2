"""The shards that bench/gpu_check.sh trains on, built here on the CPU and carried to the GPU machine
(which has no Beam and no network): the project's own pipeline (``documents,mix``) on the fixtures of
six sources (every one but Common Crawl, whose perplexity models need ``train-lm`` first), with the
recipe's 32,000-piece BPE tokenizer, mixed to ``--total_tokens`` training tokens in the recipe's
proportions. The fixtures hold about 3M tokens of text, so the mixture's ``shortfall: repeat`` repeats
documents (each repetition counted in the manifest) to reach the length; a few documents per source
are held out for validation as in any run.

    /work/main/.venv/bin/python bench/make_gpu_shards.py [--out build/gpu_shards] [--total_tokens 8000000]

The output folder (under build/, which git ignores) is the shard directory itself, checked with
``validate-shards``; the device call carries it (``carry: ["build/gpu_shards"]``). 8M tokens are
about 16 MiB, well under the 64 MiB a device call carries.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = "c4,wikipedia,books,github,arxiv,stackexchange"


def size_mib(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(ROOT / "build" / "gpu_shards"))
    p.add_argument("--total_tokens", type=int, default=8_000_000, help="training tokens of the mixture")
    p.add_argument("--sources", default=SOURCES)
    args = p.parse_args(argv)
    from llamacorpus.pipeline import run
    from llamacorpus.tokenize.megatron import load_manifest
    from llamacorpus.tokenize.validate import validate

    out = Path(args.out)
    with tempfile.TemporaryDirectory(prefix="gpu-shards-") as tmp:
        code = run.main(["--recipe", "llama1", "--input_root", str(ROOT / "tests" / "fixtures"),
                         "--sources", args.sources, "--output", tmp, "--stages", "documents,mix", "--no_report",
                         "--set", "mixture.shortfall=repeat", "--set", f"mixture.total_tokens={args.total_tokens}"])
        if code:
            raise SystemExit(f"the pipeline failed ({code})")
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(os.path.join(tmp, "shards"), out)
    problems, _ = validate(str(out))
    if problems:
        raise SystemExit("validate-shards: " + "; ".join(problems))
    manifest = load_manifest(str(out))
    print(f"{out}: {manifest['tokens']:,} training tokens ({(manifest['tokens'] - 1) // 1024:,} windows of 1024) "
          f"from {', '.join(f'{k} {v:,}' for k, v in manifest['source_tokens'].items())}; "
          f"{manifest['validation']['documents']} validation documents; vocab {manifest['vocab_size']:,}; "
          f"{size_mib(out):.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
