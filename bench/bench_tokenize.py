"""SentencePiece encode throughput on one core, against docs/architecture.md "Speed bars" (library limit 2.45M
tokens/s, datatrove 0.88M, our bar 2.0M tokens/s), ours beside raw SentencePiece in the same run.

Trains the LLaMA-spec BPE tokenizer (32k pieces, split digits, byte fallback) on the real C4 fixture
documents, or loads ``--model``, then encodes those documents repeated to ``--tokens`` tokens:
(a) ``sp.encode`` per document, what the library gives; (b) ``sp.encode`` of batches in one
thread; (c) :class:`llamacorpus.tokenize.encoder.Encoder`, what the mix stage runs (the word-cached
encoder: same ids; BOS + ids + EOS as uint16 bytes), first on the 1,000 distinct documents with an
empty cache (every word new: the worst case), then on the repeated corpus (warm cache; a real
corpus is close to it, as word frequencies are Zipfian and the cache holds 200k words). The
process is pinned to one core; rates are per CPU second (``time.process_time``) and per wall
second, which differ when the machine is shared.

With ``--output RUN`` it also encodes every document of that run's ``documents/`` once, cold (a
fresh encoder), three ways: raw ``sp.encode`` per document, our Encoder, and the mix stage's own
``EncodeFn`` inside Beam (the in-process FnApiRunner, one worker; the whole pipeline's CPU time,
Beam's own work included). ``--profile`` prints where the cold Encoder spends its time
(SentencePiece on the new words, against the rest).

    .venv/bin/python bench/bench_tokenize.py [--tokens 20000000] [--model tokenizer.model] [--output RUN] [--profile]
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
    parser.add_argument("--profile", action="store_true", help="split the cold Encoder's time (needs --output)")
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
        run_chars = sum(len(d["text"]) for d in run_docs)
        label = f"{len(run_docs):,} documents of {args.output}, once"
        runs[f"(a) sp.encode per document, {label}"] = (lambda: sum(len(sp.encode(d["text"])) + 2 for d in run_docs),
                                                         run_chars)
        runs[f"(c) Encoder, cold, {label}"] = (lambda: cold(run_docs), run_chars)
        runs[f"(d) mix EncodeFn in Beam, cold, {label}"] = (lambda: in_beam(model, run_docs), run_chars)
        runs["(d') the same pipeline, a pass-through DoFn instead"] = (lambda: in_beam(model, run_docs, False), run_chars)

    def cold(docs):
        fresh = Encoder(model)
        return sum(len(fresh.encode_bytes(d)) // itemsize for d in docs)

    def in_beam(model, docs, encode=True):
        import apache_beam as beam
        from apache_beam.options.pipeline_options import PipelineOptions
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        from llamacorpus.pipeline import mix
        from llamacorpus.tokenize.shards import ShardsConfig

        info = {s: {"cutoff": -1, "documents": 0, "chars": 0} for s in SOURCES}
        tokens = beam.metrics.Metrics.counter("bench", "tokens")

        def count(unit):
            tokens.inc(unit.tokens)

        p = beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions([]))
        model_pc = p | "model" >> beam.Create([model])
        (p | "docs" >> beam.Create(docs)
         | "encode" >> beam.ParDo(mix.EncodeFn(ShardsConfig(), 0) if encode else PassThrough(),
                                  beam.pvalue.AsSingleton(model_pc),
                                  beam.pvalue.AsDict(p | "info" >> beam.Create(list(info.items()))))
         | "count" >> beam.Map(count))
        result = p.run()
        result.wait_until_finish()
        return result.metrics().query(beam.metrics.MetricsFilter().with_name("tokens"))["counters"][0].committed

    print(f"corpus: {len(corpus):,} C4 documents ({len(docs)} real ones x {passes}), {chars:,} chars, "
          f"{per_pass * passes:,} tokens; vocabulary {sp.get_piece_size()}; one core")
    measured = {}
    for name, (fn, n_chars) in runs.items():
        cpu, wall, tokens = timed(fn)
        measured[name] = (cpu, wall, tokens)
        rate = tokens / cpu
        print(f"{name:<40} {rate / 1e6:5.2f}M tokens/CPU-s ({tokens / wall / 1e6:5.2f}M/wall-s)  "
              f"{n_chars / cpu / 1e6:5.1f}M chars/s  {rate / BAR:4.2f}x our bar, {rate / LIBRARY:4.2f}x the "
              f"library limit, {rate / DATATROVE:4.2f}x datatrove")
    beam_runs = [k for k in measured if k.startswith("(d")]
    if len(beam_runs) == 2:
        (cpu, _, tokens), (base, _, _) = measured[beam_runs[0]], measured[beam_runs[1]]
        print(f"(d) net of the pass-through pipeline: {tokens / max(cpu - base, 1e-9) / 1e6:.2f}M tokens/CPU-s "
              f"({cpu:.2f} - {base:.2f} CPU-s)")
    if args.profile and args.output:
        profile(model, run_docs)
    print("rerun: .venv/bin/python bench/bench_tokenize.py " + f"--tokens {args.tokens}"
          + (f" --model {args.model}" if args.model else "") + (f" --output {args.output}" if args.output else ""))


class PassThrough:
    """What (d') runs instead of EncodeFn: one unit per document, its length in characters / 4."""

    def __new__(cls):
        import apache_beam as beam

        from llamacorpus.pipeline import mix

        class Fn(beam.DoFn):
            def process(self, doc, model, info):
                yield mix.Unit("train", doc["source"], doc["id"], 0, len(doc["text"]) // 4, b"")

        return Fn()


def profile(model: bytes, docs: list[dict]) -> None:
    """The cold Encoder's CPU time: SentencePiece on the words not cached, and everything else."""
    enc = Encoder(model)
    spent = [0.0, 0, 0]
    encode = enc.words.rest.encode

    def timed(batch, **kw):
        start = time.process_time()
        out = encode(batch, **kw)
        spent[0] += time.process_time() - start
        spent[1] += len(batch)
        spent[2] += sum(map(len, batch))
        return out

    enc.words.rest.encode = timed
    cpu = time.process_time()
    tokens = sum(len(enc.encode_bytes(d)) // enc.dtype.itemsize for d in docs)
    cpu = time.process_time() - cpu
    chars = sum(len(d["text"]) for d in docs)
    print(f"profile: {tokens:,} tokens in {cpu:.2f} CPU-s; SentencePiece on {spent[1]:,} new words "
          f"({spent[2]:,} of {chars:,} characters, {spent[2] / chars:.0%}) {spent[0]:.2f} s ({spent[0] / cpu:.0%}); "
          f"split, cache and join {cpu - spent[0]:.2f} s")


if __name__ == "__main__":
    main()
