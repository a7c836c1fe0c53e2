"""The step contract and the generic Beam adapter: outcomes, counters, dead letters, no mutation."""
import copy
import gzip
import json

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from helpers import FIXTURES, test_pipeline
from llamacorpus.steps.adapter import ApplySteps
from llamacorpus.document import make_document, validate
from llamacorpus.pipeline.stats import query_counters, step_stats
from llamacorpus.steps import Drop, Filter, Mapper, run_steps


def real_docs(n=40):
    with gzip.open(FIXTURES / "c4" / "c4-en-train.00000-of-01024.first1000.json.gz", "rt") as f:
        records = [json.loads(next(f)) for _ in range(n)]
    return [make_document("c4", f"t/{i}", r["text"], url=r["url"]) for i, r in enumerate(records)]


class WordCount(Filter):
    name = "words"

    def score(self, doc):
        return {"words": len(doc["text"].split())}

    def keep(self, doc):
        return (True, None) if doc["meta"]["words"] >= 100 else (False, "few_words")


class Upper(Mapper):
    name = "upper"

    def map(self, doc):
        if "BBQ" in doc["text"]:
            raise ValueError("no barbecue")
        if doc["text"].startswith("Discussion"):
            return Drop("discussion")
        return {**doc, "text": doc["text"].upper()}


def test_run_steps_counts_every_outcome_without_mutating_input():
    docs = real_docs()
    before = copy.deepcopy(docs)
    report = run_steps([WordCount(), Upper()], docs, source="c4")
    assert docs == before
    words = report.counts["words"]
    assert words["in"] == 40 == words["kept"] + words["dropped:few_words"]
    upper = report.counts["upper"]
    assert upper["in"] == words["kept"] == upper["kept"] + upper["dropped:discussion"] + upper["error:valueerror"]
    assert upper["error:valueerror"] == sum("BBQ" in d["text"] for d in docs if len(d["text"].split()) >= 100)
    assert all(d["text"].isupper() or not any(c.isalpha() for c in d["text"]) for d in report.kept)
    assert all(d["meta"]["words"] >= 100 for d in report.kept)
    for d in report.kept:
        validate(d)
    assert {s for s, _, _ in report.measures} == {"words"}


def test_adapter_counts_and_routes_like_run_steps():
    docs = real_docs()
    expected = run_steps([WordCount(), Upper()], docs, source="c4")
    p = test_pipeline()
    out = p | beam.Create(docs) | ApplySteps("c4", [WordCount(), Upper()], batch_size=7)
    assert_that(out.documents | "ids" >> beam.Map(lambda d: d["id"]), equal_to([d["id"] for d in expected.kept]))
    assert_that(out.errors | "kinds" >> beam.Map(lambda e: (e["kind"], e["step"], e["doc_id"] != "")),
                equal_to([("valueerror", "upper", True)] * len(expected.errors)), label="errors")
    assert_that(out.rejected | "reasons" >> beam.Map(lambda r: r[0]),
                equal_to([("c4", d.reason) for _, d in expected.dropped]), label="rejected")
    result = p.run()
    result.wait_until_finish()
    counters = query_counters(result)
    for step in ("words", "upper"):
        stats = step_stats(counters, "c4", step)
        assert stats["balanced"]
        assert stats["in"] == expected.counts[step]["in"]
        assert stats["kept"] == expected.counts[step]["kept"]
    assert step_stats(counters, "c4", "upper")["chars_out"] == sum(len(d["text"]) for d in expected.kept)
