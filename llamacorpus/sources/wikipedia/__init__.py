"""Wikipedia (4.5% of LLaMA): pages-articles XML dumps of the recipe's languages, as plain text.

Input: ``<lang>wiki-<date>-pages-articles[-multistream][N].xml[.bz2]`` files (``.xml``, ``.xml.bz2``
with one or many bz2 streams, ``.gz``/``.xz``/``.zst`` too), streamed page by page by
:func:`llamacorpus.sources.wikipedia.dump.iter_pages` (its docstring tells how, and which bad input
it reports: ``truncated_bz2``, ``corrupt_bz2``, ``truncated_xml``, ``malformed_xml``,
``malformed_page``, ``invalid_encoding``, each counted as ``wikipedia/read/error:<kind>`` and
written to ``errors/`` with ``<file>:<line>``; the run goes on). A multistream dump with its
``-multistream-index.txt.bz2`` beside it is read by many workers, each a run of its bz2 streams
(:func:`~llamacorpus.sources.wikipedia.dump.multistream_splits`), with the same documents as one
worker reading it whole; its locations are ``<file>@<stream offset>:<line in the stream>``, the
dump index's own address. The source turns what it reads into records:

* the language comes from ``<siteinfo><dbname>`` (``enwiki`` -> ``en``), else the host of
  ``<base>``, else the root's ``xml:lang``, else the file name (``enwiki-...``). A dump of a
  language the recipe does not list (``viwiki``) is refused as a whole: ONE record per file,
  dropped with reason ``language_not_in_recipe`` (counted under
  ``wikipedia/read/dropped:language_not_in_recipe@vi``); none of its pages is parsed. A dump of
  another project (Wiktionary, Commons...) is dropped the same way with reason
  ``not_wikipedia``; one whose language nothing tells is an error ``unknown_language``.
* pages outside namespace 0 are dropped with reason ``other_namespace``; redirects (the
  ``<redirect>`` element, or text starting ``#<magic word> [[target]]`` in any language) with
  reason ``redirect``.
* every other page becomes a document ``wikipedia/<lang>/<page id>`` whose text is still
  wikitext; the :class:`~llamacorpus.steps.clean.wikitext.WikitextToText` step (``wikitext``) makes
  it plain text, dropping pages left empty (reason ``empty``) and counting a page
  mwparserfromhell cannot parse as ``error:unparsable_wikitext``. Meta: ``title``, ``url``
  (``https://<lang>.wikipedia.org/wiki/<Title_with_underscores>``, percent-encoded as MediaWiki
  does), ``language``, ``page_id``, ``revision_id``, ``timestamp``. ``min_chars`` (default 0)
  adds the shared length filter.
* the last step, ``latest_revision`` (a global step), keeps one document per page id when dumps
  overlap (two dump dates, a split dump beside the whole one, one dump in two encodings as in
  the fixtures): the latest revision; the other copies are dropped as ``duplicate_page``.

Reference URLs for the Wikipedia-reference classifier come from the same reader:
:class:`~llamacorpus.sources.wikipedia.references.ReferenceReader`, which the Common Crawl source
hands to the classifier step.
"""
from __future__ import annotations

import dataclasses
import os
import re
import urllib.parse
from typing import Iterator, Sequence

from llamacorpus import fileio
from llamacorpus.config import field
from llamacorpus.document import make_document
from llamacorpus.sources.base import RunContext, Source, SourceConfig, Split, whole_file
from llamacorpus.sources.wikipedia.dump import (ARTICLE_NS, Page, SiteInfo, iter_pages, multistream_site,
                                                multistream_splits)
from llamacorpus.steps import BadInput, Drop
from llamacorpus.steps.clean.budget import CleanerBudget
from llamacorpus.steps.clean.wikitext import LINK_NAMESPACES_META, LOCATION_META, LinkNamespaces, WikitextToText
from llamacorpus.steps.dedup.revisions import LatestRevision
from llamacorpus.steps.filters.length import MinChars

#: LLaMA: "Wikipedia dumps from the June-August 2022 period, covering 20 languages"
LLAMA_LANGUAGES = ("bg", "ca", "cs", "da", "de", "en", "es", "fr", "hr", "hu", "it", "nl", "pl", "pt", "ro",
                   "ru", "sl", "sr", "sv", "uk")
_LANGUAGE = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")


@dataclasses.dataclass
class WikipediaConfig(SourceConfig):
    #: dump languages to keep (Wikipedia language codes); LLaMA's 20 by default
    languages: list[str] = field(list(LLAMA_LANGUAGES))
    #: work the wikitext cleaner may spend per page (error:cleaner_budget past it)
    cleaner_budget: CleanerBudget = field(default_factory=CleanerBudget)

    def check(self):
        super().check()
        self.require(bool(self.languages), "languages", "must list at least one language")
        for lang in self.languages:
            self.require(bool(_LANGUAGE.match(lang)), "languages", f"{lang!r} is not a Wikipedia language code")


