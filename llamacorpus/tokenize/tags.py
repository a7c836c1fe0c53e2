"""Domain tags (Allen-Zhu & Li, "Physics of Language Models 3.3"): a token before each document
naming its source (``shards.domain_tags: source``) or its web domain (``domain``), so a model can
learn which sources carry reliable knowledge.

Tags are SentencePiece user-defined symbols, trained into the tokenizer, so each is one id.
``source``: one tag per source of :data:`~llamacorpus.document.SOURCES` (all seven, so the ids do
not depend on which sources a run has). ``domain``: one tag per domain among the
``shards.domain_tag_count`` most frequent ones (by documents; a document without a URL counts
under its source name), and one ``other`` tag for the rest.
"""
from __future__ import annotations

from typing import Iterable, Mapping

from llamacorpus import urls
from llamacorpus.document import SOURCES, Document

OTHER = "other"


def source_tag(source: str) -> str:
    return f"<|source:{source}|>"


def domain_tag(key: str) -> str:
    return f"<|domain:{key}|>"


def domain_key(doc: Document) -> str:
    """The domain a document counts under: its URL's host without ``www.``, else its source."""
    return urls.domain(str(doc["meta"].get("url") or "")) or doc["source"]


def top_domains(counts: Mapping[str, int] | Iterable[tuple[str, int]], n: int) -> list[str]:
    """The ``n`` domains with most documents; ties by name, so the choice is deterministic."""
    items = counts.items() if isinstance(counts, Mapping) else counts
    return [d for d, _ in sorted(items, key=lambda kv: (-kv[1], kv[0]))[:n]]


def symbols(mode: str, domains: Iterable[str] = ()) -> list[str]:
    """The user-defined symbols a tokenizer needs for ``mode`` ("", "source", "domain")."""
    if mode == "source":
        return [source_tag(s) for s in SOURCES]
    if mode == "domain":
        return [domain_tag(d) for d in domains if d != OTHER] + [domain_tag(OTHER)]
    return []


def document_tag(doc: Document, mode: str) -> str | None:
    """The tag piece this document asks for (the encoder falls back to ``other`` for a domain the
    tokenizer has no tag for)."""
    if mode == "source":
        return source_tag(doc["source"])
    if mode == "domain":
        return domain_tag(domain_key(doc))
    return None
