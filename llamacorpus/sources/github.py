"""GitHub (4.5% of LLaMA): "the public GitHub dataset available on Google BigQuery. We only kept
projects that are distributed under the Apache, BSD and MIT licenses ... filtered low quality files
with heuristics based on the line length or proportion of alphanumeric characters, and removed
boilerplate, such as headers, with regular expressions. Finally, we deduplicate the resulting
dataset at the file level, with exact matches."

Inputs:

* ``inputs``: exports of BigQuery ``github_repos`` (``contents`` joined to ``files`` and
  ``licenses``) as JSONL (``.jsonl``/``.json``, optionally compressed) or Parquet, one file per
  row with ``repo_name``, ``path``, ``content`` and ``license`` (BigQuery's lower-case key, e.g.
  ``apache-2.0``; null when the repository has none); ``ref`` and ``binary`` are read when present.
* ``repos``: globs of directories of cloned repositories. Every file under a directory (``.git``
  excluded) is read; nothing outside the directory is: symlinks are not followed (a symlinked
  file is dropped as ``symlink``), and a path that resolves outside it is never opened. The licence is detected from the top-level ``LICENSE*``/``LICENCE*``/``COPYING*``
  files by their distinctive text (:func:`llamacorpus.licenses.detect_license`); the repository name is the ``origin``
  remote's ``owner/name`` from ``.git/config``, else the directory name.

Each file becomes a document with id ``github/<repo_name>/<path>`` (``@<ref>`` appended when the
row has one) and meta ``repo_name``, ``path``, ``license`` (SPDX id, or ``other``, or None),
``language`` (from the extension). Binary content (``binary: true``, a NUL character, or bytes that
:func:`llamacorpus.text.decode` finds are mostly not text) is dropped at read time (reason
``binary``); file bytes that are not UTF-8 are decoded in the charset detected. A line that is not
JSON, a row without ``repo_name``/``path`` or without content are errors with file and line (a
lone surrogate in a row's strings: ``error:invalid_unicode``, the read adapter's rule). An
uncompressed JSONL export is read in byte-range pieces by many workers, a Parquet one by row
groups.

Steps, in order: ``license`` (keep the recipe's ``licenses``; others dropped as
``license=<spdx id lower-case>``, ``license=none`` when unknown), ``file_type`` (licence files,
extension whitelist), ``license_header`` (the leading licence comment, see
:mod:`llamacorpus.steps.clean.license_header`), ``code_quality`` (RedPajama's heuristics, scores in
meta), ``min_chars`` (when set) and ``exact_dedup`` (one copy of each exact file text across the
run: the smallest ``stable_hash`` of the id; reason ``duplicate_content``).
"""
from __future__ import annotations

import configparser
import dataclasses
import os
import re
from typing import Any, Iterator

from llamacorpus import fileio, text
from llamacorpus.config import field
from llamacorpus.document import make_document
from llamacorpus.licenses import LICENSE_NAME, PERMISSIVE, combine_licenses, detect_license, spdx_of
from llamacorpus.steps.filters.license import LicenseFilter
from llamacorpus.steps.filters.code_heuristics import (CodeHeuristicsConfig, CodeQualityFilter, FileTypeFilter,
                                                 language_of)
from llamacorpus.steps.dedup.exact import ExactDedup
from llamacorpus.steps.filters.length import MinChars
from llamacorpus.steps.clean.budget import CleanerBudget
from llamacorpus.steps.clean.license_header import StripLicenseHeader
from llamacorpus.sources import jsonl
from llamacorpus.sources.base import MAX_RECORD_BYTES, RunContext, Source, SourceConfig, Split, whole_file
from llamacorpus.sources.jsonl import json_records
from llamacorpus.sources.lines import piece_bytes, shares
from llamacorpus.sources.books import base_name
from llamacorpus.steps import BadInput, Drop

