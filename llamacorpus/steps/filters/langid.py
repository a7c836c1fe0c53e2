"""fastText language identification (lid.176), CCNet's way, as a reusable filter.

CCNet (``cc_net/split_by_lang.py``, ``Classifier``) feeds the whole document to fastText with its
newlines deleted (``text.replace("\\n", "")``: the last word of a line and the first of the next
are glued into one token, they are not separated by a space), keeps the top label, and rounds its
probability to 2 decimals (numpy's ``round``) before comparing it with the threshold. So a page
scored 0.496 is kept at the threshold 0.5, and the stored ``language_score`` is the rounded
figure. A document is kept when that language is in the recipe's list and its rounded probability
is at least the threshold (LLaMA: ``en``, 0.5). ``language`` and ``language_score`` go into meta
either way, so the adapter counts every outcome per language.

The default model is the bundled ``llamacorpus/resources/lid.176.ftz`` (CC BY-SA 3.0, see
``resources/NOTICE.md``); any fastText model with ``__label__<lang>`` labels (``lid.176.bin``)
can be given instead. With numpy 2, fastText's ``predict(str)`` raises (``np.array(copy=False)``)
while ``predict(list)`` works: every call here passes a list, which also batches the documents
into one call.
"""
from __future__ import annotations

import contextlib
import importlib.resources
import threading
from typing import Any, Sequence

import numpy as np

from llamacorpus import fileio
from llamacorpus.document import Document
from llamacorpus.steps import Filter

LABEL_PREFIX = "__label__"
NOT_KEPT = "language_not_kept"
LOW_SCORE = "low_language_score"
#: CCNet's Classifier(rounding=2): the score is rounded before the threshold is applied
ROUNDING = 2

_models: dict[str, Any] = {}
_models_lock = threading.Lock()
_resource_files = contextlib.ExitStack()  # keeps an extracted package resource alive


def default_model_path() -> str:
    """The bundled lid.176.ftz as a file path (extracted once if the package is zipped)."""
    resource = importlib.resources.files("llamacorpus").joinpath("resources/lid.176.ftz")
    return str(_resource_files.enter_context(importlib.resources.as_file(resource)))


def load_model(path: str):
    """A fastText model, loaded once per process and shared by every step and thread."""
    with _models_lock:
        model = _models.get(path)
        if model is None:
            import fasttext

            model = _models[path] = fasttext.load_model(fileio.local_copy(path))
        return model


def predict(model, texts: Sequence[str], rounding: int | None = ROUNDING) -> list[tuple[str, float]]:
    """Top (language, probability) for each text, as CCNet: newlines deleted, the probability
    rounded to ``rounding`` decimals with numpy (``None``: unrounded)."""
    labels, probs = model.predict([t.replace("\n", "") for t in texts], k=1)
    out = []
    for label, prob in zip(labels, probs):
        lang = label[0][len(LABEL_PREFIX):] if label else ""
        score = float(prob[0]) if len(prob) else 0.0
        if rounding is not None:
            score = float(np.round(score, rounding))
        out.append((lang, min(score, 1.0)))  # .ftz can exceed 1 by 1e-4
    return out


class LanguageId(Filter):
    """Keep documents whose top fastText language is in ``languages`` with its probability,
    rounded to 2 decimals as CCNet does, >= threshold.

    Drop reasons: ``language_not_kept`` (another language won) and ``low_language_score`` (a kept
    language, below the threshold). Meta: ``language``, ``language_score``.
    """

    name = "langid"
    measures = ("language_score",)

    def __init__(self, languages: Sequence[str], threshold: float = 0.5, model_path: str = "",
                 name: str = "langid"):
        self.languages = frozenset(languages)
        self.threshold = threshold
        self.model_path = model_path
        self.name = name

    def setup(self) -> None:
        self._model = load_model(self.model_path or default_model_path())

    def score(self, doc: Document) -> dict[str, Any]:
        return self.score_batch([doc])[0]

    def score_batch(self, docs: Sequence[Document]) -> list[dict[str, Any]]:
        model = getattr(self, "_model", None)
        if model is None:
            self.setup()
            model = self._model
        return [{"language": lang, "language_score": prob} for lang, prob in predict(model, [d["text"] for d in docs])]

    def keep(self, doc: Document) -> tuple[bool, str | None]:
        meta = doc["meta"]
        if meta.get("language") not in self.languages:
            return False, NOT_KEPT
        if meta.get("language_score", 0.0) < self.threshold:
            return False, LOW_SCORE
        return True, None

    def __getstate__(self):  # the model stays out of the pickled step
        state = dict(self.__dict__)
        state.pop("_model", None)
        return state
