"""The local runner's data plane cannot drop a bundle's input (llamacorpus/pipeline/local_runner.py).

Beam's runner-side stream flushes from a timer thread: ``get()``, hand the bytes to the send queue
(which blocks while the worker drains it), ``_clear()``. Writes made while the hand-over blocks are
cleared unsent. The first test shows that on Beam's own stream (a flush callback that blocks for
0.2 s, as a full send queue does); the others show that the runner we build uses the stream
without a timer thread, which delivers every byte, and that a pipeline on two worker processes
still runs on it.
"""
from __future__ import annotations

import threading
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import worker_handlers
from apache_beam.runners.worker import data_plane

from llamacorpus.pipeline import local_runner, options

RECORD = b"r" * 100


def sent_and_received(stream_for) -> tuple[int, int]:
    """Write records for 1.2 s into ``stream_for(flush, close)`` while its flushes block 0.2 s each;
    (bytes written, bytes that reached the callbacks)."""
    received = []

    def blocking_flush(data: bytes) -> None:
        received.append(len(data))
        time.sleep(0.2)  # the send queue is full: the hand-over waits for the worker

    stream = stream_for(blocking_flush, lambda data: received.append(len(data)))
    written, end = 0, time.monotonic() + 1.2

    def write():
        nonlocal written
        while time.monotonic() < end:
            stream.write(RECORD)
            written += len(RECORD)
            stream.maybe_flush()
            time.sleep(0.0005)

    writer = threading.Thread(target=write)
    writer.start()
    writer.join()
    stream.close()
    return written, sum(received)


def test_beams_time_based_stream_drops_writes_made_while_a_flush_blocks():
    written, received = sent_and_received(lambda flush, close: data_plane.TimeBasedBufferingClosableOutputStream(
        close, flush_callback=flush, time_flush_threshold_ms=100))
    assert received < written, ("Beam's time-based stream no longer loses writes: "
                                "llamacorpus/pipeline/local_runner.py may not be needed any more")


def test_the_runner_we_build_buffers_by_size_only_and_delivers_every_byte():
    runner = options.make_runner(PipelineOptions([]))
    assert type(runner).__name__ == "FnApiRunner"
    assert worker_handlers.DATA_BUFFER_TIME_LIMIT_MS == local_runner.DATA_BUFFER_TIME_LIMIT_MS == 0
    # the runner's data servicer is built with that limit (worker_handlers.GrpcServer)
    channel = data_plane.BeamFnDataServicer(worker_handlers.DATA_BUFFER_TIME_LIMIT_MS).get_conn_by_worker_id("w")
    stream = channel.output_stream("bundle_1", "read")
    assert isinstance(stream, data_plane.SizeBasedBufferingClosableOutputStream)
    assert not isinstance(stream, data_plane.TimeBasedBufferingClosableOutputStream)
    written, received = sent_and_received(lambda flush, close: data_plane.ClosableOutputStream.create(
        close, flush, worker_handlers.DATA_BUFFER_TIME_LIMIT_MS))
    assert received == written > 0


def test_two_worker_processes_run_on_it(tmp_path):
    opts = PipelineOptions(["--direct_running_mode=multi_processing", "--direct_num_workers=2"])
    out = tmp_path / "sums"
    with beam.Pipeline(runner=options.make_runner(opts), options=opts) as p:
        (p | beam.Create(range(2000)) | beam.Map(lambda i: (i % 7, i)) | beam.GroupByKey()
         | beam.MapTuple(lambda k, vs: f"{k} {sum(vs)}") | beam.io.WriteToText(str(out)))
    got = dict(map(int, line.split()) for f in tmp_path.glob("sums*") for line in f.read_text().splitlines())
    assert got == {k: sum(i for i in range(2000) if i % 7 == k) for k in range(7)}
