"""The paper's optimisation: AdamW (beta1 0.9, beta2 0.95, weight decay 0.1), gradient clipping at 1.0,
2,000 warmup steps, then a cosine schedule that ends at 10% of the maximum learning rate.

Weight decay (the paper says 0.1 and not to what): it applies to every matrix that multiplies
activations: the attention projections wq/wk/wv/wo, the SwiGLU w1/w2/w3 and the output head.
It does not apply to
- the RMSNorm gains: decay would pull them towards 0 rather than towards their neutral value 1, and
  they are vectors that do not overfit (the usual exclusion of norms and biases);
- the token embedding: AdamW's decoupled decay shrinks every row every step, while a rare token's row
  only gets a gradient when the token occurs, so its embedding would decay away between occurrences
  (OLMo 2 drops embedding decay for this reason and reports steadier embedding norms). The untied
  output head is an ordinary matrix on every token's path and is decayed.
"""
from __future__ import annotations

import math

import torch

EMBEDDING = "tok_embeddings.weight"


def decay_split(model: torch.nn.Module) -> tuple[list[str], list[str]]:
    """(names with weight decay, names without), per the module docstring."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() == 2 and name != EMBEDDING else no_decay).append(name)
    return decay, no_decay


def build_optimizer(model: torch.nn.Module, lr: float, weight_decay: float, betas: tuple[float, float],
                    eps: float) -> torch.optim.AdamW:
    params = dict(model.named_parameters())
    decay, no_decay = decay_split(model)
    groups = [{"params": [params[n] for n in decay], "weight_decay": weight_decay},
              {"params": [params[n] for n in no_decay], "weight_decay": 0.0}]
    fused = all(p.is_cuda for p in params.values())  # the fused CUDA kernel; foreach elsewhere
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, fused=fused or None)


def scaled_warmup(preset_warmup: int, steps: int) -> int:
    """The preset's warmup, capped at 10% of a run that is too short for it (at least 1 step)."""
    return max(1, min(preset_warmup, steps // 10))


def lr_multiplier(step: int, warmup: int, steps: int, final_ratio: float) -> float:
    """Multiplier of the maximum learning rate for optimizer step ``step`` (0-based): linear warmup
    to 1 over ``warmup`` steps, then cosine from 1 down to ``final_ratio`` at step ``steps``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, steps - warmup))
    return final_ratio + (1.0 - final_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, warmup: int, steps: int,
                    final_ratio: float) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_multiplier(step, warmup, steps, final_ratio))
