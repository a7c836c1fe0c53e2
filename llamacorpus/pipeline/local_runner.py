"""The local runner (Beam's Python FnApiRunner), made safe for big bundles on several workers.

Beam 2.77's FnApiRunner sends each bundle's input to its SDK workers over gRPC through
``data_plane.TimeBasedBufferingClosableOutputStream`` (the runner's data servicer is built with
``worker_handlers.DATA_BUFFER_TIME_LIMIT_MS`` = 1000 ms; ``multi_threading`` workers get the same
limit). That stream's periodic flusher thread does ``data = get()``, hands ``data`` to the send
queue, then ``_clear()``: whatever the runner's thread writes in between is dropped without a
word, and handing data to a full send queue blocks for as long as the worker takes to drain it,
so a big bundle written while the flusher fires loses whole chunks of its input.

We saw it as a silent shortfall: at 64x, two of seven two-worker Common Crawl runs removed
2,039,225 and 2,626,020 duplicate lines instead of 3,020,763. Every hash group was complete and
decided correctly; up to a third of the decisions never reached the documents, because they were
lost on the way into the stage feeding line dedup's ``CoGroupByKey`` (a 500 MB bundle sent to two
workers). Any stage whose input is sent while the 1 s flusher fires can lose elements the same
way: documents, not just decisions.

:func:`make_runner` (the runner of every local run, tests and benches included) sets the limit to
0 before the runner builds its data servicer: the runner then uses
``SizeBasedBufferingClosableOutputStream``, which has no flusher thread and sends what was written
when the input is closed, as batch bundles need. Nothing else changes; Dataflow does not use this
code. ``tests/test_local_runner.py`` shows the loss on Beam's stream and its absence here.
"""
from __future__ import annotations

from apache_beam.runners.portability.fn_api_runner import FnApiRunner, worker_handlers

#: the runner-side buffering time limit in ms: 0 = no periodic flusher (see the module docstring)
DATA_BUFFER_TIME_LIMIT_MS = 0


def make_safe() -> None:
    """Turn off the runner's time-based flushing (idempotent; call before a runner starts)."""
    worker_handlers.DATA_BUFFER_TIME_LIMIT_MS = DATA_BUFFER_TIME_LIMIT_MS


def make_runner() -> FnApiRunner:
    """A FnApiRunner whose data plane cannot drop a bundle's input (see the module docstring)."""
    make_safe()
    return FnApiRunner()
