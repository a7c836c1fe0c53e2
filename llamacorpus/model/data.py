"""The trainer's view of a shard directory: fixed-length token windows, packed across documents.

Training: the training shards of the manifest, in manifest order, are one token stream (each
shard's ``.bin`` memory-mapped, never read whole). Window ``w`` is tokens ``[w*L, w*L + L + 1)``:
``L`` inputs and the ``L`` next-token targets, so consecutive windows share one token and a window
crosses document boundaries freely (each document carries its own BOS/EOS from the shard stage).
Windows are read in order: the mix stage has already shuffled documents into the shards, so a data
position is a single integer (windows consumed), and a batch is a range of window numbers that wraps
into the next epoch at the end of the stream. The trainer hands each data-parallel rank its own
disjoint sub-range.

Validation: the manifest's held-out shards, grouped by source with the ``.sources.npy`` beside each
shard; each source's documents are packed into windows the same way, up to a token budget per
source, so every source's loss is measured on the same amount of text.
"""
from __future__ import annotations

import dataclasses

import numpy

from llamacorpus.tokenize.megatron import load_manifest, open_shards


class TokenStream:
    """Several flat token arrays read as one."""

    def __init__(self, arrays: list[numpy.ndarray]):
        self.arrays = [a for a in arrays if len(a)]
        self.starts = numpy.cumsum([0] + [len(a) for a in self.arrays])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def read(self, start: int, length: int) -> numpy.ndarray:
        """Tokens ``[start, start + length)`` as int64 (a copy)."""
        if start < 0 or start + length > len(self):
            raise IndexError(f"tokens [{start}, {start + length}) outside a stream of {len(self)}")
        out = numpy.empty(length, dtype=numpy.int64)
        filled = 0
        i = int(numpy.searchsorted(self.starts, start, side="right")) - 1
        while filled < length:
            offset = start + filled - int(self.starts[i])
            piece = self.arrays[i][offset:offset + length - filled]
            out[filled:filled + len(piece)] = piece
            filled += len(piece)
            i += 1
        return out


class TrainWindows:
    """Windows of ``seq_len`` inputs (+1 target) over the training shards."""

    def __init__(self, shard_dir: str, seq_len: int):
        self.manifest = load_manifest(shard_dir)
        self.seq_len = seq_len
        self.stream = TokenStream([ds.tokens for _, ds, _ in open_shards(shard_dir, "train")])
        self.num_windows = (len(self.stream) - 1) // seq_len
        if self.num_windows < 1:
            raise ValueError(f"{shard_dir}: {len(self.stream)} training tokens are fewer than one window of "
                             f"{seq_len + 1}")

    def window(self, number: int) -> numpy.ndarray:
        """Window ``number`` (any non-negative integer: it wraps around epochs)."""
        return self.stream.read((number % self.num_windows) * self.seq_len, self.seq_len + 1)

    def batch(self, first: int, count: int) -> numpy.ndarray:
        """Windows ``first .. first + count - 1`` as a (count, seq_len + 1) int64 array."""
        return numpy.stack([self.window(first + j) for j in range(count)])


@dataclasses.dataclass
class SourceWindows:
    name: str
    windows: numpy.ndarray  # (n, length + 1) int64
    tokens: int  # targets scored: n * length


def validation_windows(shard_dir: str, seq_len: int, max_tokens: int) -> list[SourceWindows]:
    """Per source, its held-out documents packed into windows, up to ``max_tokens`` targets each.

    A source with fewer than ``seq_len + 1`` held-out tokens gets one shorter window. An empty list
    when the manifest has no validation shards.
    """
    manifest = load_manifest(shard_dir)
    names = manifest["sources"]
    pieces: dict[int, list[numpy.ndarray]] = {}
    have: dict[int, int] = {}
    for _, ds, sources in open_shards(shard_dir, "validation"):
        for doc, source in enumerate(sources.tolist()):
            if have.get(source, 0) <= max_tokens:
                tokens = ds.get(doc)
                pieces.setdefault(source, []).append(tokens)
                have[source] = have.get(source, 0) + len(tokens)
    out = []
    for source in sorted(pieces):
        stream = numpy.concatenate(pieces[source]).astype(numpy.int64)[:max_tokens + 1]
        length = min(seq_len, len(stream) - 1)
        if length < 1:
            continue
        n = (len(stream) - 1) // length
        windows = numpy.stack([stream[j * length:j * length + length + 1] for j in range(n)])
        out.append(SourceWindows(names[source], windows, n * length))
    return out
