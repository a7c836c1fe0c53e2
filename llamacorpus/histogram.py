"""The fixed, mergeable histogram buckets of run.json's distributions (written by
:mod:`llamacorpus.pipeline.stats`, drawn by :mod:`llamacorpus.report`).

Values in [0, 1] fall into 50 linear bins ``u:<i>`` (scores, probabilities), larger values into
log bins ``l:<j>`` of 8 per octave (lengths, perplexities), negative values into ``n:<j>``,
mirrored.
"""
from __future__ import annotations

import math

UNIT_BINS = 50
LOG_BINS_PER_OCTAVE = 8


def bucket_of(value: float) -> str:
    if value < 0:
        return f"n:{math.floor(math.log2(max(-value, 1e-300)) * LOG_BINS_PER_OCTAVE)}"
    if value <= 1:
        return f"u:{min(int(value * UNIT_BINS), UNIT_BINS - 1)}"
    return f"l:{math.floor(math.log2(value) * LOG_BINS_PER_OCTAVE)}"


def bucket_edges(label: str) -> tuple[float, float]:
    """The [low, high) interval of a histogram bucket label."""
    kind, index = label.split(":")
    i = int(index)
    if kind == "u":
        return i / UNIT_BINS, (i + 1) / UNIT_BINS
    low, high = 2 ** (i / LOG_BINS_PER_OCTAVE), 2 ** ((i + 1) / LOG_BINS_PER_OCTAVE)
    if kind == "l":
        return max(low, 1.0), high
    return -high, -low
