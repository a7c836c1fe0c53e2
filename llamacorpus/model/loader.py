"""The trainer's batches: run positions -> ``(micro_batch, seq_len + 1)`` token tensors on the device.

On CUDA the batch of the next micro pass is gathered on a background thread, into pinned (page-locked)
memory, while the current one computes, and it goes to the GPU with a non-blocking copy; anywhere else
each batch is read when it is asked for, in the calling thread, as it always was. The time the trainer
spends in :meth:`Batches.get` is its wait for data.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import torch

from llamacorpus.model.data import TrainWindows


class Batches:
    def __init__(self, windows: TrainWindows, micro_batch: int, device: torch.device,
                 ahead: bool | None = None, pin: bool | None = None):
        """``ahead`` (gather on a thread) and ``pin`` default to ``device.type == "cuda"``."""
        cuda = device.type == "cuda"
        self.windows, self.micro_batch, self.device = windows, micro_batch, device
        self.pin = cuda if pin is None else pin
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="batches") if (cuda if ahead is None else ahead) else None
        self.pending: tuple[int, Future] | None = None  # (run position, its batch being gathered)

    def read(self, first: int) -> torch.Tensor:
        batch = torch.from_numpy(self.windows.batch(first, self.micro_batch))
        return batch.pin_memory() if self.pin else batch

    def get(self, first: int, following: int | None = None) -> torch.Tensor:
        """The batch at run position ``first`` on the device; with a thread, gathering the one at
        ``following`` starts before this returns."""
        pending, self.pending = self.pending, None
        host = pending[1].result() if pending and pending[0] == first else self.read(first)
        if self.pool is not None and following is not None:
            self.pending = (following, self.pool.submit(self.read, following))
        return host.to(self.device, non_blocking=True)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
