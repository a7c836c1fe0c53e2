"""CCNet line dedup: the normaliser and hash on real lines, the per-hash rules, the whole-run
join in Beam on two real WET files (a line shared across the files disappears from both), and the
scopes run / dump / files:N on five real files of three dumps, checked against plain Python."""
import collections
import json

import apache_beam as beam
import pytest

from helpers import FIXTURES, assert_accounting, run_source, test_pipeline
from llamacorpus.document import make_document, stable_hash
from llamacorpus.steps.dedup.lines import (BLANK, EMPTIED, LineDedup, dedup_documents, dump_of, entry_struct,
                                           file_groups, hash_decisions, line_hash, line_hashes, pack_decision,
                                           parse_scope, scope_key, unpack_decision)
from llamacorpus.steps.normalize import normalize_for_dedup, normalized_lines
from llamacorpus.sources.commoncrawl import SOURCE, CommonCrawlConfig
from llamacorpus.steps import Drop

CC = FIXTURES / "commoncrawl"
WET = [CC / f"realpages-0000{i}.warc.wet.gz" for i in range(3)]

# Real lines from the WET fixtures (digits, case, Unicode punctuation, a control character).
REAL_LINES = {
    # realpages-00000 and -00001 (inexhibit.com menu): "–" and "’" removed, digits folded, lower case
    "  • Venice Art Biennale 2015 – All the World’s Futures – Index":
        "• venice art biennale 0000  all the worlds futures  index",
    # realpages-00000 (theverge.com): CCNet strips before removing "—", so the space stays
    "— Dave Schukin (@schukin) July 3, 2019": " dave schukin (@schukin) july 0, 0000",
    # realpages-00001 (nikkansports): fullwidth letters lower-cased, fullwidth "１" is a digit first
    "バルセロナ、マンＵに先勝…ＣＬ準々決勝第１戦": "バルセロナマンｕに先勝ｃｌ準々決勝第0戦",
    # a date line from a Chinese news page: every digit becomes 0, ASCII punctuation stays
    "2019年09月09日 18:13:22": "0000年00月00日 00:00:00",
    # German list item: the guillemets are CCNet punctuation, the umlaut is kept
    "  3. Klicken Sie auf » Systemsteuerung « – das Fenster Systemsteuerung öffnet sich":
        "0. klicken sie auf  systemsteuerung   das fenster systemsteuerung öffnet sich",
    "  \u3000文化庁は１日\x85": "文化庁は0日",
}


def _wet_docs(*files):
    cfg = CommonCrawlConfig()
    return [d for f in files for d in SOURCE.read(cfg, str(f)) if isinstance(d, dict)]


@pytest.fixture(scope="module")
def real_docs():
    return _wet_docs(*WET)


@pytest.mark.parametrize("raw,expected", list(REAL_LINES.items()))
def test_normalize_for_dedup_on_real_lines(raw, expected):
    assert normalize_for_dedup(raw) == expected
    assert normalized_lines(raw) == [expected]


def test_whole_text_normalisation_equals_ccnet_line_by_line(real_docs):
    for doc in real_docs:
        lines = doc["text"].split("\n")
        assert normalized_lines(doc["text"]) == [normalize_for_dedup(line) for line in lines], doc["id"]


def test_hash_is_first_8_bytes_of_sha1():
    assert line_hash("abc") == bytes.fromhex("a9993e364706816a")  # FIPS 180 test vector
    text = "Follow The Verge online:\n   \nFOLLOW the verge ONLINE:"
    hashes = line_hashes(text)
    assert hashes == [line_hash("follow the verge online:"), BLANK, line_hash("follow the verge online:")]


def test_ccnet_rule_removes_every_copy_including_repeats_in_one_document():
    assert sorted(hash_decisions([(3, 1), (1, 1), (2, 1)], "ccnet")) == [(1, False), (2, False), (3, False)]
    assert list(hash_decisions([(5, 2)], "ccnet")) == [(5, False)]  # repeated inside one document
    assert list(hash_decisions([(5, 1)], "ccnet")) == []


