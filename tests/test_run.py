"""A whole run through beam_main's entry point: outputs, run.json, rerun skip, export, dry runs."""
import json

import datasets
import pyarrow.parquet as pq
import pytest
import yaml
import zstandard

from helpers import FIXTURES
from llamacorpus.pipeline.run import main


@pytest.fixture
def c4_recipe(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({
        "name": "c4-only", "input_root": str(FIXTURES), "output": str(tmp_path / "out"), "run": ["c4"],
        "sources": {"c4": {"inputs": ["c4/*.json.gz"], "min_chars": 300}},
        "mixture": {"enabled": False}}))
    return path


def test_run_writes_documents_stats_and_skips_when_finished(c4_recipe, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--recipe", str(c4_recipe), "--stages", "documents", "--no_report", "--set", "export_jsonl=true"]) == 0
    printed = capsys.readouterr().out
    assert "c4" in printed and "min_chars:too_short" in printed
    run = json.loads((out / "stats" / "run.json").read_text())
    c4 = run["sources"]["c4"]
    assert c4["records_read"] == 1000
    assert [s["step"] for s in c4["steps"]] == ["read", "min_chars"]
    assert all(s["balanced"] for s in c4["steps"])
    kept = c4["documents_out"]
    parts = sorted((out / "documents" / "c4").glob("part-*-of-*.parquet"))
    assert parts and sum(pq.ParquetFile(p).metadata.num_rows for p in parts) == kept
    loaded = datasets.load_dataset("parquet", data_files=[str(p) for p in parts], split="train")
    assert loaded.num_rows == kept and set(loaded.column_names) == {"id", "text", "source", "meta"}
    assert loaded[0]["meta"]["url"].startswith("http")  # meta is a typed struct
    dist = run["distributions"]["c4/output/chars"]
    assert dist["count"] == kept and dist["min"] >= 300 and len(dist["quantiles"]) == 101
    assert sum(dist["histogram"].values()) == kept
    # RedPajama layout export
    lines = []
    for path in (out / "jsonl" / "c4").glob("*.jsonl.zst"):
        lines += zstandard.ZstdDecompressor().decompress(path.read_bytes(), max_output_size=1 << 30).decode().splitlines()
    assert len(lines) == kept
    record = json.loads(lines[0])
    assert set(record) == {"text", "meta"} and record["meta"]["source"] == "c4"
    # a rerun with the same recipe and inputs reuses the finished source
    mtime = parts[0].stat().st_mtime_ns
    assert main(["--recipe", str(c4_recipe), "--stages", "documents", "--no_report", "--set", "export_jsonl=true"]) == 0
    run2 = json.loads((out / "stats" / "run.json").read_text())
    assert run2["run"]["sources_reused"] == ["c4"] and run2["sources"]["c4"] == c4
    assert parts[0].stat().st_mtime_ns == mtime
    # a changed threshold rebuilds it
    assert main(["--recipe", str(c4_recipe), "--stages", "documents", "--no_report",
                 "--set", "sources.c4.min_chars=1000"]) == 0
    run3 = json.loads((out / "stats" / "run.json").read_text())
    assert run3["run"]["sources_built"] == ["c4"] and run3["sources"]["c4"]["documents_out"] < kept


def test_bad_recipe_and_missing_input_fail_before_running(c4_recipe, tmp_path, capsys):
    assert main(["--recipe", str(c4_recipe), "--set", "sources.c4.inputs=[no/such-*.json.gz]"]) == 2
    assert "no/such-*.json.gz" in capsys.readouterr().err
    assert main(["--recipe", str(c4_recipe), "--set", "sources.c4.min_chars=-5"]) == 2
    assert "sources.c4.min_chars" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_dry_run_builds_the_dataflow_graph_offline(c4_recipe, tmp_path, capsys):
    argv = ["--recipe", str(c4_recipe), "--stages", "documents", "--dry_run",
            "--runner", "DataflowRunner", "--project", "llamacorpus-test", "--region", "us-central1",
            "--temp_location", "gs://llamacorpus-test/tmp", "--sdk_container_image", "example/llamacorpus:0.1.0"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "for DataflowRunner is valid" in printed
    assert not (tmp_path / "out").exists()


def test_dry_run_local(c4_recipe, tmp_path, capsys):
    assert main(["--recipe", str(c4_recipe), "--dry_run"]) == 0
    assert "for FnApiRunner is valid" in capsys.readouterr().out


def test_categories_count_documents_per_value(tmp_path):
    import collections

    from llamacorpus.parquet import read_documents

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"input_root": str(FIXTURES), "output": str(tmp_path / "out"), "run": ["github"],
                                      "sources": {"github": {"inputs": ["github/github_sample.jsonl"]}},
                                      "mixture": {"enabled": False}}))
    assert main(["--recipe", str(recipe), "--stages", "documents", "--no_report"]) == 0
    run = json.loads((tmp_path / "out" / "stats" / "run.json").read_text())
    docs = list(read_documents(str(tmp_path / "out"), "github"))
    assert run["categories"]["github/output/license"] == dict(collections.Counter(d["meta"]["license"] for d in docs))
    read = run["categories"]["github/read/license"]
    assert sum(read.values()) == run["sources"]["github"]["documents_in"]
    raw = collections.Counter(json.loads(line)["license"] for line in open(FIXTURES / "github/github_sample.jsonl"))
    assert read["none"] == raw[None] and read["GPL-2.0"] == raw["gpl-2.0"]
