"""Assemble the Beam graph of a run from a recipe: each source's branch (read, steps, write), the
rejected samples, dead letters and distributions, the source's finished marker, then (when asked)
mixing and sharding.

A source finished by an earlier run with the same settings and inputs is read back instead of
rebuilt (:mod:`llamacorpus.pipeline.reuse`). A rebuilt source's ``_SUCCESS`` marker is written
inside the graph as soon as everything it writes is final (:class:`llamacorpus.pipeline.io.MarkFinished`),
so a run that dies later (in another source, in the mix stage) leaves it reusable; a source with
no readable input or too many errors fails the run instead.
"""
from __future__ import annotations

import dataclasses
import logging
import os

import apache_beam as beam

from llamacorpus import __version__, fileio
from llamacorpus import sources as source_registry
from llamacorpus.pipeline import io as pio
from llamacorpus.pipeline import pause, reuse
from llamacorpus.pipeline.branch import build_source, write_source
from llamacorpus.steps import RunContext

log = logging.getLogger(__name__)


@dataclasses.dataclass
class GraphInfo:
    """What the graph builder decided, for the code that runs it and writes run.json."""

    built: list[str] = dataclasses.field(default_factory=list)  # sources rebuilt in this run
    reused: list[str] = dataclasses.field(default_factory=list)  # finished sources read back
    reasons: dict[str, str] = dataclasses.field(default_factory=dict)  # why each built source is rebuilt
    step_order: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    fingerprints: dict[str, str] = dataclasses.field(default_factory=dict)
    documents: dict[str, beam.PCollection] = dataclasses.field(default_factory=dict)
    markers: dict[str, beam.PCollection] = dataclasses.field(default_factory=dict)  # emitted once marked


def prepare(recipe, names: list[str], ctx: RunContext) -> dict[str, list[str]]:
    """Check every selected source before anything runs: its section, inputs and models; returns
    each source's input paths (local ones absolute, so workers started in another directory open
    the same files).

    Raises ConfigError/InputError naming what is wrong.
    """
    inputs = {}
    for name in names:
        source = source_registry.get(name)
        inputs[name] = [absolute(path) for path in source.prepare(recipe.sources[name], ctx)]
    return inputs


def absolute(path: str) -> str:
    """A local input path made absolute (a reader's tagged path, GitHub's ``repo:<dir>``, too)."""
    storage = reuse.storage_path(path)
    if fileio.has_scheme(storage) or os.path.isabs(storage):
        return path
    return path[: len(path) - len(storage)] + os.path.abspath(storage) + ("/" if storage.endswith("/") else "")


def build(p: beam.Pipeline, recipe, names: list[str], ctx: RunContext, inputs: dict[str, list[str]],
          stages: list[str], overwrite: bool = False, verify_inputs: bool = False) -> GraphInfo:
    info = GraphInfo()
    for name in names:
        source = source_registry.get(name)
        cfg = recipe.sources[name]
        info.fingerprints[name] = fp = reuse.settings_fingerprint(name, cfg, inputs[name])
        state = reuse.input_state(inputs[name], verify_inputs)
        decision = reuse.decide(pio.read_marker(ctx.output, name), fp, state, verify_inputs, overwrite)
        if decision.reuse:
            log.info("%s: finished in %s with the same settings and inputs; reusing it (--overwrite rebuilds)",
                     name, ctx.output)
            info.reused.append(name)
            if "mix" in stages:
                info.documents[name] = p | f"{name}/reuse" >> pio.ReadDocuments(ctx.output, name)
            continue
        log.info("%s: building it (%s)", name, decision.reason)
        info.built.append(name)
        info.reasons[name] = decision.reason
        docs, branch = build_source(p, source, cfg, ctx, inputs[name])
        info.step_order[name] = branch.step_names
        docs = pause.at(docs, f"source:{name}")
        info.documents[name] = docs
        done = write_source(p, name, docs, branch, ctx.output, recipe.export_jsonl)
        record = {"fingerprint": fp, "inputs": state.record(), "version": __version__}
        read = [pc for pc in branch.read if pc is not None]
        marked = p | f"{name}/marker" >> pio.MarkFinished(
            ctx.output, name, record, recipe.max_error_fraction, len(inputs[name]), read,
            branch.dead_letters, docs, done)
        info.markers[name] = pause.at(marked, f"marked:{name}")
    if "mix" in stages and recipe.mixture.enabled and info.documents:
        from llamacorpus.pipeline import mix

        first = next(iter(info.documents))
        info.documents[first] = pause.at(info.documents[first], "mix", list(info.markers.values()))
        mix.build(p, info.documents, recipe, ctx)
    return info
