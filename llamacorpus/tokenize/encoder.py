"""A document as the token sequence the shards hold: ``[BOS] [tag] text [EOS]`` (BOS and EOS per
``shards.add_bos``/``add_eos``, the tag per ``shards.domain_tags``), in the narrowest Megatron
dtype for the vocabulary."""
from __future__ import annotations

import numpy
import sentencepiece as spm

from llamacorpus.document import Document
from llamacorpus.tokenize import tags
from llamacorpus.tokenize.megatron import token_dtype


class MissingTagError(ValueError):
    """A tokenizer without the user-defined tag pieces that ``shards.domain_tags`` needs."""


class Encoder:
    def __init__(self, model: bytes, add_bos: bool = True, add_eos: bool = True, domain_tags: str = ""):
        self.sp = spm.SentencePieceProcessor(model_proto=model)
        self.vocab_size = self.sp.get_piece_size()
        self.dtype = token_dtype(self.vocab_size)
        self.bos_id, self.eos_id = self.sp.bos_id(), self.sp.eos_id()
        if (add_bos and self.bos_id < 0) or (add_eos and self.eos_id < 0):
            raise ValueError("the tokenizer has no BOS/EOS piece but shards.add_bos/add_eos ask for one")
        self.prefix = [self.bos_id] if add_bos else []
        self.suffix = [self.eos_id] if add_eos else []
        self.mode = domain_tags
        self.tag_ids = self._tag_ids()

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

    def encode(self, doc: Document) -> numpy.ndarray:
        tag = self.tag_id(doc)
        ids = self.sp.encode(doc["text"])
        return numpy.array([*self.prefix, *([tag] if tag is not None else []), *ids, *self.suffix],
                           dtype=self.dtype)
