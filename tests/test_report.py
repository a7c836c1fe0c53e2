"""The run report: built from a real pipeline run on the fixtures (every section present, its
numbers equal to run.json's, dropped text escaped, self-contained), and opened in headless
Chromium (no console error, plots that are images with content)."""
import base64
import collections
import contextlib
import copy
import fcntl
import io
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import warnings

import apache_beam as beam
import datasets
import matplotlib
import matplotlib.figure
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
import zstandard
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.localfilesystem import LocalFileSystem
from lxml import etree, html as lxml_html
from PIL import Image, ImageStat

from helpers import FIXTURES, test_pipeline
from llamacorpus import cli, parquet, urls
from llamacorpus import report
from llamacorpus import sources as source_registry
from llamacorpus.document import stable_hash
from llamacorpus.licenses import DATA_TERMS, spdx_of
from llamacorpus.pipeline.stats import WriteCategories
from llamacorpus.report import data as rd, page as report_html, plots
from llamacorpus.pipeline.run import main as run_main
from llamacorpus.pipeline.stats import format_table

#: the sources with a module on main, run on their fixtures (add each source as it lands)
RECIPE_SOURCES = {
    "commoncrawl": {"inputs": ["commoncrawl/*.warc.wet.gz", "commoncrawl/*.warc.gz"], "languages": ["en", "de"],
                    # the sample is tiny: more fastText passes than RedPajama's defaults (as make demo does)
                    "classifier": {"epoch": 50, "lr": 0.5}},
    "wikipedia": {"inputs": ["wikipedia/*.xml*"]},
    "c4": {"inputs": ["c4/*.json.gz"], "min_chars": 300},
    "github": {"inputs": ["github/*.jsonl"]},
    "books": {"inputs": ["books/*.txt"]},
    "arxiv": {"inputs": ["arxiv/*/"]},
    "stackexchange": {"inputs": ["stackexchange/*-Posts.xml"]},
}
#: LLaMA's Table 1
WEIGHTS = {"commoncrawl": {"proportion": 0.67, "epochs": 1.1}, "c4": {"proportion": 0.15, "epochs": 1.06},
           "wikipedia": {"proportion": 0.045, "epochs": 2.45},
           "github": {"proportion": 0.045, "epochs": 0.64}, "books": {"proportion": 0.045, "epochs": 2.23},
           "arxiv": {"proportion": 0.025, "epochs": 1.06}, "stackexchange": {"proportion": 0.02, "epochs": 1.03}}


def lm_dir(root):
    """The fixture SentencePiece model and KenLM ARPA under CCNet's per-language names: the
    perplexity step scores English with them (real libraries, small models)."""
    lm = root / "lm"
    lm.mkdir()
    shutil.copy(FIXTURES / "models" / "botchan_en_unigram_1000.model", lm / "en.sp.model")
    shutil.copy(FIXTURES / "models" / "kenlm_test.arpa", lm / "en.arpa")
    return lm


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    """One real run of the sources above with the mix stage; the run itself writes report.html."""
    root = tmp_path_factory.mktemp("report")
    sources = copy.deepcopy(RECIPE_SOURCES)
    sources["commoncrawl"]["perplexity"] = {"models_dir": str(lm_dir(root)), "lm_model": "{lang}.arpa",
                                            "languages": ["en"]}
    recipe = root / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "report-fixtures", "description": "the report test's run", "input_root": str(FIXTURES),
        "output": str(root / "out"), "run": list(sources), "sources": sources,
        "mixture": {"enabled": True, "weights": WEIGHTS}, "export_jsonl": True,
        "tokenizer": {"vocab_size": 1000, "sample_chars": 2_000_000},
        "shards": {"tokens_per_shard": 1_000_000}}))
    assert run_main(["--recipe", str(recipe)]) == 0
    return root / "out"


@pytest.fixture(scope="module")
def run(out):
    return json.loads((out / "stats" / "run.json").read_text())


@pytest.fixture(scope="module")
def page(out):
    return lxml_html.fromstring((out / "report.html").read_bytes())


def cells(row) -> list:
    return row.xpath("./td")


def value(cell):
    """A numeric cell's exact value (``data-value``) as a number, or None when empty."""
    raw = cell.get("data-value")
    return None if raw in (None, "") else float(raw)


def table_rows(page, table_id: str, key: str) -> dict:
    table = page.get_element_by_id(table_id)
    return {tr.get(key): cells(tr) for tr in table.xpath("./tbody/tr")}


def expected_status(row: dict, mix: dict) -> str:
    """The mixture contract, restated: absent (planned, no tokens in the shards), off target (the
    realised share off the target by more than tolerance_pp), else ok."""
    if "status" in row:
        return row["status"]
    if not row["realised_tokens"]:
        return "absent"
    return "off_target" if abs(row["realised_share"] - row["target_share"]) * 100 > mix.get("tolerance_pp", 0.5) else "ok"


# ---------------------------------------------------------------------------- the page

@pytest.mark.slow
def test_run_writes_the_report_and_stats_prints_the_table(out, run, capsys):
    assert (out / "report.html").stat().st_size > 10_000
    (out / "report.html").unlink()
    assert cli.main(["stats", str(out)]) == 0
    printed = capsys.readouterr().out
    assert (out / "report.html").exists() and f"report: {out}/report.html" in printed
    lines = printed.splitlines()
    # the run's table (stats.format_table, printed at the end of every run) is the stats command's
    assert lines[: len(run_table := format_table(run).splitlines())] == run_table
    header = lines[0].split()
    assert header[:4] == ["source", "read", "docs", "out"] and "kept" in header and "mixture" in header
    for name, s in run["sources"].items():
        row = next(line for line in lines if line.startswith(name + " "))
        mix = rd.mixture_rows(run)[name]
        # records read, documents out, kept of the records read, tokens out, target and realised share
        assert f"{s['records_read']:,}" in row and f"{s['documents_out']:,}" in row
        assert f" {100 * s['documents_out'] / s['records_read']:.1f}% " in row
        assert f"{rd.tokens_out(run, name):,}" in row
        assert rd.percent(mix["target_share"]) in row and rd.percent(mix["realised_share"]) in row
        for step in s["steps"]:  # the funnel by step and reason
            for reason, n in step["dropped"].items():
                assert f"{reason}={n:,}" in printed
    assert cli.main(["stats", str(out / "nowhere")]) == 2
    assert "run.json" in capsys.readouterr().err


