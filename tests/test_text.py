"""The one decode-or-detect rule (llamacorpus/text.py) on real fixture text and hand-made edge cases."""
import random

from helpers import FIXTURES
from llamacorpus.text import decode, has_surrogates

RUSSIAN = "Крапка — розділовий знак, що ставиться в кінці речення. " * 40  # real ukwiki text, repeated


def test_real_books_decode_as_utf8():
    for path in sorted((FIXTURES / "books").glob("*.txt")):
        decoded = decode(path.read_bytes())
        assert decoded is not None and decoded.encoding == "utf-8" and not decoded.redetected, path.name
        assert decoded.text == path.read_bytes().decode("utf-8-sig")


def test_random_bytes_are_not_text():
    rng = random.Random(0)
    assert decode(bytes(rng.randrange(256) for _ in range(20000))) is None
    assert decode(b"PK\x03\x04\x00\x00binary zip header" * 100) is None


def test_a_declared_charset_the_bytes_contradict_is_redetected():
    decoded = decode(RUSSIAN.encode("cp1251"), declared="utf-8")
    assert decoded.redetected and decoded.text == RUSSIAN and decoded.encoding == "cp1251"
    right = decode(RUSSIAN.encode("cp1251"), declared="windows-1251")
    assert right == (RUSSIAN, "cp1251", False)


def test_lone_surrogates_are_found():
    assert has_surrogates("ok \ud800 not ok") and not has_surrogates(RUSSIAN)
