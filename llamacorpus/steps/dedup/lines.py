"""Line-level deduplication over the whole run: CCNet's rule (or C4's) as a Beam join.

Normalisation and hash are CCNet's (``cc_net/text_normalizer.py: normalize_for_dedup``, in
:func:`llamacorpus.steps.normalize.normalize_for_dedup`, and ``cc_net/dedup.py: compute_hashes``):
a document is split on ``"\\n"``, each line normalised; the hash is the first 8 bytes of the
SHA-1 of the UTF-8 bytes. Lines that normalise to nothing are removed from every
document, as in CCNet, where the hash of the empty string always counts as a duplicate; they never
enter the join (they would be its hottest key).

Rules, with the scope being every document the step sees (all files of all dumps in the run):

* ``ccnet``: a line whose hash occurs two or more times in the scope (repeats inside one
  document count) is removed from every document that has it, first copy included.
* ``c4``: of the copies of such a line, the first copy in the document whose id hashes lowest
  (:func:`~llamacorpus.document.stable_hash`) is kept; every other copy is removed.

A document left with no line is dropped (``emptied_by_line_dedup``). Kept documents get
``original_nlines`` and ``nlines`` (CCNet's names) in meta.

Beam shape (TFDS C4's line dedup): each document emits ``(line hash, (document key, copies))``
once per distinct line hash; ``GroupByKey`` on the hash decides which documents lose which lines
(:func:`hash_decisions`); the decisions go back to the documents with ``CoGroupByKey`` on the
document key, and each document carries its lines' hashes so nothing is normalised twice. The
document key is ``stable_hash(id)``, a 64-bit integer, so the shuffle carries 8 bytes where the id
string would take ~50. Two ids sharing a key (about one pair in 10^19 / n^2) are handled: a
document applies only decisions about hashes it holds; under the ``c4`` rule such a pair could keep
one extra copy.

Counters under the step: ``lines_in`` (non-blank lines), ``lines_blank``, ``lines_removed``
(duplicate lines removed), ``documents_emptied``.
"""
from __future__ import annotations

import hashlib
from typing import Iterable, Iterator

import apache_beam as beam

from llamacorpus.steps.adapter import GlobalStep, StepCounters, StepOutputs
from llamacorpus.document import Document, replace, stable_hash
from llamacorpus.steps import Drop
from llamacorpus.steps.normalize import normalized_text

RULES = ("ccnet", "c4")
HASH_BYTES = 8
BLANK = b"\0" * HASH_BYTES  # the slot of a line that normalises to nothing (never emitted)
EMPTIED = "emptied_by_line_dedup"

def line_hash(normalized: str) -> bytes:
    """CCNet's line hash: the first 8 bytes of SHA-1 of the normalised line's UTF-8."""
    return hashlib.sha1(normalized.encode("utf-8", "surrogatepass")).digest()[:HASH_BYTES]


def line_hashes(text: str) -> list[bytes]:
    """The hash of every line of ``text`` (split on ``"\\n"``); :data:`BLANK` for blank lines."""
    encoded = normalized_text(text).encode("utf-8", "surrogatepass").split(b"\n")
    sha1 = hashlib.sha1
    return [sha1(line).digest()[:HASH_BYTES] if line else BLANK for line in encoded]


def copies_per_hash(hashes: Iterable[bytes]) -> dict[bytes, int]:
    """Copies of each non-blank hash in one document."""
    counts: dict[bytes, int] = {}
    for h in hashes:
        if h != BLANK:
            counts[h] = counts.get(h, 0) + 1
    return counts


def hash_decisions(entries: Iterable[tuple[int, int]], rule: str) -> Iterator[tuple[int, bool]]:
    """What the documents holding one line hash do with it.

    ``entries`` are ``(document key, copies in that document)`` for every document having the
    hash (iterated at most twice); yields ``(document key, keep_first)``: ``False`` removes every
    copy, ``True`` keeps the first copy only. Documents not named keep their copies.
    """
    if rule == "ccnet":
        first, n = None, 0
        for key, copies in entries:
            n += 1
            if n == 1:
                first = (key, copies)
                continue
            if n == 2:
                yield first[0], False
            yield key, False
        if n == 1 and first[1] >= 2:
            yield first[0], False
        return
    if rule != "c4":
        raise ValueError(f"line dedup rule must be one of {RULES}, got {rule!r}")
    total, winner, winner_copies = 0, None, 0
    for key, copies in entries:
        total += copies
        if winner is None or key < winner:
            winner, winner_copies = key, copies
    if total < 2:
        return
    for key, copies in entries:
        if key != winner:
            yield key, False
    if winner_copies >= 2:
        yield winner, True


