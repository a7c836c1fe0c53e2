"""The run report: ``llamacorpus stats OUTPUT`` prints the per-source table and writes
``OUTPUT/report.html``; :func:`write_report` is what every pipeline run calls at its end.

Everything comes from what the run wrote (``stats/run.json``: counters, the distributions computed
in the graph by Beam combiners, the mixture, the step reports), plus a few sampled dropped
documents from ``rejected/`` and failed inputs from ``errors/``. The corpus itself is never
re-read, so the report is the same after a Dataflow run; files are read through Beam's
FileSystems, so ``gs://`` outputs work as local ones.

The figures: :mod:`.data`; the page: :mod:`.page`; the plots: :mod:`.plots`.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Iterator

from llamacorpus import fileio
from llamacorpus.report import data as rd
from llamacorpus.report import page as report_html
from llamacorpus.layout import Layout

SAMPLES_PER_REASON = 3
ERROR_LINES_SCANNED = 100_000  # per source: enough to find a few records of every error kind


def load_run(output: str) -> dict:
    path = Layout(output).run_json
    run = fileio.read_json(path)
    if run is None:
        raise FileNotFoundError(f"{path} does not exist: is {output!r} the output of a run?")
    return run


def _records(path: str) -> Iterator[dict]:
    for _, raw in fileio.iter_lines(path):
        if raw.strip():
            try:
                yield json.loads(raw)
            except ValueError:
                continue


def load_rejected(output: str, source: str, per_reason: int) -> dict[str, list[dict]]:
    """reason -> the first ``per_reason`` sampled dropped documents of ``rejected/<source>/<reason>.jsonl``."""
    out = {}
    for path in fileio.match_paths(f"{Layout(output).rejected(source)}/*.jsonl"):
        reason = path.rsplit("/", 1)[-1][: -len(".jsonl")]
        records = []
        for record in _records(path):
            records.append(record)
            if len(records) >= per_reason:
                break
        out[reason] = records
    return out


def load_errors(output: str, source: str, kinds: set[str], per_kind: int) -> dict[str, list[dict]]:
    """kind -> up to ``per_kind`` failed-input records from ``errors/<source>/``."""
    out: dict[str, list[dict]] = {}
    if not kinds:
        return out
    scanned = 0
    for path in fileio.match_paths(f"{Layout(output).errors(source)}/*.jsonl"):
        for record in _records(path):
            scanned += 1
            got = out.setdefault(record.get("kind", ""), [])
            if len(got) < per_kind:
                got.append(record)
            if scanned >= ERROR_LINES_SCANNED or all(len(out.get(k, [])) >= per_kind for k in kinds):
                return out
    return out


def build_html(output: str, run: dict | None = None, per_reason: int = SAMPLES_PER_REASON) -> str:
    run = load_run(output) if run is None else run
    samples, errors = {}, {}
    for source, s in run.get("sources", {}).items():
        samples[source] = load_rejected(output, source, per_reason)
        kinds = {k.partition(":")[2] for k in s.get("errors", {})}
        errors[source] = load_errors(output, source, kinds, per_reason)
    return report_html.page(run, output.rstrip("/"), samples, errors, per_reason)


def write_report(output: str, run: dict | None = None, per_reason: int = SAMPLES_PER_REASON) -> str:
    """Write ``<output>/report.html`` from the run's statistics; returns its path."""
    path = Layout(output).report
    fileio.atomic_write(path, build_html(output, run, per_reason))
    return path


# ---------------------------------------------------------------------------- the printed table

def _table(header: list[str], rows: list[list[str]], text: tuple[int, ...] = (0,)) -> list[str]:
    """Aligned text columns: those in ``text`` to the left, numbers to the right."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row: list[str]) -> str:
        return "  ".join(c.ljust(w) if i in text else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    return [fmt(header), "  ".join("-" * w for w in widths), *map(fmt, rows)]


def format_text(run: dict) -> str:
    """Per source: documents, tokens and bytes in and out, mixture shares; then each source's drop
    funnel by step and reason."""
    header = ["source", "docs in", "docs out", "kept", "tokens in≈", "tokens out", "bytes in", "bytes out",
              "errors", "target", "realised"]
    rows = [[r.source, f"{r.documents_in:,}", f"{r.documents_out:,}", rd.percent(r.kept_fraction),
             rd.human(r.tokens_in_estimate), rd.human(r.tokens_out), rd.human(r.bytes_in, "B"), rd.human(r.bytes_out, "B"),
             f"{r.errors:,}", rd.percent(r.target_share), rd.percent(r.realised_share)] for r in rd.source_rows(run)]
    lines = _table(header, rows)
    for source in rd.source_names(run):
        s = run["sources"][source]
        lines += ["", f"{source}: funnel"]
        funnel_rows = []
        for step in rd.funnel(s):
            dropped = sum(step.dropped.values())
            errors = sum(step.errors.values())
            funnel_rows.append([step.step, f"{step.documents_in:,}", f"{step.kept:,}", f"{dropped:,}", f"{errors:,}",
                                ", ".join(f"{r}={n:,}" for r, n in sorted(step.dropped.items(), key=lambda kv: -kv[1]))
                                + (("; " if step.dropped else "") + ", ".join(f"error:{k}={n:,}" for k, n in step.errors.items())
                                   if step.errors else "")])
        lines += ["  " + line for line in _table(["step", "in", "kept", "dropped", "errors", "reasons"], funnel_rows, (0, 5))]
    if not (run.get("mixture") or {}).get("sources"):
        lines += ["", "mixture: not in this run (the mix stage did not run)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llamacorpus stats",
                                     description="Print a run's per-source table and write OUTPUT/report.html.")
    parser.add_argument("output", help="the output directory of a run (local or gs://)")
    parser.add_argument("--samples", type=int, default=SAMPLES_PER_REASON,
                        help="dropped documents shown per reason (default %(default)s)")
    parser.add_argument("--no_html", action="store_true", help="print the table only")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        run = load_run(args.output)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_text(run))
    if not args.no_html:
        print(f"report: {write_report(args.output, run, args.samples)}")
    return 0
