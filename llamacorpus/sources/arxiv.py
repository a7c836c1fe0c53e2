"""arXiv (2.5% of LLaMA): papers' LaTeX sources, one document per paper, cleaned by
:mod:`llamacorpus.steps.clean.latex` (body from the first section, no bibliography, no comments, user
macros expanded).

Inputs (``sources.arxiv.inputs``), each glob matching:

* a paper's source as arXiv serves it: ``<id>.tar.gz``/``.tgz``/``.tar`` (the paper's files) or
  ``<id>.gz`` (one gzipped ``.tex``; a gzipped tar is recognised by its header too), or a single
  ``.tex`` file;
* a bulk archive ``arXiv_src_*.tar`` (arXiv's requester-pays dump), whose members are the papers'
  ``<id>.gz`` sources (PDF-only submissions are dropped as ``pdf_only``);
* a glob ending in ``/``: each matching directory is one paper (its files, subfolders included).

Everything is read in memory, never written to disk, and nothing is read outside the paper:

* only TeX files are kept (``.tex .ltx .latex .sty .def``);
* a member whose path is absolute or leaves the paper (``../``) is skipped and counted as
  ``error:unsafe_path``, and so is a file of a paper's directory that is a symlink out of the
  directory (:func:`llamacorpus.fileio.list_tree`: its target is never read);
* an archive's symlinks, hard links and device or FIFO members are skipped and counted as
  ``dropped:symlink_member``, ``dropped:hardlink_member`` and ``dropped:device_member``;
* a TeX file over ``max_file_bytes`` (its size is in the tar header; a gzipped single file is
  read up to the bound and no further) is skipped as ``error:oversize_member``;
* an archive is read while its members add up to at most ``max_archive_bytes`` decompressed
  (members skipped too, since a tar stream must be decompressed to get past them): at a member
  that would go past it, reading stops before decompressing it, ``error:oversize_archive``, and
  the paper is built from the members read (a 1 MB archive of 1 GiB of zeros costs nothing);
* a paper with more than ``max_paper_bytes`` of TeX (inputs resolved, summed over the candidate
  main files) is ``error:oversize_paper``.

The paper is still built from the other files. Bytes become text with
:func:`llamacorpus.text.decode` (UTF-8, else the detected charset): a file that is not UTF-8 is
named in the meta ``non_utf8_files`` with its encoding, instead of losing the paper as RedPajama
did; a file that is not text at all is skipped as ``dropped:binary_member``.

The main file is the one with ``\\documentclass`` (or LaTeX 2.09's ``\\documentstyle``); when
several have one (a supplement, a standalone figure), the one whose text with its inputs resolved
is longest, ties to the first path in sort order. ``\\input``/``\\include``/``\\subfile`` (with
or without ``.tex``) resolve against the main file's folder, then the including file's; comments
are removed from each file first, so a commented-out ``\\input`` is not followed. A local
``\\usepackage{x}`` with ``x.sty`` in the paper has its file inserted (its macros are the
authors'). Inputs that are missing are removed and listed in ``missing_inputs``; an input that
includes itself, or nesting deeper than ``max_input_depth``, is not followed and listed in
``recursive_inputs``.

Document id ``arxiv/<id>``: the arXiv id found in the directory or archive name
(``arxiv-1407.6245-scikit-image`` -> ``1407.6245``, ``hep-th9901001.gz`` -> ``hep-th/9901001``,
with its version if the name has one), else the name itself. Meta: ``arxiv_id`` (None without
one), ``name``, ``url`` (abs page, with an id), ``main_file``, ``files``, ``missing_inputs``,
``recursive_inputs``, ``non_utf8_files``, ``location``; the cleaner adds ``title`` and the macro
counts.
"""
from __future__ import annotations

import dataclasses
import gzip
import io
import posixpath
import re
import tarfile
import zlib
from typing import Iterable, Iterator


from llamacorpus import fileio, text as text_codec
from llamacorpus.config import field
from llamacorpus.document import make_document
from llamacorpus.steps.clean.budget import CleanerBudget
from llamacorpus.steps.clean.latex import LatexCleaner, MacroLimits, strip_comments
from llamacorpus.steps.filters.length import MinChars
from llamacorpus.sources.base import RunContext, Source, SourceConfig
from llamacorpus.steps import BadInput, Drop