@pytest.mark.parametrize("scope", ["run", "dump", "files:2"])
@pytest.mark.parametrize("measure", [True, False])
def test_packed_entries_and_decisions_round_trip(scope, measure):
    """What the shuffle carries: a hash group's entries (a 64-bit document key, copies and the
    report's tags) and the decisions back, packed to bytes and read back unchanged."""
    parsed = parse_scope(scope)
    segment = "crawl-data/CC-MAIN-2019-30/segments/1563195523840.34/wet/CC-MAIN-20190715175205-20190715200204-00000.warc.wet.gz"
    _, tags = scope_key(parsed, segment, {segment: 1})
    entry = (stable_hash("commoncrawl/x"), 70_000, *(tags if measure else ()))
    packed = entry_struct(parsed, measure).pack(*entry)
    assert entry_struct(parsed, measure).unpack(packed) == entry and len(packed) <= 24
    h = line_hash("follow the verge online:")
    assert [unpack_decision(pack_decision(h, k)) for k in (True, False)] == [(h, True), (h, False)]


def test_c4_rule_keeps_the_first_copy_in_the_lowest_id_hash():
    assert sorted(hash_decisions([(3, 1), (1, 2), (2, 1)], "c4")) == [(1, True), (2, False), (3, False)]
    assert sorted(hash_decisions([(3, 1), (1, 1)], "c4")) == [(3, False)]
    assert list(hash_decisions([(5, 3)], "c4")) == [(5, True)]
    assert list(hash_decisions([(5, 1)], "c4")) == []


def test_repeats_inside_one_real_document(real_docs):
    doc = next(d for d in real_docs if "• KB3075249 vom 18.08.2015" in d["text"])
    line = next(raw for raw in doc["text"].split("\n") if "KB3075249 vom 18.08.2015" in raw)
    key = normalize_for_dedup(line)

    def copies(text):
        return [normalize_for_dedup(raw) for raw in text.split("\n")].count(key)

    assert copies(doc["text"]) == 2  # twice in this page, in no other page of the fixtures
    assert sum(copies(d["text"]) for d in real_docs) == 2
    (ccnet,) = dedup_documents([doc], "ccnet")
    assert copies(ccnet["text"]) == 0
    (c4,) = dedup_documents([doc], "c4")
    assert copies(c4["text"]) == 1
    assert c4["meta"]["original_nlines"] == len(doc["text"].split("\n"))
    assert c4["meta"]["nlines"] == len(c4["text"].split("\n"))


def test_identical_documents_are_emptied_under_ccnet(real_docs):
    doc = real_docs[0]
    twin = make_document("commoncrawl", "twin", doc["text"], **doc["meta"])
    out = dedup_documents([doc, twin], "ccnet")
    assert all(isinstance(o, Drop) and o.reason == EMPTIED for o in out)
    kept = [o for o in dedup_documents([doc, twin], "c4") if not isinstance(o, Drop)]
    assert len(kept) == 1 and min(stable_hash(doc["id"]), stable_hash(twin["id"])) == stable_hash(kept[0]["id"])


SHARED = "Venice Art Biennale 2015 – All the World’s Futures – Index"
SHARED_NORMALIZED = normalize_for_dedup("  • " + SHARED)


def _holders(docs):
    """ids of documents having a line that normalises like the shared menu line."""
    return [d["id"] for d in docs if any(normalize_for_dedup(raw) == SHARED_NORMALIZED for raw in d["text"].split("\n"))]


def _run(tmp_path, rule):
    section = {"inputs": ["commoncrawl/realpages-00000.warc.wet.gz", "commoncrawl/realpages-00001.warc.wet.gz"],
               "line_dedup": rule, "languages": ["en", "de"],
               "perplexity": {"enabled": False}, "classifier": {"enabled": False}}  # models of their own
    return run_source("commoncrawl", section, tmp_path)


def test_line_shared_across_two_input_files_disappears_from_both(tmp_path):
    first, second = _wet_docs(WET[0]), _wet_docs(WET[1])
    holders = _holders(first) + _holders(second)
    assert len(_holders(first)) == 1 and len(_holders(second)) == 1  # one page in each file
    run = _run(tmp_path, "ccnet")
    assert_accounting(run.stats)
    out = {d["id"]: d for d in run.docs}
    assert set(holders) <= set(out), "both inexhibit.com pages survive, without the shared lines"
    assert _holders(out.values()) == []
    step = next(s for s in run.stats["steps"] if s["step"] == "line_dedup")
    counters = step["counters"]
    assert counters["lines_removed"] > 0 and counters["lines_in"] > counters["lines_removed"]
    # the Beam result equals the list implementation on the same documents
    expected = dedup_documents([d for d in first + second], "ccnet")
    by_id = {d["id"]: o for d, o in zip(first + second, expected)}
    for doc_id in holders:
        assert out[doc_id]["text"] == by_id[doc_id]["text"]


