"""Training checkpoints: ``<out>/ckpt-<step>.pt``, written to a temporary name and renamed.

A checkpoint holds what the next step depends on: model and optimizer state, the scheduler, the step,
the data position (windows consumed), every random generator (torch CPU and CUDA, numpy, Python),
the settings that shape the run (checked on resume) and the log so far. It is a pickle
(``torch.load(weights_only=False)``): load checkpoints you wrote, not ones from strangers.
"""
from __future__ import annotations

import glob
import os
import random
import re

import numpy
import torch

PATTERN = re.compile(r"ckpt-(\d+)\.pt$")


def path_for(out: str, step: int) -> str:
    return os.path.join(out, f"ckpt-{step:08d}.pt")


def existing(out: str) -> list[str]:
    """Checkpoints in ``out``, oldest first."""
    found = [p for p in glob.glob(os.path.join(out, "ckpt-*.pt")) if PATTERN.search(p)]
    return sorted(found, key=lambda p: int(PATTERN.search(p).group(1)))


def rng_states() -> dict:
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": numpy.random.get_state(), "python": random.getstate()}


def restore_rng(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    numpy.random.set_state(states["numpy"])
    random.setstate(states["python"])


def save(out: str, state: dict, keep: int) -> str:
    """Write ``state`` as the checkpoint of ``state["step"]``; keep the newest ``keep`` checkpoints."""
    path = path_for(out, state["step"])
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)
    for old in existing(out)[:-keep] if keep > 0 else []:
        os.remove(old)
    return path


def load(path: str, device: torch.device) -> dict:
    return torch.load(path, map_location=device, weights_only=False)