TEX_EXTENSIONS = (".tex", ".ltx", ".latex", ".sty", ".def")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".gz")
_BULK = re.compile(r"^arXiv_src_.*\.tar$")


@dataclasses.dataclass
class ArxivConfig(SourceConfig):
    #: a TeX file larger than this is skipped (error:oversize_member)
    max_file_bytes: int = 10_000_000
    #: decompressed bytes read from one paper's archive, skipped members included; reading stops
    #: before the member that would go past it (error:oversize_archive)
    max_archive_bytes: int = 256 << 20
    #: a paper with more TeX than this, inputs resolved, is skipped (error:oversize_paper)
    max_paper_bytes: int = 50_000_000
    #: \input/\include nesting followed at most
    max_input_depth: int = 20
    #: macro expansions nested at most, expansions per paper, and output growth factor
    macro_max_depth: int = 64
    macro_max_expansions: int = 100_000
    macro_max_growth: float = 8.0
    #: work the LaTeX cleaner may spend per paper (error:cleaner_budget past it)
    cleaner_budget: CleanerBudget = field(default_factory=CleanerBudget)

    def check(self):
        super().check()
        for name in ("max_file_bytes", "max_archive_bytes", "max_paper_bytes", "max_input_depth",
                     "macro_max_depth", "macro_max_expansions", "macro_max_growth"):
            self.require(getattr(self, name) > 0, name, "must be > 0")

    def macro_limits(self) -> MacroLimits:
        return MacroLimits(self.macro_max_depth, self.macro_max_expansions, self.macro_max_growth)


# ---------------------------------------------------------------------------- names and ids

_NEW_ID = re.compile(r"(?<![\d.])(\d{4}\.\d{4,5})(v\d+)?(?!\d)")
_OLD_ID = re.compile(r"\b([a-z]+(?:-[a-z]+)*(?:\.[A-Z]{2})?)/?(\d{7})(v\d+)?(?!\d)")


def paper_ids(name: str) -> tuple[str, str | None]:
    """``(native id, arXiv id or None)`` from a paper's directory or archive name."""
    m = _NEW_ID.search(name) or _OLD_ID.search(name)
    if m is None:
        return name, None
    arxiv_id = m.group(1) if m.re is _NEW_ID else f"{m.group(1)}/{m.group(2)}"
    version = m.groups()[-1] or ""
    return arxiv_id + version, arxiv_id


def archive_stem(path: str) -> str:
    name = path.rstrip("/").rsplit("/", 1)[-1]
    for suffix in ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def safe_member_name(name: str) -> str | None:
    """A member path inside the paper, normalised; None if it is absolute or leaves the paper."""
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None
    norm = posixpath.normpath(name)
    if norm == ".." or norm.startswith("../"):
        return None
    return norm


def is_tex(name: str) -> bool:
    return name.lower().endswith(TEX_EXTENSIONS)


def decode_tex(data: bytes) -> tuple[str, str | None] | None:
    """``(text, encoding used when it was not UTF-8)``, or None for bytes that are not text
    (:func:`llamacorpus.text.decode`)."""
    decoded = text_codec.decode(data)
    if decoded is None:
        return None
    return decoded.text, (None if decoded.encoding == "utf-8" else decoded.encoding)


# ---------------------------------------------------------------------------- reading the files

Member = tuple  # (path inside the paper, bytes)


def _oversize(location: str, size: int, cfg: ArxivConfig) -> BadInput:
    return BadInput("oversize_member", location, f"{size} bytes > max_file_bytes {cfg.max_file_bytes}")


#: member kinds an archive may hold that are never read, with the reason they are counted under
_SKIPPED_KINDS = (("issym", "symlink_member"), ("islnk", "hardlink_member"), ("isdev", "device_member"))


def member_verdict(member: tarfile.TarInfo, where: str):
    """True for a regular file to read; else what to yield instead: a counted Drop for a link or a
    device, nothing for a directory."""
    skipped = next((reason for test, reason in _SKIPPED_KINDS if getattr(member, test)()), None)
    if skipped:
        return [Drop(skipped, location=where)]
    return True if member.isfile() else []


