"""Common Crawl source: WET/WARC readers on real files, bad input with locations, URL dedup,
the listing input over HTTP, and the whole stage in Beam with its funnel."""
import functools
import gzip
import http.server
import json
import random
import re
import shutil
import subprocess
import sys
import threading
import zlib

import pytest

from helpers import FIXTURES, ROOT, assert_accounting, run_source
from llamacorpus.config import ConfigError
from llamacorpus.document import make_document
from llamacorpus.steps.dedup.urls import DUPLICATE, choose, url_key
from llamacorpus.pipeline import recipe as recipe_mod
from llamacorpus.sources.commoncrawl import (SOURCE, CommonCrawlConfig, RawRecord, iter_records, read_listing,
                                             segment_name, wet_title_and_text)
from llamacorpus.steps import BadInput, Drop, Note, run_steps
from llamacorpus.steps.filters.langid import LanguageId

CC = FIXTURES / "commoncrawl"
WET0, WARC0 = CC / "realpages-00000.warc.wet.gz", CC / "realpages-00000.warc.gz"
META_KEYS = {"url", "digest", "date", "cc_segment", "source_domain", "title"}
#: the perplexity and classifier steps need models trained on Wikipedia; their own tests run them
OWN_STEPS = {"perplexity": {"enabled": False}, "classifier": {"enabled": False}}


def read(path, **cfg):
    return list(SOURCE.read(CommonCrawlConfig(**cfg), str(path)))


def docs_of(items):
    return [i for i in items if isinstance(i, dict)]


def outcomes(items):
    return [i.kind if isinstance(i, BadInput) else i.reason if isinstance(i, Drop) else "doc" for i in items]


# ---------------------------------------------------------------------------- readers

def test_wet_reader_real_file():
    items = read(WET0)
    docs = docs_of(items)
    assert outcomes(items).count("too_short") == 1 and len(docs) == 179
    first = docs[0]
    assert first["id"].startswith("commoncrawl/") and len(first["id"]) == len("commoncrawl/") + 40
    assert set(first["meta"]) == META_KEYS
    assert first["meta"]["url"] == "https://www.theverge.com/2019/7/3/20680681/ios-13-beta-3-facetime-attention-correction-eye-contact"
    assert first["meta"]["date"] == "2019-08-22T11:27:26Z"
    assert first["meta"]["digest"] == "sha1:Y3WUX726HVW4XNPZAXJ4TYFKULCTMLXY"
    assert first["meta"]["cc_segment"] == "realpages-00000.warc.wet.gz"
    assert first["meta"]["source_domain"] == "theverge.com"
    # CCNet's reading (process_wet_file.py): lines stripped, empty ones dropped, the first is the
    # title. This fixture's WET is resiliparse's text (MANIFEST), without CC's title line, so its
    # first text line is taken; the real CC WET below has the page's title there.
    body = next(i for i in iter_records(str(WET0)) if isinstance(i, RawRecord) and i.url == first["meta"]["url"]).body
    lines = [line.strip() for line in body.decode("utf-8").split("\n") if line.strip()]
    assert first["meta"]["title"] == lines[0] == "Skip to main content"
    assert first["text"] == "\n".join(lines[1:]) and first["text"].startswith("We use cookies")
    assert len({d["id"] for d in docs}) == len(docs)
    assert all(len(d["text"]) >= 300 and d["meta"]["title"] for d in docs)
    assert not any(line != line.strip() or not line for d in docs for line in d["text"].split("\n"))


