"""MinHash-128 signatures per second on one core, on real web pages (docs/architecture.md "Speed bars": library
limit 601 docs/s, datasketch update_batch; our bar 500 docs/s).

Measures, on the text of the real pages in tests/fixtures/commoncrawl/realpages-*.warc.wet.gz
(repeated to N documents):

  (a) datasketch as documented: word 5-gram strings, ``MinHash(num_perm=128).update_batch`` with
      its default SHA-1 hash, a new MinHash per document (the library limit);
  (b) llamacorpus.steps.dedup.near without Beam: ``shingle_hashes`` (xxh3 of the 5-grams,
      sorted unique) + ``Signer.signature`` (update_batch, affine64, permutations drawn once) +
      32 band keys, the per-document work of the near-dup step;
  (c) the same inside Beam: NearDedup's signature DoFn in the FnApiRunner with one worker, minus
      a pipeline that only creates the documents.

Times are CPU seconds of this process (``time.process_time``; the FnApiRunner with one worker runs
in-process), so other work on the machine does not inflate them.

    /work/venv/bin/python bench/bench_minhash.py [N]
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from datasketch import MinHash
from fastwarc.warc import ArchiveIterator, WarcRecordType

from llamacorpus.document import make_document
from llamacorpus.steps.dedup.near import NearDedupConfig, Signer, _Shingle, shingle_hashes, words

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "commoncrawl"
BAR = 500.0
LIBRARY_LIMIT = 601.0


def page_texts() -> list[str]:
    texts = []
    for path in sorted(FIXTURES.glob("realpages-*.warc.wet.gz")):
        with open(path, "rb") as f:
            for record in ArchiveIterator(f, record_types=WarcRecordType.conversion):
                texts.append(record.reader.read().decode("utf-8", "replace"))
    return texts


def documents(n: int, start: int = 0) -> list[dict]:
    texts = PAGES
    return [make_document("commoncrawl", f"bench/{i}", texts[i % len(texts)]) for i in range(start, start + n)]


def library(texts: list[str]) -> float:
    t = time.process_time()
    for text in texts:
        ws = words(text)
        m = MinHash(num_perm=128)
        m.update_batch([" ".join(ws[i:i + 5]).encode("utf-8") for i in range(max(1, len(ws) - 4))])
    return time.process_time() - t


def ours(texts: list[str]) -> float:
    signer = Signer(128, 32, 1)
    t = time.process_time()
    for text in texts:
        signer.band_keys(signer.signature(shingle_hashes(text, 5)))
    return time.process_time() - t


CHUNK = 500


def in_beam(n: int, with_signatures: bool) -> float:
    t = time.process_time()
    with beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(["--direct_num_workers", "1"])) as p:
        docs = (p | beam.Create(range(0, n, CHUNK), reshuffle=False)
                | beam.FlatMap(lambda start: documents(min(CHUNK, n - start), start)))
        if with_signatures:
            docs | beam.ParDo(_Shingle(NearDedupConfig())).with_outputs("bands", main="shingles")
    return time.process_time() - t


PAGES = page_texts()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    texts = [d["text"] for d in documents(n)]
    chars = sum(map(len, texts)) / n
    lib = n / library(texts)
    pure = n / ours(texts)
    empty = in_beam(n, False)
    beam_rate = n / (in_beam(n, True) - empty)
    print(f"documents: {n} ({len(PAGES)} real web pages repeated, {chars:.0f} chars/page on average), "
          "CPU time of one process")
    print(f"(a) datasketch MinHash-128, SHA-1, update_batch:   {lib:7.0f} docs/s   (library limit {LIBRARY_LIMIT:.0f})")
    print(f"(b) near_dedup signature + 32 band keys, no Beam:  {pure:7.0f} docs/s")
    print(f"(c) the same inside Beam (FnApiRunner, 1 worker):  {beam_rate:7.0f} docs/s   "
          f"bar {BAR:.0f}: {'met' if beam_rate >= BAR else 'NOT met'}")
    print("rerun: /work/venv/bin/python bench/bench_minhash.py", n)


if __name__ == "__main__":
    main()
