"""The SentencePiece BPE tokenizer trained the LLaMA way on the fixtures: digits split, byte
fallback, lossless round trip on documents of every source; vocabulary shrink, determinism,
domain tags and a given model."""
from __future__ import annotations

import dataclasses
import json
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


# LLaMA's published tokenizer.model, as its ModelProto prints (the same file ships with LLaMA 1 and
# 2; printed e.g. in karpathy/llama2.c's README, "SentencePiece Settings").
LLAMA_TRAINER_SPEC = {
    "input": ["/large_experiments/theorem/datasets/MERGED/all.test1.merged"],
    "model_prefix": "spm_model_32k_200M_charcov099995_allowWSO__v2", "model_type": 2, "vocab_size": 32000,
    "self_test_sample_size": 0, "input_format": "text", "character_coverage": 0.99995,
    "input_sentence_size": 200000000, "seed_sentencepiece_size": 1000000, "shrinking_factor": 0.75,
    "num_threads": 80, "num_sub_iterations": 2, "max_sentence_length": 4192, "shuffle_input_sentence": True,
    "max_sentencepiece_length": 16, "split_by_unicode_script": True, "split_by_whitespace": True,
    "split_by_number": True, "treat_whitespace_as_suffix": False, "split_digits": True,
    "allow_whitespace_only_pieces": True, "vocabulary_output_piece_score": True, "hard_vocab_limit": True,
    "use_all_vocab": False, "byte_fallback": True, "required_chars": "", "unk_id": 0, "bos_id": 1, "eos_id": 2,
    "pad_id": -1, "unk_surface": " \u2047 ", "unk_piece": "<unk>", "bos_piece": "<s>", "eos_piece": "</s>",
    "pad_piece": "<pad>", "train_extremely_large_corpus": False, "enable_differential_privacy": False,
    "differential_privacy_noise_level": 0.0, "differential_privacy_clipping_threshold": 0,
}
LLAMA_NORMALIZER_SPEC = {"name": "identity", "precompiled_charsmap": b"", "add_dummy_prefix": True,
                         "remove_extra_whitespaces": False, "normalization_rule_tsv": ""}
# The fields of ours that must differ, and why. Every other field of TrainerSpec and NormalizerSpec
# (those LLaMA's proto leaves unset at their default included) must be equal.
DIFFERENT = {
    "input": "a path on Meta's machines; the sample is streamed to the trainer (sentence_iterator)",
    "model_prefix": "a file name on Meta's machines; the model is written to memory (model_writer)",
    # (vocab_size would be here if the sample could not support 32000 pieces: shrink_vocab_to_fit;
    # the seven fixture sources do, test_small_sample_shrinks_the_vocabulary shrinks)
}


def model_proto(data: bytes):
    """The ModelProto of a model with sentencepiece's generated module, or, where this protobuf
    runtime is older than its generated code (Beam pins protobuf < 7), transformers' copy of it."""
    try:
        from sentencepiece import sentencepiece_model_pb2 as pb2
    except Exception:  # google.protobuf.runtime_version.VersionError
        from transformers.utils import sentencepiece_model_pb2_new as pb2
    proto = pb2.ModelProto()
    proto.ParseFromString(data)
    return proto


@pytest.mark.slow
def test_llama_trainer_spec_field_by_field(run, sp):
    from google.protobuf import unknown_fields

    proto = model_proto((run.shards / "tokenizer.model").read_bytes())
    compared = 0
    for spec, llama in ((proto.trainer_spec, LLAMA_TRAINER_SPEC), (proto.normalizer_spec, LLAMA_NORMALIZER_SPEC)):
        assert len(unknown_fields.UnknownFieldSet(spec)) == 0  # every field the model holds is compared
        for f in spec.DESCRIPTOR.fields:
            ours = getattr(spec, f.name)
            ours = list(ours) if f.label == f.LABEL_REPEATED else ours
            theirs = llama.get(f.name, [] if f.label == f.LABEL_REPEATED else f.default_value)
            if f.name in DIFFERENT:
                assert ours != theirs, f"{f.name} now equals LLaMA's: remove it from DIFFERENT"
                continue
            if isinstance(theirs, float):
                assert ours == pytest.approx(theirs, rel=1e-6), f.name
            else:
                assert ours == theirs, f.name
            compared += 1
    assert compared >= 40
    assert proto.trainer_spec.vocab_size == sp.get_piece_size() == 32000
    info = json.loads((run.output / "models" / "tokenizer" / "training.json").read_text())
    assert not info["shrunk"] and info["vocab_size_asked"] == 32000
    assert info["sample"]["chars"] <= info["sample"]["sample_chars"]
    assert not (run.output / "models" / "tokenizer" / "tokenizer.json").exists()  # Hugging Face's name
    assert (sp.unk_id(), sp.bos_id(), sp.eos_id(), sp.pad_id()) == (0, 1, 2, -1)
    assert [sp.id_to_piece(i) for i in (3, 4, 258)] == ["<0x00>", "<0x01>", "<0xFF>"]  # byte fallback
    assert all(sp.is_byte(i) for i in range(3, 259))
    pieces = sp.encode("a  b", out_type=str)
    assert "".join(pieces) == "▁a▁▁b"  # whitespace runs kept (no normalisation), dummy prefix added


