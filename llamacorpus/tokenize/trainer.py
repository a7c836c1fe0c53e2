"""Training the SentencePiece BPE tokenizer the LLaMA way, on a deterministic sample of the cleaned
documents drawn at the mixture proportions.

LLaMA: "We tokenize the data with the byte-pair encoding (BPE) algorithm, using the implementation
from SentencePiece. Notably, we split all numbers into individual digits, and fallback to bytes to
decompose unknown UTF-8 characters." The trainer spec comes from the recipe's ``tokenizer``
section (model_type bpe, vocab_size 32000, split_digits, byte_fallback,
allow_whitespace_only_pieces, identity normalization, add_dummy_prefix on,
remove_extra_whitespaces off, character_coverage 0.99995; unk 0, bos 1, eos 2, no pad).

The sample: each source gets ``tokenizer.sample_chars`` times its (renormalised) proportion, or
all it has when that is less, the rest going to the others in proportion
(:func:`~llamacorpus.tokenize.mixture.water_fill`); a document is in the sample when
``unit_interval(id, "tokenizer", seed)`` is below its source's rate. Its lines (long ones cut at
a space to ``max_sentence_length`` bytes) are fed to SentencePiece in the order of the
documents' hashes, with SentencePiece's random seed fixed and its thread count from the recipe,
and the model written in memory: the same documents and recipe give the same model bytes.

When the sample is too small for ``vocab_size`` (the fixture corpus cannot support 32k BPE
merges), SentencePiece names the largest size it supports; with ``shrink_vocab_to_fit`` the
trainer retrains at that size and says so in the log and in the artifact's ``tokenizer.json``.
"""
from __future__ import annotations

import array
import hashlib
import io
import json
import logging
import os
import re
import tempfile
from typing import Callable, Iterable, Iterator, Mapping

import sentencepiece as spm

from llamacorpus import fileio
from llamacorpus.document import stable_hash, unit_interval
from llamacorpus.tokenize.mixture import water_fill

log = logging.getLogger(__name__)

MODEL_NAME = "tokenizer.model"
INFO_NAME = "tokenizer.json"
_TOO_HIGH = re.compile(r"Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+)")


def tokenizer_dir(models_dir: str) -> str:
    return f"{models_dir.rstrip('/')}/tokenizer"


def sample_rates(chars: Mapping[str, int], proportions: Mapping[str, float], budget: int) -> dict[str, float]:
    """Per source, the fraction of its documents drawn for a sample of about ``budget`` characters
    at ``proportions`` (sources absent or without a proportion get none)."""
    shares = {s: p for s, p in proportions.items() if p > 0 and chars.get(s, 0) > 0}
    alloc = water_fill(shares, chars, budget)
    return {s: min(1.0, alloc[s] / chars[s]) if s in alloc else 0.0 for s in chars}


def in_sample(doc_id: str, rate: float, seed: int = 0) -> bool:
    return unit_interval(doc_id, "tokenizer", seed) < rate


def sample_key(doc_id: str, seed: int = 0) -> int:
    """The order of a sampled document in the training input."""
    return stable_hash(doc_id, "tokenizer-order", seed)


def sentences(text: str, max_bytes: int) -> Iterator[str]:
    """The non-empty lines of ``text``, a line longer than ``max_bytes`` UTF-8 bytes cut into pieces
    at spaces (or anywhere, for a line without one)."""
    for line in text.split("\n"):
        if not line.strip():
            continue
        if len(line) * 4 <= max_bytes or len(line.encode("utf-8")) <= max_bytes:
            yield line
            continue
        while line:
            cut = _cut(line, max_bytes)
            yield line[:cut]
            line = line[cut:].lstrip(" ")


