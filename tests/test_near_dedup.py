"""Near-duplicate pieces alone (shingles, signatures, overlap, the pairwise decision, components)
and the NearDedup global step as a reusable transform on another source's documents."""
import itertools
import json

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.util import assert_that, equal_to

from helpers import FIXTURES, test_pipeline
from llamacorpus.document import make_document, stable_hash
from llamacorpus.steps.dedup.near import (NearDedup, NearDedupConfig, Signer, _Components, component_labels,
                                            measure_overlap, node_key, plan_clusters, shingle_hashes, stats_path)
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
    assert len(keys_a) == 32 and len(set(keys_a)) == 32 and all(0 <= k < 2**63 for k in keys_a)
    assert sum(x == y for x, y in zip(keys_a, keys_b)) >= 1  # a likely candidate at this Jaccard


def test_overlap_measures():
    a = np.array([1, 2, 3, 4], dtype=np.uint64)
    b = np.array([3, 4, 5, 6, 7, 8, 9, 10], dtype=np.uint64)
    assert measure_overlap(a, b) == {"intersection": 2, "jaccard": 0.2, "containment": 0.5}
    assert measure_overlap(a, np.array([1, 2, 3, 4, 5, 6, 7, 8], dtype=np.uint64))["containment"] == 1.0
    assert measure_overlap(a, np.empty(0, dtype=np.uint64))["containment"] == 0.0


def _pair(a, b, overlap, size_a=100, size_b=100):
    return {"a": a, "b": b, "shingles_a": size_a, "shingles_b": size_b, "containment": overlap, "jaccard": overlap}


def test_removal_is_pairwise_never_through_a_chain():
    """c (most shingles) is kept; b is removed by c; a is linked only to b, which is removed, so a
    stays, although union-find would have put a, b and c in one cluster."""
    plan = plan_clusters([_pair("a", "b", 0.92, 50, 60), _pair("b", "c", 0.93, 60, 70)], 0.9, "containment")
    assert plan["dropped"] == {"b": {"duplicate_of": "c", "overlap": 0.93, "containment": 0.93, "jaccard": 0.93}}
    assert plan["components"] == [{"members": ["c", "b", "a"], "kept": ["c", "a"]}]
    assert plan["clusters"] == [{"representative": "a", "members": ["a"]},
                                {"representative": "c", "members": ["c", "b"]}]


def test_a_removed_document_names_the_kept_one_it_overlaps_most():
    pairs = [_pair("x", "y", 0.95, 100, 120), _pair("y", "z", 0.91, 120, 90), _pair("x", "z", 0.97, 100, 90),
             _pair("z", "w", 0.5, 90, 300)]
    plan = plan_clusters(pairs, 0.9, "containment")
    assert plan["components"] == [{"members": ["y", "x", "z"], "kept": ["y"]}]  # w: no duplicate pair
    assert {d: i["duplicate_of"] for d, i in plan["dropped"].items()} == {"x": "y", "z": "y"}
    assert plan["dropped"]["z"]["overlap"] == 0.91  # with y (kept), not the 0.97 with x (removed)


def test_threshold_is_strictly_above():
    """The paper's "more than 90%": an overlap of exactly 0.9 is not a duplicate."""
    assert plan_clusters([_pair("p", "q", 0.9)], 0.9, "containment")["dropped"] == {}
    assert set(plan_clusters([_pair("p", "q", 0.9000001)], 0.9, "containment")["dropped"]) < {"p", "q"}


def test_ties_go_to_the_smaller_stable_hash():
    plan = plan_clusters([_pair("p", "q", 1.0)], 0.9, "jaccard")
    keeper = min(["p", "q"], key=stable_hash)
    assert plan["components"][0]["kept"] == [keeper]


def test_decisions_do_not_depend_on_the_order_pairs_arrive_in():
    pairs = [_pair("a", "b", 0.92, 50, 60), _pair("b", "c", 0.93, 60, 70), _pair("d", "e", 0.99, 10, 10),
             _pair("c", "f", 0.95, 70, 70), _pair("a", "f", 0.2, 50, 70)]
    first = plan_clusters(pairs, 0.9, "containment")
    assert len(first["components"]) == 2
    for order in itertools.permutations(pairs):
        assert plan_clusters(list(order), 0.9, "containment") == first


def test_the_components_combiner_merges_partial_accumulators():
    """The global combine packs node keys into arrays; merged partial accumulators give the same
    components as one pass (Beam merges them across bundles and workers)."""
    edges = [(node_key(f"d{i}"), node_key(f"d{i + 1}")) for i in range(0, 30, 3)] + [(node_key("d1"), node_key("d4"))]
    fn = _Components()
    fn.PACK = 2  # pack every second pair, so both packed and pending pairs are merged
    parts = []
    for chunk in (edges[:4], edges[4:7], edges[7:]):
        acc = fn.create_accumulator()
        for e in chunk:
            acc = fn.add_input(acc, e)
        parts.append(acc)
    nodes, labels = fn.extract_output(fn.merge_accumulators(parts))
    expected_nodes, expected_labels = component_labels(np.array(edges, dtype=np.int64))
    assert nodes.tolist() == expected_nodes.tolist() and labels.tolist() == expected_labels.tolist()
    label = dict(zip(nodes.tolist(), labels.tolist()))
    assert label[node_key("d0")] == label[node_key("d4")] != label[node_key("d6")]
    assert len(set(labels.tolist())) == 9  # 10 separate pairs, two of them joined by d1-d4
    empty = fn.extract_output(fn.create_accumulator())
    assert len(empty[0]) == 0 and len(empty[1]) == 0


def test_near_dedup_is_a_reusable_global_step(tmp_path):
    """On C4 documents, with two planted near-copies: counted like any step, stats written."""
    docs = list(C4.read(C4Config(), str(FIXTURES / "c4" / "c4-en-train.00000-of-01024.first1000.json.gz")))[:200]
    long_doc = max(docs, key=lambda d: len(d["text"]))
    copy = make_document("c4", "copy/1", long_doc["text"].replace("\n", " ") + " Share this article.")
    docs.append(copy)
    cfg = NearDedupConfig()
    p = test_pipeline()
    out = p | beam.Create(docs) | NearDedup("c4", cfg, str(tmp_path))
    # the copy has one sentence more, so more shingles: it is decided first and kept, the original goes
    assert len(shingle_hashes(copy["text"], 5)) > len(shingle_hashes(long_doc["text"], 5))
    assert_that(out.documents | beam.Map(lambda d: d["id"]), equal_to([d["id"] for d in docs if d is not long_doc]))
    p.run().wait_until_finish()
    stats = json.loads(open(stats_path(str(tmp_path), "c4")).read())
    duplicates = [pair for pair in stats["candidate_pairs"] if pair["duplicate"]]
    assert [(d["a"], d["b"]) for d in duplicates] == [tuple(sorted([long_doc["id"], copy["id"]]))]
    assert duplicates[0]["containment"] == 1.0
