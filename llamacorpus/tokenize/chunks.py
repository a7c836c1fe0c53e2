"""Cutting a long document's token sequence into chunks of at most ``mixture.chunk_tokens``, so that
a 100k-token book is many units of the mixture, not one (:mod:`llamacorpus.tokenize.mixture`).

The cut is made in the ids of the whole document, never by re-encoding parts of its text, so the
chunks together are exactly the document's ids. Each chunk holds at most ``limit`` text ids, and
ends, in this order of preference, after a line (after an id whose piece ends in a newline, or the
newline byte ``<0x0A>``) in the second half of its window, before a word (an id whose piece starts
with ``▁``) in the second half of its window, or at the limit. A chunk decodes to the lines it
holds; every chunk gets the document's BOS, tag and EOS in the shards, and is known as the
document id plus its chunk number (0, 1, ...).
"""
from __future__ import annotations

import numpy

META = "\u2581"


def boundary_tables(pieces: list[str]) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Per id: (a line ends after it, a word starts with it)."""
    line_end = numpy.array([p == "<0x0A>" or (p.endswith("\n") and not p.startswith("<0x")) for p in pieces],
                           dtype=bool)
    word_start = numpy.array([p.startswith(META) for p in pieces], dtype=bool)
    return line_end, word_start


def chunk_ends(ids: numpy.ndarray, limit: int, line_end: numpy.ndarray, word_start: numpy.ndarray) -> list[int]:
    """The end offsets of the chunks of ``ids`` (the last is ``len(ids)``); one chunk when it fits."""
    n = len(ids)
    if limit <= 0 or n <= limit:
        return [n]
    ends, start = [], 0
    half = max(1, limit // 2)
    while n - start > limit:
        window = ids[start:start + limit]
        after_line = numpy.flatnonzero(line_end[window[half - 1:]])
        if len(after_line):
            end = start + half + int(after_line[-1])
        else:
            before_word = numpy.flatnonzero(word_start[window[half:]])
            end = start + half + int(before_word[-1]) if len(before_word) else start + limit
        ends.append(end)
        start = end
    ends.append(n)
    return ends
