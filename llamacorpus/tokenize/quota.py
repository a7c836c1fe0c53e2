"""Exact quotas: from each group (a source), take items in a deterministic hash order until a
target weight (tokens, characters) is reached, without any step holding a whole group.

Every item has a 64-bit ``order`` hash, a ``tiebreak`` (its id: equal hashes stay ordered) and a
``weight``. The cut is found in two passes, both Beam combiners (``pipeline/mix.py``):

1. a :class:`Histogram` of weight per *bucket* (the top :data:`BUCKET_BITS` bits of the order)
   gives the bucket where the running weight reaches the target (:func:`boundary`);
2. the items of that one bucket (about ``1 / 2**BUCKET_BITS`` of the group), sorted, give the
   last item taken (:func:`cut`).

An item is taken when its bucket is below the boundary's, or in it and not after the last item
taken (:func:`taken`). Two rules for the last item: ``nearest`` (the mixture: the taken weight is
the closest the order allows to the target, so within half an item of it) and ``at_most`` (the
tokenizer sample: never more than the target).
"""
from __future__ import annotations

from typing import Callable, Iterable, Mapping, NamedTuple

BUCKET_BITS = 16
BUCKETS = 1 << BUCKET_BITS
NEAREST, AT_MOST = "nearest", "at_most"


def bucket(order: int) -> int:
    return order >> (64 - BUCKET_BITS)


class Histogram:
    """Mergeable weight per bucket of one group (sparse: a small group stays small)."""

    def __init__(self):
        self.weights: dict[int, int] = {}
        self.items = 0

    def add(self, order: int, weight: int) -> "Histogram":
        b = order >> (64 - BUCKET_BITS)
        self.weights[b] = self.weights.get(b, 0) + weight
        self.items += 1
        return self

    def merge(self, other: "Histogram") -> "Histogram":
        for b, w in other.weights.items():
            self.weights[b] = self.weights.get(b, 0) + w
        self.items += other.items
        return self

    @property
    def total(self) -> int:
        return sum(self.weights.values())


class Boundary(NamedTuple):
    """Where a group's target is reached: the bucket, the weight of the buckets before it, and
    the target. ``bucket`` -1 takes nothing, :data:`BUCKETS` takes everything."""

    bucket: int
    before: int
    target: float


def boundary(hist: Histogram, target: float) -> Boundary:
    if target <= 0:
        return Boundary(-1, 0, target)
    if target >= hist.total:
        return Boundary(BUCKETS, hist.total, target)
    before = 0
    for b in sorted(hist.weights):
        w = hist.weights[b]
        if before + w >= target:
            return Boundary(b, before, target)
        before += w
    raise AssertionError("unreachable: target below the total")


class Cut(NamedTuple):
    """Items in buckets below ``bucket`` are taken; in ``bucket``, those whose ``(order,
    tiebreak)`` is at most ``last`` (none when ``last`` is None)."""

    bucket: int
    last: tuple | None
    taken: int  # the weight taken in all


def cut(bound: Boundary, items: Iterable[tuple[int, str, int]], rule: str = NEAREST) -> Cut:
    """The cut from the boundary and the ``(order, tiebreak, weight)`` items of its bucket."""
    if bound.bucket < 0 or bound.bucket >= BUCKETS:
        return Cut(bound.bucket, None, bound.before)
    ordered = sorted(items)
    best, best_k, running = bound.before, 0, bound.before
    for k, (_, _, weight) in enumerate(ordered, 1):
        running += weight
        if rule == AT_MOST:
            if running > bound.target:
                break
            best, best_k = running, k
        elif abs(running - bound.target) <= abs(best - bound.target):
            best, best_k = running, k
        elif running > bound.target:
            break
    last = tuple(ordered[best_k - 1][:2]) if best_k else None
    return Cut(bound.bucket, last, best)


def taken(c: Cut, order: int, tiebreak: str) -> bool:
    b = order >> (64 - BUCKET_BITS)
    if b != c.bucket:
        return b < c.bucket
    return c.last is not None and (order, tiebreak) <= c.last


def local_cuts(items: Callable[[], Iterable[tuple[str, tuple[int, str, int]]]],
               targets: Callable[[dict[str, int]], Mapping[str, float]], rule: str = NEAREST) -> dict[str, Cut]:
    """The cuts without Beam, in two passes over ``items()`` (``(group, (order, tiebreak, weight))``):
    what the graph's combiners compute. ``targets(totals)``: group -> target from the total
    weight per group."""
    hists: dict[str, Histogram] = {}
    for group, (order, _, weight) in items():
        hists.setdefault(group, Histogram()).add(order, weight)
    wanted = targets({g: h.total for g, h in hists.items()})
    bounds = {g: boundary(h, wanted.get(g, 0)) for g, h in hists.items()}
    inside: dict[str, list] = {g: [] for g in bounds}
    for group, item in items():
        if bucket(item[0]) == bounds[group].bucket:
            inside[group].append(item)
    return {g: cut(bounds[g], inside[g], rule) for g in bounds}
