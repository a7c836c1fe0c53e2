"""What every source module provides: a recipe section, a reader and a default step list.

A source module (or package) defines a :class:`SourceConfig` subclass (its recipe section) and a
:class:`Source` subclass instance named ``SOURCE``:

* ``read(cfg, path)`` is a plain generator over one input file yielding documents
  (:func:`llamacorpus.document.make_document`), :class:`~llamacorpus.steps.Drop` for records that
  are not documents (a redirect), :class:`~llamacorpus.steps.BadInput` for records that cannot
  be read, and :class:`~llamacorpus.steps.Note` for what it noticed on the way (a charset
  re-detected), counted and nothing else. It must stream: never the whole file in memory.
* ``steps(cfg, ctx)`` lists the source's steps in order: filters and mappers
  (:mod:`llamacorpus.steps`) and global steps (:class:`llamacorpus.steps.adapter.GlobalStep`).

Sources hold no Beam wiring: the pipeline (:mod:`llamacorpus.pipeline.branch`) turns a reader and
a step list into stages.

**Pieces** (docs/architecture.md, "Reading"): one big input may be read by many workers. The read
adapter asks the source, per input, for :meth:`Source.splits`: a list of :class:`Split`, each
read on its own by :meth:`Source.read_split`. The default is one piece, the whole file, read by
``read``: a source that does not split needs nothing more. A source that splits returns pieces
that together read exactly what ``read`` reads, with the same documents, ids and locations; a
piece whose first line number depends on the pieces before it leaves ``first_line`` None, and
the adapter numbers it from :meth:`Source.count_lines` of every piece of the file (run in
parallel). :class:`InputReader` binds the four calls to a recipe section for the adapter.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Iterator, NamedTuple

from llamacorpus import fileio
from llamacorpus.config import Section, field
from llamacorpus.steps import RunContext

#: the largest piece of one input a worker reads, by default
SPLIT_BYTES = 64 << 20
#: a longer line (JSONL record, Posts.xml row) is skipped and counted as error:oversize_record
MAX_RECORD_BYTES = 64 << 20


@dataclasses.dataclass
class SourceConfig(Section):
    """Keys every source section has."""

    #: file globs (relative ones against the recipe's input_root), local or gs://
    inputs: list[str] = field([])
    #: minimum characters of cleaned text a document needs
    min_chars: int = 0
    #: largest piece of one input that one worker reads (bytes); bigger inputs are split where the
    #: format allows (uncompressed JSONL and Posts.xml by byte range, Parquet by row group, a
    #: multistream Wikipedia dump by its index: the Common Crawl classifier's reference dumps too,
    #: in pieces of Common Crawl's split_bytes); 0 never splits
    split_bytes: int = SPLIT_BYTES
    #: a line-oriented record (a JSONL line, a Posts.xml row) longer than this is skipped without
    #: being held in memory, and counted as error:oversize_record
    max_record_bytes: int = MAX_RECORD_BYTES

    def check(self):
        self.require(self.min_chars >= 0, "min_chars", "must be >= 0")
        self.require(self.split_bytes >= 0, "split_bytes", "must be >= 0 (0 never splits)")
        self.require(self.max_record_bytes > 0, "max_record_bytes", "must be > 0")

    def resolve(self, sections: dict[str, "SourceConfig"]) -> None:
        """Fill defaults that come from another source's section (the recipe calls it once every
        section is built); most sources have none."""


class Split(NamedTuple):
    """One piece of one input, read on its own by one worker (see the module docstring).

    Byte ranges of line-oriented files follow one rule (:mod:`llamacorpus.sources.lines`): a piece
    starts after the first newline at or after ``start`` (at the file's first byte when ``start``
    is 0) and ends at the first newline at or after ``end`` (None: the end of the file).
    """

    path: str  # the input as listed: documents, ids and locations name it
    start: int = 0  # where the piece starts in ``target`` (bytes, or the format's own unit)
    end: int | None = None  # where it ends; None: the end of the file
    index: int = 0  # this piece's number among its file's pieces
    count: int = 1  # how many pieces the file has
    size: int = 0  # stored bytes of ``path`` this piece accounts for (the pieces of a file sum to its size)
    first_line: int | None = 1  # number of the piece's first line (or row); None until the adapter counts
    target: str = ""  # the file the range is in when not ``path``: a decompressed staging copy
    info: Any = None  # what every piece needs from the file's head (a Wikipedia dump's <siteinfo>)

    @property
    def source_file(self) -> str:
        """The file the piece's range is in."""
        return self.target or self.path

    @property
    def whole(self) -> bool:
        return self.count == 1 and not self.target and self.start == 0 and self.end is None


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

    def input_reader(self, cfg: SourceConfig) -> "InputReader":
        """What the read adapter calls, bound to ``cfg``: picklable."""
        return InputReader(self, cfg)

    # ------------------------------------------------------------------------ pieces
    def size(self, cfg: SourceConfig, path: str) -> int | None:
        """Stored bytes of one input (a directory input: of the files under it); None when it
        cannot be known without reading it (a URL). Raises FileNotFoundError (or another OSError)
        when the input cannot be reached: the adapter counts it as error:unreadable_input."""
        if path.startswith(("http://", "https://")):
            return None
        return fileio.size(path)

    def splits(self, cfg: SourceConfig, path: str, size: int | None, staging: str) -> list[Split]:
        """The pieces of one input (``size`` from :meth:`size`; ``staging`` a directory for a
        decompressed copy, removed when the source is read). Default: the whole file."""
        return [whole_file(path, size)]

    def count_lines(self, cfg: SourceConfig, split: Split) -> int:
        """Lines (the unit of ``first_line``) the piece holds; asked only for pieces whose
        ``first_line`` is None."""
        raise NotImplementedError(f"{self.name}: a piece without first_line needs count_lines")

    def read_split(self, cfg: SourceConfig, split: Split) -> Iterator:
        """Read one piece; the default reads a whole file with :meth:`read`."""
        if not split.whole:
            raise NotImplementedError(f"{self.name}: splits() made pieces but read_split() is not defined")
        return self.read(cfg, split.path)

    # ------------------------------------------------------------------------ the rest
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


def whole_file(path: str, size: int | None) -> Split:
    """The one piece of an input read whole."""
    return Split(path, size=size or 0)


@dataclasses.dataclass(frozen=True)
class InputReader:
    """A source's reading calls bound to its recipe section: what
    :class:`~llamacorpus.steps.adapter.ReadFiles` is given."""

    source: Source
    cfg: SourceConfig

    @property
    def name(self) -> str:
        return self.source.name

    def size(self, path: str) -> int | None:
        return self.source.size(self.cfg, path)

    def splits(self, path: str, size: int | None, staging: str) -> list[Split]:
        return self.source.splits(self.cfg, path, size, staging)

    def whole(self, path: str, size: int | None) -> Split:
        return whole_file(path, size)

    def count_lines(self, split: Split) -> int:
        return self.source.count_lines(self.cfg, split)

    def read(self, split: Split) -> Iterator:
        return self.source.read_split(self.cfg, split)


def _source_by_name(name: str):
    from llamacorpus import sources

    return sources.get(name)