def apply_decisions(text: str, hashes: list[bytes], decisions: dict[bytes, bool]) -> tuple[list[str], int]:
    """Kept lines of ``text`` under ``decisions`` (hash -> keep_first) and the duplicates removed.

    Blank lines are removed and not counted as duplicates.
    """
    kept, removed, seen = [], 0, set()
    for line, h in zip(text.split("\n"), hashes):
        if h == BLANK:
            continue
        decision = decisions.get(h)
        if decision is None:
            kept.append(line)
        elif decision and h not in seen:
            seen.add(h)
            kept.append(line)
        else:
            removed += 1
    return kept, removed


def dedup_documents(docs: list[Document], rule: str = "ccnet") -> list[Document | Drop]:
    """The whole step on a list, without Beam (tests, notebooks): each input's outcome, in order."""
    hashes = [line_hashes(d["text"]) for d in docs]
    entries: dict[bytes, list[tuple[int, int]]] = {}
    for doc, hs in zip(docs, hashes):
        for h, copies in copies_per_hash(hs).items():
            entries.setdefault(h, []).append((stable_hash(doc["id"]), copies))
    per_doc: dict[int, list[tuple[bytes, bool]]] = {}
    for h, group in entries.items():
        for key, keep_first in hash_decisions(group, rule):
            per_doc.setdefault(key, []).append((h, keep_first))
    return [_finish(doc, hs, per_doc.get(stable_hash(doc["id"]), []))[0] for doc, hs in zip(docs, hashes)]


def _finish(doc: Document, hashes: list[bytes], decisions: list[tuple[bytes, bool]]):
    """(new document or Drop, lines in, blank lines, lines removed)."""
    held = set(hashes)
    kept, removed = apply_decisions(doc["text"], hashes, {h: k for h, k in decisions if h in held})
    blank = hashes.count(BLANK)
    lines_in = len(hashes) - blank
    if not kept:
        return Drop(EMPTIED, doc), lines_in, blank, removed
    meta = dict(doc["meta"], original_nlines=len(hashes), nlines=len(kept))
    return replace(doc, text="\n".join(kept), meta=meta), lines_in, blank, removed


class _EmitHashes(beam.DoFn):
    """doc -> main ``(key, (doc, packed hashes))`` and tagged ``(hash, (key, copies))``."""

    def process(self, doc: Document):
        hashes = line_hashes(doc["text"])
        key = stable_hash(doc["id"])
        yield key, (doc, b"".join(hashes))
        for h, copies in copies_per_hash(hashes).items():
            yield beam.pvalue.TaggedOutput("hashes", (h, (key, copies)))


class _Apply(beam.DoFn):
    def __init__(self, source: str, step: str):
        self.source, self.step = source, step

    def setup(self):
        self.counters = StepCounters(self.source, self.step, buffered=True)

    def finish_bundle(self):
        self.counters.flush()

    def process(self, element):
        _, grouped = element
        decisions = list(grouped["decisions"])
        for doc, packed in grouped["docs"]:
            hashes = [packed[i:i + HASH_BYTES] for i in range(0, len(packed), HASH_BYTES)]
            out, lines_in, blank, removed = _finish(doc, hashes, decisions)
            self.counters.inc("lines_in", lines_in)
            self.counters.inc("lines_blank", blank)
            self.counters.inc("lines_removed", removed)
            if isinstance(out, Drop):
                self.counters.inc("documents_emptied")
            yield doc, out


class LineDedup(GlobalStep):
    """Whole-run line dedup (see the module docstring); ``rule`` is ``ccnet`` or ``c4``."""

    name = "line_dedup"

    def __init__(self, source: str, rule: str = "ccnet", name: str | None = None):
        super().__init__(source, name)
        if rule not in RULES:
            raise ValueError(f"line dedup rule must be one of {RULES}, got {rule!r}")
        self.rule = rule

    def expand(self, docs) -> StepOutputs:
        rule = self.rule
        keyed = docs | "Hash" >> beam.ParDo(_EmitHashes()).with_outputs("hashes", main="docs")
        decisions = (keyed.hashes
                     | "GroupByHash" >> beam.GroupByKey()
                     | "DecidePerHash" >> beam.FlatMap(
                         lambda kv: ((key, (kv[0], keep_first)) for key, keep_first in hash_decisions(kv[1], rule))))
        joined = {"docs": keyed.docs, "decisions": decisions} | "JoinDecisions" >> beam.CoGroupByKey()
        verdicts = joined | "Apply" >> beam.ParDo(_Apply(self.source, self.name))
        return self.decide(verdicts)
