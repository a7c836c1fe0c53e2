"""Source-file filters for GitHub: which files are code worth keeping, and RedPajama's quality
heuristics ("heuristics based on the line length or proportion of alphanumeric characters").

* :class:`FileTypeFilter` drops licence files themselves (``LICENSE``, ``COPYING``, ...; reason
  ``license_file``) and files whose path does not end with a whitelisted extension or name
  (reason ``extension``; RedPajama's list, matched like RedPajama with ``str.endswith``, so it is
  case-sensitive and ``Makefile``/``Dockerfile`` match whole names).
* :class:`CodeQualityFilter` scores every file (meta, and the run's histograms):
  ``max_line_length``, ``mean_line_length`` (characters / lines, newlines included, as RedPajama
  computed it), ``alnum_fraction`` (alphanumeric characters / characters) and
  ``alpha_per_token`` (alphabetic characters / tokenizer tokens); it drops a file when
  ``max_line_length > 1000`` (reason ``max_line_length``), ``mean_line_length > 100``
  (``mean_line_length``), ``alnum_fraction < 0.25`` (``alnum_fraction``) or
  ``alpha_per_token < 1.5`` (``alpha_per_token``), checked in that order; an empty file is
  ``empty``.

The tokenizer of ``alpha_per_token``: RedPajama's ``github_run_filter.py`` counted the tokens of
``EleutherAI/pythia-6.9b-deduped`` (a Hugging Face download). Nothing may be downloaded at run
time here, so the ratio is computed with a SentencePiece model from the recipe
(``heuristics.tokenizer_model``; point it at LLaMA's ``tokenizer.model`` to score with LLaMA's
tokenizer). When it is empty, the model bundled with the package is used:
``llamacorpus/resources/code_bpe_16k.model``, a 16k BPE trained with LLaMA's trainer settings
(split digits, byte fallback, whitespace pieces, no normalisation) on CPython's standard library
and three public-domain books (provenance in ``resources/NOTICE.md``). The threshold 1.5 was set
for a 50k BPE; the ratio depends on the tokenizer, which is why every file's value lands in the
statistics next to the threshold.
"""
from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any, Sequence

from llamacorpus import fileio
from llamacorpus.config import FilePath, Section, field
from llamacorpus.document import Document
from llamacorpus.steps import Filter

BUNDLED_TOKENIZER = Path(__file__).resolve().parents[2] / "resources" / "code_bpe_16k.model"

#: RedPajama v1's extension whitelist (data_prep/github/github_run_filter.py)
REDPAJAMA_EXTENSIONS = [
    ".asm", ".bat", ".cmd", ".c", ".h", ".cs", ".cpp", ".hpp", ".c++", ".h++", ".cc", ".hh", ".C", ".H", ".cmake",
    ".css", ".dockerfile", ".f90", ".f", ".f03", ".f08", ".f77", ".f95", ".for", ".fpp", ".go", ".hs", ".html",
    ".java", ".js", ".jl", ".lua", ".md", ".markdown", ".php", ".php3", ".php4", ".php5", ".phps", ".phpt", ".pl",
    ".pm", ".pod", ".perl", ".ps1", ".psd1", ".psm1", ".py", ".rb", ".rs", ".sql", ".scala", ".sh", ".bash",
    ".command", ".zsh", ".ts", ".tsx", ".tex", ".vb", "Dockerfile", "Makefile", ".xml", ".rst", ".m", ".smali",
]

_LANGUAGE_EXTENSIONS = {
    "Assembly": ".asm .s", "Batchfile": ".bat .cmd", "C": ".c .h", "C#": ".cs",
    "C++": ".cpp .hpp .c++ .h++ .cc .hh .cxx .hxx .C .H", "CMake": ".cmake", "CSS": ".css",
    "Dockerfile": ".dockerfile", "Fortran": ".f90 .f .f03 .f08 .f77 .f95 .for .fpp", "Go": ".go",
    "Haskell": ".hs", "HTML": ".html .htm", "Java": ".java", "JavaScript": ".js .jsx .mjs", "Julia": ".jl",
    "Lua": ".lua", "Markdown": ".md .markdown", "PHP": ".php .php3 .php4 .php5 .phps .phpt",
    "Perl": ".pl .pm .pod .perl", "PowerShell": ".ps1 .psd1 .psm1", "Python": ".py .pyi", "Cython": ".pyx .pxd",
    "Ruby": ".rb", "Rust": ".rs", "SQL": ".sql", "Scala": ".scala", "Shell": ".sh .bash .command .zsh",
    "Fish": ".fish", "TypeScript": ".ts .tsx", "TeX": ".tex", "Visual Basic": ".vb", "XML": ".xml",
    "reStructuredText": ".rst", "Objective-C": ".m", "Smali": ".smali", "YAML": ".yml .yaml", "TOML": ".toml",
    "INI": ".ini .cfg", "JSON": ".json", "Kotlin": ".kt", "Swift": ".swift", "R": ".r .R",
}
EXTENSION_LANGUAGE = {ext: lang for lang, exts in _LANGUAGE_EXTENSIONS.items() for ext in exts.split()}
NAME_LANGUAGE = {"Makefile": "Makefile", "makefile": "Makefile", "GNUmakefile": "Makefile", "Dockerfile": "Dockerfile",
                 "CMakeLists.txt": "CMake"}
