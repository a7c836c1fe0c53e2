"""The Wikipedia-reference classifier, trained inside the Common Crawl stage on the real fixtures.

Reference URLs come from the real English Wikipedia dump excerpts (the Wikipedia source's
ReferenceUrls); none of the fixture pages is itself cited, but 64 English ones are on cited hosts
(nytimes.com, bbc.com, washingtonpost.com...), so ``label_by: auto`` labels by domain. The held-out
set is small (about a tenth of some hundred pages): the test checks that precision and recall are
computed and reported, not that they are high.
"""
import json

import fasttext
import pytest

from helpers import FIXTURES, assert_accounting, run_source
from llamacorpus.config import ConfigError, build
from llamacorpus.fileio import InputError
from llamacorpus.document import stable_hash
from llamacorpus.steps.filters.wiki_classifier import (CC, DOMAIN, LOW_PROB, STEP, URL, WIKI, ClassifierConfig, WikiProb,
                                                 _Train, choose_positives, classifier_prepare, classifier_text,
                                                 precision_recall, reference_keys, train_fasttext, url_keys,
                                                 wiki_probabilities)
from llamacorpus.sources.base import RunContext
from llamacorpus.sources.commoncrawl import SOURCE, CommonCrawlConfig
from llamacorpus.steps import run_steps
from test_perplexity import install_models

WET = ["commoncrawl/realpages-0000[0-2].warc.wet.gz"]
WIKI_DUMPS = ["wikipedia/enwiki-*.xml.bz2"]
#: small data needs more passes than RedPajama's fastText defaults
SMALL = {"epoch": 50, "lr": 0.5}
PERPLEXITY = {"lm_model": "{lang}.arpa"}  # the fixture models, see tests/test_perplexity.py


def stats_of(run):
    return json.loads((run.output / "stats" / "wiki_classifier.json").read_text())


@pytest.fixture(scope="module")
def stage(tmp_path_factory):
    """The whole Common Crawl stage: read, dedup, language ID, perplexity buckets, the classifier."""
    tmp = tmp_path_factory.mktemp("stage")
    install_models(tmp / "models")
    section = {"inputs": WET, "perplexity": PERPLEXITY,
               "classifier": {"wikipedia_inputs": WIKI_DUMPS, "min_positives": 20, **SMALL}}
    return run_source("commoncrawl", section, tmp)


def test_stage_writes_every_figure_and_the_funnel_balances(stage):
    assert_accounting(stage.stats)
    steps = [s["step"] for s in stage.stats["steps"]]
    assert steps[-3:] == ["perplexity", "perplexity_bucket", "wiki_classifier"]
    assert stage.docs
    for doc in stage.docs:
        meta = doc["meta"]
        assert meta["language"] == "en" and meta["language_score"] >= 0.5
        assert meta["bucket"] in ("head", "middle") and meta["perplexity"] > 0
        assert 0.25 <= meta["wiki_prob"] <= 1


def test_classifier_trains_on_domain_matches_and_reports_heldout_precision_recall(stage):
    stats = stats_of(stage)
    step = {s["step"]: s for s in stage.stats["steps"]}["wiki_classifier"]
    assert stats["trained"] and stats["labelled_by"] == DOMAIN
    assert stats["matches"][URL] == 0 and stats["matches"]["reference_pages"] == 0
    assert stats["positives"] == stats["matches"][DOMAIN] >= 20 and stats["pages"] == step["in"]
    assert stats["negatives"] == stats["positives"]  # equal-size sample of the other pages
    held = stats["heldout"]
    labelled = 2 * stats["positives"]
    assert held["wiki"] + held["cc"] + stats["train"]["wiki"] + stats["train"]["cc"] == labelled
    assert 0.02 * labelled <= held["wiki"] + held["cc"] <= 0.2 * labelled
    assert held["tp"] + held["fn"] == held["wiki"] and held["fp"] + held["tn"] == held["cc"]
    assert held["precision"] == round(held["tp"] / (held["tp"] + held["fp"]), 4)
    assert held["recall"] == round(held["tp"] / (held["tp"] + held["fn"]), 4)
    assert step["counters"]["training_positives"] == stats["positives"]
    assert stats["model"]["bytes"] > 0 and len(stats["model"]["sha256"]) == 64