def _cut(line: str, max_bytes: int) -> int:
    n = min(len(line), max_bytes)
    while len(line[:n].encode("utf-8")) > max_bytes:
        n -= max(1, (len(line[:n].encode("utf-8")) - max_bytes) // 4)
    if n == len(line):
        return n
    space = line.rfind(" ", 0, n)
    return space if space > 0 else n


class Sample:
    """The training sample on local disk: documents added in any order, read back ordered by key
    (only offsets are held in memory)."""

    def __init__(self, directory: str | None = None):
        self._dir = tempfile.TemporaryDirectory(dir=directory, prefix="tokenizer-sample-")
        self._path = os.path.join(self._dir.name, "sample.txt")
        self._file = open(self._path, "wb")
        self._keys, self._offsets, self._lengths = array.array("Q"), array.array("q"), array.array("q")
        self.by_source: dict[str, dict[str, int]] = {}

    def add(self, key: int, source: str, text: str) -> None:
        data = text.encode("utf-8")
        self._keys.append(key)
        self._offsets.append(self._file.tell())
        self._lengths.append(len(data))
        self._file.write(data)
        s = self.by_source.setdefault(source, {"documents": 0, "chars": 0})
        s["documents"] += 1
        s["chars"] += len(text)

    @property
    def documents(self) -> int:
        return len(self._keys)

    def texts(self) -> Iterator[str]:
        self._file.flush()
        order = sorted(range(len(self._keys)), key=lambda i: (self._keys[i], self._offsets[i]))
        with open(self._path, "rb") as f:
            for i in order:
                f.seek(self._offsets[i])
                yield f.read(self._lengths[i]).decode("utf-8")

    def close(self) -> None:
        self._file.close()
        self._dir.cleanup()


def trainer_spec(cfg, vocab_size: int, symbols: Iterable[str]) -> dict:
    """SentencePiece trainer arguments from the recipe's tokenizer section."""
    user = list(dict.fromkeys([*cfg.user_defined_symbols, *symbols]))
    spec = {
        "model_type": cfg.model_type, "vocab_size": vocab_size, "split_digits": cfg.split_digits,
        "byte_fallback": cfg.byte_fallback, "allow_whitespace_only_pieces": cfg.allow_whitespace_only_pieces,
        "normalization_rule_name": cfg.normalization_rule_name, "add_dummy_prefix": cfg.add_dummy_prefix,
        "remove_extra_whitespaces": cfg.remove_extra_whitespaces, "character_coverage": cfg.character_coverage,
        "input_sentence_size": cfg.input_sentence_size, "shuffle_input_sentence": True,
        "max_sentence_length": cfg.max_sentence_length, "num_threads": cfg.num_threads,
        "unk_id": 0, "bos_id": 1, "eos_id": 2, "pad_id": -1,
    }
    if user:
        spec["user_defined_symbols"] = user
    return spec


def train(texts: Callable[[], Iterable[str]], cfg, symbols: Iterable[str] = ()) -> tuple[bytes, dict]:
    """Train on the documents ``texts()`` yields (called again if the vocabulary must shrink).
    Returns the model bytes and what happened (asked and trained vocabulary size)."""
    symbols = list(symbols)
    asked = vocab = cfg.vocab_size
    while True:
        spec = trainer_spec(cfg, vocab, symbols)
        writer = io.BytesIO()
        spm.set_random_generator_seed(cfg.seed + 1)  # 0 would mean "seed from the clock"
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=(s for t in texts() for s in sentences(t, cfg.max_sentence_length)),
                model_writer=writer, minloglevel=2, **spec)
        except RuntimeError as exc:
            match = _TOO_HIGH.search(str(exc))
            if not match or not cfg.shrink_vocab_to_fit or int(match.group(2)) >= vocab:
                raise
            supported = int(match.group(2))
            log.warning("tokenizer: the training sample supports at most %d pieces, not the %d asked; "
                        "training %d instead (tokenizer.shrink_vocab_to_fit). Give a larger sample "
                        "(more documents, tokenizer.sample_chars) for the full vocabulary.",
                        supported, vocab, supported)
            vocab = supported
            continue
        return writer.getvalue(), {"vocab_size_asked": asked, "vocab_size": vocab, "shrunk": vocab != asked,
                                   "trainer_spec": spec}


def model_info(model: bytes) -> dict:
    """What a manifest records about a tokenizer model."""
    sp = spm.SentencePieceProcessor(model_proto=model)
    return {"sha256": hashlib.sha256(model).hexdigest(), "vocab_size": sp.get_piece_size(),
            "unk_id": sp.unk_id(), "bos_id": sp.bos_id(), "eos_id": sp.eos_id(), "pad_id": sp.pad_id()}


def write_artifact(models_dir: str, model: bytes, info: dict) -> str:
    """``<models>/tokenizer/tokenizer.model`` and ``tokenizer.json``; returns the model path."""
    directory = tokenizer_dir(models_dir)
    path = f"{directory}/{MODEL_NAME}"
    fileio.atomic_write(path, model)
    fileio.atomic_write(f"{directory}/{INFO_NAME}",
                        json.dumps({**info, **model_info(model)}, indent=1, sort_keys=True))
    return path
