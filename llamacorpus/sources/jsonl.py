"""JSON Lines input shared by the sources that read it (C4, GitHub exports, Books3/PG-19).

Each non-blank line becomes a record dict or a :class:`~llamacorpus.steps.BadInput`
(``invalid_utf8``, ``not_json``, ``not_an_object``, ``invalid_unicode`` for a lone UTF-16 surrogate
in any string, ``oversize_record`` for a line longer than the
recipe's ``max_record_bytes``, skipped without being held) located at ``file:line``; a truncated
or corrupt compressed stream ends the file with ``truncated_stream``/``corrupt_stream``. A file
that cannot be opened raises (the read adapter counts it as ``error:unreadable_input``).

An uncompressed file is cut into byte ranges that workers read apart
(:func:`splits`, :mod:`llamacorpus.sources.lines`); line numbers, and so locations and the ids
built from them, are the same as when one worker reads the whole file.
"""
from __future__ import annotations

import json
import re
import zlib
from typing import Iterator

from llamacorpus import fileio
from llamacorpus.sources import lines
from llamacorpus.sources.base import MAX_RECORD_BYTES, Split, whole_file
from llamacorpus.steps import BadInput
from llamacorpus.text import surrogate_field

#: a JSON escape of a UTF-16 surrogate (a lone one, or half of a pair)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def parse_json_line(raw: bytes, location: str):
    """One JSONL line -> the record (a dict), or BadInput (``invalid_utf8``, ``not_json``,
    ``not_an_object``, ``invalid_unicode`` for a lone surrogate escape in any of its strings)."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return BadInput("invalid_utf8", location, str(exc))
    try:
        record = json.loads(line)
    except ValueError as exc:
        return BadInput("not_json", location, str(exc))
    if not isinstance(record, dict):
        return BadInput("not_an_object", location, "a line must be a JSON object")
    if _SURROGATE_ESCAPE.search(raw):  # only then can a string hold a lone surrogate
        field = surrogate_field(record)
        if field is not None:
            return BadInput("invalid_unicode", location, f"a lone UTF-16 surrogate in {field}")
    return record


def oversize(location: str, max_bytes: int) -> BadInput:
    return BadInput("oversize_record", location, f"line longer than max_record_bytes ({max_bytes}); skipped")


def json_records(path: str, max_bytes: int = MAX_RECORD_BYTES,
                 split: Split | None = None) -> Iterator[tuple[int, str, dict | BadInput]]:
    """``(line number, location, record or BadInput)`` for each non-blank line of a (compressed)
    JSONL file, or of one piece of it; a truncated or corrupt compressed stream ends it with a
    BadInput (``truncated_stream``/``corrupt_stream``) at the line where it broke."""
    if split is not None and not split.whole:
        for number, raw in lines.range_lines(split, max_bytes):
            if raw is None or raw.strip():
                yield _record(path, number, raw, max_bytes)
        return
    with fileio.open_decompressed(path) as f:  # outside the try: an input that cannot be opened raises
        number = 0
        try:
            for number, raw in enumerate(lines.read_lines(f, max_bytes), 1):
                if raw is None or raw.strip():
                    yield _record(path, number, raw, max_bytes)
        except (EOFError, OSError, zlib.error) as exc:
            number += 1
            yield number, f"{path}:{number}", BadInput(
                "truncated_stream" if isinstance(exc, EOFError) else "corrupt_stream", f"{path}:{number}",
                f"{type(exc).__name__}: {exc}")


def _record(path: str, number: int, raw: bytes | None, max_bytes: int) -> tuple[int, str, dict | BadInput]:
    location = f"{path}:{number}"
    return number, location, oversize(location, max_bytes) if raw is None else parse_json_line(raw, location)


def splits(path: str, size: int | None, split_bytes: int) -> list[Split]:
    """Byte-range pieces of an uncompressed JSONL file; a compressed one is read whole."""
    if size is None or lines.is_compressed(path):
        return [whole_file(path, size)]
    return lines.line_splits(path, size, split_bytes)


def count_lines(split: Split) -> int:
    return lines.count_range(split)
