"""Recipes: everything the paper or CCNet fixes, in one YAML file, validated before anything runs.

A recipe has top-level settings, a ``sources`` mapping (each source's own section class, declared
in its module under ``llamacorpus/sources/``), the mixture of the paper's Table 1, and the
tokenizer and shard settings. ``--set a.b.c=value`` and the named flags of
:mod:`llamacorpus.pipeline.options` override keys before validation, so a bad override fails the
same way as a bad file: with a message naming the key.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import yaml

from llamacorpus import sources as source_registry
from llamacorpus.config import ConfigError, Section, build, field, to_dict
from llamacorpus.document import SOURCES


@dataclasses.dataclass
class MixtureWeight(Section):
    proportion: float = 0.0  # share of the mixed tokens (Table 1 "sampling prop.")
    epochs: float = 1.0  # most passes over the source's available tokens (Table 1 "epochs")

    def check(self):
        self.require(0 <= self.proportion <= 1, "proportion", f"must be in [0, 1], got {self.proportion}")
        self.require(self.epochs > 0, "epochs", f"must be > 0, got {self.epochs}")


SHORTFALL_RULES = ("scale_down", "repeat", "redistribute")


@dataclasses.dataclass
class MixtureConfig(Section):
    enabled: bool = True
    weights: dict[str, MixtureWeight] = field({})
    #: tokens to emit in all; 0 = the largest mixture at the proportions with no source past its
    #: epochs (llamacorpus/tokenize/mixture.py)
    total_tokens: int = 0
    #: when total_tokens asks a source for more than its epochs allow: scale_down (shrink the total,
    #: keep the proportions), repeat (keep both, pass its epochs) or redistribute (cap it at its
    #: epochs, give the rest to the others in proportion)
    shortfall: str = "scale_down"
    #: salt of the per-document sampling hash (document id, epoch)
    seed: int = 0

    def check(self):
        for name in self.weights:
            self.require(name in SOURCES, "weights", f"unknown source {name!r} (sources: {', '.join(SOURCES)})")
        total = sum(w.proportion for w in self.weights.values())
        self.require(not self.weights or abs(total - 1.0) < 1e-6, "weights",
                     f"proportions must sum to 1, got {total:.6f}")
        self.require(self.total_tokens >= 0, "total_tokens", "must be >= 0")
        self.require(self.shortfall in SHORTFALL_RULES, "shortfall",
                     f"must be one of {', '.join(SHORTFALL_RULES)}, got {self.shortfall!r}")


@dataclasses.dataclass
class TokenizerConfig(Section):
    #: an existing SentencePiece model to use instead of training one
    model: str = ""
    model_type: str = "bpe"
    vocab_size: int = 32000
    split_digits: bool = True
    byte_fallback: bool = True
    allow_whitespace_only_pieces: bool = True
    normalization_rule_name: str = "identity"
    add_dummy_prefix: bool = True
    remove_extra_whitespaces: bool = False
    character_coverage: float = 0.99995
    #: sentences (lines) SentencePiece keeps from the sample (it draws them with a fixed seed)
    input_sentence_size: int = 2_000_000
    #: longer lines are cut at a space into pieces of at most this many bytes
    max_sentence_length: int = 4192
    #: characters drawn (at the mixture proportions, by document-id hash) for training
    sample_chars: int = 500_000_000
    #: trainer threads: fixed, not the machine's core count, because the model records it and it
    #: changes which sentences are kept; the same value gives the same model on any machine
    num_threads: int = 4
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


@dataclasses.dataclass
class ShardsConfig(Section):
    tokens_per_shard: int = 100_000_000
    add_bos: bool = True
    add_eos: bool = True
    #: "" (off), "source" or "domain": prepend a per-source / per-URL-domain token to each document
    domain_tags: str = ""
    #: "domain" tags: the most frequent domains get their own token, the rest share one "other" tag
    domain_tag_count: int = 256
    #: salt of the shuffle hash (document id, epoch) that assigns shards and orders them, and of
    #: the validation hold-out hash
    shuffle_seed: int = 0
    #: fraction of each source's documents (by id hash) held out as validation shards
    validation_fraction: float = 0.01
    #: but at least this many per source (never more than a fifth of a source) ...
    validation_min_documents: int = 4
    #: ... and at most this many per source
    validation_max_documents: int = 10_000

    def check(self):
        self.require(self.tokens_per_shard > 0, "tokens_per_shard", "must be > 0")
        self.require(self.domain_tags in ("", "source", "domain"), "domain_tags",
                     f"must be '', 'source' or 'domain', got {self.domain_tags!r}")
        self.require(self.domain_tag_count > 0, "domain_tag_count", "must be > 0")
        self.require(0 <= self.validation_fraction < 1, "validation_fraction", "must be in [0, 1)")
        self.require(self.validation_min_documents >= 0, "validation_min_documents", "must be >= 0")
        self.require(self.validation_max_documents >= self.validation_min_documents, "validation_max_documents",
                     "must be >= validation_min_documents")


@dataclasses.dataclass
class Recipe(Section):
    name: str = "recipe"
    description: str = ""
    #: relative input globs are resolved against it
    input_root: str = "."
    output: str = "out"
    #: learnt artifacts (language models, classifiers, tokenizer); "" = <output>/models
    models_dir: str = ""
    #: sources a run builds when --sources is not given (default: all configured)
    run: list[str] = field([])
    sources: dict[str, Any] = field({})
    mixture: MixtureConfig = field(default_factory=MixtureConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    shards: ShardsConfig = field(default_factory=ShardsConfig)
    #: write report.html at the end of a run
    report: bool = True
    #: documents per batch in the step adapter (model calls are batched)
    batch_size: int = 64
    #: export <output>/jsonl/<source>/*.jsonl.zst in RedPajama's {"text","meta"} layout
    export_jsonl: bool = False

    def check(self):
        for name in self.sources:
            self.require(name in SOURCES, "sources", f"unknown source {name!r} (sources: {', '.join(SOURCES)})")
        for name in self.run:
            self.require(name in self.sources, "run", f"source {name!r} has no section under sources")
        self.require(self.batch_size > 0, "batch_size", "must be > 0")

    @property
    def models(self) -> str:
        return self.models_dir or f"{self.output.rstrip('/')}/models"

    def selected_sources(self) -> list[str]:
        return list(self.run or self.sources)

    def to_dict(self) -> dict:
        out = to_dict(self)
        out["sources"] = {k: to_dict(v) for k, v in self.sources.items()}
        return out

    #: keys that say where a run reads and writes, not what it builds: left out of the digest
    LOCATION_KEYS = ("input_root", "output", "models_dir")

    def digest(self) -> str:
        """A hash of the validated settings (for manifests): same values, same hash, wherever the
        run reads its inputs or writes its output."""
        settings = {k: v for k, v in self.to_dict().items() if k not in self.LOCATION_KEYS}
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------- loading

def parse_override(text: str) -> tuple[list[str], Any]:
    """``"a.b.c=value"`` -> (["a", "b", "c"], YAML-parsed value)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.path=value")
    key, value = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override {text!r} has no key")
    return parts, yaml.safe_load(value)


