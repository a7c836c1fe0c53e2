"""Model and optimisation presets: the paper's four sizes (Table 2), small ones that train on a CPU
and one for a single GPU.

The paper's runs use a 4M-token batch (2048 sequences of 2048 tokens), 2,000 warmup steps and a
cosine schedule down to 10% of the maximum learning rate; 7B and 13B see 1.0T tokens, 33B and 65B
1.4T. The vocabulary is always the one of the shards being trained on (the manifest's
``vocab_size``); the presets' 32000 is the paper's and only used for parameter counts.

The small presets keep every architectural choice (and the 256 SwiGLU rounding is replaced by a
multiple that suits their width); they exist to prove that a corpus trains, on a laptop or in CI.

``gpu-small`` is a size that one GPU trains in a few hours: GPT-3's "Small" (Brown et al., 2020, Table 2.1:
125M parameters, 12 layers, d_model 768, 12 heads of 64, batch 0.5M tokens, learning rate 6.0e-4) built
as LLaMA (SwiGLU hidden 2048, RoPE, RMSNorm, untied head: 134.1M parameters at a 32,000 vocabulary) and
trained on LLaMA's recipe otherwise: AdamW (0.9, 0.95), weight decay 0.1, clipping 1.0, cosine to 10%,
the paper's 2,000 warmup steps capped at 10% of the run. Its 5,000 steps are 2.6B tokens, about 20 per
parameter (Chinchilla's compute-optimal ratio, Hoffmann et al., 2022). A micro batch of 32 windows of
1,024 tokens (by estimate 30-40 GB of activations and logits in bf16; bench/gpu_check.sh measures it)
leaves room on an 80 GB or larger GPU; 16 accumulated micro batches make the 0.5M-token step.
"""
from __future__ import annotations

import dataclasses

from llamacorpus.model.model import ModelConfig

PAPER_BATCH_TOKENS = 2048 * 2048  # "4M tokens"
GPT3_SMALL_BATCH_TOKENS = 512 * 1024  # "0.5M" tokens: 512 windows of the 1,024-token context


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    model: ModelConfig
    max_lr: float
    batch_tokens: int  # tokens per optimizer step, over all data-parallel ranks and accumulation
    micro_batch: int  # sequences per forward pass on one device (memory, not maths)
    steps: int  # default length of a run
    warmup_steps: int
    description: str

    @property
    def seq_len(self) -> int:
        return self.model.max_seq_len


def _paper(name: str, dim: int, heads: int, layers: int, lr: float, tokens: float, micro_batch: int) -> Preset:
    return Preset(name=name, model=ModelConfig(dim=dim, n_layers=layers, n_heads=heads),
                  max_lr=lr, batch_tokens=PAPER_BATCH_TOKENS, micro_batch=micro_batch,
                  steps=round(tokens / PAPER_BATCH_TOKENS), warmup_steps=2000,
                  description=f"LLaMA {name} (Table 2): {tokens / 1e12:.1f}T tokens")


PRESETS: dict[str, Preset] = {p.name: p for p in [
    _paper("7B", 4096, 32, 32, 3e-4, 1.0e12, micro_batch=4),
    _paper("13B", 5120, 40, 40, 3e-4, 1.0e12, micro_batch=2),
    _paper("33B", 6656, 52, 60, 1.5e-4, 1.4e12, micro_batch=1),
    _paper("65B", 8192, 64, 80, 1.5e-4, 1.4e12, micro_batch=1),
    Preset("tiny", ModelConfig(dim=64, n_layers=2, n_heads=4, multiple_of=32, max_seq_len=64),
           max_lr=3e-3, batch_tokens=16 * 64, micro_batch=16, steps=200, warmup_steps=20,
           description="tests: ~0.1M parameters besides the vocabulary, seconds on a CPU"),
    Preset("small", ModelConfig(dim=128, n_layers=4, n_heads=4, multiple_of=64, max_seq_len=128),
           max_lr=2e-3, batch_tokens=8 * 128, micro_batch=8, steps=300, warmup_steps=30,
           description="the README's run: ~0.8M parameters besides the vocabulary, a few minutes on 2 CPU cores"),
    Preset("gpu-small", ModelConfig(dim=768, n_layers=12, n_heads=12, max_seq_len=1024),
           max_lr=6e-4, batch_tokens=GPT3_SMALL_BATCH_TOKENS, micro_batch=32, steps=5000, warmup_steps=2000,
           description="one GPU, bf16: the 125M class (134.1M parameters at vocab 32000); batch 0.5M tokens and "
                       "max lr 6e-4 from GPT-3 Table 2.1 (125M), LLaMA's AdamW (0.9, 0.95), wd 0.1, cosine to "
                       "10%, warmup 2000 capped at 10% of the run; 5000 steps = 2.6B tokens (~20 per parameter)"),
]}


def get(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}") from None
