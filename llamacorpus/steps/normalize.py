"""CCNet's text normalisations (``cc_net/text_normalizer.py``), with its one punctuation table:
:func:`normalize` before SentencePiece and KenLM (and the classifier), :func:`normalize_for_dedup`
before line hashing.

``normalize`` with CCNet's defaults (accent, case, numbers, punct=1):

In order: strip, lowercase, strip accents (NFD, then drop the non-spacing marks, category Mn; the
result stays decomposed, as in CCNet), every Unicode decimal digit (category Nd, what ``\\d``
matches) to ``0``, CCNet's table of Unicode punctuation mapped to ASCII, and the control
characters U+0000-U+001F and U+007F-U+009F removed (so a newline inside the string disappears:
CCNet normalised whole documents and thereby glued their lines together).

The same function normalises the Wikipedia training text (``llamacorpus train-lm``) and the pages
being scored, so the models see one distribution. Since no step's output feeds another step's
input (the marks, digits, punctuation and control characters are disjoint, except the full-width
digit one, which CCNet turns into ``0`` because digits go first), the steps after NFD are one
``str.translate``; ASCII text takes a shorter table. Both give CCNet's result character for
character (tests/test_perplexity.py checks real lines).

``normalize_for_dedup``: strip, lowercase, every Unicode decimal digit to ``0``, the table's
punctuation and the control characters removed (tests/test_line_dedup.py checks real lines).
"""
from __future__ import annotations

import functools
import re
import sys
import unicodedata

#: CCNet's UNICODE_PUNCT table (facts: which character becomes which ASCII text)
UNICODE_PUNCT = {
    "，": ",", "。": ".", "、": ",", "„": '"', "”": '"', "“": '"', "«": '"', "»": '"', "１": '"',
    "」": '"', "「": '"', "《": '"', "》": '"', "´": "'", "∶": ":", "：": ":", "？": "?", "！": "!",
    "（": "(", "）": ")", "；": ";", "–": "-", "—": " - ", "．": ". ", "～": "~", "’": "'",
    "…": "...", "━": "-", "〈": "<", "〉": ">", "【": "[", "】": "]", "％": "%", "►": "-",
}
NON_PRINTING = (*range(0, 32), *range(127, 160))


_ASCII = str.maketrans({**dict.fromkeys(NON_PRINTING[:33]), **{str(d): "0" for d in range(10)}})
#: code points below this are looked up in a list (str.translate raises and clears a KeyError for
#: every character a dict lacks: a list makes non-ASCII lines ~25% faster); planes 0 and 1
_DENSE = 0x20000


@functools.cache
def _unicode_tables() -> tuple[list, dict]:
    """(list, dict) translate tables of the steps after NFD, built once per process from the Unicode
    database (~0.4 s): the list for text below U+20000, the dict (changes only) for any text."""
    changes = {**str.maketrans(UNICODE_PUNCT), **dict.fromkeys(NON_PRINTING)}
    for code in range(sys.maxunicode + 1):
        category = unicodedata.category(chr(code))
        if category == "Mn":
            changes[code] = None
        elif category == "Nd":
            changes[code] = "0"
    dense = list(range(_DENSE))
    for code, value in changes.items():
        if code < _DENSE:
            dense[code] = value
    return dense, changes


def normalize(text: str) -> str:
    """CCNet's ``normalize(text)``: see the module docstring."""
    text = text.strip().lower()
    if text.isascii():
        return text.translate(_ASCII)
    text = unicodedata.normalize("NFD", text)
    dense, changes = _unicode_tables()
    return text.translate(dense if max(text) < "\U00020000" else changes)


# normalize_for_dedup removes the punctuation of the table (its keys) instead of mapping it; "１" is
# a digit first, so it becomes "0"
_REMOVED = "".join(UNICODE_PUNCT) + "".join(map(chr, NON_PRINTING))
_DIGIT_RE = re.compile(r"\d")
_REMOVE_RE = re.compile(f"[{re.escape(_REMOVED)}]")
_REMOVE_BUT_NEWLINE_RE = re.compile(f"[{re.escape(_REMOVED.replace(chr(10), ''))}]")


def normalize_for_dedup(line: str) -> str:
    """One line normalised exactly as cc_net's ``normalize_for_dedup``."""
    line = line.strip()
    if not line:
        return line
    line = _DIGIT_RE.sub("0", line.lower())
    return _REMOVE_RE.sub("", line)


def normalized_text(text: str) -> str:
    """The whole text normalised line by line, newlines kept.

    Lower-casing and digit folding never touch ``"\\n"`` and commute with ``strip``, so they run
    once over the document; the removal must follow the per-line strip (a control character
    before a space would otherwise expose the space), so lines are stripped and re-joined first.
    """
    folded = _DIGIT_RE.sub("0", text.lower())
    stripped = "\n".join([line.strip() for line in folded.split("\n")])
    return _REMOVE_BUT_NEWLINE_RE.sub("", stripped)


def normalized_lines(text: str) -> list[str]:
    """``[normalize_for_dedup(l) for l in text.split("\\n")]``, computed on the whole text at once."""
    return normalized_text(text).split("\n")
