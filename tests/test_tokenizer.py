"""The SentencePiece BPE tokenizer trained the LLaMA way on the fixtures: digits split, byte
fallback, lossless round trip on documents of every source; vocabulary shrink, determinism,
domain tags and a given model."""
from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import sentencepiece as spm

from helpers import FIXTURES
from llamacorpus.config import ConfigError
from llamacorpus.pipeline import mix
from llamacorpus.pipeline import recipe as recipe_mod
from llamacorpus.sources.c4 import SOURCE as C4, C4Config
from llamacorpus.tokenize import encoder, spm_model, tags
from llamacorpus.tokenize import train as trainer
from llamacorpus.tokenize.encoder import Encoder, MissingTagError, WordEncoder
from test_shards import existing_sources, fixture_run

C4_SHARD = str(FIXTURES / "c4" / "c4-en-train.00000-of-01024.first1000.json.gz")
ABSENT = ["🦙", "𠀋", "\U0001F9A9"]  # llama emoji, a rare CJK Extension-B character, flamingo


@pytest.fixture(scope="module")
def run():
    return fixture_run()


@pytest.fixture(scope="module")
def sp(run) -> spm.SentencePieceProcessor:
    return run.tokenizer()


@pytest.fixture(scope="module")
def c4_texts():
    return [d["text"] for d in C4.read(C4Config(), C4_SHARD)]


def small_config(**changes):
    return dataclasses.replace(trainer.TokenizerConfig(), **{"vocab_size": 1000, **changes})


@pytest.mark.slow
def test_llama_trainer_spec(run, sp):
    assert (sp.unk_id(), sp.bos_id(), sp.eos_id(), sp.pad_id()) == (0, 1, 2, -1)
    assert [sp.id_to_piece(i) for i in (3, 4, 258)] == ["<0x00>", "<0x01>", "<0xFF>"]  # byte fallback
    assert all(sp.is_byte(i) for i in range(3, 259))
    info = (run.output / "models" / "tokenizer" / "tokenizer.json").read_text()
    for key in ('"model_type": "bpe"', '"split_digits": true', '"normalization_rule_name": "identity"',
                '"add_dummy_prefix": true', '"remove_extra_whitespaces": false', '"character_coverage": 0.99995',
                '"allow_whitespace_only_pieces": true'):
        assert key in info
    pieces = sp.encode("a  b", out_type=str)
    assert "".join(pieces) == "▁a▁▁b"  # whitespace runs kept (no normalisation), dummy prefix added


@pytest.mark.slow
def test_every_digit_is_its_own_piece(sp, c4_texts):
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size()) if not sp.is_byte(i)]
    assert not [p for p in pieces if len(re.findall(r"\d", p)) > 1]
    with_digits = [t for t in c4_texts if re.search(r"\d{4,}", t)][:50]
    assert with_digits
    for text in with_digits:
        for i in sp.encode(text):
            piece = sp.id_to_piece(i)
            if re.search(r"\d", piece) and not sp.is_byte(i):
                assert re.fullmatch(r"▁?\d", piece), piece
    assert sp.encode("31415926", out_type=str)[-8:] == list("31415926")


@pytest.mark.slow
def test_characters_absent_from_training_fall_back_to_bytes(run, sp):
    corpus = "".join(d["text"] for name in existing_sources() for d in run.documents(name))
    for char in ABSENT:
        assert char not in corpus
        pieces = sp.encode(f"a {char} b", out_type=str)
        expected = [f"<0x{b:02X}>" for b in char.encode("utf-8")]
        assert expected == [p for p in pieces if p.startswith("<0x")]
        assert sp.unk_id() not in sp.encode(char)
        assert sp.decode(sp.encode(f"a {char} b")) == f"a {char} b"


@pytest.mark.slow
def test_round_trip_on_documents_of_every_source(run, sp):
    names = existing_sources()
    assert "c4" in names
    for name in names:
        docs = run.documents(name)
        assert docs, name
        for doc in docs:
            ids = sp.encode(doc["text"])
            assert sp.unk_id() not in ids
            assert sp.decode(ids) == doc["text"], doc["id"]


@pytest.mark.slow
def test_fast_word_encoder_gives_sentencepieces_ids_on_every_source(run, sp, monkeypatch):
    model = (run.shards / "tokenizer.model").read_bytes()
    words = WordEncoder(model, np.uint16)
    assert words.by_word
    for name in existing_sources():
        for doc in run.documents(name):
            assert np.frombuffer(words.encode(doc["text"]), np.uint16).tolist() == sp.encode(doc["text"]), doc["id"]
    monkeypatch.setattr(encoder, "CACHE_WORDS", 50)  # the cache turns over when full: same ids
    for doc in run.documents("c4")[:50]:
        assert np.frombuffer(words.encode(doc["text"]), np.uint16).tolist() == sp.encode(doc["text"])
    assert len(words.cache) <= 50 and len(words.old) <= 50
    for text in ["", " ", "   ", "  a", "a ", "a  ", "a   b    c  ", "x\n y", "\t tab", *ABSENT, "12  345"]:
        assert np.frombuffer(words.encode(text), np.uint16).tolist() == sp.encode(text), repr(text)
    words.cache.clear()
    enc = Encoder(model)
    doc = run.documents(existing_sources()[0])[0]
    assert enc.encode(doc).tolist() == [1, *sp.encode(doc["text"]), 2]


