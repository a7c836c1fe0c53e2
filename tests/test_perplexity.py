"""CCNet perplexity: the normaliser on real lines, the score against KenLM and SentencePiece called
directly, buckets against the cut-offs used, documents without a model, the models' loading.

The models are the small real ones in tests/fixtures/models (a SentencePiece unigram-1000 model and
KenLM's test ARPA): the numerics are what these tests check. tests/test_train_lm.py trains a real
English model on the Wikipedia fixtures and checks that it tells prose from boilerplate.
"""
import collections
import json
import pickle
import shutil

import apache_beam as beam
import kenlm
import pytest
import sentencepiece
from fastwarc.warc import ArchiveIterator, WarcRecordType

from helpers import FIXTURES, assert_accounting, run_source, test_pipeline
from llamacorpus.config import ConfigError, build
from llamacorpus.fileio import InputError
from llamacorpus.steps.normalize import normalize
from llamacorpus.steps.filters.perplexity import (NO_MODEL, Perplexity, PerplexityBuckets, PerplexityConfig, assign_bucket,
                                            bucket_of, perplexity_prepare, resolve_languages)
from llamacorpus.pipeline.branch import Branch
from llamacorpus.steps import RunContext
from llamacorpus.sources.commoncrawl import SOURCE, CommonCrawlConfig
from llamacorpus.steps import Drop, run_steps

MODELS = FIXTURES / "models"
WET0 = FIXTURES / "commoncrawl" / "realpages-00000.warc.wet.gz"
SECTION = {"inputs": ["commoncrawl/realpages-00000.warc.wet.gz"], "languages": ["en", "de"],
           # every bucket kept, so that the test sees all of them (the drop of tail is tested below)
           "perplexity": {"lm_model": "{lang}.arpa", "keep_buckets": ["head", "middle", "tail"]},
           "classifier": {"enabled": False}}


def wet_lines():
    with open(WET0, "rb") as f:
        for rec in ArchiveIterator(f, record_types=WarcRecordType.conversion):
            yield from rec.reader.read().decode("utf-8").split("\n")


def real_line(fragment):
    return next(line for line in wet_lines() if fragment in line)


def install_models(models_dir):
    """The fixture models under CCNet's names for language en (the ARPA kept as text)."""
    lm = models_dir / "lm"
    lm.mkdir(parents=True)
    shutil.copy(MODELS / "botchan_en_unigram_1000.model", lm / "en.sp.model")
    shutil.copy(MODELS / "kenlm_test.arpa", lm / "en.arpa")
    return {"en": (str(lm / "en.sp.model"), str(lm / "en.arpa"))}


def direct_perplexity(text, whole_document=True):
    """CCNet's formula computed here with the two libraries called directly."""
    sp = sentencepiece.SentencePieceProcessor(model_file=str(MODELS / "botchan_en_unigram_1000.model"))
    lm = kenlm.Model(str(MODELS / "kenlm_test.arpa"))
    lines = [normalize(text)] if whole_document else [normalize(line) for line in text.split("\n")]
    log10, tokens = 0.0, 0
    for line in lines:
        if not line and not whole_document:
            continue
        pieces = sp.encode_as_pieces(line)
        log10 += lm.score(" ".join(pieces), bos=True, eos=True)
        tokens += len(pieces) + 1
    return round(10 ** (-log10 / tokens), 1)


def mine_perplexity(text):
    """cc_net's mine.py, step by step: MultiSentencePiece(normalize=True) on the raw content, then
    DocLM(normalize=False) on the pieces split on newlines (none is left after the normalisation)."""
    sp = sentencepiece.SentencePieceProcessor(model_file=str(MODELS / "botchan_en_unigram_1000.model"))
    lm = kenlm.Model(str(MODELS / "kenlm_test.arpa"))
    tokenized = " ".join(sp.encode_as_pieces(normalize(text)))
    log10, length = 0.0, 0
    for line in tokenized.split("\n"):
        log10 += lm.score(line)
        length += len(line.split()) + 1
    return round(10.0 ** (-log10 / length), 1)


# ---------------------------------------------------------------------------- normalisation

