"""fastText lid.176 language ID on the real WET pages, checked against the fixture index's labels."""
import gzip
import json
import pickle

import pytest

from helpers import FIXTURES
from llamacorpus.steps.filters.langid import LOW_SCORE, NOT_KEPT, LanguageId, default_model_path, load_model, predict
from llamacorpus.sources.commoncrawl import SOURCE, CommonCrawlConfig
from llamacorpus.steps import run_steps

CC = FIXTURES / "commoncrawl"


@pytest.fixture(scope="module")
def pages():
    cfg = CommonCrawlConfig(min_chars=0)
    return [d for i in range(3) for d in SOURCE.read(cfg, str(CC / f"realpages-0000{i}.warc.wet.gz"))
            if isinstance(d, dict)]


@pytest.fixture(scope="module")
def index():
    with gzip.open(CC / "realpages.index.jsonl.gz", "rt", encoding="utf-8") as f:
        return {r["url"]: r for r in map(json.loads, f)}


def test_languages_match_the_index_labels(pages, index):
    step = LanguageId(["en"])
    step.setup()
    scores = step.score_batch(pages)
    assert len(scores) == len(pages) == 541
    labelled = [(index[d["meta"]["url"]]["fasttext_lang"], s["language"]) for d, s in zip(pages, scores)]
    agree = sum(a == b for a, b in labelled)
    assert agree >= 0.99 * len(pages), f"{agree}/{len(pages)} agree with the index"
    assert {b for a, b in labelled if a == "de"} == {"de"}
    assert all(0.0 <= s["language_score"] <= 1.0 for s in scores)


def test_keep_rules_and_counts_per_language(pages, index):
    de = next(d for d in pages if index[d["meta"]["url"]]["fasttext_lang"] == "de")
    en = next(d for d in pages if index[d["meta"]["url"]]["fasttext_lang"] == "en"
              and index[d["meta"]["url"]]["fasttext_prob"] > 0.9)
    unsure = next(d for d in pages if index[d["meta"]["url"]]["fasttext_lang"] == "none")  # no label: en, 0.12
    report = run_steps([LanguageId(["en"], 0.5)], [de, en, unsure], source="commoncrawl")
    assert [d["id"] for d in report.kept] == [en["id"]]
    assert report.kept[0]["meta"]["language"] == "en" and report.kept[0]["meta"]["language_score"] >= 0.9
    reasons = {drop.doc["id"]: drop.reason for _, drop in report.dropped}
    assert reasons == {de["id"]: NOT_KEPT, unsure["id"]: LOW_SCORE}
    assert report.counts["langid"]["kept"] == 1
    assert [name for _, name, _ in report.measures] == ["language_score"] * 3


def page(pages, url):
    return next(d for d in pages if d["meta"]["url"] == url)


def test_newlines_are_deleted_not_spaces_as_in_ccnet(pages):
    """CCNet's ``text.replace("\\n", "")`` glues the lines' edge words together; on this real page
    (a Japanese blog post with English navigation) that moves the score across the threshold."""
    model = load_model(default_model_path())
    doc = page(pages, "https://blog.gaijinpot.com/tweet-of-the-week-67-dealing-with-chikan/")
    ((lang, deleted),) = predict(model, [doc["text"]])
    ((spaced_lang, spaced),) = predict(model, [doc["text"].replace("\n", " ")])
    assert lang == spaced_lang == "ja" and deleted == 0.45 and spaced == 0.55
    report = run_steps([LanguageId(["ja"], 0.5)], [doc], source="commoncrawl")
    assert [drop.reason for _, drop in report.dropped] == [LOW_SCORE]
    assert report.dropped[0][1].doc["meta"]["language_score"] == 0.45
    text = "Dies ist ein deutscher Satz.\nEr hat zwei Zeilen."  # lists work with numpy 2, newlines too
    assert predict(model, [text]) == predict(model, [text.replace("\n", "")])


def test_score_is_rounded_to_two_decimals_before_the_threshold(pages):
    """A real headline of the tmz.com page scores 0.4954 for en: CCNet rounds it to 0.5, which
    passes the threshold 0.5."""
    headline = "Celebrate Kylie Jenner's Bday With These Boss Babe Shots!"
    doc = page(pages, "https://www.tmz.com/2016/11/28/prince-wife-estate-will/")
    assert headline in doc["text"].split("\n")
    model = load_model(default_model_path())
    ((lang, raw),) = predict(model, [headline], rounding=None)
    assert lang == "en" and 0.495 <= raw < 0.5
    line = {**doc, "text": headline}
    report = run_steps([LanguageId(["en"], 0.5)], [line], source="commoncrawl")
    assert [d["meta"]["language_score"] for d in report.kept] == [0.5]
    # every stored score is a multiple of 0.01, the figure the threshold saw
    scores = LanguageId(["en"]).score_batch(pages)
    assert all(s["language_score"] == round(s["language_score"], 2) for s in scores)
    unrounded = [p for _, p in predict(model, [d["text"] for d in pages], rounding=None)]
    assert any(p != round(p, 2) for p in unrounded)


def test_model_path_option_and_pickling(pages):
    step = LanguageId(["en"], model_path=str(FIXTURES / "models" / "lid.176.ftz"))
    step.setup()
    bundled = LanguageId(["en"])
    assert step.score_batch(pages[:20]) == bundled.score_batch(pages[:20])
    assert len(pickle.dumps(step)) < 10_000  # the model stays out of the pickled step
