"""Near-duplicate removal: MinHash LSH finds candidate pairs, each pair is verified by its measured
overlap, verified pairs are clustered, and one document per cluster is kept.

The pure parts are testable alone:

* :func:`shingle_hashes` - the sorted, unique 64-bit hashes of a text's word n-grams. Words are
  ``\\w+`` runs of the lower-cased text, so punctuation, curly vs straight quotes, line breaks and
  CRLF do not matter; only the words and their order do.
* :class:`Signer` - a MinHash signature of those hashes (datasketch, ``update_batch``) and its
  LSH band keys.
* :func:`measure_overlap` - the exact Jaccard and containment of two shingle sets.
* :func:`plan_clusters` - union-find over the pairs at or above the threshold, and the one
  document kept per cluster.

The measure that decides is the recipe's ``measure``:

* ``containment`` (default): ``|A ∩ B| / min(|A|, |B|)``, the share of the *shorter* document's
  shingles that also occur in the longer one. "More than 90% content overlap" (LLaMA, books) reads
  as "90% of a book is also in another book"; containment says exactly that, and it stays high when
  one copy carries extra front matter, a licence or an appendix, where Jaccard drops with the size
  difference alone.
* ``jaccard``: ``|A ∩ B| / |A ∪ B|``, symmetric, lower for documents of different sizes.

Both figures are measured for every candidate pair and written to the statistics. Candidates come
from MinHash LSH, which finds pairs by their Jaccard similarity: with the default 32 bands of 4
rows a pair of Jaccard 0.6 becomes a candidate with probability 0.99, of 0.5 with 0.87, of 0.3
with 0.23. A copy contained in a document more than about twice its size (Jaccard under 0.5) may
therefore go unnoticed even though its containment is 1; more bands find more such pairs at the
cost of more verification.

Kept per cluster (deterministic): the document with the most content, counted as distinct
shingles (so layout, indentation and line breaks do not count); ties go to the smallest
``stable_hash(id)``, then the id. Clusters are the connected components of the pairs at or above the
threshold, so a chain A~B~C joins A and C even when A and C were not compared.

Beam shape (:class:`NearDedup`): signatures per document in parallel (a ParDo), LSH banding as a
GroupByKey on ``(band, band hash)``, candidate pairs joined to both documents' shingle sets
(CoGroupByKey, then GroupByKey per pair), verification per pair, clustering of the small verified
pair set in one place (a global combine), and the decisions joined back onto the documents as a
side input, ending with :func:`~llamacorpus.steps.adapter.decide`.
"""
from __future__ import annotations

import dataclasses
import itertools
import re
from typing import Iterable, Iterator, Sequence

import apache_beam as beam
import numpy as np
import xxhash
from datasketch import MinHash

from llamacorpus import fileio
from llamacorpus.steps.adapter import GlobalStep, StepOutputs
from llamacorpus.config import Section
from llamacorpus.layout import Layout
from llamacorpus.document import Document, stable_hash, with_meta
from llamacorpus.steps import Drop

MEASURES = ("containment", "jaccard")
_WORD = re.compile(r"\w+")


@dataclasses.dataclass
class NearDedupConfig(Section):
    """Recipe keys of a near-duplicate step."""

    enabled: bool = True
    #: words per shingle
    shingle_words: int = 5
    #: MinHash permutations
    num_perm: int = 128
    #: LSH bands (num_perm / bands rows each); 32 x 4 makes pairs of Jaccard 0.5 candidates with
    #: probability 0.87 and of Jaccard 0.6 with 0.99
    bands: int = 32
    #: pairs whose measured overlap is >= threshold are duplicates
    threshold: float = 0.9
    #: containment (of the shorter document in the longer) or jaccard
    measure: str = "containment"
    #: MinHash permutation seed
    seed: int = 1

    def check(self):
        self.require(1 <= self.shingle_words <= 64, "shingle_words", "must be in [1, 64]")
        self.require(self.num_perm >= 1, "num_perm", "must be >= 1")
        self.require(self.bands >= 1 and self.num_perm % self.bands == 0, "bands",
                     f"must divide num_perm ({self.num_perm}), got {self.bands}")
        self.require(0 < self.threshold <= 1, "threshold", f"must be in (0, 1], got {self.threshold}")
        self.require(self.measure in MEASURES, "measure", f"must be one of {list(MEASURES)}, got {self.measure!r}")


# ---------------------------------------------------------------------------- pure parts

def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _odd_constants(count: int, seed: int = 0x5EED) -> np.ndarray:
    """``count`` fixed odd 64-bit multipliers (splitmix64), one per position in a shingle."""
    out, x, mask = [], seed, (1 << 64) - 1
    for _ in range(count):
        x = (x + 0x9E3779B97F4A7C15) & mask
        z = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        out.append((z ^ (z >> 31)) | 1)
    return np.array(out, dtype=np.uint64)


