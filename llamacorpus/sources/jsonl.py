"""JSON Lines input shared by the sources that read it (C4, GitHub exports, Books3/PG-19).

Each non-blank line becomes a record dict or a :class:`~llamacorpus.steps.BadInput`
(``invalid_utf8``, ``not_json``, ``not_an_object``) located at ``file:line``; a truncated or
corrupt compressed stream ends the file with ``truncated_stream``/``corrupt_stream``.
"""
from __future__ import annotations

import json
import zlib
from typing import Iterator

from llamacorpus import fileio
from llamacorpus.steps import BadInput


def parse_json_line(raw: bytes, location: str):
    """One JSONL line -> the record (a dict), or BadInput (``invalid_utf8``, ``not_json``)."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return BadInput("invalid_utf8", location, str(exc))
    try:
        record = json.loads(line)
    except ValueError as exc:
        return BadInput("not_json", location, str(exc))
    return record if isinstance(record, dict) else BadInput("not_an_object", location, "a line must be a JSON object")


def json_records(path: str) -> Iterator[tuple[int, str, dict | BadInput]]:
    """``(line number, location, record or BadInput)`` for each non-blank line of a (compressed)
    JSONL file; a truncated or corrupt compressed stream ends it with a BadInput
    (``truncated_stream``/``corrupt_stream``) at the line where it broke."""
    number = 0
    try:
        for number, raw in fileio.iter_lines(path):
            if raw.strip():
                location = f"{path}:{number}"
                yield number, location, parse_json_line(raw, location)
    except (EOFError, OSError, zlib.error) as exc:
        yield number + 1, f"{path}:{number + 1}", BadInput(
            "truncated_stream" if isinstance(exc, EOFError) else "corrupt_stream", f"{path}:{number + 1}",
            f"{type(exc).__name__}: {exc}")
