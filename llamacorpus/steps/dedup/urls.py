"""One document per normalised URL across all inputs (Common Crawl dumps overlap).

The key is :func:`llamacorpus.urls.normalize_url` of ``meta["url"]`` (scheme, ``www.``, default
port, fragment, tracking parameters and a trailing slash do not split a page); a URL that does not
normalise (not http(s)) is its own key as written. The winner is the newest capture
(``meta["date"]``, ISO 8601 as in ``WARC-Date``), ties broken by the lowest
``stable_hash(id)``, then by ``stable_hash(id, text)`` (the same capture read from a WET and a WARC
file has the same id); every other document of the key is dropped as ``duplicate_url``.

Beam shape: ``(url key, packed document)`` (:func:`llamacorpus.document.pack`, half the bytes of a
page) into a ``GroupByKey``, then :func:`choose` per key.
"""
from __future__ import annotations

import datetime
from typing import Iterable, Iterator

import apache_beam as beam

from llamacorpus.steps.adapter import GlobalStep, StepOutputs
from llamacorpus.document import Document, pack, stable_hash, unpack
from llamacorpus.steps import Drop
from llamacorpus.urls import normalize_url

DUPLICATE = "duplicate_url"


def url_key(doc: Document) -> str:
    url = doc["meta"].get("url") or ""
    return normalize_url(url) or f"raw:{url or doc['id']}"


def capture_time(date: str) -> float:
    """Seconds since the epoch of an ISO 8601 date (``-inf`` when missing or unreadable)."""
    try:
        parsed = datetime.datetime.fromisoformat((date or "").strip().replace("Z", "+00:00"))
    except ValueError:
        return float("-inf")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


def preference(doc: Document) -> tuple:
    """Smaller is preferred: newest date first, then the lowest id hash, then the text hash."""
    return -capture_time(doc["meta"].get("date", "")), stable_hash(doc["id"]), stable_hash(doc["id"], doc["text"])


def choose(docs: Iterable[Document]) -> Iterator[tuple[Document, Document | Drop]]:
    """``(doc, verdict)`` for the documents of one URL: the winner keeps itself, the rest drop.

    One pass, constant memory: a document beaten later is emitted as dropped then.
    """
    best, best_rank = None, None
    for doc in docs:
        rank = preference(doc)
        if best is None or rank < best_rank:
            if best is not None:
                yield best, Drop(DUPLICATE, best)
            best, best_rank = doc, rank
        else:
            yield doc, Drop(DUPLICATE, doc)
    if best is not None:
        yield best, best


class UrlDedup(GlobalStep):
    """Keep one document per normalised URL (see the module docstring)."""

    name = "url_dedup"

    def expand(self, docs) -> StepOutputs:
        verdicts = (docs
                    | "KeyByUrl" >> beam.Map(lambda d: (url_key(d), pack(d)))
                    | "GroupByUrl" >> beam.GroupByKey()
                    | "Choose" >> beam.FlatMap(lambda kv: choose(map(unpack, kv[1]))))
        return self.decide(verdicts)