_POSITION = _odd_constants(64)


def shingle_hashes(text: str, n: int) -> np.ndarray:
    """Sorted unique uint64 hashes of the word n-grams; a text shorter than n words is one
    shingle, an empty one none. A shingle's hash is ``sum(xxh3(word_k) * c_k) mod 2**64`` over its
    positions k, with fixed odd constants c_k: each word is hashed once, the n-grams are combined
    with numpy (MinHash mixes the values again, datasketch's affine64 scheme)."""
    ws = words(text)
    if not ws:
        return np.empty(0, dtype=np.uint64)
    if n > len(_POSITION):
        raise ValueError(f"shingles of at most {len(_POSITION)} words")
    word_hashes = np.array([xxhash.xxh3_64_intdigest(w.encode("utf-8")) for w in ws], dtype=np.uint64)
    n = min(n, len(ws))
    m = len(ws) - n + 1
    acc = word_hashes[:m] * _POSITION[0]
    for k in range(1, n):
        acc += word_hashes[k:k + m] * _POSITION[k]
    return np.unique(acc)


def _identity(value):
    return value


class Signer:
    """MinHash signatures of shingle hashes and their LSH band keys. The permutations are drawn
    once (from ``seed``) and shared by every signature."""

    def __init__(self, num_perm: int = 128, bands: int = 32, seed: int = 1):
        self.num_perm, self.bands, self.rows = num_perm, bands, num_perm // bands
        self._empty = MinHash(num_perm=num_perm, seed=seed, hashfunc=_identity, scheme="affine64")

    def signature(self, hashes: np.ndarray) -> np.ndarray:
        m = self._empty.copy()
        if len(hashes):
            m.update_batch(hashes.tolist())
        return m.hashvalues

    def band_keys(self, signature: np.ndarray) -> list[tuple[int, int]]:
        """``(band, hash of the band's rows)`` for each band."""
        return [(b, xxhash.xxh3_64_intdigest(signature[b * self.rows:(b + 1) * self.rows].tobytes()))
                for b in range(self.bands)]


def measure_overlap(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Exact overlap of two sorted unique shingle-hash arrays."""
    if not len(a) or not len(b):
        return {"intersection": 0, "jaccard": 0.0, "containment": 0.0}
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return {"intersection": inter, "jaccard": inter / (len(a) + len(b) - inter),
            "containment": inter / min(len(a), len(b))}


def candidate_pairs(ids: Iterable[str]) -> Iterator[tuple[str, str]]:
    """Every pair of distinct ids of one LSH bucket, each as (smaller, larger)."""
    return itertools.combinations(sorted(set(ids)), 2)


def representative_key(doc_id: str, shingles: int) -> tuple:
    """Sort key of the document a cluster keeps: most shingles first, then smallest stable_hash(id)."""
    return (-shingles, stable_hash(doc_id), doc_id)


def plan_clusters(pairs: Sequence[dict], threshold: float, measure: str) -> dict:
    """Cluster the pairs at or above ``threshold`` (union-find) and choose each cluster's keeper.

    ``pairs`` are verified pair records ``{"a", "b", "shingles_a", "shingles_b", "jaccard",
    "containment"}``. Returns ``{"clusters": [...], "dropped": {id: {"representative", "overlap",
    "via"}}}``; ``overlap`` is the measured overlap with the representative when that pair was a
    candidate, else the largest overlap of the document's duplicate pairs (``via`` names the other
    document of that pair).
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    size: dict[str, int] = {}
    best: dict[str, dict[str, float]] = {}  # id -> {other id: overlap} over duplicate pairs
    for p in pairs:
        if p[measure] < threshold:
            continue
        size[p["a"]], size[p["b"]] = p["shingles_a"], p["shingles_b"]
        best.setdefault(p["a"], {})[p["b"]] = p[measure]
        best.setdefault(p["b"], {})[p["a"]] = p[measure]
        ra, rb = find(p["a"]), find(p["b"])
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    members: dict[str, list[str]] = {}
    for doc_id in size:
        members.setdefault(find(doc_id), []).append(doc_id)
    clusters, dropped = [], {}
    for group in members.values():
        ordered = sorted(group, key=lambda d: representative_key(d, size[d]))
        keeper = ordered[0]
        clusters.append({"representative": keeper, "members": ordered})
        for doc_id in group:
            if doc_id == keeper:
                continue
            overlaps = best[doc_id]
            via = keeper if keeper in overlaps else max(overlaps, key=lambda o: (overlaps[o], o))
            dropped[doc_id] = {"representative": keeper, "overlap": overlaps[via], "via": via}
    clusters.sort(key=lambda c: c["representative"])
    return {"clusters": clusters, "dropped": dropped}


