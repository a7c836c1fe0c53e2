"""Training the SentencePiece BPE tokenizer the LLaMA way, on a deterministic sample of the cleaned
documents drawn at the mixture proportions.

LLaMA: "We tokenize the data with the byte-pair encoding (BPE) algorithm, using the implementation
from SentencePiece. Notably, we split all numbers into individual digits, and fallback to bytes to
decompose unknown UTF-8 characters." The trainer spec is LLaMA's published one, every field
(:data:`LLAMA_TRAINER_SPEC`, :data:`LLAMA_NORMALIZER_SPEC`, as LLaMA's ``tokenizer.model``
records them): the recipe's ``tokenizer`` section sets the fields a user may want to change
(defaults LLaMA's: BPE, 32000 pieces, split digits, byte fallback, whitespace-only pieces,
identity normalisation, dummy prefix, whitespace kept, character coverage 0.99995, 200M input
sentences shuffled, 80 threads), the rest are fixed here. ``num_threads`` changes no piece or
score (measured: 1, 4 and 80 threads train the same model), only the field the model records.

The sample: each source gets ``tokenizer.sample_chars`` times its (renormalised) proportion, or
all it has when that is less, the rest going to the others in proportion
(:func:`~llamacorpus.tokenize.mixture.water_fill`). A source's documents (validation ones
excluded) are taken in the order of ``stable_hash(id, "tokenizer-order", seed)`` while their
characters stay within its share (:mod:`llamacorpus.tokenize.quota`, ``at_most``), so the sample
never holds more than ``sample_chars`` characters. Its lines (long ones cut at a space to
``max_sentence_length`` bytes) are fed to SentencePiece in that order, spilled to local disk
(:class:`~llamacorpus.tokenize.spill.SpillSort`), with SentencePiece's random seed fixed, and the
model written in memory: the same documents and recipe give the same model bytes.

When the sample is too small for ``vocab_size`` (the fixture corpus cannot support 32k BPE
merges), SentencePiece names the largest size it supports; with ``shrink_vocab_to_fit`` the
trainer retrains at that size and says so in the log and in the artifact's ``training.json``.
"""
from __future__ import annotations

import argparse
import collections
import ctypes
import dataclasses
import hashlib
import io
import json
import logging
import pickle
import re
import sys
from typing import Callable, Iterable, Iterator, Mapping, NamedTuple

import sentencepiece as spm
import zstandard

from llamacorpus import fileio
from llamacorpus.config import ConfigError, FilePath, Section, add_recipe_arguments, build, field, load_yaml
from llamacorpus.document import SOURCES, stable_hash
from llamacorpus.layout import Layout
from llamacorpus.parquet import read_documents
from llamacorpus.tokenize import quota, shards, tags
from llamacorpus.tokenize.spill import SpillSort
from llamacorpus.tokenize.mixture import MixtureConfig, proportions, water_fill

log = logging.getLogger(__name__)

MODEL_NAME = "tokenizer.model"
INFO_NAME = "training.json"  # what the training did (not Hugging Face's tokenizer.json)
OLD_INFO_NAME = "tokenizer.json"
_TOO_HIGH = re.compile(r"Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+)")


