"""Keep files under the recipe's licences (GitHub: LLaMA kept "projects that are distributed under
the Apache, BSD and MIT licenses").

A document's meta ``license`` is an SPDX id or ``A OR B`` (dual licensing), kept when either is
allowed; the others are dropped as ``license=<spdx id>`` (``license=none`` without one).
"""
from __future__ import annotations

from typing import Any

from llamacorpus.document import Document
from llamacorpus.licenses import license_reason, spdx_of
from llamacorpus.steps import Filter


class LicenseFilter(Filter):
    """Keep files whose licence (meta ``license``) is in the recipe list; ``A OR B`` is kept when
    either is."""

    name = "license"
    measures = ()

    def __init__(self, licenses):
        self.allowed = {spdx_of(x) for x in licenses}

    def score(self, doc: Document) -> dict[str, Any]:
        return {}

    def keep(self, doc: Document) -> tuple[bool, str | None]:
        spdx = doc["meta"].get("license")
        if spdx and any(part in self.allowed for part in spdx.split(" OR ")):
            return True, None
        return False, license_reason(spdx)
