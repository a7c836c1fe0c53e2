"""``llamacorpus validate-shards DIR``: check a shard directory against its manifest.

For every shard of both splits: the files exist and their sha256 match the manifest; the ``.idx``
follows Megatron's format (magic, version, dtype code = the manifest dtype, pointers the running
sum of the lengths, document indices ``0..n``) and its lengths add up to the ``.bin`` size; every
id is below the vocabulary size; each document starts with BOS and ends with EOS when the
manifest says they were added; the per-document sources array has one entry per document, each a
valid index, and the per-source counts it gives equal the manifest's. Totals per split and per
source equal the manifest's, and the tokenizer copy has the manifest's hash. Exit status 0 when
everything holds, 1 otherwise (each problem printed).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys

import numpy

from llamacorpus.tokenize.megatron import IndexedDataset, ShardFormatError, load_manifest, sources_path

CHUNK = 1 << 24


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def check_shard(root: str, entry: dict, manifest: dict) -> tuple[list[str], dict[str, int], dict[str, int]]:
    """Problems with one shard, and its per-source token and document counts."""
    prefix = os.path.join(root, entry["prefix"])
    name = entry["prefix"]
    problems = []
    paths = {"sha256_bin": prefix + ".bin", "sha256_idx": prefix + ".idx", "sha256_sources": sources_path(prefix)}
    for key, path in paths.items():
        if not os.path.exists(path):
            return [f"{name}: {os.path.basename(path)} is missing"], {}, {}
        if file_sha256(path) != entry[key]:
            problems.append(f"{name}: {os.path.basename(path)} checksum differs from the manifest")
    try:
        ds = IndexedDataset(prefix)
    except (ShardFormatError, ValueError) as exc:
        return problems + [f"{name}: {exc}"], {}, {}
    if ds.dtype.name != manifest["dtype"]:
        problems.append(f"{name}: dtype {ds.dtype} in the .idx, manifest says {manifest['dtype']}")
    sizes = ds.sizes.astype(numpy.int64)
    expected_pointers = numpy.concatenate([[0], numpy.cumsum(sizes[:-1])]) * ds.dtype.itemsize if len(sizes) else sizes
    if not numpy.array_equal(ds.pointers, expected_pointers):
        problems.append(f"{name}: .idx pointers are not the running sum of the sequence lengths")
    if not numpy.array_equal(ds.document_indices, numpy.arange(len(sizes) + 1)):
        problems.append(f"{name}: .idx document indices are not 0..{len(sizes)} (one sequence per document)")
    if int(sizes.sum()) != ds.num_tokens:
        problems.append(f"{name}: .idx lengths add up to {int(sizes.sum())} tokens, .bin holds {ds.num_tokens}")
    if (ds.tokens.max() if ds.num_tokens else 0) >= manifest["vocab_size"]:
        problems.append(f"{name}: token id {int(ds.tokens.max())} >= vocab_size {manifest['vocab_size']}")
    starts = ds.pointers // ds.dtype.itemsize
    nonempty = sizes > 0
    if len(sizes) and not nonempty.all() and (manifest["add_bos"] or manifest["add_eos"]):
        problems.append(f"{name}: {int((~nonempty).sum())} empty documents although BOS/EOS are added")
    if manifest["add_bos"] and len(sizes) and (ds.tokens[starts[nonempty]] != manifest["bos_id"]).any():
        problems.append(f"{name}: a document does not start with BOS {manifest['bos_id']}")
    if manifest["add_eos"] and len(sizes) and (ds.tokens[(starts + sizes - 1)[nonempty]] != manifest["eos_id"]).any():
        problems.append(f"{name}: a document does not end with EOS {manifest['eos_id']}")
    if (len(ds), ds.num_tokens) != (entry["documents"], entry["tokens"]):
        problems.append(f"{name}: {len(ds)} documents / {ds.num_tokens} tokens, manifest says "
                        f"{entry['documents']} / {entry['tokens']}")
    sources = numpy.load(sources_path(prefix))
    names = manifest["sources"]
    if len(sources) != len(ds):
        problems.append(f"{name}: {len(sources)} source indices for {len(ds)} documents")
        return problems, {}, {}
    if len(sources) and int(sources.max()) >= len(names):
        problems.append(f"{name}: source index {int(sources.max())} outside the manifest's {len(names)} sources")
        return problems, {}, {}
    tokens = numpy.bincount(sources, weights=sizes, minlength=len(names)).astype(numpy.int64)
    docs = numpy.bincount(sources, minlength=len(names))
    by_tokens = {s: int(n) for s, n in zip(names, tokens) if n}
    by_docs = {s: int(n) for s, n in zip(names, docs) if n}
    if by_tokens != entry["source_tokens"] or by_docs != entry["source_documents"]:
        problems.append(f"{name}: per-source counts {by_tokens} differ from the manifest's {entry['source_tokens']}")
    return problems, by_tokens, by_docs


def validate(shard_dir: str) -> tuple[list[str], dict]:
    """(problems, summary) of a shard directory."""
    manifest = load_manifest(shard_dir)
    problems = []
    tokenizer = os.path.join(shard_dir, manifest["tokenizer"])
    if not os.path.exists(tokenizer):
        problems.append(f"{manifest['tokenizer']} is missing")
    elif file_sha256(tokenizer) != manifest["tokenizer_sha256"]:
        problems.append(f"{manifest['tokenizer']}: sha256 differs from the manifest's tokenizer_sha256")
    summary = {}
    for split, part in (("train", manifest), ("validation", manifest["validation"])):
        tokens: dict[str, int] = {}
        docs: dict[str, int] = {}
        for entry in part["shards"]:
            found, by_tokens, by_docs = check_shard(shard_dir, entry, manifest)
            problems += found
            for s, n in by_tokens.items():
                tokens[s] = tokens.get(s, 0) + n
            for s, n in by_docs.items():
                docs[s] = docs.get(s, 0) + n
        total = sum(tokens.values())
        if not problems and (tokens != part["source_tokens"] or docs != part["source_documents"]
                             or total != part["tokens"] or sum(docs.values()) != part["documents"]):
            problems.append(f"{split}: shard totals ({total} tokens, {sum(docs.values())} documents) differ "
                            f"from the manifest ({part['tokens']}, {part['documents']})")
        summary[split] = {"shards": len(part["shards"]), "tokens": total, "documents": sum(docs.values()),
                          "source_tokens": tokens}
    return problems, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llamacorpus validate-shards",
                                     description="Check Megatron shards and manifest.json (" + __doc__.split("\n")[0] + ")")
    parser.add_argument("directory", help="the shard directory (<output>/shards)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        problems, summary = validate(args.directory)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        print(f"validate-shards: {args.directory}: {exc}", file=sys.stderr)
        return 1
    for split, s in summary.items():
        print(f"{split}: {s['shards']} shards, {s['documents']:,} documents, {s['tokens']:,} tokens "
              f"({', '.join(f'{k} {v:,}' for k, v in s['source_tokens'].items()) or '-'})")
    for problem in problems:
        print(f"FAIL {problem}")
    print("shards valid" if not problems else f"{len(problems)} problem(s)")
    return 0 if not problems else 1
