"""The ``mix`` stage of the graph: cleaned documents of every source -> a SentencePiece tokenizer
(trained in the graph, or given) -> the mixture plan -> shuffled Megatron shards, a manifest and
the realised mixture. ``llamacorpus train-tokenizer`` (:func:`llamacorpus.tokenize.train.main`)
trains the same tokenizer outside Beam.

Graph (every statistic a combiner, the model a side input of bytes, so it runs on Dataflow)::

    documents ─ per-source stats (count, chars, smallest validation hashes) ───────────┐ side input
        ├─ sample quota (chars by hash bucket, then the boundary bucket) ─ sample ─ a part file per
        │  bundle (staging/tokenizer-sample) ─ the parts' paths gathered ─ train BPE ─> model bytes
        │                                      (at most tokenizer.sample_chars characters sampled)
        └─ encode ([BOS] [tag] text [EOS], chunks of at most mixture.chunk_tokens) + validation
           split ─┬─ tokens per source ─> plan
                  ├─ partial-epoch quota (tokens by hash bucket, then the boundary bucket) ─> cuts
                  └─ copies by (id, chunk, epoch): every whole epoch, and the partial epoch's units
                     within the cut ─ shard = shuffle hash % n ─ GroupByKey ─ external sort ─ write
                     shard ─ all entries ─> manifest.json, hf_tokenizer/, stats/mixture.json

No step holds a source: the quotas are combiners over hash buckets, the sample and each shard are
spilled to local disk and read back sorted (:class:`~llamacorpus.tokenize.spill.SpillSort`); the
sample reaches the training worker through files, not a shuffle.
When no document reaches the mixture (every source empty after cleaning) the plan step fails
the run with :class:`EmptyMixtureError`, naming it.

Rules of the plan and the quota: :mod:`llamacorpus.tokenize.mixture`, :mod:`llamacorpus.tokenize.quota`; of the sample and training:
:mod:`llamacorpus.tokenize.train`; of the hold-out and shuffle: :mod:`llamacorpus.tokenize.shards`.
"""
from __future__ import annotations

import logging
import uuid
from typing import Any, NamedTuple, Tuple

import apache_beam as beam
from apache_beam.pvalue import AsDict, AsList, AsSingleton
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from llamacorpus import fileio
from llamacorpus.config import ConfigError
from llamacorpus.document import SOURCES
from llamacorpus.layout import Layout
from llamacorpus.pipeline.stats import WriteDistributions
from llamacorpus.tokenize import hf, mixture, quota, shards, tags
from llamacorpus.tokenize import train as trainer
from llamacorpus.tokenize.encoder import Encoder, MissingTagError
from llamacorpus.tokenize.spill import SpillSort

log = logging.getLogger(__name__)

TRAIN, VALIDATION = "train", "validation"


class EmptyMixtureError(RuntimeError):
    """No document reached the mix stage."""


class Unit(NamedTuple):
    """A document, or one chunk of it, encoded for the shards."""

    split: str  # TRAIN or VALIDATION
    source: str
    id: str  # the document id
    chunk: int  # 0, 1, ... (0 for a document kept whole)
    tokens: int
    data: bytes  # the token ids, in the shards' dtype

    @property
    def tiebreak(self) -> str:
        return f"{self.id}\x00{self.chunk:08d}"


class Copy(NamedTuple):
    """One emitted copy of a unit, as a shard holds it before sorting."""

    key: int  # shuffle key: orders the shard
    id: str
    chunk: int
    epoch: int
    source_index: int
    data: bytes

    def tiebreak(self) -> bytes:
        return f"{self.id}\x00{self.chunk:08d}\x00{self.epoch:08d}".encode("utf-8")


class TokenCounts(NamedTuple):
    """What the plan needs per (split, source)."""

    tokens: int
    units: int
    documents: int
    max_unit_tokens: int


# ---------------------------------------------------------------------------- combiners

