"""Files anywhere Beam's FileSystems reaches (local paths, gs://, ...): globbing, opening with
decompression by extension, and atomic writes (a temporary name, then a rename)."""
from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import shutil
import tempfile
import uuid
from typing import IO, Iterable, Sequence



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


def expand_inputs(patterns: Sequence[str], root: str = "", what: str = "input") -> list[str]:
    """Expand globs (relative ones against ``root``) into a sorted list of files.

    A pattern that matches nothing raises :class:`InputError` naming it.
    """
    paths: list[str] = []
    for pattern in patterns:
        full = join(root, pattern)
        try:
            matched = [m.path for m in _beam_fs()[0].match([full])[0].metadata_list]
        except Exception as exc:  # noqa: BLE001 - Beam raises for a missing literal path
            raise InputError(f"{what} path {full!r} does not exist ({exc})") from None
        matched = [m for m in matched if not m.endswith("/")]
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


def exists(path: str) -> bool:
    return _beam_fs()[0].exists(path) if has_scheme(path) else os.path.exists(path)


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
    if not has_scheme(path):
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        return
    filesystems, uncompressed = _beam_fs()
    with filesystems.create(tmp, compression_type=uncompressed) as f:
        f.write(data)
    if filesystems.exists(path):
        filesystems.delete([path])
    filesystems.rename([tmp], [path])


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
