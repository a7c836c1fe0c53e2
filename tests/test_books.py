"""Books source on the real Gutenberg fixtures: header/footer stripping, JSONL collections, bad
input, and the pairwise "more than 90% overlap" near-duplicate removal: the four Alice editions,
and a chain of overlaps built from real book text."""
import itertools
import json

import pytest

from helpers import FIXTURES, assert_accounting, run_source
from llamacorpus.config import ConfigError, build
from llamacorpus.document import stable_hash
from llamacorpus.steps.dedup.near import decision_order, measure_overlap, plan_clusters, shingle_hashes, stats_path
from llamacorpus.sources.books import SOURCE, BooksConfig
from llamacorpus.steps import BadInput, Drop

BOOKS = FIXTURES / "books"
ALICE = {"pg11_alice_2011-edition", "alice30_1994-edition", "11-0_alice_current", "nltk_carroll-alice"}
OTHERS = {"84-0_frankenstein", "1342-0_pride-and-prejudice"}

# Measured word 5-gram overlaps of the Alice editions (containment of the shorter in the longer,
# Jaccard), after header/footer stripping; looked at once, pinned here.
# Decision order (most distinct 5-grams first): the current edition, with its table of contents, first.
ALICE_ORDER = ["11-0_alice_current", "pg11_alice_2011-edition", "alice30_1994-edition", "nltk_carroll-alice"]
MEASURED = {
    ("11-0_alice_current", "alice30_1994-edition"): (0.9556, 0.9120),
    ("11-0_alice_current", "nltk_carroll-alice"): (0.9565, 0.9134),
    ("11-0_alice_current", "pg11_alice_2011-edition"): (0.9559, 0.9129),
    ("alice30_1994-edition", "nltk_carroll-alice"): (0.9986, 0.9969),
    ("alice30_1994-edition", "pg11_alice_2011-edition"): (0.9977, 0.9950),
    ("nltk_carroll-alice", "pg11_alice_2011-edition"): (0.9986, 0.9965),
}


def read_one(name):
    items = list(SOURCE.read(BooksConfig(), str(BOOKS / name)))
    assert len(items) == 1
    return items[0]


def test_modern_header_footer_bom_and_crlf_are_removed():
    doc = read_one("pg11_alice_2011-edition.txt")
    raw = (BOOKS / "pg11_alice_2011-edition.txt").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    text = doc["text"]
    assert doc["id"] == "books/gutenberg/pg11_alice_2011-edition"
    assert text.startswith("ALICE'S ADVENTURES IN WONDERLAND\n\nLewis Carroll")
    assert text.rstrip().endswith("THE END")
    assert "\r" not in text and "\ufeff" not in text
    assert "Gutenberg" not in text and "*** START" not in text and "FULL LICENSE" not in text
    assert doc["meta"]["pg_header"] == "modern" and doc["meta"]["pg_footer"] is True
    assert doc["meta"]["title"] == "Alice's Adventures in Wonderland"
    assert doc["meta"]["author"] == "Lewis Carroll"
    assert doc["meta"]["gutenberg_id"] == 11


def test_old_style_small_print_header_is_removed():
    doc = read_one("alice30_1994-edition.txt")
    assert doc["meta"]["pg_header"] == "old"
    assert doc["text"].lstrip().startswith("ALICE'S ADVENTURES IN WONDERLAND")
    assert "SMALL PRINT" not in doc["text"] and "Etext" not in doc["text"]
    assert doc["text"].rstrip().endswith("THE END")


@pytest.mark.parametrize("name", ["11-0_alice_current.txt", "nltk_carroll-alice.txt", "84-0_frankenstein.txt"])
def test_files_without_markers_are_kept_whole(name):
    doc = read_one(name)
    original = (BOOKS / name).read_text(encoding="utf-8").replace("\r\n", "\n")
    assert doc["meta"]["pg_header"] == "none" and doc["meta"]["pg_footer"] is False
    assert doc["text"].strip() == original.strip()


def test_non_utf8_book_uses_its_declared_charset(tmp_path):
    body = (BOOKS / "84-0_frankenstein.txt").read_text(encoding="utf-8")
    header = "Character set encoding: Windows-1252\n\n*** START OF THIS PROJECT GUTENBERG EBOOK FRANKENSTEIN ***\n"
    path = tmp_path / "84-cp1252.txt"
    path.write_bytes((header + body).encode("cp1252"))
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    doc = read_one_path(path)
    assert doc["meta"]["encoding"] == "cp1252"
    assert doc["text"].strip() == body.strip()
    assert "’" in doc["text"]


