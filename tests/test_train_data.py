"""The trainer's shard loader on shards written from real fixture text (C4 pages, Gutenberg books)
with the real SentencePiece fixture model; ``write_fixture_shards`` is shared with the trainer tests."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy
import pytest
import sentencepiece

from helpers import FIXTURES
from llamacorpus.model.data import TokenStream, TrainWindows, WindowOrder, validation_windows
from llamacorpus.tokenize.megatron import IndexedDatasetWriter, sources_path

TOKENIZER = FIXTURES / "models" / "botchan_en_unigram_1000.model"
SOURCES = ["c4", "books"]


def fixture_documents() -> dict[str, list[str]]:
    """Real documents per source: C4 pages, and Frankenstein cut into ~3,000-character passages."""
    with gzip.open(FIXTURES / "c4" / "c4-en-train.00000-of-01024.first1000.json.gz", "rt", encoding="utf-8") as f:
        c4 = [json.loads(line)["text"] for _, line in zip(range(360), f)]
    book = (FIXTURES / "books" / "84-0_frankenstein.txt").read_text(encoding="utf-8")
    passages, current = [], ""
    for paragraph in book.split("\n\n"):
        current += paragraph + "\n\n"
        if len(current) > 3000:
            passages.append(current)
            current = ""
    return {"c4": c4, "books": passages}


def write_fixture_shards(root: Path, train_shards: int = 2, validation_docs: int = 12) -> Path:
    """A shard directory in the manifest layout of :func:`llamacorpus.tokenize.megatron.load_manifest`:
    documents with BOS and EOS, sources interleaved, the last ``validation_docs`` of each source
    held out under validation/."""
    sp = sentencepiece.SentencePieceProcessor(model_file=str(TOKENIZER))
    train, held_out = [], []
    for index, name in enumerate(SOURCES):
        docs = fixture_documents()[name]
        encoded = [[sp.bos_id(), *ids, sp.eos_id()] for ids in sp.encode(docs)]
        train += [(i, index, ids) for i, ids in enumerate(encoded[:-validation_docs])]
        held_out += [(i, index, ids) for i, ids in enumerate(encoded[-validation_docs:])]
    train.sort(key=lambda t: (t[0], t[1]))  # interleave the sources
    held_out.sort(key=lambda t: (t[0], t[1]))

    def write(prefix: str, docs) -> dict:
        with IndexedDatasetWriter(str(root / prefix), dtype=numpy.uint16) as w:
            for _, _, ids in docs:
                w.add_document(ids)
        numpy.save(sources_path(str(root / prefix)), numpy.array([s for _, s, _ in docs], dtype=numpy.uint8))
        return {"prefix": prefix, "tokens": w.tokens, "documents": w.documents,
                "sha256_bin": w.sha256_bin, "sha256_idx": w.sha256_idx}

    per_shard = -(-len(train) // train_shards)
    shards = [write(f"shard-{k:05d}", train[k * per_shard:(k + 1) * per_shard]) for k in range(train_shards)]
    validation = [write("validation/shard-00000", held_out)]
    manifest = {"format": "megatron-indexed-dataset", "vocab_size": sp.vocab_size(), "dtype": "uint16",
                "bos_id": sp.bos_id(), "eos_id": sp.eos_id(), "sources": SOURCES, "shards": shards,
                "validation": {"shards": validation}}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory) -> Path:
    return write_fixture_shards(tmp_path_factory.mktemp("shards"))


def documents(shard_dir: Path, prefix: str) -> tuple[list[numpy.ndarray], numpy.ndarray]:
    from llamacorpus.tokenize.megatron import IndexedDataset

    ds = IndexedDataset(str(shard_dir / prefix))
    return [numpy.asarray(d) for d in ds], numpy.load(sources_path(str(shard_dir / prefix)))


def test_windows_pack_documents_across_boundaries_and_shards(shard_dir):
    docs = documents(shard_dir, "shard-00000")[0] + documents(shard_dir, "shard-00001")[0]
    stream = numpy.concatenate(docs).astype(numpy.int64)
    windows = TrainWindows(str(shard_dir), seq_len=64)
    assert len(windows.stream) == len(stream)
    assert windows.num_windows == (len(stream) - 1) // 64
    # the window that straddles the two shards, and one in each shard
    straddle = len(numpy.concatenate(documents(shard_dir, "shard-00000")[0])) // 64
    for w in (0, straddle, windows.num_windows - 1):
        numpy.testing.assert_array_equal(windows.window(w), stream[w * 64:w * 64 + 65])
    # windows pack documents: several BOS tokens inside one window of a 2048-token window reader
    bos = TrainWindows(str(shard_dir), seq_len=2048).window(3)
    assert (bos == 1).sum() >= 2


def test_batches_visit_every_window_once_per_epoch_in_a_seeded_order(shard_dir):
    windows = TrainWindows(str(shard_dir), seq_len=256, seed=0)
    n = windows.num_windows
    epoch0, epoch1 = windows.order(numpy.arange(n)), windows.order(numpy.arange(n, 2 * n))
    assert sorted(epoch0) == sorted(epoch1) == list(range(n))
    assert (epoch0 != epoch1).mean() > 0.9  # each epoch its own order
    assert numpy.abs(numpy.diff(epoch0)).mean() > n / 5  # neighbours in a batch come from far apart
    numpy.testing.assert_array_equal(windows.batch(n - 1, 2), numpy.stack([windows.window(epoch0[-1]),
                                                                           windows.window(epoch1[0])]))
    other = TrainWindows(str(shard_dir), seq_len=256, seed=1)
    assert (other.order(numpy.arange(n)) != epoch0).mean() > 0.9
    numpy.testing.assert_array_equal(TrainWindows(str(shard_dir), seq_len=256, seed=0).batch(5, 3), windows.batch(5, 3))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 17, 1000, 4097])
def test_window_order_is_a_permutation_for_any_size(n):
    assert sorted(WindowOrder(n, seed=3)(numpy.arange(2 * n))) == sorted(list(range(n)) * 2)


def test_token_stream_reads_across_pieces():
    stream = TokenStream([numpy.arange(5), numpy.arange(0), numpy.arange(10, 13)])
    numpy.testing.assert_array_equal(stream.read(3, 4), [3, 4, 10, 11])
    with pytest.raises(IndexError):
        stream.read(6, 3)


def test_validation_windows_per_source(shard_dir):
    docs, sources = documents(shard_dir, "validation/shard-00000")
    per_source = validation_windows(str(shard_dir), seq_len=64, max_tokens=1000)
    assert [s.name for s in per_source] == SOURCES
    for index, src in enumerate(per_source):
        own = numpy.concatenate([d for d, s in zip(docs, sources) if s == index]).astype(numpy.int64)
        assert src.tokens == len(src.windows) * 64 <= 1000
        assert src.windows.shape[1] == 65
        for j, window in enumerate(src.windows):  # only this source's documents, in order
            numpy.testing.assert_array_equal(window, own[j * 64:j * 64 + 65])


def test_no_validation_split_gives_no_sources(shard_dir, tmp_path):
    manifest = json.loads((shard_dir / "manifest.json").read_text())
    del manifest["validation"]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert validation_windows(str(tmp_path), 64, 1000) == []