NAME = "github"
REPO_PREFIX = "repo:"
@dataclasses.dataclass
class GitHubConfig(SourceConfig):
    #: directories of cloned repositories (globs); their licence is detected from LICENSE/COPYING files
    repos: list[str] = field([])
    #: SPDX ids (or BigQuery keys) of the licences kept
    licenses: list[str] = field(list(PERMISSIVE))
    #: RedPajama's file heuristics
    heuristics: CodeHeuristicsConfig = field(default_factory=CodeHeuristicsConfig)
    #: remove a leading licence/copyright comment from each file
    strip_license_headers: bool = True
    #: one copy of each exact file text across the run
    exact_dedup: bool = True
    #: larger files of cloned repositories are not read (BigQuery's contents table stops at 1 MiB)
    max_file_bytes: int = 1 << 20
    #: work the licence-header cleaner may spend per file (error:cleaner_budget past it)
    cleaner_budget: CleanerBudget = field(default_factory=CleanerBudget)

    def check(self):
        super().check()
        self.require(bool(self.licenses), "licenses", "must keep at least one licence")
        self.require(self.max_file_bytes > 0, "max_file_bytes", "must be > 0")


# ---------------------------------------------------------------------------- rows -> documents

def file_document(repo: str, path: str, content: Any, license_value: str | None, location: str, ref: str = "",
                  binary: bool = False):
    """One repository file -> a document, or Drop (binary) / BadInput (no content). Bytes are
    decoded by :func:`llamacorpus.text.decode`."""
    native = f"{repo}/{path}" + (f"@{ref}" if ref else "")
    meta = {"repo_name": repo, "path": path, "license": license_value, "language": language_of(path)}
    if ref:
        meta["ref"] = ref

    def drop(reason):
        return Drop(reason, make_document(NAME, native, "", **meta), location)

    if isinstance(content, bytes) and not binary:
        decoded = text.decode(content)
        content = decoded.text if decoded is not None else None
        binary = decoded is None
    if binary or (isinstance(content, str) and "\x00" in content):  # git's test for binary: a NUL
        return drop("binary")
    if not isinstance(content, str):
        return BadInput("missing_content", location, "row has no string field 'content'", f"{NAME}/{native}")
    return make_document(NAME, native, content, **meta)


def row_document(row: dict, location: str):
    repo, path = row.get("repo_name"), row.get("path")
    if not isinstance(repo, str) or not repo or not isinstance(path, str) or not path:
        return BadInput("missing_field", location, "row needs string fields 'repo_name' and 'path'")
    ref = row.get("ref") if isinstance(row.get("ref"), str) else ""
    return file_document(repo, path, row.get("content"), spdx_of(row.get("license")), location, ref,
                         row.get("binary") is True)


def read_jsonl(path: str, max_bytes: int = MAX_RECORD_BYTES, split: Split | None = None) -> Iterator:
    for _, location, row in json_records(path, max_bytes, split):
        yield row if isinstance(row, BadInput) else row_document(row, location)


def parquet_splits(path: str, size: int, split_bytes: int) -> list[Split]:
    """Pieces of a Parquet export by row groups (``start``/``end`` row-group numbers, ``first_line``
    the piece's first row number)."""
    import pyarrow.parquet as pq

    with fileio.open_raw(path) as f:
        meta = pq.ParquetFile(f).metadata
    groups = [meta.row_group(i) for i in range(meta.num_row_groups)]
    weights = [sum(g.column(c).total_compressed_size for c in range(g.num_columns)) for g in groups]
    step = piece_bytes(size, split_bytes)
    cuts, acc = [0], 0
    for i, w in enumerate(weights):
        if acc and acc + w > step:
            cuts.append(i)
            acc = 0
        acc += w
    cuts.append(len(groups))
    if len(cuts) <= 2:
        return [whole_file(path, size)]
    spans = list(zip(cuts, cuts[1:]))
    sizes = shares(size, [sum(weights[a:b]) for a, b in spans])
    rows = [sum(groups[i].num_rows for i in range(a)) + 1 for a, _ in spans]
    return [Split(path, start=a, end=b, index=i, count=len(spans), size=n, first_line=r)
            for i, ((a, b), n, r) in enumerate(zip(spans, sizes, rows))]


