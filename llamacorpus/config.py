"""Typed configuration sections built from plain dicts, with errors that name the key.

Every recipe section is a dataclass deriving from :class:`Section`. :func:`build` turns a dict
into it, checking that every key is known and every value has the declared type; a section's
``check()`` then validates values (ranges, choices) and raises :class:`ConfigError` naming the
field. Lives at the package root so source, step and tokenizer modules declare their own sections
without importing ``pipeline/``; :func:`load_yaml` reads a recipe file with its overrides.

YAML is read with YAML 1.2's core schema (:class:`RecipeLoader`): only ``true``/``false`` are
booleans, so ``line_dedup: off`` is the string ``"off"``; keys typed ``bool`` still accept
yes/no/on/off. Recipes ship inside the package (``llamacorpus/recipes/<name>.yaml``):
``--recipe llama1`` names the bundled one, and a path names a file.

A key typed :data:`FilePath` is a path relative to the directory a run is launched from (a model
file, the output); :func:`resolve_paths` makes those absolute before a graph is built, so workers
started elsewhere (a portable runner's worker pool, Dataflow) open the same files. Input globs are
relative to ``input_root`` instead and are plain ``str``.
"""
from __future__ import annotations

import dataclasses
import importlib.resources
import os
import re
import types
import typing
from typing import Any, Literal, Union

import yaml

#: the bundled LLaMA-1 recipe (``llamacorpus/recipes/llama1.yaml``)
DEFAULT_RECIPE = "llama1"

#: a path relative to the launch directory (see the module docstring); a ``str`` in every other way
FilePath = typing.NewType("FilePath", str)


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


#: what YAML 1.1 read as booleans, accepted for keys typed ``bool`` (strings everywhere else)
YAML11_BOOLS = {"yes": True, "no": False, "on": True, "off": False}


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
        if isinstance(value, str) and value.lower() in YAML11_BOOLS:
            return YAML11_BOOLS[value.lower()]
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
    if tp is str or tp is FilePath:
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


# ---------------------------------------------------------------------------- paths

def resolve_paths(obj: Any, base: str | None = None) -> Any:
    """``obj`` (a Section, or a dict/list of them) with every :data:`FilePath` value that is local
    and relative made absolute against ``base`` (default: the working directory); URLs
    (``gs://...``) and empty values (meaning "the default") are left as they are. Returns a copy."""
    base = os.getcwd() if base is None else base
    if isinstance(obj, dict):
        return {k: resolve_paths(v, base) for k, v in obj.items()}
    if isinstance(obj, list):
        return [resolve_paths(v, base) for v in obj]
    if not (dataclasses.is_dataclass(obj) and not isinstance(obj, type)):
        return obj
    hints = typing.get_type_hints(type(obj))
    changes = {}
    for f in dataclasses.fields(obj):
        if not f.init:
            continue
        value, tp = getattr(obj, f.name), hints.get(f.name)
        if tp is FilePath or typing.get_args(tp) == (FilePath,):
            changes[f.name] = ([_absolute(v, base) for v in value] if isinstance(value, list)
                               else _absolute(value, base))
        elif isinstance(value, (dict, list)) or dataclasses.is_dataclass(value):
            changes[f.name] = resolve_paths(value, base)
    return dataclasses.replace(obj, **changes)


def _absolute(path: str, base: str) -> str:
    if not path or "://" in path:
        return path
    return os.path.normpath(os.path.join(base, os.path.expanduser(path)))


# ---------------------------------------------------------------------------- recipe files

class RecipeLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's core schema for plain scalars: booleans are only
    true/false (``off``, ``on``, ``yes``, ``no`` stay strings), integers are decimal, ``0o`` or
    ``0x`` (no sexagesimal ``1:30``, no leading-zero octal), floats as JSON writes them plus
    ``.inf``/``.nan``, and null is ``null``/``~``/empty."""


RecipeLoader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in (
        ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
        ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
        ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
        ("tag:yaml.org,2002:float",
         r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
         list("-+.0123456789")),
        ("tag:yaml.org,2002:merge", r"^<<$", ["<"])):
    RecipeLoader.add_implicit_resolver(_tag, re.compile(_pattern), _first)


def _construct_int(loader: RecipeLoader, node) -> int:
    text = loader.construct_scalar(node)
    if text.startswith(("0o", "0x")):
        return int(text[2:], 8 if text[1] == "o" else 16)
    return int(text, 10)


def _construct_bool(loader: RecipeLoader, node) -> bool:
    return loader.construct_scalar(node).lower() == "true"


RecipeLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
RecipeLoader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)


def parse_yaml(text: str) -> Any:
    """A YAML document read with :class:`RecipeLoader` (raises ``yaml.YAMLError``)."""
    return yaml.load(text, Loader=RecipeLoader)  # noqa: S506 - RecipeLoader is a SafeLoader


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"a.b.c=value"`` -> (["a", "b", "c"], the value read as YAML); ConfigError naming the
    override when it has no ``=``, no key, or a value that is not YAML."""
    if "=" not in text:
        raise ConfigError(f"--set {text}: must look like KEY=VALUE (e.g. --set sources.c4.min_chars=200)")
    key, value = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"--set {text}: no key before the '='")
    try:
        return parts, parse_yaml(value)
    except yaml.YAMLError as exc:
        detail = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise ConfigError(f"--set {text}: the value is not valid YAML: {detail} "
                          f"(a string with YAML's special characters needs quotes)") from None


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


def bundled_recipes() -> dict[str, str]:
    """name -> path of the recipes shipped in the package (``llamacorpus/recipes/*.yaml``)."""
    folder = importlib.resources.files("llamacorpus") / "recipes"
    if not folder.is_dir():
        return {}
    return {entry.name[:-len(".yaml")]: str(entry) for entry in sorted(folder.iterdir(), key=lambda e: e.name)
            if entry.name.endswith(".yaml")}


def recipe_path(recipe: str) -> str:
    """A recipe file's path: ``recipe`` itself when it is a file, else the bundled recipe of that
    name (``llama1`` or ``llama1.yaml``); ConfigError listing the bundled ones otherwise."""
    if os.path.isfile(recipe):
        return recipe
    bundled = bundled_recipes()
    name = recipe[:-len(".yaml")] if recipe.endswith(".yaml") else recipe
    if name in bundled:
        return bundled[name]
    if "/" in recipe or os.sep in recipe:
        raise ConfigError(f"recipe file {recipe!r} does not exist (bundled recipes, by name: "
                          f"{', '.join(bundled) or 'none'})")
    raise ConfigError(f"recipe {recipe!r} is neither a file nor a bundled recipe "
                      f"(bundled: {', '.join(bundled) or 'none'})")


def add_recipe_arguments(parser, example: str = "sources.c4.min_chars=200") -> None:
    """``--recipe`` and ``--set KEY=VALUE`` (repeatable), as every command that reads a recipe has them."""
    parser.add_argument("--recipe", default=DEFAULT_RECIPE,
                        help="a bundled recipe's name (%(default)s) or a recipe YAML file (default %(default)s)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override any recipe key, e.g. --set {example} (repeatable)")


def load_yaml(recipe: str, overrides: list[str] | None = None, **named: Any) -> dict:
    """A recipe (a file, or a bundled recipe's name) as a dict, with ``--set key.path=value``
    overrides and named overrides (dotted keys, None skipped) applied; not yet validated
    (:func:`build` does that per section)."""
    path = recipe_path(recipe)
    try:
        with open(path, encoding="utf-8") as f:
            data = parse_yaml(f.read()) or {}
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
