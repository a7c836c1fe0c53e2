"""Typed configuration sections built from plain dicts, with errors that name the key.

Every recipe section is a dataclass deriving from :class:`Section`. :func:`build` turns a dict
into it, checking that every key is known and every value has the declared type; a section's
``check()`` then validates values (ranges, choices) and raises :class:`ConfigError` naming the
field. Lives at the package root so source, step and tokenizer modules declare their own sections
without importing ``pipeline/``; :func:`load_yaml` reads a recipe file with its overrides.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Union

import yaml

#: the bundled LLaMA-1 recipe, relative to the working directory
DEFAULT_RECIPE = "recipes/llama1.yaml"


class ConfigError(ValueError):
    """A recipe key or value that is wrong; the message names it."""


@dataclasses.dataclass
class Section:
    def check(self) -> None:
        """Validate values; raise ConfigError(field name, message) via :meth:`fail`."""

    def fail(self, field: str, message: str) -> None:
        raise ConfigError(f"{field}: {message}")

    def require(self, condition: bool, field: str, message: str) -> None:
        if not condition:
            self.fail(field, message)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, path)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{path}: expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{path}: must be one of {list(args)}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        return [_convert(v, args[0] if args else Any, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        kt, vt = args if args else (Any, Any)
        return {_convert(k, kt, f"{path}"): _convert(v, vt, f"{path}.{k}") for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, Section):
        return build(tp, value, path)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{path}: unsupported type {tp}")


def build(cls: type, data: Any, path: str = "") -> Any:
    """``data`` (a dict, or None for all defaults) as an instance of the Section ``cls``."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path or cls.__name__}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{path}." if path else ""
        raise ConfigError(f"unknown recipe key {where}{unknown[0]} (known keys under "
                          f"{path or 'the top level'}: {', '.join(sorted(fields))})")
    kwargs = {}
    for name, field in fields.items():
        key_path = f"{path}.{name}" if path else name
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], key_path)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing recipe key {key_path}")
    obj = cls(**kwargs)
    try:
        obj.check()
    except ConfigError as exc:
        raise ConfigError(f"{path}.{exc}" if path else str(exc)) from None
    return obj


def to_dict(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj


def field(default: Any = dataclasses.MISSING, **kw) -> Any:
    """``dataclasses.field`` with mutable defaults copied (lists, dicts)."""
    if "default_factory" in kw:
        return dataclasses.field(**kw)
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), **kw)
    return dataclasses.field(default=default, **kw)


# ---------------------------------------------------------------------------- recipe files

def parse_override(text: str) -> tuple[list[str], Any]:
    """``"a.b.c=value"`` -> (["a", "b", "c"], YAML-parsed value)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.path=value")
    key, value = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override {text!r} has no key")
    return parts, yaml.safe_load(value)


def apply_override(data: dict, parts: list[str], value: Any) -> None:
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"override {'.'.join(parts)}: {'.'.join(parts[:i + 1])} is not a mapping")
        node = child
    node[parts[-1]] = value


def add_recipe_arguments(parser, example: str = "sources.c4.min_chars=200") -> None:
    """``--recipe`` and ``--set KEY=VALUE`` (repeatable), as every command that reads a recipe has them."""
    parser.add_argument("--recipe", default=DEFAULT_RECIPE, help="recipe YAML (default %(default)s)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override any recipe key, e.g. --set {example} (repeatable)")


def load_yaml(path: str, overrides: list[str] | None = None, **named: Any) -> dict:
    """A recipe file as a dict, with ``--set key.path=value`` overrides and named overrides (dotted
    keys, None skipped) applied; not yet validated (:func:`build` does that per section)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise ConfigError(f"recipe file {path!r} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"recipe file {path!r} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"recipe file {path!r}: a recipe is a mapping at the top level")
    for text in overrides or []:
        apply_override(data, *parse_override(text))
    for key, value in named.items():
        if value is not None:
            apply_override(data, key.split("."), value)
    return data
