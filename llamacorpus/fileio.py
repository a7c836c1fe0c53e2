"""Files anywhere Beam's FileSystems reaches (local paths, gs://, ...): the one file-system face of
the project. Globbing (:func:`match`, :func:`expand_inputs`), opening with decompression by
extension, :func:`create`, :func:`rename`, :func:`delete`, and atomic writes (a temporary name,
then a rename). Opening and writing local files never imports Beam."""
from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import lzma
import os
import shutil
import tempfile
import uuid
from typing import IO, Any, Iterable, NamedTuple, Sequence


def _beam_fs():
    """Beam's FileSystems, imported on first use: local files never need it, and importing Beam
    costs seconds at the start of commands that only read local shards (the trainer)."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    return FileSystems, CompressionTypes.UNCOMPRESSED


class InputError(ValueError):
    """An input path that does not exist or matches nothing: raised before the pipeline starts."""


def has_scheme(path: str) -> bool:
    return "://" in path


def join(root: str, path: str) -> str:
    if not root or os.path.isabs(path) or has_scheme(path):
        return path
    return _beam_fs()[0].join(root, path) if has_scheme(root) else os.path.join(root, path)


class FileInfo(NamedTuple):
    path: str
    size: int
    updated: float = 0.0  # last modification, seconds since the epoch (Beam's last_updated_in_seconds)


def _match(pattern: str) -> list[FileInfo]:
    found = _beam_fs()[0].match([pattern])[0].metadata_list  # raises for a missing literal path
    return sorted((FileInfo(m.path, m.size_in_bytes, m.last_updated_in_seconds or 0.0)
                   for m in found if not m.path.endswith("/")), key=lambda f: f.path)


def match(pattern: str) -> list[FileInfo]:
    """The files a glob matches (``**`` crosses directories), sorted by path; ``[]`` when nothing
    matches or the directory does not exist."""
    try:
        return _match(pattern)
    except Exception:  # noqa: BLE001 - Beam raises for a missing directory or literal path
        return []


def match_paths(pattern: str) -> list[str]:
    return [f.path for f in match(pattern)]


class TreeEntry(NamedTuple):
    path: str  # as listed under the directory (a link's own path)
    size: int  # bytes (of a link's target)
    escapes: bool  # a symlink whose target lies outside the directory: never read, never listed into


def list_tree(directory: str) -> list[TreeEntry]:
    """The files under ``directory``, sorted, never following a link out of it. Locally the tree is
    walked without following symlinked directories; a symlink (to a file or a directory) whose
    target resolves outside ``directory`` is listed once with ``escapes`` set, its target not
    read; a symlinked directory inside is not descended (its files are listed where they are).
    Remote trees (gs://) have no links: Beam's match."""
    directory = directory.rstrip("/")
    if has_scheme(directory):
        return [TreeEntry(f.path, f.size, False) for f in match(directory + "/**")]
    real_root = os.path.realpath(directory)
    entries = []
    for root, dirs, files in os.walk(directory):
        for name in list(dirs):
            path = os.path.join(root, name)
            if os.path.islink(path):
                dirs.remove(name)
                if not _inside(os.path.realpath(path), real_root):
                    entries.append(TreeEntry(path, 0, True))
        for name in files:
            path = os.path.join(root, name)
            if os.path.islink(path):
                target = os.path.realpath(path)
                if not _inside(target, real_root) or not os.path.isfile(target):
                    entries.append(TreeEntry(path, 0, True))
                    continue
            entries.append(TreeEntry(path, os.path.getsize(path), False))
    return sorted(entries)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def expand_inputs(patterns: Sequence[str], root: str = "", what: str = "input") -> list[str]:
    """Expand globs (relative ones against ``root``) into a sorted list of files.

    A pattern that matches nothing raises :class:`InputError` naming it.
    """
    paths: list[str] = []
    for pattern in patterns:
        full = join(root, pattern)
        try:
            matched = [f.path for f in _match(full)]
        except Exception as exc:  # noqa: BLE001 - Beam raises for a missing literal path
            raise InputError(f"{what} path {full!r} does not exist ({exc})") from None
        if not matched:
            raise InputError(f"{what} path {full!r} matches no file")
        paths.extend(matched)
    return sorted(dict.fromkeys(paths))


def open_raw(path: str) -> IO[bytes]:
    """The file's bytes as stored (no decompression)."""
    if not has_scheme(path):
        return open(path, "rb")
    filesystems, uncompressed = _beam_fs()
    return filesystems.open(path, compression_type=uncompressed)


def open_decompressed(path: str) -> IO[bytes]:
    """A binary stream of the file's content, decompressed by extension (.gz .bz2 .xz .zst).

    bz2 and gzip read every member/stream (Wikipedia multistream dumps, per-record gzip).
    """
    raw = open_raw(path)
    name = path.lower()
    if name.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw)
    if name.endswith(".bz2"):
        return bz2.BZ2File(raw)
    if name.endswith(".xz"):
        return lzma.LZMAFile(raw)
    if name.endswith(".zst") or name.endswith(".zstd"):
        import zstandard

        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True))
    return raw


