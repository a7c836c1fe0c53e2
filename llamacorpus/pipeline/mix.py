"""The ``mix`` stage of the graph: cleaned documents of every source -> a SentencePiece tokenizer
(trained in the graph, or given) -> the mixture plan -> shuffled Megatron shards, a manifest and
the realised mixture. Also ``llamacorpus train-tokenizer``, the same training outside Beam.

Graph (every statistic a combiner, the model a side input of bytes, so it runs on Dataflow)::

    documents ─ per-source stats (count, chars, smallest validation hashes) ──────────┐ side input
        ├─ sample at the mixture proportions ─ GroupByKey(one key) ─ train BPE ─> model bytes
        └─ encode ([BOS] [tag] text [EOS]) + validation split ─┬─ tokens per source ─> plan
                                                              └─ copies by (id, epoch) at the plan's
                                                                 rates ─ shard = shuffle hash % n ─
                                                                 GroupByKey ─ sort ─ write shard
                                                                 ─ all entries ─> manifest.json,
                                                                   stats/mixture.json, table

Rules of the plan: :mod:`llamacorpus.tokenize.mixture`; of the sample and training:
:mod:`llamacorpus.tokenize.trainer`; of the hold-out and shuffle: :mod:`llamacorpus.tokenize.shards`.
"""
from __future__ import annotations

import argparse
import collections
import json
import logging
import sys

import apache_beam as beam
from apache_beam.pvalue import AsDict, AsList, AsSingleton

from llamacorpus import fileio
from llamacorpus.config import ConfigError
from llamacorpus.document import SOURCES
from llamacorpus.pipeline import io as pio
from llamacorpus.pipeline.stats import WriteDistributions
from llamacorpus.pipeline import options
from llamacorpus.pipeline import recipe as recipe_mod
from llamacorpus.tokenize import mixture, shards, tags, trainer
from llamacorpus.tokenize.encoder import Encoder, MissingTagError

log = logging.getLogger(__name__)

TRAIN, VALIDATION = "train", "validation"


def shard_dir(output: str) -> str:
    return f"{output.rstrip('/')}/shards"


def mixture_path(output: str) -> str:
    return f"{output.rstrip('/')}/stats/mixture.json"


# ---------------------------------------------------------------------------- per-source statistics

class SourceStatsFn(beam.CombineFn):
    """(chars, validation hash) per document -> :class:`~llamacorpus.tokenize.shards.SourceStats`."""

    def __init__(self, keep: int):
        self.keep = keep

    def create_accumulator(self):
        return shards.SourceStats(self.keep)

    def add_input(self, acc, value):
        return acc.add(*value)

    def merge_accumulators(self, accs):
        accs = iter(accs)
        out = next(accs)
        for acc in accs:
            out.merge(acc)
        return out

    def extract_output(self, acc):
        return acc


def stats_input(doc: dict, seed: int) -> tuple[str, tuple[int, int]]:
    return doc["source"], (len(doc["text"]), shards.validation_hash(doc["id"], seed))


def split_info(stats: shards.SourceStats, shards_cfg) -> dict:
    return {"documents": stats.documents, "chars": stats.chars,
            "cutoff": shards.validation_cutoff(stats, shards_cfg)}


def held_out(doc: dict, info: dict, seed: int) -> bool:
    return shards.validation_hash(doc["id"], seed) <= info[doc["source"]]["cutoff"]


# ---------------------------------------------------------------------------- the tokenizer

def proportions(recipe) -> dict[str, float]:
    return {s: w.proportion for s, w in recipe.mixture.weights.items()}


def sample_rates(info: dict, recipe) -> dict[str, float]:
    return trainer.sample_rates({s: v["chars"] for s, v in info.items()}, proportions(recipe),
                                recipe.tokenizer.sample_chars)


def sampled(doc: dict, info: dict, rates: dict, recipe) -> tuple | None:
    """``(order key, source, text)`` when a document is in the tokenizer's training sample."""
    if held_out(doc, info, recipe.shards.shuffle_seed):
        return None
    if not trainer.in_sample(doc["id"], rates[doc["source"]], recipe.tokenizer.seed):
        return None
    return trainer.sample_key(doc["id"], recipe.tokenizer.seed), doc["source"], doc["text"]