@pytest.mark.slow
def test_every_section_is_present(page, run):
    for ident in report_html.RUN_SECTIONS:
        assert page.get_element_by_id(ident) is not None
    expected = {"funnel", "lengths", "languages", "dedup", "dropped", "errors"}
    for source in run["sources"]:
        ids = report_html.source_section_ids(source, run)
        assert {f"{source}-{p}" for p in expected} <= set(ids)
        for ident in ids:
            section = page.get_element_by_id(ident)
            assert section.xpath(".//h2|.//h3"), ident
        toc = page.get_element_by_id("toc")
        assert toc.xpath(f".//a[@href='#source-{source}']")
    for ident in ("commoncrawl-perplexity", "commoncrawl-classifier"):  # expected for Common Crawl
        assert page.get_element_by_id(ident) is not None
    # the classifier: its score histogram with the threshold, and its held-out precision and recall
    assert page.get_element_by_id("dist-commoncrawl-wiki_classifier-wiki_prob") is not None
    heldout = run["step_reports"]["wiki_classifier"]["heldout"]
    shown = page.get_element_by_id("commoncrawl-classifier").text_content()
    assert "precision" in shown and "recall" in shown and str(heldout["tp"]) in shown
    # Common Crawl: per-language table, language-score histogram with its threshold, line dedup
    assert page.get_element_by_id("commoncrawl-languages-table") is not None
    assert page.get_element_by_id("dist-commoncrawl-langid-language_score") is not None
    assert page.get_element_by_id("commoncrawl-dedup-table") is not None
    # the perplexity histogram and its cut-offs per language
    assert page.get_element_by_id("dist-commoncrawl-perplexity-perplexity") is not None
    assert page.get_element_by_id("commoncrawl-perplexity-cutoffs-table") is not None
    # Books: the near-duplicate clusters and their measured overlaps
    assert page.get_element_by_id("near_duplicates_books-clusters-table") is not None
    assert page.get_element_by_id("near_duplicates_books-pairs-table") is not None
    # GitHub: files per licence; Stack Exchange: documents per site, with the counts of run.json
    assert page.get_element_by_id("github-licenses-table") is not None
    sites = page.get_element_by_id("stackexchange-sites-table").text_content()
    for site, n in run["categories"]["stackexchange/output/site"].items():
        assert site in sites and f"{n:,}" in sites
    # C4 has no token-length distribution in run.json yet: the section says so instead of failing
    # token lengths per document come from the mix stage's encoder, one per cleaned document
    for name, source in run["sources"].items():
        assert run["distributions"][f"{name}/output/tokens"]["count"] == source["documents_out"]
        assert "Not in this run" not in page.get_element_by_id(f"{name}-lengths").text_content()


@pytest.mark.slow
def test_overview_and_mixture_numbers_equal_run_json(page, run):
    rows = table_rows(page, "overview-table", "data-source")
    mix = rd.mixture_rows(run)
    for name, s in run["sources"].items():
        c = rows[name]
        assert c[0].text_content() == name
        assert [value(x) for x in c[1:4]] == [s["records_read"], s["documents_in"], s["documents_out"]]
        assert c[2].text_content() == f"{s['documents_in']:,}"
        assert value(c[4]) == pytest.approx(s["documents_out"] / s["records_read"])  # kept: of the records read
        assert value(c[6]) == mix[name]["available_tokens"] + run["mixture"]["validation"]["planned"].get(name, {}).get("tokens", 0)
        assert [value(x) for x in c[7:10]] == [s["bytes_in"], s["bytes_out"], sum(s["errors"].values())]
        assert value(c[10]) == pytest.approx(mix[name]["target_share"])
        assert value(c[11]) == pytest.approx(mix[name]["realised_share"])
    total = rows[""]
    assert [value(x) for x in total[1:4]] == [run["totals"][k] for k in ("records_read", "documents_in", "documents_out")]
    mrows = table_rows(page, "mixture-table", "data-source")
    for r in run["mixture"]["sources"]:
        c = mrows[r["source"]]
        assert value(c[1]) == r["available_tokens"] and value(c[5]) == r["planned_tokens"]
        assert value(c[8]) == r["realised_tokens"] and value(c[9]) == r["realised_documents"]
        assert value(c[3]) == pytest.approx(r["target_share"]) and value(c[10]) == pytest.approx(r["realised_share"])
        assert c[11].text_content().split(" (")[0] == {"ok": "ok", "absent": "absent", "off_target": "off target"}[
            expected_status(r, run["mixture"])]


@pytest.mark.slow
def test_funnel_languages_dedup_and_distributions_equal_run_json(page, run):
    for name, s in run["sources"].items():
        rows = table_rows(page, f"{name}-funnel-table", "data-step")
        assert list(rows) == [step["step"] for step in s["steps"]]
        for step in s["steps"]:
            c = rows[step["step"]]
            assert [value(x) for x in c[1:4]] == [step["in"], step["kept"], step["dropped_total"]]
            assert value(c[5]) == step["errors_total"] and value(c[8]) == step["chars_out"]
            shown = c[4].text_content()
            for reason, n in step["dropped"].items():
                assert f"{reason}: {n:,}" in shown
        for key, dist in rd.distributions_of(run, name).items():
            block = page.get_element_by_id(report_html.slug(f"dist-{name}/{key}"))
            c = block.xpath("./div[@class='scroll']//table/tbody/tr")[0].xpath("./td")
            assert value(c[1]) == dist["count"] and value(c[2]) == pytest.approx(dist["mean"])
            assert value(c[3]) == dist["min"] and value(c[7]) == dist["max"]
            assert value(c[5]) == dist["quantiles"][50]
    langid = next(step for step in run["sources"]["commoncrawl"]["steps"] if step["step"] == "langid")
    lrows = table_rows(page, "commoncrawl-languages-table", "data-language")
    assert set(lrows) == set(langid["by_language"])
    last = run["sources"]["commoncrawl"]["steps"][-1]  # documents out per language: kept by the last step
    for lang, outcomes in langid["by_language"].items():
        assert value(lrows[lang][1]) == sum(outcomes.values())
        assert value(lrows[lang][-1]) == last["by_language"].get(lang, {}).get("kept", 0)
    line = next(step for step in run["sources"]["commoncrawl"]["steps"] if step["step"] == "line_dedup")
    drow = table_rows(page, "commoncrawl-dedup-table", "data-step")["line_dedup"]
    assert value(drow[4]) == line["counters"]["lines_in"] and value(drow[5]) == line["counters"]["lines_removed"]
    for name, rep in rd.perplexity_cutoffs(run, "commoncrawl"):
        crows = table_rows(page, "commoncrawl-perplexity-cutoffs-table", "data-language")
        assert set(crows) == set(rep["languages"])
        for lang, entry in rep["languages"].items():
            assert [value(c) for c in crows[lang][1:]] == [*entry["cutoffs"], entry["documents"]]
    license_step = next(step for step in run["sources"]["github"]["steps"] if step["step"] == "license")
    lic = table_rows(page, "github-licenses-table", "data-value")
    dropped = {r.split("=", 1)[1]: n for r, n in license_step["dropped"].items()}  # as SPDX ids on the page
    dropped = {(k if k == "none" else spdx_of(k)): n for k, n in dropped.items()}
    names, _ = rd.category_table(rd.categories(run, "github", "license"))
    col = {name: i + 1 for i, name in enumerate(names)}
    assert {k: value(c[col["dropped at license"]]) for k, c in lic.items()
            if value(c[col["dropped at license"]]) is not None} == dropped
    kept = run["categories"]["github/output/license"]
    assert {k: value(c[col["output"]]) for k, c in lic.items() if value(c[col["output"]]) is not None} == kept
    near = run["step_reports"]["near_duplicates_books"]
    pairs = page.get_element_by_id("near_duplicates_books-pairs-table").xpath("./tbody/tr")
    assert len(pairs) == len(near["candidate_pairs"])
    measured = {(p["a"], p["b"]): p["containment"] for p in near["candidate_pairs"]}
    for tr in pairs:
        c = cells(tr)
        assert value(c[2]) == pytest.approx(measured[(c[0].text_content(), c[1].text_content())])


