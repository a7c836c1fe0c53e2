"""``llamacorpus train-lm``: the per-language SentencePiece + KenLM models of the perplexity step,
trained on the Wikipedia source's cleaned output as CCNet trained them on Wikipedia.

    llamacorpus train-lm --output OUT --language en [--models_dir OUT/models]

1. The text: every document of ``OUT/documents/wikipedia/`` in that language, each line
   (paragraph) normalised as the perplexity step normalises (CCNet's ``normalize``), one per line.
   CCNet used the opening paragraph of up to 1M articles; we use every paragraph of up to
   ``--max_documents`` articles, which matters for small dumps.
2. SentencePiece unigram, vocabulary 65536, character coverage 0.9995 (CCNet's settings). When
   the text is too small for that vocabulary, SentencePiece names the largest it accepts; we train
   that and say so in the log and the manifest.
3. The text cut into pieces is piped into ``lmplz -o 5 --discount_fallback``, then
   ``build_binary`` makes the binary model.

Artifacts in ``<models_dir>/lm/``: ``<lang>.sp.model``, ``<lang>.arpa.bin`` and
``<lang>.manifest.json`` (sizes, sha256, text statistics, settings, timings). The perplexity step
of the Common Crawl source reads them from there by default.

``lmplz`` and ``build_binary`` are found in ``--kenlm_bin``, ``$LLAMACORPUS_KENLM_BIN``,
``<repo>/.cache/kenlm-tools/bin`` or on PATH; when they are in none of these, this command runs
``scripts/build_kenlm_tools.sh`` (about 75 s on 2 cores) to build them into the cache.
The command works on local directories.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from llamacorpus import __version__, fileio
from llamacorpus.steps.normalize import normalize
from llamacorpus.layout import Layout
from llamacorpus.parquet import read_documents

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[3]  # the source tree: llamacorpus/steps/filters/ -> repository root
BUILD_SCRIPT = REPO / "scripts" / "build_kenlm_tools.sh"
DEFAULT_TOOLS = REPO / ".cache" / "kenlm-tools" / "bin"
TOOLS_ENV = "LLAMACORPUS_KENLM_BIN"
TOOLS = ("lmplz", "build_binary")
_VOCAB_LIMIT = re.compile(r"Please set it to a value <= (\d+)")


class TrainError(RuntimeError):
    """A training input or tool that is missing or fails; the message says what to do."""


# ---------------------------------------------------------------------------- KenLM tools

def _tools_in(directory: str | os.PathLike | None) -> dict[str, str] | None:
    if not directory:
        return None
    paths = {t: os.path.join(directory, t) for t in TOOLS}
    return paths if all(os.access(p, os.X_OK) for p in paths.values()) else None


def find_kenlm_tools(explicit: str | None = None, build: bool = True) -> dict[str, str]:
    """Paths of lmplz and build_binary; builds them with the project script when missing."""
    if explicit:
        found = _tools_in(explicit)
        if not found:
            raise TrainError(f"--kenlm_bin {explicit} holds no executable {' and '.join(TOOLS)}")
        return found
    for candidate in (os.environ.get(TOOLS_ENV), DEFAULT_TOOLS):
        found = _tools_in(candidate)
        if found:
            return found
    on_path = {t: shutil.which(t) for t in TOOLS}
    if all(on_path.values()):
        return on_path
    if not build or not BUILD_SCRIPT.exists():
        raise TrainError(f"lmplz/build_binary not found (looked in ${TOOLS_ENV}, {DEFAULT_TOOLS}, PATH); "
                         f"build them with scripts/build_kenlm_tools.sh")
    log.info("lmplz/build_binary missing: building them with %s into %s (about 75 s on 2 cores)",
             BUILD_SCRIPT, DEFAULT_TOOLS.parent)
    subprocess.run(["bash", str(BUILD_SCRIPT), str(DEFAULT_TOOLS.parent)], check=True,
                   env={**os.environ, "PYTHON": sys.executable})
    found = _tools_in(DEFAULT_TOOLS)
    if not found:
        raise TrainError(f"{BUILD_SCRIPT} ran but {DEFAULT_TOOLS} holds no {' and '.join(TOOLS)}")
    return found


# ---------------------------------------------------------------------------- steps

def write_training_text(output: str, language: str, path: str, max_documents: int) -> dict:
    """Normalised paragraphs of the language's Wikipedia documents, one per line; returns counts."""
    stats = {"documents": 0, "lines": 0, "chars": 0}
    with open(path, "w", encoding="utf-8") as f:
        for doc in read_documents(output, "wikipedia"):
            if doc["meta"].get("language") != language:
                continue
            stats["documents"] += 1
            for line in doc["text"].split("\n"):
                line = normalize(line)
                if line:
                    f.write(line + "\n")
                    stats["lines"] += 1
                    stats["chars"] += len(line)
            if stats["documents"] >= max_documents:
                break
    return stats


