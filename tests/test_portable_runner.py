"""The pipeline runs the same where the workers are elsewhere (issue 14): Beam's portable path, with
the local job service and an external worker pool started in another directory, as Dataflow
Runner v2, Flink or Spark run it. The launcher gives relative paths (as README's
``--input_root tests/fixtures`` does); they reach the workers absolute, and the shards equal the
default runner's byte for byte."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import ROOT
from run_helpers import WAIT_S, make_inputs, make_recipe, shard_bytes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def accepting(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("localhost", port)) == 0


def start(args: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    # the worker pool starts each SDK worker as `python ...`: this interpreter first on PATH
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    with open(log, "w") as out:
        return subprocess.Popen([sys.executable, "-m", *args], cwd=cwd, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def logs(paths: list[Path]) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-5000:]}" for p in paths if p.exists())


@pytest.mark.slow
def test_portable_runner_with_external_workers_elsewhere_gives_the_same_shards(tmp_path):
    launch, service_dir, workers_dir = (tmp_path / d for d in ("launch", "job-service", "workers"))
    for d in (launch, service_dir, workers_dir):
        d.mkdir()
    make_inputs(launch / "inputs")
    # relative to the launch directory only: the worker pool runs in another one
    make_recipe(launch / "recipe.yaml", Path("inputs"), Path("out-portable"))
    make_recipe(launch / "default.yaml", Path("inputs"), Path("out-default"))
    port_file, worker_port = tmp_path / "job-port", free_port()
    service_log, pool_log, run_log = tmp_path / "job-service.log", tmp_path / "worker-pool.log", tmp_path / "run.log"
    children = [
        start(["apache_beam.runners.portability.local_job_service_main", "--port", "0",
               "--port_file", str(port_file)], service_dir, service_log),
        start(["apache_beam.runners.worker.worker_pool_main", "--service_port", str(worker_port)],
              workers_dir, pool_log),
    ]
    try:
        deadline = time.monotonic() + WAIT_S
        while not (port_file.exists() and port_file.read_text().strip() and accepting(worker_port)):
            assert all(c.poll() is None for c in children), "a service ended:\n" + logs([service_log, pool_log])
            assert time.monotonic() < deadline, "services not up:\n" + logs([service_log, pool_log])
            time.sleep(0.1)
        job_port = int(port_file.read_text())
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with open(run_log, "w") as out:
            done = subprocess.run(
                [sys.executable, "-m", "llamacorpus", "run", "--recipe", "recipe.yaml", "--runner", "PortableRunner",
                 "--job_endpoint", f"localhost:{job_port}", "--environment_type", "EXTERNAL",
                 "--environment_config", f"localhost:{worker_port}"],
                cwd=launch, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=WAIT_S)
        assert done.returncode == 0, logs([run_log, service_log, pool_log])
        assert not list(workers_dir.iterdir()) and not (service_dir / "out-portable").exists()
        default = subprocess.run([sys.executable, "-m", "llamacorpus", "run", "--recipe", "default.yaml"],
                                 cwd=launch, env=env, capture_output=True, text=True, timeout=WAIT_S)
        assert default.returncode == 0, default.stderr[-6000:]
        portable, local = shard_bytes(launch / "out-portable"), shard_bytes(launch / "out-default")
        assert portable == local
        for out_dir in ("out-portable", "out-default"):
            assert (launch / out_dir / "documents" / "c4" / "_SUCCESS").exists()
    finally:
        for child in children:
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            child.wait(timeout=60)