@pytest.mark.slow
def test_dropped_samples_come_from_rejected_and_are_escaped(page, run, out):
    for name, s in run["sources"].items():
        for reason in {r.split(":", 1)[1] for r in s["dropped"]}:
            block = page.get_element_by_id(f"{name}-dropped-{report_html.slug(reason)}")
            with open(out / "rejected" / name / f"{reason}.jsonl", encoding="utf-8") as f:
                records = [json.loads(line) for line in f if line.strip()][:report.SAMPLES_PER_REASON]
            shown = block.xpath(".//div[@class='sample']")
            assert len(shown) == len(records) > 0
            for div, record in zip(shown, records):
                text = div.xpath("./pre")[0].text_content()
                expected = record["text"][:report_html.SAMPLE_TEXT_CHARS] or "(no text)"
                assert text.startswith(expected)
                assert record["id"] in div.xpath("./div[@class='head']")[0].text_content()


def test_markup_in_dropped_text_stays_text():
    nasty = '</pre><script>alert("x")</script><img src="http://example.com/x.png"> & <b>bold</b>'
    block = report_html.sample_block({"id": "c4/<id>", "chars": len(nasty), "text": nasty,
                                      "meta": {"url": 'http://a.example/?q="<x>"'}})
    tree = lxml_html.fromstring(block)
    assert not tree.xpath("//script|//img|//pre//b")
    assert tree.xpath("//pre")[0].text_content() == nasty
    assert "c4/<id>" in tree.text_content() and '"<x>"' in tree.text_content()


@pytest.mark.slow
def test_page_is_self_contained(out):
    text = (out / "report.html").read_text(encoding="utf-8")
    tree = lxml_html.fromstring(text.encode("utf-8"))
    assert not tree.xpath("//script|//link|//iframe|//object|//embed")
    images = tree.xpath("//img")
    assert len(images) >= 10
    for img in images:
        src = img.get("src")
        assert src.startswith("data:image/svg+xml;base64,")
        svg = etree.fromstring(base64.b64decode(src.split(",", 1)[1]))
        assert svg.tag.endswith("svg") and len(svg.xpath("//*[local-name()='path']")) > 10
    for a in tree.xpath("//a[@href]"):
        target = a.get("href")
        assert target.startswith("#") and tree.get_element_by_id(target[1:]) is not None
    assert "http://" not in "".join(tree.xpath("//style/text()")) and "@import" not in text


@pytest.mark.slow
def test_sections_without_data_say_not_in_this_run(run, out, tmp_path):
    bare = copy.deepcopy(run)
    bare["mixture"], bare["step_reports"] = {}, {}
    bare["distributions"] = {k: v for k, v in bare["distributions"].items() if not k.startswith("commoncrawl/")}
    for step in bare["sources"]["commoncrawl"]["steps"]:
        step["by_language"] = {}
    tree = lxml_html.fromstring(report_html.page(bare, str(out), {}, {}))
    for ident in ("mixture", "commoncrawl-lengths", "commoncrawl-languages", "commoncrawl-perplexity",
                  "commoncrawl-classifier"):
        assert "Not in this run" in tree.get_element_by_id(ident).text_content(), ident
    assert value(table_rows(tree, "overview-table", "data-source")["c4"][6]) is None
    # dropped samples missing from rejected/ are said to be missing
    assert "Not in this run" in tree.get_element_by_id("c4-dropped-too_short").text_content()


SCHEME = "reporttest"
PREFIX = SCHEME + "://"


class SchemeLocalFileSystem(LocalFileSystem):
    """Local files seen through a URL scheme, as Beam's FileSystems sees ``gs://`` ones (a Beam
    filesystem plugin: registered by subclassing)."""

    @classmethod
    def scheme(cls):
        return SCHEME

    @staticmethod
    def _local(path):
        return path[len(PREFIX):] if path.startswith(PREFIX) else path

    def join(self, basepath, *paths):
        return PREFIX + super().join(self._local(basepath), *paths)

    def split(self, path):
        head, tail = super().split(self._local(path))
        return PREFIX + head, tail

    def mkdirs(self, path):
        return super().mkdirs(self._local(path))

    def _list(self, dir_or_prefix):
        for root, _, files in os.walk(self._local(dir_or_prefix)):
            for name in files:
                path = os.path.join(root, name)
                yield FileMetadata(PREFIX + path, os.path.getsize(path), os.path.getmtime(path))

    def metadata(self, path):
        m = super().metadata(self._local(path))
        return FileMetadata(PREFIX + m.path, m.size_in_bytes, m.last_updated_in_seconds)

    def create(self, path, *args, **kwargs):
        return super().create(self._local(path), *args, **kwargs)

    def open(self, path, *args, **kwargs):
        return super().open(self._local(path), *args, **kwargs)

    def rename(self, sources, destinations):
        return super().rename([self._local(p) for p in sources], [self._local(p) for p in destinations])

    def exists(self, path):
        return super().exists(self._local(path))

    def delete(self, paths):
        return super().delete([self._local(p) for p in paths])