def test_thread_count_changes_no_piece(c4_texts):
    """Why num_threads can be LLaMA's 80 on any machine: the trained pieces and scores do not
    depend on it (only the recorded field does)."""
    models = [trainer.train(lambda: c4_texts[:300], small_config(num_threads=n))[0] for n in (1, 80)]
    procs = [spm.SentencePieceProcessor(model_proto=m) for m in models]
    assert [[(p.id_to_piece(i), p.get_score(i)) for i in range(p.get_piece_size())] for p in procs] == \
        [[(procs[0].id_to_piece(i), procs[0].get_score(i)) for i in range(procs[0].get_piece_size())]] * 2
    assert models[0] != models[1] and model_proto(models[1]).trainer_spec.num_threads == 80


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


def test_training_is_deterministic_and_order_free(c4_texts, tmp_path):
    texts = c4_texts[:200]
    entries = [trainer.SampleEntry(trainer.sample_key(f"c4/{i}"), f"c4/{i}", "c4", t) for i, t in enumerate(texts)]
    models = [trainer.train_on(order, small_config(), str(tmp_path / str(n)), [])[0]
              for n, order in enumerate((entries, entries[::-1]))]
    assert models[0] == models[1]
    # the way the mix stage gathers the sample: part files from several workers, read back
    parts = [trainer.SamplePart(str(tmp_path / "parts" / f"{n}{trainer.SamplePart.SUFFIX}")) for n in range(3)]
    for i, entry in enumerate(entries[::-1]):
        parts[i % 2].add(entry)  # the third part stays empty
    for part in parts:
        part.close()
    assert [part.count for part in parts] == [100, 100, 0]
    back = list(trainer.read_sample_parts(part.path for part in parts))
    assert sorted(back) == sorted(entries) and all(type(e) is trainer.SampleEntry for e in back)
    assert trainer.train_on(back, small_config(), str(tmp_path / "parts-model"), [])[0] == models[0]
    info = json.loads((tmp_path / "0" / "training.json").read_text())
    assert info["sample"]["documents"] == 200 and info["sample"]["chars"] == sum(map(len, texts))


def test_long_lines_are_cut_at_spaces():
    line = "word " * 2000
    parts = list(trainer.sentences(line + "\n\nshort", 100))
    assert parts[-1] == "short"
    assert all(len(p.encode()) <= 100 for p in parts)
    assert " ".join(parts[:-1]).split() == line.split()
    assert list(trainer.sentences("é" * 60, 100)) == ["é" * 50, "é" * 10]


def test_sample_targets_follow_the_proportions():
    targets = trainer.sample_targets({"c4": 1000, "books": 100, "arxiv": 0}, {"c4": 0.5, "books": 0.5, "arxiv": 0.1}, 400)
    assert targets == {"c4": 300, "books": 100, "arxiv": 0}  # books gives all it has, c4 the rest


def test_sample_never_holds_more_than_sample_chars():
    """The sample is bounded (issue 15): documents in hash order while they fit their source's
    share, on real C4 and arXiv documents, with budgets from tiny to more than there is."""
    docs = [d for d in C4.read(C4Config(), C4_SHARD)]
    info = {"c4": {"cutoff": -1}}
    cfg = trainer.TokenizerConfig()
    items = [trainer.sample_item(d, info, cfg, 0) for d in docs]
    total = sum(i[1][2] for i in items)
    for budget in (1, 5000, 123_456, total // 2, total, 10 * total):
        cuts = trainer.quota.local_cuts(lambda: items, lambda t: trainer.sample_targets(t, {"c4": 1.0}, budget),
                                        trainer.quota.AT_MOST)
        taken = [e for d in docs if (e := trainer.sample_entry(d, info, cuts, cfg, 0)) is not None]
        chars = sum(len(e.text) for e in taken)
        assert chars <= budget
        ordered, running, prefix = sorted(i[1] for i in items), 0, set()
        for _, doc_id, n in ordered:  # the longest prefix of the hash order within the budget
            if running + n > budget:
                break
            running += n
            prefix.add(doc_id)
        assert {e.id for e in taken} == prefix and chars == running


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
    sample_dir = run.output / "staging" / "tokenizer-sample"  # the run's sample parts, removed by the mix
    assert sample_dir.is_dir() and not list(sample_dir.iterdir())
    assert main(["train-tokenizer", "--output", str(tmp_path / "nothing"), "--recipe", str(run.recipe)]) == 2
