"""The ``mix`` stage of the graph: cleaned documents of every source -> a SentencePiece tokenizer
(trained in the graph, or given) -> the mixture plan -> shuffled Megatron shards, a manifest and
the realised mixture. ``llamacorpus train-tokenizer`` (:func:`llamacorpus.tokenize.train.main`)
trains the same tokenizer outside Beam.

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
:mod:`llamacorpus.tokenize.train`; of the hold-out and shuffle: :mod:`llamacorpus.tokenize.shards`.
"""
from __future__ import annotations

import logging
from typing import NamedTuple

import apache_beam as beam
from apache_beam.pvalue import AsDict, AsList, AsSingleton

from llamacorpus import fileio
from llamacorpus.config import ConfigError
from llamacorpus.document import SOURCES
from llamacorpus.layout import Layout
from llamacorpus.pipeline.stats import WriteDistributions
from llamacorpus.tokenize import mixture, shards, tags
from llamacorpus.tokenize import train as trainer
from llamacorpus.tokenize.encoder import Encoder, MissingTagError

log = logging.getLogger(__name__)

TRAIN, VALIDATION = "train", "validation"


class Encoded(NamedTuple):
    """A document encoded for the shards."""

    split: str  # TRAIN or VALIDATION
    source: str
    id: str
    tokens: int
    data: bytes  # the token ids, in the shards' dtype


class Copy(NamedTuple):
    """One emitted copy of an encoded document, as a shard holds it before sorting."""

    key: int  # shuffle key: orders the shard
    id: str
    epoch: int
    source_index: int
    data: bytes

    def order(self) -> tuple:
        return self.key, self.id, self.epoch


class TokenCounts(NamedTuple):
    """What the plan needs per (split, source)."""

    tokens: int
    documents: int
    squares: int  # sum of squared document lengths (the sampling spread)


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


class SampleFn(beam.DoFn):
    """Training documents drawn at the mixture proportions -> (0, SampleEntry)."""

    def __init__(self, recipe):
        self.proportions = mixture.proportions(recipe.mixture)
        self.tokenizer, self.shuffle_seed = recipe.tokenizer, recipe.shards.shuffle_seed
        self._info = self._rates = None

    def process(self, doc, info):
        if info is not self._info:
            self._info, self._rates = info, trainer.split_rates(info, self.proportions, self.tokenizer)
        entry = trainer.sample_entry(doc, info, self._rates, self.tokenizer, self.shuffle_seed)
        if entry is not None:
            yield 0, entry


