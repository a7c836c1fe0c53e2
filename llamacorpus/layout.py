"""Where everything a run writes lives, in one place (docs/architecture.md, "Output layout").

Every path under a run's output (local or ``gs://``) comes from a :class:`Layout`; no other module
builds one by hand::

    OUT/documents/<source>/part-*.parquet, _SUCCESS   documents and the finished-source marker
    OUT/documents/README.md                             the dataset card (one config per source)
    OUT/samples/<source>/kept.jsonl                     a sample of kept documents
    OUT/jsonl/<source>/part-*.jsonl.zst                 the RedPajama-layout export
    OUT/rejected/<source>/<reason>.jsonl                samples of dropped documents
    OUT/errors/<source>/errors-*.jsonl                  dead letters
    OUT/stats/run.json, mixture.json, <step>.json       the run's statistics and step reports
    OUT/stats/line_dedup.json                           lines in and removed per Common Crawl dump, per scope
    OUT/stats/sources/<source>.json                     one source's funnel
    OUT/stats/distributions/<group>.json                histograms and quantiles
    OUT/stats/categories/<group>.json                   documents per category value
    OUT/stats/progress/<run>/                           live counters of a local run (removed at its end)
    OUT/staging/<source>/                               decompressed copies of inputs read in pieces
    OUT/staging/tokenizer-sample/                       the tokenizer sample's parts (removed by the mix)
    OUT/shards/                                         Megatron shards, manifest, tokenizer
    OUT/models/ (or models_dir)                         learnt artifacts: lm/, tokenizer/
    OUT/report.html                                     the statistics report
"""
from __future__ import annotations

import dataclasses

SUCCESS = "_SUCCESS"
REPORT = "report.html"
CARD = "README.md"


def _join(*parts: str) -> str:
    return "/".join([parts[0].rstrip("/"), *parts[1:]])


@dataclasses.dataclass(frozen=True)
class Layout:
    """The paths of one run's output; ``models_dir`` "" means ``<output>/models``."""

    output: str
    models_dir: str = ""

    @property
    def root(self) -> str:
        return self.output.rstrip("/")

    # documents and what goes with them, per source
    def documents(self, source: str) -> str:
        return _join(self.documents_root, source)

    def marker(self, source: str) -> str:
        return _join(self.documents(source), SUCCESS)

    @property
    def documents_root(self) -> str:
        return _join(self.root, "documents")

    @property
    def dataset_card(self) -> str:
        """The Hugging Face dataset card of the documents (``documents/README.md``)."""
        return _join(self.documents_root, CARD)

    def samples(self, source: str) -> str:
        return _join(self.root, "samples", source)

    def kept_samples(self, source: str) -> str:
        """A deterministic sample of the source's kept documents."""
        return _join(self.samples(source), "kept.jsonl")

    def jsonl(self, source: str) -> str:
        return _join(self.root, "jsonl", source)

    def rejected(self, source: str, reason: str | None = None) -> str:
        directory = _join(self.root, "rejected", source)
        return directory if reason is None else _join(directory, f"{reason}.jsonl")

    def errors(self, source: str) -> str:
        return _join(self.root, "errors", source)

    def staging(self, source: str) -> str:
        """Decompressed copies of a source's compressed inputs that workers read in pieces (a Stack
        Exchange Posts.xml out of its .7z); removed once the source is read, or with its outputs."""
        return _join(self.root, "staging", source)

    @property
    def tokenizer_sample(self) -> str:
        """The tokenizer sample's part files, written by every worker and read by the one that
        trains; removed when the mix stage finishes."""
        return _join(self.root, "staging", "tokenizer-sample")

    def source_outputs(self, source: str) -> tuple[str, ...]:
        """The directories a rebuilt source replaces (a staging copy a failed run left included)."""
        return (self.documents(source), self.rejected(source), self.errors(source), self.jsonl(source),
                self.samples(source), self.staging(source))

    # statistics
    @property
    def stats_dir(self) -> str:
        return _join(self.root, "stats")

    def stats(self, name: str) -> str:
        """``stats/<name>.json``: run, mixture, or a global step's report."""
        return _join(self.stats_dir, f"{name}.json")

    @property
    def run_json(self) -> str:
        return self.stats("run")

    @property
    def line_dedup(self) -> str:
        """Line dedup's report: per dump, lines in and removed under each scope (run, dump, files)."""
        return self.stats("line_dedup")

    def source_stats(self, source: str) -> str:
        return _join(self.stats_dir, "sources", f"{source}.json")

    def distributions(self, group: str) -> str:
        return _join(self.stats_dir, "distributions", f"{group}.json")

    def categories(self, group: str) -> str:
        return _join(self.stats_dir, "categories", f"{group}.json")

    @property
    def progress(self) -> str:
        """Where the workers of a local run leave their live counters for the progress lines
        (one sub-directory per run, removed when it ends)."""
        return _join(self.stats_dir, "progress")

    # shards, models, report
    @property
    def shards(self) -> str:
        return _join(self.root, "shards")

    @property
    def models(self) -> str:
        return self.models_dir.rstrip("/") if self.models_dir else _join(self.root, "models")

    @property
    def lm(self) -> str:
        """The per-language SentencePiece + KenLM models of the perplexity step."""
        return _join(self.models, "lm")

    @property
    def tokenizer(self) -> str:
        return _join(self.models, "tokenizer")

    @property
    def report(self) -> str:
        return _join(self.root, REPORT)
