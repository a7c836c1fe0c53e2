"""Megatron indexed dataset writer and reader (llamacorpus.tokenize.megatron)."""
import os
import struct

import numpy as np
import pytest

from llamacorpus.tokenize import megatron
from llamacorpus.tokenize.megatron import IndexedDataset, IndexedDatasetWriter, ShardFormatError

DOCS = [[1, 306, 626, 2], [1, 13, 2], [1, 65535, 0, 7, 2]]


def write(prefix, docs=DOCS, dtype=np.uint16):
    w = IndexedDatasetWriter(str(prefix), dtype=dtype)
    for d in docs:
        w.add_document(d)
    w.finalize()
    return w


def test_idx_header_bytes_follow_megatron_format(tmp_path):
    # Megatron-LM megatron/core/datasets/indexed_dataset.py, _IndexWriter: b"MMIDIDX\x00\x00", <Q 1,
    # <B dtype code (uint16 = 8), <Q sequence count, <Q len(document_indices) (documents + 1), then
    # int32 lengths, int64 byte pointers, int64 document indices.
    write(tmp_path / "s")
    data = (tmp_path / "s.idx").read_bytes()
    assert data[:9] == b"MMIDIDX\x00\x00"
    assert data[9:17] == b"\x01\x00\x00\x00\x00\x00\x00\x00"
    assert data[17:18] == b"\x08"
    assert struct.unpack("<QQ", data[18:34]) == (3, 4)
    lengths = struct.unpack("<3i", data[34:46])
    pointers = struct.unpack("<3q", data[46:70])
    doc_idx = struct.unpack("<4q", data[70:102])
    assert lengths == (4, 3, 5)
    assert pointers == (0, 8, 14)  # bytes: uint16 tokens
    assert doc_idx == (0, 1, 2, 3)
    assert len(data) == 102
    assert (tmp_path / "s.bin").read_bytes() == np.array(sum(DOCS, []), dtype="<u2").tobytes()


def test_dtype_codes_are_megatrons():
    assert megatron.DTYPE_CODES == {"uint8": 1, "int8": 2, "int16": 3, "int32": 4, "int64": 5,
                                    "float64": 6, "float32": 7, "uint16": 8}
    assert megatron.token_dtype(32000) == np.uint16
    assert megatron.token_dtype(65536) == np.uint16
    assert megatron.token_dtype(100_000) == np.int32


def test_round_trip_and_reader_views(tmp_path):
    w = write(tmp_path / "s")
    assert (w.tokens, w.documents) == (12, 3)
    ds = IndexedDataset(str(tmp_path / "s"))
    assert len(ds) == 3 and ds.dtype == np.uint16 and ds.num_tokens == 12
    assert [list(map(int, d)) for d in ds] == DOCS
    assert list(ds.sizes) == [4, 3, 5] and list(ds.document_indices) == [0, 1, 2, 3]
    assert list(ds.get(2, offset=1, length=2)) == [65535, 0]
    assert list(ds.get(-1, offset=3)) == [7, 2]
    windows = [list(map(int, x)) for x in ds.windows(5)]
    assert windows == [[1, 306, 626, 2, 1], [13, 2, 1, 65535, 0]]  # the last 2 tokens do not fill one
    assert len(list(ds.windows(5, drop_last=False))) == 3
    with pytest.raises(IndexError):
        ds.get(3)


def test_int32_and_empty(tmp_path):
    write(tmp_path / "big", [[70000, 1], []], dtype=np.int32)
    ds = IndexedDataset(str(tmp_path / "big"))
    assert ds.dtype == np.int32 and list(ds[0]) == [70000, 1] and len(ds[1]) == 0
    write(tmp_path / "none", [])
    assert len(IndexedDataset(str(tmp_path / "none"))) == 0


def test_nothing_visible_before_finalize_and_bad_ids_refused(tmp_path):
    w = IndexedDatasetWriter(str(tmp_path / "s"))
    w.add_document([1, 2])
    assert not (tmp_path / "s.bin").exists() and not (tmp_path / "s.idx").exists()
    with pytest.raises(ValueError, match="do not fit"):
        w.add_document([70000])
    with pytest.raises(ValueError, match="do not fit"):
        w.add_document([-1])
    w.finalize()
    assert sorted(os.listdir(tmp_path)) == ["s.bin", "s.idx"]
    assert [list(d) for d in IndexedDataset(str(tmp_path / "s"))] == [[1, 2]]


def test_checksums_match_files(tmp_path):
    import hashlib

    w = write(tmp_path / "s")
    assert w.sha256_bin == hashlib.sha256((tmp_path / "s.bin").read_bytes()).hexdigest()
    assert w.sha256_idx == hashlib.sha256((tmp_path / "s.idx").read_bytes()).hexdigest()


def test_bad_header_is_refused(tmp_path):
    write(tmp_path / "s")
    data = bytearray((tmp_path / "s.idx").read_bytes())
    data[0:1] = b"X"
    (tmp_path / "s.idx").write_bytes(bytes(data))
    with pytest.raises(ShardFormatError, match="magic"):
        IndexedDataset(str(tmp_path / "s"))
