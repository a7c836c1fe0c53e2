"""``python -m llamacorpus``: the ``llamacorpus`` command (:mod:`llamacorpus.cli`), loaded by name as
the command line loads each command's module."""
import importlib
import sys

if __name__ == "__main__":
    sys.exit(importlib.import_module("llamacorpus.cli").main())
