"""A document as the token sequence the shards hold: ``[BOS] [tag] text [EOS]`` (BOS and EOS per
``shards.add_bos``/``add_eos``, the tag per ``shards.domain_tags``), in the narrowest Megatron
dtype for the vocabulary.

Speed: SentencePiece's BPE encoder reaches about 0.5M tokens/s on one core here, a quarter of our
bar (docs/architecture.md, "Speed bars"). :class:`WordEncoder` gives the same ids about three times faster: with
identity normalisation and whitespace kept (LLaMA's spec), no BPE piece spans the start of a
"word" (a run of spaces and the non-spaces after it, SentencePiece's own pre-split), so the ids of
a text are the ids of its words, each encoded once and cached. The first word is encoded with the
model as is (it gets the dummy prefix), the others with a copy of the model without the dummy
prefix. Models where that does not hold (other normalisations, pieces with a space inside) are
encoded whole. ``tests/test_tokenizer.py`` checks the ids are identical on every fixture source.
"""
from __future__ import annotations

import array
import re
import sys

import numpy
import sentencepiece as spm

from llamacorpus.document import Document
from llamacorpus.tokenize import spm_model, tags
from llamacorpus.tokenize.megatron import token_dtype

_FIRST_WORD = re.compile(r" *[^ ]*")
_INNER_SPACE = re.compile("[^\u2581]\u2581| ")
CACHE_WORDS = 200_000


class WordEncoder:
    """``encode(text) -> bytes`` of the ids in ``dtype``, identical to ``SentencePieceProcessor.encode``.

    After the first word, the text is split at single spaces: an item ``w`` stands for the word
    ``" " + w`` and, after ``k`` empty items (a run of spaces), for ``" " * (k + 1) + w``; cache keys
    spell that as ``" " * k + w``. Cached values are the ids as bytes, so a document is one join.
    Words not cached are encoded in one batch call per document.
    """

    def __init__(self, model: bytes, dtype, sp: spm.SentencePieceProcessor | None = None):
        self.sp = sp or spm.SentencePieceProcessor(model_proto=model)
        self.dtype = numpy.dtype(dtype).newbyteorder("<")
        self._typecode = next(c for c in "BHIiLlQq" if array.array(c).itemsize == self.dtype.itemsize
                              and (c.isupper() == (self.dtype.kind == "u")))
        spec = spm_model.normalizer_spec(model)
        pieces = (self.sp.id_to_piece(i) for i in range(self.sp.get_piece_size()))
        self.by_word = (spec["name"] == "identity" and not spec["remove_extra_whitespaces"]
                        and spec["escape_whitespaces"] and not any(_INNER_SPACE.search(p) for p in pieces))
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
        if not self.by_word:
            return self.ids_bytes(self.sp.encode(text))
        first = _FIRST_WORD.match(text).end()
        head = self.ids_bytes(self.sp.encode(text[:first])) if first else b""
        if first == len(text):
            return head
        keys = text[first + 1:].split(" ")
        if "" in keys:
            keys = _run_keys(keys)
        get = self.cache.get
        parts = [get(k) for k in keys]
        if None in parts:
            missing = list(dict.fromkeys(k for k, v in zip(keys, parts) if v is None))
            found = {k: self.old[k] for k in missing if k in self.old}
            new = [k for k in missing if k not in found]
            if new:
                found.update(zip(new, map(self.ids_bytes, self.rest.encode([" " + k for k in new], num_threads=1))))
            if len(self.cache) + len(found) > CACHE_WORDS:
                self.old, self.cache = self.cache, {}
            if len(found) <= CACHE_WORDS:
                self.cache.update(found)
            parts = [found[k] if v is None else v for k, v in zip(keys, parts)]
        return head + b"".join(parts)


def _run_keys(items: list[str]) -> list[str]:
    """Cache keys of split items with runs of spaces (empty items) folded into the next word; a
    trailing run of ``k`` spaces is the key ``" " * (k - 1)``."""
    keys, spaces = [], 0
    for item in items:
        if item:
            keys.append(" " * spaces + item)
            spaces = 0
        else:
            spaces += 1
    if spaces:
        keys.append(" " * (spaces - 1))
    return keys


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

    def encode_bytes(self, doc: Document) -> bytes:
        """The document's sequence as little-endian bytes of :attr:`dtype` (what a shard stores)."""
        tag = self.tag_id(doc)
        head = self._heads.get(tag)
        if head is None:
            head = self._heads[tag] = self.words.ids_bytes(self.prefix + ([] if tag is None else [tag]))
        return head + self.words.encode(doc["text"]) + self._tail

    def encode(self, doc: Document) -> numpy.ndarray:
        return numpy.frombuffer(self.encode_bytes(doc), dtype=self.words.dtype)