def read_parquet(path: str, split: Split | None = None) -> Iterator:
    """Rows of a Parquet export (or of a piece's row groups); a file pyarrow cannot read further is
    ``corrupt_parquet`` where it broke (the rows before it are read)."""
    import pyarrow
    import pyarrow.parquet as pq

    groups = None if split is None or split.whole else list(range(split.start, split.end))
    number = (split.first_line or 1) - 1 if groups is not None else 0
    with fileio.open_raw(path) as f:
        try:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=256, row_groups=groups):
                for row in batch.to_pylist():
                    number += 1
                    yield row_document(row, f"{path}:row{number}")
        except (pyarrow.ArrowException, OSError) as exc:
            yield BadInput("corrupt_parquet", f"{path}:row{number + 1}" if number else path,
                           f"{type(exc).__name__}: {exc}")


# ---------------------------------------------------------------------------- cloned repositories

def list_files(directory: str) -> list[str]:
    """Files under ``directory`` (``.git`` excluded), sorted. Symlinks are not followed: a symlink
    (to a file or a directory) is listed as it is, and dropped when read."""
    directory = directory.rstrip("/")
    if fileio.has_scheme(directory):
        found = fileio.match_paths(f"{directory}/**")
        return sorted(p for p in found if "/.git/" not in p[len(directory):])
    out = []
    for root, dirs, files in os.walk(directory):
        links = [d for d in dirs if os.path.islink(os.path.join(root, d))]
        dirs[:] = sorted(d for d in dirs if d != ".git" and d not in links)
        out.extend(os.path.join(root, f) for f in [*files, *links])
    return sorted(out)


def inside(directory: str, path: str) -> bool:
    """Whether ``path`` is a plain file of ``directory``, not a symlink, and resolves inside it
    (local; remote object stores have neither symlinks nor ``..``)."""
    if fileio.has_scheme(directory):
        return ".." not in path[len(directory):].split("/")
    if os.path.islink(path):
        return False
    root = os.path.realpath(directory)
    return os.path.commonpath([root, os.path.realpath(path)]) == root


_ORIGIN = re.compile(r"[/:]([^/:]+/[^/]+?)(?:\.git)?/?$")


def repo_name_of(directory: str) -> str:
    """``owner/name`` from the origin remote in ``.git/config``, else the directory name."""
    config_path = f"{directory.rstrip('/')}/.git/config"
    if fileio.exists(config_path) and inside(directory, config_path):
        parser = configparser.ConfigParser(strict=False)
        decoded = text.decode(fileio.read_bytes(config_path))
        try:
            parser.read_string(decoded.text if decoded else "")
            match = _ORIGIN.search(parser.get('remote "origin"', "url", fallback=""))
            if match:
                return match.group(1)
        except configparser.Error:
            pass
    return os.path.basename(directory.rstrip("/"))


def repo_license(directory: str, files: list[str]) -> str | None:
    prefix = directory.rstrip("/") + "/"
    found = []
    for path in files:
        if "/" not in path[len(prefix):] and LICENSE_NAME.match(os.path.basename(path)) and inside(directory, path):
            decoded = text.decode(fileio.read_bytes(path))
            found.append(detect_license(decoded.text if decoded else ""))
    return combine_licenses(found)


