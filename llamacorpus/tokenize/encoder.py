"""A document as the token sequence the shards hold: ``[BOS] [tag] text [EOS]`` (BOS and EOS per
``shards.add_bos``/``add_eos``, the tag per ``shards.domain_tags``), in the narrowest Megatron
dtype for the vocabulary.

Speed (``bench/bench_tokenize.py`` prints both in one run): SentencePiece's BPE encoder costs
about the same per character on a whole document as on one word, and on the demo's documents
three quarters of the characters are in words seen before. :class:`WordEncoder` gives the same ids by encoding each
distinct "word" once and caching it: with identity normalisation, whitespace kept and the dummy
prefix on (LLaMA's spec), no BPE piece spans the start of a word (a run of spaces and the
non-spaces after it, SentencePiece's own pre-split), so the ids of a text are the ids of its words.
On a cold cache, SentencePiece's own work on the new words is about half of the time (profiled:
``bench/bench_tokenize.py --profile``), the rest is the split, the lookups and the join. Models
where the property does not hold (other normalisations, pieces with a space inside) are encoded
whole. ``tests/test_tokenizer.py`` checks the ids are identical on every fixture source.
"""
from __future__ import annotations

import array
import re
import sys
from itertools import compress
from operator import not_

import numpy
import sentencepiece as spm

from llamacorpus.document import Document
from llamacorpus.tokenize import chunks, spm_model, tags
from llamacorpus.tokenize.megatron import token_dtype

#: cache keys: split at each space that follows a non-space (a run of spaces stays with its word)
_KEYS = re.compile(r"(?<=[^ ]) ")
_INNER_SPACE = re.compile("[^\u2581]\u2581| ")
META = "\u2581"  # SentencePiece's whitespace symbol
CACHE_WORDS = 200_000


class WordEncoder:
    """``encode(text) -> bytes`` of the ids in ``dtype``, identical to ``SentencePieceProcessor.encode``.

    A text is cut at every space that follows a non-space: ``"a  b c "`` gives the keys ``"a"``,
    ``" b"``, ``"c"``, ``""``. A key ``k`` stands for the segment ``" " + k`` (the first one's
    space is the dummy prefix), encoded with a copy of the model without the dummy prefix; a text
    without a leading space or a run of spaces is cut by ``str.split`` alone. Cached values are
    the ids as bytes, so a document is one join; the keys a document misses are encoded in one
    batch call. A text holding ``▁`` itself (U+2581, which SentencePiece does not tell from a
    space) is encoded whole.
    """

    def __init__(self, model: bytes, dtype, sp: spm.SentencePieceProcessor | None = None):
        self.sp = sp or spm.SentencePieceProcessor(model_proto=model)
        self.dtype = numpy.dtype(dtype).newbyteorder("<")
        self._typecode = next(c for c in "BHIiLlQq" if array.array(c).itemsize == self.dtype.itemsize
                              and (c.isupper() == (self.dtype.kind == "u")))
        spec = spm_model.normalizer_spec(model)
        pieces = [self.sp.id_to_piece(i) for i in range(self.sp.get_piece_size())]
        self.by_word = (spec["name"] == "identity" and not spec["remove_extra_whitespaces"]
                        and spec["escape_whitespaces"] and spec["add_dummy_prefix"]
                        and not any(_INNER_SPACE.search(p) for p in pieces))
        self.rest = spm.SentencePieceProcessor(model_proto=spm_model.without_dummy_prefix(model)) \
            if self.by_word else None
        # two generations: when the cache is full it becomes the old one, and words still in use
        # move back from it, so frequent words survive (at most 2 * CACHE_WORDS entries, ~60 MB)
        self.cache: dict[str, bytes] = {}
        self.old: dict[str, bytes] = {}

    def ids_bytes(self, ids: list[int]) -> bytes:
        packed = array.array(self._typecode, ids)
        if sys.byteorder == "big":
            packed.byteswap()
        return packed.tobytes()

    def encode(self, text: str) -> bytes:
        if not self.by_word or META in text:
            return self.ids_bytes(self.sp.encode(text))
        if not text:
            return b""
        keys = _KEYS.split(text) if text[0] == " " or "  " in text else text.split(" ")
        parts = list(map(self.cache.get, keys))
        if None in parts:
            found = self._add(set(compress(keys, map(not_, parts))))
            parts = list(map(found.get, keys, parts))
        return b"".join(parts)

    def _add(self, missing: set[str]) -> dict[str, bytes]:
        """The ids of keys not in the cache (from the old generation, else encoded), now cached."""
        old = self.old.keys() & missing  # a dict view: iterates over the smaller side
        found = dict(zip(old, map(self.old.__getitem__, old)))
        new = list(missing - old)
        if new:
            found.update(zip(new, map(self.ids_bytes, self.rest.encode([" " + k for k in new], num_threads=1))))
        if len(self.cache) + len(found) > CACHE_WORDS:
            self.old, self.cache = self.cache, {}
        if len(found) <= CACHE_WORDS:
            self.cache.update(found)
        return found


