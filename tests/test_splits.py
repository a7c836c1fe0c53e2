"""One big input read by many workers (issue 15): each source's pieces, read one by one, give
exactly what one worker reading the whole file gives (documents, ids, drops, errors and their
locations), on the real fixtures made big-file-shaped here; and the Beam adapter fans them out."""
import bz2
import gzip
import json
import random
import re
import shutil

import py7zr
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import FIXTURES, assert_accounting, run_source
from llamacorpus import fileio
from llamacorpus.sources import lines
from llamacorpus.sources.base import Split
from llamacorpus.sources.books import SOURCE as BOOKS, BooksConfig
from llamacorpus.sources.c4 import SOURCE as C4, C4Config
from llamacorpus.sources.github import SOURCE as GITHUB, GitHubConfig
from llamacorpus.sources.stackexchange import SOURCE as SE, StackExchangeConfig
from llamacorpus.sources.wikipedia import SOURCE as WIKI, WikipediaConfig
from llamacorpus.sources.wikipedia.dump import multistream_index
from llamacorpus.steps import BadInput
from llamacorpus.steps.adapter import number_pieces

C4_SHARD = FIXTURES / "c4" / "c4-en-train.00000-of-01024.first1000.json.gz"
COFFEE = FIXTURES / "stackexchange" / "coffee.stackexchange.com-Posts.xml"
GITHUB_SAMPLE = FIXTURES / "github" / "github_sample.jsonl"
ENWIKI = FIXTURES / "wikipedia" / "enwiki-pages-articles1-shortened.xml.bz2"


def read_in_pieces(source, cfg, path, staging=""):
    """What the adapter does, one piece after another: plan, count, number, read."""
    pieces = source.splits(cfg, str(path), fileio.size(str(path)), str(staging))
    counted = [(p, source.count_lines(cfg, p) if p.first_line is None else None) for p in pieces]
    numbered = list(number_pieces((str(path), counted)))
    return numbered, [item for piece in numbered for item in source.read_split(cfg, piece)]


def assert_pieces_cover(pieces, size):
    assert [p.index for p in pieces] == list(range(len(pieces))) and {p.count for p in pieces} == {len(pieces)}
    assert sum(p.size for p in pieces) == size  # the progress lines' bytes add up to the file


# ---------------------------------------------------------------------------- the byte-range rule

def test_byte_ranges_give_every_line_to_exactly_one_piece(tmp_path):
    real = COFFEE.read_bytes()
    cases = {"posts.xml": real, "no-final-newline.xml": real.rstrip(b"\n"),
             "blank-and-long.txt": b"a\n\n\n" + b"x" * 5000 + b"\n" + real[:3000] + b"\n\n"}
    rng = random.Random(15)
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        expected = data.splitlines(keepends=True)
        for trial in range(25):
            cuts = sorted(rng.sample(range(1, len(data)), rng.choice([1, 2, 7, 40])))
            if trial == 0:
                cuts = [i + 1 for i, b in enumerate(data[:-1]) if b == 10][:30]  # cuts right after newlines
            bounds = list(zip([0, *cuts], [*cuts, None]))
            pieces = [Split(str(path), start=a, end=b, index=i, count=len(bounds), first_line=None)
                      for i, (a, b) in enumerate(bounds)]
            counted = [(p, lines.count_range(p)) for p in pieces]
            got = [(n, line) for piece in number_pieces((str(path), counted))
                   for n, line in lines.range_lines(piece, max_bytes=1 << 20)]
            assert got == list(enumerate(expected, 1)), (name, cuts)