@dataclasses.dataclass
class TokenizerConfig(Section):
    #: an existing SentencePiece model to use instead of training one
    model: FilePath = ""
    model_type: str = "bpe"
    vocab_size: int = 32000
    split_digits: bool = True
    byte_fallback: bool = True
    allow_whitespace_only_pieces: bool = True
    normalization_rule_name: str = "identity"
    add_dummy_prefix: bool = True
    remove_extra_whitespaces: bool = False
    character_coverage: float = 0.99995
    #: sentences (lines) SentencePiece keeps from the sample, drawn with a fixed seed (LLaMA's 200M)
    input_sentence_size: int = 200_000_000
    #: SentencePiece draws the input_sentence_size sentences at random (LLaMA: on)
    shuffle_input_sentence: bool = True
    #: longer lines are cut at a space into pieces of at most this many bytes
    max_sentence_length: int = 4192
    #: at most this many characters drawn (at the mixture proportions, by document-id hash) for training
    sample_chars: int = 500_000_000
    #: trainer threads (LLaMA's 80): the pieces do not depend on it, the model records it
    num_threads: int = 80
    #: salt of the sample hash and SentencePiece's random seed
    seed: int = 0
    #: when the sample is too small for vocab_size, train the largest vocabulary it supports
    shrink_vocab_to_fit: bool = True
    user_defined_symbols: list[str] = field([])

    def check(self):
        self.require(self.model_type in ("bpe", "unigram"), "model_type", f"must be bpe or unigram, got {self.model_type!r}")
        self.require(self.vocab_size >= 300, "vocab_size", f"must be >= 300, got {self.vocab_size}")
        self.require(0 < self.character_coverage <= 1, "character_coverage", "must be in (0, 1]")
        self.require(self.input_sentence_size > 0, "input_sentence_size", "must be > 0")
        self.require(self.max_sentence_length >= 16, "max_sentence_length", "must be >= 16")
        self.require(self.sample_chars > 0, "sample_chars", "must be > 0")
        self.require(self.num_threads > 0, "num_threads", "must be > 0")


def sample_targets(chars: Mapping[str, int], proportions: Mapping[str, float], budget: int) -> dict[str, float]:
    """Per source, the characters it gives to a sample of at most ``budget`` characters at
    ``proportions`` (all it has when that is less; sources absent or without a proportion give none)."""
    shares = {s: p for s, p in proportions.items() if p > 0 and chars.get(s, 0) > 0}
    alloc = water_fill(shares, chars, budget)
    return {s: alloc.get(s, 0.0) for s in chars}


def sample_key(doc_id: str, seed: int = 0) -> int:
    """The order of a document in the sample quota and in the training input."""
    return stable_hash(doc_id, "tokenizer-order", seed)


def sample_item(doc: dict, info: Mapping[str, dict], cfg: "TokenizerConfig",
                shuffle_seed: int) -> tuple[str, tuple[int, str, int]] | None:
    """``(source, (order, id, characters))`` of a document the sample may take (None: held out
    for validation)."""
    if shards.held_out(doc, info, shuffle_seed):
        return None
    return doc["source"], (sample_key(doc["id"], cfg.seed), doc["id"], len(doc["text"]))


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


class SampleEntry(NamedTuple):
    """A document drawn for the training sample."""

    key: int  # the order of the document in the training input
    id: str
    source: str
    text: str


def sample_entry(doc: dict, info: Mapping[str, dict], cuts: Mapping[str, quota.Cut], cfg: TokenizerConfig,
                 shuffle_seed: int) -> SampleEntry | None:
    """The document's :class:`SampleEntry` when it is in the sample: not held out for validation,
    and within its source's quota (``cuts``: source -> the sample's cut)."""
    item = sample_item(doc, info, cfg, shuffle_seed)
    if item is None or item[0] not in cuts or not quota.taken(cuts[item[0]], item[1][0], item[1][1]):
        return None
    return SampleEntry(item[1][0], doc["id"], doc["source"], doc["text"])


#: LLaMA's trainer_spec fields that the recipe does not set (as its tokenizer.model records them;
#: ``input``/``model_prefix`` were paths on Meta's machines: the sample is streamed and the model
#: written to memory here, so they stay empty; self_test_sample_size, train_extremely_large_corpus
#: and the differential-privacy fields are ignored by SentencePiece 0.2 and left at their
#: defaults, which are LLaMA's values)
LLAMA_TRAINER_SPEC = {
    "input_format": "text", "seed_sentencepiece_size": 1_000_000,
    "shrinking_factor": 0.75, "num_sub_iterations": 2, "max_sentencepiece_length": 16,
    "split_by_unicode_script": True, "split_by_whitespace": True, "split_by_number": True,
    "treat_whitespace_as_suffix": False, "vocabulary_output_piece_score": True, "hard_vocab_limit": True,
    "use_all_vocab": False, "required_chars": "", "unk_id": 0, "bos_id": 1, "eos_id": 2, "pad_id": -1,
    "unk_piece": "<unk>", "bos_piece": "<s>", "eos_piece": "</s>", "pad_piece": "<pad>",
    "unk_surface": " \u2047 ",
}
#: LLaMA's normalizer_spec fields that the recipe does not set
LLAMA_NORMALIZER_SPEC = {"escape_whitespaces": True, "normalization_rule_tsv": ""}


