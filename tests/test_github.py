"""GitHub source on the real BigQuery-style fixture: licences, readers (JSONL, Parquet, cloned
repositories), bad input, RedPajama's heuristics, and exact dedup across the run."""
import collections
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sentencepiece

from helpers import FIXTURES, assert_accounting, run_source
from llamacorpus.steps.filters.code_heuristics import (BUNDLED_TOKENIZER, REDPAJAMA_EXTENSIONS, CodeHeuristicsConfig,
                                                 CodeQualityFilter, language_of)
from llamacorpus.steps.clean.license_header import strip_license_header
from llamacorpus.fileio import InputError
from llamacorpus.licenses import detect_license, spdx_of
from llamacorpus.sources.github import SOURCE, GitHubConfig
from llamacorpus.steps import BadInput, Drop, run_steps

SAMPLE = FIXTURES / "github" / "github_sample.jsonl"
ROWS = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
KEPT_LICENSES = {"mit": "MIT", "apache-2.0": "Apache-2.0", "bsd-2-clause": "BSD-2-Clause", "bsd-3-clause": "BSD-3-Clause"}
LICENSE_FILES = [r for r in ROWS if os.path.basename(r["path"]).split(".")[0].upper() in ("LICENSE", "COPYING")]


def test_fixture_is_what_the_manifest_says():
    assert len(ROWS) == 286
    assert collections.Counter(r["license"] for r in ROWS) == {
        "mit": 102, "apache-2.0": 54, "bsd-3-clause": 15, "gpl-2.0": 45, "gpl-3.0": 8, "lgpl-2.1": 16,
        "other": 16, None: 30}


@pytest.mark.parametrize("row", LICENSE_FILES, ids=[r["repo_name"] for r in LICENSE_FILES])
def test_licence_detection_on_the_real_licence_files(row):
    assert detect_license(row["content"]) == spdx_of(row["license"])


def test_licence_detection_of_notices_and_other_texts():
    assert detect_license("Copyright 2020 X\n\nRedistribution and use in source and binary forms, with or "
                          "without modification, are permitted ...") == "BSD-2-Clause"
    assert detect_license("This program is free software; you can redistribute it under the terms of the GNU "
                          "Affero General Public License as published by the FSF, version 3.") == "AGPL-3.0"
    assert detect_license("This is free and unencumbered software released into the public domain.") == "Unlicense"
    assert detect_license("All rights reserved. Do not copy.") == "other"


