"""Shared test helpers: fixture paths, and running a source's real Beam branch on fixtures."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from llamacorpus import sources as source_registry
from llamacorpus import parquet
from llamacorpus.pipeline import io as pio
from llamacorpus.pipeline import local_runner
from llamacorpus.pipeline import recipe as recipe_mod
from llamacorpus.pipeline.branch import build_source, write_source
from llamacorpus.pipeline.stats import query_counters, source_stats
from llamacorpus.steps import RunContext

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
RECIPE = ROOT / "llamacorpus" / "recipes" / "llama1.yaml"  # the bundled recipe (--recipe llama1)


def test_pipeline() -> TestPipeline:
    """A TestPipeline on Beam's Python FnApiRunner as local runs get it (never Prism: what runs is
    what we tested)."""
    return TestPipeline(runner=local_runner.make_runner(), options=PipelineOptions([]), blocking=False)


test_pipeline.__test__ = False  # a helper, not a test, when imported into a test module


@dataclasses.dataclass
class SourceRun:
    docs: list[dict]  # the documents written to Parquet, read back
    stats: dict  # the source's funnel as run.json has it
    counters: dict[str, int]
    errors: list[dict]
    rejected: dict[str, list[dict]]  # reason -> sample records
    output: Path


def make_context(tmp_path: Path, recipe, input_root: Path = FIXTURES) -> RunContext:
    return RunContext(output=str(tmp_path), models_dir=str(tmp_path / "models"),
                      input_root=str(input_root), batch_size=recipe.batch_size)


def run_source(name: str, section: dict, tmp_path: Path, input_root: Path = FIXTURES, check=None,
               recipe_extra: dict | None = None) -> SourceRun:
    """Build one source's branch in a TestPipeline, run it, and return what it wrote.

    ``check(docs_pcollection)`` may add ``assert_that`` checks inside the graph.
    """
    recipe = recipe_mod.from_dict({"input_root": str(input_root), "output": str(tmp_path),
                                   "sources": {name: section}, "run": [name], **(recipe_extra or {})})
    ctx = make_context(tmp_path, recipe, input_root)
    source = source_registry.get(name)
    cfg = recipe.sources[name]
    p = test_pipeline()
    docs, branch = build_source(p, source, cfg, ctx, source.prepare(cfg, ctx))
    write_source(p, name, docs, branch, str(tmp_path))
    if check is not None:
        check(docs)
    result = p.run()
    result.wait_until_finish()
    counters = query_counters(result)
    rejected_dir = tmp_path / "rejected" / name
    rejected = {f.stem: [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines() if line]
                for f in sorted(rejected_dir.glob("*.jsonl"))}
    return SourceRun(docs=list(parquet.read_documents(str(tmp_path), name)),
                     stats=source_stats(counters, name, branch.step_names), counters=counters,
                     errors=pio.read_jsonl_dir(str(tmp_path / "errors" / name)), rejected=rejected,
                     output=tmp_path)


def assert_accounting(stats: dict) -> None:
    """Documents in = kept + dropped + errored for every step, and each step takes what the
    previous one kept."""
    previous = None
    for step in stats["steps"]:
        assert step["balanced"], f"step {step['step']}: in {step['in']} != kept {step['kept']} + " \
                                 f"dropped {step['dropped_total']} + errors {step['errors_total']}"
        if previous is not None:
            assert step["in"] == previous["kept"], f"step {step['step']} took {step['in']}, " \
                                                   f"{previous['step']} kept {previous['kept']}"
        previous = step
    assert stats["documents_out"] == (stats["steps"][-1]["kept"] if stats["steps"] else 0)
