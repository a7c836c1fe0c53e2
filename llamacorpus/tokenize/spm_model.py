"""The few fields of a SentencePiece ``ModelProto`` that the fast encoder needs, read and patched on
the protobuf wire format directly (sentencepiece's generated ``sentencepiece_model_pb2`` needs a
newer protobuf runtime than Beam allows, so it cannot be imported here).

``ModelProto``: 1 pieces, 2 trainer_spec, 3 normalizer_spec, 4 self_test_data, 5 denormalizer_spec.
``SentencePiece`` (a piece): 1 piece, 2 score, 3 type (:data:`NORMAL` by default).
``NormalizerSpec``: 1 name, 2 precompiled_charsmap, 3 add_dummy_prefix (default true),
4 remove_extra_whitespaces (default true), 5 escape_whitespaces (default true), 6 rule tsv.
"""
from __future__ import annotations

from typing import Iterator

PIECES, NORMALIZER_SPEC = 1, 3
#: ``SentencePiece.Type``
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
_DEFAULTS = {"name": "", "add_dummy_prefix": True, "remove_extra_whitespaces": True, "escape_whitespaces": True}
_NORMALIZER_FIELDS = {1: "name", 3: "add_dummy_prefix", 4: "remove_extra_whitespaces", 5: "escape_whitespaces"}


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _fields(data: bytes) -> Iterator[tuple[int, int, int, int, object]]:
    """(field number, wire type, start, end, value) of each top-level field; a length-delimited
    value is its payload bytes."""
    i = 0
    while i < len(data):
        start = i
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        elif wire == 2:
            size, i = _varint(data, i)
            value, i = data[i:i + size], i + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire} in a SentencePiece model")
        yield number, wire, start, i, value


def normalizer_spec(model: bytes) -> dict:
    """name, add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces of a model."""
    spec = dict(_DEFAULTS)
    for number, _, _, _, value in _fields(model):
        if number == NORMALIZER_SPEC:
            for field, _, _, _, v in _fields(value):
                if field in _NORMALIZER_FIELDS:
                    key = _NORMALIZER_FIELDS[field]
                    spec[key] = v.decode("utf-8") if key == "name" else bool(v)
    return spec


def without_dummy_prefix(model: bytes) -> bytes:
    """The same model with ``add_dummy_prefix: false`` (the last value of a field wins)."""
    out = bytearray()
    for number, wire, start, end, value in _fields(model):
        if number == NORMALIZER_SPEC and wire == 2:
            payload = value + b"\x18\x00"  # field 3, varint 0
            out += _encode_varint(NORMALIZER_SPEC << 3 | 2) + _encode_varint(len(payload)) + payload
        else:
            out += model[start:end]
    return bytes(out)


def piece_types(model: bytes) -> list[int]:
    """The type of each piece, by id (:data:`NORMAL`, :data:`USER_DEFINED`, ...)."""
    types = []
    for number, _, _, _, value in _fields(model):
        if number == PIECES:
            kind = NORMAL
            for field, _, _, _, v in _fields(value):
                if field == 3:
                    kind = v
            types.append(kind)
    return types
