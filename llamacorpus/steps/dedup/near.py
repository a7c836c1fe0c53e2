"""Near-duplicate removal: MinHash LSH finds candidate pairs, each pair is verified by its measured
overlap, and a document is removed only when its own measured overlap with a document that is
kept is above the threshold: pairwise, never through a chain.

The pure parts are testable alone:

* :func:`shingle_hashes` - the sorted, unique 64-bit hashes of a text's word n-grams. Words are
  ``\\w+`` runs of the lower-cased text, so punctuation, curly vs straight quotes, line breaks and
  CRLF do not matter; only the words and their order do.
* :class:`Signer` - a MinHash signature of those hashes (datasketch, ``update_batch``) and its
  LSH band keys.
* :func:`measure_overlap` - the exact Jaccard and containment of two shingle sets.
* :func:`component_labels` - connected components of the duplicate pairs (scipy).
* :func:`decide_component` - which documents of one component are kept, and for each one removed,
  the kept document and the measured figure that removed it.
* :func:`plan_clusters` - the two above over any set of verified pairs (what the Beam step does).

The measure that decides is the recipe's ``measure``:

* ``containment`` (default): ``|A ∩ B| / min(|A|, |B|)``, the share of the *shorter* document's
  shingles that also occur in the longer one. "More than 90% content overlap" (LLaMA, books) reads
  as "90% of a book is also in another book"; containment says exactly that, and it stays high when
  one copy carries extra front matter, a licence or an appendix, where Jaccard drops with the size
  difference alone.
* ``jaccard``: ``|A ∩ B| / |A ∪ B|``, symmetric, lower for documents of different sizes.

A pair is a duplicate when its measured overlap is strictly above ``threshold`` (the paper's
"more than 90%"). Both figures are measured for every candidate pair and written to the
statistics. Candidates come from MinHash LSH, which finds pairs by their Jaccard similarity: with
the default 32 bands of 4 rows a pair of Jaccard 0.6 becomes a candidate with probability 0.99,
of 0.5 with 0.87, of 0.3 with 0.23. A copy contained in a document more than about twice its size
(Jaccard under 0.5) may therefore go unnoticed even though its containment is 1; more bands find
more such pairs at the cost of more verification.

The rule (deterministic, whatever order documents arrive in): documents are decided one by one,
the one with the most content first - counted as distinct shingles, so layout, indentation and
line breaks do not count; ties go to the smallest ``stable_hash(id)``, then the id. A document is
removed when it is a duplicate of an already-kept document (with containment: more than 90% of it
is in that kept one, which is at least as large); else it is kept. The removed document names the
kept one with the highest measured overlap (``near_duplicate_of``) and that figure. So with S, A =
S + other words and C = S + yet other words, where S is inside both but A and C share only S: A
and C are both kept, S is removed as a copy of the first of them. Only documents ordered before
a document and linked to it by a duplicate pair can decide it, so the decision is taken per
connected component of the duplicate-pair graph.

Beam shape (:class:`NearDedup`):

1. a signature per document (a ParDo, :class:`_Sign`), 32 LSH band keys each (typed, so Beam
   encodes them with its int and string coders);
2. banding as a GroupByKey on the band key, candidate pairs per bucket, distinct;
3. the ids of the documents in a candidate pair (a set side input: its memory grows with those
   documents, not with the corpus); only these documents are shingled again and joined to their
   pairs (CoGroupByKey, then GroupByKey per pair), so a document without a candidate shuffles its
   32 band keys and nothing else;
4. verification per pair (exact overlap of the two shingle sets);
5. components of the duplicate pairs in one global combine (:class:`_Components`) that holds two
   64-bit node keys per duplicate pair (16 bytes) and nothing per other document: its memory grows
   with the duplicate pairs, not with the corpus;
6. the duplicate pairs joined to their component (CoGroupByKey on a node key), then a GroupByKey
   per component: each component is decided in one place, by :func:`decide_component`;
7. the removed documents (a dict side input: id -> what removed it) applied to the documents,
   ending with :func:`~llamacorpus.steps.adapter.decide`; the statistics gather the verified pairs
   and the components (memory grows with the candidate pairs).

Measured by ``bench/bench_near_dedup.py`` on books made from the real ones (768 books, 512 of them
in a candidate pair): about 4.7 KB shuffled per book (band keys, candidate pairs), plus, for a book
in a candidate pair, its shingle array (8 bytes a distinct 5-gram) once and once per pair it is in;
what is held in one place (steps 3, 5, 7 and the statistics) is about 1.2 KB per book in a
candidate pair, nothing per other book; CPU seconds grow linearly with the books.
"""
from __future__ import annotations

