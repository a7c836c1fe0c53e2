"""Progress lines while a local run goes: per source, files and bytes read of their totals, MB/s,
documents read and kept so far, the time gone and an ETA from bytes.

Every ``--progress_interval`` seconds (default 15; ``--quiet``: none) the launching process prints,
to stderr, one line per source whose counts moved::

    progress 0:01:30 wikipedia: files 0/1 (pieces 12/27), 10.2/26.8 MB at 0.11 MB/s, 1,203 documents read, 950 kept, ETA 0:02:31

and, when the run ends, one line per source from Beam's final metrics. The numbers are the read
step's counters (``<source>/read/files_done``, ``splits_done``, ``input_bytes_done``, ``kept``) and
the last step's ``kept``; the totals are the inputs' sizes, taken here. On the local runner the
workers' counters reach this process through the side channel of
:mod:`llamacorpus.steps.progress` (a directory under :attr:`~llamacorpus.layout.Layout.progress`,
or a local temporary one when the output is remote), which works for every
``--direct_running_mode`` (in_memory, multi_threading, multi_processing). On Dataflow the same
counters are in the job's metrics; nothing is printed here.

Beam's harmless worker warnings ("No semi_persistent_directory found", "No session file found")
are silenced for the run.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import threading
import time
import uuid
from typing import IO, Iterator

from llamacorpus import fileio
from llamacorpus import sources as source_registry
from llamacorpus.layout import Layout
from llamacorpus.steps import progress as channel

DEFAULT_INTERVAL = 15.0
#: what Beam's local workers log that says nothing about the run
HARMLESS_WARNINGS = ("No semi_persistent_directory found", "No session file found",
                     "Discarding unparseable args", "Discarding invalid overrides")
_BEAM_WORKER_LOGGERS = ("apache_beam.runners.portability.local_job_service",
                        "apache_beam.runners.worker.sdk_worker_main")


class _Harmless(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in HARMLESS_WARNINGS)


@contextlib.contextmanager
def beam_warnings_silenced() -> Iterator[None]:
    """Drop Beam's harmless worker warnings (the local job service relays every worker's log)."""
    harmless = _Harmless()
    loggers = [logging.getLogger(name) for name in _BEAM_WORKER_LOGGERS]
    for logger in loggers:
        logger.addFilter(harmless)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(harmless)


def hms(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Reporter:
    """Prints the progress lines of one run; ``sources`` maps a source name to (its input paths,
    its recipe section, the last step of its branch)."""

    def __init__(self, directory: str, sources: dict[str, tuple[list[str], object, str]],
                 interval: float = DEFAULT_INTERVAL, stream: IO[str] | None = None, root: str = ""):
        self.directory, self.sources, self.interval = directory, sources, interval
        self.root = root or directory  # the tree removed when the run ends
        self.stream = stream if stream is not None else sys.stderr
        self.totals: dict[str, tuple[int, int]] = {}  # source -> (files, bytes)
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="llamacorpus-progress-lines", daemon=True)
        self._previous: dict[str, tuple] = {}
        self._read_for: dict[str, float] = {}  # source -> seconds its inputs took to read

    # ------------------------------------------------------------------------ life
    def start(self) -> "Reporter":
        fileio.makedirs(self.directory)
        os.environ[channel.ENV] = self.directory
        self.started = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if os.environ.get(channel.ENV) == self.directory:
            del os.environ[channel.ENV]
        fileio.delete_tree(self.root)

    def finish(self, counters: dict[str, int]) -> None:
        """The last line of every source, from the run's final counters."""
        self._compute_totals()
        for name in self.sources:
            self._print(self.line(name, counters, time.monotonic() - self.started, final=True))

    # ------------------------------------------------------------------------ lines
    def snapshot(self) -> dict[str, int]:
        """The workers' counters so far (this process's written first)."""
        channel.flush()
        return channel.read_totals(self.directory)

    def line(self, name: str, counters: dict[str, int], elapsed: float, final: bool = False) -> str:
        paths, _, last_step = self.sources[name]
        files_total, bytes_total = self.totals.get(name, (len(paths), 0))

        def count(step: str, what: str) -> int:
            return int(counters.get(f"{name}/{step}/{what}", 0))

        files, pieces, planned = count("read", "files_done"), count("read", "splits_done"), count("read", "splits")
        done = count("read", "input_bytes_done")
        read_all = files >= files_total and done >= bytes_total
        if read_all:  # MB/s over the reading, not over the steps after it
            elapsed_read = self._read_for.setdefault(name, elapsed)
        else:
            elapsed_read = elapsed
        rate = done / elapsed_read if elapsed_read > 0 else 0.0
        text = f"progress {hms(elapsed)} {name}: files {files}/{files_total}"
        if planned > count("read", "files"):
            text += f" (pieces {pieces}/{planned})"
        text += (f", {done / 1e6:,.1f}/{bytes_total / 1e6:,.1f} MB at {rate / 1e6:,.2f} MB/s, "
                 f"{count('read', 'kept'):,} documents read, {count(last_step, 'kept'):,} kept")
        if final:
            return text + ", done"
        if read_all:
            return text + ", read done"
        eta = hms((bytes_total - done) / rate) if rate > 0 and bytes_total > done else "-"
        return text + f", ETA {eta}"

    def report(self, counters: dict[str, int]) -> None:
        """Print the lines of the sources whose counts moved since the last report."""
        elapsed = time.monotonic() - self.started
        moved = []
        for name in self.sources:
            state = tuple(sorted((k, v) for k, v in counters.items() if k.startswith(f"{name}/")))
            if state != self._previous.get(name):
                self._previous[name] = state
                moved.append(name)
        for name in moved:
            self._print(self.line(name, counters, elapsed))
        if not moved:
            self._print(f"progress {hms(elapsed)}: no new counts (a global step or the mix stage at work)")

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def _compute_totals(self) -> None:
        for name, (paths, cfg, _) in self.sources.items():
            if name in self.totals:
                continue
            source, size = source_registry.get(name), 0
            for path in paths:
                try:
                    size += source.size(cfg, path) or 0
                except OSError:
                    pass  # the read counts it as unreadable
            self.totals[name] = (len(paths), size)

    def _loop(self) -> None:
        self._compute_totals()
        while not self._stop.wait(self.interval):
            try:
                self.report(self.snapshot())
            except Exception as exc:  # noqa: BLE001 - a progress line must never stop the run
                logging.getLogger(__name__).debug("progress line failed: %s", exc)


class _Quiet:
    def finish(self, counters: dict[str, int]) -> None:
        pass


@contextlib.contextmanager
def report(args, local: bool, output: str, recipe, info, inputs: dict[str, list[str]]):
    """Progress lines around one run (none with ``--quiet``, off the local runner, or when nothing
    is built); yields what the run calls ``finish(counters)`` on when it is done."""
    with beam_warnings_silenced():
        if getattr(args, "quiet", False) or not local or not info.built:
            yield _Quiet()
            return
        # one directory per run: a process that runs twice (tests, notebooks) starts its tallies afresh
        root = (Layout(output).progress if not fileio.has_scheme(output)
                else os.path.join(tempfile.gettempdir(), f"llamacorpus-progress-{os.getpid()}"))
        sources = {name: (inputs[name], recipe.sources[name], (info.step_order.get(name) or ["read"])[-1])
                   for name in info.built}
        reporter = Reporter(f"{root}/{uuid.uuid4().hex[:8]}", sources,
                            getattr(args, "progress_interval", DEFAULT_INTERVAL), root=root).start()
        try:
            yield reporter
        finally:
            reporter.stop()
