"""The mixture plan: how many tokens each source contributes, and the exact quota that realises
it (LLaMA Table 1: sampling proportions, and epochs over each source).

Inputs are the tokens available per source after cleaning (the training split; a document's
tokens are the sequence written to the shards: BOS, tag, text, EOS) and the recipe's
``mixture`` section. The rules:

* **Sources absent from the run** (not built, or nothing left after cleaning) drop out and the
  proportions are renormalised over the present ones; the plan says so. A present source without
  a proportion is not mixed.
* ``total_tokens: 0``: the total is the largest one at which every source stays within its
  recipe epochs, ``T = min_s(epochs_s * available_s / share_s)``; the source that sets it runs
  at exactly its epochs, the others below theirs, and the proportions hold exactly.
* ``total_tokens: T``: each source is asked for ``share_s * T``. When that is more than
  ``epochs_s * available_s`` (a *shortfall*), ``mixture.shortfall`` decides and the plan says
  which source was short and what was done:

  - ``scale_down``: lower the total until no source is short (the proportions hold);
  - ``repeat``: keep the total and the proportions, the short source passes its epochs;
  - ``redistribute``: cap the short source at its epochs and share what it cannot give among the
    others in proportion (water-filling; repeated while another becomes short). If every source
    is capped the total is not reached, and the plan says so.

* A source's **rate** is planned / available: below 1 a subsample, above 1 repeats. The mixture
  is made of *units*: a document, or, when its sequence is longer than ``mixture.chunk_tokens``,
  each of its chunks (cut on line boundaries where possible: :mod:`llamacorpus.tokenize.chunks`).
  A rate ``r`` passes ``floor(r)`` whole epochs over the source (every unit once per epoch), then
  a last, partial epoch ``e = floor(r)`` takes units in the order of ``stable_hash(id, chunk, e,
  seed)`` until the remaining planned tokens are reached (:mod:`llamacorpus.tokenize.quota`,
  ``nearest``): the realised tokens of a source are within half a unit of its plan, and every
  copy of a unit has its own epoch.
* The **check** (:func:`add_realised`): a source with a recipe proportion but no tokens in the
  shards is ``absent``, one whose realised share is more than ``mixture.tolerance_pp``
  percentage points off its target share is ``off_target``; either makes the mixture not ok.
"""
from __future__ import annotations

import dataclasses
import math
import sys
from typing import Iterable, Mapping

from llamacorpus.config import Section, field
from llamacorpus.document import SOURCES, stable_hash

OK, ABSENT, OFF_TARGET = "ok", "absent", "off_target"


@dataclasses.dataclass
class MixtureWeight(Section):
    proportion: float = 0.0  # share of the mixed tokens (Table 1 "sampling prop.")
    epochs: float = 1.0  # most passes over the source's available tokens (Table 1 "epochs")

    def check(self):
        self.require(0 <= self.proportion <= 1, "proportion", f"must be in [0, 1], got {self.proportion}")
        self.require(self.epochs > 0, "epochs", f"must be > 0, got {self.epochs}")


SHORTFALL_RULES = ("scale_down", "repeat", "redistribute")


@dataclasses.dataclass
class MixtureConfig(Section):
    enabled: bool = True
    weights: dict[str, MixtureWeight] = field({})
    #: tokens to emit in all; 0 = the largest mixture at the proportions with no source past its
    #: epochs (llamacorpus/tokenize/mixture.py)
    total_tokens: int = 0
    #: when total_tokens asks a source for more than its epochs allow: scale_down (shrink the total,
    #: keep the proportions), repeat (keep both, pass its epochs) or redistribute (cap it at its
    #: epochs, give the rest to the others in proportion)
    shortfall: str = "scale_down"
    #: salt of the partial epoch's order hash (document id, chunk, epoch)
    seed: int = 0
    #: a document whose sequence (BOS, tag, text, EOS) is longer is cut into chunks of at most this
    #: many tokens, on line boundaries where possible (LLaMA's context length); 0 keeps documents whole
    chunk_tokens: int = 2048
    #: the realised share of a source may differ from its target share by this many percentage points
    tolerance_pp: float = 0.5

    def check(self):
        for name in self.weights:
            self.require(name in SOURCES, "weights", f"unknown source {name!r} (sources: {', '.join(SOURCES)})")
        total = sum(w.proportion for w in self.weights.values())
        self.require(not self.weights or abs(total - 1.0) < 1e-6, "weights",
                     f"proportions must sum to 1, got {total:.6f}")
        self.require(self.total_tokens >= 0, "total_tokens", "must be >= 0")
        self.require(self.chunk_tokens == 0 or self.chunk_tokens >= 16, "chunk_tokens",
                     f"must be 0 (documents whole) or >= 16, got {self.chunk_tokens}")
        self.require(self.tolerance_pp >= 0, "tolerance_pp", f"must be >= 0, got {self.tolerance_pp}")
        self.require(self.shortfall in SHORTFALL_RULES, "shortfall",
                     f"must be one of {', '.join(SHORTFALL_RULES)}, got {self.shortfall!r}")