def _write_repo(root, repo_name, with_git_config=True):
    """A cloned-repository directory holding the fixture's real files of ``repo_name``."""
    d = root / repo_name.split("/")[1]
    for r in ROWS:
        if r["repo_name"] == repo_name:
            f = d / r["path"]
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(r["content"], encoding="utf-8")
    if with_git_config:
        (d / ".git").mkdir()
        (d / ".git" / "config").write_text(f'[remote "origin"]\n\turl = https://github.com/{repo_name}.git\n')
        (d / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return d


@pytest.mark.parametrize("repo_name", sorted({r["repo_name"] for r in ROWS}))
def test_cloned_repository_licence_is_detected(tmp_path, repo_name):
    d = _write_repo(tmp_path, repo_name)
    items = list(SOURCE.read(GitHubConfig(), f"repo:{d}"))
    expected = spdx_of(next(r["license"] for r in ROWS if r["repo_name"] == repo_name))
    rows = {r["path"]: r["content"] for r in ROWS if r["repo_name"] == repo_name}
    assert sorted(i["meta"]["path"] for i in items) == sorted(rows)  # .git is not read
    for item in items:
        assert item["meta"]["license"] == expected
        assert item["meta"]["repo_name"] == repo_name
        assert item["id"] == f"github/{repo_name}/{item['meta']['path']}"
        assert item["text"] == rows[item["meta"]["path"]]


def test_cloned_repository_binary_other_charsets_and_name(tmp_path):
    d = _write_repo(tmp_path, "pallets/markupsafe", with_git_config=False)
    (d / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    original = (d / "src/markupsafe/__init__.py").read_text(encoding="utf-8")
    assert not original.isascii()
    (d / "src/markupsafe/__init__.py").write_bytes(original.encode("latin-1"))  # the real file, in Latin-1
    rng = __import__("random").Random(7)
    (d / "noise.txt").write_bytes(bytes(rng.randrange(1, 256) for _ in range(4096)))  # no NUL, still not text
    items = {(i.doc["meta"]["path"] if isinstance(i, Drop) else i["meta"]["path"]): i
             for i in SOURCE.read(GitHubConfig(), f"repo:{d}")}
    assert items["logo.png"].reason == "binary" and items["noise.txt"].reason == "binary"
    assert items["src/markupsafe/__init__.py"]["text"] == original  # decoded in the charset detected, not dropped
    assert items["src/markupsafe/_native.py"]["meta"]["repo_name"] == "markupsafe"  # no .git/config: dir name
    assert items["src/markupsafe/_native.py"]["meta"]["license"] == "BSD-3-Clause"


def test_reader_meta_and_ids():
    docs = list(SOURCE.read(GitHubConfig(), str(SAMPLE)))
    assert len(docs) == 286 and len({d["id"] for d in docs}) == 286
    doc = next(d for d in docs if d["meta"]["path"] == "src/markupsafe/_speedups.c")
    assert doc["id"] == "github/pallets/markupsafe/src/markupsafe/_speedups.c"
    assert doc["meta"] == {"repo_name": "pallets/markupsafe", "path": "src/markupsafe/_speedups.c",
                           "license": "BSD-3-Clause", "language": "C"}
    assert language_of("Makefile") == "Makefile" and language_of("x/y.pyx") == "Cython" and language_of("a.b") is None


def test_parquet_export_reads_like_jsonl(tmp_path):
    path = tmp_path / "github.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS[:40]), path)
    from_parquet = list(SOURCE.read(GitHubConfig(), str(path)))
    from_jsonl = list(SOURCE.read(GitHubConfig(), str(SAMPLE)))[:40]
    assert from_parquet == from_jsonl


def _bad_jsonl(tmp_path):
    good = SAMPLE.read_bytes().splitlines()[:3]
    lines = [good[0], b"{not json", good[1],
             json.dumps({"repo_name": "x/y", "path": "a.py", "license": "mit", "content": None, "binary": True}).encode(),
             json.dumps({"repo_name": "x/y", "path": "b.py", "license": "mit", "content": "a\u0000b"}).encode(),
             b'{"repo_name": "x/y", "path": "c.py", "license": "mit", "content": "bad \\ud800 half"}',
             json.dumps({"repo_name": "x/y", "path": "d.py", "license": "mit"}).encode(),
             json.dumps({"path": "e.py", "content": "x = 1"}).encode(),
             b'{"repo_name": "x/y", "path": "f.py", "content": "caf\xe9"}',
             good[2]]
    d = tmp_path / "in"
    d.mkdir()
    path = d / "bad.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_bad_rows_are_counted_with_location(tmp_path):
    path = _bad_jsonl(tmp_path)
    items = list(SOURCE.read(GitHubConfig(), str(path)))
    assert [(i.kind, i.location) for i in items if isinstance(i, BadInput)] == [
        ("not_json", f"{path}:2"), ("invalid_unicode", f"{path}:6"), ("missing_content", f"{path}:7"),
        ("missing_field", f"{path}:8"), ("invalid_utf8", f"{path}:9")]
    assert [(i.reason, i.location) for i in items if isinstance(i, Drop)] == [
        ("binary", f"{path}:4"), ("binary", f"{path}:5")]
    run = run_source("github", {"inputs": ["bad.jsonl"]}, tmp_path / "out", input_root=tmp_path / "in")
    assert_accounting(run.stats)
    assert run.stats["records_read"] == 10
    assert run.stats["errors"] == {"read:invalid_utf8": 1, "read:missing_content": 1, "read:missing_field": 1,
                                   "read:not_json": 1, "read:invalid_unicode": 1}  # the lone surrogate of line 6
    assert run.stats["dropped"]["read:binary"] == 2
    assert sorted(e["location"] for e in run.errors) == sorted(f"{path}:{n}" for n in (2, 6, 7, 8, 9))
    [unicode] = [e for e in run.errors if e["kind"] == "invalid_unicode"]
    assert unicode["message"] == "a lone UTF-16 surrogate in content"


def expected_kept_per_license():
    """The fixture's rows that should survive, computed here from the rows and the recipe values."""
    cfg = CodeHeuristicsConfig()
    sp = sentencepiece.SentencePieceProcessor(model_file=str(BUNDLED_TOKENIZER))
    kept = collections.Counter()
    for r in ROWS:
        name = os.path.basename(r["path"])
        if r["license"] not in KEPT_LICENSES or name.split(".")[0].upper() in ("LICENSE", "NOTICE"):
            continue
        if not r["path"].endswith(tuple(REDPAJAMA_EXTENSIONS)):
            continue
        text, _ = strip_license_header(r["content"], language_of(r["path"]))
        lines = text.splitlines()
        if not text.strip() or max(map(len, lines)) > 1000 or len(text) / len(lines) > 100:
            continue
        if sum(c.isalnum() for c in text) / len(text) < 0.25:
            continue
        if sum(c.isalpha() for c in text) / len(sp.encode(text)) < 1.5:
            continue
        kept[KEPT_LICENSES[r["license"]]] += 1
    return kept


def test_pipeline_on_the_fixture(tmp_path):
    run = run_source("github", {"inputs": ["github/github_sample.jsonl"]}, tmp_path)
    assert_accounting(run.stats)
    assert run.stats["records_read"] == 286 and run.stats["errors"] == {}
    licenses = collections.Counter(d["meta"]["license"] for d in run.docs)
    assert set(licenses) <= {"MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause"}  # no GPL/LGPL/other/none
    assert licenses == expected_kept_per_license()
    assert licenses == {"MIT": 68, "Apache-2.0": 40, "BSD-3-Clause": 8}
    assert run.stats["dropped"] == {
        "license:license=gpl-2.0": 45, "license:license=gpl-3.0": 8, "license:license=lgpl-2.1": 16,
        "license:license=other": 16, "license:license=none": 30,
        "file_type:license_file": 7, "file_type:extension": 23,
        "code_quality:alpha_per_token": 22, "code_quality:max_line_length": 1, "code_quality:empty": 2}
    assert [s["step"] for s in run.stats["steps"]] == ["read", "license", "file_type", "license_header",
                                                        "code_quality", "exact_dedup"]
    for doc in run.docs:
        for key in ("repo_name", "path", "license", "language", "max_line_length", "mean_line_length",
                    "alnum_fraction", "alpha_per_token"):
            assert key in doc["meta"]
        assert doc["meta"]["alpha_per_token"] >= 1.5 and doc["meta"]["max_line_length"] <= 1000
    dedup = next(d for d in run.docs if d["meta"]["path"] == "cc_net/dedup.py")
    assert dedup["text"].startswith('"""\nTools to remove duplicate paragraphs') and dedup["meta"]["header_chars_removed"] > 0
    assert run.rejected["license=gpl-2.0"][0]["meta"]["license"] == "GPL-2.0"


def test_exact_duplicates_across_repositories_keep_one(tmp_path):
    """A fork holding the same file, and a copy that differs only in its licence header, collapse
    to one copy: the one whose id has the smallest stable_hash."""
    from llamacorpus.document import stable_hash

    src = next(r for r in ROWS if r["path"] == "cc_net/text_normalizer.py")
    tokenizer = next(r for r in ROWS if r["path"] == "cc_net/execution.py")
    body = strip_license_header(tokenizer["content"], "Python")[0]
    rows = [tokenizer, {**tokenizer, "repo_name": "someone/cc_net_fork"},
            {**tokenizer, "repo_name": "other/vendored", "license": "apache-2.0",
             "content": "# Copyright 2023 Other Corp.\n# SPDX-License-Identifier: Apache-2.0\n\n" + body}, src]
    d = tmp_path / "in"
    d.mkdir()
    (d / "forks.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    run = run_source("github", {"inputs": ["forks.jsonl"]}, tmp_path / "out", input_root=d)
    assert_accounting(run.stats)
    copies = ["github/facebookresearch/cc_net/cc_net/execution.py", "github/someone/cc_net_fork/cc_net/execution.py",
              "github/other/vendored/cc_net/execution.py"]
    keeper = min(copies, key=lambda i: (stable_hash(i), i))
    assert run.stats["dropped"].get("exact_dedup:duplicate_content") == 2
    kept = {doc["id"] for doc in run.docs}
    assert keeper in kept and not (set(copies) - {keeper}) & kept
    assert {r["meta"]["duplicate_of"] for r in run.rejected["duplicate_content"]} == {keeper}


def test_quality_scores_and_reasons_on_real_files():
    step = CodeQualityFilter(CodeHeuristicsConfig())
    wanted = {"googler", "public/js/vendor/angular.min.js", "cc_net/mine.py"}
    docs = [d for d in SOURCE.read(GitHubConfig(), str(SAMPLE)) if d["meta"]["path"] in wanted]
    report = run_steps([step], docs, "github")
    assert {d.doc["meta"]["path"]: d.reason for _, d in report.dropped} == {
        "public/js/vendor/angular.min.js": "mean_line_length"}  # minified: lines under 1000, mean far over 100
    kept = {d["meta"]["path"]: d["meta"] for d in report.kept}
    assert set(kept) == {"googler", "cc_net/mine.py"}
    assert 1.5 < kept["cc_net/mine.py"]["alpha_per_token"] < 4 and kept["cc_net/mine.py"]["alnum_fraction"] > 0.25


def test_missing_tokenizer_model_fails_before_the_run(tmp_path):
    with pytest.raises(InputError, match="heuristics.tokenizer_model"):
        run_source("github", {"inputs": ["github/*.jsonl"], "heuristics": {"tokenizer_model": str(tmp_path / "no.model")}},
                   tmp_path)


def test_pipeline_on_cloned_repositories(tmp_path):
    """The `repos` input: licence detected per repository, then the same steps as the export."""
    root = tmp_path / "repos"
    for name in ("facebookresearch/cc_net", "jarun/googler", "kevswanberg/beer_tentrr"):
        _write_repo(root, name)
    run = run_source("github", {"inputs": [], "repos": ["*"]}, tmp_path / "out", input_root=root)
    assert_accounting(run.stats)
    assert run.stats["records_read"] == sum(r["repo_name"] in ("facebookresearch/cc_net", "jarun/googler",
                                                               "kevswanberg/beer_tentrr") for r in ROWS)
    assert {d["meta"]["repo_name"] for d in run.docs} == {"facebookresearch/cc_net"}
    assert run.stats["dropped"]["license:license=gpl-3.0"] == 8 and run.stats["dropped"]["license:license=none"] == 18
    with pytest.raises(InputError, match="repos path .*nowhere"):
        run_source("github", {"repos": ["nowhere/*"]}, tmp_path / "out2", input_root=root)