def train_on(samples, recipe, models_dir: str, symbols: list[str]) -> tuple[bytes, str]:
    """Train on ``(key, source, text)`` in any order; write ``<models>/tokenizer/``."""
    sample = trainer.Sample()
    try:
        for key, source, text in samples:
            sample.add(key, source, text)
        if not sample.documents:
            raise ValueError("the tokenizer sample is empty: no document to train on")
        model, info = trainer.train(sample.texts, recipe.tokenizer, symbols)
        info["sample"] = {"documents": sample.documents, "by_source": dict(sorted(sample.by_source.items()))}
    finally:
        sample.close()
    path = trainer.write_artifact(models_dir, model, info)
    log.info("tokenizer: %d pieces (asked %d) trained on %d documents -> %s", info["vocab_size"],
             info["vocab_size_asked"], info["sample"]["documents"], path)
    return model, path


class SampleFn(beam.DoFn):
    """Training documents drawn at the mixture proportions -> (0, (key, source, text))."""

    def __init__(self, recipe):
        self.recipe = recipe
        self._info = self._rates = None

    def process(self, doc, info):
        if info is not self._info:
            self._info, self._rates = info, sample_rates(info, self.recipe)
        entry = sampled(doc, info, self._rates, self.recipe)
        if entry is not None:
            yield 0, entry


class TrainFn(beam.DoFn):
    """The whole sample (one key) -> the model bytes; also writes ``<models>/tokenizer/``."""

    def __init__(self, recipe, models_dir: str):
        self.recipe, self.models_dir = recipe, models_dir

    def process(self, element, symbols):
        yield train_on(element[1], self.recipe, self.models_dir, symbols)[0]


def tag_symbols(docs, recipe) -> beam.PCollection:
    """The domain-tag pieces the tokenizer must learn (one element: a list)."""
    mode, n = recipe.shards.domain_tags, recipe.shards.domain_tag_count
    if mode != "domain":
        return docs.pipeline | "mix/tags/fixed" >> beam.Create([tags.symbols(mode)])
    return (docs
            | "mix/tags/domain" >> beam.Map(lambda d: (tags.domain_key(d), 1))
            | "mix/tags/count" >> beam.CombinePerKey(sum)
            | "mix/tags/top" >> beam.combiners.Top.Of(n, key=lambda kv: (-kv[1], kv[0]), reverse=True)
            | "mix/tags/symbols" >> beam.Map(lambda top, n=n: tags.symbols("domain", tags.top_domains(top, n))))


def given_model(recipe) -> bytes:
    """The user's ``tokenizer.model``, checked before the pipeline starts."""
    path = recipe.tokenizer.model
    if not fileio.exists(path):
        raise fileio.InputError(f"tokenizer.model {path!r} does not exist")
    data = fileio.read_bytes(path)
    try:
        Encoder(data, recipe.shards.add_bos, recipe.shards.add_eos, recipe.shards.domain_tags)
    except MissingTagError as exc:
        raise ConfigError(f"tokenizer.model: {exc}") from None
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"tokenizer.model {path!r} is not a usable SentencePiece model: {exc}") from None
    return data


def tokenizer_model(docs, info, recipe, ctx) -> beam.PCollection:
    """One element: the SentencePiece model bytes."""
    if recipe.tokenizer.model:
        return docs.pipeline | "mix/tokenizer/given" >> beam.Create([given_model(recipe)])
    symbols = tag_symbols(docs, recipe)
    return (docs
            | "mix/tokenizer/sample" >> beam.ParDo(SampleFn(recipe), info)
            | "mix/tokenizer/gather" >> beam.GroupByKey()
            | "mix/tokenizer/train" >> beam.ParDo(TrainFn(recipe, ctx.models_dir), AsSingleton(symbols)))


# ---------------------------------------------------------------------------- encoding and the plan

class EncodeFn(beam.DoFn):
    """doc -> (split, source, id, tokens, token bytes); the model is loaded once per worker."""

    def __init__(self, shards_cfg):
        self.cfg = shards_cfg
        self._model = self._encoder = None

    def process(self, doc, model, info):
        if model is not self._model and model != self._model:
            self._encoder = Encoder(model, self.cfg.add_bos, self.cfg.add_eos, self.cfg.domain_tags)
            self._model = model
        split = VALIDATION if held_out(doc, info, self.cfg.shuffle_seed) else TRAIN
        data = self._encoder.encode_bytes(doc)
        yield split, doc["source"], doc["id"], len(data) // self._encoder.dtype.itemsize, data