def proportions(cfg: MixtureConfig) -> dict[str, float]:
    return {s: w.proportion for s, w in cfg.weights.items()}


def water_fill(shares: Mapping[str, float], caps: Mapping[str, float], budget: float) -> dict[str, float]:
    """Split ``budget`` in proportion to ``shares``, no source above its cap; what a capped source
    cannot take goes to the others in proportion. Returns the allocation per source."""
    alloc = {s: 0.0 for s in shares}
    free = {s: w for s, w in sorted(shares.items()) if w > 0}
    remaining = float(budget)
    while free and remaining > 0:
        weight = sum(free.values())
        capped = [s for s, w in free.items() if w / weight * remaining >= caps[s]]
        if not capped:
            for s, w in free.items():
                alloc[s] = w / weight * remaining
            break
        for s in capped:
            alloc[s] = float(caps[s])
            remaining -= caps[s]
            del free[s]
    return alloc


def present_shares(weights: Mapping[str, float], available: Mapping[str, float]) -> tuple[dict[str, float], list[str]]:
    """Proportions renormalised over the sources with something available, and notes on what was
    left out."""
    notes = []
    present = {s: w for s, w in weights.items() if w > 0 and available.get(s, 0) > 0}
    absent = sorted((s for s, w in weights.items() if w > 0 and s not in present), key=_order)
    unweighted = sorted((s for s, n in available.items() if n > 0 and weights.get(s, 0) <= 0), key=_order)
    if absent:
        missing = sum(weights[s] for s in absent)
        notes.append(f"absent from this run: {', '.join(absent)} ({missing:.1%} of the mixture); "
                     f"proportions renormalised over {', '.join(sorted(present, key=_order)) or 'nothing'}")
    if unweighted:
        notes.append(f"no proportion in mixture.weights, not mixed: {', '.join(unweighted)}")
    total = sum(present.values())
    return {s: w / total for s, w in present.items()} if total else {}, notes


def _order(source: str) -> int:
    return SOURCES.index(source) if source in SOURCES else len(SOURCES)


def make_plan(available: Mapping[str, int], weights: Mapping[str, tuple[float, float]],
              total_tokens: int = 0, shortfall: str = "scale_down") -> dict:
    """The plan (see the module docstring). ``weights``: source -> (proportion, epochs)."""
    proportions = {s: p for s, (p, _) in weights.items()}
    epochs = {s: e for s, (_, e) in weights.items()}
    shares, notes = present_shares(proportions, available)
    caps = {s: epochs[s] * available[s] for s in shares}
    if not shares:
        target = planned_total = 0.0
        planned = {}
        notes.append("nothing to mix: no present source has a proportion")
    elif total_tokens <= 0:
        limit, binding = min((caps[s] / shares[s], s) for s in sorted(shares))
        target = planned_total = limit
        planned = {s: shares[s] * limit for s in shares}
        notes.append(f"total planned from the available tokens: {binding} runs at its recipe epochs "
                     f"({epochs[binding]:g}), every other source within its own")
    else:
        target = float(total_tokens)
        planned = {s: shares[s] * target for s in shares}
        short = sorted((s for s in shares if planned[s] > caps[s] * (1 + 1e-12)), key=_order)
        if short:
            what = ", ".join(f"{s} (asked {planned[s] / available[s]:.2f} epochs, recipe {epochs[s]:g})" for s in short)
            if shortfall == "scale_down":
                limit = min(caps[s] / shares[s] for s in shares)
                planned = {s: shares[s] * limit for s in shares}
                notes.append(f"shortfall: {what}; scale_down: total lowered from {target:,.0f} to "
                             f"{limit:,.0f} tokens, proportions kept")
            elif shortfall == "repeat":
                notes.append(f"shortfall: {what}; repeat: total and proportions kept, short sources "
                             "repeated past their recipe epochs")
            elif shortfall == "redistribute":
                planned = water_fill(shares, caps, target)
                notes.append(f"shortfall: {what}; redistribute: short sources capped at their epochs, "
                             "the rest shared among the others in proportion (shares change)")
                if sum(planned.values()) < target * (1 - 1e-9):
                    notes.append(f"redistribute: every source at its epochs; {sum(planned.values()):,.0f} "
                                 f"of the {target:,.0f} tokens asked")
            else:
                raise ValueError(f"unknown shortfall rule {shortfall!r}")
        planned_total = sum(planned.values())
    rows = []
    for s in sorted(set(available) | set(weights), key=_order):
        a = int(available.get(s, 0))
        p = planned.get(s, 0.0)
        rate = p / a if a else 0.0
        full = whole_epochs(p, a)
        rows.append({"source": s, "available_tokens": a, "proportion": proportions.get(s, 0.0),
                     "target_share": shares.get(s, 0.0), "epochs": epochs.get(s, 0.0),
                     "planned_tokens": round(p), "planned_share": p / planned_total if planned_total else 0.0,
                     "rate": rate, "whole_epochs": full, "partial_tokens": max(0.0, p - full * a)})
    return {"total_tokens_asked": int(total_tokens), "shortfall_rule": shortfall,
            "planned_tokens": round(planned_total), "target_tokens": round(target), "notes": notes, "sources": rows}


