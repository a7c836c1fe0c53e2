"""Length filters shared by several sources."""
from __future__ import annotations

from llamacorpus.steps import Filter


class MinChars(Filter):
    """Drop documents whose text (stripped) is shorter than ``min_chars`` characters."""

    name = "min_chars"
    measures = ()  # lengths are measured on every source's output already

    def __init__(self, min_chars: int, reason: str = "too_short"):
        self.min_chars, self.reason = min_chars, reason

    def score(self, doc):
        return {}

    def keep(self, doc):
        if len(doc["text"].strip()) >= self.min_chars:
            return True, None
        return False, self.reason
