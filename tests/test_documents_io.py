"""Documents on disk: the typed ``meta`` struct (each source's declared fields, ``extra`` for the
rest), the rule for values that do not fit their declared type, reading back (one machine and
Beam's ReadDocuments), registered domains and SPDX licence ids. The end-to-end checks on a real
run (the dataset card, ``datasets.load_dataset``, the JSONL export) are in test_report.py."""
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.util import assert_that, equal_to

from helpers import FIXTURES, test_pipeline
from test_report import RECIPE_SOURCES
from llamacorpus import fileio, parquet, urls
from llamacorpus import sources as source_registry
from llamacorpus.document import SOURCES, pack, unpack
from llamacorpus.licenses import spdx_of
from llamacorpus.pipeline import io as pio


def write_part(tmp_path, source: str, docs: list[dict]) -> str:
    """The documents as one part file of ``<tmp>/documents/<source>`` with the source's schema."""
    fields = source_registry.get(source).meta_fields
    directory = tmp_path / "documents" / source
    directory.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist([parquet.to_row(d, fields) for d in docs], schema=parquet.schema(fields))
    pq.write_table(table, directory / "part-00000-of-00001.parquet")
    return str(tmp_path)


def fixture_documents(name: str) -> list[dict]:
    """Every document the source's reader makes from its fixtures (drops and errors left out)."""
    source = source_registry.get(name)
    cfg = source.Config()
    docs = []
    for path in fileio.expand_inputs(RECIPE_SOURCES[name]["inputs"], str(FIXTURES)):
        docs += [d for d in source.read(cfg, path) if isinstance(d, dict)]
    return docs


def without_declared_none(doc: dict, fields) -> dict:
    """What reading back promises: a declared field that was None is null, read back as absent."""
    return {**doc, "meta": {k: v for k, v in doc["meta"].items() if not (k in fields and v is None)}}


@pytest.mark.parametrize("name", SOURCES)
def test_every_source_round_trips_its_fixture_documents(name, tmp_path):
    docs = fixture_documents(name)
    assert docs, f"{name}: no fixture documents"
    fields = source_registry.get(name).meta_fields
    out = write_part(tmp_path, name, docs)
    back = list(parquet.read_documents(out, name))
    assert back == [without_declared_none(d, fields) for d in docs]
    # the declared fields are typed columns (filterable without json.loads)
    meta_type = pq.read_schema(next((tmp_path / "documents" / name).glob("*.parquet"))).field("meta").type
    assert [f.name for f in meta_type] == [*fields, parquet.EXTRA]
    for f in meta_type:
        assert f.type == (pa.string() if f.name == parquet.EXTRA else parquet.ARROW_TYPES[fields[f.name]])


@pytest.mark.parametrize("name", SOURCES)
def test_packed_documents_unpack_equal_and_are_smaller_than_beams_own_coder(name):
    """What the global steps put through their shuffles (url, line and exact dedup)."""
    from apache_beam.coders import coders

    docs = fixture_documents(name)
    blobs = [pack(d) for d in docs]
    assert [unpack(b) for b in blobs] == docs
    coder = coders.FastPrimitivesCoder()
    packed, plain = sum(map(len, map(coder.encode, blobs))), sum(map(len, map(coder.encode, docs)))
    assert packed < 0.8 * plain, (name, packed, plain)


def test_values_that_do_not_fit_their_type_go_to_extra_and_read_back(tmp_path):
    """The rule of parquet.to_row, on a real Stack Exchange thread given wrong-typed values."""
    doc = next(d for d in fixture_documents("stackexchange") if d["meta"].get("title"))
    meta = {**doc["meta"],
            "score": "12",  # declared int, given a string
            "question_id": True,  # a bool is not an int
            "site_rank": 2**70,  # beyond int64
            "title": "lone \ud800 surrogate",  # not writable as UTF-8
            "tags": ["ok", 3],  # a list of str with an int in it
            "accepted_answer_id": None,  # declared, None: null
            "undeclared": None, "nested": {"a": [1, {"b": "c"}]}, "extra": "a field named like the column"}
    odd = {**doc, "meta": meta}
    fields = source_registry.get("stackexchange").meta_fields
    row = parquet.to_row(odd, fields)
    extra = json.loads(row["meta"]["extra"])
    undeclared = {k for k in doc["meta"] if k not in fields}  # a post's post_id and post_type
    assert set(extra) == {"score", "question_id", "site_rank", "title", "tags", "undeclared", "nested", "extra",
                          *undeclared}
    assert "score" not in row["meta"] and row["meta"]["site"] == doc["meta"]["site"]
    assert "\\ud800" in row["meta"]["extra"]  # ASCII-escaped JSON: UTF-8 safe, the same string back
    out = write_part(tmp_path, "stackexchange", [odd])
    (back,) = parquet.read_documents(out, "stackexchange")
    assert back["meta"] == {k: v for k, v in meta.items() if k != "accepted_answer_id"}
    assert back["meta"]["title"] == "lone \ud800 surrogate" and back["meta"]["site_rank"] == 2**70


def test_ints_fit_floats_and_older_json_meta_reads_back():
    row = parquet.to_row({"id": "commoncrawl/x", "text": "t", "source": "commoncrawl",
                          "meta": {"language_score": 1, "nlines": 3}}, source_registry.get("commoncrawl").meta_fields)
    assert row["meta"]["language_score"] == 1.0 and isinstance(row["meta"]["language_score"], float)
    assert row["meta"]["extra"] is None
    old = {"id": "c4/a/1", "text": "t", "source": "c4", "meta": '{"url": "https://a.example/", "timestamp": "t"}'}
    assert parquet.from_row(old)["meta"] == {"url": "https://a.example/", "timestamp": "t"}
    with pytest.raises(ValueError):
        parquet.schema({"extra": str})
    with pytest.raises(TypeError):
        parquet.schema({"when": dict})


def test_read_documents_in_beam_gives_the_same_dicts(tmp_path):
    """ReadDocuments (a finished source reused by a later run, read for the mix stage) == read_documents."""
    docs = fixture_documents("wikipedia")
    out = write_part(tmp_path, "wikipedia", docs)
    expected = list(parquet.read_documents(out, "wikipedia"))
    p = test_pipeline()
    read = p | pio.ReadDocuments(out, "wikipedia")
    assert_that(read, equal_to(expected))
    p.run().wait_until_finish()


def test_registered_domain_by_the_public_suffix_list():
    assert urls.registered_domain("https://news.bbc.co.uk/a") == "bbc.co.uk"
    assert urls.registered_domain("http://www.Example.COM:8080/x") == "example.com"
    assert urls.registered_domain("https://someone.blogspot.com/") == "blogspot.com"  # ICANN section only
    assert urls.registered_domain("http://192.168.0.1/") == "192.168.0.1"
    assert urls.registered_domain("https://例子.中国/") == "例子.中国"
    assert urls.registered_domain("not a url") == ""


def test_licence_names_are_spdx_ids_in_any_spelling():
    for spelling in ("gpl-2.0", "GPL-2.0", " Gpl-2.0 "):
        assert spdx_of(spelling) == "GPL-2.0"
    assert spdx_of("bsd-3-clause") == "BSD-3-Clause" and spdx_of("apache-2.0") == "Apache-2.0"
    assert spdx_of("mit OR apache-2.0") == spdx_of("Apache-2.0 or MIT") == "Apache-2.0 OR MIT"
    assert spdx_of("gpl-3.0-or-later") == "GPL-3.0-or-later"
    assert spdx_of("Some-Custom-Licence") == "Some-Custom-Licence" and spdx_of("") is None