def page_url(language: str, title: str) -> str:
    """``https://<lang>.wikipedia.org/wiki/<Title>`` with spaces as underscores and the rest
    percent-encoded as MediaWiki's canonical URLs are."""
    return f"https://{language}.wikipedia.org/wiki/" + urllib.parse.quote(title.replace(" ", "_"), safe=";@$!*(),/~:")


def refusal(site: SiteInfo, languages: Sequence[str] | None) -> Drop | BadInput | None:
    """Why a whole dump is not read (another project or language), or None."""
    language = site.language
    record = make_document("wikipedia", f"{language or 'unknown'}/{os.path.basename(site.path)}", "",
                           language=language, dbname=site.dbname, base=site.base)
    if site.project != "wikipedia":
        return Drop("not_wikipedia", record, site.path)
    if not language:
        return BadInput("unknown_language", site.path,
                        "no <dbname>, <base>, xml:lang or <lang>wiki- file name tells the dump's language")
    if languages is not None and language not in languages:
        return Drop("language_not_in_recipe", record, site.path)
    return None


def page_record(page: Page, site: SiteInfo, link_namespaces: dict) -> dict | Drop:
    """A page as a raw document (text still wikitext), or Drop for redirects and other namespaces."""
    language = site.language
    meta = {"title": page.title, "url": page_url(language, page.title), "language": language,
            "page_id": page.page_id, "revision_id": page.revision_id, "timestamp": page.timestamp}
    native_id = f"{language}/{page.page_id}"
    if page.ns != ARTICLE_NS:
        return Drop("other_namespace", make_document("wikipedia", native_id, page.text, namespace=page.ns, **meta),
                    page.location)
    if page.is_redirect:
        return Drop("redirect", make_document("wikipedia", native_id, page.text, **meta), page.location)
    return make_document("wikipedia", native_id, page.text, **meta,
                         **{LOCATION_META: page.location, LINK_NAMESPACES_META: link_namespaces})


class Wikipedia(Source):
    name = "wikipedia"
    Config = WikipediaConfig
    category_fields = ("language",)
    meta_fields = {"title": str, "url": str, "language": str, "page_id": int, "revision_id": int, "timestamp": str,
                   "markup_lines_removed": int}
    default_inputs = ("wikipedia/*.xml*",)

    def read(self, cfg: WikipediaConfig, path: str) -> Iterator:
        """One worker reading a whole dump: a multistream one with its index stream by stream, as
        its pieces are (the same documents and locations), any other one from start to end."""
        [whole] = self.dump_pieces(path, 0, cfg.languages)
        return self.read_split(cfg, whole)

    def dump_pieces(self, path: str, split_bytes: int, languages: Sequence[str] | None) -> list[Split]:
        """:meth:`splits` of a dump in pieces of ``split_bytes`` (0: one), or its one whole piece,
        read from start to end, when its index does not fit it."""
        try:
            return self.splits(WikipediaConfig(languages=languages, split_bytes=split_bytes), path,
                               fileio.size(path), "")
        except ValueError:  # an index that does not fit: the dump read from start to end
            return [whole_file(path, None)]

    def splits(self, cfg: WikipediaConfig, path: str, size: int | None, staging: str) -> list[Split]:
        site = multistream_site(path)  # before the index: a refused dump's index is never read
        if site is not None and refusal(site, cfg.languages) is not None:
            return [whole_file(path, size)]  # refused as a whole: one record, from a whole read
        return multistream_splits(path, size, cfg.split_bytes)

    def read_split(self, cfg: WikipediaConfig, split: Split) -> Iterator:
        site, link_namespaces = None, {}
        for item in iter_pages(split.path, split):
            if isinstance(item, SiteInfo):
                refused = refusal(item, cfg.languages)
                if refused is not None:
                    yield refused
                    return
                site, link_namespaces = item, LinkNamespaces.from_siteinfo(item.namespaces).to_meta()
            elif isinstance(item, Page):
                yield page_record(item, site, link_namespaces)
            else:
                yield item

    def steps(self, cfg: WikipediaConfig, ctx: RunContext) -> list:
        steps: list = [WikitextToText(cfg.cleaner_budget)]
        if cfg.min_chars:
            steps.append(MinChars(cfg.min_chars))
        steps.append(LatestRevision(self.name))
        return steps


SOURCE = Wikipedia()
