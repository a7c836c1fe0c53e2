"""Stack Exchange source on the two real site dumps: reading (Posts.xml and .7z), site ranking,
questions joined with their answers in numeric score order, bad rows, and the Beam branch."""
import collections
import re
import shutil

import py7zr
import pytest
from lxml import etree

from helpers import FIXTURES, assert_accounting, run_source
from llamacorpus.sources.stackexchange import SOURCE, StackExchangeConfig, site_name
from llamacorpus.steps.clean.threads import assemble_thread
from llamacorpus.steps.filters.top_sites import rank_sites
from llamacorpus.steps import BadInput, Drop

SE = FIXTURES / "stackexchange"
COFFEE = SE / "coffee.stackexchange.com-Posts.xml"
BEER = SE / "beer.stackexchange.com-Posts.xml"
CFG = StackExchangeConfig()
TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")


def seven_zip(path, members: dict):
    """A real .7z (LZMA2, fast preset) holding files under the given archive names."""
    with py7zr.SevenZipFile(path, "w", filters=[{"id": py7zr.FILTER_LZMA2, "preset": 1}]) as z:
        for name, source in members.items():
            if isinstance(source, bytes):
                z.writestr(source, name)
            else:
                z.write(source, name)
    return path


def raw_answers(path) -> dict[int, list[tuple[int, int]]]:
    """question id -> [(score, answer id)] straight from the XML, independently of the reader."""
    answers = collections.defaultdict(list)
    for _, row in etree.iterparse(str(path), tag="row"):
        if row.get("PostTypeId") == "2":
            answers[int(row.get("ParentId"))].append((int(row.get("Score")), int(row.get("Id"))))
        row.clear()
    return answers


@pytest.fixture(scope="module")
def both_sites(tmp_path_factory):
    return run_source("stackexchange", {"inputs": ["stackexchange/*-Posts.xml"]}, tmp_path_factory.mktemp("se"))


# ---------------------------------------------------------------------------- reading

def test_reader_streams_every_row_of_a_real_site():
    items = list(SOURCE.read(CFG, str(COFFEE)))
    posts = [i for i in items if isinstance(i, dict)]
    kinds = collections.Counter(p["meta"]["post_type"] for p in posts)
    assert kinds == {"question": 225, "answer": 327}
    assert collections.Counter(i.reason for i in items if isinstance(i, Drop)) == {"post_type=4": 20, "post_type=5": 20}
    first = posts[0]
    assert first["id"] == "stackexchange/coffee.stackexchange.com/1"
    assert first["meta"]["title"] == "How should I store whole bean coffee?"
    assert first["meta"]["tags"] == ["storage", "whole-bean"]
    assert (first["meta"]["score"], first["meta"]["accepted_answer_id"]) == (20, 24)
    assert first["meta"]["location"] == f"{COFFEE}:3"


def test_site_names_from_file_and_archive_names():
    assert site_name("gs://b/se/coffee.stackexchange.com-Posts.xml") == "coffee.stackexchange.com"
    assert site_name("/d/coffee.stackexchange.com.7z") == "coffee.stackexchange.com"
    assert site_name("/d/stackoverflow.com-Posts.7z") == "stackoverflow.com"
    assert site_name("/d/beer.stackexchange.com/Posts.xml") == "beer.stackexchange.com"
    assert site_name("/d/beer.stackexchange.com-Posts.xml.gz") == "beer.stackexchange.com"


def test_seven_zip_dump_is_read_directly(tmp_path):
    archive = seven_zip(tmp_path / "coffee.stackexchange.com.7z",
                        {"Tags.xml": b"<?xml version='1.0'?><tags/>", "Posts.xml": COFFEE})
    from_7z = list(SOURCE.read(CFG, str(archive)))
    from_xml = list(SOURCE.read(CFG, str(COFFEE)))
    assert len(from_7z) == len(from_xml) == 592
    assert [(d["id"], d["text"]) for d in from_7z if isinstance(d, dict)] == \
           [(d["id"], d["text"]) for d in from_xml if isinstance(d, dict)]
    assert from_7z[0]["meta"]["location"] == f"{archive}:3"


