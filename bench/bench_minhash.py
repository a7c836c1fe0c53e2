"""MinHash-128 signatures per second on one core, on real web pages: the library alone beside our
step alone and our step inside Beam, on the same documents in the same run (docs/architecture.md
"Speed bars": library limit ~601 docs/s, datasketch update_batch; our bar inside Beam 500 docs/s).

Documents: the text of the 541 real pages in tests/fixtures/commoncrawl/realpages-*.warc.wet.gz,
repeated to N documents (distinct ids).

  (a) datasketch as documented: word 5-gram strings, ``MinHash(num_perm=128).update_batch`` with
      its default SHA-1 hash, a new MinHash per document (the library limit);
  (a1) datasketch's part of our step alone: ``update_batch`` of our precomputed 64-bit shingle
      hashes (affine64, identity hashfunc), to show what the library itself costs;
  (b) llamacorpus.steps.dedup.near without Beam: ``shingle_hashes`` (xxh3 per word, n-grams
      combined with numpy, sorted unique) + ``Signer.signature`` (update_batch, permutations drawn
      once) + 32 band keys: the per-document work of the step;
  (c) the same inside Beam, as NearDedup runs it: its ``_Sign`` DoFn in the FnApiRunner with one
      worker, its (band key, id) outputs written to the step's GroupByKey, minus a pipeline that
      only creates the same documents.

Times are CPU seconds of this process (``time.process_time``: the FnApiRunner with one worker runs
in-process, in threads), so other work on the machine does not inflate them; each figure is the
median of ``--repeats`` runs, interleaved. The load average is printed with them.

    python bench/bench_minhash.py [--docs N] [--repeats R]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Tuple

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from datasketch import MinHash
from fastwarc.warc import ArchiveIterator, WarcRecordType

from llamacorpus.document import make_document
from llamacorpus.steps.dedup.near import NearDedupConfig, Signer, _identity, _Sign, shingle_hashes, words

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "commoncrawl"
BAR = 500.0
LIBRARY_LIMIT = 601.0
CHUNK = 500  # documents made per Create element inside the pipelines


def page_texts() -> list[str]:
    texts = []
    for path in sorted(FIXTURES.glob("realpages-*.warc.wet.gz")):
        with open(path, "rb") as f:
            for record in ArchiveIterator(f, record_types=WarcRecordType.conversion):
                texts.append(record.reader.read().decode("utf-8", "replace"))
    return texts


PAGES = page_texts()


def documents(n: int, start: int = 0) -> list[dict]:
    return [make_document("commoncrawl", f"bench/{i}", PAGES[i % len(PAGES)]) for i in range(start, start + n)]


def library(texts: list[str]) -> float:
    t = time.process_time()
    for text in texts:
        ws = words(text)
        m = MinHash(num_perm=128)
        m.update_batch([" ".join(ws[i:i + 5]).encode("utf-8") for i in range(max(1, len(ws) - 4))])
    return time.process_time() - t


def library_update_only(hashes: list) -> float:
    empty = MinHash(num_perm=128, seed=1, hashfunc=_identity, scheme="affine64")
    t = time.process_time()
    for h in hashes:
        empty.copy().update_batch(h.tolist())
    return time.process_time() - t


def ours(texts: list[str]) -> float:
    signer = Signer(128, 32, 1)
    t = time.process_time()
    for text in texts:
        signer.band_keys(signer.signature(shingle_hashes(text, 5)))
    return time.process_time() - t


def in_beam(n: int, sign: bool) -> float:
    """CPU seconds of a pipeline that creates n documents and, when ``sign``, signs them with the
    step's DoFn and writes the band keys to a GroupByKey."""
    t = time.process_time()
    with beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(["--direct_num_workers", "1"])) as p:
        docs = (p | beam.Create(range(0, n, CHUNK), reshuffle=False)
                | beam.FlatMap(lambda start: documents(min(CHUNK, n - start), start)))
        if sign:
            (docs | beam.ParDo(_Sign(NearDedupConfig())).with_output_types(Tuple[int, str])
             | beam.GroupByKey() | beam.combiners.Count.Globally())
    return time.process_time() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n = args.docs
    texts = [d["text"] for d in documents(n)]
    hashes = [shingle_hashes(t, 5) for t in texts]
    runs: dict[str, list[float]] = {k: [] for k in ("a", "a1", "b", "c")}
    for _ in range(args.repeats):
        runs["a"].append(n / library(texts))
        runs["a1"].append(n / library_update_only(hashes))
        runs["b"].append(n / ours(texts))
        base = in_beam(n, False)
        runs["c"].append(n / (in_beam(n, True) - base))
    med = {k: statistics.median(v) for k, v in runs.items()}
    chars = sum(map(len, texts)) / n
    shingles = sum(map(len, hashes)) / n
    print(f"documents: {n} ({len(PAGES)} real web pages repeated; {chars:.0f} chars, {shingles:.0f} distinct "
          f"5-grams a page on average); CPU seconds of one process, median of {args.repeats}; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"(a)  datasketch MinHash-128, SHA-1 of 5-gram strings, update_batch: {med['a']:7.0f} docs/s"
          f"   (library limit {LIBRARY_LIMIT:.0f})")
    print(f"(a1) datasketch update_batch of our 64-bit shingle hashes alone:    {med['a1']:7.0f} docs/s")
    print(f"(b)  near_dedup shingles + signature + 32 band keys, no Beam:       {med['b']:7.0f} docs/s"
          f"   ({med['b'] / med['a']:.2f} x (a))")
    print(f"(c)  the same inside Beam (FnApiRunner, 1 worker, keys shuffled):   {med['c']:7.0f} docs/s"
          f"   ({med['c'] / med['a']:.2f} x (a), {med['c'] / med['b']:.2f} x (b)); "
          f"bar {BAR:.0f}: {'met' if med['c'] >= BAR else 'NOT met'}")
    print("runs:", {k: [round(x) for x in v] for k, v in runs.items()})
    print(f"rerun: python bench/bench_minhash.py --docs {n} --repeats {args.repeats}")


if __name__ == "__main__":
    main()
