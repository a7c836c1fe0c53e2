"""Exact-content deduplication across a whole run (a global step).

Documents whose text is byte-for-byte the same (SHA-1 of the UTF-8 text) form a group; the group
keeps the document with the smallest ``stable_hash(id)`` (ties, practically impossible, by the id
itself), whatever order the documents arrive in. The others are dropped with reason
``duplicate_content`` (configurable) and their meta names the copy kept (``duplicate_of``).

Beam shape, TFDS C4's dedup join: ``(hash, packed doc)`` pairs (:func:`llamacorpus.document.pack`);
the winner per hash is a ``CombinePerKey(min)`` over ``(stable_hash(id), id)`` (small values,
combined before the shuffle); a ``CoGroupByKey`` joins the winner back onto the group's documents.
"""
from __future__ import annotations

import hashlib

import apache_beam as beam

from llamacorpus.steps.adapter import GlobalStep
from llamacorpus.document import Document, pack, stable_hash, unpack, with_meta
from llamacorpus.steps import Drop


def content_key(doc: Document) -> str:
    return hashlib.sha1(doc["text"].encode("utf-8", "surrogatepass")).hexdigest()


def winner_key(doc_id: str) -> tuple[int, str]:
    return stable_hash(doc_id), doc_id


def verdicts(element, reason: str):
    """``(hash, {"docs": [packed docs], "winner": [(stable_hash, id)]})`` -> ``(doc, verdict)`` pairs."""
    _, grouped = element
    (_, keeper), = grouped["winner"]
    for doc in map(unpack, grouped["docs"]):
        if doc["id"] == keeper:
            yield doc, doc
        else:
            yield doc, Drop(reason, with_meta(doc, duplicate_of=keeper))


class ExactDedup(GlobalStep):
    """Keep one document per exact text; see the module docstring."""

    name = "exact_dedup"

    def __init__(self, source: str, reason: str = "duplicate_content", name: str | None = None):
        super().__init__(source, name)
        self.reason = reason

    def expand(self, docs):
        keyed = docs | "Hash" >> beam.Map(lambda d: (content_key(d), d))
        winners = (keyed
                   | "Candidates" >> beam.Map(lambda kv: (kv[0], winner_key(kv[1]["id"])))
                   | "Winner" >> beam.CombinePerKey(min))
        pairs = ({"docs": keyed | "Pack" >> beam.MapTuple(lambda key, d: (key, pack(d))), "winner": winners}
                 | "Join" >> beam.CoGroupByKey()
                 | "Verdicts" >> beam.FlatMap(verdicts, self.reason))
        return self.decide(pairs)
