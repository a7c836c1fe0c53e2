"""Beam's own cost per record in the generic step adapter, on one core.

Runs the same chain of cheap filters (a) with run_steps (no Beam) and (b) inside Beam's FnApiRunner
(in_memory, one worker) through ApplySteps, on real C4 documents repeated to N, and prints the
difference per record: what Beam adds per record per fused stage (docs/architecture.md "Speed bars" quotes ~17 us).

    /work/venv/bin/python bench/bench_adapter.py [N]
"""
from __future__ import annotations

import gzip
import json
import sys
import time
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from llamacorpus.steps.adapter import ApplySteps
from llamacorpus.document import make_document
from llamacorpus.steps.filters.length import MinChars
from llamacorpus.steps import run_steps

FIXTURE = Path(__file__).resolve().parent.parent / "tests/fixtures/c4/c4-en-train.00000-of-01024.first1000.json.gz"


def documents(n: int, start: int = 0) -> list[dict]:
    with gzip.open(FIXTURE, "rt") as f:
        texts = [json.loads(line)["text"] for line in f]
    return [make_document("c4", f"bench/{i}", texts[i % len(texts)]) for i in range(start, start + n)]


CHUNK = 1000


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    docs = documents(n)
    steps = [MinChars(100), MinChars(200, "shorter")]
    t = time.perf_counter()
    run_steps(steps, docs, "c4")
    plain = time.perf_counter() - t

    def run(stages: int) -> float:
        t = time.perf_counter()
        with beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(["--direct_num_workers", "1"])) as p:
            pc = (p | beam.Create(range(0, n, CHUNK), reshuffle=False)
                  | beam.FlatMap(lambda start: documents(min(CHUNK, n - start), start)))
            for i in range(stages):
                pc = (pc | f"s{i}" >> ApplySteps("c4", steps)).documents
        return time.perf_counter() - t

    empty = run(0)
    one = run(1)
    two = run(2)
    print(f"documents: {n} (real C4 texts, repeated)")
    print(f"run_steps without Beam:          {plain / n * 1e6:7.2f} us/doc")
    print(f"Beam pipeline, reading only:     {empty / n * 1e6:7.2f} us/doc")
    print(f"+1 ApplySteps stage:             {(one - empty) / n * 1e6:7.2f} us/doc")
    print(f"+2 ApplySteps stages:            {(two - empty) / n * 1e6:7.2f} us/doc")
    print("rerun: /work/venv/bin/python bench/bench_adapter.py", n)


if __name__ == "__main__":
    main()