def test_c4_rule_switch_keeps_exactly_one_copy(tmp_path):
    run = _run(tmp_path, "c4")
    assert_accounting(run.stats)
    copies = collections.Counter(normalize_for_dedup(raw) for d in run.docs for raw in d["text"].split("\n"))
    assert copies[SHARED_NORMALIZED] == 1
    assert max(copies.values()) == 1, "no normalised line appears twice in the whole output"


# ---------------------------------------------------------------------------- scope: run | dump | files:N

#: three WET files of the dump "unknown" (their names carry no snapshot), a real CC-MAIN-2020-34
#: WARC excerpt and a real CC-MAIN-2024-22 WET file: three dumps, five files
SCOPE_FILES = [*WET, CC / "CC-MAIN-2020-34-excerpt.warc.gz", CC / "CC-MAIN-2024-22-whirlwind.warc.wet.gz"]
SCOPES = ["run", "dump", "files:2", "files:1"]
RUNS = [*(("ccnet", scope) for scope in SCOPES), ("c4", "run")]


def plain_removals(docs, key_of, rule="ccnet"):
    """The rule in plain Python: per dump, the lines in and the copies removed of lines that occur
    twice or more among the documents sharing ``key_of(doc)`` (``c4``: the document whose id hashes
    lowest keeps one copy)."""
    copies = collections.Counter((key_of(d), h) for d in docs for h in line_hashes(d["text"]) if h != BLANK)
    winner = {}
    for d in docs:
        for h in line_hashes(d["text"]):
            group = (key_of(d), h)
            winner[group] = min(winner.get(group, stable_hash(d["id"])), stable_hash(d["id"]))
    lines_in, removed = collections.Counter(), collections.Counter()
    for d in docs:
        dump, kept = dump_of(d["meta"]["cc_segment"]), set()
        for h in line_hashes(d["text"]):
            group = (key_of(d), h)
            if h == BLANK:
                continue
            lines_in[dump] += 1
            if rule == "c4" and winner[group] == stable_hash(d["id"]) and group not in kept:
                kept.add(group)
                continue
            removed[dump] += copies[group] >= 2
    return lines_in, removed


