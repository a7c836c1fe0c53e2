"""Wikipedia (4.5% of LLaMA): pages-articles XML dumps of the recipe's languages, as plain text.

Input: ``<lang>wiki-<date>-pages-articles[-multistream][N].xml[.bz2]`` files (``.xml``, ``.xml.bz2``
with one or many bz2 streams, ``.gz``/``.xz``/``.zst`` too), streamed page by page by
:func:`llamacorpus.sources.wikipedia_dump.iter_pages` (its docstring tells how, and which bad input
it reports: ``truncated_bz2``, ``corrupt_bz2``, ``truncated_xml``, ``malformed_xml``,
``malformed_page``, ``invalid_encoding``, each counted as ``wikipedia/read/error:<kind>`` and
written to ``errors/`` with ``<file>:<line>``; the run goes on). The source turns what it reads
into records:

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
  wikitext; the :class:`~llamacorpus.filters.wikitext.WikitextToText` step (``wikitext``) makes
  it plain text, dropping pages left empty (reason ``empty``) and counting a page
  mwparserfromhell cannot parse as ``error:unparsable_wikitext``. Meta: ``title``, ``url``
  (``https://<lang>.wikipedia.org/wiki/<Title_with_underscores>``, percent-encoded as MediaWiki
  does), ``language``, ``page_id``, ``revision_id``, ``timestamp``. ``min_chars`` (default 0)
  adds the shared length filter.
* the last step, ``latest_revision`` (a global step), keeps one document per page id when dumps
  overlap (two dump dates, a split dump beside the whole one, one dump in two encodings as in
  the fixtures): the latest revision; the other copies are dropped as ``duplicate_page``.

Reference URLs for the Wikipedia-reference classifier (``filters/wiki_classifier.py``) come from
the same reader::

    from llamacorpus.sources.wikipedia import ReferenceUrls
    urls = pipeline_root | "WikiRefs" >> ReferenceUrls(paths, languages=["en"])
    # paths: list[str] of dump files (globs already expanded, e.g. fileio.expand_inputs(...));
    # languages: the dump languages to use (None: every language).
    # -> PCollection[str]: llamacorpus.urls.normalize_url keys of the URLs cited in namespace-0,
    #    non-redirect pages (<ref> external links and any template's url=), distinct, no "".
    # counters: wikipedia/reference_urls/pages (articles read), urls (before Distinct),
    #           skipped_files (dumps of other languages), error:<kind> (bad input, unparsable pages)

and :func:`llamacorpus.filters.wikitext.reference_urls` gives one page's URLs.
"""
from __future__ import annotations

import dataclasses
import os
import re
import urllib.parse
from typing import Iterator, Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics

from llamacorpus.beam_steps import NAMESPACE, GlobalStep, StepOutputs, counter_name, decide
from llamacorpus.config import field
from llamacorpus.document import Document, make_document, stable_hash
from llamacorpus.filters.length import MinChars
from llamacorpus.filters.wikitext import (LINK_NAMESPACES_META, LOCATION_META, LinkNamespaces, WikitextError,
                                          WikitextToText, reference_urls)
from llamacorpus.sources.base import RunContext, Source, SourceConfig
from llamacorpus.sources.wikipedia_dump import ARTICLE_NS, Page, SiteInfo, iter_pages
from llamacorpus.steps import BadInput, Drop
from llamacorpus.urls import normalize_url

#: LLaMA: "Wikipedia dumps from the June-August 2022 period, covering 20 languages"
LLAMA_LANGUAGES = ("bg", "ca", "cs", "da", "de", "en", "es", "fr", "hr", "hu", "it", "nl", "pl", "pt", "ro",
                   "ru", "sl", "sr", "sv", "uk")
_LANGUAGE = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
DUPLICATE_PAGE = "duplicate_page"


@dataclasses.dataclass
class WikipediaConfig(SourceConfig):
    #: dump languages to keep (Wikipedia language codes); LLaMA's 20 by default
    languages: list[str] = field(list(LLAMA_LANGUAGES))

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
    default_inputs = ("wikipedia/*.xml*",)

    def read(self, cfg: WikipediaConfig, path: str) -> Iterator:
        site, link_namespaces = None, {}
        for item in iter_pages(path):
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
        steps: list = [WikitextToText()]
        if cfg.min_chars:
            steps.append(MinChars(cfg.min_chars))
        steps.append(LatestRevision(self.name))
        return steps


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

    name_ = "latest_revision"

    def expand(self, docs) -> StepOutputs:
        verdicts = (docs
                    | "ById" >> beam.Map(lambda d: (d["id"], d))
                    | "GroupById" >> beam.GroupByKey()
                    | "Latest" >> beam.FlatMap(lambda kv: latest_revision(kv[1])))
        return decide(verdicts, self.source, self.step_name)


SOURCE = Wikipedia()


# ---------------------------------------------------------------------------- reference URLs

REFERENCE_STEP = "reference_urls"


class _ArticleTexts(beam.DoFn):
    """path -> wikitext of each namespace-0, non-redirect page of a dump in ``languages``."""

    def __init__(self, languages: Sequence[str] | None):
        self.languages = list(languages) if languages is not None else None

    def setup(self):
        self.pages = Metrics.counter(NAMESPACE, counter_name("wikipedia", REFERENCE_STEP, "pages"))
        self.skipped = Metrics.counter(NAMESPACE, counter_name("wikipedia", REFERENCE_STEP, "skipped_files"))

    def process(self, path: str):
        for item in iter_pages(path):
            if isinstance(item, SiteInfo):
                if refusal(item, self.languages) is not None:
                    self.skipped.inc()
                    return
            elif isinstance(item, Page):
                if item.ns == ARTICLE_NS and not item.is_redirect:
                    self.pages.inc()
                    yield item.text
            else:
                Metrics.counter(NAMESPACE, counter_name("wikipedia", REFERENCE_STEP, f"error:{item.kind}")).inc()


class _NormalizedReferenceUrls(beam.DoFn):
    def setup(self):
        self.urls = Metrics.counter(NAMESPACE, counter_name("wikipedia", REFERENCE_STEP, "urls"))
        self.errors = Metrics.counter(NAMESPACE, counter_name("wikipedia", REFERENCE_STEP, "error:unparsable_wikitext"))

    def process(self, wikitext: str):
        try:
            urls = reference_urls(wikitext)
        except WikitextError:
            self.errors.inc()
            return
        for url in urls:
            key = normalize_url(url)
            if key:
                self.urls.inc()
                yield key


class ReferenceUrls(beam.PTransform):
    """``pipeline root -> PCollection[str]``: distinct normalised URLs cited by the articles of
    the dumps at ``paths`` whose language is in ``languages`` (None: all). See the module
    docstring for the exact call."""

    def __init__(self, paths: Sequence[str], languages: Sequence[str] | None = None):
        super().__init__()
        self.paths, self.languages = list(paths), (list(languages) if languages is not None else None)

    def expand(self, pbegin):
        return (pbegin
                | "Dumps" >> beam.Create(self.paths)
                | "FanOut" >> beam.Reshuffle()
                | "Articles" >> beam.ParDo(_ArticleTexts(self.languages))
                | "Spread" >> beam.Reshuffle()  # parsing is the cost: spread one dump's pages over workers
                | "Urls" >> beam.ParDo(_NormalizedReferenceUrls())
                | "Distinct" >> beam.Distinct())
