"""The run report: ``llamacorpus stats OUTPUT`` prints the per-source table and writes
``OUTPUT/report.html``; :func:`write_report` is what every pipeline run calls at its end.

Everything comes from what the run wrote (``stats/run.json``: counters, the distributions computed
in the graph by Beam combiners, the mixture, the step reports), plus a few sampled dropped
documents from ``rejected/``, sampled kept documents from ``samples/`` and failed inputs from
``errors/``. The corpus itself is never re-read, so the report is the same after a Dataflow run;
files are read through Beam's FileSystems, so ``gs://`` outputs work as local ones.

The figures: :mod:`.data`; the page: :mod:`.page`; the plots: :mod:`.plots`; the printed tables:
:mod:`.text`.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Iterator

from llamacorpus import fileio
from llamacorpus.report.text import format_sources, format_text  # noqa: F401 - the printed tables
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


def _first(path: str, n: int) -> list[dict]:
    records: list[dict] = []
    for record in _records(path):
        if len(records) >= n:
            break
        records.append(record)
    return records


def load_rejected(output: str, source: str, per_reason: int) -> dict[str, list[dict]]:
    """reason -> the first ``per_reason`` sampled dropped documents of ``rejected/<source>/<reason>.jsonl``."""
    return {path.rsplit("/", 1)[-1][: -len(".jsonl")]: _first(path, per_reason)
            for path in fileio.match_paths(f"{Layout(output).rejected(source)}/*.jsonl")}


def load_kept(output: str, source: str, n: int) -> list[dict]:
    """The first ``n`` sampled kept documents of ``samples/<source>/kept.jsonl`` ([] when absent)."""
    path = Layout(output).kept_samples(source)
    return _first(path, n) if fileio.exists(path) else []


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
    from llamacorpus.report import page as report_html  # matplotlib loads here, not on import

    run = load_run(output) if run is None else run
    samples, errors, kept = {}, {}, {}
    for source, s in run.get("sources", {}).items():
        samples[source] = load_rejected(output, source, per_reason)
        kept[source] = load_kept(output, source, per_reason)
        kinds = {k.partition(":")[2] for k in s.get("errors", {})}
        errors[source] = load_errors(output, source, kinds, per_reason)
    return report_html.page(run, output.rstrip("/"), samples, errors, per_reason, kept)


def write_report(output: str, run: dict | None = None, per_reason: int = SAMPLES_PER_REASON) -> str:
    """Write ``<output>/report.html`` from the run's statistics; returns its path."""
    path = Layout(output).report
    fileio.atomic_write(path, build_html(output, run, per_reason))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llamacorpus stats",
                                     description="Print a run's per-source table and write OUTPUT/report.html.")
    parser.add_argument("output", help="the output directory of a run (local or gs://)")
    parser.add_argument("--samples", type=int, default=SAMPLES_PER_REASON,
                        help="dropped documents shown per reason, and kept ones per source (default %(default)s)")
    parser.add_argument("--no_html", action="store_true", help="print the table only")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        run = load_run(args.output)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_text(run, color=sys.stdout.isatty()))
    if not args.no_html:
        print(f"report: {write_report(args.output, run, args.samples)}")
    return 0
