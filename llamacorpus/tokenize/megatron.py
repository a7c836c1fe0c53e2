"""Megatron-LM's indexed dataset format (``megatron/core/datasets/indexed_dataset.py``), written and
read without Megatron or torch.

A dataset is two files sharing a prefix:

``<prefix>.bin``
    the token ids of every sequence, back to back, in one numpy dtype (little endian).
``<prefix>.idx``
    ``MMIDIDX\\x00\\x00`` (9 bytes), ``<Q`` version 1, ``<B`` dtype code (:data:`DTYPE_CODES`),
    ``<Q`` sequence count, ``<Q`` document-index count, then int32 sequence lengths, int64 byte
    pointers into ``.bin`` and int64 document indices (``[0, 1, ..., n]`` here: one sequence is one
    document, so the count in the header is ``n + 1``, as Megatron's builder writes it).

:class:`IndexedDatasetWriter` streams documents into ``.bin`` under a temporary name and renames
both files into place on :meth:`~IndexedDatasetWriter.finalize`, so a reader never sees half a
shard. :class:`IndexedDataset` maps them read-only with numpy. :func:`load_manifest` reads the
``manifest.json`` that the shard stage writes beside the shards (layout in
:mod:`llamacorpus.tokenize.shards`).
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import uuid
from array import array
from typing import Iterator

import numpy

from llamacorpus import fileio

INDEX_HEADER = b"MMIDIDX\x00\x00"
INDEX_VERSION = 1
#: numpy dtype name -> Megatron's DType code
DTYPE_CODES = {"uint8": 1, "int8": 2, "int16": 3, "int32": 4, "int64": 5, "float64": 6, "float32": 7,
               "uint16": 8}
CODE_DTYPES = {code: numpy.dtype(name) for name, code in DTYPE_CODES.items()}
#: bytes before the arrays: magic + version + dtype code + sequence count + document count
HEADER_SIZE = len(INDEX_HEADER) + 8 + 1 + 8 + 8
MANIFEST_NAME = "manifest.json"


class ShardFormatError(ValueError):
    """A ``.idx``/``.bin`` pair that does not follow the format."""


def token_dtype(vocab_size: int) -> numpy.dtype:
    """The narrowest dtype for ids below ``vocab_size``: uint16 below 65,536, else int32."""
    return numpy.dtype(numpy.uint16) if vocab_size <= 65536 else numpy.dtype(numpy.int32)


def _dtype(dtype) -> numpy.dtype:
    dtype = numpy.dtype(dtype)
    if dtype.name not in DTYPE_CODES:
        raise ValueError(f"dtype {dtype} has no Megatron code (codes: {DTYPE_CODES})")
    return dtype


def encode_index(sizes, dtype) -> bytes:
    """The bytes of a ``.idx`` file for sequences of ``sizes`` tokens, one document each."""
    dtype = _dtype(dtype)
    sizes = numpy.asarray(sizes, dtype=numpy.int32)
    pointers = numpy.zeros(len(sizes), dtype=numpy.int64)
    if len(sizes):
        numpy.cumsum(sizes[:-1].astype(numpy.int64) * dtype.itemsize, out=pointers[1:])
    document_indices = numpy.arange(len(sizes) + 1, dtype=numpy.int64)
    header = (INDEX_HEADER + struct.pack("<Q", INDEX_VERSION) + struct.pack("<B", DTYPE_CODES[dtype.name])
              + struct.pack("<Q", len(sizes)) + struct.pack("<Q", len(document_indices)))
    return header + sizes.astype("<i4").tobytes() + pointers.astype("<i8").tobytes() \
        + document_indices.astype("<i8").tobytes()


class IndexedDatasetWriter:
    """Writes ``prefix.bin`` and ``prefix.idx``; one :meth:`add_document` call is one sequence and one
    document. Nothing appears under the final names before :meth:`finalize`.

    After finalize: ``tokens``, ``documents``, ``sha256_bin``, ``sha256_idx`` describe what was
    written (the manifest's per-shard entry). Works on any path Beam's FileSystems reaches.
    """

    def __init__(self, prefix: str, dtype=numpy.uint16):
        self.prefix = prefix
        self.dtype = _dtype(dtype)
        self._info = numpy.iinfo(self.dtype) if self.dtype.kind in "iu" else None
        self._sizes = array("i")
        self._bin_hash = hashlib.sha256()
        self.tokens = 0
        self.sha256_bin = self.sha256_idx = ""
        self._tmp = f".tmp-{uuid.uuid4().hex[:8]}"
        parent = prefix.rsplit("/", 1)[0] if "/" in prefix else "."
        fileio.makedirs(parent)
        self._bin = fileio.create(prefix + ".bin" + self._tmp)
        self._finalized = False

    @property
    def documents(self) -> int:
        return len(self._sizes)

    def add_document(self, tokens) -> None:
        if self._finalized:
            raise RuntimeError(f"{self.prefix}: add_document after finalize")
        arr = numpy.asarray(tokens)
        if arr.ndim != 1:
            raise ValueError(f"{self.prefix}: a document is a 1-d sequence of ids, got shape {arr.shape}")
        if len(arr) >= 2**31:
            raise ValueError(f"{self.prefix}: a sequence of {len(arr)} tokens does not fit Megatron's int32 lengths")
        if self._info is not None and len(arr) and (arr.min() < self._info.min or arr.max() > self._info.max):
            raise ValueError(f"{self.prefix}: ids [{arr.min()}, {arr.max()}] do not fit {self.dtype}")
        data = arr.astype(self.dtype.newbyteorder("<"), copy=False).tobytes()
        self._bin.write(data)
        self._bin_hash.update(data)
        self._sizes.append(len(arr))
        self.tokens += len(arr)

    def finalize(self) -> None:
        if self._finalized:
            return
        self._bin.close()
        index = encode_index(numpy.frombuffer(self._sizes, dtype=numpy.int32) if self._sizes else [], self.dtype)
        with fileio.create(self.prefix + ".idx" + self._tmp) as f:
            f.write(index)
        self.sha256_bin = self._bin_hash.hexdigest()
        self.sha256_idx = hashlib.sha256(index).hexdigest()
        for ext in (".bin", ".idx"):
            fileio.rename(self.prefix + ext + self._tmp, self.prefix + ext)
        self._finalized = True

    def __enter__(self) -> "IndexedDatasetWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.finalize()
        elif not self._finalized:
            self._bin.close()


def read_index_header(data: bytes) -> tuple[numpy.dtype, int, int]:
    """``(dtype, sequence count, document-index count)`` from the first bytes of a ``.idx`` file."""
    if len(data) < HEADER_SIZE or data[:len(INDEX_HEADER)] != INDEX_HEADER:
        raise ShardFormatError("not a Megatron index: bad magic (expected MMIDIDX\\x00\\x00)")
    offset = len(INDEX_HEADER)
    (version,) = struct.unpack_from("<Q", data, offset)
    if version != INDEX_VERSION:
        raise ShardFormatError(f"index version {version}, expected {INDEX_VERSION}")
    (code,) = struct.unpack_from("<B", data, offset + 8)
    if code not in CODE_DTYPES:
        raise ShardFormatError(f"unknown dtype code {code}")
    sequences, documents = struct.unpack_from("<QQ", data, offset + 9)
    return CODE_DTYPES[code], sequences, documents


class IndexedDataset:
    """A Megatron dataset mapped read-only: ``ds[i]`` is sequence ``i`` as a numpy view.

    ``sizes`` (int32 tokens per sequence), ``pointers`` (int64 byte offsets), ``document_indices``
    (int64, ``len(documents) + 1``), ``dtype``, and ``tokens``: the whole ``.bin`` as one flat array,
    for fixed-length windows across document boundaries (:meth:`windows`). Local paths only.
    """

    def __init__(self, prefix: str):
        self.prefix = prefix
        with open(prefix + ".idx", "rb") as f:
            index = f.read()
        self.dtype, count, doc_count = read_index_header(index)
        need = HEADER_SIZE + count * (4 + 8) + doc_count * 8
        if len(index) < need:
            raise ShardFormatError(f"{prefix}.idx: {len(index)} bytes, its header announces {need}")
        self.sizes = numpy.frombuffer(index, dtype="<i4", count=count, offset=HEADER_SIZE)
        self.pointers = numpy.frombuffer(index, dtype="<i8", count=count, offset=HEADER_SIZE + 4 * count)
        self.document_indices = numpy.frombuffer(index, dtype="<i8", count=doc_count,
                                                 offset=HEADER_SIZE + 12 * count)
        bin_size = os.path.getsize(prefix + ".bin")
        if bin_size % self.dtype.itemsize:
            raise ShardFormatError(f"{prefix}.bin: {bin_size} bytes is not a whole number of {self.dtype}")
        self.tokens = (numpy.memmap(prefix + ".bin", dtype=self.dtype.newbyteorder("<"), mode="r")
                       if bin_size else numpy.zeros(0, dtype=self.dtype))

    def __len__(self) -> int:
        return len(self.sizes)

    @property
    def num_tokens(self) -> int:
        return len(self.tokens)

    def __getitem__(self, i: int) -> numpy.ndarray:
        return self.get(i)

    def get(self, i: int, offset: int = 0, length: int | None = None) -> numpy.ndarray:
        """Tokens ``offset:offset+length`` of sequence ``i`` (to its end when ``length`` is None)."""
        n = len(self.sizes)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"sequence {i} out of range ({n} sequences)")
        size = int(self.sizes[i])
        if not 0 <= offset <= size:
            raise IndexError(f"offset {offset} outside sequence {i} of {size} tokens")
        end = size if length is None else min(size, offset + length)
        start = int(self.pointers[i]) // self.dtype.itemsize
        return self.tokens[start + offset:start + end]

    def __iter__(self) -> Iterator[numpy.ndarray]:
        for i in range(len(self)):
            yield self.get(i)

    def windows(self, length: int, drop_last: bool = True) -> Iterator[numpy.ndarray]:
        """Consecutive ``length``-token windows over the concatenated sequences (the trainer's view)."""
        if length <= 0:
            raise ValueError("window length must be > 0")
        stop = len(self.tokens) - (len(self.tokens) % length if drop_last else 0)
        for start in range(0, stop, length):
            yield self.tokens[start:start + length]


def load_manifest(shard_dir: str) -> dict:
    """The ``manifest.json`` of a shard directory (``<output>/shards``)::

        <output>/shards/manifest.json
        <output>/shards/tokenizer.model               the model the shards were encoded with
        <output>/shards/hf_tokenizer/                 the same for Hugging Face's AutoTokenizer
        <output>/shards/shard-00000.{bin,idx}         training shards (Megatron format)
        <output>/shards/shard-00000.sources.npy       uint8 per document: index into "sources"
        <output>/shards/validation/shard-00000.*      held-out documents, same layout

        {"format": "megatron-indexed-dataset", "recipe_hash": "<recipe.digest()>",
         "tokenizer": "tokenizer.model", "tokenizer_sha256": "...", "vocab_size": 32000,
         "dtype": "uint16", "bos_id": 1, "eos_id": 2, "add_bos": true, "add_eos": true,
         "domain_tags": "" | "source" | "domain", "tags": {"<tag piece>": id, ...},
         "hf_tokenizer": "hf_tokenizer",
         "units": {"chunk_tokens": 2048, "documents": n, "units": n, "rule": "..."},  # one sequence
                                                         # per document, or per chunk of a long one
         "sources": ["c4", "wikipedia", ...],            # index -> name (the .sources.npy values)
         "tokens": ..., "documents": <sequences>, "source_tokens": {name: n}, "source_documents": {name: n},
         "shards": [{"prefix": "shard-00000", "tokens": n, "documents": n,
                     "sha256_bin": "...", "sha256_idx": "...", "sha256_sources": "..."}, ...],
         "validation": {"fraction": f, "min_documents": m, "tokens": ..., "documents": ...,
                        "source_tokens": {...}, "source_documents": {...},
                        "shards": [{"prefix": "validation/shard-00000", ...}, ...]}}

    Shard prefixes are relative to ``shard_dir``; :func:`open_shards` opens them.
    """
    path = shard_dir.rstrip("/") + "/" + MANIFEST_NAME
    try:
        return json.loads(fileio.read_bytes(path))
    except (FileNotFoundError, OSError) as exc:
        raise FileNotFoundError(f"no shard manifest at {path} ({exc})") from None


def sources_path(prefix: str) -> str:
    """The per-document source index array written beside a shard."""
    return prefix + ".sources.npy"


def open_shards(shard_dir: str, split: str = "train") -> Iterator[tuple[dict, IndexedDataset, numpy.ndarray]]:
    """``(manifest entry, dataset, per-document source indices)`` of every shard of a split
    ("train" or "validation"), in manifest order."""
    manifest = load_manifest(shard_dir)
    if split not in ("train", "validation"):
        raise ValueError(f"split is train or validation, got {split!r}")
    entries = manifest["shards"] if split == "train" else manifest.get("validation", {}).get("shards", [])
    for entry in entries:
        prefix = shard_dir.rstrip("/") + "/" + entry["prefix"]
        yield entry, IndexedDataset(prefix), numpy.load(sources_path(prefix))
