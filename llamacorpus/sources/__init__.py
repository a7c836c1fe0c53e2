"""One module per source; each defines ``SOURCE``, an instance of :class:`base.Source`.

The registry is by naming convention (``llamacorpus.sources.<name>``), so adding a source
touches no shared file.
"""
from __future__ import annotations

import importlib

from llamacorpus.document import SOURCES


def get(name: str):
    """The :class:`~llamacorpus.sources.base.Source` named ``name``."""
    if name not in SOURCES:
        raise KeyError(f"unknown source {name!r} (sources: {', '.join(SOURCES)})")
    return importlib.import_module(f"llamacorpus.sources.{name}").SOURCE