def apply_override(data: dict, parts: list[str], value: Any) -> None:
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"override {'.'.join(parts)}: {'.'.join(parts[:i + 1])} is not a mapping")
        node = child
    node[parts[-1]] = value


def from_dict(data: dict) -> Recipe:
    """Validate a recipe dict: every source section through its own class."""
    if not isinstance(data, dict):
        raise ConfigError("a recipe is a mapping at the top level")
    raw_sources = data.get("sources") or {}
    if not isinstance(raw_sources, dict):
        raise ConfigError("sources: expected a mapping of source name to its section")
    for name in raw_sources:
        if name not in SOURCES:
            raise ConfigError(f"unknown recipe key sources.{name} (sources: {', '.join(SOURCES)})")
    recipe = build(Recipe, data)
    recipe.sources = {name: build(source_registry.get(name).Config, section, f"sources.{name}")
                      for name, section in raw_sources.items()}
    return recipe


def load(path: str, overrides: list[str] | None = None, **named: Any) -> Recipe:
    """Load a recipe file, apply ``--set`` overrides and named overrides (dotted keys), validate."""
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise ConfigError(f"recipe file {path!r} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"recipe file {path!r} is not valid YAML: {exc}") from None
    for text in overrides or []:
        apply_override(data, *parse_override(text))
    for key, value in named.items():
        if value is not None:
            apply_override(data, key.split("."), value)
    return from_dict(data)
