"""CCNet perplexity: SentencePiece + KenLM 5-gram per language, and head/middle/tail buckets.

Scoring (:class:`Perplexity`, a filter that keeps everything and puts ``perplexity`` into meta):
the text is normalised as CCNet does (:mod:`llamacorpus.steps.normalize`), cut into
SentencePiece pieces with the language's model, and scored with its KenLM model
(``Model.score``: log10 probability, with sentence begin and end).

``scoring: document`` (the default) is what CCNet's ``mine`` pipeline computed: its
``MultiSentencePiece(normalize=True)`` normalises the whole ``raw_content`` (the normalisation
deletes the control characters, the newlines among them, so the lines are glued together without
a space), encodes it, and ``DocLM(normalize=False)`` then splits the pieces on ``"\\n"``, of which
none is left: the whole document is one KenLM sentence. Use it with CCNet's models and cut-offs.
``scoring: lines`` normalises, encodes and scores every non-blank line as its own sentence
(``DocLM``'s per-line loop, fed line by line): each line gets sentence begin and end, and no words
are glued across lines. On the 232 English realpages fixtures with the model ``llamacorpus
train-lm`` builds from the Wikipedia fixture, ``lines`` gives perplexities 0.86 times the
``document`` ones (median) and 10% other buckets (tests/test_train_lm.py). Then, as CCNet::

    perplexity = round(10 ** (-sum(log10 P(sentence)) / sum(len(pieces(sentence)) + 1)), 1)

where ``len(pieces)`` counts the whitespace-separated pieces, as KenLM reads them.

A document whose language has no model gets no perplexity; the bucket step files it under the
bucket ``no_model`` and drops it unless ``keep_buckets`` lists ``no_model`` (a quality filter that
cannot judge a page does not pass it silently; the count is in run.json per language).

Buckets (:class:`PerplexityBuckets`, a global step): per language, ``head`` below the first
cut-off (CCNet: 30th percentile), ``middle`` below the second (60th), ``tail`` otherwise; meta
``bucket``. The cut-offs are computed on the run itself (``cutoffs: run``, Beam's
ApproximateQuantiles per language, the default: CCNet's published values only hold for CCNet's
own models) or taken from the recipe (``cutoffs: table``, e.g. CCNet's cutoff.csv for users who
bring CCNet's models). Those used are written to ``<output>/stats/perplexity_cutoffs.json``.

Models: ``<models_dir>/<lang>.sp.model`` and ``<lang>.arpa.bin`` (CCNet's names; ``llamacorpus
train-lm`` writes them; ``models_dir`` defaults to ``<recipe models_dir>/lm``), local or any
filesystem Beam reads (copied to local disk once per worker), loaded once per worker process
and shared between its threads (``apache_beam.utils.shared``).
"""
from __future__ import annotations

import dataclasses
import json
from typing import Literal

import apache_beam as beam
from apache_beam.utils import shared

from llamacorpus import fileio
from llamacorpus.steps.adapter import GlobalStep
from llamacorpus.config import FilePath, Section, field
from llamacorpus.layout import Layout
from llamacorpus.document import with_meta
from llamacorpus.steps.normalize import normalize
from llamacorpus.steps import Drop, Filter

SOURCE = "commoncrawl"
BUCKETS = ("head", "middle", "tail")
NO_MODEL = "no_model"
CUTOFFS_NAME = "perplexity_cutoffs"  # stats/perplexity_cutoffs.json
QUANTILES = 101  # every integer percentile


@dataclasses.dataclass
class PerplexityConfig(Section):
    enabled: bool = True
    #: directory of the models ("" = <recipe models_dir>/lm, where `llamacorpus train-lm` writes)
    models_dir: FilePath = ""
    #: languages to score; [] = every language that has both model files in models_dir
    languages: list[str] = field([])
    #: file names in models_dir ({lang} is replaced); CCNet's names by default
    sp_model: str = "{lang}.sp.model"
    lm_model: str = "{lang}.arpa.bin"
    #: "document": the whole normalised text one KenLM sentence (what CCNet's mine pipeline
    #: computed, the default); "lines": each non-blank line a sentence
    scoring: Literal["document", "lines"] = "document"
    #: "run": cut-offs from this run's perplexities per language; "table": from cutoff_table
    cutoffs: Literal["run", "table"] = "run"
    #: percentiles that end the head and the middle bucket (CCNet: 30 and 60)
    percentiles: list[int] = field([30, 60])
    #: language -> [head cut-off, middle cut-off] for cutoffs: table
    cutoff_table: dict[str, list[float]] = field({})
    #: buckets kept; the others are dropped with the bucket as reason (tail, no_model)
    keep_buckets: list[str] = field(["head", "middle"])

    def check(self):
        self.require(len(self.percentiles) == 2 and 0 < self.percentiles[0] < self.percentiles[1] < 100,
                     "percentiles", f"must be two increasing integers in (0, 100), got {self.percentiles}")
        for lang, cut in self.cutoff_table.items():
            self.require(len(cut) == 2 and 0 < cut[0] <= cut[1], "cutoff_table",
                         f"{lang}: must be [head, middle] with 0 < head <= middle, got {cut}")
        self.require(self.cutoffs == "run" or bool(self.cutoff_table), "cutoff_table",
                     "is empty but cutoffs is 'table'")
        for bucket in self.keep_buckets:
            self.require(bucket in (*BUCKETS, NO_MODEL), "keep_buckets",
                         f"unknown bucket {bucket!r} (buckets: {', '.join((*BUCKETS, NO_MODEL))})")
        for name in ("sp_model", "lm_model"):
            self.require("{lang}" in getattr(self, name), name, "must contain {lang}")


