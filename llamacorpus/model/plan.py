"""The settings of a training run, each declared once: a :class:`Plan` field made with :func:`option` is
also the command-line flag ``--<name>`` (its help, default, type and choices are the field's metadata);
a field made with :func:`resolved` has no flag and is worked out by :func:`make_plan`.

``Plan(**vars(parser.parse_args(argv)))`` holds the command line as given (``None`` where a default
depends on the preset, the shards or the device); :func:`make_plan` returns the plan with every default
resolved, which is what ``train_log.json`` records and what a resumed run must share (:data:`TRAJECTORY`).
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os

import torch

from llamacorpus.model import presets
from llamacorpus.model.optim import scaled_warmup

#: settings a resumed run must share with its checkpoint (the rest may change between sessions)
TRAJECTORY = ("preset", "model", "steps", "warmup", "max_lr", "final_lr_ratio", "weight_decay", "betas",
              "eps", "grad_clip", "batch_tokens", "seq_len", "seed", "shards_digest")


def positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def option(help: str, default=None, **argparse_kwargs):
    """A plan field that is also the flag ``--<field name>`` (``flag="--other"`` for another name)."""
    return dataclasses.field(default=default, metadata={"help": help, **argparse_kwargs})


def resolved():
    """A plan field that :func:`make_plan` works out from the options, the shards and the device."""
    return dataclasses.field(default=None)


@dataclasses.dataclass
class Plan:
    """Every setting of a run; after :func:`make_plan`, every one effective (defaults resolved)."""

    shards: str = option("shard directory with manifest.json (<output>/shards)", required=True)
    preset: str = option("model and optimisation preset", required=True, choices=list(presets.PRESETS))
    out: str = option("checkpoints and train_log.json (default <shards>/../train/<preset>)")
    steps: int = option("optimizer steps (default: the preset's)", type=positive)
    stop_at: int = option("stop after this step, keeping the schedule of --steps", type=positive)
    batch_tokens: int = option("tokens per optimizer step (default: preset)", type=positive)
    micro_batch: int = option("windows per forward pass (default: preset)", type=positive)
    seq_len: int = option("window length (default: the preset's context)", type=positive)
    max_lr: float = option("maximum learning rate (default: preset)", flag="--lr", metavar="LR", type=float)
    final_lr_ratio: float = option("final learning rate / maximum", 0.1, type=float)
    warmup: int = option("warmup steps (default: the preset's, capped at 10%% of --steps)", type=int)
    weight_decay: float = option("AdamW weight decay (on matrices only)", 0.1, type=float)
    beta1: float = option("AdamW beta1", 0.9, type=float)
    beta2: float = option("AdamW beta2", 0.95, type=float)
    eps: float = option("AdamW epsilon", 1e-8, type=float)
    grad_clip: float = option("gradient norm clipping", 1.0, type=float)
    seed: int = option("initialisation and data order", 0, type=int)
    eval_every: int = option("steps between validations (default: steps/5, at most 1000)", type=positive)
    eval_tokens: int = option("validation tokens per source (default: 32 windows)", type=positive)
    log_every: int = option("steps per log line (default: steps/30, at most 100)", type=positive)
    ckpt_every: int = option("steps between checkpoints (default: --eval_every)", type=positive)
    keep: int = option("checkpoints kept", 2, type=int)
    overwrite: bool = option("discard checkpoints in --out and start again", False, action="store_true")
    device: str = option("cuda or cpu (default: cuda when available)")
    precision: str = option("auto: bf16 autocast on CUDA, float32 on CPU", "auto", choices=["auto", "bf16", "fp32"])
    compile: bool = option("torch.compile the model (default: on CUDA, off on CPU)",
                           action=argparse.BooleanOptionalAction)
    activation_checkpointing: bool = option("recompute blocks in backward", False, action="store_true")
    threads: int = option("torch CPU threads (default: torch's)", type=positive)
    dist_timeout: int = option("seconds a rank waits for the others (process group start, each collective)",
                               1800, type=positive)
    peak_tflops: float = option("device peak for MFU (default: known GPUs)", type=float)

    model: dict = resolved()  # the preset's ModelConfig with the shards' vocabulary, as a dict
    betas: tuple[float, float] = resolved()
    warmup_note: str = resolved()
    accum: int = resolved()  # micro passes per optimizer step on each rank
    world: int = resolved()  # data-parallel ranks
    shards_digest: str = resolved()

    def trajectory(self) -> dict:
        return json.loads(json.dumps({k: getattr(self, k) for k in TRAJECTORY}))


def add_options(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """One flag per :func:`option` field of :class:`Plan`, in declaration order."""
    for f in dataclasses.fields(Plan):
        if "help" in f.metadata:
            kwargs = dict(f.metadata)
            p.add_argument(kwargs.pop("flag", f"--{f.name}"), dest=f.name, default=f.default, **kwargs)
    return p


def shards_digest(manifest: dict) -> str:
    """What the training data is: the training shards' names, sizes and hashes."""
    key = [(s["prefix"], s["tokens"], s.get("sha256_bin", "")) for s in manifest["shards"]]
    return hashlib.sha256(json.dumps([manifest["vocab_size"], key]).encode()).hexdigest()[:16]


def make_plan(given: Plan, manifest: dict, world: int, device: torch.device) -> Plan:
    """``given`` (the command line) with every default resolved against the preset, shards and device."""
    preset = presets.get(given.preset)
    p = dataclasses.replace(given)
    p.steps = p.steps or preset.steps
    p.stop_at = min(p.stop_at or p.steps, p.steps)
    p.seq_len = p.seq_len or preset.seq_len
    p.micro_batch = p.micro_batch or preset.micro_batch
    p.world = world
    p.accum = max(1, round((p.batch_tokens or preset.batch_tokens) / (p.micro_batch * p.seq_len * world)))
    p.batch_tokens = p.accum * p.micro_batch * p.seq_len * world
    if p.warmup is not None:
        p.warmup_note = "as given"
    else:
        p.warmup = scaled_warmup(preset.warmup_steps, p.steps)
        p.warmup_note = (f"the preset's {preset.warmup_steps}" if p.warmup == preset.warmup_steps else
                         f"the preset's {preset.warmup_steps} scaled down to 10% of a {p.steps}-step run")
    p.max_lr = p.max_lr or preset.max_lr
    p.betas = (p.beta1, p.beta2)
    p.model = dataclasses.asdict(dataclasses.replace(preset.model, vocab_size=int(manifest["vocab_size"]),
                                                     max_seq_len=max(p.seq_len, preset.model.max_seq_len)))
    p.shards_digest = shards_digest(manifest)
    p.out = p.out or os.path.join(os.path.dirname(os.path.abspath(p.shards.rstrip("/"))), "train", preset.name)
    p.device = str(device)
    if p.precision == "auto":
        p.precision = "bf16" if device.type == "cuda" else "fp32"
    if p.compile is None:
        p.compile = device.type == "cuda"
    p.eval_every = p.eval_every or min(1000, max(1, p.steps // 5))
    p.eval_tokens = p.eval_tokens or 32 * p.seq_len
    p.log_every = p.log_every or min(100, max(1, p.steps // 30))
    p.ckpt_every = p.ckpt_every or p.eval_every
    return p
