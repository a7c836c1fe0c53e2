"""One pipeline run: load and validate the recipe, check every input, build the graph, run it,
then write the statistics (run.json, per-source table) and the report."""
from __future__ import annotations

import datetime
import logging
import sys
import time

import apache_beam as beam

from llamacorpus import __version__
from llamacorpus.config import ConfigError
from llamacorpus.fileio import InputError
from llamacorpus.pipeline import graph, options, stats
from llamacorpus.pipeline import io as pio
from llamacorpus.pipeline.mix import EmptyMixtureError
from llamacorpus.pipeline import recipe as recipe_mod
from llamacorpus.sources.base import RunContext
from llamacorpus.tokenize.mixture import format_table as format_mixture

log = logging.getLogger("llamacorpus")


def load_run(argv: list[str]):
    """Parse flags, load the recipe and check the inputs: everything that can fail before Beam."""
    args, beam_args = options.parse(argv)
    recipe = recipe_mod.load(args.recipe, args.overrides, **options.named_overrides(args))
    names = [s.strip() for s in args.sources.split(",") if s.strip()] if args.sources else recipe.selected_sources()
    for name in names:
        if name not in recipe.sources:
            raise ConfigError(f"--sources: {name!r} has no section under sources in {args.recipe} "
                              f"(configured: {', '.join(recipe.sources)})")
    ctx = RunContext(output=recipe.output.rstrip("/"), models_dir=recipe.models,
                     input_root=recipe.input_root, batch_size=recipe.batch_size)
    inputs = graph.prepare(recipe, names, ctx)
    return args, beam_args, recipe, names, ctx, inputs


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    argv = sys.argv[1:] if argv is None else argv
    try:
        args, beam_args, recipe, names, ctx, inputs = load_run(argv)
    except (ConfigError, InputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        result = execute(args, beam_args, recipe, names, ctx, inputs)
    except EmptyMixtureError as exc:  # raised in the graph by the mix stage's plan step
        print(f"error: {str(exc).split(' [while running')[0]}", file=sys.stderr)
        return 1
    return 0 if result is not None else 1


def execute(args, beam_args, recipe, names, ctx, inputs) -> dict | None:
    opts = options.pipeline_options(beam_args, dry_run=args.dry_run)
    p = beam.Pipeline(runner=options.make_runner(opts), options=opts)
    info = graph.build(p, recipe, names, ctx, inputs, args.stages, overwrite=args.overwrite)
    runner = options.runner_name(opts)
    if args.dry_run:
        return dry_run(p, opts, info, runner)
    for name in info.built:
        pio.clear_source_outputs(ctx.output, name)
    started = time.time()
    result = p.run()
    result.wait_until_finish()
    finished = time.time()
    counters = stats.query_counters(result)
    for name in info.built:
        source_stats = stats.source_stats(counters, name, info.step_order[name])
        stats.write_source_stats(ctx.output, name, source_stats)
        pio.write_marker(ctx.output, name, info.fingerprints[name],
                         {"documents": source_stats["documents_out"], "version": __version__})
    run_info = {
        "started": datetime.datetime.fromtimestamp(started, datetime.timezone.utc).isoformat(),
        "seconds": round(finished - started, 3),
        "runner": runner,
        "version": __version__,
        "sources_built": info.built,
        "sources_reused": info.reused,
        "stages": args.stages,
    }
    run = stats.build_run_json(ctx.output, names, recipe.to_dict(), recipe.digest(), run_info)
    path = stats.write_run_json(ctx.output, run)
    print(stats.format_table(run))
    if run["mixture"] and "mix" in args.stages:
        print(format_mixture(run["mixture"]))
    print(f"statistics: {path}")
    if recipe.report and not args.no_report:
        write_report(ctx.output)
    return run


def dry_run(p: beam.Pipeline, opts, info, runner: str) -> dict:
    """Validate the whole graph for the runner without running it."""
    proto = p.to_runner_api()  # every transform must translate for a portable runner
    if not options.is_local(opts):
        p.run()  # DataflowRunner with TestOptions.dry_run: builds the job request, submits nothing
    n = len(proto.components.transforms)
    print(f"dry run: graph of {n} transforms for {runner} is valid; sources built: "
          f"{', '.join(info.built) or '-'}; reused: {', '.join(info.reused) or '-'}")
    return {"dry_run": True, "transforms": n, "runner": runner}


def write_report(output: str) -> None:
    from llamacorpus import report

    path = report.write_report(output)
    print(f"report: {path}")