@pytest.mark.parametrize("fragment, expected", [
    # digits to 0, German quotes to ASCII
    ("48 Artikel zu", '• neu in der wikipedia: 00 artikel zu "0000/00" in deutschland 00. oktober 0000'),
    # accents stripped, typographic apostrophe to ASCII
    ("Caravane installée", "caravane installee pour l'ete devant le village de beauduc (bouches-du-rhone), "
                           "en juin 0000."),
    # the em dash becomes " - " after the strip: a leading space, and two before the name
    ("Dave Schukin (@schukin)", " -  dave schukin (@schukin) july 0, 0000"),
    # CJK punctuation to ASCII; NFD splits ぱ into は + a combining mark, which goes (as in CCNet)
    ("腹黒さ", '0. [心理テスト]あなたの"腹黒さ"をチェック.他人の足,ひっはれますか?'),
    # C1 control characters of a mis-decoded page removed
    ("zodiac element", "fire, water, earth, or airahere's what your zodiac element reveals about you"),
    ("Mandelplätzchen\x80", "mandelplatzchen, copyright: cc by-nc-nd 0.0"),
])
def test_normalize_follows_ccnet_on_real_lines(fragment, expected):
    assert normalize(real_line(fragment)) == expected


def test_normalize_removes_newlines_as_ccnet_does():
    assert normalize("  Line ONE\nline 2  ") == "line oneline 0"
    assert normalize(" \t ") == ""


def test_normalize_beyond_the_first_two_planes():
    """Hand-made (the fixtures lack them): a plane-2 ideograph kept, a plane-14 variation selector
    (category Mn) removed, a plane-1 mathematical digit (category Nd) made 0."""
    assert normalize("A\U00020000\U000E0100b\U0001D7D7") == "a\U00020000b0"


# ---------------------------------------------------------------------------- the pipeline

@pytest.fixture(scope="module")
def cc_run(tmp_path_factory):
    """The Common Crawl source on a real WET file, en and de kept, an en model only."""
    tmp = tmp_path_factory.mktemp("perplexity")
    install_models(tmp / "models")
    return run_source("commoncrawl", SECTION, tmp)


def test_pipeline_perplexity_equals_kenlm_and_sentencepiece_called_directly(cc_run):
    assert_accounting(cc_run.stats)
    assert cc_run.docs and all(d["meta"]["language"] == "en" for d in cc_run.docs)
    for doc in cc_run.docs[:5]:
        assert doc["meta"]["perplexity"] == direct_perplexity(doc["text"])
    doc = cc_run.docs[0]
    step = Perplexity({"en": (str(MODELS / "botchan_en_unigram_1000.model"), str(MODELS / "kenlm_test.arpa"))},
                      scoring="lines")
    step.setup()
    assert step.score(doc) == {"perplexity": direct_perplexity(doc["text"], whole_document=False)}


def test_default_scoring_is_what_ccnet_mine_computed(cc_run):
    """The default (``document``) equals cc_net's mine.py on every page; ``lines`` differs."""
    assert PerplexityConfig().scoring == "document"
    stats = json.loads((cc_run.output / "stats" / "perplexity_cutoffs.json").read_text())
    assert stats["scoring"] == "document"
    assert all(d["meta"]["perplexity"] == mine_perplexity(d["text"]) for d in cc_run.docs)
    differ = sum(direct_perplexity(d["text"], whole_document=False) != d["meta"]["perplexity"] for d in cc_run.docs)
    assert differ > 0.9 * len(cc_run.docs)


def test_buckets_follow_the_cutoffs_written_to_stats(cc_run):
    stats = json.loads((cc_run.output / "stats" / "perplexity_cutoffs.json").read_text())
    assert stats["cutoffs_from"] == "run" and stats["percentiles"] == [30, 60]
    assert set(stats["languages"]) == {"en"}
    head, middle = stats["languages"]["en"]["cutoffs"]
    values = sorted(d["meta"]["perplexity"] for d in cc_run.docs)
    n = len(values)
    assert stats["languages"]["en"]["documents"] == n > 50 and head < middle
    for doc in cc_run.docs:
        assert doc["meta"]["bucket"] == bucket_of(doc["meta"]["perplexity"], (head, middle))
    buckets = collections.Counter(d["meta"]["bucket"] for d in cc_run.docs)
    # the cut-offs are this run's 30th and 60th percentiles, to within a document
    assert abs(buckets["head"] - 0.3 * n) <= 1.5 and abs(buckets["head"] + buckets["middle"] - 0.6 * n) <= 1.5
    assert head in values and middle in values


def test_documents_without_a_model_are_dropped_and_counted(cc_run):
    by = {s["step"]: s for s in cc_run.stats["steps"]}
    assert by["perplexity"]["by_language"]["de"]["kept"] > 0  # scored step keeps, without a figure
    assert by["perplexity_bucket"]["by_language"]["de"] == {f"dropped:{NO_MODEL}": by["perplexity"]["by_language"]["de"]["kept"]}
    assert all("perplexity" not in r["meta"] and r["meta"]["bucket"] == NO_MODEL for r in cc_run.rejected[NO_MODEL])


