"""The shard set: the validation hold-out, the two-level shuffle, writing one shard, and the
manifest (layout in :func:`llamacorpus.tokenize.megatron.load_manifest`).

* **Validation hold-out.** Per source, the ``k`` documents with the smallest
  ``stable_hash(id, "validation", seed)`` are held out, ``k = round(validation_fraction * n)``
  raised to ``validation_min_documents`` (but never above a fifth of the source, so a tiny source
  still trains) and lowered to ``validation_max_documents``. Exact counts, deterministic, and the
  statistics that decide it (:class:`SourceStats`) are a bounded combiner.
* **Two-level shuffle.** Every emitted copy of a unit (document or chunk, epoch) gets
  ``shuffle_key = stable_hash(id, chunk, epoch, shuffle_seed)``; level one assigns it to shard
  ``shuffle_key % n_shards`` (``n_shards`` from the planned tokens and ``tokens_per_shard``), level
  two sorts a shard's copies by ``(shuffle_key, id, chunk, epoch)`` in an external sort
  (:class:`~llamacorpus.tokenize.spill.SpillSort`: the token bytes go to local disk as they
  arrive, only keys and offsets are held) and writes them in that order. Sources interleave at
  random, and the order does not depend on how the runner delivers elements, so reruns write
  identical bytes.
* **Beside the shards**: ``tokenizer.model`` and ``hf_tokenizer/``, the folder Hugging Face
  transformers loads (:mod:`llamacorpus.tokenize.hf`), then ``manifest.json`` last.
"""
from __future__ import annotations

import dataclasses
import hashlib
import heapq
import io
import json
import math
from typing import Iterable

import numpy

from llamacorpus import fileio
from llamacorpus.config import Section
from llamacorpus.document import stable_hash
from llamacorpus.tokenize import hf
from llamacorpus.tokenize.megatron import MANIFEST_NAME, IndexedDatasetWriter, sources_path, token_dtype

VALIDATION_DIR = "validation"
FORMAT = "megatron-indexed-dataset"


@dataclasses.dataclass
class ShardsConfig(Section):
    tokens_per_shard: int = 100_000_000
    add_bos: bool = True
    add_eos: bool = True
    #: "" (off), "source" or "domain": prepend a per-source / per-URL-domain token to each document
    domain_tags: str = ""
    #: "domain" tags: the most frequent domains get their own token, the rest share one "other" tag
    domain_tag_count: int = 256
    #: salt of the shuffle hash (document id, epoch) that assigns shards and orders them, and of
    #: the validation hold-out hash
    shuffle_seed: int = 0
    #: fraction of each source's documents (by id hash) held out as validation shards
    validation_fraction: float = 0.01
    #: but at least this many per source (never more than a fifth of a source) ...
    validation_min_documents: int = 4
    #: ... and at most this many per source
    validation_max_documents: int = 10_000

    def check(self):
        self.require(self.tokens_per_shard > 0, "tokens_per_shard", "must be > 0")
        self.require(self.domain_tags in ("", "source", "domain"), "domain_tags",
                     f"must be '', 'source' or 'domain', got {self.domain_tags!r}")
        self.require(self.domain_tag_count > 0, "domain_tag_count", "must be > 0")
        self.require(0 <= self.validation_fraction < 1, "validation_fraction", "must be in [0, 1)")
        self.require(self.validation_min_documents >= 0, "validation_min_documents", "must be >= 0")
        self.require(self.validation_max_documents >= self.validation_min_documents, "validation_max_documents",
                     "must be >= validation_min_documents")


def validation_hash(doc_id: str, seed: int = 0) -> int:
    return stable_hash(doc_id, "validation", seed)


def shuffle_key(doc_id: str, chunk: int, epoch: int, seed: int = 0) -> int:
    return stable_hash(doc_id, chunk, epoch, seed)


class SourceStats:
    """A mergeable summary of one source's documents: count, characters, and the ``keep`` smallest
    validation hashes (enough to place the hold-out cut exactly)."""

    def __init__(self, keep: int):
        self.keep = keep
        self.documents = 0
        self.chars = 0
        self._heap: list[int] = []  # negated hashes: a max-heap of the smallest ones

    def add(self, chars: int, vhash: int) -> "SourceStats":
        self.documents += 1
        self.chars += chars
        if len(self._heap) < self.keep:
            heapq.heappush(self._heap, -vhash)
        elif self.keep and -self._heap[0] > vhash:
            heapq.heapreplace(self._heap, -vhash)
        return self

    def merge(self, other: "SourceStats") -> "SourceStats":
        self.documents += other.documents
        self.chars += other.chars
        for h in other._heap:
            if len(self._heap) < self.keep:
                heapq.heappush(self._heap, h)
            elif self.keep and h > self._heap[0]:
                heapq.heapreplace(self._heap, h)
        return self

    def smallest(self) -> list[int]:
        return sorted(-h for h in self._heap)


def split_input(doc: dict, seed: int) -> tuple[str, tuple[int, int]]:
    """What :class:`SourceStats` of a document's source takes: ``(source, (chars, validation hash))``."""
    return doc["source"], (len(doc["text"]), validation_hash(doc["id"], seed))


def split_info(stats: SourceStats, cfg: ShardsConfig) -> dict:
    """A source's figures for the hold-out: documents, characters and the validation-hash cut-off."""
    return {"documents": stats.documents, "chars": stats.chars, "cutoff": validation_cutoff(stats, cfg)}


def held_out(doc: dict, info: dict, seed: int) -> bool:
    """Whether ``doc`` is in its source's validation split (``info``: source -> :func:`split_info`)."""
    return validation_hash(doc["id"], seed) <= info[doc["source"]]["cutoff"]


