"""Small two-source runs (C4 and GitHub, from the fixtures) for the reuse, kill-and-rerun and
portable-runner tests: inputs, a recipe, and the shard bytes to compare runs by."""
from __future__ import annotations

import gzip
from pathlib import Path

import yaml

from helpers import FIXTURES

SOURCES = ("c4", "github")
WAIT_S = 600  # generous: the machine may be loaded; a run of these normally ends within 30 s
C4_FIXTURE = FIXTURES / "c4" / "c4-en-train.00000-of-01024.first1000.json.gz"
GITHUB_FIXTURE = FIXTURES / "github" / "github_sample.jsonl"


def c4_lines() -> list[str]:
    with gzip.open(C4_FIXTURE, "rt", encoding="utf-8") as f:
        return f.read().splitlines()


def write_c4(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def make_inputs(root: Path) -> Path:
    """Two small real sources: C4 in two files, GitHub in one."""
    lines = c4_lines()
    write_c4(root / "c4" / "c4-part0.json.gz", lines[:150])
    write_c4(root / "c4" / "c4-part1.json.gz", lines[150:300])
    (root / "github").mkdir(parents=True)
    (root / "github" / "part0.jsonl").write_text(
        "\n".join(GITHUB_FIXTURE.read_text(encoding="utf-8").splitlines()[:80]) + "\n", encoding="utf-8")
    return root


def make_recipe(path: Path, inputs: Path, output: Path, **extra) -> Path:
    path.write_text(yaml.safe_dump({
        "name": "reuse-test", "input_root": str(inputs), "output": str(output), "run": list(SOURCES),
        "sources": {"c4": {"inputs": ["c4/*.json.gz"]}, "github": {"inputs": ["github/*.jsonl"]}},
        "mixture": {"weights": {"c4": {"proportion": 0.7, "epochs": 1.0},
                                "github": {"proportion": 0.3, "epochs": 1.0}}},
        "tokenizer": {"vocab_size": 1000}, "report": False, **extra}))
    return path


def shard_bytes(output: Path) -> dict[str, bytes]:
    """Every shard, index, source map and the tokenizer model, by relative path."""
    shards = output / "shards"
    files = [p for p in sorted(shards.rglob("*")) if p.is_file() and p.suffix in (".bin", ".idx", ".npy", ".model")]
    assert any(p.suffix == ".bin" for p in files)
    return {str(p.relative_to(shards)): p.read_bytes() for p in files}
