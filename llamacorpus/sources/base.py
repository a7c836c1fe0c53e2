"""What every source module provides, and the default way a source becomes part of the graph.

A source module defines a :class:`SourceConfig` subclass (its recipe section) and a
:class:`Source` subclass instance named ``SOURCE``:

* ``read(cfg, path)`` is a plain generator over one input file yielding documents
  (:func:`llamacorpus.document.make_document`), :class:`~llamacorpus.steps.Drop` for records that
  are not documents (a redirect) and :class:`~llamacorpus.steps.BadInput` for records that cannot
  be read. It must stream: never the whole file in memory.
* ``steps(cfg, ctx)`` lists the source's steps in order: filters and mappers
  (:mod:`llamacorpus.steps`) and global steps (:class:`llamacorpus.beam_steps.GlobalStep`).
* ``build(pbegin, cfg, ctx)`` assembles read + steps; override it only for a graph that is not a
  straight line (several inputs joined, say).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Iterator

import apache_beam as beam

from llamacorpus import fileio
from llamacorpus.beam_steps import ApplySteps, GlobalStep, ReadFiles, StepOutputs
from llamacorpus.config import Section, field
from llamacorpus.steps import Filter, Mapper, Step


@dataclasses.dataclass
class SourceConfig(Section):
    """Keys every source section has."""

    #: file globs (relative ones against the recipe's input_root), local or gs://
    inputs: list[str] = field([])
    #: minimum characters of cleaned text a document needs
    min_chars: int = 0

    def check(self):
        self.require(self.min_chars >= 0, "min_chars", "must be >= 0")


@dataclasses.dataclass
class RunContext:
    """What steps may need from the run besides their own section."""

    recipe: Any  # llamacorpus.pipeline.recipe.Recipe
    output: str
    models_dir: str
    input_root: str
    batch_size: int = 64


class Branch:
    """Applies a source's steps one after another and gathers their side outputs.

    Consecutive filters and mappers become one :class:`ApplySteps` (one fused, batched DoFn).
    """

    def __init__(self, source: str, batch_size: int = 64, category_fields: tuple[str, ...] = ()):
        self.source, self.batch_size, self.category_fields = source, batch_size, tuple(category_fields)
        self.step_names: list[str] = []
        self.rejected, self.errors, self.measures, self.categories = [], [], [], []

    def count_categories(self, docs: beam.PCollection, step: str) -> None:
        """Documents per value of the source's category fields (licence, site...) after ``step``."""
        if self.category_fields:
            self.categories.append(docs | f"{self.source}/{step}/categories" >> beam.FlatMap(
                category_keys, self.source, step, self.category_fields))

    def collect(self, outputs: StepOutputs, name: str | None = None) -> beam.PCollection:
        if name:
            self.step_names.append(name)
        if name == "read":
            self.count_categories(outputs.documents, "read")
        for bucket, pcoll in ((self.rejected, outputs.rejected), (self.errors, outputs.errors),
                              (self.measures, outputs.measures)):
            if pcoll is not None:
                bucket.append(pcoll)
        return outputs.documents

    def apply(self, docs: beam.PCollection, steps: list) -> beam.PCollection:
        chain: list[Step] = []
        for step in [*steps, None]:
            if isinstance(step, (Filter, Mapper)):
                chain.append(step)
                continue
            if chain:
                label = f"{self.source}/{len(self.step_names)}:{'+'.join(s.name for s in chain)}"
                self.step_names.extend(s.name for s in chain)
                docs = self.collect(docs | label >> ApplySteps(self.source, chain, self.batch_size))
                chain = []
            if isinstance(step, GlobalStep):
                label = f"{self.source}/{len(self.step_names)}:{step.step_name}"
                docs = self.collect(docs | label >> step, step.step_name)
            elif step is not None:
                raise TypeError(f"{self.source}: step {step!r} is not a Filter, Mapper or GlobalStep")
        return docs


def category_keys(doc: dict, source: str, step: str, fields: tuple[str, ...]):
    for field_name in fields:
        value = doc["meta"].get(field_name)
        yield f"{source}/{step}/{field_name}", "none" if value is None else str(value)


class Source:
    """Base class of the seven sources; see the module docstring."""

    name: str = ""
    Config: type[SourceConfig] = SourceConfig
    #: meta fields whose values are counted (documents per value) after reading and in the output
    category_fields: tuple[str, ...] = ()
    #: the file globs a recipe uses when ``inputs`` is empty
    default_inputs: tuple[str, ...] = ()

    def read(self, cfg: SourceConfig, path: str) -> Iterator:
        raise NotImplementedError

    def reader(self, cfg: SourceConfig):
        """``read`` bound to ``cfg``: a picklable callable of one path."""
        return functools.partial(self.read, cfg)

    def steps(self, cfg: SourceConfig, ctx: RunContext) -> list:
        return []

    def input_paths(self, cfg: SourceConfig, ctx: RunContext) -> list[str]:
        patterns = cfg.inputs or list(self.default_inputs)
        if not patterns:
            raise fileio.InputError(f"sources.{self.name}.inputs is empty")
        return fileio.expand_inputs(patterns, ctx.input_root, what=f"sources.{self.name}.inputs")

    def prepare(self, cfg: SourceConfig, ctx: RunContext) -> list[str]:
        """Check, before the pipeline starts, what the source needs (inputs, model files) and return
        its input paths; raise InputError/ConfigError naming what is missing. Sources with models
        extend it."""
        return self.input_paths(cfg, ctx)

    def build(self, pbegin, cfg: SourceConfig, ctx: RunContext, branch: Branch,
              paths: list[str] | None = None) -> beam.PCollection:
        """Read the inputs and apply the steps; side outputs go to ``branch``."""
        paths = self.input_paths(cfg, ctx) if paths is None else paths
        docs = branch.collect(pbegin | f"{self.name}/read" >> ReadFiles(self.name, self.reader(cfg), paths), "read")
        return branch.apply(docs, self.steps(cfg, ctx))

    def __reduce__(self):  # pickle by reference to the module-level SOURCE
        return (_source_by_name, (self.name,))


def _source_by_name(name: str):
    from llamacorpus import sources

    return sources.get(name)
