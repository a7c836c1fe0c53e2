"""The trainer on shards of real fixture text: it learns, it logs per-source validation, a resumed run
continues the uninterrupted one, the optimiser follows the paper, and DDP ranks split the batch."""
from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers import ROOT
from llamacorpus import cli
from llamacorpus.model import checkpoint, presets
from llamacorpus.model import train as train_mod
from llamacorpus.model.model import LLaMA
from llamacorpus.model.optim import build_optimizer, decay_split, lr_multiplier, scaled_warmup
from llamacorpus.model.plan import Plan, make_plan
from test_train_data import SOURCES, write_fixture_shards

torch.set_num_threads(1)  # tiny models: one thread is fastest, and robust on a busy machine
STEPS = 60
#: the full run's losses as the trainer gave them before the CUDA fast path (commit aa9fbd8, torch 2.13 CPU,
#: one thread): what runs on a CPU must not change with what was added for GPUs
PINNED_LOSSES = {1: 6.92483, 2: 6.90507, 3: 6.88519, 10: 6.10914, 30: 5.51222, 60: 5.42491}
PINNED_VALIDATION = {"c4": 5.43658, "books": 5.32841, "all": 5.3825}


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory) -> Path:
    return write_fixture_shards(tmp_path_factory.mktemp("shards"))


def train(shard_dir: Path, out: Path, *extra: str) -> dict:
    args = ["--shards", str(shard_dir), "--preset", "tiny", "--out", str(out), "--steps", str(STEPS),
            "--log_every", "1", "--eval_every", "20", "--threads", "1", *extra]
    assert train_mod.main(args) == 0
    return json.loads((out / train_mod.LOG_NAME).read_text())


def losses(log: dict) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in log["train"]}


@pytest.fixture(scope="module")
def full_run(shard_dir, tmp_path_factory) -> dict:
    return train(shard_dir, tmp_path_factory.mktemp("full"))


def test_training_learns_and_reports_per_source_validation(full_run, capsys):
    curve = losses(full_run)
    assert sorted(curve) == list(range(1, STEPS + 1))
    assert abs(curve[1] - math.log(1000)) < 0.15  # starts at ln(vocab): the fixture tokenizer has 1,000 pieces
    summary = full_run["summary"]
    assert summary["end_loss"] < summary["start_loss"] - 1.2
    assert summary["ln_vocab"] == pytest.approx(math.log(1000), abs=1e-4)
    validation = full_run["validation"]
    assert [v["step"] for v in validation] == [0, 20, 40, 60]
    for name in SOURCES:
        assert validation[-1]["loss"][name] < validation[0]["loss"][name] - 1.0
        assert validation[-1]["tokens"][name] == 32 * 64  # the default budget: 32 windows per source
    record = full_run["train"][-1]
    assert record["lr"] == pytest.approx(3e-3 * lr_multiplier(STEPS - 1, 6, STEPS, 0.1))
    assert record["tokens_per_s"] > 0 and 0 <= record["data_fraction"] < 1 and record["mfu"] is None
    run = full_run["run"]
    assert run["warmup"] == 6 and "scaled down" in run["warmup_note"]  # 20 capped at 10% of 60 steps
    assert run["model"]["vocab_size"] == 1000 and run["batch_tokens"] == 16 * 64


def test_cpu_losses_are_the_pinned_ones(full_run):
    curve = losses(full_run)
    assert {step: curve[step] for step in PINNED_LOSSES} == pytest.approx(PINNED_LOSSES, abs=1e-5)
    assert full_run["validation"][-1]["loss"] == pytest.approx(PINNED_VALIDATION, abs=1e-5)