def trainer_spec(cfg: TokenizerConfig, vocab_size: int, symbols: Iterable[str]) -> dict:
    """SentencePiece trainer arguments: the recipe's tokenizer section, then LLaMA's fixed fields."""
    user = list(dict.fromkeys([*cfg.user_defined_symbols, *symbols]))
    spec = {
        "model_type": cfg.model_type, "vocab_size": vocab_size, "split_digits": cfg.split_digits,
        "byte_fallback": cfg.byte_fallback, "allow_whitespace_only_pieces": cfg.allow_whitespace_only_pieces,
        "normalization_rule_name": cfg.normalization_rule_name, "add_dummy_prefix": cfg.add_dummy_prefix,
        "remove_extra_whitespaces": cfg.remove_extra_whitespaces, "character_coverage": cfg.character_coverage,
        "input_sentence_size": cfg.input_sentence_size, "shuffle_input_sentence": cfg.shuffle_input_sentence,
        "max_sentence_length": cfg.max_sentence_length, "num_threads": cfg.num_threads,
        **LLAMA_TRAINER_SPEC, **LLAMA_NORMALIZER_SPEC,
    }
    if user:
        spec["user_defined_symbols"] = user
    return spec


def train(texts: Callable[[], Iterable[str]], cfg: TokenizerConfig, symbols: Iterable[str] = ()) -> tuple[bytes, dict]:
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


def write_artifact(directory: str, model: bytes, info: dict) -> str:
    """``<directory>/tokenizer.model`` and ``training.json`` (``directory``: the layout's
    ``models/tokenizer``); returns the model path. The manifest's earlier name, ``tokenizer.json``
    (Hugging Face's file name: AutoTokenizer failed on the folder), is removed."""
    path = f"{directory.rstrip('/')}/{MODEL_NAME}"
    fileio.atomic_write(path, model)
    fileio.atomic_write(f"{directory}/{INFO_NAME}",
                        json.dumps({**info, **model_info(model)}, indent=1, sort_keys=True))
    if fileio.exists(f"{directory}/{OLD_INFO_NAME}"):
        fileio.delete([f"{directory}/{OLD_INFO_NAME}"])
    return path


class SamplePart:
    """One file of sample entries (pickled, in one zstd stream) on any filesystem :mod:`fileio`
    reaches: each worker writes its share of the sample to such parts, and the training worker
    reads them back (:func:`read_sample_parts`), so the sample's text never crosses a shuffle."""

    SUFFIX = ".pkl.zst"

    def __init__(self, path: str):
        self.path, self.count = path, 0
        self._stream = zstandard.ZstdCompressor(level=1).stream_writer(fileio.create(path))

    def add(self, entry: SampleEntry) -> None:
        pickle.dump(tuple(entry), self._stream, protocol=pickle.HIGHEST_PROTOCOL)
        self.count += 1

    def close(self) -> None:
        self._stream.close()  # closes the file too


def read_sample_parts(paths: Iterable[str]) -> Iterator[SampleEntry]:
    """The entries of every :class:`SamplePart` in ``paths``, part by part."""
    for path in paths:
        with fileio.open_decompressed(path) as f:
            while True:
                try:
                    yield SampleEntry(*pickle.load(f))
                except EOFError:
                    break


