"""Bytes the mix stage shuffles per input document: what crosses each GroupByKey (and each
combiner's input) of ``llamacorpus/pipeline/mix.py``, encoded with Beam's own coder for those
elements (``FastPrimitivesCoder``, as the runner encodes them), on a run's documents.

The elements are made by the same functions the graph's DoFns call (sample items and entries,
units, quota items, copies), so the figures are those of the graph:

* tokenizer sample quota: ``(source, (order, id, chars))`` per document into the histogram
  combiner (before combiner lifting: an upper bound), then the boundary bucket's items;
* tokenizer sample: no shuffle since the sample goes through part files (``mix.WriteSampleFn``):
  the bytes of those files (``trainer.SamplePart``: pickles in one zstd stream), written by the
  workers and read back by the training worker (bounded by ``tokenizer.sample_chars``);
* partial-epoch quota: ``(source, (order, tiebreak, tokens))`` per training unit, likewise;
* shard shuffle: ``((split, shard), Copy)`` per emitted copy into the shard GroupByKey.

    .venv/bin/python bench/bench_mix_shuffle.py --output RUN [--recipe recipes/llama1.yaml]
"""
from __future__ import annotations

import argparse
import collections
import os
import tempfile
import time
from pathlib import Path

from apache_beam.coders import coders

from llamacorpus.document import SOURCES
from llamacorpus.parquet import read_documents
from llamacorpus.pipeline import mix
from llamacorpus.pipeline import recipe as recipe_mod
from llamacorpus.tokenize import quota, shards
from llamacorpus.tokenize import train as trainer
from llamacorpus.tokenize.encoder import Encoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", required=True, help="a run's output (documents/ and shards/tokenizer.model)")
    parser.add_argument("--recipe", default="recipes/llama1.yaml")
    args = parser.parse_args()
    recipe = recipe_mod.load(args.recipe)
    scfg, mcfg, tcfg = recipe.shards, recipe.mixture, recipe.tokenizer
    coder = coders.FastPrimitivesCoder()
    size = lambda element: len(coder.encode(element))  # noqa: E731
    names = [s for s in SOURCES if Path(args.output, "documents", s).is_dir()]
    docs = [d for s in names for d in read_documents(args.output, s)]
    started = time.process_time()
    stats = {s: shards.SourceStats(scfg.validation_max_documents) for s in names}
    for d in docs:
        stats[d["source"]].add(*shards.split_input(d, scfg.shuffle_seed)[1])
    info = {s: shards.split_info(st, scfg) for s, st in stats.items()}
    shuffled = collections.Counter()

    items = [i for d in docs if (i := trainer.sample_item(d, info, tcfg, scfg.shuffle_seed))]
    shuffled["tokenizer sample quota: histogram input (upper bound)"] = sum(size((g, (o, w))) for g, (o, _, w) in items)
    cuts = quota.local_cuts(lambda: items, lambda t: mix.sample_targets(t, recipe), quota.AT_MOST)
    entries = [e for d in docs if (e := trainer.sample_entry(d, info, cuts, tcfg, scfg.shuffle_seed))]
    with tempfile.TemporaryDirectory() as tmp:
        part = trainer.SamplePart(f"{tmp}/sample{trainer.SamplePart.SUFFIX}")
        for e in entries:
            part.add(e)
        part.close()
        shuffled["tokenizer sample: part files (staged)"] = os.path.getsize(part.path)

    model = Path(args.output, "shards", "tokenizer.model").read_bytes()
    enc = Encoder(model, scfg.add_bos, scfg.add_eos, scfg.domain_tags)
    fn = mix.EncodeFn(scfg, mcfg.chunk_tokens)
    units = [u for d in docs for u in fn.process(d, model, info) if isinstance(u, mix.Unit)]
    counts = collections.defaultdict(lambda: [0, 0, 0, 0])
    for u in units:
        key, (t, n, dn, m) = mix.count_key(u)
        c = counts[key]
        c[0], c[1], c[2], c[3] = c[0] + t, c[1] + n, c[2] + dn, max(c[3], m)
    plan = mix.make_plan(None, [(k, tuple(v)) for k, v in counts.items()], recipe, names)
    qitems = [i for u in units for i in mix.quota_item(u, plan, mcfg.seed)]
    shuffled["partial-epoch quota: histogram input (upper bound)"] = sum(size((g, (o, w))) for g, (o, _, w) in qitems)
    qcuts = quota.local_cuts(lambda: qitems, lambda t: mix.quota_targets(t, plan))
    copies = mix.EmitCopiesFn(names, mcfg.seed, scfg.shuffle_seed)
    shard_bytes = copies_n = tokens = 0
    for u in units:
        for element in copies.process(u, plan, qcuts):
            shard_bytes += size(element)
            copies_n += 1
            tokens += len(element[1].data) // enc.dtype.itemsize
    shuffled["shard shuffle: GroupByKey((split, shard))"] = shard_bytes
    cpu = time.process_time() - started
    print(f"{len(docs):,} input documents of {args.output} ({', '.join(names)}); {len(units):,} units; "
          f"{len(entries):,} documents sampled; {copies_n:,} copies, {tokens:,} tokens written; {cpu:.1f} CPU-s")
    for what, n in shuffled.items():
        print(f"{what:<58} {n:>13,} bytes  {n / len(docs):>9,.1f} bytes per input document")
    print(f"shard shuffle per token written: {shard_bytes / max(tokens, 1):.2f} bytes "
          f"({enc.dtype.itemsize} of them the token itself)")
    print(f"rerun: .venv/bin/python bench/bench_mix_shuffle.py --output {args.output} --recipe {args.recipe}")


if __name__ == "__main__":
    main()
