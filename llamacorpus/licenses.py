"""Software licences as SPDX ids: the names BigQuery's github_repos export and licence files use,
mapped to SPDX, and the licence of a licence file's text. Used by the GitHub reader (a repository's
licence), the licence filter and the report.
"""
from __future__ import annotations

import re
from typing import Any

PERMISSIVE = ["MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause"]

#: BigQuery github_repos.licenses keys (and GitHub's "other") -> SPDX ids
BIGQUERY_LICENSES = {
    "mit": "MIT", "apache-2.0": "Apache-2.0", "bsd-2-clause": "BSD-2-Clause", "bsd-3-clause": "BSD-3-Clause",
    "gpl-2.0": "GPL-2.0", "gpl-3.0": "GPL-3.0", "lgpl-2.1": "LGPL-2.1", "lgpl-3.0": "LGPL-3.0",
    "agpl-3.0": "AGPL-3.0", "mpl-2.0": "MPL-2.0", "isc": "ISC", "unlicense": "Unlicense", "cc0-1.0": "CC0-1.0",
    "epl-1.0": "EPL-1.0", "artistic-2.0": "Artistic-2.0", "other": "other",
}
_SPDX_BY_LOWER = {v.lower(): v for v in BIGQUERY_LICENSES.values()}

# Licence texts by their distinctive wording (whitespace collapsed, lower case). Titles are looked
# for at the head of the file only: the GPL texts name the LGPL in their last paragraph.
_HEAD_CHARS = 400
_HEAD_RULES = [
    ("AGPL-3.0", ("gnu affero general public license",)),
    ("LGPL-3.0", ("gnu lesser general public license", "version 3")),
    ("LGPL-2.1", ("gnu lesser general public license", "version 2.1")),
    ("LGPL-2.0", ("gnu library general public license",)),
    ("GPL-3.0", ("gnu general public license", "version 3")),
    ("GPL-2.0", ("gnu general public license", "version 2")),
    ("Apache-2.0", ("www.apache.org/licenses", "version 2.0")),
    ("Apache-2.0", ("apache license", "version 2.0")),
    ("MPL-2.0", ("mozilla public license", "2.0")),
]
_BODY_RULES = [
    ("MIT", ("permission is hereby granted, free of charge", "the above copyright notice and this permission notice")),
    ("BSD-4-Clause", ("redistribution and use in source and binary forms", "advertising materials")),
    ("BSD-3-Clause", ("redistribution and use in source and binary forms", "neither the name")),
    ("BSD-3-Clause", ("redistribution and use in source and binary forms", "names of its contributors may not")),
    ("BSD-2-Clause", ("redistribution and use in source and binary forms",)),
    ("ISC", ("permission to use, copy, modify, and/or distribute this software for any purpose",)),
    ("Unlicense", ("this is free and unencumbered software released into the public domain",)),
    # licence notices rather than full texts
    ("AGPL-3.0", ("gnu affero general public license",)),
    ("LGPL-3.0", ("gnu lesser general public license", "version 3")),
    ("LGPL-2.1", ("gnu lesser general public license", "version 2.1")),
    ("GPL-3.0", ("gnu general public license", "version 3")),
    ("GPL-2.0", ("gnu general public license", "version 2")),
]
LICENSE_NAME = re.compile(r"^(licen[cs]e|copying)([.\-_][\w.\-]*)?$", re.I)


def detect_license(text: str) -> str:
    """SPDX id of a licence file's text, or ``other`` when it is none of the known ones."""
    flat = " ".join(text.lower().split())
    head = flat[:_HEAD_CHARS]
    for spdx, needles in _HEAD_RULES:
        if all(n in head for n in needles):
            return spdx
    for spdx, needles in _BODY_RULES:
        if all(n in flat for n in needles):
            return spdx
    return "other"


def combine_licenses(found: list[str]) -> str | None:
    """One licence for a repository from its licence files: none -> None; an LGPL file (with the
    GPL text beside it, as LGPL projects ship) -> the LGPL; several different -> ``A OR B``
    (dual licensing, e.g. LICENSE-MIT + LICENSE-APACHE)."""
    ids = sorted(set(found))
    if not ids:
        return None
    lesser = [i for i in ids if i.startswith("LGPL")]
    if lesser:
        return lesser[-1]
    return " OR ".join(ids)


def spdx_of(value: Any) -> str | None:
    """A licence value of an input row (BigQuery key or SPDX id) as an SPDX id; None when absent."""
    if not isinstance(value, str) or not value.strip():
        return None
    key = value.strip().lower()
    return BIGQUERY_LICENSES.get(key) or _SPDX_BY_LOWER.get(key) or value.strip()


def license_reason(spdx: str | None) -> str:
    return "license=" + (re.sub(r"[^a-z0-9_.-]+", "_", spdx.lower()) if spdx else "none")