# ---------------------------------------------------------------------------- models

def models_dir(cfg: PerplexityConfig, ctx) -> str:
    return (cfg.models_dir or ctx.layout.lm).rstrip("/")


def model_files(cfg: PerplexityConfig, directory: str, lang: str) -> tuple[str, str]:
    """(SentencePiece model, KenLM model) paths of ``lang``."""
    return (f"{directory}/{cfg.sp_model.format(lang=lang)}", f"{directory}/{cfg.lm_model.format(lang=lang)}")


def _languages_in(cfg: PerplexityConfig, directory: str) -> list[str]:
    prefix, suffix = cfg.sp_model.split("{lang}")
    names = [path.rsplit("/", 1)[-1] for path in fileio.match_paths(f"{directory}/{prefix}*{suffix}")]
    langs = [n[len(prefix):len(n) - len(suffix)] for n in names]
    return sorted(lang for lang in langs if lang and fileio.exists(model_files(cfg, directory, lang)[1]))


def resolve_languages(cfg: PerplexityConfig, ctx) -> dict[str, tuple[str, str]]:
    """language -> (sp model, lm model): the configured languages, or those found in models_dir.

    Raises InputError naming a missing file (and how to make it)."""
    directory = models_dir(cfg, ctx)
    languages = cfg.languages or _languages_in(cfg, directory)
    if not languages:
        raise fileio.InputError(
            f"perplexity: no language models in {directory} (expected {cfg.sp_model} and {cfg.lm_model}); "
            f"train them with `llamacorpus train-lm --output <run with wikipedia> --language en "
            f"--models_dir {directory.removesuffix('/lm')}` or set sources.commoncrawl.perplexity.enabled: false")
    out = {}
    for lang in languages:
        paths = model_files(cfg, directory, lang)
        for path in paths:
            if not fileio.exists(path):
                raise fileio.InputError(f"perplexity: model file {path} for language {lang!r} does not exist "
                                        f"(`llamacorpus train-lm --language {lang}` writes it)")
        out[lang] = paths
    return out


class LanguageModels:
    """The SentencePiece and KenLM models of several languages, loaded once."""

    def __init__(self, files: dict[str, tuple[str, str]]):
        import kenlm
        import sentencepiece

        # one thread per call: a page's lines are a small batch, and Beam runs several pages at once
        self.sp = {lang: sentencepiece.SentencePieceProcessor(model_file=fileio.local_copy(sp), num_threads=1)
                   for lang, (sp, _) in files.items()}
        self.lm = {lang: kenlm.Model(fileio.local_copy(lm)) for lang, (_, lm) in files.items()}


def sentences(text: str, scoring: str) -> list[str]:
    """The normalised sentences KenLM scores: each non-blank line, or the whole text as one."""
    if scoring == "document":
        return [normalize(text)]
    return [line for line in map(normalize, text.split("\n")) if line] or [""]


def log_score(text: str, sp, lm, scoring: str = "document") -> tuple[float, int]:
    """(sum of KenLM log10 probabilities, number of tokens incl. one end of sentence per line)."""
    total, length = 0.0, 0
    for pieces in sp.encode(sentences(text, scoring), out_type=str):
        tokenized = " ".join(pieces)
        total += lm.score(tokenized)
        length += len(tokenized.split()) + 1
    return total, length


def perplexity(total: float, length: int) -> float:
    """CCNet's ``pp``, rounded to one decimal as CCNet stores it."""
    return round(10.0 ** (-total / length), 1)


