"""End to end on the fixtures of every source that exists: one pipeline run (documents,mix) writes
Megatron shards, manifest and the realised mixture; validate-shards passes; a rerun writes the same
bytes; the reader gives documents and windows back."""
from __future__ import annotations

import atexit
import collections
import contextlib
import dataclasses
import functools
import hashlib
import importlib
import io
import json
import shutil
import tempfile
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
import sentencepiece as spm
import yaml

from helpers import FIXTURES, RECIPE, make_context, test_pipeline
from llamacorpus import sources as source_registry
from llamacorpus.config import ConfigError
from llamacorpus.document import SOURCES
from llamacorpus.fileio import InputError
from llamacorpus import parquet
from llamacorpus.pipeline import io as pio
from llamacorpus.pipeline import recipe as recipe_mod
from llamacorpus.pipeline import run as run_mod
from llamacorpus.tokenize import megatron, shards, tags, validate

TOKENS_PER_SHARD = 200_000


def existing_sources() -> list[str]:
    """The sources whose module has landed and whose fixtures can run with the recipe as it is (a
    source that needs models trained first, say, is left out): the code is generic over sources."""
    return _runnable_sources()


@functools.lru_cache(maxsize=None)
def _runnable_sources() -> tuple:
    data = _recipe_data(_importable_sources())
    recipe = recipe_mod.from_dict(data)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = make_context(Path(tmp), recipe)
        names = []
        for name in recipe.sources:
            try:
                source_registry.get(name).prepare(recipe.sources[name], ctx)
            except (ConfigError, InputError) as exc:
                print(f"fixture run leaves out {name}: {exc}")
                continue
            names.append(name)
    return tuple(names)


def _importable_sources() -> list[str]:
    names = []
    for name in SOURCES:
        try:
            importlib.import_module(f"llamacorpus.sources.{name}")
        except ModuleNotFoundError:
            continue
        names.append(name)
    return names


def _recipe_data(names, **shards_keys) -> dict:
    data = yaml.safe_load(RECIPE.read_text())
    data["sources"] = {s: (data.get("sources") or {}).get(s) or {} for s in names}
    if "commoncrawl" in data["sources"]:  # no perplexity LMs here (make demo trains them): all 7 sources mix
        data["sources"]["commoncrawl"]["perplexity"] = {**data["sources"]["commoncrawl"].get("perplexity", {}),
                                                        "enabled": False}
    data["run"] = list(names)
    data["input_root"] = str(FIXTURES)
    data["report"] = False
    data["shards"] = {**data.get("shards", {}), "tokens_per_shard": TOKENS_PER_SHARD, **shards_keys}
    return data


def fixture_recipe(path: Path, **shards_keys) -> Path:
    path.write_text(yaml.safe_dump(_recipe_data(existing_sources(), **shards_keys)))
    return path


@dataclasses.dataclass
class FixtureRun:
    output: Path
    recipe: Path
    printed: str

    @property
    def shards(self) -> Path:
        return self.output / "shards"

    def manifest(self) -> dict:
        return megatron.load_manifest(str(self.shards))

    def mixture(self) -> dict:
        return json.loads((self.output / "stats" / "mixture.json").read_text())

    def tokenizer(self) -> spm.SentencePieceProcessor:
        return spm.SentencePieceProcessor(model_file=str(self.shards / "tokenizer.model"))

    def documents(self, source: str) -> list[dict]:
        return list(parquet.read_documents(str(self.output), source))


def run_pipeline(recipe: Path, output: Path, stages: str = "documents,mix") -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = run_mod.main(["--recipe", str(recipe), "--output", str(output), "--stages", stages])
    assert code == 0, out.getvalue()
    return out.getvalue()


@functools.lru_cache(maxsize=None)
def fixture_run() -> FixtureRun:
    """One run of the whole pipeline on the fixtures (shared by the tokenizer and shard tests)."""
    root = Path(tempfile.mkdtemp(prefix="llamacorpus-mix-"))
    atexit.register(shutil.rmtree, root, True)
    recipe = fixture_recipe(root / "recipe.yaml")
    return FixtureRun(root / "out", recipe, run_pipeline(recipe, root / "out"))