def test_pages_below_the_threshold_are_dropped_with_their_probability(stage):
    step = {s["step"]: s for s in stage.stats["steps"]}["wiki_classifier"]
    dropped = step["dropped"].get(LOW_PROB, 0)
    assert step["in"] == step["kept"] + dropped
    assert all(r["meta"]["wiki_prob"] < 0.25 for r in stage.rejected.get(LOW_PROB, []))
    assert len({d["meta"]["wiki_prob"] for d in stage.docs}) > 10  # the model tells pages apart


def test_too_few_positives_keeps_every_page_unscored_and_says_why(tmp_path):
    section = {"inputs": ["commoncrawl/realpages-00000.warc.wet.gz"], "perplexity": {"enabled": False},
               "classifier": {"wikipedia_inputs": WIKI_DUMPS, "min_positives": 1000}}
    run = run_source("commoncrawl", section, tmp_path)
    assert_accounting(run.stats)
    stats = stats_of(run)
    assert stats["trained"] is False and stats["reason"] == "too_few_positives" and stats["min_positives"] == 1000
    assert "fewer than min_positives 1000" in stats["message"]
    step = {s["step"]: s for s in run.stats["steps"]}["wiki_classifier"]
    assert step["kept"] == step["in"] == step["counters"]["unscored"] > 0
    assert all("wiki_prob" not in d["meta"] for d in run.docs)


@pytest.mark.slow
def test_too_few_positives_can_fail_the_run(tmp_path):
    section = {"inputs": ["commoncrawl/realpages-00000.warc.wet.gz"], "perplexity": {"enabled": False},
               "classifier": {"wikipedia_inputs": WIKI_DUMPS, "min_positives": 1000, "when_untrained": "fail"}}
    with pytest.raises(Exception, match="fewer than min_positives 1000"):
        run_source("commoncrawl", section, tmp_path)


@pytest.mark.slow
def test_fetched_reference_pages_are_positives(tmp_path):
    """The third input: a WARC of fetched reference pages (here the real-page WARC), labelled wiki."""
    section = {"inputs": ["commoncrawl/realpages-0000[12].warc.wet.gz"], "perplexity": {"enabled": False},
               "classifier": {"wikipedia_inputs": WIKI_DUMPS, "reference_warcs": ["commoncrawl/realpages-00000.warc.gz"],
                              "label_by": "url", **SMALL}}
    run = run_source("commoncrawl", section, tmp_path)
    assert_accounting(run.stats)
    stats = stats_of(run)
    step = {s["step"]: s for s in run.stats["steps"]}["wiki_classifier"]
    pages = step["counters"]["reference_pages"]
    assert stats["trained"] and stats["labelled_by"] == URL and pages > 150
    assert stats["matches"]["reference_pages"] == stats["positives"] == pages
    assert stats["negatives"] == min(pages, stats["pages"])  # every page not cited, at most one per positive


# ---------------------------------------------------------------------------- pure parts

def real_pages(n=60):
    docs = [d for d in SOURCE.read(CommonCrawlConfig(min_chars=300), str(FIXTURES / "commoncrawl" /
                                                                        "realpages-00000.warc.wet.gz"))
            if isinstance(d, dict)]
    return docs[:n]


def real_examples(n=120):
    """(label, hash, id, text) of real pages, labels alternating."""
    return [(WIKI if i % 2 else CC, stable_hash(d["id"], STEP), d["id"], classifier_text(d["text"], 5000))
            for i, d in enumerate(real_pages(n))]


def test_a_training_that_diverges_leaves_pages_unscored_and_says_why(tmp_path):
    """fastText 0.9.3 diverges ("Encountered NaN") on these real pages with min count 10; the
    default min count 1 trains on the same examples."""
    examples = real_examples()
    path = tmp_path / "wiki_classifier.json"
    train = _Train(ClassifierConfig(min_count=10), str(path), "commoncrawl")
    assert list(train.process(examples, {}, len(examples), 0)) == [{"trained": False}]
    stats = json.loads(path.read_text())
    assert stats["reason"] == "training_failed" and "Encountered NaN" in stats["message"]
    failing = _Train(ClassifierConfig(min_count=10, when_untrained="fail"), str(path), "commoncrawl")
    with pytest.raises(RuntimeError, match="Encountered NaN.*when_untrained: fail"):
        list(failing.process(examples, {}, len(examples), 0))
    [model] = _Train(ClassifierConfig(), str(path), "commoncrawl").process(examples, {}, len(examples), 0)
    assert model["trained"] and json.loads(path.read_text())["heldout"]["wiki"] > 0


