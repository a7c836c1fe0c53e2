"""Reader robustness (issue 14): every reader, given a file of good records mixed with records
broken in each way its format allows, gives every good record and counts every bad one with its
location; empty, vanished and undecodable inputs, lone surrogates, oversize records and symlinks
out of a repository, each with the one rule the read adapter or the shared readers apply."""
import bz2
import gzip
import json
import random
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import FIXTURES, assert_accounting, run_source
from llamacorpus.sources.books import SOURCE as BOOKS, BooksConfig
from llamacorpus.sources.c4 import SOURCE as C4, C4Config
from llamacorpus.sources.github import SOURCE as GITHUB, GitHubConfig
from llamacorpus.sources.stackexchange import SOURCE as SE, StackExchangeConfig
from llamacorpus.steps import Drop, Note

C4_SHARD = FIXTURES / "c4" / "c4-en-train.00000-of-01024.first1000.json.gz"
GITHUB_ROWS = [json.loads(line) for line in (FIXTURES / "github" / "github_sample.jsonl").read_text("utf-8").splitlines()]
COFFEE = FIXTURES / "stackexchange" / "coffee.stackexchange.com-Posts.xml"
BOUND = 32 << 10  # max_record_bytes in these tests: above every real record used here


def c4_lines(n):
    return gzip.decompress(C4_SHARD.read_bytes()).splitlines(keepends=True)[:n]


def read_step(run) -> dict:
    return run.stats["steps"][0]


def error_set(run) -> set[tuple[str, str]]:
    return {(e["kind"], e["location"]) for e in run.errors if e["step"] == "read"}


def write_lines(path, lines: list[bytes], compress=False):
    data = b"\n".join(lines) + b"\n"
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


# ---------------------------------------------------------------------------- C4

