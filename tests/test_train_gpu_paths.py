"""The trainer's CUDA fast path, as far as a CPU can check it: MFU and the peak table on real device
names, the plan a CUDA device gets, the attention probe and the ahead-of-time batches; and that none
of it reaches a CPU run, whose losses stay the pinned ones."""
from __future__ import annotations

import json

import numpy
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from llamacorpus.model import gpu, presets
from llamacorpus.model import train as train_mod
from llamacorpus.model.data import TrainWindows
from llamacorpus.model.loader import Batches
from llamacorpus.model.model import LLaMA
from llamacorpus.model.optim import build_optimizer
from llamacorpus.model.plan import Plan, make_plan
from test_train import PINNED_LOSSES, STEPS, losses
from test_train_data import write_fixture_shards

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory):
    return write_fixture_shards(tmp_path_factory.mktemp("shards"))


@pytest.mark.parametrize("name,tflops", [
    ("NVIDIA H100 80GB HBM3", 989), ("NVIDIA H100 PCIe", 756), ("NVIDIA H100 NVL", 835), ("NVIDIA H200", 989),
    ("NVIDIA H200 NVL", 835), ("NVIDIA A100-SXM4-80GB", 312), ("NVIDIA A100-PCIE-40GB", 312),
    ("NVIDIA A100 80GB PCIe", 312), ("NVIDIA L4", 121), ("NVIDIA A10", 125),
    ("NVIDIA L40S", None), ("NVIDIA A10G", None), ("Tesla T4", None)])  # not in the table: no MFU, not a wrong one
def test_peak_table_on_real_device_names(name, tflops):
    assert gpu.peak_bf16(name) == (tflops * 1e12 if tflops else None)


def test_mfu_is_model_flops_per_second_over_the_peak():
    assert gpu.mfu(6e9, 50_000, 989e12) == pytest.approx(3e14 / 989e12)
    assert gpu.mfu(6e9, 100_000, 989e12, devices=2) == pytest.approx(3e14 / 989e12)
    with torch.device("meta"):
        model = LLaMA(presets.get("gpu-small").model)
    assert model.flops_per_token(1024) == 6 * 109_529_856 + 12 * 12 * 768 * 1024 == 770_425_344
    # 500k tokens/s of gpu-small on an H200 would be 38.95% MFU
    assert gpu.mfu(model.flops_per_token(1024), 500_000, gpu.peak_bf16("NVIDIA H200")) == pytest.approx(0.38950, abs=1e-5)
    assert train_mod.peak_flops(torch.device("cpu"), "fp32", None) is None  # no MFU on a CPU ...
    assert train_mod.peak_flops(torch.device("cpu"), "fp32", 2.5) == 2.5e12  # ... unless a peak is given


def given(*extra: str) -> Plan:
    return Plan(**vars(train_mod.parser().parse_args(["--shards", "s", "--preset", "gpu-small", *extra])))


def test_cuda_gets_bf16_and_compile_by_default_and_a_cpu_neither():
    manifest = {"vocab_size": 32000, "shards": []}
    cuda = make_plan(given(), manifest, 1, torch.device("cuda", 0))
    assert (cuda.precision, cuda.compile, cuda.device) == ("bf16", True, "cuda:0")
    assert (cuda.micro_batch, cuda.accum, cuda.batch_tokens, cuda.seq_len) == (32, 16, 524288, 1024)
    assert (cuda.max_lr, cuda.betas, cuda.weight_decay, cuda.final_lr_ratio, cuda.warmup) == (6e-4, (0.9, 0.95), 0.1, 0.1, 500)
    assert make_plan(given("--no-compile"), manifest, 1, torch.device("cuda", 0)).compile is False
    cpu = make_plan(given(), manifest, 1, torch.device("cpu"))
    assert (cpu.precision, cpu.compile) == ("fp32", False)
    assert make_plan(given("--compile"), manifest, 1, torch.device("cpu")).compile is True


def test_a_cpu_run_takes_none_of_the_cuda_paths(shard_dir, tmp_path, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("a CUDA-only path ran on the CPU")

    for owner, name in [(torch, "compile"), (torch.Tensor, "pin_memory"), (torch, "set_float32_matmul_precision"),
                        (gpu, "allow_tf32"), (gpu, "attention_probe"), (torch.cuda, "get_device_name")]:
        monkeypatch.setattr(owner, name, forbidden)
    precision = torch.get_float32_matmul_precision()
    assert train_mod.main(["--shards", str(shard_dir), "--preset", "tiny", "--out", str(tmp_path), "--steps", str(STEPS),
                           "--stop_at", "3", "--log_every", "1", "--eval_every", "20", "--threads", "1"]) == 0
    log = json.loads((tmp_path / train_mod.LOG_NAME).read_text())
    assert (log["run"]["precision"], log["run"]["compile"]) == ("fp32", False)
    assert "attention" not in log["model"] and torch.get_float32_matmul_precision() == precision
    assert losses(log) == pytest.approx({step: PINNED_LOSSES[step] for step in (1, 2, 3)}, abs=1e-5)


def test_adamw_is_fused_only_for_cuda_parameters():
    optimizer = build_optimizer(LLaMA(presets.get("tiny").model), 3e-4, 0.1, (0.9, 0.95), 1e-8)
    assert not optimizer.defaults["fused"]  # the foreach implementation on a CPU


def test_batches_gathered_ahead_on_a_thread_are_the_same_batches(shard_dir):
    windows = TrainWindows(str(shard_dir), seq_len=64)
    plain = Batches(windows, 16, torch.device("cpu"))
    assert plain.pool is None and not plain.pin  # a CPU reads each batch when asked, unpinned
    ahead = Batches(windows, 16, torch.device("cpu"), ahead=True)  # the CUDA way, without the pinning
    firsts = [0, 16, 32, 7000, 7520 + 3]  # the last one in the second epoch
    for first, following in zip(firsts, firsts[1:] + [None]):
        batch = ahead.get(first, following)
        numpy.testing.assert_array_equal(batch.numpy(), windows.batch(first, 16))
        torch.testing.assert_close(plain.get(first), batch, rtol=0, atol=0)
        assert (ahead.pending[0] if ahead.pending else None) == following
    ahead.get(0, 16)
    numpy.testing.assert_array_equal(ahead.get(48).numpy(), windows.batch(48, 16))  # not the one gathered ahead
    ahead.close()


def test_attention_probe_names_the_backend_that_ran():
    cfg = presets.get("gpu-small").model
    probe = gpu.attention_probe(cfg.n_heads, cfg.head_dim, 128, torch.device("cpu"), torch.float32)
    assert probe == {"backend": "flash", "kernels": []}  # ATen's flash attention for CPU; no device kernels
    with sdpa_kernel([SDPBackend.MATH]):
        assert gpu.attention_probe(2, 16, 32, torch.device("cpu"), torch.float32)["backend"] == "math"
    assert gpu.short_name("void pytorch_flash::flash_fwd_kernel<Flash_fwd_kernel_traits<64, 128>, true>(Params)") \
        == "pytorch_flash::flash_fwd_kernel"
