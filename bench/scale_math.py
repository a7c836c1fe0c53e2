"""The pure parts of bench/scale.py and bench/project.py (issue 15): the process-tree memory sum,
per-stage rows from run.json, linearity and speed-up ratios, shuffle-volume arithmetic, the
projection to LLaMA-1's real sizes and the text tables. No Beam, no timing, no files: every
function maps given numbers to numbers, so tests/test_scale_bench.py checks them in milliseconds.
"""
from __future__ import annotations

import math
import statistics
from typing import Iterable, Mapping

MB = 1e6
GB = 1e9

# ---------------------------------------------------------------------------- the process tree


def parse_stat(text: str) -> tuple[int, int, float]:
    """(pid, ppid, utime+stime ticks) of a ``/proc/<pid>/stat`` line (the command may hold spaces
    and parentheses: the fields after its last ``)`` are fixed)."""
    pid = int(text[: text.index(" ")])
    rest = text[text.rindex(")") + 2:].split()
    # rest[0] is the state (field 3); ppid is field 4, utime 14, stime 15
    return pid, int(rest[1]), float(rest[11]) + float(rest[12])


def steal_ticks(proc_stat: str) -> int:
    """Ticks of every CPU stolen by the hypervisor (``steal``, the 8th number of ``/proc/stat``'s
    ``cpu`` line; 0 where the kernel has no such field): time this guest wanted to run and was not
    let, which slows a run without being its own cost."""
    for line in proc_stat.splitlines():
        if line.startswith("cpu "):
            values = line.split()[1:]
            return int(values[7]) if len(values) > 7 else 0
    return 0


def descendants(parents: Mapping[int, int], root: int) -> set[int]:
    """``root`` and every process below it, from a pid -> ppid map."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in out:
            continue
        out.add(pid)
        todo.extend(children.get(pid, []))
    return out


def tree_rss(parents: Mapping[int, int], rss: Mapping[int, int], root: int) -> int:
    """Resident bytes of ``root``'s whole process tree (processes without an RSS reading count 0)."""
    return sum(rss.get(pid, 0) for pid in descendants(parents, root))


def tree_cpu(seen_max: Mapping[int, float]) -> float:
    """CPU seconds of a polled tree: each process's largest reading (its last one before it ended)."""
    return sum(seen_max.values())


def cpu_used(before: Mapping[int, float], after: Mapping[int, float]) -> float:
    """CPU seconds a tree used between two readings (pid -> CPU s): each process's increase, a
    process born in between from zero; one that ended in between is lost with its last slice."""
    return sum(max(0.0, c - before.get(pid, 0.0)) for pid, c in after.items())


#: cores busy in a polling interval: under 0.5, 0.5 to 1.5, 1.5 or more (for a 2-core machine:
#: idle, one core, both cores)
BUSY_EDGES = (0.5, 1.5)


def busy_bin(cpu_s: float, wall_s: float, edges: tuple[float, ...] = BUSY_EDGES) -> int:
    """Which bin of :data:`BUSY_EDGES` an interval of ``wall_s`` with ``cpu_s`` used falls in."""
    cores = cpu_s / wall_s if wall_s > 0 else 0.0
    return sum(cores >= e for e in edges)


# ---------------------------------------------------------------------------- rows from run.json

def stage_rows(source_stats: Mapping) -> list[dict]:
    """One row per step of a source's run.json entry: in, kept, busy seconds (the adapter's micros
    counter, summed over workers; None for global steps, which have no such counter) and docs/s per
    busy core."""
    rows = []
    for step in source_stats.get("steps", []):
        seconds = step.get("seconds")
        rows.append({"stage": step["step"], "in": step.get("in", 0), "out": step.get("kept", 0),
                     "busy_s": seconds, "docs_per_core_s": rate(step.get("in", 0), seconds),
                     "counters": step.get("counters", {})})
    return rows


def rate(items: float, seconds: float | None) -> float | None:
    """items per second, None when the time is unknown or zero."""
    if not seconds:
        return None
    return items / seconds


def cost_per_doc(seconds: float | None, docs: float) -> float | None:
    if seconds is None or not docs:
        return None
    return seconds / docs


def linearity(small: tuple[float | None, float], large: tuple[float | None, float]) -> float | None:
    """(cost per document at the large factor) / (cost per document at the small one); each
    argument is (seconds, documents). 1.0 is linear cost; above it, superlinear."""
    a, b = cost_per_doc(*small), cost_per_doc(*large)
    if not a or b is None:
        return None
    return b / a


