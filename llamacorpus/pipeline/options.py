"""Command-line options of a pipeline run: our flags, and Beam's PipelineOptions passed through.

Our flags override recipe keys (``--set a.b=value`` for any key; the named flags below for the
common ones). Every other argument must be a Beam pipeline option (one that a registered
``PipelineOptions`` class declares: ``--runner``, ``--direct_num_workers``, ``--project``,
``--temp_location``, ``--sdk_container_image``...) and goes to Beam unchanged. Anything else (a
typo such as ``--dry-run``) is refused with the closest match before anything runs: Beam alone
would only warn and start the job, a paid one on Dataflow.

Before the run, :func:`preflight` checks what would otherwise fail minutes in: the output must
be a writable directory (or a gs:// location with a valid bucket name), ``--temp_location`` and
``--staging_location`` must name valid buckets; it warns when Dataflow workers would compile
fasttext and kenlm at every start (no ``--sdk_container_image``) and when the launcher's Beam or
Python differs from the worker image's (:data:`WORKER_IMAGE`, the Dockerfile's base).

Runner: without ``--runner`` (or with ``--runner DirectRunner``) the pipeline runs on Beam's
Python FnApiRunner. Beam's own DirectRunner first tries the Go-based Prism runner, which it
downloads from the internet, and silently falls back; pinning the Python runner means what runs
is what the tests ran. ``--direct_running_mode`` (in_memory, multi_threading, multi_processing)
and ``--direct_num_workers`` apply to it as usual.
"""
from __future__ import annotations

import argparse
import difflib
import importlib.util
import ipaddress
import platform
import re
from typing import Any

import apache_beam
from apache_beam.options.pipeline_options import (GoogleCloudOptions, PipelineOptions, StandardOptions,
                                                  TestOptions, WorkerOptions, _BeamArgumentParser)

from llamacorpus import fileio
from llamacorpus.config import ConfigError, add_recipe_arguments

LOCAL_RUNNERS = ("DirectRunner", "FnApiRunner", "SwitchingDirectRunner")

#: the Dataflow worker image's base (the Dockerfile's FROM): the launcher's Beam and Python must match it
WORKER_IMAGE = "apache/beam_python3.11_sdk:2.77.0"
#: where README explains the worker image
README_WORKER_IMAGE = 'README.md, "Runners" (Dataflow)'

#: named flags and the recipe key each overrides
FLAG_KEYS = {
    "input_root": "input_root",
    "output": "output",
    "models_dir": "models_dir",
    "lid_model": "sources.commoncrawl.lid_model",
}


class UsageError(ConfigError):
    """An argument that is neither ours nor a Beam pipeline option, or a bad value: exit 2."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llamacorpus run", allow_abbrev=False,
        description="Build the LLaMA-1 corpus from a recipe with Apache Beam. Other flags must be Beam "
                    "pipeline options (--runner, --direct_num_workers, --project, --temp_location, ...).")
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
    p.add_argument("--verify_inputs", action="store_true",
                   help="reuse a finished source only when a hash of its inputs' content matches "
                        "(default: their size and modification time, or gs:// generation)")
    p.add_argument("--dry_run", action="store_true",
                   help="check everything and build the whole graph for the runner, run nothing")
    p.add_argument("--no_report", action="store_true", help="do not write report.html at the end")
    # progress lines of a local run (llamacorpus.pipeline.progress)
    p.add_argument("--progress_interval", type=float, default=15.0, metavar="SECONDS",
                   help="seconds between progress lines on the local runner (default 15)")
    p.add_argument("--quiet", action="store_true", help="print no progress lines")
    return p


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """(our arguments, the Beam arguments); UsageError for an argument that is neither."""
    ours = parser()
    args, beam_args = ours.parse_known_args(argv)
    args.stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = set(args.stages) - {"documents", "mix"}
    if unknown:
        raise UsageError(f"--stages: unknown stage(s) {', '.join(sorted(unknown))}; stages are documents, mix")
    if not args.progress_interval > 0:
        raise UsageError(f"--progress_interval must be > 0 seconds, got {args.progress_interval}")
    check_beam_arguments(beam_args, [o for a in ours._actions for o in a.option_strings])
    return args, beam_args


class _StrictBeamParser(_BeamArgumentParser):
    """Beam's own argument parser, raising instead of printing usage and exiting."""

    def error(self, message):
        raise UsageError(f"Beam pipeline option: {message}")


def beam_parser() -> _StrictBeamParser:
    """A parser of every option the registered PipelineOptions classes declare (as Beam builds it)."""
    parser = _StrictBeamParser(allow_abbrev=False, add_help=False, conflict_handler="resolve")
    classes: dict[str, type] = {}
    stack = list(PipelineOptions.__subclasses__())
    while stack:
        cls = stack.pop(0)
        classes.setdefault(str(cls), cls)
        stack.extend(cls.__subclasses__())
    for cls in classes.values():
        cls._add_argparse_args(parser)  # noqa: SLF001 - how Beam itself collects its options
    return parser