def test_seven_zip_reader_stops_cleanly_when_abandoned(tmp_path):
    archive = seven_zip(tmp_path / "beer.stackexchange.com.7z", {"Posts.xml": BEER})
    reader = SOURCE.read(CFG, str(archive))
    assert isinstance(next(reader), dict)
    reader.close()  # the decompressing thread is cancelled and joined, not left blocked


def test_malformed_rows_are_errors_with_their_line_and_reading_goes_on(tmp_path):
    lines = COFFEE.read_bytes().splitlines(keepends=True)
    lines[3] = lines[3].replace(b'" OwnerUserId', b' OwnerUserId', 1)  # an attribute quote lost
    lines[4] = re.sub(rb'Score="\d+"', b'Score="many"', lines[4])
    lines[5] = re.sub(rb' Id="\d+"', b"", lines[5])
    path = tmp_path / "coffee.stackexchange.com-Posts.xml"
    path.write_bytes(b"".join(lines))
    items = list(SOURCE.read(CFG, str(path)))
    errors = [i for i in items if isinstance(i, BadInput)]
    assert [(e.kind, e.location) for e in errors] == [("malformed_row", f"{path}:{n}") for n in (4, 5, 6)]
    assert len(items) == 592 and sum(isinstance(i, dict) for i in items) == 552 - 3


# ---------------------------------------------------------------------------- site ranking

def test_rank_sites_by_post_count_with_meta_sites_apart():
    counts = [("coffee.stackexchange.com", 552), ("beer.stackexchange.com", 2235),
              ("beer.meta.stackexchange.com", 9000), ("tea.stackexchange.com", 552)]
    assert rank_sites(counts, 2, include_meta=False) == {
        "beer.stackexchange.com": 1, "coffee.stackexchange.com": 2, "tea.stackexchange.com": "not_top_sites",
        "beer.meta.stackexchange.com": "meta_site"}
    assert rank_sites(counts, 0, include_meta=True)["beer.meta.stackexchange.com"] == 1


def test_top_one_site_keeps_beer_and_drops_coffee_with_a_reason(tmp_path):
    run = run_source("stackexchange", {"inputs": ["stackexchange/*-Posts.xml"], "top_sites": 1}, tmp_path)
    assert_accounting(run.stats)
    top = next(s for s in run.stats["steps"] if s["step"] == "top_sites")
    assert top["dropped"] == {"not_top_sites": 552} and top["kept"] == 2235
    assert {d["meta"]["site"] for d in run.docs} == {"beer.stackexchange.com"}
    assert len(run.docs) == 663 and {d["meta"]["site_rank"] for d in run.docs} == {1}
    assert all(r["meta"]["site"] == "coffee.stackexchange.com" for r in run.rejected["not_top_sites"])


# ---------------------------------------------------------------------------- questions and answers

def test_pipeline_on_both_real_sites_accounting_and_reasons(both_sites):
    assert_accounting(both_sites.stats)
    assert [s["step"] for s in both_sites.stats["steps"]] == ["read", "top_sites", "html_to_text", "join_answers"]
    assert both_sites.stats["records_read"] == 592 + 2354
    assert both_sites.stats["dropped"] == {"join_answers:answer_merged": 327 + 1572, "read:post_type=4": 78,
                                           "read:post_type=5": 78, "read:post_type=7": 3}
    assert both_sites.stats["errors"] == {}
    assert len(both_sites.docs) == 225 + 663
    ranks = {d["meta"]["site"]: d["meta"]["site_rank"] for d in both_sites.docs}
    assert ranks == {"beer.stackexchange.com": 1, "coffee.stackexchange.com": 2}