def test_warc_reader_extracts_the_same_text_as_the_wet_file():
    wet = {d["id"]: d for d in docs_of(read(WET0, min_chars=0))}
    warc = {d["id"]: d for d in docs_of(read(WARC0, min_chars=0))}
    assert set(wet) == set(warc) and len(warc) == 180  # same capture, same id
    # the fixture's WET is resiliparse's text of these pages, read the CCNet way (first line the title)
    same = [i for i in wet if (wet[i]["meta"]["title"], wet[i]["text"]) == wet_title_and_text(warc[i]["text"])]
    assert len(same) == 177
    # the other three: the fixture's WET decoded them with a charset guessed for its HTTP header
    # (cp1258, iso8859-13, cp1252); their meta tag says utf-8, and they are
    mojibake = {"https://www.bbc.com/news/newsbeat-50470672": ("About\xa0sharing", "AboutÂ\xa0sharing"),
                "https://hellogiggles.com/beauty/dead-skin-cells-build-up/": ("People en Español", "EspaĆ±ol"),
                "https://www.linknaija.com/2018/10/nollywood-actress-kate-henshaw-is.html": ("\xa0", "Â")}
    for i in set(wet) - set(same):
        right, wrong = mojibake[warc[i]["meta"]["url"]]
        assert right in warc[i]["text"] and wrong in wet[i]["text"] and wrong not in warc[i]["text"]
    assert all(d["meta"]["title"] for d in warc.values())
    assert next(iter(warc.values()))["meta"]["title"] == "iOS 13 will fix the FaceTime eye contact problem - The Verge"


def test_real_common_crawl_warc_and_whirlwind():
    docs = docs_of(read(CC / "CC-MAIN-2020-34-excerpt.warc.gz", min_chars=0))
    assert len(docs) == 16
    assert {d["meta"]["cc_segment"] for d in docs} == {"CC-MAIN-2020-34-excerpt.warc.gz"}
    whirl_wet = docs_of(read(CC / "CC-MAIN-2024-22-whirlwind.warc.wet.gz"))
    whirl_warc = docs_of(read(CC / "CC-MAIN-2024-22-whirlwind.warc.gz"))
    assert [d["meta"]["url"] for d in whirl_wet] == ["https://an.wikipedia.org/wiki/Escopete"]
    assert whirl_warc[0]["id"] == whirl_wet[0]["id"]
    # a real CC WET record starts with the page's title: CCNet's rule gives the WARC's <title>
    assert whirl_wet[0]["meta"]["title"] == whirl_warc[0]["meta"]["title"] == "Escopete - Biquipedia, a enciclopedia libre"
    assert whirl_wet[0]["text"].startswith("Ir al contenido\nMenú principal\n")


def test_segment_name_follows_ccnet():
    path = "https://data.commoncrawl.org/crawl-data/CC-MAIN-2024-22/segments/1715971057216.39/wet/x.warc.wet.gz"
    assert segment_name(path) == "crawl-data/CC-MAIN-2024-22/segments/1715971057216.39/wet/x.warc.wet.gz"
    assert segment_name(str(WET0)) == "realpages-00000.warc.wet.gz"


# ---------------------------------------------------------------------------- bad input

def members(path):
    """The decompressed gzip members of a per-record gzip file."""
    data, out = path.read_bytes(), []
    while data:
        d = zlib.decompressobj(31)
        out.append(d.decompress(data))
        data = d.unused_data
    return out


def write_members(path, records):
    """Write one gzip member per record."""
    path.write_bytes(b"".join(gzip.compress(r) for r in records))
    return path


def member_offsets(path):
    """Where each gzip member of ``path`` starts."""
    data, offsets, at = path.read_bytes(), [], 0
    while at < len(data):
        offsets.append(at)
        d = zlib.decompressobj(31)
        d.decompress(data[at:])
        at = len(data) - len(d.unused_data)
    return offsets


def set_header(record: bytes, name: bytes, value: bytes) -> bytes:
    return re.sub(rb"(?m)^" + name + rb": [^\r\n]*", name + b": " + value, record, count=1)


def replace_block(record: bytes, old: bytes, new: bytes) -> bytes:
    """Edit a record's block and keep its Content-Length right."""
    head, block = record.split(b"\r\n\r\n", 1)
    block = block.replace(old, new, 1)
    length = len(block) - 4  # the block ends with the record separator
    return set_header(head + b"\r\n\r\n" + block, b"Content-Length", str(length).encode())