class MergeableFn(beam.CombineFn):
    """A combiner over an accumulator object with ``add(*value)`` and ``merge(other)``:
    :class:`~llamacorpus.tokenize.shards.SourceStats` (count, chars, smallest validation hashes)
    and :class:`~llamacorpus.tokenize.quota.Histogram` (weight per hash bucket)."""

    def __init__(self, factory, *args):
        self.factory, self.args = factory, args

    def create_accumulator(self):
        return self.factory(*self.args)

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


# ---------------------------------------------------------------------------- exact quotas

class QuotaCuts(beam.PTransform):
    """``(group, (order, tiebreak, weight))`` -> one element, ``{group: Cut}``: per group, the items
    taken in order up to the target (:mod:`llamacorpus.tokenize.quota`). ``targets(totals, *side)``
    gives group -> target weight from the total weight per group (and the side inputs)."""

    def __init__(self, targets, rule: str, *side):
        super().__init__()
        self.targets, self.rule, self.side = targets, rule, side

    def expand(self, items):
        targets, rule = self.targets, self.rule
        hists = (items
                 | "histogram/key" >> beam.MapTuple(lambda g, item: (g, (item[0], item[2])))
                 .with_output_types(Tuple[str, Any])  # 64-bit unsigned hashes: no VarIntCoder
                 | "histogram" >> beam.CombinePerKey(MergeableFn(quota.Histogram)))
        start = items.pipeline | "start" >> beam.Create([None])

        def bounds(_, hists, *side):
            wanted = targets({g: h.total for g, h in hists.items()}, *side)
            return {g: quota.boundary(h, wanted.get(g, 0)) for g, h in hists.items()}

        boundaries = AsSingleton(start | "boundaries" >> beam.Map(bounds, AsDict(hists), *self.side))
        inside = (items
                  | "boundary-bucket" >> beam.Filter(
                      lambda kv, b: kv[0] in b and quota.bucket(kv[1][0]) == b[kv[0]].bucket, boundaries)
                  .with_output_types(Tuple[str, Any])
                  | "gather" >> beam.CombinePerKey(beam.combiners.ToListCombineFn()))
        return start | "cuts" >> beam.Map(
            lambda _, b, lists: {g: quota.cut(bd, lists.get(g, []), rule) for g, bd in b.items()},
            boundaries, AsDict(inside))


# ---------------------------------------------------------------------------- the tokenizer

class WriteSampleFn(beam.DoFn):
    """Sample entries -> one :class:`~llamacorpus.tokenize.train.SamplePart` per bundle under
    ``directory`` (the layout's ``staging/tokenizer-sample``, on the run's filesystem); yields each
    part's path once the part is closed. Only the paths cross the gather, not the sample's text,
    which a GroupByKey would hold in the runner and hand to the training worker as one list (four
    copies of the sample on the local runner)."""

    def __init__(self, directory: str):
        self.directory = directory
        self._part = None

    def start_bundle(self):
        self._part = None

    def process(self, entry):
        if self._part is None:
            self._part = trainer.SamplePart(f"{self.directory}/{uuid.uuid4().hex}{trainer.SamplePart.SUFFIX}")
        self._part.add(entry)

    def finish_bundle(self):
        if self._part is not None:
            self._part.close()
            yield WindowedValue(self._part.path, MIN_TIMESTAMP, [GlobalWindow()])
            self._part = None


class TrainFn(beam.DoFn):
    """Every sample part (one list of paths) -> the model bytes; also writes ``<models>/tokenizer/``.
    No part (an empty sample) gives no model."""

    def __init__(self, recipe, directory: str):
        self.tokenizer, self.directory = recipe.tokenizer, directory

    def process(self, paths, symbols):
        if paths:
            yield trainer.train_on(trainer.read_sample_parts(sorted(paths)), self.tokenizer, self.directory,
                                   symbols)[0]


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


