"""Bytes to text, one rule for every source: decode, or say the bytes are not text.

:func:`decode` tries, in order: UTF-8 (a BOM dropped), then the charset the input declares (a
Gutenberg ``Character set encoding:`` line, an HTML meta tag, an HTTP header; an input may declare
several, in order of authority: the first is the declaration, the others are tried next), then the
charset that charset-normalizer detects. A declared charset holds when the bytes decode in it with
few U+FFFD: at most :data:`MAX_REPLACEMENT` of the characters and at most half of the non-ASCII
ones (a UTF-8 page with a few broken sequences keeps its UTF-8, the broken bytes as U+FFFD, rather
than turning into mojibake through another codec). When the bytes contradict the declaration (and
valid UTF-8 with non-ASCII characters contradicts any other), the result says so
(``redetected``), and readers count it as ``charset_redetected``. Bytes that are mostly not text
(NUL bytes, or more than :data:`MAX_CONTROL` control characters once decoded, as random bytes
decoded as Latin-1 are) give ``None``: readers drop them as ``binary``.

:func:`has_surrogates` tells a string that cannot be written as UTF-8 (a lone UTF-16 surrogate,
as ``json.loads('"\\ud800"')`` makes), :func:`surrogate_field` the first field of a record that
holds one: the read adapter counts such a record as ``error:invalid_unicode`` (and the JSONL
reader, which knows the record's line, does it there first).
"""
from __future__ import annotations

import codecs
import re
from typing import NamedTuple, Sequence

#: decoded text with more control characters than this fraction (tab, newline, CR, FF excepted) is binary
MAX_CONTROL = 0.01
#: a declared charset giving more U+FFFD than this fraction of the characters is contradicted
MAX_REPLACEMENT = 0.01
#: bytes looked at for NULs and for detection (the whole input is decoded)
SNIFF_BYTES = 64 * 1024
#: the control characters counted (tab, newline, CR, FF excepted), as the bytes they are in UTF-8
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0b, *range(0x0e, 0x20), 0x7f])
_NOT_CONTROL = bytes(b for b in range(256) if b not in _CONTROL_BYTES)
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_BOM = b"\xef\xbb\xbf"


class Decoded(NamedTuple):
    text: str
    encoding: str  # the codec's canonical name ("utf-8", "cp1251", ...)
    redetected: bool = False  # a declared charset was contradicted by the bytes


def canonical(encoding: str | None) -> str | None:
    """The codec name Python knows ``encoding`` by, or None for an unknown or empty one, or one
    that is no text codec (``base64``, ``zlib``: a page can say anything)."""
    if not encoding:
        return None
    try:
        info = codecs.lookup(encoding.strip().strip("\"'"))
    except LookupError:
        return None
    return info.name if getattr(info, "_is_text_encoding", True) else None


def looks_binary(data: bytes) -> bool:
    """NUL bytes in the first :data:`SNIFF_BYTES` (UTF-16 is never given to this module undeclared)."""
    return data.find(b"\x00", 0, SNIFF_BYTES) >= 0


def control_fraction(text: str) -> float:
    """The fraction of control characters in the first :data:`SNIFF_BYTES` characters (counted
    as bytes of the UTF-8 encoding: a control character is one byte there, and no other
    character has such a byte; ``bytes.translate`` is ten times faster than a regex)."""
    sample = text[:SNIFF_BYTES]
    if not sample:
        return 0.0
    return len(sample.encode("utf-8", "surrogatepass").translate(None, _NOT_CONTROL)) / len(sample)


def replacement_fraction(text: str) -> float:
    return text.count("\ufffd") / len(text) if text else 0.0


def declared_holds(text: str) -> bool:
    """Whether ``text``, decoded in its declared charset with ``errors="replace"``, confirms that
    charset: U+FFFD at most :data:`MAX_REPLACEMENT` of the characters and at most half of the
    non-ASCII ones."""
    bad = text.count("\ufffd")
    if not bad:
        return True
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    return bad <= MAX_REPLACEMENT * len(text) and 2 * bad <= non_ascii


def _try(data: bytes, encoding: str, errors: str = "strict") -> str | None:
    try:
        return data.decode(encoding, errors)
    except (UnicodeError, LookupError):  # LookupError: not a text codec ("base64"); "undefined" raises always
        return None


def detect(data: bytes) -> str | None:
    """charset-normalizer's best guess for ``data``, or None."""
    import charset_normalizer

    match = charset_normalizer.from_bytes(data[:SNIFF_BYTES] if len(data) > SNIFF_BYTES else data).best()
    return canonical(match.encoding) if match is not None else None


def decode(data: bytes, declared: str | Sequence[str | None] | None = None) -> Decoded | None:
    """``data`` as text (see the module docstring), or None when it is not text. ``declared``:
    the charset the input declares, or the charsets it declares in order of authority (an HTML
    page's meta tag, then its HTTP header): the first one is the declaration; when the bytes
    contradict it, the others are tried before detection."""
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    if looks_binary(data):
        return None
    names = [declared] if declared is None or isinstance(declared, str) else declared
    candidates = list(dict.fromkeys(c for c in map(canonical, names) if c))
    text = _try(data, "utf-8")
    if text is not None:  # ASCII bytes contradict no ASCII-compatible declared charset
        lied = bool(candidates) and candidates[0] not in ("utf-8", "ascii") and not data.isascii()
        return _checked(Decoded(text, "utf-8", lied), data)
    for n, candidate in enumerate(candidates):
        text = _try(data, candidate, "replace")
        if text is not None and declared_holds(text):
            return _checked(Decoded(text, candidate, n > 0))
    redetected = bool(candidates)
    found = detect(data)
    if found:
        text = data.decode(found, errors="replace")
        if replacement_fraction(text) <= MAX_REPLACEMENT:
            return _checked(Decoded(text, found, redetected))
    return _checked(Decoded(data.decode("cp1252", errors="replace"), "cp1252", redetected))


def _checked(decoded: Decoded, utf8: bytes | None = None) -> Decoded | None:
    """``decoded``, or None when it has too many control characters. ``utf8``: the UTF-8 bytes it
    was decoded from, where a control character is its own byte (and no other character has
    one): when the bytes that can hold the first :data:`SNIFF_BYTES` characters have none, the
    text has none either, and this is found 2-3x faster than in the text."""
    if utf8 is not None and not utf8[:4 * SNIFF_BYTES].translate(None, _NOT_CONTROL):
        return decoded
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
