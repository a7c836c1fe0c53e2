"""Progress lines of a local run (llamacorpus/pipeline/progress.py): the totals are right, --quiet
prints none, and workers in other processes (multi_processing) feed them through the side channel."""
import json
import os
import re

import pytest
import yaml

from helpers import FIXTURES
from llamacorpus.pipeline import options
from llamacorpus.pipeline.progress import Reporter
from llamacorpus.pipeline.run import main

C4 = FIXTURES / "c4" / "c4-en-train.00000-of-01024.first1000.json.gz"
COFFEE = FIXTURES / "stackexchange" / "coffee.stackexchange.com-Posts.xml"
LINE = re.compile(r"^progress \d+:\d\d:\d\d (\w+): files (\d+)/(\d+)(?: \(pieces (\d+)/(\d+)\))?, "
                  r"([\d,.]+)/([\d,.]+) MB at [\d,.]+ MB/s, ([\d,]+) documents read, ([\d,]+) kept, (.+)$")


@pytest.fixture
def recipe(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({
        "name": "progress", "input_root": str(FIXTURES), "output": str(tmp_path / "out"), "run": ["c4", "stackexchange"],
        "sources": {"c4": {"inputs": ["c4/*.json.gz"]},
                    "stackexchange": {"inputs": ["stackexchange/coffee.stackexchange.com-Posts.xml"],
                                      "split_bytes": 200_000}},
        "mixture": {"enabled": False}}))
    return path


def progress_lines(text: str) -> dict[str, list[tuple]]:
    found: dict[str, list[tuple]] = {}
    for line in text.splitlines():
        match = LINE.match(line)
        if match:
            found.setdefault(match.group(1), []).append(match.groups()[1:])
    return found


def test_a_run_of_two_sources_prints_progress_with_the_right_totals(recipe, tmp_path, capsys):
    assert main(["--recipe", str(recipe), "--stages", "documents", "--no_report", "--progress_interval", "0.05"]) == 0
    printed = capsys.readouterr()
    lines = progress_lines(printed.err)
    run = json.loads((tmp_path / "out" / "stats" / "run.json").read_text())
    for name, path in (("c4", C4), ("stackexchange", COFFEE)):
        assert lines[name], printed.err
        total_mb = f"{os.path.getsize(path) / 1e6:,.1f}"
        for files, files_total, pieces, pieces_total, done, bytes_total, read, kept, tail in lines[name]:
            assert (files_total, bytes_total) == ("1", total_mb)  # every line, not only the last
            assert int(files) <= 1 and float(done.replace(",", "")) <= float(total_mb)
        files, _, pieces, pieces_total, done, _, read, kept, tail = lines[name][-1]
        assert (files, done, tail) == ("1", total_mb, "done")
        assert int(read.replace(",", "")) == run["sources"][name]["documents_in"]
        assert int(kept.replace(",", "")) == run["sources"][name]["documents_out"]
    assert lines["stackexchange"][-1][2:4] == ("4", "4")  # 759 kB in pieces of 200 kB
    assert not (tmp_path / "out" / "stats" / "progress").exists()  # the side channel is removed
    assert "semi_persistent" not in printed.err


def test_quiet_prints_no_progress_line(recipe, capsys):
    assert main(["--recipe", str(recipe), "--stages", "documents", "--no_report", "--quiet",
                 "--progress_interval", "0.05"]) == 0
    printed = capsys.readouterr()
    assert not [line for line in (printed.err + printed.out).splitlines() if line.startswith("progress")]
    assert "c4" in printed.out  # the run's table is still printed


def test_workers_in_other_processes_feed_the_progress_lines(recipe, tmp_path, monkeypatch, capsys):
    """multi_processing: Beam's metrics reach the launcher only at the end; the side channel
    carries the workers' counts before that."""
    seen = {}
    finish = Reporter.finish

    def finish_and_look(self, counters):
        seen["files"] = sorted(os.listdir(self.directory))
        seen["totals"] = self.snapshot()
        seen["counters"] = counters
        finish(self, counters)

    monkeypatch.setattr(Reporter, "finish", finish_and_look)
    assert main(["--recipe", str(recipe), "--stages", "documents", "--no_report", "--sources", "c4",
                 "--progress_interval", "30", "--direct_running_mode", "multi_processing",
                 "--direct_num_workers", "2"]) == 0
    pids = {int(name.split("-")[-2]) for name in seen["files"]}
    assert pids and os.getpid() not in pids  # written by the worker processes
    totals = seen["totals"]
    assert totals["c4/read/files_done"] == 1 and totals["c4/read/input_bytes_done"] == os.path.getsize(C4)
    assert totals["c4/read/kept"] == seen["counters"]["c4/read/kept"] == 1000
    assert progress_lines(capsys.readouterr().err)["c4"][-1][-1] == "done"


def test_the_interval_must_be_positive():
    with pytest.raises(options.UsageError, match="progress_interval"):
        options.parse(["--progress_interval", "0"])
    args, _ = options.parse(["--progress_interval", "12.5", "--quiet"])
    assert args.progress_interval == 12.5 and args.quiet
