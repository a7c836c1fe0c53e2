"""The Hugging Face tokenizer folder beside the shards (llamacorpus.tokenize.hf): transformers'
AutoTokenizer gives SentencePiece's ids and the encoder's, BOS and EOS included, on every fixture
document of every source, runs of spaces, literal special-token text and domain tags included."""
from __future__ import annotations

import dataclasses
import json

import pytest
import sentencepiece as spm

from llamacorpus.tokenize import hf, tags
from llamacorpus.tokenize import train as trainer
from llamacorpus.tokenize.encoder import Encoder
from test_shards import existing_sources, fixture_run

transformers = pytest.importorskip("transformers")

EDGES = ["", " ", "   ", "  leading", "trailing  ", "a  b   c    d", "\tx\n  y\n\n   z", "<s> x </s>",
         "x <unk> y", "</s>", "12345 678", "🦙 é 𠀋", "a\u2581b \u2581", "\u00a0nbsp\u3000ideographic"]


@pytest.fixture(scope="module")
def run():
    return fixture_run()


def auto(folder):
    return transformers.AutoTokenizer.from_pretrained(str(folder))


@pytest.mark.slow
def test_autotokenizer_gives_sentencepieces_ids_on_every_fixture_document(run, capsys):
    folder = run.shards / hf.DIRECTORY
    assert sorted(p.name for p in folder.iterdir()) == sorted(hf.FILES)
    tok = auto(folder)
    model = (run.shards / "tokenizer.model").read_bytes()
    assert (folder / "tokenizer.model").read_bytes() == model
    sp, enc = spm.SentencePieceProcessor(model_proto=model), Encoder(model)
    assert len(tok) == sp.get_piece_size() and (tok.bos_token_id, tok.eos_token_id, tok.unk_token_id) == (1, 2, 0)
    compared = {}
    for name in existing_sources():
        docs = run.documents(name)
        assert docs, name
        for doc in docs:
            ids = tok(doc["text"])["input_ids"]
            assert ids == sp.encode(doc["text"], add_bos=True, add_eos=True) == enc.encode(doc).tolist(), doc["id"]
            assert tok.decode(ids, skip_special_tokens=True) == doc["text"]
        compared[name] = len(docs)
    for text in EDGES:
        assert tok(text)["input_ids"] == sp.encode(text, add_bos=True, add_eos=True), repr(text)
    with capsys.disabled():
        print(f"\nAutoTokenizer == SentencePiece == Encoder on {sum(compared.values())} of {sum(compared.values())} "
              f"fixture documents ({', '.join(f'{k} {v}' for k, v in compared.items())}) and {len(EDGES)} edge texts")
    config = json.loads((folder / "tokenizer_config.json").read_text())
    manifest = run.manifest()
    assert (config["add_bos_token"], config["add_eos_token"]) == (manifest["add_bos"], manifest["add_eos"])
    assert manifest["hf_tokenizer"] == hf.DIRECTORY
    # the run's own record of the training no longer has Hugging Face's file name
    assert not (run.output / "models" / "tokenizer" / "tokenizer.json").exists()


def test_domain_tags_are_single_added_tokens(run, tmp_path):
    """A model with the source tags (user-defined symbols): the encoder's [BOS, tag, text, EOS]
    is AutoTokenizer's BOS, the tag's token, the text's ids and EOS; the tag is one token both
    ways. (A text that itself contains a tag string is the one difference: SentencePiece matches
    the symbol inside its normalised text, Hugging Face splits added tokens out before.)"""
    docs = [d for name in existing_sources() for d in run.documents(name)[:40]]
    cfg = dataclasses.replace(trainer.TokenizerConfig(), vocab_size=2000)
    model, _ = trainer.train(lambda: [d["text"] for d in docs], cfg, tags.symbols("source"))
    tok = auto(hf.write_folder(str(tmp_path), model, add_bos=True, add_eos=False))
    enc = Encoder(model, add_eos=False, domain_tags="source")
    for doc in docs:
        tag = tok.convert_tokens_to_ids(tags.source_tag(doc["source"]))
        assert enc.encode(doc).tolist() == [tok.bos_token_id, tag, *tok(doc["text"], add_special_tokens=False)["input_ids"]]
        assert tok(doc["text"])["input_ids"][-1] != tok.eos_token_id or not doc["text"]  # add_eos false here
    for source in ("c4", "github"):
        piece = tags.source_tag(source)
        assert tok.tokenize(piece) == [piece] and tok.decode(tok.convert_tokens_to_ids([piece])) == piece