def test_a_line_over_the_bound_is_skipped_without_being_held(tmp_path):
    import tracemalloc

    bound = 64 << 10
    good = gzip.decompress(C4_SHARD.read_bytes()).splitlines(keepends=True)[:20]
    path = tmp_path / "c4-oversize.json"
    path.write_bytes(b"".join(good[:10]) + b'{"text": "' + b"y" * (40 * bound) + b'"}\n' + b"".join(good[10:]))
    tracemalloc.start()
    items = list(C4.read(C4Config(max_record_bytes=bound), str(path)))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [(i.kind, i.location) for i in items if isinstance(i, BadInput)] == [("oversize_record", f"{path}:11")]
    assert [d["id"] for d in items if isinstance(d, dict)] == \
        [f"c4/c4-oversize/{n}" for n in [*range(1, 11), *range(12, 22)]]
    assert peak < 3 * bound + (128 << 10), peak  # about the bound (readline joins its parts), never the 2.6 MB line
    pieces, split = read_in_pieces(C4, C4Config(max_record_bytes=bound, split_bytes=bound // 2), path)
    assert len(pieces) > 10 and split == items  # the bound holds in pieces too, at the same line


# ---------------------------------------------------------------------------- JSONL

def books_jsonl(path):
    books = [p.read_text(encoding="utf-8") for p in sorted((FIXTURES / "books").glob("*.txt"))[:3]]
    lines_ = [json.dumps({"text": books[0], "meta": {"pile_set_name": "Books3"}}), "{broken", "",
              json.dumps({"text": books[1][:20000], "meta": {"url": "https://www.gutenberg.org/ebooks/1342"}}),
              json.dumps({"title": "no text"}), json.dumps({"text": books[2]})]
    path.write_text("\n".join(lines_) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["c4", "books", "github"])
def test_split_jsonl_readers_equal_serial_reads(tmp_path, name):
    if name == "c4":
        path = tmp_path / "c4-en-train.00000-of-01024.json"
        path.write_bytes(gzip.decompress(C4_SHARD.read_bytes()))
        source, cfg = C4, C4Config(split_bytes=40_000)
    elif name == "books":
        source, cfg = BOOKS, BooksConfig(split_bytes=30_000)
        path = books_jsonl(tmp_path / "books3-part.jsonl")
    else:
        source, cfg = GITHUB, GitHubConfig(split_bytes=40_000)
        path = tmp_path / "github.jsonl"
        shutil.copy(GITHUB_SAMPLE, path)
    serial = list(source.read(cfg, str(path)))
    pieces, split = read_in_pieces(source, cfg, path)
    assert len(pieces) > 3
    assert_pieces_cover(pieces, path.stat().st_size)
    assert split == serial and len(serial) >= 5


def test_compressed_jsonl_is_read_whole():
    pieces = C4.splits(C4Config(split_bytes=1000), str(C4_SHARD), C4_SHARD.stat().st_size, "")
    assert len(pieces) == 1 and pieces[0].whole


def test_parquet_export_splits_by_row_groups(tmp_path):
    rows = [json.loads(line) for line in GITHUB_SAMPLE.read_text(encoding="utf-8").splitlines()]
    rows[7]["content"], rows[30]["repo_name"] = None, None  # a row without content, one without a name
    path = tmp_path / "github.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=20)
    cfg = GitHubConfig(split_bytes=60_000)
    serial = list(GITHUB.read(cfg, str(path)))
    pieces, split = read_in_pieces(GITHUB, cfg, path)
    assert len(pieces) > 3 and all(p.first_line is not None for p in pieces)
    assert_pieces_cover(pieces, path.stat().st_size)
    assert split == serial
    assert [(b.kind, b.location) for b in split if isinstance(b, BadInput)] == [
        ("missing_content", f"{path}:row8"), ("missing_field", f"{path}:row31")]


# ---------------------------------------------------------------------------- Posts.xml

def broken_posts(path):
    rows = COFFEE.read_bytes().splitlines(keepends=True)
    rows[40] = rows[40].replace(b'" Score=', b' Score=', 1)  # a row that is not well-formed
    rows[300] = b'  <row Id="999999" PostTypeId="1" Body="' + b"z" * 70_000 + b'" />\n'  # over the bound
    path.write_bytes(b"".join(rows))
    return path


def test_split_posts_xml_equals_a_serial_read(tmp_path):
    path = broken_posts(tmp_path / "coffee.stackexchange.com-Posts.xml")
    cfg = StackExchangeConfig(split_bytes=25_000, max_record_bytes=65_536)
    serial = list(SE.read(cfg, str(path)))
    pieces, split = read_in_pieces(SE, cfg, path)
    assert len(pieces) > 20
    assert_pieces_cover(pieces, path.stat().st_size)
    assert split == serial
    assert [(b.kind, b.location) for b in split if isinstance(b, BadInput)] == [
        ("malformed_row", f"{path}:41"), ("oversize_record", f"{path}:301")]


@pytest.mark.parametrize("kind", ["bz2", "7z"])
def test_a_compressed_posts_xml_is_staged_once_then_split(tmp_path, kind):
    posts = broken_posts(tmp_path / "Posts.xml")
    if kind == "bz2":
        path = tmp_path / "coffee.stackexchange.com-Posts.xml.bz2"
        path.write_bytes(bz2.compress(posts.read_bytes()))
    else:
        path = tmp_path / "coffee.stackexchange.com.7z"
        with py7zr.SevenZipFile(path, "w", filters=[{"id": py7zr.FILTER_LZMA2, "preset": 1}]) as z:
            z.write(posts, "Posts.xml")
    cfg = StackExchangeConfig(split_bytes=25_000, max_record_bytes=65_536)
    staging = tmp_path / "out" / "staging" / "stackexchange"
    serial = list(SE.read(cfg, str(path)))
    pieces, split = read_in_pieces(SE, cfg, path, staging)
    [copy] = {p.target for p in pieces}
    assert copy.startswith(str(staging)) and open(copy, "rb").read() == posts.read_bytes()
    assert len(pieces) > 20 and all(p.path == str(path) for p in pieces)
    assert_pieces_cover(pieces, path.stat().st_size)  # bytes of the archive, not of the copy
    assert split == serial
    assert [b.location for b in split if isinstance(b, BadInput)] == [f"{path}:41", f"{path}:301"]


# ---------------------------------------------------------------------------- Wikipedia multistream

def make_multistream(dump, directory, name="enwiki-20230501-pages-articles-multistream.xml.bz2", per_stream=100):
    """A multistream dump as Wikimedia lays them out, from a fixture dump: a first bz2 stream with
    the head (<mediawiki>, <siteinfo>), streams of ``per_stream`` pages, a last one with
    </mediawiki>; and the ``-multistream-index.txt.bz2`` of ``offset:page id:title`` lines."""
    xml = bz2.decompress(dump.read_bytes())
    starts = [xml.rindex(b"\n", 0, m.start()) + 1 for m in re.finditer(rb"<page>", xml)]
    tail = xml.rindex(b"\n", 0, xml.rindex(b"</mediawiki>")) + 1
    cuts = [0, *starts[::per_stream], tail, len(xml)]
    out, index, offset = bytearray(), [], 0
    for a, b in zip(cuts, cuts[1:]):
        chunk = xml[a:b]
        for page in re.finditer(rb"<page>.*?<title>(.*?)</title>.*?<id>(\d+)</id>", chunk, re.S):
            index.append(b"%d:%s:%s\n" % (offset, page.group(2), page.group(1)))
        data = bz2.compress(chunk)
        out += data
        offset += len(data)
    assert bz2.decompress(bytes(out)) == xml
    path = directory / name
    path.write_bytes(bytes(out))
    (directory / multistream_index(name)).write_bytes(bz2.compress(b"".join(index)))
    return path


def test_multistream_index_names():
    assert multistream_index("gs://b/enwiki-20230501-pages-articles-multistream.xml.bz2") == \
        "gs://b/enwiki-20230501-pages-articles-multistream-index.txt.bz2"
    assert multistream_index("enwiki-20230501-pages-articles-multistream1.xml-p1p41242.bz2") == \
        "enwiki-20230501-pages-articles-multistream-index1.txt-p1p41242.bz2"
    assert multistream_index("enwiki-20230501-pages-articles.xml.bz2") is None


@pytest.mark.parametrize("per_stream", [100, 7])
def test_split_wikipedia_multistream_equals_the_serial_read(tmp_path, per_stream):
    path = make_multistream(ENWIKI, tmp_path, per_stream=per_stream)
    cfg = WikipediaConfig(split_bytes=60_000)
    serial = list(WIKI.read(cfg, str(path)))
    pieces, split = read_in_pieces(WIKI, cfg, path)
    assert len(pieces) >= (2 if per_stream == 100 else 10)
    assert_pieces_cover(pieces, path.stat().st_size)
    assert all(b"<siteinfo>" in p.info.head for p in pieces)  # each piece knows the dump's namespaces
    assert all(p.first_line is not None for p in pieces)  # no line counting pass: locations are per stream
    assert split == serial
    original = [(i["id"], i["text"]) for i in WIKI.read(cfg, str(ENWIKI)) if isinstance(i, dict)]
    assert [(i["id"], i["text"]) for i in split if isinstance(i, dict)] == original and len(original) == 106
    data = path.read_bytes()
    for doc in (i for i in split if isinstance(i, dict)):  # <file>@<stream offset>:<line in the stream>
        where, line = doc["meta"]["location"].rsplit(":", 1)
        name, offset = where.rsplit("@", 1)
        assert name == str(path)
        stream = bz2.BZ2Decompressor().decompress(data[int(offset):])
        assert stream.splitlines()[int(line) - 1].strip() == b"<page>"
        assert f"<id>{doc['meta']['page_id']}</id>".encode() in stream


def test_a_damaged_stream_loses_only_its_own_pages(tmp_path):
    path = make_multistream(ENWIKI, tmp_path, per_stream=10)
    offsets = sorted({int(line.split(b":", 1)[0]) for line in
                      bz2.decompress((tmp_path / multistream_index(path.name)).read_bytes()).splitlines()})
    data = bytearray(path.read_bytes())
    data[offsets[5] + 40: offsets[5] + 60] = b"\x00" * 20  # inside the sixth stream of pages
    path.write_bytes(bytes(data))
    cfg = WikipediaConfig(split_bytes=60_000)
    serial = list(WIKI.read(cfg, str(path)))
    _, split = read_in_pieces(WIKI, cfg, path)
    assert split == serial
    [bad] = [i for i in serial if isinstance(i, BadInput)]
    assert bad.kind == "corrupt_bz2" and bad.location.startswith(f"{path}@{offsets[5]}:")
    pages = [i for i in serial if not isinstance(i, BadInput)]
    assert 206 - 10 <= len(pages) < 206  # the pages of the other 20 streams all came out


def test_a_refused_multistream_dump_is_read_whole_once(tmp_path):
    path = make_multistream(FIXTURES / "wikipedia" / "viwiki-excerpt.xml.bz2", tmp_path,
                            "viwiki-20230501-pages-articles-multistream.xml.bz2", per_stream=5)
    pieces = WIKI.splits(WikipediaConfig(split_bytes=10_000), str(path), path.stat().st_size, "")
    assert len(pieces) == 1 and pieces[0].whole
    [refused] = WIKI.read_split(WikipediaConfig(), pieces[0])
    assert refused.reason == "language_not_in_recipe" and list(WIKI.read(WikipediaConfig(), str(path))) == [refused]
    # the refusal comes from the first stream, before the index: one that cannot be read is never opened
    (tmp_path / multistream_index(path.name)).write_bytes(b"BZh9 not a bz2 index")
    assert WIKI.splits(WikipediaConfig(split_bytes=10_000), str(path), path.stat().st_size, "") == pieces


def test_an_index_that_does_not_fit_the_dump_is_refused(tmp_path):
    path = make_multistream(ENWIKI, tmp_path, per_stream=10)
    index = tmp_path / multistream_index(path.name)
    shifted = b"".join(b"%d:%s" % (int(line.split(b":", 1)[0]) + 3, line.split(b":", 1)[1])
                       for line in bz2.decompress(index.read_bytes()).splitlines(keepends=True))
    index.write_bytes(bz2.compress(shifted))
    with pytest.raises(ValueError, match="not the start of a bz2 stream"):
        WIKI.splits(WikipediaConfig(split_bytes=60_000), str(path), path.stat().st_size, "")


def test_the_classifier_reads_reference_urls_from_the_pieces_of_a_multistream_dump(tmp_path):
    """The Common Crawl classifier's reference reader splits a multistream dump as the Wikipedia
    source does: the pieces' articles, in order, are the whole dump's, and the Beam transform
    that fans the pieces out gives the same cited URLs as the serial read."""
    from apache_beam.testing.util import assert_that, equal_to

    from helpers import test_pipeline
    from llamacorpus.pipeline.stats import query_counters
    from llamacorpus.sources.base import whole_file
    from llamacorpus.sources.wikipedia.references import ReferenceReader
    from llamacorpus.steps.filters.wiki_classifier import ReferenceUrls

    path = make_multistream(ENWIKI, tmp_path, per_stream=7)
    reader = ReferenceReader(languages=("en",), split_bytes=60_000)
    pieces = reader.splits(str(path))
    assert len(pieces) >= 10 and all(p.info is not None for p in pieces)
    serial = list(reader.articles(whole_file(str(path), None)))
    assert [a for piece in pieces for a in reader.articles(piece)] == serial and len(serial) == 106
    expected = {url for text in serial for url in reader.urls(text)}
    assert len(expected) > 100
    assert ReferenceReader(languages=("sv",), split_bytes=60_000).splits(str(path))[0].whole  # refused: whole
    p = test_pipeline()
    assert_that(p | ReferenceUrls([str(path)], reader), equal_to(sorted(expected)))
    result = p.run()
    result.wait_until_finish()
    assert query_counters(result)["wikipedia/reference_urls/pages"] == 106


# ---------------------------------------------------------------------------- the Beam adapter

def test_the_adapter_fans_pieces_out_and_counts_them(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    path = root / "c4-en-train.00000-of-01024.json"
    path.write_bytes(gzip.decompress(C4_SHARD.read_bytes()))
    run = run_source("c4", {"inputs": ["*.json"], "split_bytes": 100_000}, tmp_path / "out", input_root=root)
    assert_accounting(run.stats)
    serial = {d["id"]: d for d in C4.read(C4Config(), str(path))}
    assert {d["id"]: d for d in run.docs} == serial and len(serial) == 1000
    c = run.stats["steps"][0]["counters"]
    pieces = len(C4.splits(C4Config(split_bytes=100_000), str(path), path.stat().st_size, ""))
    assert c["splits"] == c["splits_done"] == pieces > 10
    assert c["files"] == c["files_done"] == 1 and c["input_bytes"] == c["input_bytes_done"] == path.stat().st_size


def test_the_adapter_reads_a_staged_archive_and_removes_the_copy(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    posts = broken_posts(tmp_path / "Posts.xml")
    with py7zr.SevenZipFile(root / "coffee.stackexchange.com.7z", "w",
                            filters=[{"id": py7zr.FILTER_LZMA2, "preset": 1}]) as z:
        z.write(posts, "Posts.xml")
    section = {"inputs": ["*.7z"], "max_record_bytes": 65_536}
    whole = run_source("stackexchange", {**section, "split_bytes": 0}, tmp_path / "whole", input_root=root)
    split = run_source("stackexchange", {**section, "split_bytes": 25_000}, tmp_path / "split", input_root=root)
    assert_accounting(split.stats)
    assert split.stats["steps"][0]["counters"]["splits"] > 20 and whole.stats["steps"][0]["counters"]["splits"] == 1
    assert sorted((d["id"], d["text"]) for d in split.docs) == sorted((d["id"], d["text"]) for d in whole.docs)
    assert sorted(e["location"] for e in split.errors) == sorted(e["location"] for e in whole.errors) == \
        [f"{root / 'coffee.stackexchange.com.7z'}:{n}" for n in (301, 41)]
    assert split.stats["steps"][0]["counters"]["files_done"] == 1
    assert list((tmp_path / "split" / "staging" / "stackexchange").iterdir()) == []  # the copy is gone


def test_the_adapter_reads_a_multistream_dump_in_pieces_and_falls_back_on_a_bad_index(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    path = make_multistream(ENWIKI, root, per_stream=10)
    whole = run_source("wikipedia", {"inputs": ["*.xml.bz2"], "split_bytes": 0}, tmp_path / "whole", input_root=root)
    split = run_source("wikipedia", {"inputs": ["*.xml.bz2"], "split_bytes": 60_000}, tmp_path / "split",
                       input_root=root)
    assert_accounting(split.stats)
    assert split.stats["steps"][0]["counters"]["splits"] > 10
    assert sorted((d["id"], d["text"]) for d in split.docs) == sorted((d["id"], d["text"]) for d in whole.docs)
    assert len(split.docs) == 106
    (root / multistream_index(path.name)).write_bytes(bz2.compress(b"12:1:x\n5:2:y\n"))  # not increasing
    fallback = run_source("wikipedia", {"inputs": ["*.xml.bz2"], "split_bytes": 60_000}, tmp_path / "fallback",
                          input_root=root)
    counters = fallback.stats["steps"][0]["counters"]
    assert counters["split_fallback"] == 1 and counters["splits"] == 1
    assert sorted(d["id"] for d in fallback.docs) == sorted(d["id"] for d in whole.docs)