@pytest.mark.slow
def test_report_reads_and_writes_an_output_through_beam_filesystems(out):
    """An output behind a URL scheme (as gs:// is) gives the same page: nothing reads it with open()."""
    remote = PREFIX + str(out)
    local_page = (out / "report.html").read_text(encoding="utf-8")  # written from the local path
    (out / "report.html").unlink()
    path = report.write_report(remote)
    assert path == remote + "/report.html"
    assert (out / "report.html").read_text(encoding="utf-8") == local_page.replace(
        f"<p>{out}</p>", f"<p>{remote}</p>")
    assert "sample" in local_page and 'class="reason"' in local_page  # rejected samples were read too


# ---------------------------------------------------------------------------- pure parts on run.json

@pytest.mark.slow
def test_histogram_bars_cover_the_distribution(run):
    chars = rd.histogram_bars(run["distributions"]["c4/output/chars"])
    assert chars.log_x and sum(chars.counts) == run["distributions"]["c4/output/chars"]["count"]
    assert all(lo < hi for lo, hi in zip(chars.lows, chars.highs)) and chars.lows == sorted(chars.lows)
    assert chars.lows[0] <= 300 < chars.highs[0]  # min_chars=300: the smallest document
    score = rd.histogram_bars(run["distributions"]["commoncrawl/langid/language_score"])
    assert not score.log_x and all(0 <= lo < hi <= 1 for lo, hi in zip(score.lows, score.highs))


@pytest.mark.slow
def test_thresholds_from_recipe_and_step_reports(run):
    assert [t.value for t in rd.thresholds(run, "commoncrawl", "langid", "language_score")] == [0.5]
    assert [t.value for t in rd.thresholds(run, "c4", "output", "chars")] == [300]
    assert rd.thresholds(run, "books", "output", "chars") == []  # min_chars 0: no filter, no line
    assert [t.value for t in rd.thresholds(run, "books", "near_dedup", "containment")] == [0.9]
    heuristics = run["recipe"]["sources"]["github"]["heuristics"]  # nested recipe keys, by the field's name
    for field, key in (("alnum_fraction", "min_alnum_fraction"), ("max_line_length", "max_line_length"),
                       ("mean_line_length", "max_mean_line_length"), ("alpha_per_token", "min_alpha_per_token")):
        got = rd.thresholds(run, "github", "code_quality", field)
        assert [(t.label, t.value) for t in got] == [(f"heuristics.{key} = {heuristics[key]:g}", heuristics[key])]
    with_cutoffs = copy.deepcopy(run)  # CCNet's published English cut-offs, as a `cutoffs: table` run writes them
    with_cutoffs["step_reports"]["perplexity_cutoffs"] = {
        "source": "commoncrawl", "cutoffs_from": "table", "languages": {"en": {"cutoffs": [340.0, 520.0]}}}
    got = rd.thresholds(with_cutoffs, "commoncrawl", "perplexity", "perplexity")
    assert [(t.label, t.value) for t in got] == [("en: head < 340", 340.0), ("en: middle < 520", 520.0)]
    assert rd.recipe_keys_for("alnum_fraction") >= {"min_alnum_fraction"}
    assert "max_line_length" in rd.recipe_keys_for("max_line_length")


def test_categories_from_reasons_and_counters():
    """Counts per value from categories, drop reasons and counters, licences as one SPDX id each."""
    run = {"sources": {"github": {"steps": [
        {"step": "license", "in": 10, "kept": 6, "dropped": {"license=gpl-2.0": 3, "license=none": 1},
         "errors": {}, "counters": {"kept_license=mit": 4, "kept_license=apache-2.0": 2}}]}},
        "categories": {"github/output/license": {"MIT": 4, "mit": 1, "apache-2.0": 1}}}
    columns = rd.categories(run, "github", "license")
    assert columns == {"output": {"MIT": 5, "Apache-2.0": 1}, "dropped at license": {"GPL-2.0": 3, "none": 1},
                       "license kept_license": {"MIT": 4, "Apache-2.0": 2}}
    names, rows = rd.category_table(columns)
    assert rows[0] == ("MIT", [5, None, 4]) and {v for v, _ in rows} == {"MIT", "Apache-2.0", "GPL-2.0", "none"}
    names, rows = rd.category_table(columns, top=2)
    assert [v for v, _ in rows] == ["MIT", "GPL-2.0", rd.OTHER] and rows[-1][1] == [1, 1, 2]


# ---------------------------------------------------------------------------- outputs: typed meta, card

@pytest.mark.slow
def test_documents_have_typed_meta_and_extra_only_for_free_form(out, run):
    """Every source's Parquet meta is its declared struct; on the fixtures the declarations cover
    every field the documents carry, so extra is null except for arXiv's free-form maps."""
    free_form = {"arxiv": {"non_utf8_files", "macros_unexpanded"}}
    for name in run["sources"]:
        fields = source_registry.get(name).meta_fields
        parts = sorted((out / "documents" / name).glob("*.parquet"))
        extras = set()
        for part in parts:
            meta = pq.read_schema(part).field("meta").type
            assert {f.name: f.type for f in meta} == {**{k: parquet.ARROW_TYPES[t] for k, t in fields.items()},
                                                     parquet.EXTRA: pa.string()}
            for row in pq.read_table(part, columns=["meta"]).column("meta").to_pylist():
                extras |= set(json.loads(row[parquet.EXTRA])) if row[parquet.EXTRA] else set()
        assert parts and extras == free_form.get(name, set()), name


@pytest.mark.slow
def test_jsonl_export_keeps_redpajama_layout_and_equals_the_parquet_read_back(out, run):
    """The same documents through both sinks: RedPajama's {"text", "meta"} lines (meta with id and
    source) and the typed Parquet read back give the same meta dicts."""
    for name, s in run["sources"].items():
        fields = source_registry.get(name).meta_fields
        exported = {}
        for path in (out / "jsonl" / name).glob("*.jsonl.zst"):
            data = zstandard.ZstdDecompressor().decompress(path.read_bytes(), max_output_size=1 << 30)
            for line in data.splitlines():
                record = json.loads(line)
                assert set(record) == {"text", "meta"} and record["meta"]["source"] == name
                meta = dict(record["meta"])
                doc_id = meta.pop("id")
                meta.pop("source")
                exported[doc_id] = {k: v for k, v in meta.items() if not (k in fields and v is None)}
        back = {d["id"]: d["meta"] for d in parquet.read_documents(str(out), name)}
        assert len(back) == s["documents_out"] and back == exported, name


