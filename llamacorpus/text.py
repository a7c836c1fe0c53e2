"""Bytes to text, one rule for every source: decode, or say the bytes are not text.

:func:`decode` tries, in order: UTF-8 (a BOM dropped), then the charset the input declares (a
Gutenberg ``Character set encoding:`` line, an HTML meta tag, an HTTP header), then the charset
that charset-normalizer detects. A declared charset that the bytes contradict (they do not
decode in it, or decode to more than :data:`MAX_REPLACEMENT` U+FFFD) is re-detected; the result
says so (``redetected``), and readers count it as ``charset_redetected``. Bytes that are mostly not
text (NUL bytes, or more than :data:`MAX_CONTROL` control characters once decoded, as random bytes
decoded as Latin-1 are) give ``None``: readers drop them as ``binary``.

:func:`has_surrogates` tells a string that cannot be written as UTF-8 (a lone UTF-16 surrogate,
as ``json.loads('"\\ud800"')`` makes), :func:`surrogate_field` the first field of a record that
holds one: the read adapter counts such a record as ``error:invalid_unicode`` (and the JSONL
reader, which knows the record's line, does it there first).
"""
from __future__ import annotations

import codecs
import re
from typing import NamedTuple

#: decoded text with more control characters than this fraction (tab, newline, CR, FF excepted) is binary
MAX_CONTROL = 0.01
#: a declared charset giving more U+FFFD than this fraction of the characters is contradicted
MAX_REPLACEMENT = 0.01
#: bytes looked at for NULs and for detection (the whole input is decoded)
SNIFF_BYTES = 64 * 1024
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_BOM = b"\xef\xbb\xbf"


class Decoded(NamedTuple):
    text: str
    encoding: str  # the codec's canonical name ("utf-8", "cp1251", ...)
    redetected: bool = False  # a declared charset was contradicted by the bytes


def canonical(encoding: str | None) -> str | None:
    """The codec name Python knows ``encoding`` by, or None for an unknown or empty one."""
    if not encoding:
        return None
    try:
        return codecs.lookup(encoding.strip().strip("\"'")).name
    except LookupError:
        return None


def looks_binary(data: bytes) -> bool:
    """NUL bytes in the first :data:`SNIFF_BYTES` (UTF-16 is never given to this module undeclared)."""
    return b"\x00" in data[:SNIFF_BYTES]


def control_fraction(text: str) -> float:
    sample = text[:SNIFF_BYTES]
    return len(_CONTROL.findall(sample)) / len(sample) if sample else 0.0


def replacement_fraction(text: str) -> float:
    return text.count("\ufffd") / len(text) if text else 0.0


def _try(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def detect(data: bytes) -> str | None:
    """charset-normalizer's best guess for ``data``, or None."""
    import charset_normalizer

    match = charset_normalizer.from_bytes(data[:SNIFF_BYTES] if len(data) > SNIFF_BYTES else data).best()
    return canonical(match.encoding) if match is not None else None


def decode(data: bytes, declared: str | None = None) -> Decoded | None:
    """``data`` as text (see the module docstring), or None when it is not text."""
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    if looks_binary(data):
        return None
    declared = canonical(declared)
    text = _try(data, "utf-8")
    if text is not None:  # ASCII bytes contradict no ASCII-compatible declared charset
        return _checked(Decoded(text, "utf-8", declared not in (None, "utf-8", "ascii") and not data.isascii()))
    redetected = False
    if declared:
        text = _try(data, declared)
        if text is not None and replacement_fraction(text) <= MAX_REPLACEMENT:
            return _checked(Decoded(text, declared))
        redetected = True
    found = detect(data)
    if found:
        text = data.decode(found, errors="replace")
        if replacement_fraction(text) <= MAX_REPLACEMENT:
            return _checked(Decoded(text, found, redetected))
    return _checked(Decoded(data.decode("cp1252", errors="replace"), "cp1252", redetected))


def _checked(decoded: Decoded) -> Decoded | None:
    return None if control_fraction(decoded.text) > MAX_CONTROL else decoded


def has_surrogates(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate (it cannot be encoded as UTF-8)."""
    return _SURROGATE.search(text) is not None


def _anywhere(value) -> bool:
    if isinstance(value, str):
        return has_surrogates(value)
    if isinstance(value, (list, tuple)):
        return any(_anywhere(v) for v in value)
    if isinstance(value, dict):
        return any(_anywhere(k) or _anywhere(v) for k, v in value.items())
    return False


def surrogate_field(record: dict, prefix: str = "") -> str | None:
    """The first key of ``record`` whose key or value (strings in lists and dicts included) holds a
    lone surrogate, as ``<prefix><key>`` (the key escaped), or None."""
    for key, value in record.items():
        if _anywhere(key) or _anywhere(value):
            return prefix + (key.encode("utf-8", "backslashreplace").decode() if isinstance(key, str) else repr(key))
    return None