def make_plan(_, counts, recipe) -> dict:
    """The mixture plan from ``((split, source), (tokens, documents, sum of squared lengths))``."""
    by = {k: v for k, v in counts}
    train = {s: by[(TRAIN, s)][0] for (split, s) in by if split == TRAIN}
    squares = {s: by[(TRAIN, s)][2] for (split, s) in by if split == TRAIN}
    weights = {s: (w.proportion, w.epochs) for s, w in recipe.mixture.weights.items()}
    plan = mixture.make_plan(train, weights, recipe.mixture.total_tokens, recipe.mixture.shortfall, squares)
    plan["available_documents"] = {s: by[(TRAIN, s)][1] for (split, s) in sorted(by) if split == TRAIN}
    validation = {s: {"tokens": v[0], "documents": v[1]} for (split, s), v in sorted(by.items())
                  if split == VALIDATION}
    plan["validation"] = validation
    tps = recipe.shards.tokens_per_shard
    plan["shard_count"] = {TRAIN: shards.shard_count(plan["planned_tokens"], tps),
                           VALIDATION: shards.shard_count(sum(v["tokens"] for v in validation.values()), tps)}
    return plan


class EmitCopiesFn(beam.DoFn):
    """Encoded document -> its copies at the plan's rate, keyed by (split, shard index) with the
    in-shard sort key (two-level shuffle)."""

    def __init__(self, names: list[str], mix_seed: int, shuffle_seed: int):
        self.index = {s: i for i, s in enumerate(names)}
        self.mix_seed, self.shuffle_seed = mix_seed, shuffle_seed
        self._plan = self._rates = None

    def process(self, record, plan):
        if plan is not self._plan:
            self._plan, self._rates = plan, mixture.rates(plan)
        split, source, doc_id, _, data = record
        epochs = [0] if split == VALIDATION else mixture.copies(doc_id, self._rates.get(source, 0.0), self.mix_seed)
        n = plan["shard_count"][split]
        for epoch in epochs:
            key = shards.shuffle_key(doc_id, epoch, self.shuffle_seed)
            yield (split, key % n), (key, doc_id, epoch, self.index[source], data)


class WriteShardFn(beam.DoFn):
    def __init__(self, directory: str, names: list[str]):
        self.directory, self.names = directory, names

    def process(self, element, model):
        (split, index), docs = element
        ordered = sorted(docs, key=lambda d: d[:3])
        dtype = Encoder(model).dtype
        entry = shards.write_shard(self.directory, shards.shard_prefix(split, index),
                                   ((d[3], d[4]) for d in ordered), dtype, self.names)
        yield split, entry


def finalize(entries, plan, model, recipe, names: list[str], output: str) -> dict:
    """Manifest, tokenizer copy and ``stats/mixture.json`` once every shard is written."""
    info = trainer.model_info(model)
    tag_ids = Encoder(model, recipe.shards.add_bos, recipe.shards.add_eos, recipe.shards.domain_tags).tag_ids
    train = [e for split, e in entries if split == TRAIN]
    validation = [e for split, e in entries if split == VALIDATION]
    manifest = shards.build_manifest(train, validation, names, info, tag_ids, recipe.shards, recipe.digest())
    shards.write_manifest(shard_dir(output), manifest, model)
    result = mixture.add_realised(plan, manifest["source_tokens"], manifest["source_documents"])
    result["validation"] = {"planned": plan["validation"], "written": {
        "tokens": manifest["validation"]["tokens"], "documents": manifest["validation"]["documents"]}}
    result["shards"] = {"train": len(train), "validation": len(validation), "directory": shard_dir(output)}
    result["tokenizer"] = {**info, "given": bool(recipe.tokenizer.model)}
    fileio.atomic_write(mixture_path(output), json.dumps(result, indent=1, sort_keys=True))
    # the plan table is printed by the run from run.json (this runs on a worker)
    log.info("shards: %d training + %d validation in %s (%s + %s tokens)", len(train), len(validation),
             shard_dir(output), f"{manifest['tokens']:,}", f"{manifest['validation']['tokens']:,}")
    return result


