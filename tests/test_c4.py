"""C4 source on the real fixture shard: documents, accounting, bad input."""
import gzip

import pytest

from helpers import FIXTURES, assert_accounting, run_source
from llamacorpus.sources.c4 import SOURCE, C4Config
from llamacorpus.steps import BadInput

SHARD = str(FIXTURES / "c4" / "c4-en-train.00000-of-01024.first1000.json.gz")


def test_reader_reads_real_shard_as_is():
    docs = list(SOURCE.read(C4Config(), SHARD))
    assert len(docs) == 1000
    first = docs[0]
    assert first["id"] == "c4/c4-en-train.00000-of-01024.first1000/1"
    assert first["source"] == "c4"
    assert first["text"].startswith("Beginners BBQ Class Taking Place in Missoula!")
    assert first["meta"] == {"url": "https://klyq.com/beginners-bbq-class-taking-place-in-missoula/",
                             "timestamp": "2019-04-25T12:57:54Z"}
    assert len({d["id"] for d in docs}) == 1000


def test_pipeline_accounting_and_min_chars(tmp_path):
    run = run_source("c4", {"inputs": ["c4/*.json.gz"], "min_chars": 500}, tmp_path)
    assert_accounting(run.stats)
    assert run.stats["records_read"] == 1000
    assert all(len(d["text"].strip()) >= 500 for d in run.docs)
    dropped = run.stats["dropped"]["min_chars:too_short"]
    assert dropped + len(run.docs) == 1000
    assert dropped == sum(len(d["text"].strip()) < 500 for d in SOURCE.read(C4Config(), SHARD))
    assert all(r["chars"] < 500 for r in run.rejected["too_short"])


def _bad_shard(tmp_path):
    """Real C4 lines with a line that is not JSON and a record without text in between."""
    with gzip.open(SHARD, "rb") as f:
        lines = f.read().splitlines(keepends=True)[:5]
    path = tmp_path / "in" / "c4-bad.json.gz"
    path.parent.mkdir()
    with gzip.open(path, "wb") as f:
        f.writelines([lines[0], b"{not json\n", lines[1], b'{"url": "http://x"}\n', b"\xff\xfe bad utf8\n", lines[2]])
    return path


def test_bad_lines_are_counted_with_location(tmp_path):
    path = _bad_shard(tmp_path)
    items = list(SOURCE.read(C4Config(), str(path)))
    kinds = [i.kind for i in items if isinstance(i, BadInput)]
    assert kinds == ["not_json", "missing_text", "invalid_utf8"]
    assert [i.location for i in items if isinstance(i, BadInput)] == [f"{path}:2", f"{path}:4", f"{path}:5"]
    run = run_source("c4", {"inputs": ["c4-bad.json.gz"]}, tmp_path / "out", input_root=tmp_path / "in")
    assert_accounting(run.stats)
    assert len(run.docs) == 3
    assert run.stats["errors"] == {"read:invalid_utf8": 1, "read:missing_text": 1, "read:not_json": 1}
    assert sorted(e["location"] for e in run.errors) == sorted([f"{path}:2", f"{path}:4", f"{path}:5"])


def test_truncated_gzip_keeps_what_was_read(tmp_path):
    data = open(SHARD, "rb").read()
    path = tmp_path / "c4-truncated.json.gz"
    path.write_bytes(data[: len(data) // 3])
    items = list(SOURCE.read(C4Config(), str(path)))
    assert isinstance(items[-1], BadInput) and items[-1].kind == "truncated_stream"
    assert 100 < len(items) < 1000
    assert all(not isinstance(i, BadInput) for i in items[:-1])


def test_missing_input_fails_naming_the_path(tmp_path):
    from llamacorpus.fileio import InputError

    with pytest.raises(InputError, match="nowhere/c4-.*json.gz"):
        run_source("c4", {"inputs": ["nowhere/c4-*.json.gz"]}, tmp_path)
