"""An external sort for records too many to hold: each record's bytes go to a local temporary file
as they arrive; only its 64-bit sort key, offset and length stay in memory (24 bytes a record).
Reading back yields the records in key order, a run of equal keys ordered by their ``tiebreak``
bytes (stored with the record), so the order never depends on arrival. Used for the tokenizer
sample and for each shard (``pipeline/mix.py``).
"""
from __future__ import annotations

import array
import os
import tempfile
from typing import Iterator

import numpy


class SpillSort:
    def __init__(self, directory: str | None = None, prefix: str = "llamacorpus-spill-"):
        self._dir = tempfile.TemporaryDirectory(dir=directory, prefix=prefix)
        self._path = os.path.join(self._dir.name, "records")
        self._file = open(self._path, "wb")
        self._keys = array.array("Q")
        self._offsets = array.array("q")
        self._tie_sizes = array.array("i")
        self._sizes = array.array("q")
        self._end = 0

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: int, tiebreak: bytes, data: bytes) -> None:
        self._keys.append(key)
        self._offsets.append(self._end)
        self._tie_sizes.append(len(tiebreak))
        self._sizes.append(len(data))
        self._file.write(tiebreak)
        self._file.write(data)
        self._end += len(tiebreak) + len(data)

    def _order(self, f) -> numpy.ndarray:
        keys = numpy.frombuffer(self._keys, dtype=numpy.uint64) if self._keys else numpy.zeros(0, numpy.uint64)
        order = numpy.argsort(keys, kind="stable")
        ordered = keys[order]
        equal = numpy.flatnonzero(ordered[1:] == ordered[:-1]) if len(ordered) > 1 else []
        if len(equal):
            starts = [int(i) for i in equal if i == 0 or ordered[i - 1] != ordered[i]]
            for start in starts:
                end = start + 1
                while end < len(ordered) and ordered[end] == ordered[start]:
                    end += 1
                run = order[start:end].tolist()
                order[start:end] = sorted(run, key=lambda i: self._read(f, i, tie=True))
        return order

    def _read(self, f, i: int, tie: bool = False) -> bytes:
        size = self._tie_sizes[i]
        f.seek(self._offsets[i] + (0 if tie else size))
        return f.read(size if tie else self._sizes[i])

    def __iter__(self) -> Iterator[bytes]:
        """The records' data in (key, tiebreak) order."""
        self._file.flush()
        with open(self._path, "rb") as f:
            for i in self._order(f).tolist():
                yield self._read(f, i)

    def close(self) -> None:
        self._file.close()
        self._dir.cleanup()

    def __enter__(self) -> "SpillSort":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