def train_sentencepiece(text: str, prefix: str, vocab_size: int, character_coverage: float,
                        sentences: int, threads: int, seed: int) -> int:
    """Train the unigram model; returns the vocabulary size used (smaller when the text is)."""
    import sentencepiece

    def train(size: int) -> None:
        sentencepiece.set_random_generator_seed(seed)
        sentencepiece.SentencePieceTrainer.train(
            input=text, model_prefix=prefix, model_type="unigram", vocab_size=size,
            character_coverage=character_coverage, input_sentence_size=sentences,
            shuffle_input_sentence=True, max_sentence_length=1 << 16, num_threads=threads, minloglevel=2)

    try:
        train(vocab_size)
        return vocab_size
    except RuntimeError as exc:
        limit = _VOCAB_LIMIT.search(str(exc))
        if not limit:
            raise
    accepted = int(limit.group(1))
    log.warning("SentencePiece: the text is too small for vocab_size %d; it accepts at most %d, "
                "training that instead", vocab_size, accepted)
    train(accepted)
    return accepted


def train_kenlm(text: str, sp_model: str, arpa: str, tools: dict, order: int, memory: str,
                workdir: str) -> int:
    """Pipe the text, cut into pieces, into lmplz; returns the number of pieces."""
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=sp_model)
    command = [tools["lmplz"], "-o", str(order), "-S", memory, "-T", workdir, "--discount_fallback",
               "--skip_symbols"]
    pieces = 0
    with open(arpa, "wb") as out, open(f"{arpa}.log", "wb") as err:
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=out, stderr=err)
        try:
            with open(text, encoding="utf-8") as f:
                batch = []
                for line in f:
                    batch.append(line.rstrip("\n"))
                    if len(batch) == 1024:
                        pieces += _feed(proc, sp, batch)
                        batch = []
                pieces += _feed(proc, sp, batch)
            proc.stdin.close()
        except BrokenPipeError:
            pass
        code = proc.wait()
    if code != 0:
        raise TrainError(f"{' '.join(command)} failed ({code}): {Path(f'{arpa}.log').read_text()[-2000:]}")
    return pieces


def _feed(proc, sp, lines: list[str]) -> int:
    if not lines:
        return 0
    encoded = sp.encode(lines, out_type=str)
    proc.stdin.write("".join(" ".join(p) + "\n" for p in encoded).encode("utf-8"))
    return sum(len(p) for p in encoded)


def file_record(path: str) -> dict:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return {"bytes": os.path.getsize(path), "sha256": h.hexdigest()}


# ---------------------------------------------------------------------------- the command

