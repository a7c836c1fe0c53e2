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

from llamacorpus import sources as source_registry
from llamacorpus.config import ConfigError, FilePath, Section, build, field, load_yaml, to_dict
from llamacorpus.tokenize.mixture import MixtureConfig
from llamacorpus.tokenize.shards import ShardsConfig
from llamacorpus.tokenize.train import TokenizerConfig
from llamacorpus.document import SOURCES
from llamacorpus.layout import Layout


@dataclasses.dataclass
class Recipe(Section):
    name: str = "recipe"
    description: str = ""
    #: relative input globs are resolved against it
    input_root: FilePath = "."
    output: FilePath = "out"
    #: learnt artifacts (language models, classifiers, tokenizer); "" = <output>/models
    models_dir: FilePath = ""
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
    #: a source whose errors (read and step errors over records read) exceed this fraction, or
    #: that reads no record at all, fails the run and gets no finished-source marker
    max_error_fraction: float = 0.5

    def check(self):
        for name in self.sources:
            self.require(name in SOURCES, "sources", f"unknown source {name!r} (sources: {', '.join(SOURCES)})")
        for name in self.run:
            self.require(name in self.sources, "run", f"source {name!r} has no section under sources")
        self.require(self.batch_size > 0, "batch_size", "must be > 0")
        self.require(0.0 <= self.max_error_fraction <= 1.0, "max_error_fraction", "must be between 0 and 1")

    @property
    def layout(self) -> Layout:
        return Layout(self.output, self.models_dir)

    @property
    def models(self) -> str:
        return self.layout.models

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
    for cfg in recipe.sources.values():
        cfg.resolve(recipe.sources)
    return recipe


def load(path: str, overrides: list[str] | None = None, **named: Any) -> Recipe:
    """Load a recipe file, apply ``--set`` overrides and named overrides (dotted keys), validate."""
    return from_dict(load_yaml(path, overrides, **named))
