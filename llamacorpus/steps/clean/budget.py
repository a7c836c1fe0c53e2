"""The per-document work budget every cleaner runs under (LaTeX, wikitext, HTML, licence headers).

Each cleaner is written to be linear in its input; the budget is the general guard for what is
not, so that no document can hang a worker. Work is counted, not timed, so the outcome of a run
does not depend on the machine or its load: a *unit* is about one character that a cleaner's own
code examines or copies (a chunk of text scanned, a macro body pushed, a parse handed to a
library counted as the length of its input). A document may use ``per_char`` units per character
of its input plus ``base`` units; past that the cleaner raises :class:`CleanerBudgetExceeded` and
the mapper returns ``BadInput("cleaner_budget", ...)`` with the document's location and id, so the
document is counted as ``error:cleaner_budget``, written to ``errors/``, and the run goes on.

Real documents use a small fraction of the default (``bench/bench_cleaners.py`` prints the units
per character of the fixtures beside the worst adversarial inputs).
"""
from __future__ import annotations

import dataclasses

from llamacorpus.config import Section

KIND = "cleaner_budget"


@dataclasses.dataclass
class CleanerBudget(Section):
    """Recipe section ``sources.<name>.cleaner_budget`` of the sources that clean markup (arxiv,
    wikipedia, stackexchange, github)."""

    #: work units a document may use per character of its input (about one unit per character
    #: examined: the real papers, pages, posts and files of tests/fixtures use under 10)
    per_char: float = 50.0
    #: work units every document may use besides, however short it is
    base: int = 1_000_000

    def check(self):
        self.require(self.per_char > 0, "per_char", "must be > 0")
        self.require(self.base >= 0, "base", "must be >= 0")

    def meter(self, chars: int) -> "WorkMeter":
        """A fresh meter for one document of ``chars`` characters."""
        return WorkMeter(int(self.per_char * chars) + self.base)


DEFAULT = CleanerBudget()


class CleanerBudgetExceeded(Exception):
    """A cleaner used more work on one document than its budget allows."""

    kind = KIND


class WorkMeter:
    """The work one cleaner spends on one document, against its limit."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int):
        self.limit, self.used = limit, 0

    def spend(self, units: int) -> None:
        self.used += units
        if self.used > self.limit:
            raise CleanerBudgetExceeded(f"cleaner work past its budget of {self.limit} units")


def unlimited() -> WorkMeter:
    """A meter that never runs out (direct calls of the pure functions, outside a step)."""
    return WorkMeter(1 << 62)


def budget_error(doc, exc: CleanerBudgetExceeded, step: str, location: str | None = None):
    """The ``BadInput`` a mapper returns for a document past its budget: ``error:cleaner_budget``
    with the document's location (``location``, else its reader's ``meta.location``, else its
    id) and id."""
    from llamacorpus.steps import BadInput

    where = location or doc["meta"].get("location") or doc["id"]
    return BadInput(KIND, where, f"{step}: {exc}", doc["id"])