def iter_lines(path: str) -> Iterable[tuple[int, bytes]]:
    """``(line number, raw bytes)`` of a (compressed) text file, streamed."""
    with open_decompressed(path) as f:
        yield from enumerate(f, start=1)


def size(path: str) -> int:
    """Stored bytes of a file, or of every file under a directory (local: symlinks inside it not
    followed; remote: a path ending in ``/`` is a prefix). Raises FileNotFoundError when there is
    nothing there."""
    if not has_scheme(path):
        info = os.stat(path)
        if not os.path.isdir(path):
            return info.st_size
        total = 0
        for root, dirs, files in os.walk(path):
            total += sum(os.lstat(os.path.join(root, f)).st_size for f in files)
        return total
    found = match(f"{path}**" if path.endswith("/") else path)
    if not found:
        raise FileNotFoundError(f"{path}: no such file")
    return sum(f.size for f in found)


def exists(path: str) -> bool:
    return _beam_fs()[0].exists(path) if has_scheme(path) else os.path.exists(path)


def create(path: str) -> IO[bytes]:
    """A new file for writing bytes (its directory made when local)."""
    if has_scheme(path):
        filesystems, uncompressed = _beam_fs()
        return filesystems.create(path, compression_type=uncompressed)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    return open(path, "wb")


def rename(src: str, dst: str) -> None:
    """Move ``src`` to ``dst``, replacing it."""
    if not has_scheme(src):
        os.replace(src, dst)
        return
    filesystems = _beam_fs()[0]
    if filesystems.exists(dst):
        filesystems.delete([dst])
    filesystems.rename([src], [dst])


def delete(paths: Iterable[str]) -> None:
    """Remove files (those already gone are skipped)."""
    paths = list(paths)
    local = [p for p in paths if not has_scheme(p)]
    for path in local:
        if os.path.isfile(path) or os.path.islink(path):
            os.remove(path)
    remote = [p for p in paths if has_scheme(p)]
    if remote:
        _beam_fs()[0].delete(remote)


def delete_dirs(root: str, name_glob: str, depth: int = 3) -> list[str]:
    """Remove the directories named like ``name_glob`` at most ``depth`` levels under ``root``, with
    everything in them (Beam's ``beam-temp-*`` folders left by a killed run); returns them."""
    import fnmatch

    root = root.rstrip("/")
    if has_scheme(root):  # object stores have no empty folders: the files name them (one listing)
        found = set()
        for f in match(root + "/**"):
            parts = f.path[len(root) + 1:].split("/")[:-1]
            hit = next((i for i, part in enumerate(parts[:depth]) if fnmatch.fnmatch(part, name_glob)), None)
            if hit is not None:
                found.add("/".join([root, *parts[:hit + 1]]))
        found = sorted(found)
    else:
        import glob

        patterns = ["/".join([glob.escape(root), *["*"] * level, name_glob]) for level in range(depth)]
        found = sorted({d for pattern in patterns for d in glob.glob(pattern) if os.path.isdir(d)})
    if found:
        _beam_fs()[0].delete([d if not has_scheme(d) else d + "/" for d in found])  # recursive
    return found


def writable_dir_problem(path: str) -> str | None:
    """Why the local directory ``path`` (existing or to be made) cannot be written, or None. Probes
    with a temporary file in it, or in its nearest existing parent; leaves nothing behind."""
    full = os.path.abspath(path)
    if os.path.exists(full) and not os.path.isdir(full):
        return f"{path} is a file, not a directory"
    probe = full
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        return f"{path} cannot be a directory: {probe} is a file"
    try:
        fd, name = tempfile.mkstemp(prefix=".llamacorpus-write-check-", dir=probe)
        os.close(fd)
        os.remove(name)
    except OSError as exc:
        return f"{path} is not writable ({probe}: {exc.strerror or exc})"
    return None