class MissingTagError(ValueError):
    """A tokenizer without the user-defined tag pieces that ``shards.domain_tags`` needs."""


class Encoder:
    def __init__(self, model: bytes, add_bos: bool = True, add_eos: bool = True, domain_tags: str = ""):
        self.sp = spm.SentencePieceProcessor(model_proto=model)
        self.vocab_size = self.sp.get_piece_size()
        self.dtype = token_dtype(self.vocab_size)
        self.words = WordEncoder(model, self.dtype, self.sp)
        self.bos_id, self.eos_id = self.sp.bos_id(), self.sp.eos_id()
        if (add_bos and self.bos_id < 0) or (add_eos and self.eos_id < 0):
            raise ValueError("the tokenizer has no BOS/EOS piece but shards.add_bos/add_eos ask for one")
        self.prefix = [self.bos_id] if add_bos else []
        self.suffix = [self.eos_id] if add_eos else []
        self.mode = domain_tags
        self.tag_ids = self._tag_ids()
        self._heads: dict[int | None, bytes] = {}
        self._tail = self.words.ids_bytes(self.suffix)
        self._boundaries = None

    def _tag_ids(self) -> dict[str, int]:
        """The tag pieces of the model that the mode uses, piece -> id."""
        if not self.mode:
            return {}
        found = {}
        for i in range(self.vocab_size):
            piece = self.sp.id_to_piece(i)
            if piece.startswith(f"<|{self.mode}:") and piece.endswith("|>"):
                found[piece] = i
        needed = tags.symbols("source") if self.mode == "source" else [tags.domain_tag(tags.OTHER)]
        missing = [t for t in needed if t not in found]
        if missing:
            raise MissingTagError(f"shards.domain_tags={self.mode!r} needs the tokenizer pieces "
                                  f"{', '.join(missing)}: train the tokenizer with this setting (they become "
                                  "user-defined symbols) or give tokenizer.model one that has them")
        return found

    def tag_id(self, doc: Document) -> int | None:
        piece = tags.document_tag(doc, self.mode)
        if piece is None:
            return None
        found = self.tag_ids.get(piece)
        return found if found is not None else self.tag_ids[tags.domain_tag(tags.OTHER)]

    def _head(self, doc: Document) -> bytes:
        tag = self.tag_id(doc)
        head = self._heads.get(tag)
        if head is None:
            head = self._heads[tag] = self.words.ids_bytes(self.prefix + ([] if tag is None else [tag]))
        return head

    def encode_bytes(self, doc: Document) -> bytes:
        """The document's sequence as little-endian bytes of :attr:`dtype` (what a shard stores)."""
        return self._head(doc) + self.words.encode(doc["text"]) + self._tail

    def encode_units(self, doc: Document, max_tokens: int = 0) -> list[bytes]:
        """The document's sequence, or when it is longer than ``max_tokens`` (> 0) the sequences of
        its chunks, each ``[BOS] [tag] ids [EOS]`` of at most ``max_tokens``
        (:mod:`llamacorpus.tokenize.chunks`)."""
        head, text = self._head(doc), self.words.encode(doc["text"])
        size = self.words.dtype.itemsize
        room = max_tokens - (len(head) + len(self._tail)) // size
        if max_tokens <= 0 or len(text) // size <= room:
            return [head + text + self._tail]
        if self._boundaries is None:
            self._boundaries = chunks.boundary_tables([self.sp.id_to_piece(i) for i in range(self.vocab_size)])
        ends = chunks.chunk_ends(numpy.frombuffer(text, dtype=self.words.dtype), max(1, room), *self._boundaries)
        return [head + text[a * size:b * size] + self._tail for a, b in zip([0, *ends[:-1]], ends)]

    def encode(self, doc: Document) -> numpy.ndarray:
        return numpy.frombuffer(self.encode_bytes(doc), dtype=self.words.dtype)