def test_answers_are_in_numeric_score_order_on_both_sites(both_sites):
    raw = {**{("coffee.stackexchange.com", q): a for q, a in raw_answers(COFFEE).items()},
           **{("beer.stackexchange.com", q): a for q, a in raw_answers(BEER).items()}}
    string_order_differs = 0
    for doc in both_sites.docs:
        meta = doc["meta"]
        answers = raw.get((meta["site"], meta["question_id"]), [])
        assert sorted(meta["answer_scores"]) == sorted(s for s, _ in answers)
        assert meta["answer_scores"] == sorted(meta["answer_scores"], reverse=True)
        assert meta["answer_count"] == len(answers) == doc["text"].count("\n\nAnswer:\n")
        string_order_differs += [str(s) for s in meta["answer_scores"]] != \
            sorted((str(s) for s in meta["answer_scores"]), reverse=True)
    assert string_order_differs == 19 + 72  # questions RedPajama's string sort would have got wrong


def test_real_questions_whose_string_order_is_wrong(both_sites):
    docs = {(d["meta"]["site"], d["meta"]["question_id"]): d for d in both_sites.docs}
    first_beer = docs[("beer.stackexchange.com", 2)]  # scores 6, 7, 13, 12 in the file
    assert first_beer["meta"]["answer_scores"] == [13, 12, 7, 6]
    assert first_beer["meta"]["answer_ids"] == [175, 177, 102, 46]
    hangover = docs[("beer.stackexchange.com", 11)]  # "10" vs "2": RedPajama put the 2 first
    assert hangover["meta"]["answer_scores"] == [10, 2, 1, 1, 0]
    assert hangover["meta"]["answer_ids"] == [107, 3334, 23, 3264, 3332]  # equal scores: older first
    assert hangover["meta"]["url"] == "https://beer.stackexchange.com/questions/11"
    assert hangover["text"].startswith("Question: Do IPAs cause worse hangovers?\n\n")


def test_no_html_remains_and_code_blocks_survive(both_sites):
    for doc in both_sites.docs:
        assert not TAG.search(doc["text"]), (doc["id"], TAG.search(doc["text"]).group())
        assert not re.search(r"&(?:amp|lt|gt|quot|#\d+);", doc["text"]), doc["id"]
    docs = {d["id"]: d for d in both_sites.docs}
    code = docs["stackexchange/beer.stackexchange.com/154"]["text"]
    assert "```\nPale Lager\nGeneric lager.\nPilsner\n" in code
    fenced = [d["id"] for d in both_sites.docs if "\n```\n" in d["text"]]
    assert len(fenced) >= 10


def minimal_posts(rows: list[str]) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?>\n<posts>\n'
            + "".join(f"  {r}\n" for r in rows) + "</posts>\n").encode()


def test_scores_nine_and_ten_and_answers_before_their_question(tmp_path):
    """A hand-made site (the fixtures have no question with answers scored exactly 9 and 10):
    answers come before the question in the file and in another file of the same site."""
    for path in (COFFEE, BEER):
        assert not any({9, 10} <= {score for score, _ in a} for a in raw_answers(path).values())
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "tiny.stackexchange.com-Posts.xml").write_bytes(minimal_posts([
        '<row Id="11" PostTypeId="2" ParentId="10" Score="9" Body="&lt;p&gt;nine&lt;/p&gt;" />',
        '<row Id="12" PostTypeId="2" ParentId="10" Score="10" Body="&lt;p&gt;ten&lt;/p&gt;" />',
        '<row Id="10" PostTypeId="1" AcceptedAnswerId="14" Score="3" Title="Nine or ten?" '
        'Tags="&lt;sorting&gt;" Body="&lt;p&gt;Which first?&lt;/p&gt;" />',
        '<row Id="20" PostTypeId="2" ParentId="99" Score="1" Body="orphan" />']))
    (tmp_path / "b" / "tiny.stackexchange.com-Posts.xml").write_bytes(minimal_posts([
        '<row Id="13" PostTypeId="2" ParentId="10" Score="-1" Body="&lt;p&gt;minus one&lt;/p&gt;" />',
        '<row Id="14" PostTypeId="2" ParentId="10" Score="10" Body="&lt;p&gt;accepted ten&lt;/p&gt;" />',
        '<row Id="15" PostTypeId="2" ParentId="10" Score="2" Body="&lt;p&gt;two&lt;/p&gt;" />']))
    run = run_source("stackexchange", {"inputs": ["*/*-Posts.xml"]}, tmp_path / "out", input_root=tmp_path)
    assert_accounting(run.stats)
    [doc] = run.docs
    assert doc["text"] == ("Question: Nine or ten?\n\nWhich first?\n\nAnswer:\naccepted ten\n\nAnswer:\nten\n\n"
                           "Answer:\nnine\n\nAnswer:\ntwo\n\nAnswer:\nminus one")
    assert doc["meta"]["answer_ids"] == [14, 12, 11, 15, 13] and doc["meta"]["accepted_answer_id"] == 14
    assert doc["meta"]["tags"] == ["sorting"] and doc["meta"]["score"] == 3
    assert run.stats["dropped"] == {"join_answers:answer_merged": 5, "join_answers:orphan_answer": 1}