def read_repo(directory: str, max_file_bytes: int) -> Iterator:
    files = list_files(directory)
    repo = repo_name_of(directory)
    license_value = repo_license(directory, files)
    prefix = directory.rstrip("/") + "/"
    for path in files:
        rel = path[len(prefix):]
        if not inside(directory, path):
            yield Drop("symlink", make_document(NAME, f"{repo}/{rel}", "", repo_name=repo, path=rel,
                                                license=license_value, language=language_of(rel)), path)
            continue
        with fileio.open_raw(path) as f:
            content = f.read(max_file_bytes + 1)
        if len(content) > max_file_bytes:
            yield Drop("too_large", make_document(NAME, f"{repo}/{rel}", "", repo_name=repo, path=rel,
                                                  license=license_value, language=language_of(rel)), path)
            continue
        yield file_document(repo, rel, content, license_value, path)


def is_parquet(path: str) -> bool:
    return base_name(path).lower().endswith(".parquet")


def expand_repo_dirs(patterns: list[str], root: str) -> list[str]:
    """Directories matching the ``repos`` globs (local), or the given prefixes (remote)."""
    import glob

    dirs = []
    for pattern in patterns:
        full = fileio.join(root, pattern)
        matched = [full] if fileio.has_scheme(full) else sorted(d for d in glob.glob(full) if os.path.isdir(d))
        if not matched:
            raise fileio.InputError(f"sources.github.repos path {full!r} matches no directory")
        dirs.extend(matched)
    return sorted(dict.fromkeys(dirs))


class GitHub(Source):
    name = NAME
    Config = GitHubConfig
    category_fields = ("license", "language")
    meta_fields = {"repo_name": str, "path": str, "ref": str, "license": str, "language": str,
                   "header_chars_removed": int, "max_line_length": int, "mean_line_length": float,
                   "alnum_fraction": float, "alpha_per_token": float, "file_license": str}
    default_inputs = ("github/*.jsonl",)

    def input_paths(self, cfg: GitHubConfig, ctx: RunContext) -> list[str]:
        files = super().input_paths(cfg, ctx) if cfg.inputs or not cfg.repos else []
        return files + [REPO_PREFIX + d for d in expand_repo_dirs(cfg.repos, ctx.input_root)]

    def prepare(self, cfg: GitHubConfig, ctx: RunContext) -> list[str]:
        paths = self.input_paths(cfg, ctx)
        model = cfg.heuristics.tokenizer_path()
        if not fileio.exists(model):
            raise fileio.InputError(f"sources.github.heuristics.tokenizer_model {model!r} does not exist")
        return paths

    def read(self, cfg: GitHubConfig, path: str) -> Iterator:
        return self.read_split(cfg, Split(path))

    def size(self, cfg: GitHubConfig, path: str) -> int | None:
        return super().size(cfg, path[len(REPO_PREFIX):] if path.startswith(REPO_PREFIX) else path)

    def splits(self, cfg: GitHubConfig, path: str, size: int | None, staging: str) -> list[Split]:
        if path.startswith(REPO_PREFIX) or size is None:
            return super().splits(cfg, path, size, staging)
        if is_parquet(path):
            return parquet_splits(path, size, cfg.split_bytes)
        return jsonl.splits(path, size, cfg.split_bytes)

    def count_lines(self, cfg: GitHubConfig, split: Split) -> int:
        return jsonl.count_lines(split)

    def read_split(self, cfg: GitHubConfig, split: Split) -> Iterator:
        path = split.path
        if path.startswith(REPO_PREFIX):
            return read_repo(path[len(REPO_PREFIX):], cfg.max_file_bytes)
        if is_parquet(path):
            return read_parquet(path, split)
        return read_jsonl(path, cfg.max_record_bytes, split)

    def steps(self, cfg: GitHubConfig, ctx: RunContext) -> list:
        steps: list = [LicenseFilter(cfg.licenses), FileTypeFilter(cfg.heuristics.extensions)]
        if cfg.strip_license_headers:
            steps.append(StripLicenseHeader(cfg.cleaner_budget))
        steps.append(CodeQualityFilter(cfg.heuristics))
        if cfg.min_chars:
            steps.append(MinChars(cfg.min_chars))
        if cfg.exact_dedup:
            steps.append(ExactDedup(NAME))
        return steps


SOURCE = GitHub()
