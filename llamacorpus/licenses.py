"""Licences as SPDX ids: the names BigQuery's github_repos export and licence files use, mapped to
SPDX (in any case: ``gpl-2.0`` and ``GPL-2.0`` are one id), and the licence of a licence file's
text. Used by the GitHub reader (a repository's licence), the licence filter, the report (one bar
per licence) and the dataset card. :data:`DATA_TERMS` holds the terms each source's data comes
under (tests/fixtures/MANIFEST.md and README, "Sample data").
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
#: SPDX ids this module returns besides BigQuery's (licence texts, and the -only/-or-later forms)
OTHER_SPDX = ["LGPL-2.0", "BSD-4-Clause", "BSD-3-Clause-Clear", "0BSD", "Zlib", "BSL-1.0", "WTFPL", "CC-BY-4.0",
              "CC-BY-SA-4.0", "EPL-2.0", "MPL-1.1", "EUPL-1.2", "PostgreSQL", "Python-2.0",
              *(f"{g}-{v}-{s}" for g, v in (("GPL", "2.0"), ("GPL", "3.0"), ("LGPL", "2.1"), ("LGPL", "3.0"),
                                           ("AGPL", "3.0")) for s in ("only", "or-later"))]
_SPDX_BY_LOWER = {v.lower(): v for v in [*BIGQUERY_LICENSES.values(), *OTHER_SPDX]}
_OR = re.compile(r"\s+or\s+", re.I)

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
    """A licence value (BigQuery key or SPDX id, in any case, or ``A OR B`` of them) as SPDX: the
    known ids in their SPDX spelling, the parts of a dual licence sorted (as
    :func:`combine_licenses` writes them); an unknown name stays as it is; None when absent."""
    if not isinstance(value, str) or not value.strip():
        return None
    parts = sorted({_one_spdx(p) for p in _OR.split(value.strip()) if p.strip()})
    return " OR ".join(parts)


def _one_spdx(value: str) -> str:
    key = value.strip().lower()
    return BIGQUERY_LICENSES.get(key) or _SPDX_BY_LOWER.get(key) or value.strip()


def license_reason(spdx: str | None) -> str:
    return "license=" + (re.sub(r"[^a-z0-9_.-]+", "_", spdx.lower()) if spdx else "none")


#: source -> (the Hugging Face licence id of its data, or "other"; the terms, in words)
DATA_TERMS: dict[str, tuple[str, str]] = {
    "commoncrawl": ("other", "Common Crawl Terms of Use (https://commoncrawl.org/terms-of-use); the text's copyright "
                             "stays with the original sites"),
    "c4": ("odc-by", "ODC-BY 1.0 (allenai/c4), and the Common Crawl Terms of Use it was built under"),
    "wikipedia": ("cc-by-sa-4.0", "CC-BY-SA (4.0; 3.0 for older revisions) and GFDL, Wikipedia's text licences: "
                                  "attribution to the articles' authors, share-alike"),
    "github": ("other", "each file under its repository's licence (per-file SPDX ids in meta.license; the counts "
                        "below)"),
    "books": ("other", "Project Gutenberg books: public domain in the USA (check the law where you are; the PG "
                       "licence governs the Gutenberg trademark); Books3 and PG-19 records: the terms of those "
                       "collections"),
    "arxiv": ("other", "each paper under the licence its authors chose on arXiv (arXiv's non-exclusive distribution "
                       "licence or a CC licence)"),
    "stackexchange": ("cc-by-sa-4.0", "CC-BY-SA (4.0 for posts from May 2018, 3.0 or 2.5 before), attribution "
                                      "to the posts' authors required"),
}
