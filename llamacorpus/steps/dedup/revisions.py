"""One document per page id, the latest revision (Wikipedia): a global step.

When dumps overlap (two dump dates, a split dump beside the whole one, one dump in two encodings)
the copies of a page share a document id; the one with the highest ``revision_id`` is kept, the
others are dropped as ``duplicate_page``, so document ids stay unique.
"""
from __future__ import annotations

from typing import Iterator

import apache_beam as beam

from llamacorpus.document import Document, stable_hash
from llamacorpus.steps import Drop
from llamacorpus.steps.adapter import GlobalStep, StepOutputs

DUPLICATE_PAGE = "duplicate_page"


def revision_rank(doc: Document) -> tuple:
    """Smaller is preferred: the latest revision, then (same revision read twice) a text hash."""
    revision = doc["meta"].get("revision_id")
    return -(revision if isinstance(revision, int) else -1), stable_hash(doc["id"], doc["text"])


def latest_revision(docs) -> Iterator[tuple[Document, Document | Drop]]:
    """``(doc, verdict)`` for the copies of one page: the latest revision is kept."""
    ranked = sorted(docs, key=revision_rank)  # one page's copies: a handful at most
    yield ranked[0], ranked[0]
    for doc in ranked[1:]:
        yield doc, Drop(DUPLICATE_PAGE, doc)


class LatestRevision(GlobalStep):
    """One document per page id: when dumps overlap (two dump dates, a split dump beside the whole
    one, the same dump in two encodings) the latest revision of each page is kept and the other
    copies are dropped as ``duplicate_page``, so document ids stay unique."""

    name = "latest_revision"

    def expand(self, docs) -> StepOutputs:
        verdicts = (docs
                    | "ById" >> beam.Map(lambda d: (d["id"], d))
                    | "GroupById" >> beam.GroupByKey()
                    | "Latest" >> beam.FlatMap(lambda kv: latest_revision(kv[1])))
        return self.decide(verdicts)
