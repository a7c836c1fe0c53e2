"""C4 (15% of LLaMA): allenai/c4 ``c4-*.json.gz`` shards, read as they are.

Each line is ``{"text", "timestamp", "url"}``; the document id is ``c4/<shard>/<line>``, stable
across runs. A line that is not JSON, lacks ``text`` or is not UTF-8, and a truncated gzip stream,
are counted as errors with file and line (see :mod:`llamacorpus.sources.jsonl`); the run goes on.
An uncompressed shard (``.json``) is read in byte-range pieces by many workers, with the same ids.

With ``hf_dataset`` set (``allenai/c4``, config ``en``), the same reader streams the Hugging Face
dataset instead of files. That needs a machine online; it is not tested here.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Iterator

from llamacorpus.document import make_document
from llamacorpus.steps.filters.length import MinChars
from llamacorpus.sources import jsonl
from llamacorpus.sources.jsonl import json_records
from llamacorpus.sources.base import RunContext, Source, SourceConfig, Split
from llamacorpus.steps import BadInput

HF_PREFIX = "hf:"


@dataclasses.dataclass
class C4Config(SourceConfig):
    #: a Hugging Face dataset name (e.g. allenai/c4) to stream instead of ``inputs`` (needs network)
    hf_dataset: str = ""
    hf_config: str = "en"
    hf_split: str = "train"


def shard_name(path: str) -> str:
    name = os.path.basename(path)
    for suffix in (".gz", ".json", ".jsonl"):
        name = name[: -len(suffix)] if name.endswith(suffix) else name
    return name


def c4_document(record: dict, shard: str, number: int, location: str):
    """One C4 record -> a document, or BadInput when it has no text."""
    if not isinstance(record.get("text"), str):
        return BadInput("missing_text", location, "record has no string field 'text'")
    meta = {k: record[k] for k in ("url", "timestamp") if k in record}
    return make_document("c4", f"{shard}/{number}", record["text"], **meta)


class C4(Source):
    name = "c4"
    Config = C4Config
    category_fields = ("domain",)
    meta_fields = {"url": str, "timestamp": str}
    default_inputs = ("c4/*.json.gz",)

    def input_paths(self, cfg: C4Config, ctx: RunContext) -> list[str]:
        if cfg.hf_dataset:
            return [f"{HF_PREFIX}{cfg.hf_dataset}:{cfg.hf_config}:{cfg.hf_split}"]
        return super().input_paths(cfg, ctx)

    def read(self, cfg: C4Config, path: str) -> Iterator:
        if path.startswith(HF_PREFIX):
            return self._read_hf(path)
        return self.read_split(cfg, Split(path))

    def size(self, cfg: C4Config, path: str) -> int | None:
        return None if path.startswith(HF_PREFIX) else super().size(cfg, path)

    def splits(self, cfg: C4Config, path: str, size: int | None, staging: str) -> list[Split]:
        return super().splits(cfg, path, size, staging) if path.startswith(HF_PREFIX) else \
            jsonl.splits(path, size, cfg.split_bytes)

    def count_lines(self, cfg: C4Config, split: Split) -> int:
        return jsonl.count_lines(split)

    def read_split(self, cfg: C4Config, split: Split) -> Iterator:
        if split.path.startswith(HF_PREFIX):
            yield from self._read_hf(split.path)
            return
        shard = shard_name(split.path)
        for number, location, record in json_records(split.path, cfg.max_record_bytes, split):
            yield record if isinstance(record, BadInput) else c4_document(record, shard, number, location)

    def _read_hf(self, path: str) -> Iterator:
        import datasets

        name, config, split = path[len(HF_PREFIX):].split(":")
        for number, record in enumerate(datasets.load_dataset(name, config, split=split, streaming=True), 1):
            meta = {k: record[k] for k in ("url", "timestamp") if k in record}
            yield make_document("c4", f"{name.replace('/', '_')}-{config}-{split}/{number}", record["text"], **meta)

    def steps(self, cfg: C4Config, ctx: RunContext) -> list:
        return [MinChars(cfg.min_chars)] if cfg.min_chars else []


SOURCE = C4()