def tar_members(tar: tarfile.TarFile, location: str, cfg: ArxivConfig) -> Iterator[Member | BadInput | Drop]:
    """The TeX files of a tar read as a stream: ``(path, bytes)``, BadInput for a member that is
    unsafe or too large (skipped) and Drop for links and devices (skipped); directories and other
    files are passed over. Stops, with ``oversize_archive``, before a member that would take the
    archive past ``max_archive_bytes``: getting past it would decompress it."""
    taken = 0
    for member in tar:
        where = f"{location}!{member.name}"
        taken += tarfile.BLOCKSIZE + member.size
        if taken > cfg.max_archive_bytes:
            yield BadInput("oversize_archive", where, f"a member of {member.size} bytes would take the archive past "
                           f"max_archive_bytes {cfg.max_archive_bytes}; the rest of the archive is not read")
            return
        verdict = member_verdict(member, where)
        if verdict is not True:
            yield from verdict
            continue
        name = safe_member_name(member.name)
        if name is None:
            yield BadInput("unsafe_path", where, "member path is absolute or leaves the paper; skipped")
        elif not is_tex(name):
            continue
        elif member.size > cfg.max_file_bytes:
            yield _oversize(where, member.size, cfg)
        else:
            yield name, tar.extractfile(member).read()


class _Prefixed:
    """A stream whose first bytes were already read: ``head`` then the rest of ``stream``."""

    def __init__(self, head: bytes, stream):
        self.head, self.stream = head, stream

    def read(self, size: int = -1) -> bytes:
        if not self.head:
            return self.stream.read(size)
        if size is None or size < 0:
            data, self.head = self.head + self.stream.read(), b""
        else:
            data, self.head = self.head[:size], self.head[size:]
        return data


def _is_tar_header(block: bytes) -> bool:
    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        return True
    except tarfile.HeaderError:
        return False


def gzip_members(raw, name: str, location: str, cfg: ArxivConfig) -> Iterator[Member | BadInput]:
    """arXiv's ``<id>.gz``: a gzipped tar of the paper, or one gzipped TeX file."""
    stream = gzip.GzipFile(fileobj=raw)
    head = stream.read(tarfile.BLOCKSIZE)
    if len(head) == tarfile.BLOCKSIZE and _is_tar_header(head):
        yield from tar_members(tarfile.open(fileobj=_Prefixed(head, stream), mode="r|"), location, cfg)
        return
    data = head + stream.read(cfg.max_file_bytes + 1 - len(head))
    single = archive_stem(name)
    single = single if is_tex(single) else single + ".tex"
    if len(data) > cfg.max_file_bytes:
        yield _oversize(f"{location}!{single}", len(data), cfg)
    else:
        yield single, data


def archive_members(raw, name: str, location: str, cfg: ArxivConfig) -> Iterator[Member | BadInput]:
    lower = name.lower()
    if lower.endswith((".tar.gz", ".tgz")):
        yield from tar_members(tarfile.open(fileobj=raw, mode="r|gz"), location, cfg)
    elif lower.endswith(".tar"):
        yield from tar_members(tarfile.open(fileobj=raw, mode="r|"), location, cfg)
    elif lower.endswith(".gz"):
        yield from gzip_members(raw, name, location, cfg)
    else:  # one plain TeX file
        data = raw.read(cfg.max_file_bytes + 1)
        yield (_oversize(location, len(data), cfg) if len(data) > cfg.max_file_bytes
               else (posixpath.basename(name), data))


def directory_members(directory: str, cfg: ArxivConfig) -> Iterator[Member | BadInput]:
    """The TeX files under a paper's directory (``directory`` ends with ``/``); a symlink out of
    the directory is ``unsafe_path``, never followed."""
    for found in fileio.list_tree(directory):
        name = found.path[len(directory):]
        if found.escapes:
            yield BadInput("unsafe_path", found.path, "a symlink out of the paper's folder (or to nothing); not followed")
            continue
        if not is_tex(name):
            continue
        if found.size > cfg.max_file_bytes:
            yield _oversize(found.path, found.size, cfg)
        else:
            yield name, fileio.read_bytes(found.path)


# ---------------------------------------------------------------------------- main file and inputs

