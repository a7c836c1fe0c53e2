"""Per-core throughput of the arXiv and Stack Exchange stages, without Beam, on the real fixtures.

* Stack Exchange: Posts.xml rows read and parsed (one lxml parse per row line), from the plain
  file and from a .7z built here with py7zr; post bodies from HTML to text; threads assembled.
* arXiv: the six fixture papers read from their directories (files, main file, \\input) and
  cleaned (comments, cut, macro expansion), in papers/s and MB of LaTeX/s.

    /work/venv/bin/python bench/bench_arxiv_stackexchange.py [REPEATS]
"""
from __future__ import annotations

import collections
import sys
import tempfile
import time
from pathlib import Path

import py7zr

from llamacorpus.steps.clean.html_text import html_to_text
from llamacorpus.steps.clean.latex import LatexCleaner
from llamacorpus.sources.arxiv import SOURCE as ARXIV, ArxivConfig
from llamacorpus.sources.stackexchange import SOURCE as SE, StackExchangeConfig
from llamacorpus.steps.clean.threads import assemble_thread

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
BEER = FIXTURES / "stackexchange" / "beer.stackexchange.com-Posts.xml"


def timed(label: str, unit: str, count: int, seconds: float, extra: str = "") -> None:
    print(f"{label:<38} {count / seconds:>10,.0f} {unit}/s  ({count} in {seconds:.2f}s){extra}")


def bench_stackexchange(repeats: int) -> None:
    cfg = StackExchangeConfig()
    started = time.perf_counter()
    posts = []
    for _ in range(repeats):
        posts = [p for p in SE.read(cfg, str(BEER)) if isinstance(p, dict)]
    timed("stackexchange read Posts.xml", "rows", 2354 * repeats, time.perf_counter() - started)

    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "beer.stackexchange.com.7z"
        with py7zr.SevenZipFile(archive, "w") as z:
            z.write(BEER, "Posts.xml")
        started = time.perf_counter()
        for _ in range(repeats):
            n = sum(1 for _ in SE.read(cfg, str(archive)))
        timed("stackexchange read .7z (py7zr stream)", "rows", n * repeats, time.perf_counter() - started)

    started = time.perf_counter()
    chars = 0
    for _ in range(repeats):
        texts = [{**p, "text": html_to_text(p["text"])} for p in posts]
        chars += sum(len(p["text"]) for p in posts)
    seconds = time.perf_counter() - started
    timed("stackexchange html_to_text", "posts", len(posts) * repeats, seconds,
          f"  {chars / seconds / 1e6:.1f} MB HTML/s")

    groups = collections.defaultdict(list)
    for p in texts:
        groups[(p["meta"]["site"], p["meta"]["question_id"])].append(p)
    started = time.perf_counter()
    for _ in range(repeats):
        for key, group in groups.items():
            list(assemble_thread((key, group)))
    timed("stackexchange assemble threads", "posts", len(texts) * repeats, time.perf_counter() - started)


def bench_arxiv(repeats: int) -> None:
    cfg = ArxivConfig()
    dirs = sorted(f"{p}/" for p in (FIXTURES / "arxiv").iterdir() if p.is_dir())
    started = time.perf_counter()
    docs = []
    for _ in range(repeats):
        docs = [d for path in dirs for d in ARXIV.read(cfg, path) if isinstance(d, dict)]
    timed("arxiv read directories", "papers", len(docs) * repeats, time.perf_counter() - started)
    cleaner = LatexCleaner(cfg.macro_limits())
    size = sum(len(d["text"]) for d in docs)
    started = time.perf_counter()
    for _ in range(repeats):
        for d in docs:
            cleaner.map(d)
    seconds = time.perf_counter() - started
    timed("arxiv latex_clean", "papers", len(docs) * repeats, seconds,
          f"  {size * repeats / seconds / 1e6:.2f} MB LaTeX/s")


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    bench_stackexchange(repeats)
    bench_arxiv(repeats)
    print(f"rerun: /work/venv/bin/python bench/bench_arxiv_stackexchange.py {repeats}")


if __name__ == "__main__":
    main()