def test_table_cutoffs_from_the_recipe(tmp_path):
    """cutoffs: table (CCNet's cutoff.csv style) on real pages scored without Beam, bucketed in Beam."""
    files = install_models(tmp_path / "models")
    docs = [d for d in SOURCE.read(CommonCrawlConfig(min_chars=300), str(WET0)) if isinstance(d, dict)][:40]
    docs = [{**d, "meta": {**d["meta"], "language": "en"}} for d in docs]
    scored = run_steps([Perplexity(files)], docs).kept
    values = sorted(d["meta"]["perplexity"] for d in scored)
    table = [values[10], values[25]]
    cfg = build(PerplexityConfig, {"cutoffs": "table", "cutoff_table": {"en": table}, "keep_buckets": ["head"]})
    stats_path = tmp_path / "stats" / "cutoffs.json"
    p = test_pipeline()
    branch = Branch("commoncrawl")
    kept = branch.apply(p | beam.Create(scored), [PerplexityBuckets(cfg, str(stats_path))])
    kept | beam.combiners.ToList() | beam.Map(lambda out: (tmp_path / "kept.json").write_text(json.dumps(out)))
    p.run().wait_until_finish()
    kept = json.loads((tmp_path / "kept.json").read_text())
    assert sorted(d["meta"]["perplexity"] for d in kept) == [v for v in values if v < table[0]]
    assert all(d["meta"]["bucket"] == "head" for d in kept)
    stats = json.loads(stats_path.read_text())
    assert stats["cutoffs_from"] == "table" and stats["languages"] == {"en": {"cutoffs": table}}


def test_bucket_rule_at_the_edges():
    assert [bucket_of(v, (340.0, 520.0)) for v in (339.9, 340.0, 519.9, 520.0)] == ["head", "middle", "middle", "tail"]
    table = {"en": {"cutoffs": [340.0, 520.0]}}
    doc = {"id": "commoncrawl/x", "text": "t", "source": "commoncrawl", "meta": {"language": "en", "perplexity": 600.0}}
    _, decision = assign_bucket(doc, table, {"head", "middle"})
    assert isinstance(decision, Drop) and decision.reason == "tail" and decision.doc["meta"]["bucket"] == "tail"
    _, decision = assign_bucket(doc, table, {"head", "middle", "tail"})
    assert decision["meta"]["bucket"] == "tail" and "bucket" not in doc["meta"]


# ---------------------------------------------------------------------------- models and configuration

def test_models_load_once_per_process_and_stay_out_of_the_pickle(tmp_path):
    files = install_models(tmp_path / "models")
    step = Perplexity(files)
    step.setup()
    data = pickle.dumps(step)
    assert len(data) < 2000  # the models are not in the pickled step
    copy_a, copy_b = pickle.loads(data), pickle.loads(data)
    copy_a.setup()
    copy_b.setup()
    assert copy_a.models is copy_b.models is step.models  # one load shared by the worker's threads


def context(tmp_path):
    return RunContext(output=str(tmp_path), models_dir=str(tmp_path / "models"), input_root=".")


def test_prepare_names_the_missing_model(tmp_path):
    with pytest.raises(InputError, match="no language models in .*models/lm.*train-lm"):
        perplexity_prepare(PerplexityConfig(), context(tmp_path))
    install_models(tmp_path / "models")
    with pytest.raises(InputError, match=r"en\.arpa\.bin for language 'en' does not exist"):
        perplexity_prepare(PerplexityConfig(languages=["en"]), context(tmp_path))
    cfg = PerplexityConfig(lm_model="{lang}.arpa", cutoffs="table", cutoff_table={"de": [370.0, 590.0]})
    with pytest.raises(InputError, match="cutoff_table has no cut-offs for en"):
        perplexity_prepare(cfg, context(tmp_path))
    assert list(resolve_languages(PerplexityConfig(lm_model="{lang}.arpa"), context(tmp_path))) == ["en"]


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="percentiles"):
        build(PerplexityConfig, {"percentiles": [60, 30]})
    with pytest.raises(ConfigError, match="keep_buckets: unknown bucket 'best'"):
        build(PerplexityConfig, {"keep_buckets": ["best"]})
    with pytest.raises(ConfigError, match="cutoff_table: is empty"):
        build(PerplexityConfig, {"cutoffs": "table"})
    with pytest.raises(ConfigError, match="scoring"):
        build(PerplexityConfig, {"scoring": "paragraphs"})