def test_model_fields_read_from_the_protobuf():
    given = (FIXTURES / "models" / "botchan_en_unigram_1000.model").read_bytes()
    spec = spm_model.normalizer_spec(given)
    assert spec["name"] == "nfkc" and spec["add_dummy_prefix"] and spec["remove_extra_whitespaces"]
    assert not WordEncoder(given, np.uint16).by_word  # other normalisation: encoded whole
    patched = spm_model.without_dummy_prefix(given)
    assert not spm_model.normalizer_spec(patched)["add_dummy_prefix"]
    plain, bare = spm.SentencePieceProcessor(model_proto=given), spm.SentencePieceProcessor(model_proto=patched)
    assert plain.encode("Hello", out_type=str)[0].startswith("▁")
    assert not bare.encode("Hello", out_type=str)[0].startswith("▁")


def test_small_sample_shrinks_the_vocabulary(c4_texts, caplog):
    texts = c4_texts[:3]
    model, info = trainer.train(lambda: texts, small_config(vocab_size=32000))
    assert info["shrunk"] and info["vocab_size_asked"] == 32000
    assert spm.SentencePieceProcessor(model_proto=model).get_piece_size() == info["vocab_size"] < 32000
    assert "supports at most" in caplog.text and "shrink_vocab_to_fit" in caplog.text
    with pytest.raises(RuntimeError, match="Vocabulary size too high"):
        trainer.train(lambda: texts, small_config(vocab_size=32000, shrink_vocab_to_fit=False))


def test_training_is_deterministic_and_order_free(c4_texts):
    texts = c4_texts[:200]
    samples = []
    for order in (texts, texts[::-1]):
        sample = trainer.Sample()
        for i, t in enumerate(order):
            sample.add(trainer.sample_key(f"c4/{t[:40]}"), "c4", t)
        samples.append(trainer.train(sample.texts, small_config())[0])
        sample.close()
    assert samples[0] == samples[1]


def test_long_lines_are_cut_at_spaces():
    line = "word " * 2000
    parts = list(trainer.sentences(line + "\n\nshort", 100))
    assert parts[-1] == "short"
    assert all(len(p.encode()) <= 100 for p in parts)
    assert " ".join(parts[:-1]).split() == line.split()
    assert list(trainer.sentences("é" * 60, 100)) == ["é" * 50, "é" * 10]


def test_sample_rates_follow_the_proportions():
    rates = trainer.sample_rates({"c4": 1000, "books": 100, "arxiv": 0}, {"c4": 0.5, "books": 0.5, "arxiv": 0.1}, 400)
    assert rates == {"c4": 0.3, "books": 1.0, "arxiv": 0.0}  # books gives all it has, c4 the rest


def test_domain_tags_are_single_pieces_after_bos(c4_texts):
    docs = list(C4.read(C4Config(), C4_SHARD))[:300]
    counts = {}
    for d in docs:
        counts[tags.domain_key(d)] = counts.get(tags.domain_key(d), 0) + 1
    top = tags.top_domains(counts, 5)
    symbols = tags.symbols("domain", top)
    model, _ = trainer.train(lambda: c4_texts[:300], small_config(), symbols)
    enc = Encoder(model, domain_tags="domain")
    assert set(enc.tag_ids) == set(symbols)
    for d in docs[:50]:
        tokens = enc.encode(d)
        key = tags.domain_key(d)
        piece = tags.domain_tag(key if key in top else tags.OTHER)
        assert tokens[0] == enc.bos_id and tokens[1] == enc.tag_ids[piece] and tokens[-1] == enc.eos_id
        assert enc.sp.decode(tokens[2:-1].tolist()) == d["text"]
    source_model, _ = trainer.train(lambda: c4_texts[:300], small_config(), tags.symbols("source"))
    enc = Encoder(source_model, add_bos=False, domain_tags="source")
    tokens = enc.encode(docs[0])
    assert enc.sp.id_to_piece(int(tokens[0])) == "<|source:c4|>" and tokens.dtype == np.uint16
    with pytest.raises(MissingTagError, match="<\\|source:c4\\|>"):
        Encoder(model, domain_tags="source")


def test_given_model_is_checked_before_the_run(tmp_path):
    given = str(FIXTURES / "models" / "botchan_en_unigram_1000.model")
    recipe = recipe_mod.from_dict({"tokenizer": {"model": given}})
    assert mix.given_model(recipe) == (FIXTURES / "models" / "botchan_en_unigram_1000.model").read_bytes()
    recipe = recipe_mod.from_dict({"tokenizer": {"model": given}, "shards": {"domain_tags": "source"}})
    with pytest.raises(ConfigError, match="tokenizer.model: .*<\\|source:commoncrawl\\|>"):
        mix.given_model(recipe)
    with pytest.raises(Exception, match="does not exist"):
        mix.given_model(recipe_mod.from_dict({"tokenizer": {"model": str(tmp_path / "none.model")}}))


@pytest.mark.slow
def test_train_tokenizer_command_gives_the_pipelines_model(run, tmp_path, capsys):
    from llamacorpus.cli import main

    argv = ["train-tokenizer", "--output", str(run.output), "--recipe", str(run.recipe), "--models_dir", str(tmp_path)]
    assert main(argv) == 0
    model = tmp_path / "tokenizer" / "tokenizer.model"
    assert f"--set tokenizer.model={model}" in capsys.readouterr().out
    assert model.read_bytes() == (run.shards / "tokenizer.model").read_bytes()
    assert main(["train-tokenizer", "--output", str(tmp_path / "nothing"), "--recipe", str(run.recipe)]) == 2
