"""The layers import one way (docs/architecture.md, "Layers"): every import of the package, module
level and function-local alike, parsed with ``ast`` and checked against the allowed directions,
and no import cycle between modules."""
from __future__ import annotations

import ast
import collections
from pathlib import Path

import pytest

from helpers import ROOT

PACKAGE = ROOT / "llamacorpus"
CORE = "core"  # document, config, fileio, layout, parquet, histogram, licenses, urls
#: layer -> the layers it may import (its own included). The shard reader is the one module of
#: tokenize that model may import.
ALLOWED = {
    CORE: {CORE},
    "steps": {CORE, "steps"},
    "sources": {CORE, "steps", "sources"},
    "tokenize": {CORE, "tokenize"},
    "model": {"model", "tokenize.megatron"},
    "report": {CORE, "report"},
    "pipeline": {CORE, "steps", "sources", "tokenize", "report", "pipeline"},
    "cli": {"cli"},  # llamacorpus/cli.py loads each command's module by name, at run time
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


SHARD_READER = "llamacorpus.tokenize.megatron"


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ALLOWED else CORE


def target_of(importer: str, imported: str) -> str:
    """The layer an import reaches; the shard reader counts on its own for layers outside tokenize."""
    if imported == SHARD_READER and layer_of(importer) != "tokenize":
        return "tokenize.megatron"
    return layer_of(imported)


def allowed(importer: str, imported: str, rules: dict[str, set[str]]) -> bool:
    src, dst = layer_of(importer), target_of(importer, imported)
    return dst in rules[src] or (dst == "tokenize.megatron" and "tokenize" in rules[src])


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path, known: set[str]) -> list[tuple[str, int]]:
    """``(imported llamacorpus module, line)`` of every import statement, wherever it stands."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:  # "from llamacorpus import fileio" imports the module fileio
                child = f"{node.module}.{alias.name}"
                found.append((child if child in known else node.module, node.lineno))
    return [(name, line) for name, line in found if name == "llamacorpus" or name.startswith("llamacorpus.")]


def import_graph() -> dict[str, list[tuple[str, int]]]:
    mods = modules()
    return {name: imports_of(path, set(mods)) for name, path in mods.items()}


def violations(graph: dict[str, list[tuple[str, int]]], rules: dict[str, set[str]] = ALLOWED) -> list[str]:
    return [f"{importer}:{line} imports {imported} ({layer_of(importer)} -> {target_of(importer, imported)})"
            for importer, edges in sorted(graph.items()) for imported, line in edges
            if not allowed(importer, imported, rules)]


def cycles(graph: dict[str, list[tuple[str, int]]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), and modules importing themselves."""
    edges = {m: sorted({d for d, _ in e if d in graph and d != m}) for m, e in graph.items()}
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_every_import_runs_in_an_allowed_direction():
    graph = import_graph()
    assert len(graph) > 50 and sum(map(len, graph.values())) > 200  # the whole package was parsed
    assert violations(graph) == []


def test_no_import_cycle_between_modules():
    assert cycles(import_graph()) == []


def test_function_local_imports_are_seen():
    graph = import_graph()
    # llamacorpus/sources/base.py imports the registry inside a function
    assert "llamacorpus.sources" in {m for m, _ in graph["llamacorpus.sources.base"]}


def used_edges(graph) -> set[tuple[str, str]]:
    return {(layer_of(a), target_of(a, b)) for a, edges in graph.items() for b, _ in edges
            if layer_of(a) != target_of(a, b)}


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_every_allowed_direction_is_needed(layer):
    """Each rule is tight: removing any allowed direction between two layers that the code uses
    makes the check fail on today's code, so the check can fail; and no rule allows a direction
    the code does not use."""
    graph = import_graph()
    needed = {dst for src, dst in used_edges(graph) if src == layer}
    for dst in sorted(needed):
        narrowed = {k: set(v) for k, v in ALLOWED.items()}
        narrowed[layer] -= {dst, "tokenize"} if dst == "tokenize.megatron" else {dst}
        assert any(f"({layer} -> {dst})" in v for v in violations(graph, narrowed)), (layer, dst)
    assert ALLOWED[layer] - {layer} <= needed | ({"tokenize.megatron"} if "tokenize" in needed else set())


def test_the_issue_rules_hold_by_name():
    """The four directions the architecture names, stated as they are written there."""
    pairs = collections.Counter(used_edges(import_graph()))
    assert not [p for p in pairs if p[0] in ("sources", "steps") and p[1] == "pipeline"]
    assert not [p for p in pairs if p == ("steps", "sources")]
    assert not [p for p in pairs if p == ("tokenize", "pipeline")]
    assert {dst for src, dst in pairs if src == "model"} <= {"tokenize.megatron"}
