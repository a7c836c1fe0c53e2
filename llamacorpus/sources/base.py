"""What every source module provides: a recipe section, a reader and a default step list.

A source module (or package) defines a :class:`SourceConfig` subclass (its recipe section) and a
:class:`Source` subclass instance named ``SOURCE``:

* ``read(cfg, path)`` is a plain generator over one input file yielding documents
  (:func:`llamacorpus.document.make_document`), :class:`~llamacorpus.steps.Drop` for records that
  are not documents (a redirect) and :class:`~llamacorpus.steps.BadInput` for records that cannot
  be read. It must stream: never the whole file in memory.
* ``steps(cfg, ctx)`` lists the source's steps in order: filters and mappers
  (:mod:`llamacorpus.steps`) and global steps (:class:`llamacorpus.steps.adapter.GlobalStep`).

Sources hold no Beam wiring: the pipeline (:mod:`llamacorpus.pipeline.branch`) turns a reader and
a step list into stages.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Iterator

from llamacorpus import fileio
from llamacorpus.config import Section, field
from llamacorpus.steps import RunContext


@dataclasses.dataclass
class SourceConfig(Section):
    """Keys every source section has."""

    #: file globs (relative ones against the recipe's input_root), local or gs://
    inputs: list[str] = field([])
    #: minimum characters of cleaned text a document needs
    min_chars: int = 0

    def check(self):
        self.require(self.min_chars >= 0, "min_chars", "must be >= 0")

    def resolve(self, sections: dict[str, "SourceConfig"]) -> None:
        """Fill defaults that come from another source's section (the recipe calls it once every
        section is built); most sources have none."""


class Source:
    """Base class of the seven sources; see the module docstring."""

    name: str = ""
    Config: type[SourceConfig] = SourceConfig
    #: meta fields whose values are counted (documents per value) after reading and in the output
    category_fields: tuple[str, ...] = ()
    #: the typed meta fields of the documents it writes, its steps' included: ``{name: type}``
    #: (str, int, float, bool, list[str], list[int], list[float]); the rest goes to meta.extra
    #: (:mod:`llamacorpus.parquet`)
    meta_fields: dict = {}
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

    def __reduce__(self):  # pickle by reference to the module-level SOURCE
        return (_source_by_name, (self.name,))


def _source_by_name(name: str):
    from llamacorpus import sources

    return sources.get(name)
