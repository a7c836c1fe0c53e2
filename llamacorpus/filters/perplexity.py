"""CCNet perplexity: SentencePiece + KenLM 5-gram per language, and head/middle/tail buckets.

INTERFACE (being implemented): the CommonCrawl source calls these three names.
"""
from __future__ import annotations

import dataclasses

from llamacorpus.config import Section


@dataclasses.dataclass
class PerplexityConfig(Section):
    enabled: bool = True


def perplexity_prepare(cfg: PerplexityConfig, ctx) -> None:
    """Check before the run that the models the steps need exist; raise InputError naming them."""


def perplexity_steps(cfg: PerplexityConfig, ctx) -> list:
    """The perplexity steps (filters/mappers/global steps) in order."""
    return []