def sample_targets(totals: dict, recipe) -> dict:
    return trainer.sample_targets(totals, mixture.proportions(recipe.mixture), recipe.tokenizer.sample_chars)


def tokenizer_model(docs, info, recipe, ctx) -> beam.PCollection:
    """One element: the SentencePiece model bytes."""
    if recipe.tokenizer.model:
        return docs.pipeline | "mix/tokenizer/given" >> beam.Create([given_model(recipe)])
    symbols = tag_symbols(docs, recipe)
    tcfg, seed = recipe.tokenizer, recipe.shards.shuffle_seed
    cuts = (docs
            | "mix/tokenizer/items" >> beam.FlatMap(
                lambda d, info: [i] if (i := trainer.sample_item(d, info, tcfg, seed)) else [], info)
            | "mix/tokenizer/quota" >> QuotaCuts(sample_targets, quota.AT_MOST, recipe))
    return (docs
            | "mix/tokenizer/sample" >> beam.FlatMap(
                lambda d, info, cuts: [e] if (e := trainer.sample_entry(d, info, cuts, tcfg, seed)) else [],
                info, AsSingleton(cuts))
            | "mix/tokenizer/write" >> beam.ParDo(WriteSampleFn(ctx.layout.tokenizer_sample))
            | "mix/tokenizer/gather" >> beam.combiners.ToList()
            | "mix/tokenizer/train" >> beam.ParDo(TrainFn(recipe, ctx.layout.tokenizer), AsSingleton(symbols)))


# ---------------------------------------------------------------------------- encoding and the plan

LENGTHS = "lengths"