def build(p: beam.Pipeline, documents: dict[str, beam.PCollection], recipe, ctx) -> beam.PCollection:
    """Mix ``documents`` (source -> cleaned documents) into ``<output>/shards``; returns the
    PCollection holding the final mixture report (one dict)."""
    names = [s for s in SOURCES if s in documents]
    scfg = recipe.shards
    docs = [documents[n] for n in names] | "mix/flatten" >> beam.Flatten()
    info = AsDict(docs
                  | "mix/stats/key" >> beam.Map(stats_input, scfg.shuffle_seed)
                  | "mix/stats/combine" >> beam.CombinePerKey(SourceStatsFn(scfg.validation_max_documents))
                  | "mix/stats/split" >> beam.MapTuple(lambda s, st, cfg=scfg: (s, split_info(st, cfg))))
    model = tokenizer_model(docs, info, recipe, ctx)
    encoded = docs | "mix/encode" >> beam.ParDo(EncodeFn(scfg), AsSingleton(model), info)
    (encoded  # token lengths per document (BOS/EOS/tags included) for the statistics
     | "mix/lengths" >> beam.Map(lambda r: (f"{r[1]}/output/tokens", r[3]))
     | "mix/lengths/write" >> WriteDistributions(ctx.output, "mixture"))
    counts = (encoded
              | "mix/count/key" >> beam.Map(lambda r: ((r[0], r[1]), (r[3], 1, r[3] ** 2)))
              | "mix/count/sum" >> beam.CombinePerKey(beam.combiners.TupleCombineFn(sum, sum, sum)))
    plan = (p | "mix/plan/start" >> beam.Create([None])
            | "mix/plan/make" >> beam.Map(make_plan, AsList(counts), recipe))
    entries = (encoded
               | "mix/copies" >> beam.ParDo(EmitCopiesFn(names, recipe.mixture.seed, scfg.shuffle_seed), AsSingleton(plan))
               | "mix/shuffle" >> beam.GroupByKey()
               | "mix/write" >> beam.ParDo(WriteShardFn(shard_dir(ctx.output), names), AsSingleton(model)))
    return (entries
            | "mix/entries" >> beam.combiners.ToList()
            | "mix/finalize" >> beam.Map(finalize, AsSingleton(plan), AsSingleton(model), recipe, names, ctx.output))


# ---------------------------------------------------------------------------- llamacorpus train-tokenizer

def train_tokenizer_main(argv: list[str] | None = None) -> int:
    """Train the tokenizer from the documents a run wrote (``<output>/documents/<source>``)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(
        prog="llamacorpus train-tokenizer",
        description="Train the SentencePiece BPE tokenizer (LLaMA's trainer spec from the recipe's tokenizer "
                    "section) on a sample of <output>/documents drawn at the mixture proportions; writes "
                    "<models>/tokenizer/tokenizer.model and tokenizer.json.")
    parser.add_argument("--output", required=True, help="a run's output directory (its documents/ are read)")
    parser.add_argument("--recipe", default=options.DEFAULT_RECIPE, help="recipe YAML (default %(default)s)")
    parser.add_argument("--models_dir", default=None, help="where to write tokenizer/ (default <output>/models)")
    parser.add_argument("--sources", default=None, help="comma-separated sources (default: all with documents)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override any recipe key, e.g. --set tokenizer.vocab_size=8000")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        recipe = recipe_mod.load(args.recipe, args.overrides, output=args.output, models_dir=args.models_dir)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    wanted = [s.strip() for s in args.sources.split(",")] if args.sources else list(SOURCES)
    names = [s for s in SOURCES if s in wanted and fileio.exists(pio.marker_path(recipe.output, s))]
    if not names:
        print(f"error: no finished source under {recipe.output}/documents (run the documents stage first)",
              file=sys.stderr)
        return 2
    scfg = recipe.shards
    stats = {s: shards.SourceStats(scfg.validation_max_documents) for s in names}
    domains: collections.Counter = collections.Counter()
    for name in names:
        for doc in pio.read_documents(recipe.output, name):
            stats[name].add(*stats_input(doc, scfg.shuffle_seed)[1])
            if scfg.domain_tags == "domain":
                domains[tags.domain_key(doc)] += 1
    info = {s: split_info(st, scfg) for s, st in stats.items()}
    rates = sample_rates(info, recipe)
    symbols = tags.symbols(scfg.domain_tags, tags.top_domains(domains, scfg.domain_tag_count))
    samples = (entry for name in names for doc in pio.read_documents(recipe.output, name)
               if (entry := sampled(doc, info, rates, recipe)) is not None)
    _, path = train_on(samples, recipe, recipe.models, symbols)
    print(f"tokenizer: {path}\nuse it in a run with --set tokenizer.model={path}")
    return 0