def whole_epochs(planned: float, available: int) -> int:
    """The epochs that take every unit of a source (a rate a hair below an integer counts as it)."""
    return math.floor(planned / available + 1e-9) if available else 0


def quota_rows(plan: dict) -> dict[str, tuple[int, float]]:
    """source -> (whole epochs, tokens the partial epoch takes)."""
    return {r["source"]: (r["whole_epochs"], r["partial_tokens"]) for r in plan["sources"]}


def add_realised(plan: dict, realised_tokens: Mapping[str, int], realised_documents: Mapping[str, int],
                 tolerance_pp: float = 0.5) -> dict:
    """The plan with the mixture measured on the written shards beside it and each source's
    status (module docstring, "The check")."""
    total = sum(realised_tokens.values())
    rows = []
    for row in plan["sources"]:
        s = row["source"]
        got = int(realised_tokens.get(s, 0))
        share = got / total if total else 0.0
        off = 100.0 * (share - row["target_share"])
        if row["proportion"] > 0 and got == 0:
            status = ABSENT
        elif abs(off) > tolerance_pp + 1e-9:
            status = OFF_TARGET
        else:
            status = OK
        rows.append({**row, "realised_tokens": got, "realised_documents": int(realised_documents.get(s, 0)),
                     "realised_share": share, "off_pp": off, "status": status, "ok": status == OK})
    return {**plan, "sources": rows, "realised_tokens": total, "tolerance_pp": tolerance_pp,
            "ok": all(r["ok"] for r in rows)}


RED, RESET = "\033[31m", "\033[0m"


def format_table(plan: dict, color: bool | None = None) -> str:
    """The plan (and, once measured, the realised mixture) as the text table a run prints; rows
    that fail the check in red when ``color`` (default: standard output is a terminal)."""
    if color is None:
        color = sys.stdout.isatty()
    realised = "realised_tokens" in plan
    header = ["source", "available", "target share", "epochs", "planned", "rate"]
    if realised:
        header += ["realised", "realised share", "off (pp)", "status"]
    lines, bad = [], []
    for r in plan["sources"]:
        row = [r["source"], f"{r['available_tokens']:,}", f"{r['target_share']:.1%}", f"{r['epochs']:g}",
               f"{r['planned_tokens']:,}", f"{r['rate']:.3f}"]
        if realised:
            row += [f"{r['realised_tokens']:,}", f"{r['realised_share']:.1%}", f"{r['off_pp']:+.2f}",
                    r["status"] if r["ok"] else r["status"].upper()]
        lines.append(row)
        bad.append(realised and not r["ok"])
    total = ["total", f"{sum(r['available_tokens'] for r in plan['sources']):,}", "100.0%", "",
             f"{plan['planned_tokens']:,}", ""]
    if realised:
        total += [f"{plan['realised_tokens']:,}", "100.0%", f"±{plan['tolerance_pp']:g}",
                  "ok" if plan["ok"] else "FAILED"]
    widths = [max(len(x[i]) for x in [header, *lines, total]) for i in range(len(header))]

    def fmt(row: Iterable[str], red: bool = False) -> str:
        text = "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
        return f"{RED}{text}{RESET}" if red and color else text

    out = ["mixture plan" + (" and realised mixture" if realised else ""), fmt(header),
           "  ".join("-" * w for w in widths), *(fmt(r, b) for r, b in zip(lines, bad)),
           fmt(total, realised and not plan["ok"])]
    out += [f"note: {n}" for n in plan["notes"]]
    if realised and not plan["ok"]:
        failed = [f"{r['source']} {r['status']}" for r in plan["sources"] if not r["ok"]]
        line = f"mixture check FAILED (tolerance {plan['tolerance_pp']:g} pp): {', '.join(failed)}"
        out.append(f"{RED}{line}{RESET}" if color else line)
    return "\n".join(out)


def quota_order(doc_id: str, chunk: int, epoch: int, seed: int = 0) -> int:
    """The order of a unit in its source's partial epoch (salted apart from the shuffle hash, so
    the units a partial epoch takes are not the first ones of each shard)."""
    return stable_hash(doc_id, chunk, epoch, "mixture", seed)