_DOCUMENTCLASS = re.compile(r"\\document(?:class|style)(?![A-Za-z@])")
_INPUT = re.compile(r"\\(?:input|include|subfile)(?![A-Za-z@])\s*(?:\{([^{}]*)\}|([^\s{}\\%]+))")
_USEPACKAGE = re.compile(r"\\usepackage(?![A-Za-z@])\s*(?:\[[^\]]*\])?\s*\{([^{}]*)\}")


class PaperTooLarge(Exception):
    pass


@dataclasses.dataclass
class Resolved:
    text: str
    missing: list[str]
    recursive: list[str]


def resolve_inputs(files: dict[str, str], main: str, max_depth: int = 20,
                   max_chars: int = 50_000_000) -> Resolved:
    """The main file with its ``\\input``/``\\include``/``\\subfile`` (and local ``.sty``
    packages) inserted, recursively. Raises PaperTooLarge past ``max_chars``."""
    base = posixpath.dirname(main)
    missing: list[str] = []
    recursive: list[str] = []
    size = [0]

    def lookup(target: str, current: str) -> str | None:
        for folder in dict.fromkeys((base, posixpath.dirname(current))):
            for candidate in (target, target + ".tex"):
                path = posixpath.normpath(posixpath.join(folder, candidate))
                if path in files:
                    return path
        return None

    def insert(path: str, chain: tuple[str, ...]) -> str:
        size[0] += len(files[path])
        if size[0] > max_chars:
            raise PaperTooLarge(f"more than {max_chars} characters with inputs resolved")
        return resolve(path, chain + (path,))

    def resolve(path: str, chain: tuple[str, ...]) -> str:
        def include(m):
            target = (m.group(1) or m.group(2) or "").strip()
            found = lookup(target, path) if target else None
            if found is None:
                missing.append(target)
                return ""
            if found in chain or len(chain) > max_depth:
                recursive.append(found)
                return ""
            return insert(found, chain)

        def package(m):
            local = [lookup(p.strip() + ".sty", path) for p in m.group(1).split(",")]
            inserted = [insert(f, chain) + "\n" for f in dict.fromkeys(local) if f and f not in chain]
            return "".join(inserted) + m.group(0)

        return _USEPACKAGE.sub(package, _INPUT.sub(include, files[path]))

    size[0] = len(files[main])
    if size[0] > max_chars:
        raise PaperTooLarge(f"more than {max_chars} characters with inputs resolved")
    return Resolved(resolve(main, (main,)), missing, recursive)


def choose_main_file(files: dict[str, str], max_depth: int = 20,
                     max_chars: int = 50_000_000) -> tuple[str, Resolved] | None:
    """The file with ``\\documentclass`` whose resolved text is longest (ties: first path).
    ``max_chars`` bounds the resolved text of all candidates together (PaperTooLarge past it), so
    that many candidates including one big file cost no more than one big paper."""
    best = None
    left = max_chars
    for name in sorted(files):
        if name.lower().endswith(".sty") or not _DOCUMENTCLASS.search(files[name]):
            continue
        resolved = resolve_inputs(files, name, max_depth, left)
        left -= len(resolved.text)
        if best is None or len(resolved.text) > len(best[1].text):
            best = (name, resolved)
    return best


# ---------------------------------------------------------------------------- the source

_ARCHIVE_ERRORS = (OSError, EOFError, zlib.error, tarfile.TarError)


