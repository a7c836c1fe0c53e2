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
  excluded) is read; the licence is detected from the top-level ``LICENSE*``/``LICENCE*``/``COPYING*``
  files by their distinctive text (:func:`llamacorpus.licenses.detect_license`); the repository name is the ``origin``
  remote's ``owner/name`` from ``.git/config``, else the directory name.

Each file becomes a document with id ``github/<repo_name>/<path>`` (``@<ref>`` appended when the
row has one) and meta ``repo_name``, ``path``, ``license`` (SPDX id, or ``other``, or None),
``language`` (from the extension). Binary content (``binary: true`` or a NUL character) is dropped
at read time (reason ``binary``), content that is not valid UTF-8 too (``undecodable``); a line that
is not JSON, a row without ``repo_name``/``path`` or without content are errors with file and line.

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

from llamacorpus import fileio
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
from llamacorpus.sources.base import RunContext, Source, SourceConfig
from llamacorpus.sources.jsonl import json_records
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
    """One repository file -> a document, or Drop (binary, undecodable) / BadInput (no content)."""
    native = f"{repo}/{path}" + (f"@{ref}" if ref else "")
    meta = {"repo_name": repo, "path": path, "license": license_value, "language": language_of(path)}
    if ref:
        meta["ref"] = ref
    def drop(reason):
        return Drop(reason, make_document(NAME, native, "", **meta), location)

    nul = b"\x00" if isinstance(content, bytes) else "\x00"
    if binary or (isinstance(content, (bytes, str)) and nul in content):  # git's test for binary: a NUL
        return drop("binary")
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8")
        except UnicodeDecodeError:
            return drop("undecodable")
    if not isinstance(content, str):
        return BadInput("missing_content", location, "row has no string field 'content'", f"{NAME}/{native}")
    try:
        content.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: the export decoded invalid UTF-8 leniently
        return drop("undecodable")
    return make_document(NAME, native, content, **meta)


def row_document(row: dict, location: str):
    repo, path = row.get("repo_name"), row.get("path")
    if not isinstance(repo, str) or not repo or not isinstance(path, str) or not path:
        return BadInput("missing_field", location, "row needs string fields 'repo_name' and 'path'")
    ref = row.get("ref") if isinstance(row.get("ref"), str) else ""
    return file_document(repo, path, row.get("content"), spdx_of(row.get("license")), location, ref,
                         row.get("binary") is True)


def read_jsonl(path: str) -> Iterator:
    for _, location, row in json_records(path):
        yield row if isinstance(row, BadInput) else row_document(row, location)


def read_parquet(path: str) -> Iterator:
    import pyarrow.parquet as pq

    number = 0
    with fileio.open_raw(path) as f:
        for batch in pq.ParquetFile(f).iter_batches(batch_size=256):
            for row in batch.to_pylist():
                number += 1
                yield row_document(row, f"{path}:row{number}")


# ---------------------------------------------------------------------------- cloned repositories

def list_files(directory: str) -> list[str]:
    """Files under ``directory`` (``.git`` excluded, symlinks not followed), sorted."""
    directory = directory.rstrip("/")
    if fileio.has_scheme(directory):
        found = fileio.match_paths(f"{directory}/**")
        return sorted(p for p in found if "/.git/" not in p[len(directory):])
    out = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d != ".git" and not os.path.islink(os.path.join(root, d)))
        out.extend(os.path.join(root, f) for f in files if not os.path.islink(os.path.join(root, f)))
    return sorted(out)


_ORIGIN = re.compile(r"[/:]([^/:]+/[^/]+?)(?:\.git)?/?$")


def repo_name_of(directory: str) -> str:
    """``owner/name`` from the origin remote in ``.git/config``, else the directory name."""
    config_path = f"{directory.rstrip('/')}/.git/config"
    if fileio.exists(config_path):
        parser = configparser.ConfigParser(strict=False)
        try:
            parser.read_string(fileio.read_bytes(config_path).decode("utf-8", "replace"))
            match = _ORIGIN.search(parser.get('remote "origin"', "url", fallback=""))
            if match:
                return match.group(1)
        except configparser.Error:
            pass
    return os.path.basename(directory.rstrip("/"))


def repo_license(directory: str, files: list[str]) -> str | None:
    prefix = directory.rstrip("/") + "/"
    found = [detect_license(fileio.read_bytes(p).decode("utf-8", "replace")) for p in files
             if "/" not in p[len(prefix):] and LICENSE_NAME.match(os.path.basename(p))]
    return combine_licenses(found)


def read_repo(directory: str, max_file_bytes: int) -> Iterator:
    files = list_files(directory)
    repo = repo_name_of(directory)
    license_value = repo_license(directory, files)
    prefix = directory.rstrip("/") + "/"
    for path in files:
        rel = path[len(prefix):]
        with fileio.open_raw(path) as f:
            content = f.read(max_file_bytes + 1)
        if len(content) > max_file_bytes:
            yield Drop("too_large", make_document(NAME, f"{repo}/{rel}", "", repo_name=repo, path=rel,
                                                  license=license_value, language=language_of(rel)), path)
            continue
        yield file_document(repo, rel, content, license_value, path)


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
        if path.startswith(REPO_PREFIX):
            yield from read_repo(path[len(REPO_PREFIX):], cfg.max_file_bytes)
        elif base_name(path).lower().endswith(".parquet"):
            yield from read_parquet(path)
        else:
            yield from read_jsonl(path)

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
