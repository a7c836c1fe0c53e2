"""Assemble the Beam graph of a run from a recipe: each source's branch (read, steps, write), the
rejected samples, dead letters and distributions, then (when asked) mixing and sharding."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging

import apache_beam as beam

from llamacorpus import sources as source_registry
from llamacorpus.config import to_dict
from llamacorpus.pipeline import io as pio
from llamacorpus.pipeline.branch import build_source, write_source
from llamacorpus.steps import RunContext

log = logging.getLogger(__name__)


@dataclasses.dataclass
class GraphInfo:
    """What the graph builder decided, for the code that runs it and writes run.json."""

    built: list[str] = dataclasses.field(default_factory=list)  # sources rebuilt in this run
    reused: list[str] = dataclasses.field(default_factory=list)  # finished sources read back
    step_order: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    fingerprints: dict[str, str] = dataclasses.field(default_factory=dict)
    documents: dict[str, beam.PCollection] = dataclasses.field(default_factory=dict)


def fingerprint(name: str, cfg, paths: list[str]) -> str:
    """What a finished source's output depends on: its recipe section and its input files."""
    data = json.dumps({"source": name, "config": to_dict(cfg), "inputs": paths}, sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def prepare(recipe, names: list[str], ctx: RunContext) -> dict[str, list[str]]:
    """Check every selected source before anything runs: its section, inputs and models.

    Raises ConfigError/InputError naming what is wrong.
    """
    inputs = {}
    for name in names:
        source = source_registry.get(name)
        inputs[name] = source.prepare(recipe.sources[name], ctx)
    return inputs


def build(p: beam.Pipeline, recipe, names: list[str], ctx: RunContext, inputs: dict[str, list[str]],
          stages: list[str], overwrite: bool = False) -> GraphInfo:
    info = GraphInfo()
    for name in names:
        source = source_registry.get(name)
        cfg = recipe.sources[name]
        info.fingerprints[name] = fp = fingerprint(name, cfg, inputs[name])
        marker = pio.read_marker(ctx.output, name)
        if not overwrite and marker and marker.get("fingerprint") == fp:
            log.info("%s: finished in %s with the same recipe and inputs; reusing it (--overwrite rebuilds)",
                     name, ctx.output)
            info.reused.append(name)
            if "mix" in stages:
                info.documents[name] = p | f"{name}/reuse" >> pio.ReadDocuments(ctx.output, name)
            continue
        info.built.append(name)
        docs, branch = build_source(p, source, cfg, ctx, inputs[name])
        info.step_order[name] = branch.step_names
        info.documents[name] = docs
        write_source(p, name, docs, branch, ctx.output, recipe.export_jsonl)
    if "mix" in stages and recipe.mixture.enabled and info.documents:
        from llamacorpus.pipeline import mix

        mix.build(p, info.documents, recipe, ctx)
    return info