def test_a_given_model_is_applied_as_a_plain_filter(tmp_path):
    """A model trained elsewhere (here on real pages, in a child process) given by path."""
    docs = real_pages()
    cfg = ClassifierConfig(**SMALL)
    lines = [f"__label__{'wiki' if i % 2 else 'cc'} {classifier_text(d['text'], cfg.max_chars)}"
             for i, d in enumerate(docs)]
    path = tmp_path / "wiki.bin"
    path.write_bytes(train_fasttext(lines, cfg))
    step = WikiProb(0.5, cfg.max_chars, str(path))
    report = run_steps([step], docs)
    model = fasttext.load_model(str(path))
    expected = wiki_probabilities(model, [classifier_text(d["text"], cfg.max_chars) for d in docs])
    scored = {d["id"]: d["meta"]["wiki_prob"] for d in report.kept}
    scored.update({drop.doc["id"]: drop.doc["meta"]["wiki_prob"] for _, drop in report.dropped})
    assert [scored[d["id"]] for d in docs] == [round(p, 4) for p in expected]
    assert all(d["meta"]["wiki_prob"] >= 0.5 for d in report.kept)
    assert all(drop.reason == LOW_PROB and drop.doc["meta"]["wiki_prob"] < 0.5 for _, drop in report.dropped)


def test_training_twice_gives_the_same_model():
    docs = real_pages(40)
    cfg = ClassifierConfig(**SMALL)
    lines = [f"__label__{'wiki' if i % 3 else 'cc'} {classifier_text(d['text'], cfg.max_chars)}"
             for i, d in enumerate(docs)]
    assert train_fasttext(lines, cfg) == train_fasttext(lines, cfg)


def test_join_keys_of_a_real_page_and_a_reference():
    doc = real_pages(1)[0]
    (url_key, value), (domain_key, _) = url_keys(doc)
    assert url_key[0] == URL and domain_key == (DOMAIN, url_key[1].split("/")[0])
    assert value[1] == doc["id"]
    assert reference_keys("nytimes.com/2016/09/20/nyregion/x.html") == [
        ((URL, "nytimes.com/2016/09/20/nyregion/x.html"), None), ((DOMAIN, "nytimes.com"), None)]


def test_auto_labelling_prefers_url_matches_when_there_are_enough():
    cfg = ClassifierConfig(min_positives=3)
    matches = {URL: [(1, "a"), (2, "b")], DOMAIN: [(1, "a"), (2, "b"), (3, "c"), (4, "d")]}
    assert choose_positives(cfg, matches, warc_pages=0) == (DOMAIN, matches[DOMAIN])
    assert choose_positives(cfg, matches, warc_pages=1) == (URL, matches[URL])
    assert choose_positives(ClassifierConfig(min_positives=3, label_by="url"), matches, 0) == (URL, matches[URL])


def test_precision_recall_counts():
    labels = ["wiki", "wiki", "wiki", "cc", "cc"]
    probs = [0.9, 0.3, 0.1, 0.5, 0.2]
    assert precision_recall(labels, probs, 0.25) == {"threshold": 0.25, "tp": 2, "fp": 1, "fn": 1, "tn": 1,
                                                     "precision": 0.6667, "recall": 0.6667}
    assert precision_recall(["cc"], [0.1], 0.25)["precision"] is None


def test_prepare_and_config_errors_name_what_is_wrong(tmp_path):
    ctx = RunContext(output=str(tmp_path), models_dir=str(tmp_path), input_root=str(FIXTURES))
    with pytest.raises(InputError, match="classifier.model '.*nowhere.bin' does not exist"):
        classifier_prepare(ClassifierConfig(model=str(tmp_path / "nowhere.bin")), ctx)
    with pytest.raises(InputError, match="classifier.wikipedia_inputs"):
        classifier_prepare(ClassifierConfig(wikipedia_inputs=["wikipedia/nothing-*.xml"]), ctx)
    with pytest.raises(InputError, match="classifier.reference_warcs"):
        classifier_prepare(ClassifierConfig(wikipedia_inputs=WIKI_DUMPS, reference_warcs=["nowhere.warc.gz"]), ctx)
    classifier_prepare(ClassifierConfig(wikipedia_inputs=WIKI_DUMPS), ctx)
    with pytest.raises(ConfigError, match="threshold"):
        build(ClassifierConfig, {"threshold": 1.5})
    with pytest.raises(ConfigError, match="label_by"):
        build(ClassifierConfig, {"label_by": "title"})
