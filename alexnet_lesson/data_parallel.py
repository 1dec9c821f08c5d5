"""Data parallelism, checked and timed (lesson 09): the programs ``torchrun`` runs in that lesson.

* ``python -m alexnet_lesson.data_parallel steps``: a few steps of :func:`alexnet_lesson.train.fit`
  with DistributedDataParallel; rank 0 saves the weights. N processes with batch b must reach the
  weights of one process with batch N·b (:func:`max_abs_diff`): DDP averages the N gradients of
  b images each, which is the gradient of the mean over all N·b images.
* ``python -m alexnet_lesson.data_parallel time``: seconds per training step of a variant with N
  processes (:func:`time_steps`), and of one all-reduce of its gradients on its own.
* :func:`scaling`: what N processes change in an epoch (images per step, steps, and the learning
  rate by the linear scaling rule of Goyal et al. 2017).

The model of ``steps`` is lesson 04's small AlexNet at 28×28 without dropout: dropout draws its
masks per process, so with it no two runs of different shapes could be compared number for number.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from alexnet_lesson import data
from alexnet_lesson.config import DataConfig, ModelConfig, Recipe, RunConfig
from alexnet_lesson.distributed import (
    device_for_rank,
    is_main,
    process_group,
    rank,
    world_size,
    wrap,
)
from alexnet_lesson.env import model_device
from alexnet_lesson.lrn import mini_alexnet
from alexnet_lesson.models import alexnet, init_kaiming
from alexnet_lesson.report import Report
from alexnet_lesson.train import fit

__all__ = [
    "STEPS_RECIPE",
    "max_abs_diff",
    "scaling",
    "train_steps",
    "time_steps",
    "main",
]

STEPS_RECIPE = Recipe(
    epochs=1, lr=0.05, schedule="constant", label_smoothing=0.0, amp="off", weight_decay=5e-4
)
"""The recipe of ``steps``: plain SGD with momentum at a constant rate, full precision."""


def max_abs_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """The largest difference between two state dicts with the same keys.

    Example:
        >>> max_abs_diff({"w": torch.zeros(2)}, {"w": torch.tensor([0.0, 0.5])})
        0.5
    """
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def scaling(
    processes: Sequence[int],
    batch: int,
    images: int,
    base_lr: float = 0.01,
    base_batch: int = 128,
) -> pd.DataFrame:
    """What N processes of ``batch`` images each (``--batch-size`` under ``torchrun``) change in
    one epoch over ``images`` training images, one row per N.

    * ``images per step``: N · ``batch``, the effective batch: DDP averages the N gradients;
    * ``steps per epoch``: as :class:`~alexnet_lesson.data.DeviceLoader` counts them: one process
      keeps an incomplete last batch, several leave it out so that all take the same steps;
    * ``lr (linear rule)``: ``base_lr`` × N · ``batch`` / ``base_batch``, the linear scaling rule
      ("when the minibatch size is multiplied by k, multiply the learning rate by k"; Goyal et al.
      2017, "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", arXiv:1706.02677, §2.1,
      used with a gradual warm-up, §2.2). The defaults are the paper's 0.01 at 128 images (§5).

    Example:
        >>> scaling([1, 8], batch=128, images=60_000)["steps per epoch"].tolist()
        [469, 58]
    """
    rows = []
    for n in processes:
        step = n * batch
        steps = math.ceil(images / step) if n == 1 else images // step
        rows.append((n, step, steps, round(base_lr * step / base_batch, 10)))
    columns = ["processes", "images per step", "steps per epoch", "lr (linear rule)"]
    return pd.DataFrame(rows, columns=columns)


def train_steps(
    files: data.FashionMNISTFiles, batch: int, steps: int, device: torch.device | str = "cpu"
) -> nn.Module:
    """``steps`` optimizer steps of :func:`~alexnet_lesson.train.fit` on ``batch`` augmented
    images per process (with several processes, each takes its slice of every batch of
    ``batch × N``); returns the trained small AlexNet (the same on every process).

    Example:
        >>> files = data.write_synthetic(tempfile.mkdtemp(), 40, 10)
        >>> float(train_steps(files, batch=8, steps=2).conv1.weight.detach().abs().sum()) > 0
        True
    """
    limit = (batch * world_size() * steps, 1)
    config = DataConfig(size=28, augment=True, limit=limit, val_share=0.0)
    train = data.splits(files, config, batch, device, data.Shard(rank(), world_size())).train
    model = init_kaiming(mini_alexnet("none", dropout=0.0, seed=0)).to(device)
    recipe = STEPS_RECIPE.replace(batch_size=batch, steps_per_epoch=steps)
    run = RunConfig(ModelConfig(variant=None), config, recipe, seed=0)  # a small AlexNet
    fit(model, train, None, run, report=Report(progress=False))
    return model


def time_steps(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 3, warmup: int = 1
) -> dict[str, float]:
    """Seconds per SGD step (forward, backward with DDP's gradient all-reduce, update) of ``model``
    on the batch ``x, y`` in this process: the fastest of ``steps`` timed steps after ``warmup``
    untimed ones (the fastest is the least disturbed by other work on a shared machine); and, on
    its own, the seconds one all-reduce of all the gradients takes (0 for a single process).

    Example:
        >>> t = time_steps(nn.Linear(4, 2), torch.ones(8, 4), torch.zeros(8, dtype=torch.long))
        >>> sorted(t), t["allreduce_s"]
        (['allreduce_s', 'step_s'], 0.0)
    """
    net = wrap(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        opt.step()
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return {"step_s": min(times), "allreduce_s": _allreduce_seconds(model, steps)}


def _allreduce_seconds(model: nn.Module, repeats: int) -> float:
    """Seconds for one all-reduce of a buffer as large as all the model's gradients together."""
    if world_size() == 1:
        return 0.0
    device = model_device(model)
    flat = torch.zeros(sum(p.numel() for p in model.parameters()), device=device)
    dist.all_reduce(flat)  # warm-up
    dist.barrier()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        dist.all_reduce(flat)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return min(times)


def _steps_command(args: argparse.Namespace) -> None:
    """``steps``: train, then rank 0 saves the weights as ``weights.pt`` in ``--out``."""
    files = data.open_fashion_mnist(args.data, download=False, fallback="synthetic")
    model = train_steps(files, args.batch, args.steps, device_for_rank(args.device))
    if is_main():
        Path(args.out).mkdir(parents=True, exist_ok=True)
        torch.save(
            {k: v.cpu() for k, v in model.state_dict().items()}, Path(args.out) / "weights.pt"
        )


def _time_command(args: argparse.Namespace) -> None:
    """``time``: every process times its steps on its own batch; rank 0 writes the mean."""
    device = device_for_rank(args.device)
    model = alexnet(args.variant, num_classes=10, seed=0).to(device)
    g = torch.Generator().manual_seed(rank())
    x = torch.randn(args.batch, model.in_channels, model.input_size, model.input_size, generator=g)
    y = torch.randint(0, 10, (args.batch,), generator=g)
    result = time_steps(model, x.to(device), y.to(device), args.steps)
    if is_main():
        result |= {"processes": world_size(), "threads per process": torch.get_num_threads(),
                   "batch per process": args.batch, "variant": args.variant}  # fmt: skip
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    """``python -m alexnet_lesson.data_parallel {steps,time} --out … [options]`` (under torchrun).

    Example:
        >>> main(["time", "--out", "/tmp/t.json", "--steps", "1"])  # doctest: +SKIP
        0
    """
    p = argparse.ArgumentParser(prog="python -m alexnet_lesson.data_parallel")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("steps", help="a few steps of fit with DDP; rank 0 saves weights.pt")
    s.add_argument("--out", required=True, help="folder for weights.pt")
    s.add_argument("--batch", type=int, default=16, help="images per process and step")
    s.add_argument("--steps", type=int, default=3)
    s.add_argument("--data", help="Fashion-MNIST folder (default: as every lesson finds it)")
    t = sub.add_parser("time", help="seconds per training step, and per gradient all-reduce")
    t.add_argument("--out", required=True, help="JSON file for the result")
    t.add_argument("--variant", default="d2l")
    t.add_argument("--batch", type=int, default=8, help="images per process")
    t.add_argument("--steps", type=int, default=3)
    for q in (s, t):
        q.add_argument("--device", default="cpu", help="cpu (gloo) or cuda (NCCL)")
    args = p.parse_args(argv)
    with process_group(args.device):
        (_steps_command if args.command == "steps" else _time_command)(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
