"""What the trainer does only on CUDA, and how it measures it: TF32 matmuls, the bf16 peak that MFU is
taken against, and which kernels scaled_dot_product_attention really runs. The trainer calls
:func:`allow_tf32` and :func:`attention_probe` only when ``device.type == "cuda"``, so a CPU run never
reaches them; the rest of the fast path is there too behind the same check: bf16 autocast and
``torch.compile`` (:mod:`.plan`, :mod:`.train`), fused AdamW (:mod:`.optim`), pinned batches gathered
ahead on a thread (:mod:`.loader`).

MFU is PaLM's (Chowdhery et al., 2022, appendix B): model FLOPs per token (:meth:`LLaMA.flops_per_token`)
times tokens per second, over the devices' dense (no sparsity) bf16 peak from the vendor's datasheet.
"""
from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity

#: dense bf16 FLOP/s per device by datasheet. A name matches a key as whole words (so "L4" is not "L40S"
#: and "A10" is not "A100" or "A10G"), and the first key that matches wins: the specific before the general.
PEAK_BF16 = (
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),  # the SXM part: "NVIDIA H100 80GB HBM3"
    ("H200 NVL", 835e12),
    ("H200", 989e12),  # the SXM part: "NVIDIA H200"
    ("A100", 312e12),  # SXM and PCIe alike: "NVIDIA A100-SXM4-80GB", "NVIDIA A100 80GB PCIe"
    ("L4", 121e12),
    ("A10", 125e12),
)
#: the SDPA backend of each of ATen's attention operators (on CPU the flash one is ..._for_cpu)
ATTENTION_OPS = (("_scaled_dot_product_flash_attention", "flash"),
                 ("_scaled_dot_product_efficient_attention", "memory-efficient"),
                 ("_scaled_dot_product_cudnn_attention", "cudnn"),
                 ("_scaled_dot_product_attention_math", "math"))
ATTENTION_KERNEL = re.compile(r"flash|fmha|attention|attn|sdpa", re.IGNORECASE)


def allow_tf32() -> None:
    """float32 matrix products (what autocast leaves in float32) on the tensor cores in TF32."""
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.set_float32_matmul_precision("high")


def peak_bf16(device_name: str) -> float | None:
    """The dense bf16 peak of a CUDA device by its name, None for one not in :data:`PEAK_BF16`."""
    return next((peak for key, peak in PEAK_BF16 if re.search(rf"\b{key}\b", device_name, re.IGNORECASE)), None)


def mfu(flops_per_token: float, tokens_per_s: float, peak: float, devices: int = 1) -> float:
    """Model FLOPs utilisation: the FLOP/s the model's arithmetic needs at this speed, over the peak."""
    return flops_per_token * tokens_per_s / (peak * devices)


def short_name(kernel: str) -> str:
    """A kernel's name without its return type, template arguments and parameters."""
    return re.sub(r"^void ", "", kernel).split("<")[0].split("(")[0]


def profile(fn, device: torch.device) -> dict:
    """What ``fn()`` ran: ATen operator names, and device kernel names with their summed microseconds."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch.profiler.profile(activities=activities) as prof:
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    ops, kernels = set(), {}
    for event in prof.events():
        if event.device_type == DeviceType.CUDA:
            kernels[event.name] = kernels.get(event.name, 0.0) + event.time_range.elapsed_us()
        else:
            ops.add(event.name)
    return {"ops": sorted(ops), "kernels": kernels}


def attention_backend(ops: list[str]) -> str:
    """The SDPA backend(s) that ran, from the operator names of :func:`profile`."""
    found = [backend for op, backend in ATTENTION_OPS if any(op in name for name in ops)]
    return "+".join(dict.fromkeys(found)) or "none"


def attention_probe(n_heads: int, head_dim: int, seq_len: int, device: torch.device, dtype: torch.dtype) -> dict:
    """The backend and kernels of one causal attention forward and backward as the model calls it (the
    dispatcher's choice depends on device, dtype, head size and length, so it is seen, not assumed)."""
    x = torch.randn(3, 1, seq_len, n_heads, head_dim, device=device, dtype=dtype, requires_grad=True)
    q, k, v = (t.transpose(1, 2) for t in x)  # (batch, heads, seq, head_dim) views, as in Attention

    def step():
        F.scaled_dot_product_attention(q, k, v, is_causal=True).sum().backward()

    try:
        seen = profile(step, device)
    except RuntimeError as e:  # a profiler that cannot start: say so rather than stop the run it describes
        return {"backend": "unknown", "kernels": [], "error": str(e)}
    kernels = sorted({short_name(k) for k in seen["kernels"] if ATTENTION_KERNEL.search(k)})
    return {"backend": attention_backend(seen["ops"]), "kernels": kernels}
