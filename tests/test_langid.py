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


def test_newlines_are_spaces_and_lists_work_with_numpy2():
    model = load_model(default_model_path())
    text = "Dies ist ein deutscher Satz.\nEr hat zwei Zeilen."
    ((lang, prob),) = predict(model, [text])
    assert lang == "de" and prob > 0.9
    assert predict(model, [text]) == predict(model, [text.replace("\n", " ")])


def test_model_path_option_and_pickling(pages):
    step = LanguageId(["en"], model_path=str(FIXTURES / "models" / "lid.176.ftz"))
    step.setup()
    bundled = LanguageId(["en"])
    assert step.score_batch(pages[:20]) == bundled.score_batch(pages[:20])
    assert len(pickle.dumps(step)) < 10_000  # the model stays out of the pickled step
