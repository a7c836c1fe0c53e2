"""Near-duplicate pieces alone (shingles, signatures, overlap, clustering) and the NearDedup global
step as a reusable transform on another source's documents."""
import json

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.util import assert_that, equal_to

from helpers import FIXTURES, test_pipeline
from llamacorpus.document import make_document, stable_hash
from llamacorpus.steps.dedup.near import (NearDedup, NearDedupConfig, Signer, measure_overlap, plan_clusters,
                                            shingle_hashes, stats_path)
from llamacorpus.sources.c4 import SOURCE as C4, C4Config

ALICE = (FIXTURES / "books" / "11-0_alice_current.txt").read_text(encoding="utf-8")


def test_shingles_ignore_case_punctuation_quotes_and_line_breaks():
    curly = "Alice’s sister said: “Wake up,\r\nAlice dear!”"
    straight = "alice's SISTER said 'wake up, alice dear!'"
    assert np.array_equal(shingle_hashes(curly, 3), shingle_hashes(straight, 3))
    assert len(shingle_hashes("one two", 5)) == 1  # shorter than n words: one shingle
    assert len(shingle_hashes(" \n ;; ", 5)) == 0
    hashes = shingle_hashes(ALICE, 5)
    assert hashes.dtype == np.uint64 and np.all(np.diff(hashes.astype(np.float64)) > 0)  # sorted, unique


def test_minhash_estimates_the_measured_jaccard():
    signer = Signer(num_perm=128, bands=32, seed=1)
    paragraphs = ALICE.split("\n\n")
    a = shingle_hashes("\n\n".join(paragraphs[:600]), 5)
    b = shingle_hashes("\n\n".join(paragraphs[200:800]), 5)
    exact = measure_overlap(a, b)["jaccard"]
    sa, sb = signer.signature(a), signer.signature(b)
    estimate = float(np.mean(sa == sb))
    assert 0.3 < exact < 0.7
    assert estimate == pytest.approx(exact, abs=0.12)  # 3 standard deviations at 128 permutations
    assert np.array_equal(sa, Signer(128, 32, 1).signature(a))  # same seed, same signature
    keys_a, keys_b = signer.band_keys(sa), signer.band_keys(sb)
    assert len(keys_a) == 32 and [k[0] for k in keys_a] == list(range(32))
    assert sum(x == y for x, y in zip(keys_a, keys_b)) >= 1  # a likely candidate at this Jaccard


def test_overlap_measures():
    a = np.array([1, 2, 3, 4], dtype=np.uint64)
    b = np.array([3, 4, 5, 6, 7, 8, 9, 10], dtype=np.uint64)
    assert measure_overlap(a, b) == {"intersection": 2, "jaccard": 0.2, "containment": 0.5}
    assert measure_overlap(a, np.array([1, 2, 3, 4, 5, 6, 7, 8], dtype=np.uint64))["containment"] == 1.0
    assert measure_overlap(a, np.empty(0, dtype=np.uint64))["containment"] == 0.0


def _pair(a, b, overlap, size_a=100, size_b=100):
    return {"a": a, "b": b, "shingles_a": size_a, "shingles_b": size_b, "containment": overlap, "jaccard": overlap}


def test_clusters_are_transitive_and_keep_the_largest():
    pairs = [_pair("x", "y", 0.95, 100, 120), _pair("y", "z", 0.91, 120, 90), _pair("z", "w", 0.5, 90, 300)]
    plan = plan_clusters(pairs, 0.9, "containment")
    assert plan["clusters"] == [{"representative": "y", "members": ["y", "x", "z"]}]
    assert plan["dropped"] == {"x": {"representative": "y", "overlap": 0.95, "via": "y"},
                               "z": {"representative": "y", "overlap": 0.91, "via": "y"}}
    chain = plan_clusters([_pair("a", "b", 0.92, 50, 60), _pair("b", "c", 0.93, 60, 70)], 0.9, "containment")
    assert chain["dropped"]["a"] == {"representative": "c", "overlap": 0.92, "via": "b"}  # a~c never measured


def test_ties_go_to_the_smaller_stable_hash():
    plan = plan_clusters([_pair("p", "q", 1.0)], 0.9, "jaccard")
    keeper = min(["p", "q"], key=stable_hash)
    assert plan["clusters"][0]["representative"] == keeper


def test_near_dedup_is_a_reusable_global_step(tmp_path):
    """On C4 documents, with two planted near-copies: counted like any step, stats written."""
    docs = list(C4.read(C4Config(), str(FIXTURES / "c4" / "c4-en-train.00000-of-01024.first1000.json.gz")))[:200]
    long_doc = max(docs, key=lambda d: len(d["text"]))
    copy = make_document("c4", "copy/1", long_doc["text"].replace("\n", " ") + " Share this article.")
    docs.append(copy)
    cfg = NearDedupConfig()
    p = test_pipeline()
    out = p | beam.Create(docs) | NearDedup("c4", cfg, str(tmp_path))
    # the copy has one sentence more, so more shingles: the cluster keeps it and drops the original
    assert len(shingle_hashes(copy["text"], 5)) > len(shingle_hashes(long_doc["text"], 5))
    assert_that(out.documents | beam.Map(lambda d: d["id"]), equal_to([d["id"] for d in docs if d is not long_doc]))
    p.run().wait_until_finish()
    stats = json.loads(open(stats_path(str(tmp_path), "c4")).read())
    duplicates = [pair for pair in stats["candidate_pairs"] if pair["duplicate"]]
    assert [(d["a"], d["b"]) for d in duplicates] == [tuple(sorted([long_doc["id"], copy["id"]]))]
    assert duplicates[0]["containment"] == 1.0
