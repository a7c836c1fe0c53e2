"""The trainer's view of a shard directory: fixed-length token windows, packed across documents.

Training: the training shards of the manifest, in manifest order, are one token stream (each
shard's ``.bin`` memory-mapped, never read whole). Window ``w`` is tokens ``[w*L, w*L + L + 1)``:
``L`` inputs and the ``L`` next-token targets, so consecutive windows share one token and a window
crosses document boundaries freely (each document carries its own BOS/EOS from the shard stage).

Order: the mix stage shuffled documents into the shards, but neighbouring windows still come from
the same document, so a batch of consecutive windows would be one stretch of one text. The trainer
therefore reads position ``p`` (0, 1, 2, ... over the whole run) as window ``order(p mod n)`` of epoch
``p // n``, where ``order`` is a pseudo-random permutation of the ``n`` windows, different for each
epoch and seed: a four-round Feistel network on ``2^(2h) >= n`` values with cycle walking. It needs no
stored index (a 1.4T-token corpus has ~700M windows), any position maps to its window directly, so
the data position of a checkpoint is one integer; the trainer hands each data-parallel rank its own
disjoint range of positions.

Validation: the manifest's held-out shards, grouped by source with the ``.sources.npy`` beside each
shard; each source's documents are packed into windows the same way (in order), up to a token
budget per source, so every source's loss is measured on the same amount of text.
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


MASK64 = (1 << 64) - 1


def _mix64(x):
    """SplitMix64's finaliser: a 64-bit hash (numpy uint64 arrays wrap silently; ints are masked)."""
    if isinstance(x, int):
        x = (x + 0x9E3779B97F4A7C15) & MASK64
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
        return x ^ (x >> 31)
    x = x + numpy.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> numpy.uint64(30))) * numpy.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> numpy.uint64(27))) * numpy.uint64(0x94D049BB133111EB)
    return x ^ (x >> numpy.uint64(31))


class WindowOrder:
    """Pseudo-random permutations of ``range(n)``, one per (seed, epoch), computed not stored."""

    ROUNDS = 4

    def __init__(self, n: int, seed: int):
        self.n, self.seed = n, seed
        self.half_bits = max(1, (max(n - 1, 1).bit_length() + 1) // 2)
        self.mask = numpy.uint64((1 << self.half_bits) - 1)

    def _feistel(self, x: numpy.ndarray, keys: list[int]) -> numpy.ndarray:
        shift = numpy.uint64(self.half_bits)
        left, right = x >> shift, x & self.mask
        for key in keys:
            left, right = right, left ^ (_mix64(right ^ numpy.uint64(key)) & self.mask)
        return (left << shift) | right

    def __call__(self, positions: numpy.ndarray) -> numpy.ndarray:
        """Window numbers of run positions (any non-negative integers)."""
        positions = numpy.asarray(positions, dtype=numpy.int64)
        out = numpy.empty_like(positions)
        for epoch in numpy.unique(positions // self.n).tolist():
            sel = positions // self.n == epoch
            keys = [_mix64((self.seed << 40) ^ (epoch << 8) ^ r) for r in range(self.ROUNDS)]
            x = self._feistel((positions[sel] % self.n).astype(numpy.uint64), keys)
            while (outside := x >= numpy.uint64(self.n)).any():  # cycle walking back into range(n)
                x[outside] = self._feistel(x[outside], keys)
            out[sel] = x.astype(numpy.int64)
        return out


class TrainWindows:
    """Windows of ``seq_len`` inputs (+1 target) over the training shards, in the order of ``seed``."""

    def __init__(self, shard_dir: str, seq_len: int, seed: int = 0):
        self.manifest = load_manifest(shard_dir)
        self.seq_len = seq_len
        self.stream = TokenStream([ds.tokens for _, ds, _ in open_shards(shard_dir, "train")])
        self.num_windows = (len(self.stream) - 1) // seq_len
        if self.num_windows < 1:
            raise ValueError(f"{shard_dir}: {len(self.stream)} training tokens are fewer than one window of "
                             f"{seq_len + 1}")
        self.order = WindowOrder(self.num_windows, seed)

    def window(self, number: int) -> numpy.ndarray:
        """Window ``number`` of the stream (``0 <= number < num_windows``)."""
        return self.stream.read(number * self.seq_len, self.seq_len + 1)

    def batch(self, first: int, count: int) -> numpy.ndarray:
        """The windows at run positions ``first .. first + count - 1`` as a (count, seq_len + 1) int64 array."""
        return numpy.stack([self.window(w) for w in self.order(numpy.arange(first, first + count)).tolist()])


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
