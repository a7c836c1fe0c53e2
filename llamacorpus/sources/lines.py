"""Line-oriented inputs (JSON Lines, Stack Exchange's Posts.xml): lines read with a bound, and one
big file cut into byte ranges that workers read apart, with exact line numbers.

**Bounded lines.** :func:`read_lines` yields each line of a stream, or None for a line longer
than ``max_bytes``: that line is skipped in chunks, never held whole (readers count it as
``error:oversize_record``), so memory stays about ``max_bytes`` whatever the file holds.

**Byte ranges.** The rule every line reader shares: a piece ``[start, end)`` starts after the
first newline at or after ``start`` (at byte 0 when ``start`` is 0) and ends at the first
newline at or after ``end`` (the end of the file when ``end`` is None). So a piece reads the
lines that start in ``[start, end]`` (in ``(start, end]`` for ``start`` > 0), every line of the
file is read by exactly one piece, and no piece has to know where the others cut. A piece's
first line number is the count of lines of the pieces before it: :func:`count_range` counts a
piece's lines by the same rule (the adapter runs it for every piece, in parallel, and numbers
the pieces from it).

**Compressed inputs** cannot be entered in the middle: :func:`stage` decompresses one once into
a staging file, which is then split like an uncompressed one (the adapter removes it when the
source has been read; a run that died leaves it for the next run to remove).
"""
from __future__ import annotations

import hashlib
import os
import uuid
from typing import IO, Callable, Iterator

from llamacorpus import fileio
from llamacorpus.sources.base import Split, whole_file

#: what one read takes from a file while skipping or counting
CHUNK = 1 << 20
SKIP_CHUNK = 64 << 10  # what one read takes while skipping an oversize line
#: pieces are at least this big when the recipe's split_bytes allows ...
MIN_PIECE_BYTES = 1 << 20
#: ... and at most split_bytes; a file is cut in about this many pieces when that fits both
TARGET_PIECES = 64
COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zstd", ".7z")


def piece_bytes(size: int, split_bytes: int) -> int:
    """How big the pieces of a file of ``size`` bytes are: about 1/TARGET_PIECES of it, at least
    MIN_PIECE_BYTES, at most ``split_bytes`` (0: never split)."""
    if split_bytes <= 0:
        return max(size, 1)
    return min(split_bytes, max(MIN_PIECE_BYTES, -(-size // TARGET_PIECES)))


def is_compressed(path: str) -> bool:
    return path.lower().endswith(COMPRESSED)


def shares(total: int, weights: list[int]) -> list[int]:
    """``total`` cut in proportion to ``weights``, in whole numbers that sum to ``total``."""
    whole = sum(weights)
    if not whole:
        return [total if i == len(weights) - 1 else 0 for i in range(len(weights))]
    cuts, acc = [0], 0
    for w in weights:
        acc += w
        cuts.append(total * acc // whole)
    return [b - a for a, b in zip(cuts, cuts[1:])]


# ---------------------------------------------------------------------------- bounded lines

def read_lines(stream: IO[bytes], max_bytes: int, stop: int | None = None,
               position: int = 0) -> Iterator[bytes | None]:
    """The lines of ``stream`` (newline kept); None for a line longer than ``max_bytes``, skipped
    without holding it. With ``stop``, only lines that start at or before byte ``stop``
    (``position`` being where the stream stands now)."""
    while stop is None or position <= stop:
        line = stream.readline(max_bytes + 1)
        if not line:
            return
        position += len(line)
        if len(line) > max_bytes and not line.endswith(b"\n"):
            position += _skip_line(stream)
            yield None
        else:
            yield line


def _skip_line(stream: IO[bytes]) -> int:
    """Read past the rest of the current line; the bytes skipped."""
    skipped = 0
    while True:
        part = stream.readline(SKIP_CHUNK)
        skipped += len(part)
        if not part or part.endswith(b"\n"):
            return skipped


def _begin(f: IO[bytes], start: int) -> int:
    """Seek ``f`` to where the piece that starts at ``start`` begins; return that position."""
    if start <= 0:
        f.seek(0)
        return 0
    f.seek(start)
    return start + _skip_line(f)


def range_lines(split: Split, max_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """``(line number, line or None when oversize)`` of one piece of an uncompressed file."""
    number = (split.first_line or 1) - 1
    with fileio.open_raw(split.source_file) as f:
        position = _begin(f, split.start)
        for line in read_lines(f, max_bytes, split.end, position):
            number += 1
            yield number, line


def count_range(split: Split) -> int:
    """The lines the piece holds, by the rule of :func:`range_lines` (newline bytes counted in
    chunks; no line is held)."""
    with fileio.open_raw(split.source_file) as f:
        position = _begin(f, split.start)
        end = split.end
        lines, last = 0, b"\n"
        while end is None or position <= end:
            want = CHUNK if end is None else min(CHUNK, end + 1 - position)
            data = f.read(want)
            if not data:
                break
            if last == b"\n":
                lines += 1  # a line starts at this chunk's first byte
            lines += data.count(b"\n", 0, len(data) - 1)  # each newline but a final one starts a line
            position += len(data)
            last = data[-1:]
        return lines


def line_splits(path: str, size: int, split_bytes: int, target: str = "", stored: int | None = None) -> list[Split]:
    """Byte-range pieces of an uncompressed line file (``target`` a staging copy of ``path``,
    ``stored`` the size of ``path`` the pieces account for)."""
    stored = size if stored is None else stored
    step = piece_bytes(size, split_bytes)
    if size <= step:
        return [Split(path, size=stored, target=target)] if target else [whole_file(path, size)]
    starts = list(range(0, size, step))
    ends = [*starts[1:], None]
    sizes = shares(stored, [(e if e is not None else size) - s for s, e in zip(starts, ends)])
    return [Split(path, start=s, end=e, index=i, count=len(starts), size=n, first_line=None, target=target)
            for i, (s, e, n) in enumerate(zip(starts, ends, sizes))]


# ---------------------------------------------------------------------------- staging

def staging_path(staging: str, path: str) -> str:
    """Where the decompressed copy of ``path`` goes: one name per input."""
    digest = hashlib.sha1(path.encode("utf-8")).hexdigest()[:12]
    name = os.path.basename(path)
    for suffix in COMPRESSED:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return f"{staging.rstrip('/')}/{digest}-{name}"


def stage(path: str, staging: str, open_content: Callable[[str], IO[bytes]] = fileio.open_decompressed) -> tuple[str, int]:
    """Decompress ``path`` once into the staging directory; (the copy's path, its size). Written
    under a temporary name and renamed, so a copy that exists is complete."""
    target = staging_path(staging, path)
    tmp = f"{target}.part-{uuid.uuid4().hex[:8]}"
    fileio.makedirs(staging)
    written = 0
    try:
        with open_content(path) as src, fileio.create(tmp) as dst:
            while True:
                data = src.read(CHUNK)
                if not data:
                    break
                dst.write(data)
                written += len(data)
        fileio.rename(tmp, target)
    except BaseException:
        fileio.delete([tmp])
        raise
    return target, written


def staged_line_splits(path: str, size: int, staging: str, split_bytes: int,
                       open_content: Callable[[str], IO[bytes]] = fileio.open_decompressed) -> list[Split]:
    """The pieces of a compressed line file: one whole-file piece when it is too small to split
    (nothing staged), else byte ranges of its staged copy."""
    if size <= piece_bytes(size, split_bytes):
        return [whole_file(path, size)]
    target, staged = stage(path, staging, open_content)
    return line_splits(path, staged, split_bytes, target=target, stored=size)