def decision(doc: Document, dropped: dict, measure: str, reason: str):
    """The verdict for one document: itself (kept) or a Drop whose meta names the representative."""
    info = dropped.get(doc["id"])
    if info is None:
        return doc, doc
    scored = with_meta(doc, near_duplicate_of=info["representative"], near_duplicate_overlap=round(info["overlap"], 6),
                       near_duplicate_via=info["via"], near_duplicate_measure=measure)
    return doc, Drop(reason, scored)


def stats_name(source: str) -> str:
    """The step report's name under ``stats/`` (:meth:`llamacorpus.layout.Layout.stats`)."""
    return f"near_duplicates_{source}"


def stats_path(output: str, source: str) -> str:
    return Layout(output).stats(stats_name(source))


# ---------------------------------------------------------------------------- Beam composite

class _Shingle(beam.DoFn):
    """doc -> (id, shingle hashes) and, tagged "bands", ((band, hash), id)."""

    def __init__(self, cfg: NearDedupConfig):
        self.cfg = cfg

    def setup(self):
        self.signer = Signer(self.cfg.num_perm, self.cfg.bands, self.cfg.seed)

    def process(self, doc: Document):
        hashes = shingle_hashes(doc["text"], self.cfg.shingle_words)
        yield doc["id"], hashes
        if len(hashes):
            for key in self.signer.band_keys(self.signer.signature(hashes)):
                yield beam.pvalue.TaggedOutput("bands", (key, doc["id"]))


def _pair_ends(pair):
    yield pair[0], pair
    yield pair[1], pair


def _attach_shingles(element):
    doc_id, grouped = element
    for shingles in grouped["shingles"]:
        for pair in grouped["pairs"]:
            yield pair, (doc_id, shingles)


def _verify(element) -> dict:
    (a, b), ends = element
    sides = dict(ends)
    sa, sb = sides[a], sides[b]
    return {"a": a, "b": b, "shingles_a": int(len(sa)),
            "shingles_b": int(len(sb)), **measure_overlap(sa, sb)}


class NearDedup(GlobalStep):
    """Drop near-duplicates (see the module docstring); writes the measured overlaps of every
    candidate pair and the clusters to ``<output>/stats/near_duplicates_<source>.json``."""

    name = "near_dedup"

    def __init__(self, source: str, cfg: NearDedupConfig, output: str, reason: str = "near_duplicate",
                 name: str | None = None):
        super().__init__(source, name)
        self.cfg, self.output, self.reason = cfg, output, reason

    def expand(self, docs):
        cfg, measure = self.cfg, self.cfg.measure
        feats = docs | "Shingle" >> beam.ParDo(_Shingle(cfg)).with_outputs("bands", main="shingles")
        candidates = (feats.bands
                      | "Buckets" >> beam.GroupByKey()
                      | "Pairs" >> beam.FlatMap(lambda kv: candidate_pairs(kv[1]))
                      | "DistinctPairs" >> beam.Distinct())
        verified = ({"pairs": candidates | "PairEnds" >> beam.FlatMap(_pair_ends), "shingles": feats.shingles}
                    | "JoinShingles" >> beam.CoGroupByKey()
                    | "AttachShingles" >> beam.FlatMap(_attach_shingles)
                    | "BothEnds" >> beam.GroupByKey()
                    | "Verify" >> beam.Map(_verify))
        plan = verified | "AllPairs" >> beam.combiners.ToList() | "Cluster" >> beam.Map(self._plan)
        plan | "WriteStats" >> beam.Map(self._write_stats)
        verdicts = docs | "Verdicts" >> beam.Map(
            lambda doc, p: decision(doc, p["dropped"], measure, self.reason), beam.pvalue.AsSingleton(plan))
        out = self.decide(verdicts)
        overlaps = verified | "Overlaps" >> beam.Map(
            lambda p, key=f"{self.source}/{self.name}/{measure}": (key, p[measure]))
        measures = (out.measures, overlaps) | "Measures" >> beam.Flatten()
        return StepOutputs(out.documents, out.rejected, out.errors, measures)

    def _plan(self, pairs: list[dict]) -> dict:
        self.counters().inc("candidate_pairs", len(pairs))
        pairs = sorted(pairs, key=lambda p: (p["a"], p["b"]))
        plan = plan_clusters(pairs, self.cfg.threshold, self.cfg.measure)
        plan["pairs"] = [{**p, "duplicate": p[self.cfg.measure] >= self.cfg.threshold} for p in pairs]
        return plan

    def _write_stats(self, plan: dict) -> None:
        report = {"source": self.source, "step": self.name, **dataclasses.asdict(self.cfg),
                  "candidate_pairs": plan["pairs"], "clusters": plan["clusters"],
                  "dropped": dict(sorted(plan["dropped"].items()))}
        fileio.write_json(stats_path(self.output, self.source), report)
