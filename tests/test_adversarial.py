"""Issue 14's adversarial suite, per source, and the acceptance run over all sources.

Per source (its real Beam branch, on the inputs :mod:`adversarial` builds from real fixture
records plus broken variants): the identity documents in = kept + dropped + errored holds on
every step, every bad record appears in errors/ or rejected/ with its outcome and where it was
(file and line, member or offset; a step's drop by its document id), every good record of the
same files is in documents/, and nothing outside an input got in.

The cases whose fix belonged to another engineer's branch are their own tests (the inputs of
:data:`adversarial.EXTRAS`); all of them pass now.

The acceptance run: ``beam_main``'s ``main`` over all seven sources at once, one set of
adversarial files per source, on two worker processes (``--direct_running_mode
multi_processing --direct_num_workers 2``): exits 0, and the same checks on run.json and the
output folders.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import adversarial
from helpers import SourceRun, assert_accounting, run_source
from llamacorpus import parquet
from llamacorpus.pipeline import io as pio
from llamacorpus.pipeline.run import main as run_main

SOURCES = list(adversarial.BUILDERS)
LEAKS = ("OUTSIDE THE INPUT ROOT", "ESCAPED")  # text of files outside a paper: never in documents


def check(adv: adversarial.Adversarial, run: SourceRun) -> None:
    """The acceptance checks of issue 14 on one source's outputs."""
    assert_accounting(run.stats)
    docs = {d["id"]: d for d in run.docs}
    missing = adv.good - set(docs)
    assert not missing, f"{adv.source}: good records not in documents/: {sorted(missing)}"
    for bad in adv.bad:
        kind, _, what = bad.outcome.partition(":")
        if kind == "error":
            places = [(e["location"], e.get("doc_id", "")) for e in run.errors if e["kind"] == what]
        else:
            places = [(r["location"], r["id"]) for r in run.rejected.get(what, [])]
        assert any(bad.where in location or bad.where == doc_id for location, doc_id in places), \
            f"{adv.source}: {bad.outcome} at {bad.where} not found; {bad.outcome} recorded at {places[:5]}"
    for doc_id, text in adv.contains.items():
        assert text in docs[doc_id]["text"], f"{doc_id}: {docs[doc_id]['text'][:300]!r}"
    steps = {s["step"]: s for s in run.stats["steps"]}
    for name, least in adv.counters.items():
        step, what = name.split("/")
        assert steps[step].get("counters", {}).get(what, 0) >= least, (name, steps[step])
    assert not any(leak in d["text"] for d in docs.values() for leak in LEAKS)


def run_adversarial(name: str, tmp_path: Path, extras=frozenset()) -> tuple[adversarial.Adversarial, SourceRun]:
    root = tmp_path / "in"
    adv = adversarial.BUILDERS[name](root, frozenset(extras))
    return adv, run_source(name, adv.section, tmp_path / "out", input_root=root)


# ---------------------------------------------------------------------------- per source

@pytest.mark.parametrize("name", SOURCES)
def test_adversarial_inputs_of_each_source(name, tmp_path):
    adv, run = run_adversarial(name, tmp_path)
    check(adv, run)


def test_page_whose_declared_charset_lies(tmp_path):
    adv, run = run_adversarial("commoncrawl", tmp_path, {"charset"})
    check(adv, run)


def test_jsonl_record_past_max_record_bytes(tmp_path):
    adv, run = run_adversarial("c4", tmp_path, {"oversize_record"})
    check(adv, run)


def test_binary_book(tmp_path):
    adv, run = run_adversarial("books", tmp_path, {"binary_book"})
    check(adv, run)


def test_lone_surrogates_in_c4_books_and_github_records(tmp_path):
    run_all(tmp_path, ["c4", "github", "books"], {"surrogates"})


def test_empty_input_of_every_source(tmp_path):
    run_all(tmp_path, SOURCES, {"empty_file"})


# ---------------------------------------------------------------------------- the acceptance run

def outputs(out: Path, name: str, run_json: dict) -> SourceRun:
    rejected_dir = out / "rejected" / name
    rejected = {f.stem: [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines() if line]
                for f in sorted(rejected_dir.glob("*.jsonl"))}
    return SourceRun(docs=list(parquet.read_documents(str(out), name)), stats=run_json["sources"][name],
                     counters={}, errors=pio.read_jsonl_dir(str(out / "errors" / name)), rejected=rejected, output=out)


ALL_EXTRAS = frozenset(adversarial.EXTRAS)


def run_all(tmp_path: Path, names: list[str], extras=frozenset(), workers: int = 0) -> None:
    """One run of ``beam_main``'s ``main`` over the adversarial inputs of ``names`` (on
    ``workers`` processes when given), and the checks of every source."""
    root = tmp_path / "in"
    built = {name: adversarial.BUILDERS[name](root, frozenset(extras)) for name in names}
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "adversarial", "input_root": str(root), "output": str(tmp_path / "out"), "run": names,
        "sources": {name: adv.section for name, adv in built.items()}, "mixture": {"enabled": False}}))
    beam = ["--direct_running_mode", "multi_processing", "--direct_num_workers", str(workers)] if workers else []
    assert run_main(["--recipe", str(recipe), "--stages", "documents", "--no_report", *beam]) == 0
    run_json = json.loads((tmp_path / "out" / "stats" / "run.json").read_text())
    assert set(run_json["sources"]) == set(names)
    for name, adv in built.items():
        for step in run_json["sources"][name]["steps"]:
            assert step["balanced"], (name, step)
        check(adv, outputs(tmp_path / "out", name, run_json))


@pytest.mark.parametrize("extras", [
    pytest.param(frozenset(), id="this-branch"),
    pytest.param(ALL_EXTRAS, id="all-of-issue-14"),
])
def test_acceptance_run_over_all_sources_on_two_workers(extras, tmp_path):
    run_all(tmp_path, SOURCES, extras, workers=2)
