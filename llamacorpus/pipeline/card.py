"""The dataset card of a run's documents: ``<output>/documents/README.md``, written at the end of
every run (sources built and reused alike) from run.json.

A Hugging Face dataset card: YAML front matter with one ``configs:`` entry per source that has
part files (``config_name: c4``, ``data_files: c4/part-*.parquet``), so
``datasets.load_dataset("<output>/documents", "c4")`` loads one source with its own typed ``meta``
(sources differ in their meta fields, so each is its own config); then, in Markdown, what each
source holds (documents, characters, bytes, tokens in the mixture), the recipe hash and the
version that built it, each source's typed meta fields, and the licences: the terms of each
source's data (:data:`llamacorpus.licenses.DATA_TERMS`) and, for GitHub, the files per licence
from the run's category counts.
"""
from __future__ import annotations

import yaml

from llamacorpus import fileio, parquet
from llamacorpus import sources as source_registry
from llamacorpus.layout import Layout
from llamacorpus.licenses import DATA_TERMS
from llamacorpus.report import data as rd

LICENSE_CATEGORY = "license"


def configs(output: str, run: dict) -> list[dict]:
    """One ``configs`` entry per source of the run whose documents have part files."""
    layout = Layout(output)
    out = []
    for name in rd.source_names(run):
        if fileio.match_paths(f"{layout.documents(name)}/{parquet.PART_GLOB}"):
            out.append({"config_name": name,
                        "data_files": [{"split": "train", "path": f"{name}/{parquet.PART_GLOB}"}]})
    return out


def front_matter(run: dict, entries: list[dict]) -> dict:
    recipe = run.get("recipe") or {}
    licenses = sorted({DATA_TERMS.get(e["config_name"], ("other", ""))[0] for e in entries}) or ["other"]
    return {
        "pretty_name": recipe.get("name") or "llamacorpus documents",
        "license": "other" if len(licenses) > 1 else licenses[0],
        "license_name": "mixed: per source, see Licences",
        "task_categories": ["text-generation"],
        "tags": ["llamacorpus", "pretraining", "llama"],
        "configs": entries,
    }


def _type_name(kind) -> str:
    return getattr(kind, "__name__", None) if not getattr(kind, "__args__", None) else str(kind)


def github_licenses(run: dict) -> dict[str, int]:
    """Files written per SPDX id (the GitHub source's output category counts)."""
    columns = rd.categories(run, "github", LICENSE_CATEGORY)
    return dict(sorted(columns.get("output", {}).items(), key=lambda kv: (-kv[1], kv[0])))


def body(run: dict, entries: list[dict]) -> str:
    recipe, info = run.get("recipe") or {}, run.get("run") or {}
    names = [e["config_name"] for e in entries]
    rows = {r.source: r for r in rd.source_rows(run)}
    lines = [f"# {recipe.get('name') or 'llamacorpus documents'}", ""]
    if recipe.get("description"):
        lines += [recipe["description"], ""]
    lines += [
        f"Cleaned documents built by llamacorpus {info.get('version', '?')} from the recipe with hash "
        f"`{run.get('recipe_hash', '?')}` (run started {info.get('started', '?')}; sources built in it: "
        f"{', '.join(info.get('sources_built') or []) or 'none'}; reused from an earlier run with the same "
        f"settings and inputs: {', '.join(info.get('sources_reused') or []) or 'none'}). The run's statistics "
        "are in `../stats/run.json` and `../report.html`.",
        "",
        "## Loading",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        "# PATH: this folder, or the Hub repository it is published as",
        *(f'{n} = load_dataset(PATH, "{n}", split="train")' for n in names[:2]),
        "```",
        "",
        "One configuration per source: " + ", ".join(f"`{n}`" for n in names) + ". Each row is "
        "`id`, `text`, `source` and `meta`, a struct of the source's typed fields (below) and `extra`, a JSON "
        "string of any other field (or null). The sources' `meta` differ, so load one at a time (or all with "
        '`load_dataset("parquet", data_files=..., columns=["id", "text", "source"])`).',
        "",
        "## Sources",
        "",
        "| source | documents | characters | bytes (UTF-8) | tokens in the mixture | data licence |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for n in names:
        r = rows.get(n)
        if r is None:
            continue
        lines.append(f"| {n} | {rd.number(r.documents_out)} | {rd.number(r.chars_out)} | {rd.number(r.bytes_out)} | "
                     f"{rd.number(r.tokens_out)} | {DATA_TERMS.get(n, ('other', ''))[0]} |")
    lines += ["", "## Meta fields", "", "| source | typed fields of `meta` |", "|---|---|"]
    for n in names:
        fields = source_registry.get(n).meta_fields
        lines.append(f"| {n} | " + ", ".join(f"`{k}` {_type_name(t)}" for k, t in fields.items()) + " |")
    lines += ["", "## Licences", "", "Each source's text comes under the terms of its data, not under this "
              "tool's licence:", ""]
    for n in names:
        lines.append(f"* **{n}**: {DATA_TERMS.get(n, ('other', 'see the source'))[1]}.")
    gh = github_licenses(run) if "github" in names else {}
    if gh:
        lines += ["", "GitHub files written per licence (SPDX id):", "", "| licence | files |", "|---|---:|"]
        lines += [f"| {spdx} | {rd.number(n)} |" for spdx, n in gh.items()]
    return "\n".join(lines) + "\n"


def card_text(output: str, run: dict) -> str:
    entries = configs(output, run)
    return "---\n" + yaml.safe_dump(front_matter(run, entries), sort_keys=False, allow_unicode=True) + "---\n\n" + \
        body(run, entries)


def write_card(output: str, run: dict) -> str:
    """Write ``<output>/documents/README.md``; returns its path."""
    path = Layout(output).dataset_card
    fileio.atomic_write(path, card_text(output, run))
    return path