def versions(paths: Sequence[str]) -> dict[str, str]:
    """What identifies each file's content without reading it: ``<size>:<mtime_ns>`` locally, the
    object's ``<generation>:<crc32c>`` on gs:// (one listing per folder), ``<size>:<updated>`` on
    other file systems. A directory (or a ``/``-ended prefix) is versioned by every file under it."""
    out: dict[str, str] = {}
    gcs = [p for p in paths if p.startswith("gs://")]
    for path in paths:
        if path.startswith("gs://"):
            continue
        if not has_scheme(path):
            out[path] = _local_version(path)
        else:
            found = match(path.rstrip("/") + ("/**" if path.endswith("/") else ""))
            out[path] = _listing_version([(f.path, f"{f.size}:{f.updated}") for f in found])
    if gcs:
        out.update(_gcs_versions(gcs))
    return out


def _listing_version(entries: Iterable[tuple[str, str]]) -> str:
    return "dir:" + hashlib.sha256(json.dumps(sorted(entries)).encode()).hexdigest()[:32]


def _local_version(path: str) -> str:
    if not os.path.isdir(path):
        st = os.stat(path)
        return f"{st.st_size}:{st.st_mtime_ns}"
    entries = []
    for folder, _, names in os.walk(path):
        for name in names:
            st = os.stat(os.path.join(folder, name))
            entries.append((os.path.relpath(os.path.join(folder, name), path), f"{st.st_size}:{st.st_mtime_ns}"))
    return _listing_version(entries)


def _gcs_versions(paths: list[str]) -> dict[str, str]:
    from apache_beam.io.gcp import gcsio

    client, out = gcsio.GcsIO().client, {}
    folders: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for path in paths:
        bucket, name = gcsio.parse_gcs_path(path, object_optional=True)
        folder = name.rstrip("/").rsplit("/", 1)[0] + "/" if "/" in name.rstrip("/") else ""
        folders.setdefault((bucket, folder), []).append((path, name))
    for (bucket, folder), items in folders.items():
        blobs = {b.name: f"{b.generation}:{b.crc32c}" for b in client.list_blobs(bucket, prefix=folder)}
        for path, name in items:
            prefix = name.rstrip("/") + "/"
            out[path] = blobs.get(name) or _listing_version((n, v) for n, v in blobs.items() if n.startswith(prefix))
    return out


def content_hash(path: str) -> str:
    """xxh3-128 of a file's stored bytes (of every file under a directory, in path order)."""
    import xxhash

    digest = xxhash.xxh3_128()
    files = ([path] if not path.endswith("/") and not (not has_scheme(path) and os.path.isdir(path))
             else match_paths(path.rstrip("/") + "/**"))
    for name in files:
        digest.update(name[len(path):].encode() + b"\0")
        with open_raw(name) as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def delete_tree(path: str) -> None:
    """Remove a directory and everything under it (gone already: nothing to do)."""
    if not has_scheme(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        delete(match_paths(f"{path.rstrip('/')}/**"))


def makedirs(path: str) -> None:
    if not has_scheme(path):
        os.makedirs(path, exist_ok=True)


def atomic_write(path: str, data: bytes | str) -> None:
    """Write ``data`` to ``path`` under a temporary name, then rename it into place."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    parent = path.rsplit("/", 1)[0] if "/" in path else "."
    makedirs(parent)
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    with create(tmp) as f:
        f.write(data)
    rename(tmp, path)


def local_copy(path: str) -> str:
    """``path`` itself when local; else a copy on local disk, streamed once per machine (for
    libraries that open models by file name: fastText, KenLM, SentencePiece)."""
    if not has_scheme(path):
        return path
    digest = hashlib.sha1(path.encode()).hexdigest()[:16]
    local = os.path.join(tempfile.gettempdir(), "llamacorpus-models", digest, path.rsplit("/", 1)[-1])
    if not os.path.exists(local):
        os.makedirs(os.path.dirname(local), exist_ok=True)
        tmp = f"{local}.part-{os.getpid()}"
        with open_raw(path) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 16 << 20)
        os.replace(tmp, local)
    return local


def read_bytes(path: str) -> bytes:
    with open_raw(path) as f:
        return f.read()


def read_json(path: str) -> Any:
    """The JSON value stored at ``path``, or None when there is no such file."""
    if not exists(path):
        return None
    return json.loads(read_bytes(path))


def write_json(path: str, value: Any) -> None:
    """``value`` as indented JSON with sorted keys, written atomically."""
    atomic_write(path, json.dumps(value, indent=1, sort_keys=True, default=str))