LICENSE_FILE = re.compile(r"^(licen[cs]e|copying|copyright|unlicense|notice)([.\-_][\w.\-]*)?$", re.I)


def language_of(path: str) -> str | None:
    """Programming language from the file name (``None`` when unknown)."""
    name = os.path.basename(path)
    if name in NAME_LANGUAGE:
        return NAME_LANGUAGE[name]
    ext = os.path.splitext(name)[1]
    return EXTENSION_LANGUAGE.get(ext) or EXTENSION_LANGUAGE.get(ext.lower())


def is_license_file(path: str) -> bool:
    return bool(LICENSE_FILE.match(os.path.basename(path)))


@dataclasses.dataclass
class CodeHeuristicsConfig(Section):
    """RedPajama's values are the defaults."""

    #: paths must end with one of these (RedPajama's list)
    extensions: list[str] = field(list(REDPAJAMA_EXTENSIONS))
    max_line_length: int = 1000
    max_mean_line_length: float = 100.0
    min_alnum_fraction: float = 0.25
    min_alpha_per_token: float = 1.5
    #: SentencePiece model for alpha_per_token; "" = the bundled code_bpe_16k.model
    tokenizer_model: FilePath = ""

    def check(self):
        self.require(bool(self.extensions), "extensions", "must list at least one extension or file name")
        self.require(self.max_line_length > 0, "max_line_length", "must be > 0")
        self.require(self.max_mean_line_length > 0, "max_mean_line_length", "must be > 0")
        self.require(0 <= self.min_alnum_fraction <= 1, "min_alnum_fraction", "must be in [0, 1]")
        self.require(self.min_alpha_per_token >= 0, "min_alpha_per_token", "must be >= 0")

    def tokenizer_path(self) -> str:
        return self.tokenizer_model or str(BUNDLED_TOKENIZER)


class FileTypeFilter(Filter):
    """Drop licence files and files outside the extension whitelist (by meta ``path``)."""

    name = "file_type"
    measures = ()

    def __init__(self, extensions: Sequence[str]):
        self.extensions = tuple(extensions)

    def score(self, doc: Document) -> dict[str, Any]:
        return {}

    def keep(self, doc: Document) -> tuple[bool, str | None]:
        path = doc["meta"]["path"]
        if is_license_file(path):
            return False, "license_file"
        if not path.endswith(self.extensions):
            return False, "extension"
        return True, None


def line_figures(text: str) -> dict[str, float]:
    """max_line_length, mean_line_length and alnum_fraction, as RedPajama computed them."""
    lengths = [len(line) for line in text.splitlines()]
    if not lengths:
        return {"max_line_length": 0, "mean_line_length": 0.0, "alnum_fraction": 0.0}
    return {"max_line_length": max(lengths), "mean_line_length": len(text) / len(lengths),
            "alnum_fraction": sum(c.isalnum() for c in text) / len(text)}


class CodeQualityFilter(Filter):
    """RedPajama's four heuristics; see the module docstring."""

    name = "code_quality"

    def __init__(self, cfg: CodeHeuristicsConfig):
        self.cfg = cfg

    def setup(self) -> None:
        import sentencepiece

        self.sp = sentencepiece.SentencePieceProcessor(model_proto=fileio.read_bytes(self.cfg.tokenizer_path()))

    def teardown(self) -> None:
        self.sp = None

    def score_batch(self, docs: Sequence[Document]) -> list[dict[str, Any]]:
        texts = [d["text"] for d in docs]
        tokens = self.sp.encode(texts)
        out = []
        for text, ids in zip(texts, tokens):
            alpha = sum(c.isalpha() for c in text)
            out.append({**line_figures(text), "alpha_per_token": alpha / len(ids) if ids else 0.0})
        return out

    def score(self, doc: Document) -> dict[str, Any]:
        return self.score_batch([doc])[0]

    def keep(self, doc: Document) -> tuple[bool, str | None]:
        m, c = doc["meta"], self.cfg
        if not doc["text"].strip():
            return False, "empty"
        if m["max_line_length"] > c.max_line_length:
            return False, "max_line_length"
        if m["mean_line_length"] > c.max_mean_line_length:
            return False, "mean_line_length"
        if m["alnum_fraction"] < c.min_alnum_fraction:
            return False, "alnum_fraction"
        if m["alpha_per_token"] < c.min_alpha_per_token:
            return False, "alpha_per_token"
        return True, None
