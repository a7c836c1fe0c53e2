"""The Wikipedia-reference classifier (fastText, __label__wiki vs __label__cc), LLaMA's last CCNet step:
"we trained a linear model to classify pages used as references in Wikipedia v.s. randomly
sampled pages, and discarded pages not classified as references".

Trained inside the run (:class:`WikiClassifier`, a global step), then applied to every page:

1. Reference URLs: :class:`ReferenceUrls` runs a reference reader (the Wikipedia source's
   :class:`~llamacorpus.sources.wikipedia.references.ReferenceReader`, handed in by the Common
   Crawl source) over the dumps (``wikipedia_inputs``; the recipe fills an empty list with
   ``sources.wikipedia.inputs``), a multistream dump in pieces read by many workers, and emits
   the normalised URLs cited in ``<ref>`` tags and ``url=`` of the articles in
   ``wikipedia_languages``.
2. Positives: the Common Crawl pages whose normalised URL is cited (``label_by: url``, what
   RedPajama did with the pages it fetched), or whose host is a cited host (``label_by: domain``:
   exact matches are rare in a small crawl), joined with CoGroupByKey on (key, page id) pairs;
   ``auto`` (the default) takes the URL matches when they reach ``min_positives`` and the domain
   matches otherwise. ``reference_warcs`` adds a third input: WARC/WET files of fetched reference
   pages (RedPajama fetched ~300K with wget), read with the page reader handed in (Common Crawl's),
   all positives.
   At most ``max_positives`` pages of each kind, the lowest id hashes.
3. Negatives: the other pages, an equal-size (``negatives_per_positive``) deterministic sample:
   drawn by id hash at twice the needed rate, then the lowest hashes kept.
4. Training: the examples are gathered on one worker (a global combine), 10% (``holdout_fraction``)
   held out by id hash, fastText ``train_supervised`` on a temporary file in a child process
   (fastText's trainer is not reentrant: in one process only the first training is sound; a child
   also keeps a fastText abort from taking the worker down), one thread and a fixed seed, so the
   model is the same on every run. Held-out precision and recall of ``__label__wiki`` at the
   threshold go to ``<output>/stats/wiki_classifier.json``. The model's bytes are a Beam side
   input (not a local file), so the step runs the same on Dataflow.
5. Applying: ``wiki_prob`` (the probability of ``__label__wiki``) into meta; pages below
   ``threshold`` are dropped with reason ``low_wiki_prob``. The default 0.25 is RedPajama's
   (``data_prep/cc/filter/cc_classifier.sh`` keeps ``wiki_prob >= 0.25``), which keeps pages the
   model calls more likely random than cited; the paper's literal rule ("discarded pages not
   classified as references") is the argmax, ``threshold: 0.5``.

Text given to fastText, in training and scoring alike: the first ``max_chars`` characters, on one
line, normalised as CCNet (lowercase, accents, digits to 0; RedPajama gave the raw text).

No model: with too few positives (fewer than ``min_positives``: URL and WARC pages, or domain
pages, as chosen above) or when fastText fails to train (it can diverge: "Encountered NaN"),
``when_untrained: keep`` (the default) lets every page pass unscored (no ``wiki_prob``), counted
as ``<source>/wiki_classifier/unscored``, with the reason (``too_few_positives`` or
``training_failed``) and the counts in the stats file and the log; ``fail`` stops the run with that
message.

``model``: a trained fastText model (local or gs://; labels ``__label__wiki``/``__label__cc``) to
apply instead of training one; then the step is a plain filter.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
from typing import Callable, Iterable, Literal, Sequence

import apache_beam as beam

from llamacorpus import fileio
from llamacorpus.steps.adapter import MEASURES, GlobalStep, StepCounters, StepOutputs, measure_key
from llamacorpus.config import FilePath, Section, field
from llamacorpus.layout import Layout
from llamacorpus.document import stable_hash, unit_interval
from llamacorpus.steps.normalize import normalize
from llamacorpus.steps import Drop, Filter, apply_batch
from llamacorpus.steps.filters.langid import load_model
from llamacorpus.urls import normalize_url

log = logging.getLogger(__name__)

SOURCE = "commoncrawl"
STEP = "wiki_classifier"
WIKI, CC = "wiki", "cc"
LABEL_PREFIX = "__label__"
LOW_PROB = "low_wiki_prob"
URL, DOMAIN = "url", "domain"


@dataclasses.dataclass
class ClassifierConfig(Section):
    enabled: bool = True
    #: a trained fastText model (.bin/.ftz, local or gs://) to apply instead of training one
    model: FilePath = ""
    #: keep pages whose wiki_prob is at least this (RedPajama: 0.25; the paper's argmax rule: 0.5)
    threshold: float = 0.25
    #: Wikipedia dumps whose references are the positives ([] = the recipe's sources.wikipedia.inputs)
    wikipedia_inputs: list[str] = field([])
    #: dump languages whose references count
    wikipedia_languages: list[str] = field(["en"])
    #: "url": a page is positive when its normalised URL is cited; "domain": when its host is;
    #: "auto": url when that gives min_positives, else domain
    label_by: Literal["url", "domain", "auto"] = "auto"
    #: WARC/WET files of fetched reference pages: all positives
    reference_warcs: list[str] = field([])
    #: negatives per positive, sampled from the other pages by id hash
    negatives_per_positive: float = 1.0
    #: fraction of the labelled pages held out (by id hash) for precision and recall
    holdout_fraction: float = 0.1
    #: fewer positives: no model
    min_positives: int = 20
    #: without a model (too few positives, or fastText fails to train): "keep" lets every page pass
    #: unscored (counted, the reason in the stats), "fail" stops the run
    when_untrained: Literal["keep", "fail"] = "keep"
    #: positives of each kind used at most (the lowest id hashes); bounds the training worker's memory
    max_positives: int = 300_000
    #: characters of a page given to fastText
    max_chars: int = 5000
    #: fastText train_supervised settings: RedPajama ran fastText's defaults (epoch 5, lr 0.1, dim 100,
    #: word n-grams 1, min count 1). A small crawl needs more passes (e.g. epoch 50, lr 0.5); a large
    #: one a higher min_count (5) to keep the model, a side input, small (on a few hundred pages
    #: fastText 0.9.3 diverges with min count 5 or more). One thread and this seed: the same model
    #: on every run.
    epoch: int = 5
    lr: float = 0.1
    word_ngrams: int = 1
    dim: int = 100
    #: hash buckets of the word n-grams (used when word_ngrams > 1)
    bucket: int = 200_000
    min_count: int = 1
    seed: int = 0

    def check(self):
        self.require(0 <= self.threshold <= 1, "threshold", f"must be in [0, 1], got {self.threshold}")
        self.require(0 < self.holdout_fraction < 1, "holdout_fraction", "must be in (0, 1)")
        self.require(self.negatives_per_positive > 0, "negatives_per_positive", "must be > 0")
        for name in ("min_positives", "max_positives", "max_chars", "epoch", "word_ngrams", "dim", "min_count"):
            self.require(getattr(self, name) > 0, name, "must be > 0")
        self.require(self.min_positives <= self.max_positives, "min_positives", "must be <= max_positives")
        self.require(0 < self.lr <= 1, "lr", "must be in (0, 1]")
        self.require(self.bucket >= 0, "bucket", "must be >= 0")
        self.require(bool(self.wikipedia_languages), "wikipedia_languages", "must name at least one language")


# ---------------------------------------------------------------------------- text and model

def classifier_text(text: str, max_chars: int) -> str:
    """What fastText sees of a page: its first characters on one line, CCNet-normalised."""
    return normalize(" ".join(text[:max_chars].split()))


def wiki_probabilities(model, texts: list[str]) -> list[float]:
    """P(__label__wiki) per text (fastText's predict takes a list: numpy 2 breaks predict(str))."""
    labels, probs = model.predict(texts, k=-1)
    out = []
    for names, values in zip(labels, probs):
        scores = dict(zip(names, values))
        out.append(min(float(scores.get(LABEL_PREFIX + WIKI, 0.0)), 1.0))
    return out


def load_model_bytes(data: bytes):
    """A fastText model from its bytes (fastText only opens files)."""
    import fasttext

    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(data)
        f.flush()
        return fasttext.load_model(f.name)


class WikiProb(Filter):
    """``wiki_prob`` into meta, keep pages at or above the threshold. The model comes from a path
    (``setup``) or is handed over (:meth:`use`); without one, pages pass unscored."""

    name = STEP
    measures = ("wiki_prob",)

    def __init__(self, threshold: float, max_chars: int, model_path: str = ""):
        self.threshold, self.max_chars, self.model_path = threshold, max_chars, model_path
        self.model = None

    def setup(self):
        if self.model_path and self.model is None:
            self.model = load_model(self.model_path)

    def use(self, model) -> None:
        self.model = model

    def __getstate__(self):
        return {**self.__dict__, "model": None}

    def score_batch(self, docs):
        if self.model is None:
            return [{} for _ in docs]
        probs = wiki_probabilities(self.model, [classifier_text(d["text"], self.max_chars) for d in docs])
        return [{"wiki_prob": round(p, 4)} for p in probs]

    def score(self, doc):
        return self.score_batch([doc])[0]

    def keep(self, doc):
        prob = doc["meta"].get("wiki_prob")
        if prob is None or prob >= self.threshold:
            return True, None
        return False, LOW_PROB


# ---------------------------------------------------------------------------- training

def train_fasttext(lines: list[str], cfg: ClassifierConfig) -> bytes:
    """Train on ``__label__x text`` lines in a child process; return the model's bytes."""
    with tempfile.TemporaryDirectory(prefix="wiki-classifier-") as work:
        data, model = os.path.join(work, "train.txt"), os.path.join(work, "model.bin")
        with open(data, "w", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in lines)
        params = {"input": data, "epoch": cfg.epoch, "lr": cfg.lr, "wordNgrams": cfg.word_ngrams, "dim": cfg.dim,
                  "bucket": cfg.bucket, "minCount": cfg.min_count, "seed": cfg.seed, "thread": 1, "verbose": 0}
        done = subprocess.run([sys.executable, "-c", _TRAIN_CHILD, json.dumps(params), model],
                              capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            raise RuntimeError(f"fastText training failed: {last}")
        with open(model, "rb") as f:
            return f.read()


_TRAIN_CHILD = ("import json, sys, fasttext; "
                "fasttext.train_supervised(**json.loads(sys.argv[1])).save_model(sys.argv[2])")


def precision_recall(labels: list[str], probs: list[float], threshold: float) -> dict:
    """Of __label__wiki at ``threshold``, with the confusion counts (None where undefined)."""
    tp = sum(1 for y, p in zip(labels, probs) if y == WIKI and p >= threshold)
    fp = sum(1 for y, p in zip(labels, probs) if y == CC and p >= threshold)
    fn = sum(1 for y, p in zip(labels, probs) if y == WIKI and p < threshold)
    tn = len(labels) - tp - fp - fn
    return {"threshold": threshold, "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "precision": round(tp / (tp + fp), 4) if tp + fp else None,
            "recall": round(tp / (tp + fn), 4) if tp + fn else None}


def choose_positives(cfg: ClassifierConfig, matches: dict, warc_pages: int) -> tuple[str, list]:
    """(how pages were labelled, the (hash, id) of the positive Common Crawl pages)."""
    by_url, by_domain = matches.get(URL, []), matches.get(DOMAIN, [])
    if cfg.label_by == URL or (cfg.label_by == "auto" and len(by_url) + warc_pages >= cfg.min_positives):
        return URL, by_url
    return DOMAIN, by_domain


def url_keys(doc) -> list[tuple]:
    """The join keys of a page: its normalised URL and its host."""
    key = normalize_url(doc["meta"].get("url", ""))
    if not key:
        return []
    value = (stable_hash(doc["id"], STEP), doc["id"])
    return [((URL, key), value), ((DOMAIN, key.split("/", 1)[0]), value)]


def reference_keys(url: str) -> list[tuple]:
    return [((URL, url), None), ((DOMAIN, url.split("/", 1)[0]), None)]


def _matches(element):
    (kind, _), groups = element
    if groups["ref"]:
        for value in groups["doc"]:
            yield kind, value


class _Examples(beam.DoFn):
    """(id, text) of the pages -> (label, hash, id, text) training examples: the positives and a
    negative sample."""

    def __init__(self, cfg: ClassifierConfig):
        self.cfg = cfg
        self._source_of_ids, self._ids, self._rate = None, frozenset(), 0.0

    def process(self, page: tuple, matches, pages: int, warc_pages: int):
        doc_id, text = page
        if matches is not self._source_of_ids:  # a new side input value: rebuild once, not per page
            _, chosen = choose_positives(self.cfg, matches, warc_pages)
            self._source_of_ids, self._ids = matches, frozenset(i for _, i in chosen)
            wanted = self.cfg.negatives_per_positive * (len(self._ids) + warc_pages)
            self._rate = min(1.0, 2 * wanted / max(1, pages - len(self._ids)))
        if doc_id in self._ids:
            label = WIKI
        elif unit_interval(doc_id, STEP, "negative") < self._rate:
            label = CC
        else:
            return
        yield label, stable_hash(doc_id, STEP), doc_id, classifier_text(text, self.cfg.max_chars)


class _ReferencePages(beam.DoFn):
    """A WARC/WET file of fetched reference pages -> positive examples."""

    def __init__(self, cfg: ClassifierConfig, reader: Callable[[str], Iterable], source: str):
        self.cfg, self.reader, self.source = cfg, reader, source

    def setup(self):
        self.counters = StepCounters(self.source, STEP)

    def process(self, path: str):
        for item in self.reader(path):
            if isinstance(item, dict) and item["text"].strip():
                self.counters.inc("reference_pages")
                yield WIKI, stable_hash(item["id"], STEP), item["id"], classifier_text(item["text"], self.cfg.max_chars)
            else:
                self.counters.inc("reference_pages_unusable")


class _Train(beam.DoFn):
    """All examples (one list) -> the model as ``{"trained", "sha256", "model"}``; writes the stats."""

    def __init__(self, cfg: ClassifierConfig, stats_path: str, source: str):
        self.cfg, self.stats_path, self.source = cfg, stats_path, source

    def process(self, examples, matches, pages: int, warc_pages: int):
        cfg, counters = self.cfg, StepCounters(self.source, STEP)
        labelled_by, _ = choose_positives(cfg, matches, warc_pages)
        positives = [e for e in examples if e[0] == WIKI]
        negatives = sorted((e for e in examples if e[0] == CC), key=lambda e: e[1])
        negatives = negatives[:round(cfg.negatives_per_positive * len(positives))]
        stats = {"source": self.source, "labelled_by": labelled_by, "pages": pages,
                 "matches": {URL: len(matches.get(URL, [])), DOMAIN: len(matches.get(DOMAIN, [])),
                             "reference_pages": warc_pages},
                 "positives": len(positives), "negatives": len(negatives), "threshold": cfg.threshold}
        counters.inc("training_positives", len(positives))
        counters.inc("training_negatives", len(negatives))
        if len(positives) < cfg.min_positives:
            message = (f"{len(positives)} positive pages (labelled by {labelled_by}; URL matches "
                       f"{stats['matches'][URL]}, domain matches {stats['matches'][DOMAIN]}, reference pages "
                       f"{warc_pages}) are fewer than min_positives {cfg.min_positives}")
            yield self._untrained({**stats, "min_positives": cfg.min_positives}, "too_few_positives", message)
            return
        labelled = sorted(positives + negatives, key=lambda e: e[1])  # interleaved, deterministic order
        held = [unit_interval(e[2], STEP, "holdout") < cfg.holdout_fraction for e in labelled]
        train = [e for e, h in zip(labelled, held) if not h]
        test = [e for e, h in zip(labelled, held) if h]
        settings = {"epoch": cfg.epoch, "lr": cfg.lr, "word_ngrams": cfg.word_ngrams, "dim": cfg.dim,
                    "bucket": cfg.bucket, "min_count": cfg.min_count, "seed": cfg.seed, "thread": 1,
                    "max_chars": cfg.max_chars}
        try:
            model = train_fasttext([f"{LABEL_PREFIX}{label} {text}" for label, _, _, text in train], cfg)
        except RuntimeError as exc:
            yield self._untrained({**stats, "fasttext": settings}, "training_failed", str(exc))
            return
        probs = wiki_probabilities(load_model_bytes(model), [e[3] for e in test]) if test else []
        sha = hashlib.sha256(model).hexdigest()
        self._write({**stats, "trained": True,
                     "train": {WIKI: sum(e[0] == WIKI for e in train), CC: sum(e[0] == CC for e in train)},
                     "heldout": {WIKI: sum(e[0] == WIKI for e in test), CC: sum(e[0] == CC for e in test),
                                 **precision_recall([e[0] for e in test], probs, cfg.threshold)},
                     "fasttext": settings, "model": {"bytes": len(model), "sha256": sha}})
        yield {"trained": True, "sha256": sha, "model": model}

    def _untrained(self, stats: dict, reason: str, message: str) -> dict:
        """No model: say why in the stats, then fail the run or let every page pass unscored."""
        self._write({**stats, "trained": False, "reason": reason, "message": message})
        if self.cfg.when_untrained == "fail":
            raise RuntimeError(f"wiki classifier: {message} (when_untrained: fail)")
        log.warning("wiki classifier: %s; no model, every page passes unscored (when_untrained: keep)", message)
        return {"trained": False}

    def _write(self, stats: dict) -> None:
        fileio.atomic_write(self.stats_path, json.dumps(stats, indent=1, sort_keys=True))


class _Apply(beam.DoFn):
    """Pages -> (page, decision) with the trained model from the side input (loaded once per worker)."""

    def __init__(self, cfg: ClassifierConfig, source: str):
        self.step = WikiProb(cfg.threshold, cfg.max_chars)
        self.source = source
        self._sha = None

    def setup(self):
        self.counters = StepCounters(self.source, STEP)

    def process(self, doc, model: dict):
        if not model["trained"]:
            self.counters.inc("unscored")
            yield doc, doc
            return
        if model["sha256"] != self._sha:
            self.step.use(load_model_bytes(model["model"]))
            self._sha = model["sha256"]
        result = apply_batch(self.step, [doc])[0]
        for field_name, value in result.measures:
            yield beam.pvalue.TaggedOutput(MEASURES, (measure_key(self.source, STEP, field_name, result), value))
        yield doc, result.doc or result.drop or result.error


class _ReferenceFn(beam.DoFn):
    """A stage of the reference reader, counted under the reader's source and step."""

    def __init__(self, reader):
        self.reader = reader

    def setup(self):
        self.counters = StepCounters(self.reader.source, self.reader.step)

    def cited_urls(self, wikitext: str) -> Iterable[str]:
        """An article's wikitext -> its normalised cited URLs."""
        try:
            urls = self.reader.urls(wikitext)
        except ValueError:  # WikitextError: a page mwparserfromhell cannot parse
            self.counters.inc("error:unparsable_wikitext")
            return ()
        self.counters.inc("urls", len(urls))
        return urls


WHOLE = "whole"


class _PieceUrls(_ReferenceFn):
    """A piece of a dump -> the cited URLs of its articles. A dump read whole (one piece: no
    index, or a small one) sends its articles' wikitext to the ``whole`` output instead, to be
    spread over the workers before parsing, which is the cost; a dump in many pieces is spread
    already, and its wikitext (90 GB for enwiki) is never shuffled."""

    def process(self, split):
        spread = split.count > 1
        for item in self.reader.articles(split):
            if isinstance(item, str):
                self.counters.inc("pages")
                if spread:
                    yield from self.cited_urls(item)
                else:
                    yield beam.pvalue.TaggedOutput(WHOLE, item)
            else:
                self.counters.inc("skipped_files" if isinstance(item, Drop) else f"error:{item.kind}")


class _CitedUrls(_ReferenceFn):
    def process(self, wikitext: str):
        yield from self.cited_urls(wikitext)


class ReferenceUrls(beam.PTransform):
    """``pipeline root -> PCollection[str]``: distinct normalised URLs cited by the dumps at
    ``paths``, read with ``reader`` (``splits(path)``, ``articles(split)`` and ``urls(wikitext)``, see
    :class:`~llamacorpus.sources.wikipedia.references.ReferenceReader`). Counters under
    ``<reader.source>/<reader.step>/``: pages, urls (before Distinct), skipped_files, error:<kind>."""

    def __init__(self, paths: Sequence[str], reader):
        super().__init__()
        self.paths, self.reader = list(paths), reader

    def expand(self, pbegin):
        urls, whole = (pbegin
                       | "Dumps" >> beam.Create(self.paths)
                       | "FanOut" >> beam.Reshuffle()
                       | "Pieces" >> beam.FlatMap(self.reader.splits)  # a multistream dump in runs of its streams
                       | "FanOutPieces" >> beam.Reshuffle()
                       | "Articles" >> beam.ParDo(_PieceUrls(self.reader)).with_outputs(WHOLE, main="urls"))
        spread = (whole
                  | "Spread" >> beam.Reshuffle()  # one whole dump's pages over the workers
                  | "Urls" >> beam.ParDo(_CitedUrls(self.reader)))
        return (urls, spread) | "Both" >> beam.Flatten() | "Distinct" >> beam.Distinct()


class WikiClassifier(GlobalStep):
    """Train the classifier on this run's pages (see the module docstring), then apply it.

    ``reference_reader`` reads the Wikipedia dumps at ``wikipedia_paths`` (:class:`ReferenceUrls`);
    ``page_reader(path)`` reads the fetched reference pages at ``reference_paths``."""

    name = STEP

    def __init__(self, cfg: ClassifierConfig, wikipedia_paths: list[str], reference_reader,
                 reference_paths: list[str], page_reader: Callable[[str], Iterable] | None, stats_path: str,
                 source: str = SOURCE):
        super().__init__(source)
        self.cfg, self.wikipedia_paths, self.reference_reader = cfg, list(wikipedia_paths), reference_reader
        self.reference_paths, self.page_reader = list(reference_paths), page_reader
        self.stats_path = stats_path

    def expand(self, docs):
        cfg, root = self.cfg, docs.pipeline
        refs = (root | "ReferenceUrls" >> ReferenceUrls(self.wikipedia_paths, self.reference_reader)
                | "RefKeys" >> beam.FlatMap(reference_keys) | "DistinctKeys" >> beam.Distinct())
        matches = ({"ref": refs, "doc": docs | "PageKeys" >> beam.FlatMap(url_keys)}
                   | "Join" >> beam.CoGroupByKey()
                   | "Matches" >> beam.FlatMap(_matches)
                   | "Cap" >> beam.combiners.Top.SmallestPerKey(cfg.max_positives)
                   | "ByKind" >> beam.combiners.ToDict())
        pages = docs | "Pages" >> beam.combiners.Count.Globally()
        if self.reference_paths:
            fetched = (root | "ReferenceFiles" >> beam.Create(self.reference_paths) | "FanOut" >> beam.Reshuffle()
                       | "ReferencePages" >> beam.ParDo(_ReferencePages(cfg, self.page_reader, self.source)))
        else:
            fetched = root | "NoReferencePages" >> beam.Create([])
        fetched_count = fetched | "CountReferencePages" >> beam.combiners.Count.Globally()
        side = {"matches": beam.pvalue.AsSingleton(matches), "pages": beam.pvalue.AsSingleton(pages),
                "warc_pages": beam.pvalue.AsSingleton(fetched_count)}
        # the examples come from a projection of the pages, not from the pages themselves: on the
        # FnApiRunner two side-input stages reading one PCollection (here Examples and Apply) never run
        examples = (docs | "Candidates" >> beam.Map(lambda d, n: (d["id"], d["text"][:n]), cfg.max_chars)
                    | "Examples" >> beam.ParDo(_Examples(cfg), **side))
        model = ((examples, fetched) | "AllExamples" >> beam.Flatten()
                 | "Gather" >> beam.combiners.ToList()
                 | "Train" >> beam.ParDo(_Train(cfg, self.stats_path, self.source), **side))
        applied = docs | "Apply" >> beam.ParDo(_Apply(cfg, self.source), beam.pvalue.AsSingleton(model)).with_outputs(
            MEASURES, main="decisions")
        out = self.decide(applied.decisions)
        measures = (out.measures, applied[MEASURES]) | "Measures" >> beam.Flatten()
        return StepOutputs(out.documents, out.rejected, out.errors, measures)


# ---------------------------------------------------------------------------- the interface

def stats_path(output: str) -> str:
    return Layout(output).stats(STEP)


def wikipedia_paths(cfg: ClassifierConfig, ctx) -> list[str]:
    if not cfg.wikipedia_inputs:
        raise fileio.InputError("sources.commoncrawl.classifier.wikipedia_inputs is empty")
    return fileio.expand_inputs(cfg.wikipedia_inputs, ctx.input_root,
                                what="sources.commoncrawl.classifier.wikipedia_inputs")


def reference_paths(cfg: ClassifierConfig, ctx) -> list[str]:
    if not cfg.reference_warcs:
        return []
    return fileio.expand_inputs(cfg.reference_warcs, ctx.input_root, what="sources.commoncrawl.classifier.reference_warcs")


def classifier_prepare(cfg: ClassifierConfig, ctx) -> None:
    """Check before the run that what the steps need exists; raise InputError naming it."""
    if not cfg.enabled:
        return
    if cfg.model:
        if not fileio.exists(cfg.model):
            raise fileio.InputError(f"sources.commoncrawl.classifier.model {cfg.model!r} does not exist")
        return
    wikipedia_paths(cfg, ctx)
    reference_paths(cfg, ctx)


def classifier_steps(cfg: ClassifierConfig, ctx, reference_reader=None,
                     page_reader: Callable[[str], Iterable] | None = None) -> list:
    """The classifier steps (training as a global step, then applying it) in order. Training needs
    the ``reference_reader`` of the Wikipedia dumps and, with ``reference_warcs``, a ``page_reader``
    of WARC/WET files."""
    if not cfg.enabled:
        return []
    if cfg.model:
        return [WikiProb(cfg.threshold, cfg.max_chars, cfg.model)]
    return [WikiClassifier(cfg, wikipedia_paths(cfg, ctx), reference_reader, reference_paths(cfg, ctx), page_reader,
                           stats_path(ctx.output))]
