"""CCNet line dedup: the normaliser and hash on real lines, the per-hash rules, and the whole-run
join in Beam on two real WET files (a line shared across the files disappears from both)."""
import collections

import pytest

from helpers import FIXTURES, assert_accounting, run_source
from llamacorpus.document import make_document, stable_hash
from llamacorpus.steps.dedup.lines import BLANK, EMPTIED, dedup_documents, hash_decisions, line_hash, line_hashes
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