class EncodeFn(beam.DoFn):
    """doc -> its :class:`Unit` (one, or one per chunk); the document's whole length goes to the
    ``lengths`` output. The model is loaded once per worker."""

    def __init__(self, shards_cfg, chunk_tokens: int):
        self.cfg, self.chunk_tokens = shards_cfg, chunk_tokens
        self._model = self._encoder = None

    def process(self, doc, model, info):
        if model is not self._model and model != self._model:
            self._encoder = Encoder(model, self.cfg.add_bos, self.cfg.add_eos, self.cfg.domain_tags)
            self._model = model
        split = VALIDATION if shards.held_out(doc, info, self.cfg.shuffle_seed) else TRAIN
        parts = self._encoder.encode_units(doc, self.chunk_tokens)
        size = self._encoder.dtype.itemsize
        extra = (len(parts) - 1) * (len(self._encoder.prefix) + len(self._encoder.suffix)
                                    + (self._encoder.tag_id(doc) is not None))
        yield beam.pvalue.TaggedOutput(LENGTHS, (f"{doc['source']}/output/tokens",
                                                 sum(len(p) for p in parts) // size - extra))
        for chunk, data in enumerate(parts):
            yield Unit(split, doc["source"], doc["id"], chunk, len(data) // size, data)


def count_key(unit: Unit) -> tuple[tuple[str, str], tuple[int, int, int, int]]:
    return (unit.split, unit.source), (unit.tokens, 1, int(unit.chunk == 0), unit.tokens)


def make_plan(_, counts, recipe, names: list[str]) -> dict:
    """The mixture plan from ``((split, source), (tokens, units, documents, largest unit))``."""
    by = {key: TokenCounts(*value) for key, value in counts}
    if not by:
        raise EmptyMixtureError(
            f"no documents reached the mixture: every source of the mix stage ({', '.join(names) or 'none'}) "
            "has no documents left after cleaning (see the run's source table and errors/)")
    train = {s: c for (split, s), c in sorted(by.items()) if split == TRAIN}
    weights = {s: (w.proportion, w.epochs) for s, w in recipe.mixture.weights.items()}
    plan = mixture.make_plan({s: c.tokens for s, c in train.items()}, weights, recipe.mixture.total_tokens,
                             recipe.mixture.shortfall)
    for row in plan["sources"]:
        c = train.get(row["source"])
        row.update(available_units=c.units if c else 0, max_unit_tokens=c.max_unit_tokens if c else 0)
    plan["available_documents"] = {s: c.documents for s, c in train.items()}
    validation = {s: {"tokens": c.tokens, "documents": c.documents, "units": c.units}
                  for (split, s), c in sorted(by.items()) if split == VALIDATION}
    plan["validation"] = validation
    plan["chunk_tokens"] = recipe.mixture.chunk_tokens
    tps = recipe.shards.tokens_per_shard
    plan["shard_count"] = {TRAIN: shards.shard_count(plan["planned_tokens"], tps),
                           VALIDATION: shards.shard_count(sum(v["tokens"] for v in validation.values()), tps)}
    return plan


def quota_item(unit: Unit, plan: dict, seed: int):
    """A training unit as an item of its source's partial-epoch quota (none when the source's
    plan has no partial epoch)."""
    if unit.split != TRAIN:
        return []
    full, partial = mixture.quota_rows(plan).get(unit.source, (0, 0.0))
    if partial <= 0:
        return []
    return [(unit.source, (mixture.quota_order(unit.id, unit.chunk, full, seed), unit.tiebreak, unit.tokens))]


def quota_targets(_totals: dict, plan: dict) -> dict:
    return {s: partial for s, (_, partial) in mixture.quota_rows(plan).items()}


class EmitCopiesFn(beam.DoFn):
    """Unit -> its copies: one per whole epoch, and one in the partial epoch when it is within the
    cut; keyed by (split, shard index) with the in-shard sort key (two-level shuffle)."""

    def __init__(self, names: list[str], mix_seed: int, shuffle_seed: int):
        self.index = {s: i for i, s in enumerate(names)}
        self.mix_seed, self.shuffle_seed = mix_seed, shuffle_seed
        self._plan = self._rows = None

    def process(self, unit: Unit, plan, cuts):
        if plan is not self._plan:
            self._plan, self._rows = plan, mixture.quota_rows(plan)
        if unit.split == VALIDATION:
            epochs = [0]
        else:
            full, partial = self._rows.get(unit.source, (0, 0.0))
            epochs = list(range(full))
            if partial > 0 and unit.source in cuts and quota.taken(
                    cuts[unit.source], mixture.quota_order(unit.id, unit.chunk, full, self.mix_seed), unit.tiebreak):
                epochs.append(full)
        n = plan["shard_count"][unit.split]
        for epoch in epochs:
            key = shards.shuffle_key(unit.id, unit.chunk, epoch, self.shuffle_seed)
            yield (unit.split, key % n), Copy(key, unit.id, unit.chunk, epoch, self.index[unit.source], unit.data)


class WriteShardFn(beam.DoFn):
    """(split, shard index), copies -> the shard, written in (key, id, chunk, epoch) order from an
    external sort (only keys and offsets in memory)."""

    def __init__(self, directory: str, names: list[str]):
        self.directory, self.names = directory, names

    def process(self, element, model):
        (split, index), copies = element
        dtype = Encoder(model).dtype
        with SpillSort(prefix="shard-") as spill:
            for c in copies:
                c = Copy(*c)
                spill.add(c.key, c.tiebreak(), bytes([c.source_index]) + c.data)
            entry = shards.write_shard(self.directory, shards.shard_prefix(split, index),
                                       ((record[0], record[1:]) for record in spill), dtype, self.names)
        yield split, entry


def units_manifest(plan: dict) -> dict:
    """What the manifest says about documents and chunks."""
    train = {r["source"]: r for r in plan["sources"]}
    validation = plan.get("validation", {})
    documents = sum(plan["available_documents"].values()) + sum(v["documents"] for v in validation.values())
    units = sum(r.get("available_units", 0) for r in train.values()) + sum(v["units"] for v in validation.values())
    return {"chunk_tokens": plan["chunk_tokens"], "documents": documents, "units": units,
            "rule": "a document whose sequence (BOS, tag, text, EOS) is longer than chunk_tokens is cut into "
                    "chunks of at most chunk_tokens tokens, on line boundaries where possible; each chunk is "
                    "a sequence of its own with BOS, tag and EOS, known as the document id plus its chunk "
                    "number (0, 1, ...)"}


def finalize(entries, plan, model, recipe, names: list[str], output: str) -> dict:
    """Manifest, tokenizer copies and ``stats/mixture.json`` once every shard is written."""
    if model is None:
        raise EmptyMixtureError("no documents reached the mixture: no tokenizer could be trained")
    info = trainer.model_info(model)
    tag_ids = Encoder(model, recipe.shards.add_bos, recipe.shards.add_eos, recipe.shards.domain_tags).tag_ids
    train = [e for split, e in entries if split == TRAIN]
    validation = [e for split, e in entries if split == VALIDATION]
    manifest = shards.build_manifest(train, validation, names, info, tag_ids, recipe.shards, recipe.digest(),
                                     units_manifest(plan))
    layout = Layout(output)
    shards.write_manifest(layout.shards, manifest, model)
    fileio.delete(fileio.match_paths(f"{layout.tokenizer_sample}/*"))  # a failed bundle's part too
    result = mixture.add_realised(plan, manifest["source_tokens"], manifest["source_documents"],
                                  recipe.mixture.tolerance_pp)
    result["validation"] = {"planned": plan["validation"], "written": {
        "tokens": manifest["validation"]["tokens"], "documents": manifest["validation"]["documents"]}}
    result["shards"] = {"train": len(train), "validation": len(validation), "directory": layout.shards,
                        "hf_tokenizer": f"{layout.shards}/{hf.DIRECTORY}"}
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
    scfg, mcfg = recipe.shards, recipe.mixture
    docs = [documents[n] for n in names] | "mix/flatten" >> beam.Flatten()
    info = AsDict(docs
                  | "mix/stats/key" >> beam.Map(shards.split_input, scfg.shuffle_seed)
                  | "mix/stats/combine" >> beam.CombinePerKey(MergeableFn(shards.SourceStats, scfg.validation_max_documents))
                  | "mix/stats/split" >> beam.MapTuple(lambda s, st, cfg=scfg: (s, shards.split_info(st, cfg))))
    model = tokenizer_model(docs, info, recipe, ctx)
    encoded = docs | "mix/encode" >> beam.ParDo(EncodeFn(scfg, mcfg.chunk_tokens), AsSingleton(model), info) \
        .with_outputs(LENGTHS, main="units")
    units = encoded.units
    encoded[LENGTHS] | "mix/lengths/write" >> WriteDistributions(ctx.output, "mixture")
    counts = (units
              | "mix/count/key" >> beam.Map(count_key)
              | "mix/count/sum" >> beam.CombinePerKey(beam.combiners.TupleCombineFn(sum, sum, sum, max)))
    plan = AsSingleton(p | "mix/plan/start" >> beam.Create([None])
                       | "mix/plan/make" >> beam.Map(make_plan, AsList(counts), recipe, names))
    cuts = (units
            | "mix/quota/items" >> beam.FlatMap(quota_item, plan, mcfg.seed)
            | "mix/quota" >> QuotaCuts(quota_targets, quota.NEAREST, plan))
    entries = (units
               | "mix/copies" >> beam.ParDo(EmitCopiesFn(names, mcfg.seed, scfg.shuffle_seed), plan, AsSingleton(cuts))
               | "mix/shuffle" >> beam.GroupByKey()
               | "mix/write" >> beam.ParDo(WriteShardFn(ctx.layout.shards, names), AsSingleton(model)))
    return (entries
            | "mix/entries" >> beam.combiners.ToList()
            | "mix/finalize" >> beam.Map(finalize, plan, AsSingleton(model, default_value=None), recipe, names,
                                         ctx.output))