@pytest.mark.slow
def test_load_dataset_loads_one_source_from_the_dataset_card(out, run, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    cache = str(tmp_path / "hf")
    c4 = datasets.load_dataset(str(out / "documents"), "c4", split="train", cache_dir=cache)
    assert c4.num_rows == run["sources"]["c4"]["documents_out"]
    assert c4.column_names == ["id", "text", "source", "meta"] and set(c4["source"]) == {"c4"}
    assert set(c4.features["meta"]) == {"url", "timestamp", "extra"}
    assert c4[0]["meta"]["url"].startswith("http") and c4[0]["meta"]["extra"] is None
    cc = datasets.load_dataset(str(out / "documents"), "commoncrawl", split="train", cache_dir=cache)
    confident = cc.filter(lambda r: r["meta"]["language_score"] > 0.8)  # typed: no json.loads
    expected = sum(d["meta"]["language_score"] > 0.8 for d in parquet.read_documents(str(out), "commoncrawl"))
    assert confident.num_rows == expected and 0 < expected < cc.num_rows
    wiki = datasets.load_dataset(str(out / "documents"), "wikipedia", split="train", cache_dir=cache)
    assert wiki.num_rows == run["sources"]["wikipedia"]["documents_out"]
    assert isinstance(wiki[0]["meta"]["page_id"], int)
    with capsys.disabled():
        print(f"\nload_dataset(OUT/documents, 'c4'): {c4.num_rows} rows, columns {c4.column_names}, "
              f"meta {c4[0]['meta']}")


@pytest.mark.slow
def test_dataset_card_has_configs_counts_recipe_hash_and_licences(out, run):
    text = (out / "documents" / "README.md").read_text(encoding="utf-8")
    _, front, body = text.split("---\n", 2)
    meta = yaml.safe_load(front)
    assert [c["config_name"] for c in meta["configs"]] == rd.source_names(run)
    for c in meta["configs"]:
        assert c["data_files"] == [{"split": "train", "path": f"{c['config_name']}/part-*.parquet"}]
    assert run["recipe_hash"] in body
    for name, s in run["sources"].items():
        row = next(line for line in body.splitlines() if line.startswith(f"| {name} | "))
        assert f"| {s['documents_out']:,} | {s['chars_out']:,} | {s['bytes_out']:,} |" in row
        assert DATA_TERMS[name][1] in body and row.endswith(f"| {DATA_TERMS[name][0]} |")
        for field in source_registry.get(name).meta_fields:
            assert f"`{field}`" in body
    licences = body.split("GitHub files written per licence", 1)[1]
    for spdx, n in run["categories"]["github/output/license"].items():
        assert f"| {spdx} | {n:,} |" in licences


@pytest.mark.slow
def test_dataset_card_is_written_when_sources_are_reused(tmp_path):
    """A second run that reuses its finished source writes the card again, saying so."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"name": "card-reuse", "input_root": str(FIXTURES), "output": str(tmp_path / "o"),
                                      "sources": {"c4": RECIPE_SOURCES["c4"]}, "mixture": {"enabled": False}}))
    args = ["--recipe", str(recipe), "--stages", "documents", "--no_report"]
    assert run_main(args) == 0
    card = tmp_path / "o" / "documents" / "README.md"
    card.unlink()
    assert run_main(args) == 0
    text = card.read_text(encoding="utf-8")
    assert "config_name: c4" in text and "reused from an earlier run with the same settings and inputs: c4" in text


# ---------------------------------------------------------------------------- a report that tells the truth

def failing_mixture(run: dict) -> dict:
    """The run with one planned source absent from the shards and one off its target, as a mix
    stage without the status contract reports them."""
    bad = copy.deepcopy(run)
    rows = {r["source"]: r for r in bad["mixture"]["sources"]}
    absent_row, off_row = rows["arxiv"], rows["c4"]
    absent_row["realised_tokens"], absent_row["realised_documents"], absent_row["realised_share"] = 0, 0, 0.0
    off_row["realised_share"] = off_row["target_share"] + 0.02
    for r in rows.values():
        for key in ("status", "ok", "within_sampling_error"):
            r.pop(key, None)
    for key in ("ok", "tolerance_pp", "within_sampling_error"):
        bad["mixture"].pop(key, None)
    return bad


@pytest.mark.slow
def test_planned_source_absent_or_off_target_is_a_failure_never_yes(run, out):
    bad = failing_mixture(run)
    checks, overall = rd.mixture_checks(bad)
    status = {c.source: c.status for c in checks}
    assert status["arxiv"] == "absent" and status["c4"] == "off_target" and overall is False
    tree = lxml_html.fromstring(report_html.page(bad, str(out), {}, {}))
    for table_id, column in (("mixture-table", 11), ("overview-table", 12)):
        rows = table_rows(tree, table_id, "data-source")
        assert rows["arxiv"][column].get("class") == "bad" and rows["arxiv"][column].text_content() == "absent"
        assert rows["c4"][column].get("class") == "bad" and rows["c4"][column].text_content() == "off target (+2.00 pp)"
        assert rows[""][column].text_content() == "failed"
        assert "yes" not in [c[column].text_content() for c in rows.values()]
    warned = tree.get_element_by_id("warnings").xpath(".//li")
    assert {(li.get("data-source"), li.get("data-kind")) for li in warned} >= {("arxiv", "mixture"), ("c4", "mixture")}
    printed = format_table(bad, color=True).splitlines()
    arxiv = next(line for line in printed if line.startswith("arxiv "))
    assert "\033[31m" in arxiv and "ABSENT" in arxiv
    assert any(line.startswith("\033[31mwarning: c4: realised") for line in printed)
    # the contract's fields, once the mix stage writes them, decide (here against the numbers)
    contract = copy.deepcopy(run)
    for r in contract["mixture"]["sources"]:
        r["status"], r["ok"] = ("off_target", False) if r["source"] == "stackexchange" else ("ok", True)
    contract["mixture"].update(ok=False, tolerance_pp=0.5)
    checks, overall = rd.mixture_checks(contract)
    assert [c.source for c in checks if not c.ok] == ["stackexchange"] and overall is False
    # on the real run each source's verdict follows the rule, and run.json carries the warnings
    for c in rd.mixture_checks(run)[0]:
        assert c.status == expected_status(rd.mixture_rows(run)[c.source], run["mixture"])
    assert [w["source"] for w in run["warnings"] if w["kind"] == "mixture"] == \
        [c.source for c in rd.mixture_checks(run)[0] if not c.ok]


@pytest.fixture(scope="module")
def untrained(tmp_path_factory):
    """A real Common Crawl run whose classifier cannot train (more positives asked than the
    fixtures have): its output and what it printed."""
    root = tmp_path_factory.mktemp("untrained")
    section = copy.deepcopy(RECIPE_SOURCES["commoncrawl"])
    section["classifier"]["min_positives"] = 100_000
    section["perplexity"] = {"enabled": False}
    recipe = root / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"name": "untrained", "input_root": str(FIXTURES), "output": str(root / "out"),
                                      "sources": {"commoncrawl": section, "wikipedia": RECIPE_SOURCES["wikipedia"]},
                                      "run": ["commoncrawl"], "mixture": {"enabled": False}}))
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert run_main(["--recipe", str(recipe), "--stages", "documents"]) == 0
    return root / "out", stdout.getvalue()


@pytest.mark.slow
def test_untrained_classifier_is_a_warning_in_the_run_table_and_the_report(untrained):
    out, printed = untrained
    stats = json.loads((out / "stats" / "wiki_classifier.json").read_text())
    assert stats["trained"] is False and stats["reason"] == "too_few_positives"
    warning = next(line for line in printed.splitlines() if line.startswith("warning: commoncrawl:"))
    assert "Wikipedia-reference classifier was not trained (too_few_positives)" in warning
    assert stats["message"] in warning
    page = lxml_html.fromstring((out / "report.html").read_bytes())
    shown = page.get_element_by_id("commoncrawl-classifier-warning")
    assert shown.get("class") == "warning" and stats["message"] in shown.text_content()
    assert page.get_element_by_id("commoncrawl-classifier").xpath(".//p[@id='commoncrawl-classifier-warning']")
    box = page.get_element_by_id("warnings").xpath(".//li[@data-kind='untrained_model']")
    assert len(box) == 1 and box[0].xpath("./a")[0].get("href") == "#commoncrawl-classifier"
    run = json.loads((out / "stats" / "run.json").read_text())
    assert [w["kind"] for w in run["warnings"]] == ["untrained_model"]


@pytest.mark.slow
def test_licences_are_one_spdx_id_per_bar(run, page):
    """The licence filter's drop reasons say ``license=gpl-2.0``, the reader's counts ``GPL-2.0``:
    one row (and one bar) for both."""
    license_step = next(step for step in run["sources"]["github"]["steps"] if step["step"] == "license")
    assert "license=gpl-2.0" in license_step["dropped"] and "GPL-2.0" in run["categories"]["github/read/license"]
    rows = table_rows(page, "github-licenses-table", "data-value")
    assert "gpl-2.0" not in rows and "GPL-2.0" in rows
    assert len(rows) == len({k.lower() for k in rows})
    names, _ = rd.category_table(rd.categories(run, "github", "license"))
    col = {name: i + 1 for i, name in enumerate(names)}
    assert value(rows["GPL-2.0"][col["read"]]) == run["categories"]["github/read/license"]["GPL-2.0"]
    assert value(rows["GPL-2.0"][col["dropped at license"]]) == license_step["dropped"]["license=gpl-2.0"]


NUMBER_TEXT = re.compile(r"^(≈?-?\d{1,3}(,\d{3})*(\.\d+)?%?|–|-?∞|true|false)$")


@pytest.mark.slow
def test_numbers_in_tables_have_one_format(page):
    """No exponent, no unit suffix: whole numbers grouped by thousands, others positional."""
    cells = page.xpath("//table//td[contains(@class, 'num')]")
    assert len(cells) > 500
    for cell in cells:
        text = cell.text_content()
        assert NUMBER_TEXT.match(text), text
        raw = cell.get("data-value")
        if raw and re.fullmatch(r"-?\d+", raw) and not text.endswith("%") and text != "–":  # "–": not applicable
            assert text.lstrip("≈") == f"{int(raw):,}", (raw, text)
    assert rd.number(430912.5) == "430,912" and rd.number(144601) == "144,601" and rd.number(0.84577) == "0.8458"
    assert rd.number(7.299e15) == "7,299,000,000,000,000" and rd.number(1.2345e-5) == "0.00001234"


def svg_of(img) -> etree._Element:
    return etree.fromstring(base64.b64decode(img.get("src").split(",", 1)[1]))


def fills(svg) -> collections.Counter:
    """Filled paths per colour in a matplotlib SVG (bars are filled paths)."""
    out = collections.Counter()
    for node in svg.xpath("//*[local-name()='path'][@style]"):
        m = re.search(r"fill:\s*(#[0-9a-f]{6})", node.get("style"))
        if m:
            out[m.group(1)] += 1
    return out


@pytest.mark.slow
def test_score_histograms_split_kept_and_dropped_with_the_threshold(run, page):
    dist = run["distributions"]["commoncrawl/langid/language_score"]
    langid = next(step for step in run["sources"]["commoncrawl"]["steps"] if step["step"] == "langid")
    by = dist["by_outcome"]
    assert by["kept"]["count"] == langid["kept"] and by["dropped"]["count"] == langid["dropped_total"]
    assert by["kept"]["count"] + by["dropped"]["count"] == dist["count"]
    assert sum(by["kept"]["histogram"].values()) == by["kept"]["count"]
    bars = rd.histogram_bars(dist, rd.outcome_parts(dist))
    assert [a + b for a, b in zip(bars.parts["kept"], bars.parts["dropped"])] == bars.counts
    block = page.get_element_by_id("dist-commoncrawl-langid-language_score")
    svg = svg_of(block.xpath(".//img")[0])
    colors = fills(svg)
    assert colors[plots.KEPT] > 3 and colors[plots.DROPPED] > 3  # both series drawn
    assert [n for n in svg.xpath("//*[local-name()='path'][@style]") if "stroke-dasharray" in n.get("style")]
    assert [r.get("data-outcome") for r in block.xpath(".//tbody/tr")] == ["all", "kept", "dropped"]
    classifier = run["distributions"]["commoncrawl/wiki_classifier/wiki_prob"]
    assert classifier["by_outcome"] and set(classifier["by_outcome"]) <= {"kept", "dropped"}


@pytest.mark.slow
def test_length_histograms_show_input_beside_output(run, page):
    for name, s in run["sources"].items():
        assert run["distributions"][f"{name}/input/chars"]["count"] == s["documents_in"]  # every document read
        block = page.get_element_by_id(f"dist-{name}-output-chars")
        colors = fills(svg_of(block.xpath(".//img")[0]))
        assert colors[plots.OTHER] > 0 and colors[plots.KEPT] > 0, name  # input and output drawn
        assert block.xpath(f".//div[@id='dist-{name}-input-chars']")
    bars = rd.histogram_bars(None, {"in": run["distributions"]["c4/input/chars"],
                                    "out": run["distributions"]["c4/output/chars"]})
    assert sum(bars.parts["in"]) == run["sources"]["c4"]["documents_in"]
    assert sum(bars.parts["out"]) == run["sources"]["c4"]["documents_out"]


@pytest.mark.slow
def test_kept_samples_appear_beside_the_dropped_ones(out, run, page):
    for name in run["sources"]:
        records = [json.loads(line) for line in
                   (out / "samples" / name / "kept.jsonl").read_text(encoding="utf-8").splitlines()]
        written = {d["id"]: d for d in parquet.read_documents(str(out), name)}
        assert [r["id"] for r in records] == sorted(written, key=stable_hash)[:20]  # the lowest id hashes
        for r in records:
            assert written[r["id"]]["text"].startswith(r["text"]) and r["chars"] == len(written[r["id"]]["text"])
        shown = page.get_element_by_id(f"{name}-kept").xpath(".//div[@class='sample']")
        assert [d.xpath("./div[@class='head']/b")[0].text_content() for d in shown] == \
            [r["id"] for r in records[: report.SAMPLES_PER_REASON]]
        ids = report_html.source_section_ids(name, run)
        assert ids.index(f"{name}-kept") + 1 == ids.index(f"{name}-dropped")


@pytest.mark.slow
def test_common_crawl_and_c4_have_top_domains(out, run, page):
    for name in ("commoncrawl", "c4"):
        docs = list(parquet.read_documents(str(out), name))
        counted = run["categories"][f"{name}/output/domain"]
        assert counted == dict(collections.Counter(urls.registered_domain(d["meta"]["url"]) for d in docs))
        read = run["categories"][f"{name}/read/domain"]
        assert sum(read.values()) == run["sources"][name]["documents_in"]
        rows = table_rows(page, f"{name}-domains-table", "data-value")
        names, expected = rd.top_domains(run, name, report_html.TOP_DOMAINS)
        assert names[0] == "output" and list(rows) == [v for v, _ in expected]
        shown = [v for v in rows if v != rd.OTHER]
        assert len(shown) == min(report_html.TOP_DOMAINS, len(set(counted) | set(read)))
        outs = [value(rows[v][1]) or 0 for v in shown]
        assert outs == sorted(outs, reverse=True)  # by documents written
        assert sum(value(c[1]) or 0 for c in rows.values()) == len(docs)  # the rest summed as (other)
    assert "github-domains" not in report_html.source_section_ids("github", run)


def test_categories_past_the_cap_are_summed_as_other(tmp_path):
    """The category combiner keeps the largest values and sums the rest (millions of domains stay small)."""
    values = [f"d{i}.example" for i in range(30) for _ in range(i + 1)]  # value i counted i + 1 times
    p = test_pipeline()
    (p | beam.Create([("c4/output/domain", v) for v in values])
     | WriteCategories(str(tmp_path), "c4", max_values=10))
    p.run().wait_until_finish()
    table = json.loads((tmp_path / "stats" / "categories" / "c4.json").read_text())["c4/output/domain"]
    assert list(table)[:10] == [f"d{i}.example" for i in range(29, 19, -1)]
    assert table[rd.OTHER] == sum(range(1, 21)) and sum(table.values()) == len(values)


def cjk_font_installed() -> bool:
    return len(plots.font_families()) > 1


@pytest.mark.skipif(not cjk_font_installed(), reason="no CJK font (apt-get install fonts-wqy-microhei; "
                                                     "scripts/install_system_deps.sh --browser installs it)")
def test_cjk_text_in_plots_uses_the_font_fallback():
    """A Chinese label (a page title of the Common Crawl fixtures) is drawn with the CJK font, not
    as missing glyphs; the page's CSS has the same fallback."""
    title = "亚洲精品无码免费视频"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        uri = plots.stacked_bars([title, "example.com"], [("output", plots.KEPT, [3, 2])], "documents per title")
    assert not [w for w in caught if "missing from" in str(w.message)], [str(w.message) for w in caught]
    assert plots.font_families()[1] in plots.CJK_FONTS
    with warnings.catch_warnings(record=True) as without:  # the same label without the fallback: missing glyphs
        warnings.simplefilter("always")
        with matplotlib.rc_context({"font.family": ["DejaVu Sans"]}):
            fig = matplotlib.figure.Figure()
            fig.text(0.1, 0.5, title)
            fig.savefig(io.BytesIO(), format="svg")
    assert [w for w in without if "missing from" in str(w.message)]
    assert uri.startswith("data:image/svg+xml;base64,")
    assert "WenQuanYi Micro Hei" in report_html.CSS and "Noto Sans CJK SC" in report_html.CSS


# ---------------------------------------------------------------------------- headless Chromium

class DevTools:
    """Chromium's DevTools protocol over ``--remote-debugging-pipe`` (fd 3 in, fd 4 out, messages
    ending in NUL), with the standard library only."""

    def __init__(self, chromium: str, profile: str, timeout: float = 60.0):
        self.timeout, self.events, self.next_id, self.buffer = timeout, [], 0, b""
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()

        def wire():  # in the child: the two pipe ends become fds 3 and 4
            a = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
             "--hide-scrollbars", f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=wire, pass_fds=(3, 4))
        os.close(to_child_r)
        os.close(from_child_w)

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.to_child, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self.next_id:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str) -> dict:
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._read()
            self.events.append(event)
            if event.get("method") == method:
                return event

    def _read(self) -> dict:
        while b"\0" not in self.buffer:
            ready, _, _ = select.select([self.from_child], [], [], self.timeout)
            assert ready, f"Chromium did not answer within {self.timeout} s"
            chunk = os.read(self.from_child, 1 << 20)
            assert chunk, "Chromium closed the DevTools pipe"
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def close(self):
        try:
            self.call("Browser.close")
        finally:
            self.proc.wait(timeout=30)
            os.close(self.to_child)
            os.close(self.from_child)


