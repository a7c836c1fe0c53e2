"""The Wikipedia-reference classifier (fastText, __label__wiki vs __label__cc).

INTERFACE (being implemented): the CommonCrawl source calls these three names.
"""
from __future__ import annotations

import dataclasses

from llamacorpus.config import Section


@dataclasses.dataclass
class ClassifierConfig(Section):
    enabled: bool = True


def classifier_prepare(cfg: ClassifierConfig, ctx) -> None:
    """Check before the run that what the steps need exists; raise InputError naming it."""


def classifier_steps(cfg: ClassifierConfig, ctx) -> list:
    """The classifier steps (training as a global step, then applying it) in order."""
    return []
