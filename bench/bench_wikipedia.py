"""Wikipedia source speed on one core, on the real English fixture dump (106 articles, 5.7 MB of
wikitext; 2016 revisions, long and reference-heavy).

Measures, in process CPU seconds (the machine may be shared):
  1. the dump reader alone (bz2 + page cutting + lxml per page): pages/s and MB/s of XML;
  2. mwparserfromhell.parse on the raw wikitext: the library's own limit;
  3. the WikitextToText step (pre-strip, one parse, render, tidy): docs/s and MB/s of wikitext,
     and its ratio to (2);
  4. reference_urls (each <ref> parsed alone, the rest of a page only when it has a url= parameter).

    /work/venv/bin/python bench/bench_wikipedia.py [repeats]
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import mwparserfromhell

from llamacorpus.steps.clean.wikitext import WikitextToText, reference_urls
from llamacorpus.sources.wikipedia import SOURCE, WikipediaConfig
from llamacorpus.sources.wikipedia.dump import Page, iter_pages

DUMP = Path(__file__).resolve().parent.parent / "tests/fixtures/wikipedia/enwiki-pages-articles1-shortened.xml.bz2"


def cpu(fn, repeats: int) -> float:
    start = time.process_time()
    for _ in range(repeats):
        fn()
    return (time.process_time() - start) / repeats


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    pages = [p for p in iter_pages(str(DUMP)) if isinstance(p, Page)]
    xml_mb = sum(len(p.text.encode()) for p in pages) / 1e6
    docs = [d for d in SOURCE.read(WikipediaConfig(), str(DUMP)) if isinstance(d, dict)]
    wikitext_mb = sum(len(d["text"].encode()) for d in docs) / 1e6
    step = WikitextToText()

    read = cpu(lambda: list(iter_pages(str(DUMP))), repeats)
    parse = cpu(lambda: [mwparserfromhell.parse(d["text"]) for d in docs], repeats)
    clean = cpu(lambda: [step.map(d) for d in docs], repeats)
    refs = cpu(lambda: [reference_urls(d["text"]) for d in docs], repeats)

    print(f"dump: {DUMP.name}: {len(pages)} pages, {len(docs)} articles, {wikitext_mb:.1f} MB of article wikitext")
    print(f"reader (bz2 + lxml per page):      {len(pages) / read:8.0f} pages/s  {xml_mb / read:6.1f} MB/s of page text")
    print(f"mwparserfromhell.parse (limit):    {len(docs) / parse:8.1f} docs/s   {wikitext_mb / parse:6.2f} MB/s")
    print(f"WikitextToText step:               {len(docs) / clean:8.1f} docs/s   {wikitext_mb / clean:6.2f} MB/s"
          f"  ({parse / clean:.2f}x the bare parse)")
    print(f"reference_urls:                    {len(docs) / refs:8.1f} docs/s   {wikitext_mb / refs:6.2f} MB/s")
    print(f"rerun: /work/venv/bin/python bench/bench_wikipedia.py {repeats}")


if __name__ == "__main__":
    main()