def check_beam_arguments(beam_args: list[str], our_flags: list[str]) -> None:
    """UsageError naming the first argument that no Beam pipeline option takes, with the closest
    flag of ours or Beam's."""
    parser = beam_parser()
    _, unknown = parser.parse_known_args(beam_args)
    if not unknown:
        return
    known = sorted({*our_flags, *(o for a in parser._actions for o in a.option_strings if o.startswith("--"))})
    arg = unknown[0]
    if not arg.startswith("-"):
        raise UsageError(f"unexpected argument {arg!r}: llamacorpus run takes flags only (--flag value)")
    name = arg.split("=", 1)[0]
    close = difflib.get_close_matches(name, known, n=1) or \
        difflib.get_close_matches(name.replace("-", "_"), known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise UsageError(f"{name} is neither a flag of llamacorpus run nor a Beam pipeline option{hint}; "
                     f"nothing was run")


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
    """The runner object for ``beam.Pipeline``: for local runs the Python FnApiRunner, with its
    data plane made safe (:mod:`llamacorpus.pipeline.local_runner`)."""
    if is_local(options):
        from llamacorpus.pipeline import local_runner

        return local_runner.make_runner()
    return runner_name(options)


# ---------------------------------------------------------------------------- before the run

def preflight(options: PipelineOptions, output: str, models_dir: str = "", input_root: str = "") -> list[str]:
    """Check the output and the runner's options before anything runs; raise UsageError for what
    would fail, return warnings for what would cost."""
    cloud = options.view_as(GoogleCloudOptions)
    dataflow = runner_name(options).split(".")[-1] == "DataflowRunner"
    on_gcs = [loc for loc in (output, models_dir, input_root, cloud.temp_location) if loc and loc.startswith("gs://")]
    if (dataflow or on_gcs) and not has_google_cloud():
        raise UsageError(f"{'DataflowRunner' if dataflow else on_gcs[0]} needs Beam's Google Cloud clients, "
                         f"which this install lacks: pip install 'llamacorpus[dataflow]'")
    check_location(output, "--output")
    if models_dir:
        check_location(models_dir, "--models_dir")
    for flag, value in (("--temp_location", cloud.temp_location), ("--staging_location", cloud.staging_location)):
        if value and value.startswith("gs://"):
            check_location(value, flag)
    warnings = []
    if dataflow:
        image = options.view_as(WorkerOptions).sdk_container_image
        if not image:
            warnings.append("DataflowRunner without --sdk_container_image: every worker compiles fasttext and "
                            "kenlm from source (about 85 s each) at every start. Build the worker image once "
                            f"from the Dockerfile and pass it ({README_WORKER_IMAGE}).")
        else:
            warnings.extend(image_mismatch(apache_beam.__version__, platform.python_version()))
    return warnings


def has_google_cloud() -> bool:
    """Whether Beam's Google Cloud clients (the dataflow extra) are installed."""
    try:
        return importlib.util.find_spec("google.cloud.storage") is not None
    except ModuleNotFoundError:  # no google.cloud package at all
        return False


def worker_versions(image: str = WORKER_IMAGE) -> tuple[str, str]:
    """(Beam version, Python major.minor) of a Beam SDK image name like WORKER_IMAGE."""
    found = re.fullmatch(r".*beam_python(\d+\.\d+)_sdk:(\S+)", image)
    if not found:
        raise ValueError(f"not a Beam Python SDK image: {image}")
    return found.group(2), found.group(1)


def image_mismatch(beam_version: str, python_version: str) -> list[str]:
    """Warnings when the launcher's Beam or Python differs from the worker image's."""
    beam, python = worker_versions()
    out = []
    if beam_version != beam:
        out.append(f"this launcher has apache-beam {beam_version}, the worker image ({WORKER_IMAGE}, the "
                   f"Dockerfile's base) has {beam}: Dataflow needs them equal (pip install apache-beam=={beam})")
    if ".".join(python_version.split(".")[:2]) != python:
        out.append(f"this launcher runs Python {python_version}, the worker image ({WORKER_IMAGE}) Python "
                   f"{python}: pickled code may not load on the workers; launch with Python {python}")
    return out


def check_location(location: str, flag: str) -> None:
    """UsageError when ``location`` cannot be written: a local file, an unwritable directory, or a
    gs:// URL whose bucket name breaks Cloud Storage's naming rules."""
    if location.startswith("gs://"):
        bucket = location[len("gs://"):].split("/", 1)[0]
        problem = bucket_name_problem(bucket)
        if problem:
            raise UsageError(f"{flag} {location}: {problem!s}")
    elif not fileio.has_scheme(location):
        problem = fileio.writable_dir_problem(location)
        if problem:
            raise UsageError(f"{flag}: {problem}")


_BUCKET_CHARS = re.compile(r"^[a-z0-9][a-z0-9._-]*[a-z0-9]$")


def bucket_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid Cloud Storage bucket name, or None
    (https://cloud.google.com/storage/docs/buckets#naming)."""
    rule = "bucket names are 3-63 characters (222 with dots, 63 between dots) of a-z 0-9 - _ ., " \
           "beginning and ending with a letter or digit"
    if not name:
        return "no bucket name after gs://"
    if not _BUCKET_CHARS.match(name):
        return f"invalid bucket name {name!r}: {rule}"
    if len(name) > (222 if "." in name else 63) or len(name) < 3 or any(len(part) > 63 for part in name.split(".")):
        return f"invalid bucket name {name!r} ({len(name)} characters): {rule}"
    if ".." in name or ".-" in name or "-." in name:
        return f"invalid bucket name {name!r}: dots must stand between letters or digits"
    try:
        ipaddress.IPv4Address(name)
        return f"invalid bucket name {name!r}: an IP address is not a bucket name"
    except ValueError:
        pass
    if name.startswith("goog") or re.search(r"g[o0][o0]gle", name):
        return f"invalid bucket name {name!r}: names cannot begin with 'goog' or contain 'google'"
    return None