def marginal_rate(small: tuple[float, float], large: tuple[float, float]) -> tuple[float | None, str]:
    """Items per second of the extra items between two runs, each (seconds, items): what a fixed
    start-up cost cancels out of; (None, why) when the larger run is not larger or not slower."""
    ds, dn = large[0] - small[0], large[1] - small[1]
    if dn <= 0 or ds <= 0:
        return None, "no marginal rate"
    return dn / ds, f"{dn:,.0f} extra docs in {ds:.1f} extra s"


def stage_shares(busy: list[float], cpu_s: float) -> list[float]:
    """Each stage's share of a source's CPU seconds from its busy seconds: busy / CPU, all scaled
    down together when their sum exceeds the CPU seconds (busy seconds are wall time in the step,
    which other load on the machine stretches)."""
    denominator = max(cpu_s, sum(busy))
    return [b / denominator if denominator else 0.0 for b in busy]


def speedup(one_worker_s: float | None, many_workers_s: float | None) -> float | None:
    if not one_worker_s or not many_workers_s:
        return None
    return one_worker_s / many_workers_s


def linearity_runs(keys: list[tuple[int, int]]) -> tuple[int, int, int, int | None]:
    """(workers, smallest factor, largest factor, second largest or None) for the linearity ratios,
    from the (factor, workers) runs made: the worker count whose factors span the widest range
    (the fewest workers on a tie)."""
    factors: dict[int, list[int]] = {}
    for f, w in keys:
        factors.setdefault(w, []).append(f)
    w = min(factors, key=lambda w: (-(max(factors[w]) / min(factors[w])), w))
    fs = sorted(set(factors[w]))
    return w, fs[0], fs[-1], (fs[-2] if len(fs) > 1 else None)


def speedup_factor(keys: list[tuple[int, int]]) -> int | None:
    """The largest factor run with both the fewest and the most workers (None without two worker counts)."""
    workers = sorted({w for _, w in keys})
    if len(workers) < 2:
        return None
    both = [f for f, w in keys if w == workers[0] and (f, workers[-1]) in keys]
    return max(both) if both else None


def per_million(value: float, count: float) -> float | None:
    """``value`` scaled to a million items (bytes per million documents, say)."""
    if not count:
        return None
    return value / count * 1e6


def slope(points: Iterable[tuple[float, float]]) -> float | None:
    """Least-squares slope of (x, y) points (RSS against documents: bytes per extra document)."""
    pts = list(points)
    if len(pts) < 2:
        return None
    mx = statistics.fmean(x for x, _ in pts)
    my = statistics.fmean(y for _, y in pts)
    var = sum((x - mx) ** 2 for x, _ in pts)
    if not var:
        return None
    return sum((x - mx) * (y - my) for x, y in pts) / var


def median(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


# ---------------------------------------------------------------------------- shuffle volume

def shuffle_bytes(count: float, bytes_per_item: float) -> float:
    """Bytes a global step shuffles: items counted in the run x encoded bytes per item."""
    return count * bytes_per_item


def mean_bytes(sizes: Iterable[int]) -> tuple[float, int]:
    """(mean encoded size, items) of sampled elements."""
    sizes = list(sizes)
    return (sum(sizes) / len(sizes) if sizes else 0.0), len(sizes)


# ---------------------------------------------------------------------------- projection

def core_hours(items: float, items_per_core_s: float, linearity_ratio: float | None = None) -> float:
    """Core-hours for ``items`` at a measured per-core rate. A measured superlinearity ratio
    above 1 (cost per item grew by that factor over a factor-f growth of the input) is carried
    over as a penalty of the same size: the rate is divided by it (a ratio at or below 1 changes
    nothing: no credit is taken for economies of scale)."""
    penalty = max(1.0, linearity_ratio or 1.0)
    return items / items_per_core_s * penalty / 3600.0


def dataflow_plan(core_h: float, vcpus_per_worker: int, workers: int) -> dict:
    """Wall hours of ``core_h`` core-hours on ``workers`` workers of ``vcpus_per_worker`` vCPUs
    each (perfect scaling assumed: the measured 2-worker speed-up says how far that holds)."""
    cores = vcpus_per_worker * workers
    return {"workers": workers, "vcpus": cores, "hours": core_h / cores if cores else math.inf}


# ---------------------------------------------------------------------------- text tables

def fmt(value, spec: str = ",.0f", none: str = "-") -> str:
    if value is None:
        return none
    if isinstance(value, str):
        return value
    return format(value, spec)


def table(headers: list[str], rows: list[list], align: str | None = None) -> str:
    """A plain fixed-width text table: ``align`` one ``<`` or ``>`` per column (first left, rest right)."""
    align = align or "<" + ">" * (len(headers) - 1)
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, r in enumerate(cells):
        lines.append("  ".join(f"{c:{a}{w}}" for c, a, w in zip(r, align, widths)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