def content_length(record: bytes) -> int:
    return int(re.search(rb"Content-Length: (\d+)", record).group(1))


def urls(items):
    return [i.url for i in items if isinstance(i, RawRecord)]


def write_plain(path, records):
    path.write_bytes(b"".join(records))
    return path


#: -100 ends inside the record, 100 and 5000 past its gzip member (into the next record), 10**6
#: past the end of the file (over all the records after it, which must still be read)
@pytest.mark.parametrize("delta", [-100, 100, 5000, 10**6])
@pytest.mark.parametrize("compressed", [True, False], ids=["gzip-members", "plain"])
def test_wrong_content_length_is_an_error_and_reading_resumes(tmp_path, delta, compressed):
    recs = members(WET0)[:6]
    good = urls(iter_records(str(write_members(tmp_path / "good.warc.wet.gz", recs))))
    recs[2] = set_header(recs[2], b"Content-Length", str(content_length(recs[2]) + delta).encode())
    if compressed:
        path = write_members(tmp_path / "bad.warc.wet.gz", recs)
        offset = member_offsets(path)[2]
    else:
        path, offset = write_plain(tmp_path / "bad.warc.wet", recs), len(recs[0]) + len(recs[1])
    items = list(iter_records(str(path)))
    errors = [(i.kind, i.location) for i in items if isinstance(i, BadInput)]
    assert errors == [("bad_content_length", f"{path}@{offset}")]
    assert urls(items) == good[:1] + good[2:], "the bad record is dropped, the ones after it are read"
    assert len(good) == 5
    if delta == 10**6:  # also when the record is skipped unread as too large
        items = list(iter_records(str(path), max_bytes=100_000))
        assert [(i.kind, i.location) for i in items if isinstance(i, BadInput)] == errors
        assert urls(items) == good[:1] + good[2:] and not any(isinstance(i, Drop) for i in items)