def test_train_command_prints_the_summary_and_mfu_with_a_given_peak(shard_dir, tmp_path, capsys):
    assert cli.main(["train", "--shards", str(shard_dir), "--preset", "tiny", "--out", str(tmp_path), "--steps", "4",
                     "--log_every", "1", "--threads", "1", "--peak_tflops", "0.001"]) == 0
    log = json.loads((tmp_path / train_mod.LOG_NAME).read_text())
    out = capsys.readouterr().out
    for record in log["train"]:  # model FLOPs per second over the given 1 GFLOP/s peak
        assert record["mfu"] == pytest.approx(log["model"]["flops_per_token"] * record["tokens_per_s"] / 1e9, rel=1e-3)
    assert "| mfu " in out and "| data wait " in out
    assert "speed (median of the log intervals after step 1): " in out and "% of step time waiting for data, mfu " in out
    step_lines = [line for line in out.splitlines() if line.startswith("step ")]
    assert len(step_lines) == 4 and all(re.search(r"\| eta (\d+h\d\dm|\d+m\d\ds|\d+s)$", line) for line in step_lines)
    assert step_lines[-1].endswith("| eta 0s")  # the last step: nothing left
    assert "loss curve (tiny, 4 steps, 4,096 tokens): start" in out
    assert "validation loss per source, step 0 -> 4:" in out and "  c4 " in out and "  books " in out
    assert f"log: {tmp_path / train_mod.LOG_NAME}" in out
    assert log["summary"]["points"][0] == [1, log["train"][0]["loss"]]


def test_checkpoint_resume_reproduces_the_uninterrupted_run(shard_dir, full_run, tmp_path, capsys):
    first = train(shard_dir, tmp_path, "--stop_at", "30")
    state = checkpoint.load(checkpoint.existing(str(tmp_path))[-1], torch.device("cpu"))
    assert state["step"] == 30 and state["data_position"] == 30 * 16
    assert {"model", "optimizer", "scheduler", "rng", "run", "history"} <= set(state)
    assert state["scheduler"]["last_epoch"] == 30
    full = losses(full_run)
    assert losses(first) == {s: full[s] for s in range(1, 31)}
    resumed = train(shard_dir, tmp_path, "--stop_at", "36")  # the same command: resumes at step 30
    assert "resumed from" in capsys.readouterr().out
    for step in range(31, 37):
        assert losses(resumed)[step] == pytest.approx(full[step], rel=1e-5, abs=1e-5)
    with pytest.raises(SystemExit, match="max_lr"):  # other settings than the checkpoint's
        train(shard_dir, tmp_path, "--lr", "1e-3")


def test_each_option_is_declared_once_as_a_plan_field():
    actions = [a for a in train_mod.parser()._actions if a.dest != "help"]
    assert [a.option_strings[0] for a in actions] == [  # the flags, in the order of --help
        "--shards", "--preset", "--out", "--steps", "--stop_at", "--batch_tokens", "--micro_batch", "--seq_len", "--lr",
        "--final_lr_ratio", "--warmup", "--weight_decay", "--beta1", "--beta2", "--eps", "--grad_clip", "--seed",
        "--eval_every", "--eval_tokens", "--log_every", "--ckpt_every", "--keep", "--overwrite", "--device",
        "--precision", "--compile", "--activation_checkpointing", "--threads", "--dist_timeout", "--peak_tflops"]
    fields = {f.name: f for f in dataclasses.fields(Plan)}
    for action in actions:  # the flag's default and help are its field's
        assert action.default == fields[action.dest].default and action.help == fields[action.dest].metadata["help"]
    given = Plan(**vars(train_mod.parser().parse_args(["--shards", "s", "--preset", "tiny", "--lr", "1e-3",
                                                       "--beta2", "0.99", "--micro_batch", "4"])))
    assert given.steps is None and given.max_lr == 1e-3
    plan = make_plan(given, {"vocab_size": 1000, "shards": []}, 1, torch.device("cpu"))
    assert (plan.steps, plan.warmup, plan.max_lr, plan.betas, plan.accum, plan.batch_tokens) == (200, 20, 1e-3, (0.9, 0.99), 4, 1024)
    assert (plan.precision, plan.compile, plan.eval_every, plan.log_every, plan.ckpt_every) == ("fp32", False, 40, 6, 40)
    assert plan.model["vocab_size"] == 1000 and plan.out.endswith("train/tiny")


def test_eta_is_steps_left_times_a_moving_average_of_seconds_per_step():
    eta = train_mod.Eta()
    eta.update(30.0, 1)  # step 1: compilation and warm-up
    assert eta.left(100) == 3000.0
    eta.update(4.0, 2)  # the second interval replaces the first
    assert eta.left(100) == 200.0
    eta.update(8.0, 2)  # then 0.7 x the average + 0.3 x the new interval's
    assert eta.left(100) == pytest.approx(260.0)
    assert [train_mod.format_duration(s) for s in (0, 45.4, 192, 3600 + 5 * 60 + 9, 26 * 3600)] == [
        "0s", "45s", "3m12s", "1h05m", "26h00m"]