def scope_keys(docs):
    """Each scope's key of a document, computed here from the file names."""
    segment = lambda d: d["meta"]["cc_segment"]  # noqa: E731
    unknown = sorted({segment(d) for d in docs if dump_of(segment(d)) == "unknown"})
    assert unknown == [f.name for f in WET]
    return {"run": lambda d: "", "dump": lambda d: dump_of(segment(d)), "files:1": segment,
            # the dump's files sorted, two a group: realpages-00000 and -00001, then -00002
            "files:2": lambda d: (dump_of(segment(d)), unknown.index(segment(d)) // 2 if segment(d) in unknown else 0)}


@pytest.fixture(scope="module")
def scope_runs(tmp_path_factory):
    """The Beam step under each scope on the same documents (one pipeline), its report and output."""
    tmp = tmp_path_factory.mktemp("scopes")
    docs = _wet_docs(*SCOPE_FILES)
    p = test_pipeline()
    created = p | beam.Create(docs)
    for i, (rule, scope) in enumerate(RUNS):
        step = LineDedup("commoncrawl", rule, name=f"line_dedup_{i}", scope=scope, stats_path=str(tmp / f"{i}.json"))
        (created | f"Dedup{i}" >> step).documents | f"List{i}" >> beam.combiners.ToList() | f"Save{i}" >> beam.Map(
            lambda out, i=i: (tmp / f"docs{i}.json").write_text(json.dumps(out)))
    p.run().wait_until_finish()
    return docs, {run: (json.loads((tmp / f"{i}.json").read_text()), json.loads((tmp / f"docs{i}.json").read_text()))
                  for i, run in enumerate(RUNS)}


def test_scopes_remove_what_plain_python_computes_per_dump(scope_runs):
    docs, runs = scope_runs
    keys = scope_keys(docs)
    assert {dump_of(d["meta"]["cc_segment"]) for d in docs} == {"unknown", "CC-MAIN-2020-34", "CC-MAIN-2024-22"}
    for rule, scope in RUNS:
        report, kept = runs[(rule, scope)]
        lines_in, removed = plain_removals(docs, keys[scope], rule)
        assert report["scope"] == scope and report["rule"] == rule
        assert {d: e["lines_in"] for d, e in report["dumps"].items()} == dict(lines_in)
        assert {d: e["lines_removed"] for d, e in report["dumps"].items()} == dict(removed), scope
        assert {d: e["removed_by_scope"][scope] for d, e in report["dumps"].items()} == dict(removed), scope
        assert report["total"]["documents"] == len(docs)
        assert report["dumps"]["unknown"]["files"] == 3 and report["dumps"]["CC-MAIN-2020-34"]["files"] == 1
        # the documents are what the list implementation gives under the same scope
        expected = [o for o in dedup_documents(docs, rule, scope) if not isinstance(o, Drop)]
        assert sorted((d["id"], d["text"]) for d in kept) == sorted((d["id"], d["text"]) for d in expected)


@pytest.mark.parametrize("rule", ["ccnet", "c4"])
def test_the_run_scope_reports_all_three_scopes_in_one_pass(scope_runs, rule):
    docs, runs = scope_runs
    keys = scope_keys(docs)
    run = runs[(rule, "run")][0]
    assert run["scopes"] == ["run", "dump", "files:1"] and run["not_measured"] == []
    for scope in ("run", "dump", "files:1"):
        assert {d: e["removed_by_scope"][scope] for d, e in run["dumps"].items()} == \
            dict(plain_removals(docs, keys[scope], rule)[1]), scope
    for dump, entry in run["dumps"].items():
        by = entry["removed_by_scope"]
        assert by["run"] == entry["lines_removed"] and by["run"] >= by["dump"] >= by["files:1"], dump
    total = run["total"]["removed_by_scope"]
    assert total["run"] > total["dump"] > total["files:1"] > 0


def test_a_narrower_scope_measures_itself_and_narrower_ones_only(scope_runs):
    runs = scope_runs[1]
    run = runs[("ccnet", "run")][0]
    dump = runs[("ccnet", "dump")][0]
    assert dump["not_measured"] == ["run"] and dump["total"]["removed_by_scope"]["run"] is None
    for name, entry in dump["dumps"].items():
        assert entry["removed_by_scope"]["dump"] == run["dumps"][name]["removed_by_scope"]["dump"]
        assert entry["removed_by_scope"]["files:1"] == run["dumps"][name]["removed_by_scope"]["files:1"]


def test_file_groups_lie_between_the_dump_and_one_file(scope_runs):
    runs = scope_runs[1]
    by = runs[("ccnet", "run")][0]["total"]["removed_by_scope"]
    files2 = runs[("ccnet", "files:2")][0]
    assert files2["scopes"] == ["run", "dump", "files:2"] and files2["not_measured"] == ["run", "dump"]
    assert by["dump"] > files2["total"]["lines_removed"] > by["files:1"]
    assert runs[("ccnet", "files:1")][0]["total"]["lines_removed"] == by["files:1"]


def test_scope_values_and_dumps():
    assert [str(parse_scope(v)) for v in ("run", "dump", "files:1", " files:50 ")] == ["run", "dump", "files:1", "files:50"]
    for bad in ("off", "files", "files:0", "files:x", "shard:2", False):
        with pytest.raises(ValueError, match=r"must be run, dump or files:N \(N >= 1\)"):
            parse_scope(bad)
    assert dump_of("crawl-data/CC-MAIN-2020-34/segments/1596439737883.59/wet/"
                   "CC-MAIN-20200808165417-20200808195417-00395.warc.wet.gz") == "CC-MAIN-2020-34"
    assert dump_of("CC-MAIN-20200808165417-20200808195417-00395.warc.wet.gz") == "unknown"  # no snapshot id
    assert file_groups(["b", "a", "c", "CC-MAIN-2020-34-x", "a"], 2) == {"a": 0, "b": 0, "c": 1, "CC-MAIN-2020-34-x": 0}


def test_recipe_scope_reaches_the_step_and_its_report(tmp_path):
    """files:1 through the source's section: the menu line that realpages-00000 and -00001 share
    stays in both pages (each file is its own scope), and stats/line_dedup.json says so."""
    section = {"inputs": ["commoncrawl/realpages-00000.warc.wet.gz", "commoncrawl/realpages-00001.warc.wet.gz"],
               "line_dedup_scope": "files:1", "languages": ["en", "de"],
               "perplexity": {"enabled": False}, "classifier": {"enabled": False}}
    run = run_source("commoncrawl", section, tmp_path)
    assert_accounting(run.stats)
    assert len(_holders(run.docs)) == 2
    report = json.loads((tmp_path / "stats" / "line_dedup.json").read_text())
    assert report["scope"] == "files:1" and set(report["dumps"]) == {"unknown"}
    step = next(s for s in run.stats["steps"] if s["step"] == "line_dedup")
    assert report["total"]["lines_removed"] == step["counters"]["lines_removed"] > 0
    assert report["total"]["lines_in"] == step["counters"]["lines_in"]