def tree_digest(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def run() -> FixtureRun:
    return fixture_run()


@pytest.mark.slow
def test_one_run_writes_valid_shards_and_manifest(run):
    manifest = run.manifest()
    names = list(existing_sources())
    assert manifest["sources"] == names and "c4" in names
    assert manifest["format"] == "megatron-indexed-dataset" and manifest["dtype"] == "uint16"
    assert manifest["vocab_size"] == run.tokenizer().get_piece_size() <= 32000
    assert (manifest["bos_id"], manifest["eos_id"]) == (1, 2)
    assert manifest["tokenizer_sha256"] == hashlib.sha256((run.shards / "tokenizer.model").read_bytes()).hexdigest()
    assert len(manifest["shards"]) == run.mixture()["shard_count"]["train"] > 1
    problems, summary = validate.validate(str(run.shards))
    assert problems == []
    assert summary["train"]["tokens"] == manifest["tokens"] > 0
    # held-out documents: exact counts per source, by the documented rule (the shards count
    # sequences: a held-out document of more than chunk_tokens is several)
    cfg = recipe_mod.load(str(run.recipe)).shards
    planned = run.mixture()["validation"]["planned"]
    for name in names:
        n = len(run.documents(name))
        held = planned.get(name, {"documents": 0, "units": 0})
        assert held["documents"] == shards.validation_count(n, cfg)
        assert manifest["validation"]["source_documents"].get(name, 0) == held["units"] >= held["documents"]


@pytest.mark.slow
def test_validate_shards_command(run, capsys):
    from llamacorpus.cli import main

    assert main(["validate-shards", str(run.shards)]) == 0
    printed = capsys.readouterr().out
    assert "shards valid" in printed and "train:" in printed and "validation:" in printed


@pytest.mark.slow
def test_every_planned_source_gets_its_share_within_tolerance(run):
    """All seven fixture sources: each within mixture.tolerance_pp of its Table 1 share (books and
    arXiv, a few long documents, included: they contribute chunks), within half a unit of its
    planned tokens; printed beside the plan, the same in run.json."""
    mix = run.mixture()
    assert mix["ok"] and mix["tolerance_pp"] == 0.5 and "within_sampling_error" not in mix, mix
    manifest = run.manifest()
    by_source = {r["source"]: r for r in mix["sources"]}
    assert set(existing_sources()) == set(SOURCES)
    for name in SOURCES:
        row = by_source[name]
        assert row["status"] == "ok" and row["ok"], row
        assert row["realised_tokens"] == manifest["source_tokens"].get(name, 0) > 0
        assert abs(row["realised_share"] - row["target_share"]) <= 0.005
        assert abs(row["realised_tokens"] - row["planned_tokens"]) <= row["max_unit_tokens"] / 2 + 1
        assert row["max_unit_tokens"] <= 2048
    for long_form in ("books", "arxiv"):  # a few long documents, many chunks
        assert by_source[long_form]["available_units"] > 2 * mix["available_documents"][long_form]
    assert manifest["units"]["chunk_tokens"] == 2048 and manifest["units"]["units"] > manifest["units"]["documents"]
    assert "mixture plan and realised mixture" in run.printed and "\033[" not in run.printed
    assert all(f"\n{name} " in run.printed for name in existing_sources())
    run_json = json.loads((run.output / "stats" / "run.json").read_text())
    assert run_json["mixture"] == mix


@pytest.mark.slow
def test_no_document_reaching_the_mixture_says_so(tmp_path):
    """Issue 14: every source empty -> the run fails naming it, not sentencepiece's TypeError."""
    from llamacorpus.pipeline import mix

    recipe = recipe_mod.from_dict({**_recipe_data(["c4", "arxiv"]), "output": str(tmp_path)})
    p = test_pipeline()
    empty = {n: p | f"empty/{n}" >> beam.Create([]) for n in ("c4", "arxiv")}
    mix.build(p, empty, recipe, make_context(tmp_path, recipe))
    with pytest.raises(Exception, match="no documents reached the mixture: every source of the mix stage "
                                        r"\(c4, arxiv\) has no documents left after cleaning") as info:
        p.run().wait_until_finish()
    assert "TypeError" not in str(info.value) and not (tmp_path / "shards" / "manifest.json").exists()


@pytest.mark.slow
def test_rerun_writes_byte_identical_shards_and_manifest(run, tmp_path):
    first = tree_digest(run.shards)
    mixture_before = (run.output / "stats" / "mixture.json").read_bytes()
    run_pipeline(run.recipe, run.output)  # sources reused from Parquet, mix rebuilt
    assert tree_digest(run.shards) == first
    assert (run.output / "stats" / "mixture.json").read_bytes() == mixture_before
    assert "manifest.json" in first and any(k.startswith("validation/") for k in first)


@pytest.mark.slow
def test_documents_come_back_from_the_shards(run):
    sp = run.tokenizer()
    manifest = run.manifest()
    by_source = {name: [d["text"] for d in run.documents(name)] for name in manifest["sources"]}
    seen_sources, whole, chunks = set(), 0, 0
    for entry, ds, sources in megatron.open_shards(str(run.shards), "train"):
        assert len(sources) == len(ds) == entry["documents"]
        for i in range(min(len(ds), 60)):
            doc, source = ds[i], manifest["sources"][sources[i]]
            assert doc[0] == manifest["bos_id"] and doc[-1] == manifest["eos_id"] and len(doc) <= 2048
            text = sp.decode(doc[1:-1].tolist())
            if text in by_source[source]:
                whole += 1
            else:  # a chunk: lines of one document of its source (its first space decodes away)
                assert any(text.lstrip(" ") in t for t in by_source[source]), text[:80]
                chunks += 1
            seen_sources.add(source)
        windows = list(ds.windows(512))
        assert len(windows) == ds.num_tokens // 512 and all(len(w) == 512 for w in windows)
        assert np.array_equal(np.concatenate(windows), ds.tokens[:len(windows) * 512])
    assert len(seen_sources) > 1  # sources interleave: the shuffle crosses sources
    assert whole and chunks


@pytest.mark.slow
def test_validation_documents_are_not_trained_on(run):
    sp = run.tokenizer()

    def texts(split):
        return {sp.decode(d[1:-1].tolist()) for _, ds, _ in megatron.open_shards(str(run.shards), split) for d in ds}

    held = texts("validation")
    assert held and not held & texts("train")


@pytest.mark.slow
def test_validate_finds_corruption(run, tmp_path):
    copy = tmp_path / "shards"
    shutil.copytree(run.shards, copy)
    manifest = megatron.load_manifest(str(copy))
    first, second = (copy / e["prefix"] for e in manifest["shards"][:2])
    data = bytearray((first.with_suffix(".bin")).read_bytes())
    data[2:4] = np.array([manifest["vocab_size"] + 5], dtype="<u2").tobytes()
    first.with_suffix(".bin").write_bytes(bytes(data))
    Path(megatron.sources_path(str(second))).unlink()
    problems, _ = validate.validate(str(copy))
    assert any("checksum" in p for p in problems)
    assert any(f">= vocab_size {manifest['vocab_size']}" in p for p in problems)
    assert any(f"{second.name}.sources.npy is missing" in p for p in problems)


@pytest.mark.slow
def test_domain_tags_are_trained_in_and_lead_each_document(run, tmp_path):
    """shards.domain_tags "domain" in the graph (the "source" mode differs only in the tag list:
    tests/test_tokenizer.py)."""
    from llamacorpus.pipeline import mix

    mode = "domain"
    names = ["c4", "arxiv"]
    data = _recipe_data(names, domain_tags=mode, domain_tag_count=8, validation_fraction=0.0,
                        validation_min_documents=0)
    data["tokenizer"] = {**data.get("tokenizer", {}), "vocab_size": 2000}
    recipe = recipe_mod.from_dict({**data, "output": str(tmp_path)})
    p = test_pipeline()
    documents = {n: p | f"read/{n}" >> pio.ReadDocuments(str(run.output), n) for n in names}
    mix.build(p, documents, recipe, make_context(tmp_path, recipe))
    p.run().wait_until_finish()
    manifest = megatron.load_manifest(str(tmp_path / "shards"))
    assert validate.validate(str(tmp_path / "shards"))[0] == []
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "shards" / "tokenizer.model"))
    assert manifest["tags"] and all(sp.piece_to_id(t) == i for t, i in manifest["tags"].items())
    by_text = {d["text"]: d for n in names for d in run.documents(n)}
    seen = 0
    for _, ds, sources in megatron.open_shards(str(tmp_path / "shards")):
        for doc, source_index in zip(ds, sources):
            assert doc[0] == manifest["bos_id"] and doc[-1] == manifest["eos_id"]
            text = sp.decode(doc[2:-1].tolist())
            original = by_text.get(text) or next(d for t, d in by_text.items() if text.lstrip(" ") in t)  # a chunk
            assert original["source"] == manifest["sources"][source_index]
            tag = tags.domain_tag(tags.domain_key(original))
            assert sp.id_to_piece(int(doc[1])) == (tag if tag in manifest["tags"] else tags.domain_tag(tags.OTHER))
            seen += 1
    assert seen == manifest["documents"] > 0
    counts = collections.Counter(tags.domain_key(d) for d in by_text.values())
    assert sorted(manifest["tags"]) == sorted(tags.symbols("domain", tags.top_domains(counts, 8)))  # + other