def test_weight_decay_on_matrices_not_on_norms_or_embedding():
    model = LLaMA(presets.get("tiny").model)
    decay, no_decay = decay_split(model)
    assert "output.weight" in decay and "layers.0.attention.wq.weight" in decay
    assert "layers.1.feed_forward.w2.weight" in decay
    assert set(no_decay) == {"tok_embeddings.weight", "norm.weight"} | {
        f"layers.{i}.{n}_norm.weight" for i in range(2) for n in ("attention", "ffn")}
    assert len(decay) == 2 * 7 + 1
    groups = build_optimizer(model, 3e-4, 0.1, (0.9, 0.95), 1e-8).param_groups
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]
    assert [len(g["params"]) for g in groups] == [len(decay), len(no_decay)]
    assert groups[0]["betas"] == (0.9, 0.95)


def test_learning_rate_schedule():
    assert scaled_warmup(2000, 250_000) == 2000  # the paper's run keeps its warmup
    assert scaled_warmup(2000, 300) == 30  # a short run: 10% of its steps
    warmup, steps = 30, 300
    assert lr_multiplier(0, warmup, steps, 0.1) == pytest.approx(1 / 30)
    assert lr_multiplier(29, warmup, steps, 0.1) == 1.0
    assert lr_multiplier(30 + 135, warmup, steps, 0.1) == pytest.approx(0.55)  # half-way down the cosine
    assert lr_multiplier(steps, warmup, steps, 0.1) == pytest.approx(0.1)  # ends at 10% of the maximum
    values = [lr_multiplier(s, warmup, steps, 0.1) for s in range(warmup, steps + 1)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def free_port() -> int:
    """A TCP port that nobody listens on now: the one the OS gives a socket bound to port 0."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(text, chars: int = 4000) -> str:
    text = text.decode(errors="replace") if isinstance(text, bytes) else (text or "")
    return text[-chars:]


def torchrun(args: list[str], env: dict, attempts: int = 3) -> subprocess.CompletedProcess:
    """``torch.distributed.run`` of one node on its own free port (static rendezvous: the agent's store on
    that port, shared with the ranks) with generous timeouts. A failure shows the child's stderr and the
    tail of its stdout; a port taken by someone else between ``free_port`` and the rendezvous is retried."""
    for _ in range(attempts):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--node_rank", "0",
               "--master_addr", "127.0.0.1", "--master_port", str(free_port()), "--rdzv_conf", "timeout=600",
               *args]
        try:
            result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"torchrun ran past {e.timeout} s\n--- stderr ---\n{tail(e.stderr)}\n"
                        f"--- stdout (tail) ---\n{tail(e.stdout)}")
        if result.returncode == 0:
            return result
        if "address already in use" not in result.stderr.lower():
            break
    pytest.fail(f"torchrun exited {result.returncode}: {' '.join(cmd)}\n--- stderr ---\n{tail(result.stderr, 8000)}"
                f"\n--- stdout (tail) ---\n{tail(result.stdout)}")


@pytest.mark.slow
def test_two_ddp_ranks_match_one_process(shard_dir, full_run, tmp_path):
    """torchrun with 2 CPU ranks (gloo), 8 windows each per pass = the single process's 16."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    if sys.platform == "linux":
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # loopback, whatever the host name resolves to
    torchrun(["--nproc_per_node", "2", "-m", "llamacorpus.model.train", "--shards", str(shard_dir), "--preset", "tiny",
              "--out", str(tmp_path), "--steps", str(STEPS), "--stop_at", "4", "--log_every", "1", "--eval_every", "20",
              "--micro_batch", "8", "--dist_timeout", "600"], env)
    log = json.loads((tmp_path / train_mod.LOG_NAME).read_text())
    assert log["run"]["world"] == 2 and log["run"]["batch_tokens"] == 16 * 64
    full = losses(full_run)
    for step, loss in losses(log).items():
        assert loss == pytest.approx(full[step], rel=1e-4)
    assert log["validation"][0]["loss"] == pytest.approx(full_run["validation"][0]["loss"], rel=1e-5)