def read_one_path(path):
    items = list(SOURCE.read(BooksConfig(), str(path)))
    assert len(items) == 1
    return items[0]


def test_a_book_that_is_only_boilerplate_is_dropped(tmp_path):
    raw = (BOOKS / "pg11_alice_2011-edition.txt").read_text(encoding="utf-8-sig")
    start = raw.index("*** START OF")
    end = raw.index("End of Project Gutenberg")
    path = tmp_path / "empty.txt"
    path.write_text(raw[: raw.index("\n", start) + 1] + raw[end:], encoding="utf-8")
    item = read_one_path(path)
    assert isinstance(item, Drop) and item.reason == "empty"


def _jsonl(tmp_path):
    """Books3- and PG-19-style lines made from the real book texts, and three broken lines."""
    alice = (BOOKS / "11-0_alice_current.txt").read_text(encoding="utf-8")
    frank = (BOOKS / "84-0_frankenstein.txt").read_text(encoding="utf-8")
    lines = [
        json.dumps({"text": alice, "meta": {"pile_set_name": "Books3"}}).encode(),
        b"{this is not json",
        json.dumps({"text": frank, "meta": {"short_book_title": "Frankenstein", "publication_date": 1818,
                                            "url": "http://www.gutenberg.org/ebooks/84"}}).encode(),
        b'{"meta": {"title": "no text"}}',
        b'{"text": "caf\xe9"}',
        json.dumps({"text": frank[: len(frank) * 3 // 4], "title": "Frankenstein, abridged", "file": "x"}).encode(),
    ]
    d = tmp_path / "in"
    d.mkdir()
    path = d / "books-sample.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_jsonl_collections_ids_and_bad_lines(tmp_path):
    path = _jsonl(tmp_path)
    items = list(SOURCE.read(BooksConfig(), str(path)))
    docs = [i for i in items if isinstance(i, dict)]
    bad = [i for i in items if isinstance(i, BadInput)]
    assert [d["id"] for d in docs] == ["books/books3/books-sample/1", "books/pg19/books-sample/3",
                                       "books/books3/books-sample/6"]
    assert docs[1]["meta"]["title"] == "Frankenstein" and docs[1]["meta"]["publication_date"] == 1818
    assert docs[2]["meta"]["title"] == "Frankenstein, abridged"
    assert docs[2]["meta"]["file"] == "books-sample:6"  # the reader's own fields win over the record's
    assert [(b.kind, b.location) for b in bad] == [("not_json", f"{path}:2"), ("missing_text", f"{path}:4"),
                                                    ("invalid_utf8", f"{path}:5")]
    gutenberg = read_one("11-0_alice_current.txt")
    assert gutenberg["id"] != docs[0]["id"]  # the same book in two collections: two ids


def test_pipeline_jsonl_and_gutenberg_together(tmp_path):
    """A Books3 copy of Alice collapses with the Gutenberg one across collections; broken lines
    are counted errors with their location."""
    path = _jsonl(tmp_path)
    (tmp_path / "in" / "11-0_alice_current.txt").write_bytes((BOOKS / "11-0_alice_current.txt").read_bytes())
    run = run_source("books", {"inputs": ["*.jsonl", "*.txt"]}, tmp_path / "out", input_root=tmp_path / "in")
    assert_accounting(run.stats)
    assert run.stats["errors"] == {"read:invalid_utf8": 1, "read:missing_text": 1, "read:not_json": 1}
    assert sorted(e["location"] for e in run.errors) == sorted([f"{path}:2", f"{path}:4", f"{path}:5"])
    assert run.stats["dropped"] == {"near_dedup:near_duplicate": 2}
    # the same Alice text twice: the tie goes to the smaller stable_hash of the id
    alice_ids = ["books/books3/books-sample/1", "books/gutenberg/11-0_alice_current"]
    keeper = min(alice_ids, key=lambda i: (stable_hash(i), i))
    other = next(i for i in alice_ids if i != keeper)
    # the abridged copy (3/4 of the book) is contained in the full one
    assert sorted(d["id"] for d in run.docs) == sorted([keeper, "books/pg19/books-sample/3"])
    dropped = {r["id"]: r["meta"] for r in run.rejected["near_duplicate"]}
    assert dropped[other]["near_duplicate_of"] == keeper
    assert dropped[other]["near_duplicate_overlap"] == 1.0
    assert dropped["books/books3/books-sample/6"]["near_duplicate_of"] == "books/pg19/books-sample/3"


def _fixture_books():
    return {d["id"].split("/")[-1]: d for p in sorted(BOOKS.glob("*.txt")) for d in SOURCE.read(BooksConfig(), str(p))}


def test_measured_overlaps_of_the_alice_editions():
    docs = _fixture_books()
    shingles = {name: shingle_hashes(doc["text"], 5) for name, doc in docs.items()}
    for (a, b), (containment, jaccard) in MEASURED.items():
        m = measure_overlap(shingles[a], shingles[b])
        assert m["containment"] == pytest.approx(containment, abs=5e-4), (a, b)
        assert m["jaccard"] == pytest.approx(jaccard, abs=5e-4), (a, b)
    for a, b in itertools.product(OTHERS, ALICE | OTHERS):
        if a != b:
            assert measure_overlap(shingles[a], shingles[b])["containment"] < 0.02, (a, b)


def test_the_measure_decides_who_collapses():
    """Containment > 0.9 joins all four editions; Jaccard > 0.95 leaves the current edition
    (with its table of contents and modern punctuation) on its own."""
    def pairs():
        for (a, b), (containment, jaccard) in MEASURED.items():
            yield {"a": a, "b": b, "shingles_a": 1, "shingles_b": 1, "containment": containment, "jaccard": jaccard}

    plan = plan_clusters(list(pairs()), 0.9, "containment")
    assert [set(c["members"]) for c in plan["components"]] == [ALICE] and len(plan["dropped"]) == 3
    plan = plan_clusters(list(pairs()), 0.95, "jaccard")
    assert [set(c["members"]) for c in plan["components"]] == [ALICE - {"11-0_alice_current"}]
    assert len(plan["dropped"]) == 2


def test_pipeline_on_the_real_books(tmp_path):
    run = run_source("books", {"inputs": ["books/*.txt"]}, tmp_path)
    assert_accounting(run.stats)
    assert run.stats["records_read"] == 6
    assert run.stats["dropped"] == {"near_dedup:near_duplicate": 3}
    kept = {d["id"].split("/")[-1] for d in run.docs}
    # one Alice is kept: the edition with the most distinct 5-grams (the current one has a contents list)
    assert kept == OTHERS | {"11-0_alice_current"}
    rejected = {r["id"].split("/")[-1]: r["meta"] for r in run.rejected["near_duplicate"]}
    assert set(rejected) == ALICE - {"11-0_alice_current"}
    for name, meta in rejected.items():
        assert meta["near_duplicate_of"] == "books/gutenberg/11-0_alice_current"
        pair = tuple(sorted(("11-0_alice_current", name)))
        assert meta["near_duplicate_overlap"] == pytest.approx(MEASURED[pair][0], abs=5e-4)
    stats = json.loads(open(stats_path(str(tmp_path), "books")).read())
    assert stats["measure"] == "containment" and stats["threshold"] == 0.9
    measured = {tuple(sorted((p["a"].split("/")[-1], p["b"].split("/")[-1]))): p for p in stats["candidate_pairs"]}
    assert set(measured) == set(MEASURED)  # LSH found every Alice pair and no other
    for pair, (containment, jaccard) in MEASURED.items():
        assert measured[pair]["containment"] == pytest.approx(containment, abs=5e-4)
        assert measured[pair]["jaccard"] == pytest.approx(jaccard, abs=5e-4)
        assert measured[pair]["duplicate"] is True
    assert [c["representative"] for c in stats["clusters"]] == ["books/gutenberg/11-0_alice_current"]
    assert stats["components"] == [{"members": [f"books/gutenberg/{n}" for n in ALICE_ORDER],
                                    "kept": ["books/gutenberg/11-0_alice_current"]}]
    for name in ALICE - {"11-0_alice_current"}:
        pair = tuple(sorted(("11-0_alice_current", name)))
        assert stats["dropped"][f"books/gutenberg/{name}"]["duplicate_of"] == "books/gutenberg/11-0_alice_current"
        assert stats["dropped"][f"books/gutenberg/{name}"]["containment"] == pytest.approx(MEASURED[pair][0], abs=5e-4)
    counters = run.stats["steps"][-1]["counters"]
    assert counters["candidate_pairs"] == 6 and counters["duplicate_pairs"] == 6 and counters["components"] == 1


def _chain_books(tmp_path):
    """S: Frankenstein's first 6,000 words; A = S + Frankenstein's next 4,000 words; C = S + the first
    4,000 words of Pride and Prejudice. S is inside both A and C; A and C share only S."""
    frank = read_one("84-0_frankenstein.txt")["text"].split()
    pride = read_one("1342-0_pride-and-prejudice.txt")["text"].split()
    s = frank[:6000]
    books = {"S": s, "A": s + frank[6000:10000], "C": s + pride[:4000]}
    d = tmp_path / "in"
    d.mkdir()
    for name, ws in books.items():
        (d / f"{name}.txt").write_text(" ".join(ws) + "\n", encoding="utf-8")
    return d


def test_chain_of_overlaps_removes_only_the_book_inside_a_kept_one(tmp_path):
    """Union-find over the duplicate pairs S~A and S~C put all three in one cluster and kept C
    alone, dropping A "with overlap 1.0, via S" although A and C overlap 0.60. Pairwise: S goes (it
    is all inside the kept book decided first), A and C stay."""
    run = run_source("books", {"inputs": ["*.txt"]}, tmp_path / "out", input_root=_chain_books(tmp_path))
    assert_accounting(run.stats)
    ids = {n: f"books/gutenberg/{n}" for n in "SAC"}
    shingles = {n: shingle_hashes((tmp_path / "in" / f"{n}.txt").read_text(encoding="utf-8"), 5) for n in "SAC"}
    first = min("AC", key=lambda n: decision_order(ids[n], len(shingles[n])))  # C: 10,121 5-grams, A: 10,061
    assert sorted(d["id"] for d in run.docs) == [ids["A"], ids["C"]]
    assert run.stats["dropped"] == {"near_dedup:near_duplicate": 1}
    (rejected,) = run.rejected["near_duplicate"]
    assert rejected["id"] == ids["S"] and rejected["meta"]["near_duplicate_of"] == ids[first]
    assert rejected["meta"]["near_duplicate_overlap"] == 1.0 and "near_duplicate_via" not in rejected["meta"]
    stats = json.loads(open(stats_path(str(tmp_path / "out"), "books")).read())
    pairs = {(p["a"], p["b"]): p for p in stats["candidate_pairs"]}
    assert pairs[(ids["A"], ids["S"])]["containment"] == 1.0 and pairs[(ids["C"], ids["S"])]["containment"] == 1.0
    a_c = measure_overlap(shingles["A"], shingles["C"])["containment"]
    assert 0.59 < a_c < 0.61
    if (ids["A"], ids["C"]) in pairs:  # an LSH candidate (Jaccard 0.43: probability 0.67), measured
        assert pairs[(ids["A"], ids["C"])]["containment"] == pytest.approx(a_c)
        assert pairs[(ids["A"], ids["C"])]["duplicate"] is False
    # one component (the chain exists), two kept books, and what removed S with its figure
    order = sorted("SAC", key=lambda n: decision_order(ids[n], len(shingles[n])))
    assert order[-1] == "S"
    assert stats["components"] == [{"members": [ids[n] for n in order], "kept": [ids[n] for n in order[:2]]}]
    assert stats["dropped"] == {ids["S"]: {"duplicate_of": ids[first], "overlap": 1.0, "containment": 1.0,
                                           "jaccard": pairs[tuple(sorted((ids[first], ids["S"])))]["jaccard"]}}
    # the Beam step decides as the plain function does over the same measured pairs
    plan = plan_clusters(stats["candidate_pairs"], stats["threshold"], stats["measure"])
    assert {k: plan[k] for k in ("components", "clusters", "dropped")} == {
        k: stats[k] for k in ("components", "clusters", "dropped")}


def test_near_dedup_recipe_keys_are_checked():
    with pytest.raises(ConfigError, match="near_dedup.bands"):
        build(BooksConfig, {"near_dedup": {"num_perm": 128, "bands": 30}}, "sources.books")
    with pytest.raises(ConfigError, match="near_dedup.measure"):
        build(BooksConfig, {"near_dedup": {"measure": "cosine"}}, "sources.books")


def test_truncated_compressed_jsonl_keeps_what_was_read(tmp_path):
    import gzip

    books = [(BOOKS / n).read_text(encoding="utf-8") for n in ("84-0_frankenstein.txt", "1342-0_pride-and-prejudice.txt")]
    data = gzip.compress("".join(json.dumps({"text": t, "meta": {"pile_set_name": "Books3"}}) + "\n" for t in books).encode())
    path = tmp_path / "books3.jsonl.gz"
    path.write_bytes(data[: int(len(data) * 0.8)])
    items = list(SOURCE.read(BooksConfig(), str(path)))
    assert [i["id"] for i in items[:-1]] == ["books/books3/books3/1"]
    assert isinstance(items[-1], BadInput) and items[-1].kind == "truncated_stream"
    assert items[-1].location == f"{path}:2"