def test_a_site_given_twice_counts_duplicates():
    question = {"id": "stackexchange/s/1", "text": "q", "source": "stackexchange",
                "meta": {"site": "s", "post_id": 1, "question_id": 1, "post_type": "question", "score": 0,
                         "title": "T", "tags": [], "accepted_answer_id": None, "timestamp": "", "location": "a:3"}}
    answer = {"id": "stackexchange/s/2", "text": "a", "source": "stackexchange",
              "meta": {"site": "s", "post_id": 2, "question_id": 1, "post_type": "answer", "score": 5,
                       "location": "a:4"}}
    copy = {**answer, "meta": {**answer["meta"], "location": "b:4"}}
    decisions = list(assemble_thread((("s", 1), [copy, question, answer])))
    assert [(p["meta"]["location"], getattr(d, "reason", "kept")) for p, d in decisions] == [
        ("b:4", "duplicate_post"), ("a:3", "kept"), ("a:4", "answer_merged")]


def test_meta_sites_are_dropped_unless_asked_for(tmp_path):
    shutil.copy(COFFEE, tmp_path / "coffee.meta.stackexchange.com-Posts.xml")
    (tmp_path / "tiny.stackexchange.com-Posts.xml").write_bytes(minimal_posts([
        '<row Id="1" PostTypeId="1" Score="1" Title="Small?" Body="&lt;p&gt;yes&lt;/p&gt;" />']))
    run = run_source("stackexchange", {"inputs": ["*-Posts.xml"]}, tmp_path / "out", input_root=tmp_path)
    assert_accounting(run.stats)
    assert run.stats["dropped"]["top_sites:meta_site"] == 552
    assert [(d["meta"]["site"], d["meta"]["site_rank"]) for d in run.docs] == [("tiny.stackexchange.com", 1)]


def test_pipeline_counts_malformed_rows_and_reads_a_7z(tmp_path):
    lines = COFFEE.read_bytes().splitlines(keepends=True)
    lines[10] = lines[10][:60] + b"\n"  # a row cut short
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "Posts.xml").write_bytes(b"".join(lines))
    seven_zip(tmp_path / "coffee.stackexchange.com.7z", {"Posts.xml": broken / "Posts.xml"})
    run = run_source("stackexchange", {"inputs": ["*.7z"], "min_chars": 200}, tmp_path / "out", input_root=tmp_path)
    assert_accounting(run.stats)
    assert run.stats["errors"] == {"read:malformed_row": 1}
    [error] = run.errors
    assert error["location"] == f"{tmp_path / 'coffee.stackexchange.com.7z'}:11"
    assert [s["step"] for s in run.stats["steps"]][-1] == "min_chars"
    assert all(len(d["text"]) >= 200 for d in run.docs)
    assert run.stats["dropped"]["min_chars:too_short"] > 0