import dataclasses
import itertools
import re
from typing import Iterable, Iterator, Sequence, Tuple

import apache_beam as beam
import numpy as np
import xxhash
from datasketch import MinHash
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from llamacorpus import fileio
from llamacorpus.steps.adapter import GlobalStep, StepOutputs
from llamacorpus.config import Section
from llamacorpus.layout import Layout
from llamacorpus.document import Document, stable_hash, with_meta
from llamacorpus.steps import Drop

MEASURES = ("containment", "jaccard")
_WORD = re.compile(r"\w+")
_XXH3 = xxhash.xxh3_64_intdigest
_KEY_MASK = (1 << 63) - 1  # band and node keys fit Beam's int64 coder
UPDATE_CHUNK = 8192  # shingles per update_batch call: bounds its (chunk x num_perm) temporaries


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
    #: a document is removed when its measured overlap with a kept document is > threshold
    #: (strictly: the paper's "more than 90%")
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
        self.require(0 <= self.threshold < 1, "threshold", f"must be in [0, 1), got {self.threshold}")
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
    word_hashes = np.fromiter(map(_XXH3, map(str.encode, ws)), dtype=np.uint64, count=len(ws))
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
        """datasketch's ``update_batch`` over the hashes, in chunks of :data:`UPDATE_CHUNK`: it makes
        (shingles x num_perm) temporaries, so a 200k-shingle book in one call peaks at 406 MiB and
        takes 0.92 CPU-s, in chunks of 8192 at 16 MiB and 0.12 CPU-s."""
        m = self._empty.copy()
        for start in range(0, len(hashes), UPDATE_CHUNK):
            m.update_batch(hashes[start:start + UPDATE_CHUNK].tolist())
        return m.hashvalues

    def band_keys(self, signature: np.ndarray) -> list[int]:
        """One 63-bit key per band: xxh3 of the band's rows, seeded with the band's number (so equal
        rows in two different bands give two keys)."""
        rows = signature.tobytes()
        width = self.rows * signature.itemsize
        return [_XXH3(rows[b * width:(b + 1) * width], b) & _KEY_MASK for b in range(self.bands)]


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


def decision_order(doc_id: str, shingles: int) -> tuple:
    """The order documents are decided in: most distinct shingles first, then the smallest
    stable_hash(id), then the id."""
    return (-shingles, stable_hash(doc_id), doc_id)


def is_duplicate(pair: dict, threshold: float, measure: str) -> bool:
    """A verified pair is a duplicate when its measured overlap is strictly above the threshold."""
    return pair[measure] > threshold


def node_key(doc_id: str) -> int:
    """A document's 63-bit node key in the component graph. Two ids with one key (odds 2^-63 a
    pair) would only join two components, which are still decided pair by pair."""
    return stable_hash(doc_id) & _KEY_MASK


