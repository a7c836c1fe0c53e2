"""The printed tables: the per-source table a run prints at its end and ``llamacorpus stats``
prints too (one function, the same columns), the run's warnings, and each source's funnel.

Every count is in one format (``1,234``), shares and kept fractions as percentages. A failure
(a planned source absent from the shards or off its target, an untrained classifier) is written
as a word (``ABSENT``, ``OFF TARGET``, ``warning:``), in red where the output is a terminal.
"""
from __future__ import annotations

from llamacorpus.report import data as rd

RED, RESET = "\033[31m", "\033[0m"
SOURCE_COLUMNS = ("source", "read", "docs out", "kept", "chars in", "chars out", "tokens out", "errors",
                  "target", "realised", "mixture", "top drop reasons")
STATUS_WORDS = {"ok": "ok", "absent": "ABSENT", "off_target": "OFF TARGET", None: "–"}


def _red(text: str, color: bool) -> str:
    return f"{RED}{text}{RESET}" if color else text


def table(header: list[str] | tuple[str, ...], rows: list[list[str]], text: tuple[int, ...] = (0,),
          red: set[tuple[int, int]] = frozenset(), color: bool = False) -> list[str]:
    """Aligned columns: those in ``text`` to the left, numbers to the right; cells ``(row, column)``
    in ``red`` are coloured when ``color``."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row: list[str], r: int | None = None) -> str:
        cells = []
        for i, (c, w) in enumerate(zip(row, widths)):
            cell = c.ljust(w) if i in text else c.rjust(w)
            cells.append(_red(cell, color) if (r, i) in red else cell)
        return "  ".join(cells).rstrip()

    return [fmt(list(header)), "  ".join("-" * w for w in widths), *(fmt(row, r) for r, row in enumerate(rows))]


def mixture_word(check: rd.MixtureCheck | None) -> str:
    if check is None:
        return "–"
    word = STATUS_WORDS.get(check.status, str(check.status).upper())
    if check.status == "off_target" and check.off_by_pp is not None:
        word += f" {check.off_by_pp:+.1f} pp"
    return word


def source_table(run: dict, color: bool = False) -> list[str]:
    """The per-source table: records read, documents out and kept (of the records read), characters
    in and out, tokens in the mixture, errors, target and realised share and the mixture's verdict,
    the largest drop reasons."""
    checks = {c.source: c for c in rd.mixture_checks(run)[0]}
    rows, red = [], set()
    for i, r in enumerate(rd.source_rows(run)):
        s = run["sources"][r.source]
        top = sorted(s["dropped"].items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        check = checks.get(r.source)
        rows.append([r.source, rd.number(r.records_read), rd.number(r.documents_out), rd.percent(r.kept_fraction),
                     rd.number(r.chars_in), rd.number(r.chars_out), rd.number(r.tokens_out), rd.number(r.errors),
                     rd.percent(r.target_share), rd.percent(r.realised_share), mixture_word(check),
                     ", ".join(f"{k}={v:,}" for k, v in top) or "-"])
        if check is not None and check.ok is False:
            red |= {(i, 9), (i, 10)}
    return table(SOURCE_COLUMNS, rows, text=(0, 10, 11), red=red, color=color)


def warning_lines(run: dict, color: bool = False) -> list[str]:
    return [_red(f"warning: {w.source}: {w.message}", color) for w in rd.warnings(run)]


def format_sources(run: dict, color: bool = False) -> str:
    """The source table and the warnings under it (what a run prints at its end)."""
    return "\n".join(source_table(run, color) + warning_lines(run, color))


def funnel_lines(run: dict, source: str) -> list[str]:
    rows = []
    for step in rd.funnel(run["sources"][source]):
        reasons = ", ".join(f"{r}={n:,}" for r, n in sorted(step.dropped.items(), key=lambda kv: -kv[1]))
        if step.errors:
            reasons += ("; " if reasons else "") + ", ".join(f"error:{k}={n:,}" for k, n in step.errors.items())
        rows.append([step.step, rd.number(step.documents_in), rd.number(step.kept), rd.number(sum(step.dropped.values())),
                     rd.number(sum(step.errors.values())), reasons])
    return ["  " + line for line in table(["step", "in", "kept", "dropped", "errors", "reasons"], rows, (0, 5))]


def format_text(run: dict, color: bool = False) -> str:
    """``llamacorpus stats``: the source table and warnings, then each source's drop funnel by step
    and reason."""
    lines = source_table(run, color) + warning_lines(run, color)
    for source in rd.source_names(run):
        lines += ["", f"{source}: funnel", *funnel_lines(run, source)]
    if not (run.get("mixture") or {}).get("sources"):
        lines += ["", "mixture: not in this run (the mix stage did not run)"]
    return "\n".join(lines)