def test_content_length_past_the_end_of_the_file_is_counted_in_a_run(tmp_path):
    """The records after one whose Content-Length runs past the end of its file (gzip members
    and plain) become documents, and the run counts the bad one once per file."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    recs = members(WET0)[:8]
    recs[3] = set_header(recs[3], b"Content-Length", str(content_length(recs[3]) + 10**7).encode())
    write_members(inputs / "past-end.warc.wet.gz", recs)
    write_plain(inputs / "past-end.warc.wet", recs)
    good = docs_of(read(write_members(tmp_path / "good.warc.wet.gz", recs[:3] + recs[4:]), min_chars=0))
    run = run_source("commoncrawl", {"inputs": ["*.warc.wet*"], "min_chars": 0, "line_dedup": "off",
                                     "languages": ["en", "de", "ru"], **OWN_STEPS},
                     tmp_path / "out", input_root=inputs)
    assert_accounting(run.stats)
    assert run.stats["errors"] == {"read:bad_content_length": 2}
    read_step = run.stats["steps"][0]
    assert read_step["in"] == 2 * (len(good) + 1)  # every conversion record of both files, the bad one included
    assert read_step["kept"] == 2 * len(good)  # the two files' copies of a record: one URL, one document below
    assert {d["id"] for d in run.docs} == {d["id"] for d in good} and len(good) == 6


def test_ccnet_sample_with_wrong_lengths_and_lf_line_ends():
    items = read(CC / "ccnet_sample.warc.wet")
    assert outcomes(items) == ["malformed_warc_record"] * 4
    assert [i.location.rsplit("@", 1)[1] for i in items] == ["0", "617", "1310", "1959"]


def test_truncated_gzip_keeps_what_was_read(tmp_path):
    data = WET0.read_bytes()
    path = tmp_path / "cut.warc.wet.gz"
    path.write_bytes(data[: len(data) // 2])
    items = read(path, min_chars=0)
    assert isinstance(items[-1], BadInput) and items[-1].kind == "truncated_gzip"
    assert items[-1].location.startswith(f"{path}@")
    assert 50 < len(docs_of(items)) < 179
    path.write_bytes(data[:600])  # cut inside the second record's header
    assert outcomes(read(path)) == ["truncated_gzip"]


def test_corrupt_gzip_member_is_skipped(tmp_path):
    recs = members(WET0)[:6]
    data = b"".join(gzip.compress(r) for r in recs)
    start = len(gzip.compress(recs[0])) + len(gzip.compress(recs[1]))
    path = tmp_path / "corrupt.warc.wet.gz"
    path.write_bytes(data[: start + 100] + b"\0" * 50 + data[start + 150:])
    items = list(iter_records(str(path)))
    assert [i.kind for i in items if isinstance(i, BadInput)] == ["corrupt_gzip"]
    good = urls(iter_records(str(write_members(tmp_path / "good.warc.wet.gz", recs))))
    assert urls(items) == good[:1] + good[2:]  # good[1] is the corrupt recs[2] (recs[0] is warcinfo)


def test_empty_file(tmp_path):
    (tmp_path / "empty.warc.wet.gz").write_bytes(b"")
    (tmp_path / "empty-member.warc.gz").write_bytes(gzip.compress(b""))
    for name in ("empty.warc.wet.gz", "empty-member.warc.gz"):
        items = read(tmp_path / name)
        assert outcomes(items) == ["empty_file"] and items[0].location == f"{tmp_path / name}@0"


def _warc_records():
    recs = members(WARC0)
    return recs[0], recs[1:]  # warcinfo, responses


def test_non_html_payload_and_http_status_are_dropped_with_reasons(tmp_path):
    info, responses = _warc_records()
    pdf = replace_block(responses[0], b"Content-Type: text/html", b"Content-Type: application/pdf")
    missing = replace_block(responses[1], b"HTTP/1.1 200 OK", b"HTTP/1.1 404 Not Found")
    no_head_end = replace_block(responses[3], b"\r\n\r\n", b"\r\n")  # HTTP head runs into the page
    payload = responses[4].split(b"\r\n\r\n", 2)[2][:-4]
    noise = random.Random(14).randbytes(20_000).replace(b"\x00", b"\x01")  # "text/html" that is not text
    binary = replace_block(responses[4], payload, noise)
    path = write_members(tmp_path / "mixed.warc.gz", [info, pdf, missing, no_head_end, binary, responses[2]])
    items = read(path)
    assert outcomes(items) == ["not_html", "http_status=404", "malformed_http_header", "binary", "doc"]
    assert items[0].location.startswith(f"{path}@")
    assert items[3].location == f"{path}@{member_offsets(path)[4]}"


def test_invalid_utf8(tmp_path):
    wet = members(WET0)
    body_at = wet[1].index(b"\r\n\r\n") + 10
    broken = wet[1][:body_at] + b"\xff" + wet[1][body_at + 1:]
    items = read(write_members(tmp_path / "bad-utf8.warc.wet.gz", [wet[0], broken, wet[2]]))
    assert outcomes(items) == ["invalid_utf8", "doc"]
    # in HTML the charset decides; an invalid byte becomes U+FFFD and the rest of the page is intact
    info, responses = _warc_records()
    page = next(r for r in responses if b"www.spektrum.de/wissen/laesst-sich" in r)
    bad_page = page.replace(b"\xc3\xa4", b"\xc3\x28")  # every UTF-8 "ä" broken, same length
    (good,) = docs_of(read(write_members(tmp_path / "ok.warc.gz", [info, page])))
    (bad,) = docs_of(read(write_members(tmp_path / "bad-utf8.warc.gz", [info, bad_page])))
    assert good["text"].count("ä") > 10 and "\ufffd" not in good["text"]
    assert bad["text"].count("\ufffd(") == good["text"].count("ä") and "ä" not in bad["text"]
    assert bad["text"].count("ü") == good["text"].count("ü") > 10  # no mojibake through a fallback codec


def test_declared_charset_meta_then_http_header_and_redetected_when_the_bytes_contradict_it(tmp_path):
    """A real windows-1251 page (meta tag and HTTP header both say so), and the same page with
    each declaration removed or turned into a lie: the same text every time; a lie is counted."""
    recs = members(CC / "CC-MAIN-2020-34-excerpt.warc.gz")
    page = next(m for m in recs if b"WARC-Type: response" in m[:100] and b"01spb.ru/company/" in m[:1000])
    meta = b'<meta http-equiv="Content-Type" content="text/html; charset=windows-1251'
    header = b"Content-Type: text/html; charset=windows-1251"
    no_meta = replace_block(page, meta, b'<meta http-equiv="Content-Type" content="text/html')
    variants = {"as crawled": (page, False), "HTTP header only": (no_meta, False),
                "meta lies, header right": (replace_block(page, meta, meta.replace(b"windows-1251", b"utf-8")), True),
                "header lies, no meta": (replace_block(no_meta, header, header.replace(b"windows-1251", b"utf-8")), True),
                "both lie (detected)": (replace_block(replace_block(page, meta, meta.replace(b"windows-1251", b"utf-8")),
                                                      header, header.replace(b"windows-1251", b"utf-8")), True),
                "nothing declared": (replace_block(no_meta, header, b"Content-Type: text/html"), False)}
    texts = set()
    for n, (name, (record, lie)) in enumerate(variants.items()):
        items = read(write_members(tmp_path / f"{n}.warc.gz", [recs[0], record]))
        (doc,) = docs_of(items)
        assert [i.what for i in items if isinstance(i, Note)] == (["charset_redetected"] if lie else []), name
        assert doc["meta"]["title"] == "О компании - Стратегия пожарной безопасности", name
        texts.add(doc["text"])
    assert len(texts) == 1 and "Заказать звонок" in texts.pop()
    # valid UTF-8 contradicts any other declared charset: UTF-8 wins, and that is counted too
    info, responses = _warc_records()
    utf8 = next(r for r in responses if b"www.spektrum.de/wissen/laesst-sich" in r)
    (good,) = docs_of(read(write_members(tmp_path / "utf8.warc.gz", [info, utf8])))
    latin = replace_block(replace_block(utf8, b'charset="utf-8"', b'charset="iso-8859-1"'),
                          b"charset=utf-8", b"charset=iso-8859-1")
    items = read(write_members(tmp_path / "latin.warc.gz", [info, latin]))
    assert docs_of(items)[0]["text"] == good["text"] and [i.what for i in items if isinstance(i, Note)] == [
        "charset_redetected"]


def test_giant_pages_are_capped_and_counted():
    items = read(WARC0, max_page_bytes=100_000)
    big = outcomes(items).count("page_too_large")
    payloads = [len(r.body) for r in iter_records(str(WARC0)) if isinstance(r, RawRecord)]
    assert big > 10 and big == sum(size > 100_000 for size in payloads)
    assert len(docs_of(items)) + big + outcomes(items).count("too_short") == 180


def test_bad_files_in_a_pipeline_are_counted_with_locations_and_the_run_goes_on(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(CC / "ccnet_sample.warc.wet", inputs / "ccnet_sample.warc.wet")
    shutil.copy(CC / "CC-MAIN-2024-22-whirlwind.warc.wet.gz", inputs)
    (inputs / "empty.warc.wet.gz").write_bytes(b"")
    data = WET0.read_bytes()
    (inputs / "cut.warc.wet.gz").write_bytes(data[: len(data) // 3])
    run = run_source("commoncrawl", {"inputs": ["*.warc.wet*"], "languages": ["en", "de", "an", "es"], **OWN_STEPS},
                     tmp_path / "out", input_root=inputs)
    assert_accounting(run.stats)
    assert run.stats["errors"] == {"read:empty_file": 1, "read:malformed_warc_record": 4, "read:truncated_gzip": 1}
    locations = sorted(e["location"] for e in run.errors)
    assert str(inputs / 'empty.warc.wet.gz') in locations  # the read adapter's empty_file rule
    assert any(loc.startswith(f"{inputs / 'cut.warc.wet.gz'}@") for loc in locations)
    assert len(run.docs) > 20


# ---------------------------------------------------------------------------- URL dedup

def _doc(native, url, date, text="x"):
    return make_document("commoncrawl", native, text, url=url, date=date)


def test_url_dedup_keeps_the_newest_capture_then_the_lowest_id_hash():
    old = _doc("a", "https://www.example.com/page/?utm_source=x", "2019-03-18T00:00:00Z")
    new = _doc("b", "http://example.com/page", "2024-05-18T01:58:10Z")
    newest_fraction = _doc("c", "http://example.com/page#top", "2024-05-18T01:58:10.5Z")
    assert url_key(old) == url_key(new) == url_key(newest_fraction) == "example.com/page"
    verdicts = list(choose([old, newest_fraction, new]))
    kept = [d for d, v in verdicts if isinstance(v, dict)]
    assert kept == [newest_fraction]
    assert sorted(d["id"] for d, v in verdicts if isinstance(v, Drop) and v.reason == DUPLICATE) == [old["id"], new["id"]]
    tie = [_doc(n, "http://example.com/page", "2024-05-18T01:58:10Z") for n in "xyz"]
    winners = {next(d["id"] for d, v in choose(order) if isinstance(v, dict)) for order in (tie, tie[::-1])}
    assert len(winners) == 1  # not the arrival order


# ---------------------------------------------------------------------------- inputs and config

@pytest.fixture
def http_root():
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(FIXTURES))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_paths_listing_with_a_base_url_over_http(tmp_path, http_root):
    listing = tmp_path / "wet.paths.gz"
    listing.write_bytes(gzip.compress(b"commoncrawl/realpages-00001.warc.wet.gz\n"
                                      b"commoncrawl/CC-MAIN-2024-22-whirlwind.warc.wet.gz\n"))
    cfg = recipe_mod.from_dict({"sources": {"commoncrawl": {"inputs": [], "paths_listing": str(listing),
                                                            "base_url": http_root}}}).sources["commoncrawl"]
    from helpers import make_context

    recipe = recipe_mod.from_dict({"sources": {"commoncrawl": {}}})
    paths = SOURCE.input_paths(cfg, make_context(tmp_path, recipe))
    assert paths == [f"{http_root}commoncrawl/realpages-00001.warc.wet.gz",
                     f"{http_root}commoncrawl/CC-MAIN-2024-22-whirlwind.warc.wet.gz"]
    remote = docs_of(SOURCE.read(cfg, paths[0]))
    local = docs_of(read(CC / "realpages-00001.warc.wet.gz"))
    assert [d["text"] for d in remote] == [d["text"] for d in local] and len(local) == 181
    assert read_listing(str(listing), "https://data.commoncrawl.org", limit=1) == [
        "https://data.commoncrawl.org/commoncrawl/realpages-00001.warc.wet.gz"]


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="sources.commoncrawl.line_dedup"):
        recipe_mod.from_dict({"sources": {"commoncrawl": {"line_dedup": "exact"}}})
    with pytest.raises(ConfigError, match="sources.commoncrawl.language_threshold"):
        recipe_mod.from_dict({"sources": {"commoncrawl": {"language_threshold": 1.5}}})
    with pytest.raises(ConfigError, match="unknown recipe key sources.commoncrawl.min_len"):
        recipe_mod.from_dict({"sources": {"commoncrawl": {"min_len": 300}}})
    from llamacorpus.fileio import InputError

    with pytest.raises(InputError, match="lid_model"):
        run_source("commoncrawl", {"lid_model": str(tmp_path / "nowhere.bin")}, tmp_path)


def cc_only_recipe(tmp_path):
    """The bundled llama1 recipe with only its commoncrawl section (other sources may not be built yet)."""
    import yaml

    data = yaml.safe_load((ROOT / "llamacorpus" / "recipes" / "llama1.yaml").read_text())
    data["sources"] = {"commoncrawl": {**data["sources"]["commoncrawl"], **OWN_STEPS}}
    data["run"] = ["commoncrawl"]
    data["input_root"] = str(FIXTURES)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_recipe_section_is_valid(tmp_path):
    cfg = recipe_mod.load(str(cc_only_recipe(tmp_path))).sources["commoncrawl"]
    assert cfg.min_chars == 300 and cfg.languages == ["en"] and cfg.line_dedup == "ccnet"
    assert cfg.language_threshold == 0.5 and cfg.main_content is False and cfg.lid_model == ""
    from llamacorpus.pipeline import options

    args, _ = options.parse(["--lid_model", "/models/lid.176.bin"])
    flagged = recipe_mod.load(str(cc_only_recipe(tmp_path)), **options.named_overrides(args))
    assert flagged.sources["commoncrawl"].lid_model == "/models/lid.176.bin"


# ---------------------------------------------------------------------------- the whole stage

def test_stage_on_wet_and_warc_fixtures(tmp_path):
    run = run_source("commoncrawl", dict(OWN_STEPS), tmp_path)
    assert_accounting(run.stats)
    steps = [s["step"] for s in run.stats["steps"]]
    assert steps == ["read", "url_dedup", "line_dedup", "langid"]
    by = {s["step"]: s for s in run.stats["steps"]}
    assert run.stats["files"] == 7 and run.stats["records_read"] == 541 + 180 + 16 + 2
    assert by["url_dedup"]["dropped"] == {"duplicate_url": 180}  # the WARC copy of realpages-00000, whirlwind
    assert by["line_dedup"]["counters"]["lines_removed"] > 0.3 * by["line_dedup"]["counters"]["lines_in"]
    # with CCNet's newline deletion and rounding no English page of the fixtures scores under 0.5
    assert set(by["langid"]["dropped"]) <= {"language_not_kept", "low_language_score"}
    assert by["langid"]["by_language"]["de"]["dropped:language_not_kept"] > 100
    assert by["langid"]["by_language"]["en"]["kept"] == len(run.docs) > 200
    for doc in run.docs:
        assert doc["meta"]["language"] == "en" and doc["meta"]["language_score"] >= 0.5
        assert META_KEYS | {"nlines", "original_nlines"} <= set(doc["meta"])
    assert len({d["meta"]["url"] for d in run.docs}) == len(run.docs)
    # a stricter threshold drops exactly the English pages scored under it, as low_language_score
    strict = run_steps([LanguageId(["en"], threshold=0.8)], run.docs)
    low = sum(d["meta"]["language_score"] < 0.8 for d in run.docs)
    assert 0 < low < len(run.docs)
    assert strict.counts["langid"]["dropped:low_language_score"] == low and len(strict.kept) == len(run.docs) - low


@pytest.mark.slow
def test_beam_main_runs_the_stage(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "beam_main.py", "--recipe", str(cc_only_recipe(tmp_path)),
                           "--sources", "commoncrawl", "--stages", "documents", "--output", str(out), "--no_report"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = json.loads((out / "stats" / "run.json").read_text())
    stats = run["sources"]["commoncrawl"]
    assert_accounting(stats)
    assert stats["documents_out"] > 200 and list((out / "documents" / "commoncrawl").glob("*.parquet"))
