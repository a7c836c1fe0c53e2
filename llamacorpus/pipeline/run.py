"""One pipeline run: parse the flags strictly, load and validate the recipe, make its local paths
absolute, check the output and the runner's options and every input, build the graph, run it, then
write the statistics (run.json, per-source table) and the report.

Everything that can be wrong before Beam starts is an ``error: ...`` line and exit 2; a source
that fails inside the run (no readable input, too many errors) is an ``error: ...`` line naming
it and exit 1.
"""
from __future__ import annotations

import datetime
import logging
import sys
import time

import apache_beam as beam

from llamacorpus import __version__, fileio
from llamacorpus.config import ConfigError, resolve_paths
from llamacorpus.fileio import InputError
from llamacorpus.pipeline import card, graph, options, progress, stats
from llamacorpus.pipeline import io as pio
from llamacorpus.pipeline.mix import EmptyMixtureError
from llamacorpus.pipeline import recipe as recipe_mod
from llamacorpus.sources.base import RunContext
from llamacorpus.tokenize.mixture import format_table as format_mixture

log = logging.getLogger("llamacorpus")


def load_run(argv: list[str]):
    """Parse flags, load the recipe, check the output, the runner's options and the inputs:
    everything that can fail before Beam. Warnings (what would cost, not fail) go to stderr."""
    args, beam_args = options.parse(argv)
    recipe = resolve_paths(recipe_mod.load(args.recipe, args.overrides, **options.named_overrides(args)))
    for warning in options.preflight(options.pipeline_options(beam_args), recipe.output, recipe.models_dir,
                                     recipe.input_root):
        print(f"warning: {warning}", file=sys.stderr)
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
    """Build and run the graph; the run's dict (run.json), or None when a source failed."""
    opts = options.pipeline_options(beam_args, dry_run=args.dry_run)
    p = beam.Pipeline(runner=options.make_runner(opts), options=opts)
    info = graph.build(p, recipe, names, ctx, inputs, args.stages, overwrite=args.overwrite,
                       verify_inputs=args.verify_inputs)
    runner = options.runner_name(opts)
    if args.dry_run:
        return dry_run(p, opts, info, runner)
    leftovers = pio.remove_leftovers(ctx.output)
    if leftovers:
        log.info("removed %d beam-temp folder(s) a killed run left in %s", len(leftovers), ctx.output)
    for name in info.built:
        pio.clear_source_outputs(ctx.output, name)
    started = time.time()
    with progress.report(args, options.is_local(opts), ctx.output, recipe, info, inputs) as reporter:
        try:
            result = p.run()
            state = result.wait_until_finish()
        except Exception as exc:  # noqa: BLE001 - a failed source is reported by name; anything else re-raised
            failed = pio.failure_messages(str(exc))
            if not failed:
                raise
            for message in failed:
                print(f"error: source {message}", file=sys.stderr)
            return None
        if state is not None and str(state).rsplit(".", 1)[-1] != "DONE":
            print(f"error: the pipeline ended in state {state}", file=sys.stderr)
            return None
        finished = time.time()
        counters = stats.query_counters(result)
        reporter.finish(counters)
    for name in info.built:
        stats.write_source_stats(ctx.output, name, stats.source_stats(counters, name, info.step_order[name]))
    without_stats = [name for name in info.reused if not fileio.exists(ctx.layout.source_stats(name))]
    for name in without_stats:
        marker = pio.read_marker(ctx.output, name) or {}
        print(f"warning: {name}: reused (its documents are complete: {marker.get('documents', '?')} documents), "
              f"but its statistics are missing: the run that built it ended before writing them, so it has no "
              f"row in the table and run.json. Remove {ctx.layout.marker(name)} to rebuild it with them.",
              file=sys.stderr)
    run_info = {
        "started": datetime.datetime.fromtimestamp(started, datetime.timezone.utc).isoformat(),
        "seconds": round(finished - started, 3),
        "runner": runner,
        "version": __version__,
        "sources_built": info.built,
        "sources_reused": info.reused,
        "rebuilt_because": info.reasons,
        "sources_without_stats": without_stats,
        "verify_inputs": args.verify_inputs,
        "stages": args.stages,
    }
    run = stats.build_run_json(ctx.output, names, recipe.to_dict(), recipe.digest(), run_info)
    path = stats.write_run_json(ctx.output, run)
    card.write_card(ctx.output, run)
    print(stats.format_table(run, color=sys.stdout.isatty()))
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