PAGE_FACTS = """JSON.stringify({
  height: document.documentElement.scrollHeight,
  scripts: document.scripts.length,
  sections: Array.from(document.querySelectorAll('section[id]')).map(s => s.id),
  images: Array.from(document.images).map(i => {
    const r = i.getBoundingClientRect();
    return {complete: i.complete, width: i.naturalWidth, height: i.naturalHeight,
            x: r.left + window.scrollX, y: r.top + window.scrollY, w: r.width, h: r.height};
  })
})"""


def open_in_chromium(path, width: int = 1200) -> tuple[dict, list[str], Image.Image]:
    """Load ``path`` in headless Chromium: (facts about the page, console/log errors, full-page
    screenshot)."""
    chromium = shutil.which("chromium")
    with tempfile.TemporaryDirectory() as profile:
        browser = DevTools(chromium, profile)
        try:
            target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                browser.call(f"{domain}.enable", session=session)
            browser.call("Emulation.setDeviceMetricsOverride",
                         {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session)
            browser.call("Page.navigate", {"url": path.as_uri()}, session)
            browser.wait_for("Page.loadEventFired")
            facts = json.loads(browser.call("Runtime.evaluate", {"expression": PAGE_FACTS, "returnByValue": True},
                                            session)["result"]["value"])
            shot = browser.call("Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": facts["height"], "scale": 1}}, session)
        finally:
            browser.close()
    errors = []
    for event in browser.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            errors.append("Uncaught " + json.dumps(params.get("exceptionDetails", {}))[:500])
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append("console: " + json.dumps(params.get("args", []))[:500])
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            errors.append("log: " + params["entry"].get("text", ""))
        elif method == "Network.requestWillBeSent":
            url = params.get("request", {}).get("url", "")
            if not url.startswith(("data:", "file:", "about:")):
                errors.append(f"external request: {url}")
    return facts, errors, Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB")


