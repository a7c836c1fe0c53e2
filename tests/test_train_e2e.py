"""Acceptance of issue 6 on CPU: fixtures -> pipeline (documents, mix) -> Megatron shards -> a few
hundred steps of the tiny preset. The pipeline trains its own BPE tokenizer in the graph (2,000
pieces here, so that the run stays short); the loss must fall well below ln(vocab) and every source
with held-out documents gets its validation loss."""
from __future__ import annotations

import json
import math

import pytest

from helpers import FIXTURES, RECIPE
from llamacorpus.model import train
from llamacorpus.pipeline import run


@pytest.mark.slow
def test_fixtures_pipeline_shards_train(tmp_path, capsys):
    code = run.main(["--recipe", str(RECIPE), "--input_root", str(FIXTURES), "--sources", "c4,wikipedia",
                     "--output", str(tmp_path), "--stages", "documents,mix", "--no_report",
                     "--set", "tokenizer.vocab_size=2000"])
    assert code == 0
    manifest = json.loads((tmp_path / "shards" / "manifest.json").read_text())
    assert manifest["vocab_size"] == 2000 and set(manifest["validation"]["source_documents"]) == {"c4", "wikipedia"}
    capsys.readouterr()
    assert train.main(["--shards", str(tmp_path / "shards"), "--preset", "tiny", "--steps", "300", "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    log = json.loads((tmp_path / "train" / "tiny" / train.LOG_NAME).read_text())  # the default --out
    summary = log["summary"]
    assert abs(summary["start_loss"] - math.log(2000)) < 0.15
    assert summary["end_loss"] < summary["start_loss"] - 2.0
    first, last = log["validation"][0]["loss"], log["validation"][-1]["loss"]
    for source in ("c4", "wikipedia"):
        assert last[source] < first[source] - 1.5
    assert "loss curve (tiny, 300 steps, 307,200 tokens)" in printed
    assert "  c4 " in printed and "  wikipedia " in printed
