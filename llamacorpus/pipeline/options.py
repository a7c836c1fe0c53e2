"""Command-line options of a pipeline run: our flags, and Beam's PipelineOptions passed through.

Our flags override recipe keys (``--set a.b=value`` for any key; the named flags below for the
common ones). Everything else goes to Beam unchanged: ``--runner``, ``--direct_num_workers``,
``--direct_running_mode``, ``--project``, ``--region``, ``--temp_location``,
``--sdk_container_image``, ``--setup_file``...

Runner: without ``--runner`` (or with ``--runner DirectRunner``) the pipeline runs on Beam's
Python FnApiRunner. Beam's own DirectRunner first tries the Go-based Prism runner, which it
downloads from the internet, and silently falls back; pinning the Python runner means what runs
is what the tests ran. ``--direct_running_mode`` (in_memory, multi_threading, multi_processing)
and ``--direct_num_workers`` apply to it as usual.
"""
from __future__ import annotations

import argparse
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, TestOptions

from llamacorpus.config import add_recipe_arguments

LOCAL_RUNNERS = ("DirectRunner", "FnApiRunner", "SwitchingDirectRunner")

#: named flags and the recipe key each overrides
FLAG_KEYS = {
    "input_root": "input_root",
    "output": "output",
    "models_dir": "models_dir",
    "lid_model": "sources.commoncrawl.lid_model",
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llamacorpus run",
        description="Build the LLaMA-1 corpus from a recipe with Apache Beam. Unknown flags are Beam "
                    "PipelineOptions (--runner, --direct_num_workers, --project, --temp_location, ...).")
    add_recipe_arguments(p)
    p.add_argument("--sources", default=None,
                   help="comma-separated sources to build (default: the recipe's run list)")
    p.add_argument("--input_root", default=None, help="resolve relative input globs against this directory")
    p.add_argument("--output", default=None, help="output directory (local or gs://)")
    p.add_argument("--models_dir", default=None, help="where learnt artifacts live (default <output>/models)")
    p.add_argument("--lid_model", default=None, help="fastText language-ID model (default: bundled lid.176.ftz)")
    p.add_argument("--stages", default="documents,mix",
                   help="comma-separated stages: documents (sources to Parquet), mix (tokenize and shard)")
    p.add_argument("--overwrite", action="store_true", help="rebuild sources already finished in --output")
    p.add_argument("--dry_run", action="store_true",
                   help="build and validate the whole graph for the runner, run nothing")
    p.add_argument("--no_report", action="store_true", help="do not write report.html at the end")
    # progress lines of a local run (llamacorpus.pipeline.progress)
    p.add_argument("--progress_interval", type=float, default=15.0, metavar="SECONDS",
                   help="seconds between progress lines on the local runner (default 15)")
    p.add_argument("--quiet", action="store_true", help="print no progress lines")
    return p


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """(our arguments, the remaining Beam arguments)."""
    args, beam_args = parser().parse_known_args(argv)
    args.stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = set(args.stages) - {"documents", "mix"}
    if unknown:
        parser().error(f"unknown stage(s) {', '.join(sorted(unknown))}; stages are documents, mix")
    if not args.progress_interval > 0:
        parser().error(f"--progress_interval must be > 0 seconds, got {args.progress_interval}")
    return args, beam_args


def named_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {key: getattr(args, flag) for flag, key in FLAG_KEYS.items() if getattr(args, flag, None) is not None}


def pipeline_options(beam_args: list[str], dry_run: bool = False) -> PipelineOptions:
    options = PipelineOptions(beam_args)
    if dry_run and not is_local(options):
        options.view_as(TestOptions).dry_run = True  # Dataflow builds the job request, submits nothing
    return options


def runner_name(options: PipelineOptions) -> str:
    runner = options.view_as(StandardOptions).runner
    return runner if isinstance(runner, str) and runner else "FnApiRunner"


def is_local(options: PipelineOptions) -> bool:
    return runner_name(options).split(".")[-1] in LOCAL_RUNNERS


def make_runner(options: PipelineOptions):
    """The runner object for ``beam.Pipeline``: the Python FnApiRunner for local runs."""
    if is_local(options):
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        return FnApiRunner()
    return runner_name(options)