def return_freed_memory() -> None:
    """Hand back to the OS the heap that SentencePiece's trainer freed. glibc keeps it otherwise,
    and the worker that trained would hold it through the rest of the mix stage (2 GB at 16x the
    samples). Does nothing where the C library has no ``malloc_trim``."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def train_on(samples: Iterable[SampleEntry], cfg: TokenizerConfig, directory: str,
             symbols: list[str]) -> tuple[bytes, str]:
    """Train on sample entries in any order (spilled to local disk, read back in key order); write
    the artifact into ``directory``."""
    by_source: dict[str, dict[str, int]] = {}
    with SpillSort(prefix="tokenizer-sample-") as sample:
        for key, doc_id, source, text in samples:
            sample.add(key, doc_id.encode("utf-8"), text.encode("utf-8"))
            counts = by_source.setdefault(source, {"documents": 0, "chars": 0})
            counts["documents"] += 1
            counts["chars"] += len(text)
        if not len(sample):
            raise ValueError("the tokenizer sample is empty: no document to train on")
        model, info = train(lambda: (data.decode("utf-8") for data in sample), cfg, symbols)
        return_freed_memory()
        info["sample"] = {"documents": len(sample), "chars": sum(c["chars"] for c in by_source.values()),
                          "sample_chars": cfg.sample_chars, "by_source": dict(sorted(by_source.items()))}
    path = write_artifact(directory, model, info)
    log.info("tokenizer: %d pieces (asked %d) trained on %d documents -> %s", info["vocab_size"],
             info["vocab_size_asked"], info["sample"]["documents"], path)
    return model, path


# ---------------------------------------------------------------------------- llamacorpus train-tokenizer

def main(argv: list[str] | None = None) -> int:
    """Train the tokenizer from the documents a run wrote (``<output>/documents/<source>``), outside
    Beam: the same sample and the same model as the run's mix stage."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(
        prog="llamacorpus train-tokenizer",
        description="Train the SentencePiece BPE tokenizer (LLaMA's trainer spec from the recipe's tokenizer "
                    "section) on a sample of <output>/documents drawn at the mixture proportions; writes "
                    "<models>/tokenizer/tokenizer.model and training.json.")
    parser.add_argument("--output", required=True, help="a run's output directory (its documents/ are read)")
    add_recipe_arguments(parser, "tokenizer.vocab_size=8000")
    parser.add_argument("--models_dir", default=None, help="where to write tokenizer/ (default <output>/models)")
    parser.add_argument("--sources", default=None, help="comma-separated sources (default: all with documents)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        data = load_yaml(args.recipe, args.overrides)
        tokenizer = build(TokenizerConfig, data.get("tokenizer"), "tokenizer")
        scfg = build(shards.ShardsConfig, data.get("shards"), "shards")
        mix = build(MixtureConfig, data.get("mixture"), "mixture")
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    layout = Layout(args.output, args.models_dir or data.get("models_dir") or "")
    wanted = [s.strip() for s in args.sources.split(",")] if args.sources else list(SOURCES)
    names = [s for s in SOURCES if s in wanted and fileio.exists(layout.marker(s))]
    if not names:
        print(f"error: no finished source under {layout.root}/documents (run the documents stage first)",
              file=sys.stderr)
        return 2
    stats = {s: shards.SourceStats(scfg.validation_max_documents) for s in names}
    domains: collections.Counter = collections.Counter()
    for name in names:
        for doc in read_documents(layout.root, name):
            stats[name].add(*shards.split_input(doc, scfg.shuffle_seed)[1])
            if scfg.domain_tags == "domain":
                domains[tags.domain_key(doc)] += 1
    info = {s: shards.split_info(st, scfg) for s, st in stats.items()}
    symbols = tags.symbols(scfg.domain_tags, tags.top_domains(domains, scfg.domain_tag_count))

    def items():
        for name in names:
            for doc in read_documents(layout.root, name):
                item = sample_item(doc, info, tokenizer, scfg.shuffle_seed)
                if item is not None:
                    yield item

    cuts = quota.local_cuts(items, lambda totals: sample_targets(totals, proportions(mix), tokenizer.sample_chars),
                            quota.AT_MOST)
    samples = (entry for name in names for doc in read_documents(layout.root, name)
               if (entry := sample_entry(doc, info, cuts, tokenizer, scfg.shuffle_seed)) is not None)
    _, path = train_on(samples, tokenizer, layout.tokenizer, symbols)
    print(f"tokenizer: {path}\nuse it in a run with --set tokenizer.model={path}")
    return 0