def test_c4_good_lines_all_come_out_and_every_broken_one_is_counted_where_it_is(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    good = [line.rstrip(b"\n") for line in c4_lines(6)]
    broken = [b"{not json", b"[1, 2]", b'{"url": "http://x.org"}', b'{"text": 5}', b"\xff\xfe not utf-8",
              b'{"text": "a lone \\ud800 surrogate"}', b'{"text": "fine", "url": "http://x.org/\\udc00"}',
              b'{"text": "' + b"z" * (2 * BOUND) + b'"}', b"   "]
    lines = [good[0], *broken[:4], good[1], *broken[4:], good[2]]
    mixed = write_lines(root / "c4-mixed.json.gz", lines, compress=True)
    whole = gzip.compress(b"".join(c4_lines(40)))
    (root / "c4-truncated.json.gz").write_bytes(whole[: len(whole) // 2])
    write_lines(root / "c4-plain.json", good[3:])
    run = run_source("c4", {"inputs": ["c4-*"], "max_record_bytes": BOUND, "split_bytes": 300}, tmp_path / "out",
                     input_root=root)
    assert_accounting(run.stats)
    expected = {("not_json", f"{mixed}:2"), ("not_an_object", f"{mixed}:3"), ("missing_text", f"{mixed}:4"),
                ("missing_text", f"{mixed}:5"), ("invalid_utf8", f"{mixed}:7"), ("invalid_unicode", f"{mixed}:8"),
                ("invalid_unicode", f"{mixed}:9"), ("oversize_record", f"{mixed}:10")}
    truncated = {e for e in error_set(run) if "truncated" in e[1]}
    assert error_set(run) - truncated == expected
    assert [k for k, _ in truncated] == ["truncated_stream"]
    truncated_docs = [d for d in C4.read(C4Config(), str(root / "c4-truncated.json.gz")) if isinstance(d, dict)]
    ids = {d["id"] for d in run.docs}
    assert ids == {"c4/c4-mixed/1", "c4/c4-mixed/6", "c4/c4-mixed/12", "c4/c4-plain/1", "c4/c4-plain/2",
                   "c4/c4-plain/3"} | {d["id"] for d in truncated_docs}
    assert len(truncated_docs) > 5
    assert read_step(run)["counters"]["splits"] > 3  # the plain file was read in pieces


# ---------------------------------------------------------------------------- GitHub

def test_github_jsonl_rows_broken_in_every_way(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    good = [json.dumps(r).encode() for r in GITHUB_ROWS[:4]]
    row = {"repo_name": "x/y", "license": "mit"}
    broken = [b"{not json", json.dumps({**row, "content": "x = 1"}).encode(),  # no path
              json.dumps({**row, "path": "a.py", "content": None}).encode(),
              json.dumps({**row, "path": "b.py", "content": "x", "binary": True}).encode(),
              json.dumps({**row, "path": "c.py", "content": "a\u0000b"}).encode(),
              b'{"repo_name": "x/y", "path": "d\\udfff.py", "license": "mit", "content": "x = 1"}',
              b'{"repo_name": "x/y", "path": "e.py", "license": "mit", "content": "bad \\ud800 half"}',
              b'{"repo_name": "x/y", "path": "f.py", "content": "caf\xe9"}',
              json.dumps({**row, "path": "g.py", "content": "y" * (2 * BOUND)}).encode()]
    path = write_lines(root / "github.jsonl", [good[0], *broken[:5], good[1], *broken[5:], good[2], good[3]])
    run = run_source("github", {"inputs": ["*.jsonl"], "max_record_bytes": BOUND}, tmp_path / "out", input_root=root)
    assert_accounting(run.stats)
    assert error_set(run) == {("not_json", f"{path}:2"), ("missing_field", f"{path}:3"),
                              ("missing_content", f"{path}:4"), ("invalid_unicode", f"{path}:8"),
                              ("invalid_unicode", f"{path}:9"), ("invalid_utf8", f"{path}:10"),
                              ("oversize_record", f"{path}:11")}
    read = read_step(run)
    assert read["dropped"] == {"binary": 2} and read["kept"] == 4
    served = {f"github/{r['repo_name']}/{r['path']}" for r in GITHUB_ROWS[:4]}
    assert {d["id"] for d in run.docs} <= served  # the later steps judge them; nothing else came through
    assert {d["id"] for d in GITHUB.read(GitHubConfig(max_record_bytes=BOUND), str(path))
            if isinstance(d, dict)} == served


def test_github_parquet_rows_and_a_damaged_parquet_file(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    rows = [dict(r) for r in GITHUB_ROWS[:12]]
    rows[2]["content"], rows[5]["repo_name"], rows[8]["content"] = None, None, "a\u0000b"
    rows[9]["binary"] = True
    for r in rows:
        r.setdefault("binary", False)
    path = root / "github-0.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=3)
    data = path.read_bytes()
    (root / "github-1.parquet").write_bytes(data[: len(data) // 2])
    run = run_source("github", {"inputs": ["*.parquet"], "split_bytes": 2000}, tmp_path / "out", input_root=root)
    assert_accounting(run.stats)
    assert error_set(run) == {("missing_content", f"{path}:row3"), ("missing_field", f"{path}:row6"),
                              ("corrupt_parquet", str(root / "github-1.parquet"))}
    assert read_step(run)["dropped"] == {"binary": 2} and read_step(run)["kept"] == 8
    assert read_step(run)["counters"]["splits"] > 2


def test_github_repository_symlinks_and_dot_dots_stay_inside(tmp_path):
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "id_rsa.py").write_text("PRIVATE = 'do not read me'\n")
    repo = tmp_path / "repos" / "markupsafe"
    for r in GITHUB_ROWS:
        if r["repo_name"] == "pallets/markupsafe":
            (repo / r["path"]).parent.mkdir(parents=True, exist_ok=True)
            (repo / r["path"]).write_text(r["content"], encoding="utf-8")
    (repo / "src" / "link.py").symlink_to(outside / "id_rsa.py")
    (repo / "src" / "linked_dir").symlink_to(outside, target_is_directory=True)
    (repo / "src" / "dotdot.py").symlink_to("../../../secret/id_rsa.py")
    (repo / ".git").mkdir()
    (repo / ".git" / "config").symlink_to(outside / "id_rsa.py")
    (repo / "LICENSE.md").symlink_to(outside / "id_rsa.py")
    items = list(GITHUB.read(GitHubConfig(), f"repo:{repo}"))
    texts = [i["text"] for i in items if isinstance(i, dict)]
    assert texts and not any("do not read me" in t for t in texts)
    assert sorted(i.doc["meta"]["path"] for i in items if isinstance(i, Drop) and i.reason == "symlink") == \
        ["LICENSE.md", "src/dotdot.py", "src/link.py", "src/linked_dir"]
    run = run_source("github", {"inputs": [], "repos": ["*"]}, tmp_path / "out", input_root=tmp_path / "repos")
    assert_accounting(run.stats)
    assert read_step(run)["dropped"]["symlink"] == 4
    assert not any("do not read me" in d["text"] for d in run.docs)


# ---------------------------------------------------------------------------- books

def test_books_text_files_binary_redetected_and_empty(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    (root / "84-0_frankenstein.txt").write_bytes((FIXTURES / "books" / "84-0_frankenstein.txt").read_bytes())
    rng = random.Random(14)
    (root / "not-a-book.txt").write_bytes(bytes(rng.randrange(256) for _ in range(50_000)))
    ukrainian = "Крапка — розділовий знак, що ставиться в кінці речення. " * 400
    (root / "uk-cp1251.txt").write_bytes(("Character set encoding: UTF-8\n\n" + ukrainian).encode("cp1251"))
    (root / "empty.txt").write_bytes(b"")
    run = run_source("books", {"inputs": ["*.txt"]}, tmp_path / "out", input_root=root)
    assert_accounting(run.stats)
    read = read_step(run)
    assert read["dropped"] == {"binary": 1} and read["counters"]["charset_redetected"] == 1
    assert error_set(run) == {("empty_file", str(root / "empty.txt"))}
    docs = {d["id"]: d for d in run.docs}
    assert docs["books/gutenberg/uk-cp1251"]["text"].strip().endswith(ukrainian.strip())
    assert docs["books/gutenberg/uk-cp1251"]["meta"]["encoding"] == "cp1251"
    assert set(docs) == {"books/gutenberg/uk-cp1251", "books/gutenberg/84-0_frankenstein"}
    assert [r["id"] for r in run.rejected["binary"]] == ["books/gutenberg/not-a-book"]


def test_books_jsonl_records_broken_in_every_way(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    alice = (FIXTURES / "books" / "11-0_alice_current.txt").read_text("utf-8")[:3000]
    frank = (FIXTURES / "books" / "84-0_frankenstein.txt").read_text("utf-8")[:3000]
    lines = [json.dumps({"text": alice, "meta": {"pile_set_name": "Books3"}}).encode(), b"{this is not json",
             b'{"meta": {"title": "no text"}}', b'{"text": ["a", "list"]}', b'{"text": "caf\xe9"}',
             b'{"text": "a \\ud834 half pair", "meta": {"title": "x"}}',
             b'{"text": "fine", "meta": {"title": "Bad \\udd1e title"}}',
             json.dumps({"text": "w" * (2 * BOUND)}).encode(), json.dumps({"text": frank, "title": "F"}).encode()]
    path = write_lines(root / "books3.jsonl", lines)
    run = run_source("books", {"inputs": ["*.jsonl"], "max_record_bytes": BOUND, "split_bytes": 1000},
                     tmp_path / "out", input_root=root)
    assert_accounting(run.stats)
    assert error_set(run) == {("not_json", f"{path}:2"), ("missing_text", f"{path}:3"), ("missing_text", f"{path}:4"),
                              ("invalid_utf8", f"{path}:5"), ("invalid_unicode", f"{path}:6"),
                              ("invalid_unicode", f"{path}:7"), ("oversize_record", f"{path}:8")}
    assert {d["id"] for d in run.docs} == {"books/books3/books3/1", "books/books3/books3/9"}


# ---------------------------------------------------------------------------- Stack Exchange

def test_stackexchange_rows_broken_in_every_way(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    rows = COFFEE.read_bytes().splitlines(keepends=True)
    rows[3] = rows[3].replace(b'" OwnerUserId', b' OwnerUserId', 1)  # a quote lost: not well-formed
    rows[4] = re.sub(rb'Score="\d+"', b'Score="many"', rows[4])
    rows[5] = re.sub(rb' Id="\d+"', b"", rows[5])
    answer = next(i for i, r in enumerate(rows) if b'PostTypeId="2"' in r)
    rows[answer] = re.sub(rb' ParentId="\d+"', b"", rows[answer])
    rows[9] = b'  <row Id="77777" PostTypeId="1" Score="1" Body="' + b"q" * (2 * BOUND) + b'" />\n'
    rows[10] = rows[10][:50] + b"\n"  # a row cut short
    path = root / "coffee.stackexchange.com-Posts.xml"
    path.write_bytes(b"".join(rows))
    (root / "empty.stackexchange.com-Posts.xml").write_bytes(b"")
    run = run_source("stackexchange", {"inputs": ["*-Posts.xml"], "max_record_bytes": BOUND, "split_bytes": 50_000},
                     tmp_path / "out", input_root=root)
    assert_accounting(run.stats)
    bad_lines = sorted([4, 5, 6, 10, 11, answer + 1])
    assert error_set(run) == {("malformed_row", f"{path}:{n}") for n in bad_lines if n != 10} | {
        ("oversize_record", f"{path}:10"), ("empty_file", str(root / "empty.stackexchange.com-Posts.xml"))}
    serial = [i for i in SE.read(StackExchangeConfig(max_record_bytes=BOUND), str(path))]
    assert read_step(run)["kept"] == sum(isinstance(i, dict) for i in serial) == 552 - len(bad_lines)
    assert read_step(run)["counters"]["splits"] > 10


# ---------------------------------------------------------------------------- Wikipedia

def test_wikipedia_pages_broken_in_every_way(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    xml = (FIXTURES / "wikipedia" / "svwiki-minidump.xml").read_bytes()
    page = xml[xml.index(b"  <page>"): xml.index(b"</page>") + len(b"</page>\n")]

    def with_id(n, title):
        return re.sub(rb"<id>1</id>", b"<id>%d</id>" % n, page, count=1).replace(b"<title>Amager", b"<title>" + title)

    pages = [with_id(10, b"Good one"), with_id(11, b"Bad & unescaped"),
             re.sub(rb"<id>1</id>", b"", page, count=1), b"  stray text between pages\n",
             with_id(12, b"Good two"), with_id(13, b"Unclosed").replace(b"</page>", b""), with_id(14, b"Good three")]
    head, tail = xml[: xml.index(b"  <page>")], b"</mediawiki>\n"
    path = root / "svwiki-20230501-pages-articles.xml.bz2"
    path.write_bytes(bz2.compress(head + b"".join(pages) + tail))
    truncated = root / "svwiki-20230502-pages-articles.xml.bz2"
    streams = [bz2.compress(part) for part in (head, with_id(20, b"Before the cut"), with_id(21, b"Cut"))]
    truncated.write_bytes(b"".join(streams)[:-40])  # the last stream ends early
    run = run_source("wikipedia", {"inputs": ["*.xml.bz2"]}, tmp_path / "out", input_root=root)
    assert_accounting(run.stats)
    kinds = sorted(k for k, _ in error_set(run))
    assert kinds == ["malformed_page", "malformed_xml", "malformed_xml", "malformed_xml", "truncated_bz2"]
    assert all(loc.startswith(str(root)) and re.search(r":\d+$", loc) for _, loc in error_set(run))
    assert {d["id"] for d in run.docs} == {"wikipedia/sv/10", "wikipedia/sv/12", "wikipedia/sv/14", "wikipedia/sv/20"}


# ---------------------------------------------------------------------------- one rule for every source

EMPTY_INPUTS = {"c4": "c4-empty.json.gz", "github": "empty.jsonl", "books": "empty.txt",
                "stackexchange": "empty.stackexchange.com-Posts.xml",
                "wikipedia": "enwiki-20230501-pages-articles.xml.bz2", "arxiv": "arXiv_src_2101_001.tar"}


@pytest.mark.parametrize("name", sorted(EMPTY_INPUTS))
def test_an_empty_input_of_any_source_is_counted(tmp_path, name):
    root = tmp_path / "in"
    root.mkdir()
    (root / EMPTY_INPUTS[name]).write_bytes(b"")
    run = run_source(name, {"inputs": [EMPTY_INPUTS[name]]}, tmp_path / "out", input_root=root)
    assert_accounting(run.stats)
    assert run.stats["errors"] == {"read:empty_file": 1} and run.docs == []
    assert [(e["kind"], e["location"]) for e in run.errors] == [("empty_file", str(root / EMPTY_INPUTS[name]))]


def test_an_input_that_vanished_after_listing_is_unreadable_not_corrupt(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    write_lines(root / "c4-a.json.gz", [line.rstrip(b"\n") for line in c4_lines(3)], compress=True)
    gone = write_lines(root / "c4-b.json.gz", [line.rstrip(b"\n") for line in c4_lines(3)], compress=True)
    run = run_source("c4", {"inputs": ["c4-*.json.gz"]}, tmp_path / "out", input_root=root,
                     check=lambda docs: gone.unlink())  # listed when the graph was built, gone when it runs
    assert_accounting(run.stats)
    assert [(e["kind"], e["location"]) for e in run.errors] == [("unreadable_input", str(gone))]
    assert "FileNotFoundError" in run.errors[0]["message"]
    assert len(run.docs) == 3


def test_a_reader_that_cannot_open_its_input_says_so():
    """The rule holds past the planning stage too: an open that fails in a reader is unreadable_input."""
    from llamacorpus.steps.adapter import read_error_kind

    with pytest.raises(FileNotFoundError) as missing:
        list(C4.read(C4Config(), "/nonexistent/c4.json.gz"))
    with pytest.raises(IsADirectoryError) as directory:
        list(BOOKS.read(BooksConfig(), str(FIXTURES / "books")))
    assert read_error_kind(missing.value) == read_error_kind(directory.value) == "unreadable_input"
    assert read_error_kind(EOFError()) == "eoferror"


def test_readers_never_yield_a_string_that_cannot_be_written(tmp_path):
    """What comes out of every reader encodes as UTF-8 (the rule the writers rely on)."""
    path = write_lines(tmp_path / "books.jsonl", [b'{"text": "ok", "meta": {"tags": ["a", "\\ud800"]}}',
                                                  b'{"text": "ok too"}'])
    items = list(BOOKS.read(BooksConfig(), str(path)))
    assert [type(i).__name__ for i in items] == ["BadInput", "dict"]
    assert items[0].kind == "invalid_unicode" and items[0].message == "a lone UTF-16 surrogate in meta"
    for item in items:
        json.dumps(item if isinstance(item, dict) else item.record("books", "read"), ensure_ascii=False).encode("utf-8")
    assert not any(isinstance(i, Note) for i in items)
