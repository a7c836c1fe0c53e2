"""Reuse is never stale and a crash wastes no finished work (issue 14).

* The fingerprint covers the inputs' content: a file rewritten in place rebuilds its source, and
  only that source; ``--verify_inputs`` decides by a hash of the content.
* Each source's ``_SUCCESS`` is written inside the graph once the source's outputs are final: a
  run killed (SIGKILL, in a subprocess) at a pause point (:mod:`llamacorpus.pipeline.pause`) is
  rerun, reuses exactly the sources that had their marker, removes the ``beam-temp-*`` leftovers
  and gives shards byte-identical to a clean run.
* A source with no readable input, or more errors than ``max_error_fraction``, fails the run with
  its name and first errors, and gets no marker.

The killed runs wait for a pause file to appear, never for a fixed time.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from helpers import FIXTURES, ROOT
from run_helpers import C4_FIXTURE, SOURCES, WAIT_S, c4_lines, make_inputs, make_recipe, shard_bytes, write_c4
from llamacorpus import fileio
from llamacorpus.pipeline import io as pio
from llamacorpus.pipeline import reuse
from llamacorpus.pipeline.run import main



def command(recipe: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "llamacorpus", "run", "--recipe", str(recipe), *extra]


def env(**extra: str) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def run_ok(recipe: Path, *extra: str) -> dict:
    """Run to the end in a subprocess; its run.json."""
    done = subprocess.run(command(recipe, *extra), capture_output=True, text=True, env=env(), timeout=WAIT_S)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    output = Path(yaml.safe_load(recipe.read_text())["output"])
    return json.loads((output / "stats" / "run.json").read_text())


def killed_run(recipe: Path, point: str, pause_dir: Path) -> None:
    """Start a run that pauses at ``point``, wait for its pause file, SIGKILL its process group."""
    log = pause_dir.parent / f"killed-{point.replace(':', '-')}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(command(recipe), stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env=env(LLAMACORPUS_PAUSE=point, LLAMACORPUS_PAUSE_DIR=str(pause_dir)))
    try:
        flag = pause_dir / point.replace(":", "-")
        deadline = time.monotonic() + WAIT_S
        while not flag.exists():
            assert proc.poll() is None, f"the run ended (rc {proc.returncode}) before pausing at {point}:\n" \
                                        + log.read_text()[-6000:]
            assert time.monotonic() < deadline, f"no pause at {point} within {WAIT_S} s:\n" + log.read_text()[-6000:]
            time.sleep(0.05)  # polling for the file, not waiting for the run to get somewhere
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def markers(output: Path) -> set[str]:
    return {s for s in SOURCES if (output / "documents" / s / "_SUCCESS").exists()}


def leftovers(output: Path) -> list[Path]:
    return [p for p in output.rglob("beam-temp-*")]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    return make_inputs(tmp_path_factory.mktemp("inputs"))


@pytest.fixture(scope="module")
def clean(inputs, tmp_path_factory) -> dict[str, bytes]:
    """The shards of one uninterrupted run."""
    work = tmp_path_factory.mktemp("clean")
    run = run_ok(make_recipe(work / "recipe.yaml", inputs, work / "out"))
    assert run["run"]["sources_built"] == list(SOURCES)
    return shard_bytes(work / "out")


# ---------------------------------------------------------------------------- kill and rerun

@pytest.mark.slow
@pytest.mark.parametrize("point, marked_at_kill", [
    ("source:github", None),  # during a source: github's documents not yet written
    ("marked:c4", None),      # just after one source's marker
    ("mix", set(SOURCES)),    # during the mix stage: every source finished
])
def test_killed_run_reruns_to_identical_shards(inputs, clean, tmp_path, point, marked_at_kill):
    out = tmp_path / "out"
    recipe = make_recipe(tmp_path / "recipe.yaml", inputs, out)
    killed_run(recipe, point, tmp_path / "pause")
    finished = markers(out)
    if point.startswith("source:"):
        assert point.split(":")[1] not in finished
    elif point.startswith("marked:"):
        assert point.split(":")[1] in finished
    if marked_at_kill is not None:
        assert finished == marked_at_kill
    assert not (out / "stats" / "run.json").exists()
    run = run_ok(recipe)
    assert run["run"]["sources_reused"] == [s for s in SOURCES if s in finished]
    assert run["run"]["sources_built"] == [s for s in SOURCES if s not in finished]
    # a reused source built by the killed run never got its statistics: said, not faked
    assert run["run"]["sources_without_stats"] == run["run"]["sources_reused"]
    assert set(run["sources"]) == set(run["run"]["sources_built"])
    assert shard_bytes(out) == clean
    assert markers(out) == set(SOURCES)
    assert leftovers(out) == []


def test_beam_temp_leftovers_are_removed(tmp_path):
    """What a killed Beam file sink leaves: temporary folders, full or empty, beside the outputs."""
    out = tmp_path / "out"
    full = out / "documents" / "c4" / "beam-temp-part-0123abcd"
    full.mkdir(parents=True)
    (full / "0123.parquet").write_bytes(C4_FIXTURE.read_bytes()[:100])
    empty = out / "errors" / "github" / "beam-temp-errors-4567"
    empty.mkdir(parents=True)
    kept = out / "documents" / "c4" / "part-00000-of-00001.parquet"
    kept.write_bytes(b"PAR1")
    assert sorted(pio.remove_leftovers(str(out))) == sorted([str(full), str(empty)])
    assert leftovers(out) == [] and kept.exists()


# ---------------------------------------------------------------------------- stale inputs

@pytest.mark.slow
def test_rewritten_input_rebuilds_that_source_and_only_it(inputs, tmp_path):
    mine = make_inputs(tmp_path / "inputs")
    out = tmp_path / "out"
    recipe = make_recipe(tmp_path / "recipe.yaml", mine, out, mixture={"enabled": False})
    first = run_ok(recipe, "--stages", "documents")
    assert first["run"]["sources_built"] == list(SOURCES)
    assert run_ok(recipe, "--stages", "documents")["run"]["sources_reused"] == list(SOURCES)
    # the second C4 file re-downloaded in place with 50 more records
    write_c4(mine / "c4" / "c4-part1.json.gz", c4_lines()[150:350])
    second = run_ok(recipe, "--stages", "documents")
    assert second["run"]["sources_built"] == ["c4"] and second["run"]["sources_reused"] == ["github"]
    assert "its inputs changed" in second["run"]["rebuilt_because"]["c4"]
    assert second["sources"]["c4"]["records_read"] == first["sources"]["c4"]["records_read"] + 50
    assert second["sources"]["github"] == first["sources"]["github"]


def test_verify_inputs_decides_by_content(tmp_path, capsys):
    mine = make_inputs(tmp_path / "inputs")
    recipe = make_recipe(tmp_path / "recipe.yaml", mine, tmp_path / "out", run=["c4"], mixture={"enabled": False})
    args = ["--recipe", str(recipe), "--stages", "documents"]

    def run(*extra) -> dict:
        assert main([*args, *extra]) == 0
        return json.loads((tmp_path / "out" / "stats" / "run.json").read_text())["run"]

    assert run()["sources_built"] == ["c4"]
    # a marker without content hashes cannot be verified
    verified = run("--verify_inputs")
    assert verified["sources_built"] == ["c4"] and "no content hashes" in verified["rebuilt_because"]["c4"]
    part = mine / "c4" / "c4-part0.json.gz"
    os.utime(part, ns=(part.stat().st_atime_ns, part.stat().st_mtime_ns + 10**9))  # touched, same bytes
    assert run("--verify_inputs")["sources_reused"] == ["c4"]
    assert run()["sources_built"] == ["c4"]  # without verification, a new mtime is a change
    assert run()["sources_reused"] == ["c4"]


def test_fingerprint_parts():
    state = reuse.input_state([str(C4_FIXTURE), "repo:" + str(FIXTURES / "arxiv")], verify=True)
    assert state.files == 2 and state.content and state.versions
    assert reuse.storage_path("repo:/data/repos/x") == "/data/repos/x"
    assert reuse.storage_path("gs://bucket/x") == "gs://bucket/x"
    marker = {"fingerprint": "f", "inputs": state.record()}
    assert reuse.decide(marker, "f", state).reuse and reuse.decide(marker, "f", state, verify=True).reuse
    assert "--overwrite" == reuse.decide(marker, "f", state, overwrite=True).reason
    assert "recipe section" in reuse.decide(marker, "g", state).reason
    assert "not finished" in reuse.decide(None, "f", state).reason
    versions = fileio.versions([str(C4_FIXTURE), str(FIXTURES / "arxiv")])
    st = C4_FIXTURE.stat()
    assert versions[str(C4_FIXTURE)] == f"{st.st_size}:{st.st_mtime_ns}"
    assert versions[str(FIXTURES / "arxiv")].startswith("dir:")


# ---------------------------------------------------------------------------- failing sources

def test_source_without_readable_input_fails_the_run(tmp_path, capsys):
    mine = make_inputs(tmp_path / "inputs")
    for path in (mine / "c4").glob("*.json.gz"):  # a download that stored HTML error pages
        path.write_bytes(b"<html><body>403 Forbidden</body></html>\n")
    recipe = make_recipe(tmp_path / "recipe.yaml", mine, tmp_path / "out", mixture={"enabled": False})
    assert main(["--recipe", str(recipe), "--stages", "documents"]) == 1
    err = capsys.readouterr().err
    assert "error: source c4: 2 of its 2 records read are errors (100%, more than max_error_fraction 0.5)" in err
    assert "First errors: " in err and "c4-part0.json.gz" in err and "c4-part1.json.gz" in err
    assert not (tmp_path / "out" / "documents" / "c4" / "_SUCCESS").exists()
    assert not (tmp_path / "out" / "stats" / "run.json").exists()


def test_errors_above_max_error_fraction_fail_the_source(tmp_path, capsys):
    mine = make_inputs(tmp_path / "inputs")
    good = c4_lines()[:4]
    write_c4(mine / "c4" / "c4-part0.json.gz", good + ["{not json"] * 5)  # 5 errors of 9 records
    (mine / "c4" / "c4-part1.json.gz").unlink()
    recipe = make_recipe(tmp_path / "recipe.yaml", mine, tmp_path / "out", run=["c4"], mixture={"enabled": False})
    assert main(["--recipe", str(recipe), "--stages", "documents"]) == 1
    assert "error: source c4: 5 of its 9 records read are errors (56%" in capsys.readouterr().err
    assert not (tmp_path / "out" / "documents" / "c4" / "_SUCCESS").exists()
    assert main(["--recipe", str(recipe), "--stages", "documents", "--set", "max_error_fraction=0.6"]) == 0
    marker = json.loads((tmp_path / "out" / "documents" / "c4" / "_SUCCESS").read_text())
    assert (marker["records_read"], marker["errors"], marker["documents"]) == (9, 5, 4)