def validation_count(documents: int, cfg: ShardsConfig) -> int:
    """How many of a source's ``documents`` are held out (``cfg``: the shards section)."""
    k = max(round(cfg.validation_fraction * documents), min(cfg.validation_min_documents, documents // 5))
    return min(k, cfg.validation_max_documents)


def validation_cutoff(stats: SourceStats, cfg: ShardsConfig) -> int:
    """Documents whose validation hash is at most this are held out (-1: none)."""
    k = validation_count(stats.documents, cfg)
    smallest = stats.smallest()
    return smallest[k - 1] if k else -1


def shard_count(tokens: float, tokens_per_shard: int) -> int:
    return max(1, math.ceil(tokens / tokens_per_shard))


def shard_prefix(split: str, index: int) -> str:
    name = f"shard-{index:05d}"
    return name if split == "train" else f"{VALIDATION_DIR}/{name}"


def write_shard(shard_dir: str, prefix: str, documents: Iterable[tuple[int, bytes]], dtype,
                sources: list[str]) -> dict:
    """Write ``<shard_dir>/<prefix>.bin/.idx/.sources.npy`` from ``(source index, token bytes)`` in
    order; returns the manifest entry."""
    path = f"{shard_dir.rstrip('/')}/{prefix}"
    dtype = numpy.dtype(dtype)
    source_of = []
    tokens_by_source = [0] * len(sources)
    writer = IndexedDatasetWriter(path, dtype)
    for source_index, data in documents:
        tokens = numpy.frombuffer(data, dtype=dtype)
        writer.add_document(tokens)
        source_of.append(source_index)
        tokens_by_source[source_index] += len(tokens)
    writer.finalize()
    buf = io.BytesIO()
    numpy.save(buf, numpy.asarray(source_of, dtype=numpy.uint8))
    fileio.atomic_write(sources_path(path), buf.getvalue())
    counts = numpy.bincount(numpy.asarray(source_of, dtype=numpy.int64), minlength=len(sources))
    return {"prefix": prefix, "tokens": writer.tokens, "documents": writer.documents,
            "sha256_bin": writer.sha256_bin, "sha256_idx": writer.sha256_idx,
            "sha256_sources": hashlib.sha256(buf.getvalue()).hexdigest(),
            "source_tokens": {s: n for s, n in zip(sources, tokens_by_source) if n},
            "source_documents": {s: int(n) for s, n in zip(sources, counts) if n}}


def split_summary(entries: list[dict]) -> dict:
    """Totals over a split's shard entries."""
    source_tokens: dict[str, int] = {}
    source_documents: dict[str, int] = {}
    for e in entries:
        for s, n in e["source_tokens"].items():
            source_tokens[s] = source_tokens.get(s, 0) + n
        for s, n in e["source_documents"].items():
            source_documents[s] = source_documents.get(s, 0) + n
    return {"tokens": sum(e["tokens"] for e in entries), "documents": sum(e["documents"] for e in entries),
            "source_tokens": dict(sorted(source_tokens.items())),
            "source_documents": dict(sorted(source_documents.items())),
            "shards": sorted(entries, key=lambda e: e["prefix"])}


def build_manifest(train: list[dict], validation: list[dict], sources: list[str], tokenizer: dict,
                   tag_ids: dict[str, int], shards_cfg: ShardsConfig, recipe_hash: str, units: dict) -> dict:
    """``tokenizer``: :func:`llamacorpus.tokenize.train.model_info` of the model; ``units``: how
    documents became the sequences of the shards (chunking)."""
    return {
        "format": FORMAT,
        "recipe_hash": recipe_hash,
        "tokenizer": "tokenizer.model",
        "tokenizer_sha256": tokenizer["sha256"],
        "vocab_size": tokenizer["vocab_size"],
        "dtype": token_dtype(tokenizer["vocab_size"]).name,
        "bos_id": tokenizer["bos_id"], "eos_id": tokenizer["eos_id"],
        "add_bos": shards_cfg.add_bos, "add_eos": shards_cfg.add_eos,
        "domain_tags": shards_cfg.domain_tags, "tags": dict(sorted(tag_ids.items())),
        "tokens_per_shard": shards_cfg.tokens_per_shard,
        "hf_tokenizer": hf.DIRECTORY,
        "units": units,
        "sources": list(sources),
        **split_summary(train),
        "validation": {"fraction": shards_cfg.validation_fraction,
                       "min_documents": shards_cfg.validation_min_documents,
                       "max_documents": shards_cfg.validation_max_documents,
                       **split_summary(validation)},
    }


def remove_stale(shard_dir: str, manifest: dict) -> list[str]:
    """Delete shard files of earlier runs that the manifest does not list (fewer shards now, or
    temporaries of an interrupted run); returns what was removed."""
    root = shard_dir.rstrip("/")
    keep = set()
    for e in [*manifest["shards"], *manifest["validation"]["shards"]]:
        base = f"{root}/{e['prefix']}"
        keep |= {base + ".bin", base + ".idx", sources_path(base)}
    stale = [p for d in (root, f"{root}/{VALIDATION_DIR}") for p in fileio.match_paths(f"{d}/shard-*") if p not in keep]
    if stale:
        fileio.delete(stale)
    return stale


def write_manifest(shard_dir: str, manifest: dict, model: bytes) -> str:
    """The tokenizer copy and its Hugging Face folder, then the manifest (last, so its presence
    means the set is complete)."""
    root = shard_dir.rstrip("/")
    fileio.atomic_write(f"{root}/{manifest['tokenizer']}", model)
    hf.write_folder(root, model, manifest["add_bos"], manifest["add_eos"])
    remove_stale(root, manifest)
    path = f"{root}/{MANIFEST_NAME}"
    fileio.atomic_write(path, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return path