def read_paper(name: str, location: str, members: Iterable[Member | BadInput], cfg: ArxivConfig) -> Iterator:
    """Documents, drops and errors of one paper from its members."""
    files: dict[str, str] = {}
    non_utf8: dict[str, str] = {}
    total = 0
    try:
        for item in members:
            if isinstance(item, (BadInput, Drop)):
                yield item
                continue
            path, data = item
            total += len(data)
            if total > cfg.max_paper_bytes:
                yield BadInput("oversize_paper", location, f"more than max_paper_bytes {cfg.max_paper_bytes} of TeX")
                return
            decoded = decode_tex(data)
            if decoded is None:
                yield Drop("binary_member", location=f"{location}!{path}")
                continue
            text, encoding = decoded
            if encoding:
                non_utf8[path] = encoding
            files[path] = strip_comments(text)
    except _ARCHIVE_ERRORS as exc:
        yield BadInput("corrupt_archive", location, f"{type(exc).__name__}: {exc}")
        return
    if not files:
        yield Drop("no_tex_files", location=location)
        return
    try:
        chosen = choose_main_file(files, cfg.max_input_depth, cfg.max_paper_bytes)
    except PaperTooLarge as exc:
        yield BadInput("oversize_paper", location, str(exc))
        return
    if chosen is None:
        yield Drop("no_main_file", location=location)
        return
    main, resolved = chosen
    native_id, arxiv_id = paper_ids(name)
    meta = {"arxiv_id": arxiv_id, "name": name, "main_file": main, "files": len(files),
            "missing_inputs": resolved.missing, "recursive_inputs": resolved.recursive,
            "non_utf8_files": non_utf8, "location": location}
    if arxiv_id:
        meta["url"] = f"https://arxiv.org/abs/{arxiv_id}"
    yield make_document("arxiv", native_id, resolved.text, **meta)


def paper_directories(pattern: str, root: str) -> list[str]:
    """The directories (ending in ``/``) a glob ending in ``/`` matches, each holding files."""
    full = fileio.join(root, pattern).rstrip("/")
    depth = len(full.split("/"))
    files = fileio.expand_inputs([full + "/**"], what="sources.arxiv.inputs")
    return sorted({"/".join(f.split("/")[:depth]) + "/" for f in files if len(f.split("/")) > depth})


class Arxiv(Source):
    name = "arxiv"
    Config = ArxivConfig
    meta_fields = {"arxiv_id": str, "name": str, "url": str, "title": str, "main_file": str, "files": int,
                   "missing_inputs": list[str], "recursive_inputs": list[str], "location": str,
                   "macros_defined": int, "macros_expanded": int}
    default_inputs = ("arxiv/*/",)

    def input_paths(self, cfg: ArxivConfig, ctx: RunContext) -> list[str]:
        patterns = cfg.inputs or list(self.default_inputs)
        if not patterns:
            raise fileio.InputError("sources.arxiv.inputs is empty")
        files = [p for p in patterns if not p.endswith("/")]
        paths = fileio.expand_inputs(files, ctx.input_root, what="sources.arxiv.inputs") if files else []
        for pattern in patterns:
            if pattern.endswith("/"):
                paths.extend(paper_directories(pattern, ctx.input_root))
        return sorted(dict.fromkeys(paths))

    def read(self, cfg: ArxivConfig, path: str) -> Iterator:
        if path.endswith("/"):
            yield from read_paper(archive_stem(path), path, directory_members(path, cfg), cfg)
            return
        name = path.rsplit("/", 1)[-1]
        with fileio.open_raw(path) as raw:
            if _BULK.match(name):
                yield from self._read_bulk(cfg, path, raw)
            else:
                yield from read_paper(archive_stem(name), path, archive_members(raw, name, path, cfg), cfg)

    @staticmethod
    def _read_bulk(cfg: ArxivConfig, path: str, raw) -> Iterator:
        """arXiv's bulk ``arXiv_src_*.tar``: each member is one paper's ``<id>.gz`` (or a PDF)."""
        tar = tarfile.open(fileobj=raw, mode="r|")
        for member in tar:
            where = f"{path}!{member.name}"
            verdict = member_verdict(member, where)
            if verdict is not True:
                yield from verdict
                continue
            base = posixpath.basename(member.name)
            if base.lower().endswith(".pdf"):
                yield Drop("pdf_only", location=where)
            elif base.lower().endswith(".gz"):
                if member.size > cfg.max_paper_bytes:
                    yield BadInput("oversize_paper", where, f"{member.size} bytes > max_paper_bytes")
                    continue
                data = io.BytesIO(tar.extractfile(member).read())
                yield from read_paper(archive_stem(base), where, gzip_members(data, base, where, cfg), cfg)

    def steps(self, cfg: ArxivConfig, ctx: RunContext) -> list:
        steps = [LatexCleaner(cfg.macro_limits(), cfg.cleaner_budget)]
        return steps + [MinChars(cfg.min_chars)] if cfg.min_chars else steps


SOURCE = Arxiv()
