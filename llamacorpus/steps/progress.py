"""Live counters for the progress lines of a local run: a side channel beside Beam's metrics.

On the local runner Beam's metrics of a ``multi_processing`` run reach the launching process only
when the run ends. So while a run is reported (:mod:`llamacorpus.pipeline.progress`), the
launcher puts a directory in the environment variable :data:`ENV`, which worker processes
inherit; every :class:`~llamacorpus.steps.adapter.StepCounters` flush then also adds its
increments here, and a daemon thread of each process rewrites one small JSON file in that
directory (``<host>-<pid>-<n>.json``: that process's totals, by counter name) at most every
:data:`WRITE_SECONDS`. The launcher sums the files. Without the variable (Dataflow, tests that do
not report progress) nothing is recorded. A retried bundle may count twice here; the run's
statistics come from Beam's metrics, never from these files.
"""
from __future__ import annotations

import collections
import json
import os
import platform
import threading
from typing import Iterable

from llamacorpus import fileio

ENV = "LLAMACORPUS_PROGRESS_DIR"
WRITE_SECONDS = 1.0

_lock = threading.Lock()
_recorder: "_Recorder | None" = None


class _Recorder:
    """This process's counter totals for one run directory, written by a daemon thread."""

    _serial = 0

    def __init__(self, directory: str):
        _Recorder._serial += 1
        self.directory = directory
        self.path = f"{directory}/{platform.node()}-{os.getpid()}-{_Recorder._serial}.json"
        self.totals: collections.Counter = collections.Counter()
        self.dirty = False
        self.stopped = threading.Event()
        threading.Thread(target=self._loop, name="llamacorpus-progress", daemon=True).start()

    def add(self, items: Iterable[tuple[str, int]]) -> None:
        for name, n in items:
            self.totals[name] += n
        self.dirty = True

    def write(self) -> None:
        with _lock:
            if not self.dirty:
                return
            snapshot, self.dirty = dict(self.totals), False
        if fileio.exists(self.directory):  # the launcher removes it when the run ends
            fileio.atomic_write(self.path, json.dumps(snapshot))

    def _loop(self) -> None:
        while not self.stopped.wait(WRITE_SECONDS):
            try:
                self.write()
            except OSError:
                pass  # progress is best effort: a missed write is caught up by the next one


def record(items: Iterable[tuple[str, int]]) -> None:
    """Add counter increments (full counter names) to this process's totals, when a run is reported."""
    directory = os.environ.get(ENV)
    if not directory:
        return
    global _recorder
    with _lock:
        if _recorder is None or _recorder.directory != directory:
            if _recorder is not None:
                _recorder.stopped.set()
            _recorder = _Recorder(directory)
        _recorder.add(items)


def flush() -> None:
    """Write this process's totals now (the launcher calls it before its last line)."""
    if _recorder is not None:
        _recorder.write()


def read_totals(directory: str) -> dict[str, int]:
    """The sum of every process's totals under ``directory``."""
    totals: collections.Counter = collections.Counter()
    for path in fileio.match_paths(f"{directory.rstrip('/')}/*.json"):
        try:
            totals.update(json.loads(fileio.read_bytes(path)))
        except (OSError, ValueError):
            continue  # being replaced; the next read has it
    return dict(totals)