class TrainFn(beam.DoFn):
    """The whole sample (one key) -> the model bytes; also writes ``<models>/tokenizer/``."""

    def __init__(self, recipe, directory: str):
        self.tokenizer, self.directory = recipe.tokenizer, directory

    def process(self, element, symbols):
        yield trainer.train_on(element[1], self.tokenizer, self.directory, symbols)[0]


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
            | "mix/tokenizer/train" >> beam.ParDo(TrainFn(recipe, ctx.layout.tokenizer), AsSingleton(symbols)))


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
        split = VALIDATION if shards.held_out(doc, info, self.cfg.shuffle_seed) else TRAIN
        data = self._encoder.encode_bytes(doc)
        yield Encoded(split, doc["source"], doc["id"], len(data) // self._encoder.dtype.itemsize, data)


def count_key(record: Encoded) -> tuple[tuple[str, str], tuple[int, int, int]]:
    return (record.split, record.source), (record.tokens, 1, record.tokens ** 2)


def make_plan(_, counts, recipe) -> dict:
    """The mixture plan from ``((split, source), (tokens, documents, sum of squared lengths))``."""
    by = {key: TokenCounts(*value) for key, value in counts}
    train = {s: c for (split, s), c in sorted(by.items()) if split == TRAIN}
    weights = {s: (w.proportion, w.epochs) for s, w in recipe.mixture.weights.items()}
    plan = mixture.make_plan({s: c.tokens for s, c in train.items()}, weights, recipe.mixture.total_tokens,
                             recipe.mixture.shortfall, {s: c.squares for s, c in train.items()})
    plan["available_documents"] = {s: c.documents for s, c in train.items()}
    validation = {s: {"tokens": c.tokens, "documents": c.documents} for (split, s), c in sorted(by.items())
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

    def process(self, record: Encoded, plan):
        if plan is not self._plan:
            self._plan, self._rates = plan, mixture.rates(plan)
        epochs = [0] if record.split == VALIDATION else mixture.copies(
            record.id, self._rates.get(record.source, 0.0), self.mix_seed)
        n = plan["shard_count"][record.split]
        for epoch in epochs:
            key = shards.shuffle_key(record.id, epoch, self.shuffle_seed)
            yield (record.split, key % n), Copy(key, record.id, epoch, self.index[record.source], record.data)


class WriteShardFn(beam.DoFn):
    def __init__(self, directory: str, names: list[str]):
        self.directory, self.names = directory, names

    def process(self, element, model):
        (split, index), copies = element
        ordered = sorted((Copy(*c) for c in copies), key=Copy.order)
        dtype = Encoder(model).dtype
        entry = shards.write_shard(self.directory, shards.shard_prefix(split, index),
                                   ((c.source_index, c.data) for c in ordered), dtype, self.names)
        yield split, entry


def finalize(entries, plan, model, recipe, names: list[str], output: str) -> dict:
    """Manifest, tokenizer copy and ``stats/mixture.json`` once every shard is written."""
    info = trainer.model_info(model)
    tag_ids = Encoder(model, recipe.shards.add_bos, recipe.shards.add_eos, recipe.shards.domain_tags).tag_ids
    train = [e for split, e in entries if split == TRAIN]
    validation = [e for split, e in entries if split == VALIDATION]
    manifest = shards.build_manifest(train, validation, names, info, tag_ids, recipe.shards, recipe.digest())
    layout = Layout(output)
    shards.write_manifest(layout.shards, manifest, model)
    result = mixture.add_realised(plan, manifest["source_tokens"], manifest["source_documents"])
    result["validation"] = {"planned": plan["validation"], "written": {
        "tokens": manifest["validation"]["tokens"], "documents": manifest["validation"]["documents"]}}
    result["shards"] = {"train": len(train), "validation": len(validation), "directory": layout.shards}
    result["tokenizer"] = {**info, "given": bool(recipe.tokenizer.model)}
    fileio.write_json(layout.stats("mixture"), result)
    # the plan table is printed by the run from run.json (this runs on a worker)
    log.info("shards: %d training + %d validation in %s (%s + %s tokens)", len(train), len(validation),
             layout.shards, f"{manifest['tokens']:,}", f"{manifest['validation']['tokens']:,}")
    return result


def build(p: beam.Pipeline, documents: dict[str, beam.PCollection], recipe, ctx) -> beam.PCollection:
    """Mix ``documents`` (source -> cleaned documents) into ``<output>/shards``; returns the
    PCollection holding the final mixture report (one dict)."""
    names = [s for s in SOURCES if s in documents]
    scfg = recipe.shards
    docs = [documents[n] for n in names] | "mix/flatten" >> beam.Flatten()
    info = AsDict(docs
                  | "mix/stats/key" >> beam.Map(shards.split_input, scfg.shuffle_seed)
                  | "mix/stats/combine" >> beam.CombinePerKey(SourceStatsFn(scfg.validation_max_documents))
                  | "mix/stats/split" >> beam.MapTuple(lambda s, st, cfg=scfg: (s, shards.split_info(st, cfg))))
    model = tokenizer_model(docs, info, recipe, ctx)
    encoded = docs | "mix/encode" >> beam.ParDo(EncodeFn(scfg), AsSingleton(model), info)
    (encoded  # token lengths per document (BOS/EOS/tags included) for the statistics
     | "mix/lengths" >> beam.Map(lambda r: (f"{r.source}/output/tokens", r.tokens))
     | "mix/lengths/write" >> WriteDistributions(ctx.output, "mixture"))
    counts = (encoded
              | "mix/count/key" >> beam.Map(count_key)
              | "mix/count/sum" >> beam.CombinePerKey(beam.combiners.TupleCombineFn(sum, sum, sum)))
    plan = (p | "mix/plan/start" >> beam.Create([None])
            | "mix/plan/make" >> beam.Map(make_plan, AsList(counts), recipe))
    entries = (encoded
               | "mix/copies" >> beam.ParDo(EmitCopiesFn(names, recipe.mixture.seed, scfg.shuffle_seed), AsSingleton(plan))
               | "mix/shuffle" >> beam.GroupByKey()
               | "mix/write" >> beam.ParDo(WriteShardFn(ctx.layout.shards, names), AsSingleton(model)))
    return (entries
            | "mix/entries" >> beam.combiners.ToList()
            | "mix/finalize" >> beam.Map(finalize, AsSingleton(plan), AsSingleton(model), recipe, names, ctx.output))
