"""SentencePiece encode throughput on one core, against docs/architecture.md "Speed bars" (library limit 2.45M
tokens/s, datatrove 0.88M, our bar 2.0M tokens/s).

Trains the LLaMA-spec BPE tokenizer (32k pieces, split digits, byte fallback) on the real C4 fixture
documents, or loads ``--model``, then encodes those documents repeated to ``--tokens`` tokens:
(a) ``sp.encode`` per document, what the library gives; (b) ``sp.encode`` of batches in one
thread; (c) :class:`llamacorpus.tokenize.encoder.Encoder`, what the mix stage runs (the word-cached
encoder: same ids; BOS + ids + EOS as uint16 bytes), first on the 1,000 distinct documents with an
empty cache (every word new: the worst case), then on the repeated corpus (warm cache; a real
corpus is close to it, as word frequencies are Zipfian and the cache holds 200k words). The
process is pinned to one core; rates are per CPU second (``time.process_time``) and per wall
second, which differ when the machine is shared.

    /work/venv/bin/python bench/bench_tokenize.py [--tokens 20000000] [--model tokenizer.model] [--output RUN]
"""
from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import os
import time
from pathlib import Path

import sentencepiece as spm

from llamacorpus.tokenize.train import TokenizerConfig
from llamacorpus.tokenize import train as trainer
from llamacorpus.tokenize.encoder import Encoder

FIXTURE = Path(__file__).resolve().parent.parent / "tests/fixtures/c4/c4-en-train.00000-of-01024.first1000.json.gz"
BAR, LIBRARY, DATATROVE = 2.0e6, 2.45e6, 0.88e6


def texts() -> list[str]:
    with gzip.open(FIXTURE, "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


def timed(fn) -> tuple[float, float, int]:
    cpu, wall = time.process_time(), time.perf_counter()
    tokens = fn()
    return time.process_time() - cpu, time.perf_counter() - wall, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=20_000_000, help="tokens to encode per measurement")
    parser.add_argument("--model", default="", help="a SentencePiece model (default: train LLaMA-spec BPE on C4)")
    parser.add_argument("--output", default="", help="also encode, once, every document of this run's documents/ "
                                                      "(distinct text of every source, cache starting empty)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    docs = texts()
    if args.model:
        model = Path(args.model).read_bytes()
    else:
        t = time.perf_counter()
        model, info = trainer.train(lambda: docs, dataclasses.replace(TokenizerConfig(), num_threads=1))
        print(f"trained LLaMA-spec BPE, {info['vocab_size']} pieces, on {len(docs)} C4 documents "
              f"in {time.perf_counter() - t:.1f}s")
    sp = spm.SentencePieceProcessor(model_proto=model)
    per_pass = sum(len(ids) for ids in sp.encode(docs))
    passes = max(1, round(args.tokens / per_pass))
    corpus = docs * passes
    chars = sum(map(len, corpus))
    encoder = Encoder(model)
    itemsize = encoder.dtype.itemsize

    def as_documents(items):
        return [{"id": f"c4/{i}", "text": t, "source": "c4", "meta": {}} for i, t in enumerate(items)]

    distinct, repeated = as_documents(docs), as_documents(corpus)
    runs = {
        "(a) sp.encode per document": (lambda: sum(len(sp.encode(t)) for t in corpus), chars),
        "(b) sp.encode(batch, num_threads=1)": (lambda: sum(
            len(ids) for i in range(0, len(corpus), 256) for ids in sp.encode(corpus[i:i + 256], num_threads=1)),
            chars),
        "(c) Encoder, empty cache, 1k documents": (
            lambda: sum(len(encoder.encode_bytes(d)) // itemsize for d in distinct), sum(map(len, docs))),
        "(c) Encoder, warm cache (mix stage)": (
            lambda: sum(len(encoder.encode_bytes(d)) // itemsize for d in repeated), chars),
    }
    if args.output:
        from llamacorpus.document import SOURCES
        from llamacorpus.parquet import read_documents

        run_docs = [d for s in SOURCES if Path(args.output, "documents", s).is_dir()
                    for d in read_documents(args.output, s)]
        fresh = Encoder(model)
        runs[f"(c) Encoder, {len(run_docs):,} documents of {args.output}, once"] = (
            lambda: sum(len(fresh.encode_bytes(d)) // itemsize for d in run_docs), sum(len(d["text"]) for d in run_docs))
    print(f"corpus: {len(corpus):,} C4 documents ({len(docs)} real ones x {passes}), {chars:,} chars, "
          f"{per_pass * passes:,} tokens; vocabulary {sp.get_piece_size()}; one core")
    for name, (fn, n_chars) in runs.items():
        cpu, wall, tokens = timed(fn)
        rate = tokens / cpu
        print(f"{name:<40} {rate / 1e6:5.2f}M tokens/CPU-s ({tokens / wall / 1e6:5.2f}M/wall-s)  "
              f"{n_chars / cpu / 1e6:5.1f}M chars/s  {rate / BAR:4.2f}x our bar, {rate / LIBRARY:4.2f}x the "
              f"library limit, {rate / DATATROVE:4.2f}x datatrove")
    print("rerun: /work/venv/bin/python bench/bench_tokenize.py " + f"--tokens {args.tokens}"
          + (f" --model {args.model}" if args.model else "") + (f" --output {args.output}" if args.output else ""))


if __name__ == "__main__":
    main()
