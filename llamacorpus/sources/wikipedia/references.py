"""The URLs Wikipedia articles cite, for the Wikipedia-reference classifier of Common Crawl.

:class:`ReferenceReader` is a plain reader in two parts, so the classifier step
(:mod:`llamacorpus.steps.filters.wiki_classifier`) can spread the costly part over workers:

* :meth:`~ReferenceReader.splits`: the pieces one dump is read in, the Wikipedia source's own
  (:meth:`~llamacorpus.sources.wikipedia.Wikipedia.splits`): runs of whole bz2 streams of at
  most ``split_bytes`` for a multistream dump beside its index, so that a 22 GB dump is read by
  many workers; one whole piece for any other dump, one refused as a whole, or one whose index
  does not fit it (read from start to end).
* :meth:`~ReferenceReader.articles` streams one piece: the wikitext of every namespace-0,
  non-redirect page of a dump in ``languages`` (None: every language). A dump of another
  language yields one :class:`~llamacorpus.steps.Drop` (``skipped_file``) and nothing else; bad
  input is the dump reader's :class:`~llamacorpus.steps.BadInput`.
* :meth:`~ReferenceReader.urls`: one page's cited URLs (``<ref>`` external links and any
  template's ``url=``), as :func:`llamacorpus.urls.normalize_url` keys, no "". Raises
  :class:`~llamacorpus.steps.clean.wikitext.WikitextError` for a page mwparserfromhell cannot parse.
"""
from __future__ import annotations

import dataclasses
from typing import Iterator

from llamacorpus.sources.base import Split
from llamacorpus.sources.wikipedia import SOURCE as WIKIPEDIA, refusal
from llamacorpus.sources.wikipedia.dump import ARTICLE_NS, Page, SiteInfo, iter_pages
from llamacorpus.steps import BadInput, Drop
from llamacorpus.steps.clean.wikitext import reference_urls
from llamacorpus.urls import normalize_url

SKIPPED_FILE = "skipped_file"


@dataclasses.dataclass(frozen=True)
class ReferenceReader:
    """Reads the reference URLs of dumps in ``languages``, a multistream dump in pieces of at most
    ``split_bytes`` (0: whole); counters go under ``<source>/<step>/``."""

    languages: tuple[str, ...] | None = None
    source: str = "wikipedia"
    step: str = "reference_urls"
    split_bytes: int = 0

    def splits(self, path: str) -> list[Split]:
        return WIKIPEDIA.dump_pieces(path, self.split_bytes, self.languages)

    def articles(self, split: Split) -> Iterator[str | Drop | BadInput]:
        for item in iter_pages(split.path, split):
            if isinstance(item, SiteInfo):
                if refusal(item, self.languages) is not None:
                    yield Drop(SKIPPED_FILE, location=split.path)
                    return
            elif isinstance(item, Page):
                if item.ns == ARTICLE_NS and not item.is_redirect:
                    yield item.text
            else:
                yield item

    def urls(self, wikitext: str) -> list[str]:
        return [key for key in map(normalize_url, reference_urls(wikitext)) if key]
