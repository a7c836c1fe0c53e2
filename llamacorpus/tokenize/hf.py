"""The tokenizer as a folder Hugging Face ``transformers`` loads: ``AutoTokenizer.from_pretrained(
<output>/shards/hf_tokenizer)`` gives SentencePiece's ids, with BOS and EOS as the shards add them.

The folder holds:

``tokenizer.json``
    the ``tokenizers`` library's format, converted from the SentencePiece model the way
    transformers' ``LlamaConverter`` does it (non-legacy): a BPE model with SentencePiece's
    pieces as vocabulary and, as merges, every split of a piece into two pieces, ranked by the
    merged piece's score (SentencePiece merges the pair whose result scores highest), byte
    fallback on; no normalizer; a ``Metaspace`` pre-tokenizer that writes spaces as ``▁`` and
    prepends one ``▁`` to the text (SentencePiece's dummy prefix; ``prepend_scheme: first``, so
    not again after a user-defined symbol); ``<unk>``, ``<s>``, ``</s>`` as special tokens and the
    user-defined symbols (domain tags) as plain added tokens; a post-processor adding BOS/EOS.
``tokenizer_config.json``
    ``LlamaTokenizer`` with ``legacy: false`` and ``add_prefix_space: true`` (the settings that
    reproduce SentencePiece), ``add_bos_token``/``add_eos_token`` as ``shards.add_bos``/``add_eos``,
    and ``split_special_tokens: true``: like SentencePiece, a literal ``<s>`` in a text is text,
    not BOS.
``special_tokens_map.json``, ``tokenizer.model``
    the special tokens, and the SentencePiece model itself (transformers 4 converts from it when
    it is asked for ``add_prefix_space``).

The conversion is built with the ``tokenizers`` library, not transformers' converter: that one
reads the model through sentencepiece's generated protobuf module, which needs a newer protobuf
runtime than Beam allows. ``tests/test_hf_tokenizer.py`` checks AutoTokenizer's ids against
SentencePiece's and the encoder's on every fixture document of every source.
"""
from __future__ import annotations

import json

import sentencepiece as spm
from tokenizers import AddedToken, Tokenizer, decoders, normalizers, processors
from tokenizers.models import BPE

from llamacorpus import fileio
from llamacorpus.tokenize import spm_model

DIRECTORY = "hf_tokenizer"  # inside the shard directory, beside tokenizer.model
FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model")
META = "\u2581"


def merges(sp: spm.SentencePieceProcessor, types: list[int]) -> list[tuple[str, str]]:
    """Every ``(left, right)`` pair of normal pieces that joins into a normal piece, ranked by the
    joined piece's score (highest first), then by the ids of the joined piece, left and right."""
    normal = {sp.id_to_piece(i): i for i, t in enumerate(types) if t == spm_model.NORMAL}
    ranked = []
    for piece, i in normal.items():
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in normal and right in normal:
                ranked.append((-sp.get_score(i), i, normal[left], normal[right], left, right))
    ranked.sort()
    return [(left, right) for *_, left, right in ranked]


def build(model: bytes, add_bos: bool = True, add_eos: bool = True) -> tuple[Tokenizer, dict]:
    """The ``tokenizers`` Tokenizer and the tokenizer_config.json dict for a SentencePiece BPE model."""
    sp = spm.SentencePieceProcessor(model_proto=model)
    n = sp.get_piece_size()
    vocab = {sp.id_to_piece(i): i for i in range(n)}
    unk, bos, eos = (sp.id_to_piece(i) for i in (sp.unk_id(), sp.bos_id(), sp.eos_id()))
    types = spm_model.piece_types(model)
    tok = Tokenizer(BPE(vocab=vocab, merges=merges(sp, types), unk_token=unk, fuse_unk=True, byte_fallback=True))
    # one "▁" in front, every space a "▁", as SentencePiece's normalizer does (Metaspace would
    # not prepend to a text that starts with a space, where SentencePiece does)
    tok.normalizer = normalizers.Sequence([normalizers.Prepend(META), normalizers.Replace(" ", META)])
    tok.decoder = decoders.Sequence([decoders.Replace(META, " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(content=" ", left=1, right=0)])
    added = [(i, t != spm_model.USER_DEFINED) for i, t in enumerate(types)
             if t in (spm_model.UNKNOWN, spm_model.CONTROL, spm_model.USER_DEFINED)]
    tok.add_special_tokens([AddedToken(sp.id_to_piece(i), normalized=False, special=True) for i, s in added if s])
    tok.add_tokens([AddedToken(sp.id_to_piece(i), normalized=False, special=False) for i, s in added if not s])
    single = " ".join([*([f"{bos}:0"] if add_bos else []), "$A:0", *([f"{eos}:0"] if add_eos else [])])
    pair = " ".join([single, *([f"{bos}:1"] if add_bos else []), "$B:1", *([f"{eos}:1"] if add_eos else [])])
    tok.post_processor = processors.TemplateProcessing(
        single=single, pair=pair, special_tokens=[(t, vocab[t]) for t in (bos, eos)])
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "add_bos_token": add_bos, "add_eos_token": add_eos,
        "bos_token": bos, "eos_token": eos, "unk_token": unk, "pad_token": None,
        "split_special_tokens": True,
        "clean_up_tokenization_spaces": False, "spaces_between_special_tokens": False,
        "model_max_length": 2048, "sp_model_kwargs": {},
        "added_tokens_decoder": {str(i): {"content": sp.id_to_piece(i), "lstrip": False, "normalized": False,
                                          "rstrip": False, "single_word": False, "special": s}
                                 for i, s in added},
    }
    return tok, config


def write_folder(shard_dir: str, model: bytes, add_bos: bool = True, add_eos: bool = True) -> str:
    """``<shard_dir>/hf_tokenizer/`` (module docstring); returns its path."""
    tok, config = build(model, add_bos, add_eos)
    directory = f"{shard_dir.rstrip('/')}/{DIRECTORY}"
    fileio.makedirs(directory)
    special = {"bos_token": config["bos_token"], "eos_token": config["eos_token"], "unk_token": config["unk_token"]}
    files = {"tokenizer.json": tok.to_str(), "tokenizer_config.json": json.dumps(config, indent=2, sort_keys=True),
             "special_tokens_map.json": json.dumps(special, indent=2, sort_keys=True), "tokenizer.model": model}
    for name, data in files.items():
        fileio.atomic_write(f"{directory}/{name}", data)
    return directory