def has_content(image: Image.Image) -> bool:
    """Not blank: the pixels vary, and a fair share of them is not background."""
    gray = image.convert("L")
    stat = ImageStat.Stat(gray)
    inked = sum(n for level, n in enumerate(gray.histogram()) if level < 200)
    return stat.stddev[0] > 8 and inked > 0.01 * gray.width * gray.height


MIN_MARK_PIXELS = 100  # a chart's bars cover more; a chart without any shows a few stray antialiased pixels


def mark_pixels(image: Image.Image, colors=plots.MARK_COLORS, tolerance: int = 12) -> int:
    """Pixels of a rendered chart in the colours of its data marks (bars): axes, text, grid and
    threshold lines are drawn in other colours, so a chart without bars has almost none."""
    wanted = [tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in colors]
    counts = image.getcolors(maxcolors=image.width * image.height) or []
    return sum(n for n, px in counts if any(all(abs(a - b) <= tolerance for a, b in zip(px, w)) for w in wanted))


chromium_missing = pytest.mark.skipif(shutil.which("chromium") is None,
                                      reason="Debian's chromium is not installed (apt-get install chromium); "
                                             "CI installs it")


@chromium_missing
def test_chromium_harness_sees_errors_and_blank_images(tmp_path):
    """The checks below can fail: a page with a script error, a console error and a broken image."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><body><p>x</p><img src="missing.png" width="50" height="50">'
                   '<script>console.error("broken"); undefinedFunction();</script></body></html>')
    facts, errors, shot = open_in_chromium(bad)
    assert any("Uncaught" in e for e in errors) and any("console" in e for e in errors)
    assert any("log:" in e for e in errors)  # the image that failed to load
    assert facts["scripts"] == 1 and facts["images"][0]["width"] == 0
    assert not has_content(shot)
    empty = tmp_path / "empty-chart.html"  # a chart with axes and a threshold line but no bars
    uri = plots.histogram_plot(rd.Bars([0.0, 0.5], [0.5, 1.0], [0, 0], False), "score", [rd.Threshold("t", 0.5)])
    empty.write_text(f'<!DOCTYPE html><html><body><img src="{uri}" width="1000"></body></html>')
    facts, errors, shot = open_in_chromium(empty)
    img = facts["images"][0]
    crop = shot.crop((round(img["x"]), round(img["y"]), round(img["x"] + img["w"]), round(img["y"] + img["h"])))
    assert errors == [] and has_content(crop) and mark_pixels(crop) < MIN_MARK_PIXELS / 10


@pytest.mark.slow
@chromium_missing
def test_report_loads_in_chromium_without_errors_and_plots_have_content(out, run, tmp_path):
    """The page in headless Chromium: no error, every section, and in the full-page screenshot
    (kept as report.png beside the page) every chart with drawn marks, not just axes."""
    facts, errors, shot = open_in_chromium(out / "report.html")
    shot.save(out / "report.png")
    assert errors == []
    assert facts["scripts"] == 0
    ids = set(facts["sections"])
    assert {"overview", "mixture"} <= ids
    for source in run["sources"]:
        assert set(report_html.source_section_ids(source, run)) <= ids
    assert len(facts["images"]) >= 10
    assert has_content(shot)
    for img in facts["images"]:
        assert img["complete"] and img["width"] > 300 and img["height"] > 50, img
        box = (round(img["x"]), round(img["y"]), round(img["x"] + img["w"]), round(img["y"] + img["h"]))
        crop = shot.crop(box)
        assert box[2] - box[0] > 300 and has_content(crop), img
        assert mark_pixels(crop) > MIN_MARK_PIXELS, img  # bars drawn: not an empty chart


@pytest.mark.slow
def test_line_dedup_per_dump_table_equals_its_report(page, run):
    """stats/line_dedup.json in run.json's step reports, shown per dump and scope."""
    rep = run["step_reports"]["line_dedup"]
    assert rep["source"] == "commoncrawl" and rep["scope"] == "run" and rep["scopes"] == ["run", "dump", "files:1"]
    line = next(step for step in run["sources"]["commoncrawl"]["steps"] if step["step"] == "line_dedup")
    assert rep["total"]["lines_in"] == line["counters"]["lines_in"]
    assert rep["total"]["lines_removed"] == rep["total"]["removed_by_scope"]["run"] == line["counters"]["lines_removed"]
    rows = table_rows(page, "line_dedup-by-dump-table", "data-dump")
    assert set(rows) == {*rep["dumps"], "all dumps"} and "CC-MAIN-2020-34" in rows
    for dump, entry in [*rep["dumps"].items(), ("all dumps", rep["total"])]:
        cells = rows[dump]
        assert [value(c) for c in cells[1:4]] == [entry["files"], entry["documents"], entry["lines_in"]]
        assert [value(c) for c in cells[4::2]] == [entry["removed_by_scope"][s] for s in rep["scopes"]]