def component_labels(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Connected components of an undirected graph given as an ``(n, 2)`` array of node keys:
    ``(nodes, labels)``, the sorted distinct nodes and each one's component number."""
    nodes, index = np.unique(edges, return_inverse=True)
    index = index.reshape(-1, 2)
    graph = coo_matrix((np.ones(len(index), dtype=np.int8), (index[:, 0], index[:, 1])),
                       shape=(len(nodes), len(nodes)))
    _, labels = connected_components(graph, directed=False)
    return nodes, labels


def decide_component(pairs: Iterable[dict], threshold: float, measure: str) -> dict:
    """Decide the documents of the duplicate pairs ``pairs`` (one component, or any set of them).

    Documents are taken in :func:`decision_order`; one is removed when it is a duplicate
    (:func:`is_duplicate`) of an already-kept one, and names the kept one with the highest measured
    overlap (ties: the one decided first). Returns ``{"members": [ids in decision order], "kept":
    [ids], "dropped": {id: {"duplicate_of", "overlap", "containment", "jaccard"}}}``.
    """
    size: dict[str, int] = {}
    linked: dict[str, dict[str, dict]] = {}
    for p in pairs:
        if not is_duplicate(p, threshold, measure):
            continue
        size[p["a"]], size[p["b"]] = p["shingles_a"], p["shingles_b"]
        linked.setdefault(p["a"], {})[p["b"]] = p
        linked.setdefault(p["b"], {})[p["a"]] = p
    members = sorted(size, key=lambda d: decision_order(d, size[d]))
    rank = {d: i for i, d in enumerate(members)}
    kept: list[str] = []
    dropped: dict[str, dict] = {}
    for doc_id in members:
        keepers = [o for o in linked[doc_id] if o not in dropped and rank[o] < rank[doc_id]]
        if not keepers:
            kept.append(doc_id)
            continue
        best = max(keepers, key=lambda o: (linked[doc_id][o][measure], -rank[o]))
        p = linked[doc_id][best]
        dropped[doc_id] = {"duplicate_of": best, "overlap": p[measure], "containment": p["containment"],
                           "jaccard": p["jaccard"]}
    return {"members": members, "kept": kept, "dropped": dropped}


def summarise(components: Iterable[dict]) -> dict:
    """Decided components -> the statistics' ``components`` (members in decision order and the kept
    ones, sorted by their first member),
    ``clusters`` (one per kept document: itself and the documents it removed) and ``dropped``."""
    components = sorted(components, key=lambda c: c["members"][0])
    dropped = {d: info for c in components for d, info in c["dropped"].items()}
    removed_by: dict[str, list[str]] = {}
    for c in components:
        for d in c["members"]:
            if d in c["dropped"]:
                removed_by.setdefault(c["dropped"][d]["duplicate_of"], []).append(d)
    clusters = [{"representative": k, "members": [k, *removed_by.get(k, [])]}
                for c in components for k in c["kept"]]
    return {"components": [{"members": c["members"], "kept": c["kept"]} for c in components],
            "clusters": sorted(clusters, key=lambda c: c["representative"]),
            "dropped": dict(sorted(dropped.items()))}


def plan_clusters(pairs: Sequence[dict], threshold: float, measure: str) -> dict:
    """The whole decision over verified pairs ``{"a", "b", "shingles_a", "shingles_b", "jaccard",
    "containment"}`` without Beam: components of the duplicate pairs, each decided by
    :func:`decide_component`; returns :func:`summarise`'s dict."""
    duplicates = [p for p in pairs if is_duplicate(p, threshold, measure)]
    if not duplicates:
        return summarise([])
    nodes, labels = component_labels(np.array([[node_key(p["a"]), node_key(p["b"])] for p in duplicates],
                                              dtype=np.int64))
    label_of = dict(zip(nodes.tolist(), labels.tolist()))
    groups: dict[int, list[dict]] = {}
    for p in duplicates:
        groups.setdefault(label_of[node_key(p["a"])], []).append(p)
    return summarise(decide_component(g, threshold, measure) for g in groups.values())


def decision(doc: Document, dropped: dict, measure: str, reason: str):
    """The verdict for one document: itself (kept) or a Drop whose meta names the kept document
    that removed it and the measured overlap with it."""
    info = dropped.get(doc["id"])
    if info is None:
        return doc, doc
    scored = with_meta(doc, near_duplicate_of=info["duplicate_of"], near_duplicate_overlap=round(info["overlap"], 6),
                       near_duplicate_measure=measure)
    return doc, Drop(reason, scored)


def stats_name(source: str) -> str:
    """The step report's name under ``stats/`` (:meth:`llamacorpus.layout.Layout.stats`)."""
    return f"near_duplicates_{source}"


def stats_path(output: str, source: str) -> str:
    return Layout(output).stats(stats_name(source))


# ---------------------------------------------------------------------------- Beam composite

class _Sign(beam.DoFn):
    """doc -> (band key, id) for each LSH band. One document per call: batching documents in the
    DoFn measured no gain (bench/bench_minhash.py), the Beam cost is in the 32 outputs, which the
    GroupByKey needs one by one."""

    def __init__(self, cfg: NearDedupConfig):
        self.cfg = cfg

    def setup(self):
        self.signer = Signer(self.cfg.num_perm, self.cfg.bands, self.cfg.seed)

    def process(self, doc: Document):
        hashes = shingle_hashes(doc["text"], self.cfg.shingle_words)
        if len(hashes):
            doc_id = doc["id"]
            for key in self.signer.band_keys(self.signer.signature(hashes)):
                yield key, doc_id


class _ShinglePaired(beam.DoFn):
    """doc -> (id, shingle hashes), for the documents of a candidate pair only (``paired``, a set
    side input)."""

    def __init__(self, cfg: NearDedupConfig):
        self.cfg = cfg

    def process(self, doc: Document, paired: set):
        if doc["id"] in paired:
            yield doc["id"], shingle_hashes(doc["text"], self.cfg.shingle_words)


class _Components(beam.CombineFn):
    """Duplicate pairs as ``(node_key(a), node_key(b))`` -> ``(nodes, labels)`` of
    :func:`component_labels`. The accumulator packs the pairs into int64 arrays, 16 bytes a pair."""

    PACK = 4096

    def create_accumulator(self):
        return [], []  # packed (k, 2) arrays, pending keys

    def add_input(self, acc, edge):
        packed, pending = acc
        pending.extend(edge)
        if len(pending) >= 2 * self.PACK:
            packed.append(np.array(pending, dtype=np.int64).reshape(-1, 2))
            pending.clear()
        return acc

    def merge_accumulators(self, accumulators):
        packed: list[np.ndarray] = []
        for p, q in accumulators:
            packed.extend(p)
            if q:
                packed.append(np.array(q, dtype=np.int64).reshape(-1, 2))
        return packed, []

    def extract_output(self, acc):
        packed, _ = self.merge_accumulators([acc])
        if not packed:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        return component_labels(np.concatenate(packed))


def _labels(result) -> Iterator[tuple[int, int]]:
    nodes, labels = result
    return zip(nodes.tolist(), labels.tolist())


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


def _to_component(element):
    _, grouped = element
    for label in grouped["label"]:
        for pair in grouped["pairs"]:
            yield label, pair


class NearDedup(GlobalStep):
    """Drop near-duplicates (see the module docstring); writes the measured overlaps of every
    candidate pair, the components and what removed each document to
    ``<output>/stats/near_duplicates_<source>.json``."""

    name = "near_dedup"

    def __init__(self, source: str, cfg: NearDedupConfig, output: str, reason: str = "near_duplicate",
                 name: str | None = None):
        super().__init__(source, name)
        self.cfg, self.output, self.reason = cfg, output, reason

    def expand(self, docs):
        cfg, measure, threshold = self.cfg, self.cfg.measure, self.cfg.threshold
        candidates = (docs
                      | "Sign" >> beam.ParDo(_Sign(cfg)).with_output_types(Tuple[int, str])
                      | "Buckets" >> beam.GroupByKey()
                      | "Pairs" >> beam.FlatMap(lambda kv: candidate_pairs(kv[1]))
                      | "DistinctPairs" >> beam.Distinct())
        paired = (candidates
                  | "PairedIds" >> beam.FlatMap(lambda pair: pair)
                  | "PairedSet" >> beam.CombineGlobally(beam.combiners.ToSetCombineFn()))
        # Its own copy of the documents (a fused identity Map): Beam's FnApiRunner never runs two
        # stages that read one PCollection with side inputs when one's side input depends on the
        # other ("watermark-pending bundles did not execute").
        shingles = (docs
                    | "PairedInput" >> beam.Map(_identity)
                    | "ShinglePaired" >> beam.ParDo(_ShinglePaired(cfg), beam.pvalue.AsSingleton(paired)))
        verified = ({"pairs": candidates | "PairEnds" >> beam.FlatMap(_pair_ends), "shingles": shingles}
                    | "JoinShingles" >> beam.CoGroupByKey()
                    | "AttachShingles" >> beam.FlatMap(_attach_shingles)
                    | "BothEnds" >> beam.GroupByKey()
                    | "Verify" >> beam.Map(_verify))
        duplicates = verified | "Duplicates" >> beam.Filter(is_duplicate, threshold, measure)
        labels = (duplicates
                  | "NodeKeys" >> beam.Map(lambda p: (node_key(p["a"]), node_key(p["b"])))
                  | "Components" >> beam.CombineGlobally(_Components())
                  | "Labels" >> beam.FlatMap(_labels))
        components = ({"label": labels, "pairs": duplicates | "ByNode" >> beam.Map(lambda p: (node_key(p["a"]), p))}
                      | "JoinLabels" >> beam.CoGroupByKey()
                      | "ToComponent" >> beam.FlatMap(_to_component)
                      | "PerComponent" >> beam.GroupByKey()
                      | "DecideComponent" >> beam.MapTuple(lambda _, pairs: decide_component(pairs, threshold, measure)))
        dropped = components | "Dropped" >> beam.FlatMap(lambda c: c["dropped"].items())
        verdicts = docs | "Verdicts" >> beam.Map(
            lambda doc, removed: decision(doc, removed, measure, self.reason), beam.pvalue.AsDict(dropped))
        report = ((verified | "TagPairs" >> beam.Map(lambda p: ("pair", p)),
                   components | "TagComponents" >> beam.Map(lambda c: ("component", c)))
                  | "StatsParts" >> beam.Flatten()
                  | "AllStats" >> beam.combiners.ToList())
        report | "WriteStats" >> beam.Map(self._write_stats)
        out = self.decide(verdicts)
        overlaps = verified | "Overlaps" >> beam.Map(
            lambda p, key=f"{self.source}/{self.name}/{measure}": (key, p[measure]))
        measures = (out.measures, overlaps) | "Measures" >> beam.Flatten()
        return StepOutputs(out.documents, out.rejected, out.errors, measures)

    def _write_stats(self, parts: list[tuple[str, dict]]) -> None:
        cfg = self.cfg
        pairs = sorted((p for kind, p in parts if kind == "pair"), key=lambda p: (p["a"], p["b"]))
        plan = summarise(c for kind, c in parts if kind == "component")
        counters = self.counters()
        counters.inc("candidate_pairs", len(pairs))
        counters.inc("duplicate_pairs", sum(is_duplicate(p, cfg.threshold, cfg.measure) for p in pairs))
        counters.inc("components", len(plan["components"]))
        report = {"source": self.source, "step": self.name, **dataclasses.asdict(cfg),
                  "rule": f"removed when {cfg.measure} with a kept document > {cfg.threshold}, deciding the "
                          "documents with the most distinct shingles first (pairwise, never through a chain)",
                  "candidate_pairs": [{**p, "duplicate": is_duplicate(p, cfg.threshold, cfg.measure)} for p in pairs],
                  **plan}
        fileio.write_json(stats_path(self.output, self.source), report)
