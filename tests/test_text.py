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
    # several declarations (an HTML meta tag, then the HTTP header): the first is the one that counts
    assert decode(RUSSIAN.encode("cp1251"), declared=["utf-8", "windows-1251"]) == (RUSSIAN, "cp1251", True)
    assert decode(RUSSIAN.encode("cp1251"), declared=["windows-1251", "utf-8"]) == (RUSSIAN, "cp1251", False)
    assert decode(RUSSIAN.encode("utf-8"), declared=["koi8-r", "utf-8"]) == (RUSSIAN, "utf-8", True)
    assert decode(RUSSIAN.encode("utf-8"), declared=[None, "utf-8"]) == (RUSSIAN, "utf-8", False)


def test_lone_surrogates_are_found():
    assert has_surrogates("ok \ud800 not ok") and not has_surrogates(RUSSIAN)


def test_a_few_bytes_invalid_in_the_declared_charset_keep_it():
    """A UTF-8 text with some broken sequences stays UTF-8 (U+FFFD for the broken bytes), not
    mojibake through a detected codec; one whose every non-ASCII byte is invalid does not."""
    text = RUSSIAN + "ä ö ü " * 20
    broken = text.encode("utf-8").replace("ä".encode("utf-8"), b"\xc3\x28")  # 20 of ~1,900 non-ASCII
    decoded = decode(broken, declared="utf-8")
    assert decoded == (text.replace("ä", "\ufffd("), "utf-8", False)
    ascii_with_one_latin1 = ("Plain English text. " * 100 + "Caf\xe9.").encode("latin-1")
    decoded = decode(ascii_with_one_latin1, declared="utf-8")
    assert decoded.redetected and "\ufffd" not in decoded.text


def test_a_declared_name_that_is_no_text_codec_is_ignored():
    for name in ("base64", "zlib", "no-such-charset"):
        assert decode(RUSSIAN.encode("utf-8"), declared=name) == (RUSSIAN, "utf-8", False)
        assert decode(RUSSIAN.encode("cp1251"), declared=name) == (RUSSIAN, "cp1251", False)
    # a codec that cannot decode anything is a declaration the bytes contradict
    assert decode(RUSSIAN.encode("cp1251"), declared="undefined") == (RUSSIAN, "cp1251", True)


def test_control_characters_make_text_binary_whatever_its_codec():
    noisy = "".join(chr(1) + w for w in RUSSIAN.split(" "))  # one control character per word
    assert decode(noisy.encode("utf-8")) is None and decode(noisy.encode("cp1251"), declared="cp1251") is None
    assert decode(("\x1b" + RUSSIAN[:200]).encode("utf-8")) is not None  # one is no reason
