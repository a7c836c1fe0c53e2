"""What reading one big input in pieces costs beside one worker reading it whole, in one process.

For each splittable format, on the real fixtures copied ``factor`` times into one file (built
under a temporary directory at run time):

  * Wikipedia: a multistream dump (bz2 streams of 100 pages, and its index) from the English
    fixture dump;
  * Stack Exchange: beer.stackexchange.com's Posts.xml;
  * C4: the fixture shard, uncompressed (JSONL).

it measures, in process CPU seconds (the machine may be shared), the serial read, the planning
(``splits``: the index and the head stream for Wikipedia), the line-count pass (``count_lines``
of every piece, which the adapter runs in parallel) and the reads of every piece, alternating
serial and pieces ``repeats`` times and printing medians, and the total cost of the pieces over
the serial read. The pieces' work is spread over the workers; only the plan runs on one.

    python bench/bench_splits.py [factor] [split_bytes] [repeats]
"""
from __future__ import annotations

import bz2
import gzip
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from test_splits import make_multistream  # noqa: E402  (the fixture dump, laid out as Wikimedia's)

from llamacorpus import fileio  # noqa: E402
from llamacorpus.sources.c4 import SOURCE as C4, C4Config  # noqa: E402
from llamacorpus.sources.stackexchange import SOURCE as SE, StackExchangeConfig  # noqa: E402
from llamacorpus.sources.wikipedia import SOURCE as WIKI, WikipediaConfig  # noqa: E402
from llamacorpus.steps.adapter import number_pieces  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"


def cpu(fn):
    start = time.process_time()
    out = fn()
    return time.process_time() - start, out


def inputs(directory: Path, factor: int) -> dict:
    xml = bz2.decompress((FIXTURES / "wikipedia" / "enwiki-pages-articles1-shortened.xml.bz2").read_bytes())
    head, body = xml[: xml.index(b"  <page>")], xml[xml.index(b"  <page>"): xml.rindex(b"</mediawiki>")]
    big = directory / "enwiki-big.xml.bz2"
    big.write_bytes(bz2.compress(head + body * factor + b"</mediawiki>\n"))
    wiki = make_multistream(big, directory)
    posts = directory / "beer.stackexchange.com-Posts.xml"
    rows = (FIXTURES / "stackexchange" / "beer.stackexchange.com-Posts.xml").read_bytes().splitlines(keepends=True)
    posts.write_bytes(b"".join(rows[:2] + rows[2:-1] * factor + rows[-1:]))
    c4 = directory / "c4-big.json"
    c4.write_bytes(gzip.decompress((FIXTURES / "c4" / "c4-en-train.00000-of-01024.first1000.json.gz").read_bytes())
                   * factor)
    return {"wikipedia": (WIKI, WikipediaConfig, wiki), "stackexchange": (SE, StackExchangeConfig, posts),
            "c4": (C4, C4Config, c4)}


def measure(source, cfg, path: Path, staging: Path) -> tuple[float, float, float, float, int]:
    """(serial, plan, count, pieces) CPU seconds and the number of pieces, once."""
    serial_s, serial = cpu(lambda: sum(1 for _ in source.read(cfg, str(path))))
    plan_s, pieces = cpu(lambda: source.splits(cfg, str(path), fileio.size(str(path)), str(staging)))
    count_s, counted = cpu(lambda: [(p, source.count_lines(cfg, p) if p.first_line is None else None)
                                    for p in pieces])
    numbered = list(number_pieces((str(path), counted)))
    read_s, n = cpu(lambda: sum(1 for p in numbered for _ in source.read_split(cfg, p)))
    assert n == serial, (path, n, serial)
    return serial_s, plan_s, count_s, read_s, len(pieces)


def main() -> None:
    factor = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    split_bytes = int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 20
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    directory = Path(tempfile.mkdtemp(prefix="bench-splits-"))
    try:
        print(f"factor {factor}, split_bytes {split_bytes}, medians of {repeats}")
        print(f"{'source':14} {'MB':>7} {'pieces':>6} {'serial s':>9} {'plan s':>7} {'count s':>8} {'pieces s':>9} "
              f"{'pieces/serial':>13}")
        for name, (source, config, path) in inputs(directory, factor).items():
            runs = [measure(source, config(split_bytes=split_bytes), path, directory) for _ in range(repeats)]
            serial_s, plan_s, count_s, read_s = (statistics.median(r[i] for r in runs) for i in range(4))
            ratio = statistics.median((r[1] + r[2] + r[3]) / r[0] for r in runs)
            print(f"{name:14} {path.stat().st_size / 1e6:7.1f} {runs[0][4]:6d} {serial_s:9.2f} {plan_s:7.2f} "
                  f"{count_s:8.2f} {read_s:9.2f} {ratio:13.2f}")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