def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="llamacorpus train-lm", description=__doc__.split("\n\n")[0])
    ap.add_argument("--output", required=True, help="a run's output directory holding documents/wikipedia/")
    ap.add_argument("--language", required=True, help="Wikipedia language code (meta.language), e.g. en")
    ap.add_argument("--models_dir", default="", help="models directory (default OUTPUT/models); writes into lm/")
    ap.add_argument("--vocab_size", type=int, default=65536, help="SentencePiece vocabulary (CCNet: 65536)")
    ap.add_argument("--character_coverage", type=float, default=0.9995)
    ap.add_argument("--order", type=int, default=5, help="KenLM n-gram order (CCNet: 5)")
    ap.add_argument("--max_documents", type=int, default=1_000_000, help="articles read (CCNet: 1M)")
    ap.add_argument("--sentencepiece_sentences", type=int, default=2_000_000,
                    help="lines SentencePiece samples for training")
    ap.add_argument("--lmplz_memory", default="50%", help="lmplz -S (memory for sorting)")
    ap.add_argument("--kenlm_bin", default="", help="directory with lmplz and build_binary")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=0, help="SentencePiece's random seed")
    return ap.parse_args(argv)


def train(args: argparse.Namespace) -> dict:
    lang = args.language
    layout = Layout(args.output, args.models_dir or "")
    target = layout.lm
    tools = find_kenlm_tools(args.kenlm_bin or None)
    fileio.makedirs(target)
    timings = {}
    with tempfile.TemporaryDirectory(prefix=f"train-lm-{lang}-", dir=target) as work:
        text = os.path.join(work, "text.txt")
        started = time.perf_counter()
        stats = write_training_text(args.output, lang, text, args.max_documents)
        timings["text"] = round(time.perf_counter() - started, 2)
        if not stats["lines"]:
            raise TrainError(f"no Wikipedia text in language {lang!r} under {layout.documents('wikipedia')} "
                             f"(run `beam_main.py --sources wikipedia --output {args.output}` first)")
        log.info("%s: %d documents, %d lines, %d characters of normalised Wikipedia text",
                 lang, stats["documents"], stats["lines"], stats["chars"])
        started = time.perf_counter()
        prefix = os.path.join(work, f"{lang}.sp")
        vocab = train_sentencepiece(text, prefix, args.vocab_size, args.character_coverage,
                                    args.sentencepiece_sentences, args.threads, args.seed)
        timings["sentencepiece"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        arpa = os.path.join(work, f"{lang}.arpa")
        stats["pieces"] = train_kenlm(text, f"{prefix}.model", arpa, tools, args.order, args.lmplz_memory, work)
        timings["lmplz"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        binary = os.path.join(work, f"{lang}.arpa.bin")
        done = subprocess.run([tools["build_binary"], arpa, binary], capture_output=True, text=True)
        if done.returncode != 0:
            raise TrainError(f"build_binary failed ({done.returncode}): {done.stderr[-2000:]}")
        timings["build_binary"] = round(time.perf_counter() - started, 2)
        artifacts = {}
        for src, name in ((f"{prefix}.model", f"{lang}.sp.model"), (binary, f"{lang}.arpa.bin")):
            artifacts[name] = file_record(src)
            os.replace(src, os.path.join(target, name))
    manifest = {
        "language": lang,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "llamacorpus": __version__,
        "input": layout.documents("wikipedia"),
        "training_text": {**stats, "normalisation": "ccnet normalize, one paragraph per line"},
        "sentencepiece": {"model_type": "unigram", "vocab_size": vocab, "vocab_size_requested": args.vocab_size,
                          "character_coverage": args.character_coverage, "seed": args.seed,
                          "input_sentence_size": args.sentencepiece_sentences},
        "kenlm": {"order": args.order, "lmplz": "-o {} --discount_fallback --skip_symbols".format(args.order),
                  "binary": "build_binary (probing)"},
        "artifacts": artifacts,
        "seconds": timings,
    }
    fileio.write_json(f"{target}/{lang}.manifest.json", manifest)
    log.info("%s: wrote %s", lang, ", ".join(f"{target}/{name} ({a['bytes']} bytes)" for name, a in artifacts.items()))
    return manifest


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        manifest = train(args)
    except (TrainError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"language": manifest["language"], "artifacts": manifest["artifacts"]}, indent=1))
    return 0
