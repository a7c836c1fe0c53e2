"""Pause points, for the tests that kill a run at a known place and rerun it (tests/test_reuse.py).

With ``LLAMACORPUS_PAUSE=<point>[,<point>...]`` and ``LLAMACORPUS_PAUSE_DIR=<dir>`` in the
environment of the launcher, a run that reaches a named point writes ``<dir>/<point>`` and waits
there until it is killed. The points:

* ``source:<source>``: the source's first finished document, before any of its documents is written;
* ``marked:<source>``: just after the source's ``_SUCCESS`` marker is written;
* ``mix``: the first document entering the mix stage, once every source built by the run has
  its marker.

Without ``LLAMACORPUS_PAUSE`` (every real run) the graph has no pause stage at all.
"""
from __future__ import annotations

import os
import time

import apache_beam as beam

from llamacorpus import fileio

ENV_POINTS, ENV_DIR = "LLAMACORPUS_PAUSE", "LLAMACORPUS_PAUSE_DIR"


def enabled(point: str) -> bool:
    return point in {p.strip() for p in os.environ.get(ENV_POINTS, "").split(",")}


def hold(element, point: str, directory: str, *after):
    """Announce ``point`` (a file named after it) and wait until the process is killed."""
    fileio.atomic_write(os.path.join(directory, point.replace(":", "-")), str(os.getpid()))
    while True:
        time.sleep(0.05)
    yield element  # never reached: makes this a generator for FlatMap


def at(pcoll: beam.PCollection, point: str, after: list[beam.PCollection] = ()) -> beam.PCollection:
    """``pcoll`` itself, through a stage that holds at ``point`` (after every PCollection of ``after``
    is complete) when that point is enabled; unchanged otherwise."""
    if not enabled(point):
        return pcoll
    directory = os.environ.get(ENV_DIR) or "."
    sides = [beam.pvalue.AsList(a) for a in after]
    return pcoll | f"pause/{point}" >> beam.FlatMap(hold, point, directory, *sides)