class Perplexity(Filter):
    """Put the CCNet perplexity of the document's language into meta (keeps every document)."""

    name = "perplexity"
    measures = ("perplexity",)

    def __init__(self, files: dict[str, tuple[str, str]], scoring: str = "document"):
        self.files, self.scoring = dict(files), scoring
        self._shared = shared.Shared()
        self.models: LanguageModels | None = None

    def setup(self):
        if self.models is None:
            self.models = self._shared.acquire(lambda: LanguageModels(self.files),
                                               tag=json.dumps(self.files, sort_keys=True))

    def __getstate__(self):
        return {**self.__dict__, "models": None}

    def score(self, doc):
        lang = doc["meta"].get("language")
        sp = self.models.sp.get(lang)
        if sp is None:
            return {}
        return {"perplexity": perplexity(*log_score(doc["text"], sp, self.models.lm[lang], self.scoring))}

    def keep(self, doc):
        return True, None


# ---------------------------------------------------------------------------- buckets

def bucket_of(value: float, cutoffs: tuple[float, float]) -> str:
    """CCNet's rule: head below the first cut-off, middle below the second, tail otherwise."""
    head, middle = cutoffs
    if value < head:
        return "head"
    if value < middle:
        return "middle"
    return "tail"


def assign_bucket(doc, table: dict, keep_buckets) -> tuple:
    """``(doc, decision)`` for :func:`decide`: the document with meta ``bucket``, kept or dropped."""
    meta = doc["meta"]
    value, entry = meta.get("perplexity"), table.get(meta.get("language"))
    bucket = NO_MODEL if value is None or entry is None else bucket_of(value, entry["cutoffs"])
    out = with_meta(doc, bucket=bucket)
    return doc, (out if bucket in keep_buckets else Drop(bucket, out))


def cutoffs_from_quantiles(percentiles, quantiles: list[float], documents: int) -> dict:
    return {"cutoffs": [quantiles[p] for p in percentiles], "documents": documents}


class PerplexityBuckets(GlobalStep):
    """Cut-offs per language (computed on the run or from the recipe), then meta ``bucket``."""

    name = "perplexity_bucket"

    def __init__(self, cfg: PerplexityConfig, stats_path: str, source: str = SOURCE):
        super().__init__(source)
        self.cfg, self.stats_path = cfg, stats_path

    def expand(self, docs):
        cfg = self.cfg
        if cfg.cutoffs == "table":
            table = docs.pipeline | "Table" >> beam.Create(
                [{lang: {"cutoffs": list(cut)} for lang, cut in cfg.cutoff_table.items()}])
        else:
            values = docs | "Values" >> beam.FlatMap(
                lambda d: [(d["meta"]["language"], d["meta"]["perplexity"])] if "perplexity" in d["meta"] else [])
            table = ({"q": values | "Quantiles" >> beam.ApproximateQuantiles.PerKey(QUANTILES),
                      "n": values | "Count" >> beam.combiners.Count.PerKey()}
                     | "Join" >> beam.CoGroupByKey()
                     | "Cutoffs" >> beam.Map(lambda kv, p=tuple(cfg.percentiles): (
                         kv[0], cutoffs_from_quantiles(p, kv[1]["q"][0], kv[1]["n"][0])))
                     | "Table" >> beam.combiners.ToDict())
        table | "WriteStats" >> beam.Map(self._write_stats)
        decisions = docs | "Assign" >> beam.Map(assign_bucket, beam.pvalue.AsSingleton(table),
                                                frozenset(cfg.keep_buckets))
        return self.decide(decisions)

    def _write_stats(self, table: dict) -> None:
        cfg = self.cfg
        record = {"source": self.source, "cutoffs_from": cfg.cutoffs, "percentiles": cfg.percentiles,
                  "scoring": cfg.scoring, "keep_buckets": cfg.keep_buckets, "languages": dict(sorted(table.items()))}
        fileio.atomic_write(self.stats_path, json.dumps(record, indent=1, sort_keys=True))


# ---------------------------------------------------------------------------- the interface

def cutoffs_path(output: str) -> str:
    return Layout(output).stats(CUTOFFS_NAME)


def perplexity_prepare(cfg: PerplexityConfig, ctx) -> None:
    """Check before the run that the models the steps need exist; raise InputError naming them."""
    if not cfg.enabled:
        return
    languages = resolve_languages(cfg, ctx)
    if cfg.cutoffs == "table":
        missing = sorted(set(languages) - set(cfg.cutoff_table))
        if missing:
            raise fileio.InputError(f"perplexity: cutoff_table has no cut-offs for {', '.join(missing)} "
                                    f"(languages with models: {', '.join(languages)})")


def perplexity_steps(cfg: PerplexityConfig, ctx) -> list:
    """The perplexity steps (filters/mappers/global steps) in order."""
    if not cfg.enabled:
        return []
    return [Perplexity(resolve_languages(cfg, ctx), cfg.scoring), PerplexityBuckets(cfg, cutoffs_path(ctx.output))]
