"""The ``llamacorpus`` command (also ``python -m llamacorpus``): one subcommand per task, each a
module's ``main(argv)`` loaded by name when it runs; ``--version`` prints the package, Beam and
Python versions."""
from __future__ import annotations

import importlib
import importlib.metadata
import platform
import sys

#: subcommand -> (module:function, one-line help)
COMMANDS = {
    "run": ("llamacorpus.pipeline.run:main", "build the corpus from a recipe (same as beam_main.py)"),
    "train-tokenizer": ("llamacorpus.tokenize.train:main",
                        "train the SentencePiece BPE tokenizer on a run's documents"),
    "validate-shards": ("llamacorpus.tokenize.validate:main", "check Megatron shards against their manifest"),
    "train-lm": ("llamacorpus.steps.filters.train_lm:main",
                 "train a language's SentencePiece + KenLM perplexity models on the Wikipedia output"),
    "stats": ("llamacorpus.report:main", "print a run's per-source table and write OUTPUT/report.html"),
    "train": ("llamacorpus.model.train:main", "train the bundled LLaMA on a run's shards (--shards DIR --preset NAME)"),
}


def version() -> str:
    """``llamacorpus 0.1.0 (apache-beam 2.77.0, Python 3.11.7)``."""
    package = importlib.import_module("llamacorpus").__version__
    try:
        beam = importlib.metadata.version("apache-beam")
    except importlib.metadata.PackageNotFoundError:
        beam = "not installed"
    return f"llamacorpus {package} (apache-beam {beam}, Python {platform.python_version()})"


def usage() -> str:
    lines = ["usage: llamacorpus [--version] COMMAND [ARGS]", "", "commands:"]
    lines += [f"  {name:<18} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] in ("-V", "--version"):
        print(version())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"llamacorpus: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module, func = COMMANDS[name][0].split(":")
    return int(getattr(importlib.import_module(module), func)(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
