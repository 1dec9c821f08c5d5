"""Training: one :func:`fit` for the notebooks and the command line, with checkpoints that resume.

What ``fit`` does, in order, every epoch:

* trains on every batch of the training loader (an :class:`alexnet_lesson.data.DeviceLoader` or a
  plain ``torch.utils.data.DataLoader``), with SGD or AdamW and a learning-rate schedule;
* keeps the running loss and accuracy **on the device** (no host sync per step; the progress bar
  reads them every few steps);
* evaluates on the test loader, appends a row to the history and writes a checkpoint
  (``last.pt``, and ``best.pt`` when the test accuracy is the best so far) atomically.

Speed: a fused optimizer step (on CUDA and on the CPU); on CUDA also the channels-last memory
layout and mixed precision (bf16 where the GPU has it, else fp16 with a gradient scaler); if
asked, ``torch.compile``. Mixed precision is off on a CPU unless ``amp`` asks for it.

A NaN or infinite loss stops the run and keeps the last good checkpoint; Ctrl-C (or
interrupting the kernel) returns the history so far.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from alexnet_lesson import data as data_module
from alexnet_lesson import env
from alexnet_lesson.env import pick_device
from alexnet_lesson.models import INITS, VARIANTS, alexnet
from alexnet_lesson.plots import plot_history
from alexnet_lesson.shapes import format_ranges

RUNS_VAR = env.RUNS_VAR
OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("constant", "step", "plateau", "cosine", "onecycle")
COLUMNS = (
    "epoch",
    "train_loss",
    "train_acc",
    "test_loss",
    "test_acc",
    "lr",
    "seconds",
    "images_per_s",
)
CHECKPOINT_FORMAT = "alexnet-lesson-checkpoint/1"
RECIPE = {
    "optimizer": "sgd",
    "lr": 0.02,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "schedule": "onecycle",
    "label_smoothing": 0.1,
}
"""Our default recipe (with augmented batches): SGD with momentum and weight decay as in the
paper (§5), a one-cycle learning-rate schedule and label smoothing 0.1. ``fit(..., **RECIPE)``."""


LESSON_PLANS = {
    "smoke": dict(name="smoke", limit=(80, 32), epochs=1, batch_size=16, hand_steps=2),
    "gpu": dict(name="GPU, full", limit=None, epochs=10, batch_size=128, hand_steps=20),
    "cpu": dict(name="CPU, reduced", limit=(960, 500), epochs=3, batch_size=32, hand_steps=3),
}
"""Lesson 07's budgets: ``limit`` is (n_train, n_test) images (None: all), ``hand_steps`` the
steps of the hand-written loop."""


def lesson_plan(smoke: bool, device_type: str) -> dict:
    """Lesson 07's plan: the smoke budget in tests, the full one on a GPU, else the reduced one.

    Example:
        >>> lesson_plan(False, "cuda")["epochs"], lesson_plan(False, "cpu")["limit"]
        (10, (960, 500))
    """
    key = "smoke" if smoke else "gpu" if device_type == "cuda" else "cpu"
    return dict(LESSON_PLANS[key])


def seconds_per_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int = 2) -> float:
    """Wall-clock seconds of one forward and backward pass on ``(x, y)``; the last of ``repeats``.

    The first pass warms up (memory allocation, cuDNN's algorithm search), so it is not counted.

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
        >>> seconds_per_step(net, torch.zeros(3, 1, 2, 2), torch.tensor([0, 1, 0])) > 0
        True
    """
    for _ in range(repeats):
        start = time.perf_counter()
        F.cross_entropy(model(x), y).backward()
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        seconds = time.perf_counter() - start
    return seconds


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite (the learning rate is usually too high)."""


def runs_dir() -> Path:
    """The folder that holds training runs: ``$ALEXNET_LESSON_RUNS``, else
    ``~/.cache/alexnet-lesson/runs`` (:func:`alexnet_lesson.env.cache_dir`).

    Example:
        >>> runs_dir() == env.cache_dir("runs")
        True
    """
    return env.cache_dir("runs")


# --------------------------------------------------------------------------- pieces of a run


def make_optimizer(
    model: nn.Module,
    name: str = "sgd",
    lr: float = 0.01,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    fused: bool | None = None,
) -> torch.optim.Optimizer:
    """SGD with momentum and weight decay (paper §5), or AdamW (decoupled weight decay).

    ``fused`` (default: when every parameter is on a CPU or CUDA device) updates all parameters
    in one kernel. On a CPU this matters: for the d2l model's 47 M parameters, SGD with momentum
    and weight decay takes about 130 ms per step unfused and 20 ms fused.

    Example:
        >>> make_optimizer(nn.Linear(2, 2), "adamw", lr=1e-3).__class__.__name__
        'AdamW'
    """
    if fused is None:
        fused = all(p.device.type in ("cpu", "cuda") for p in model.parameters())
    kwargs = {"lr": lr, "weight_decay": weight_decay, "fused": bool(fused)}
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), momentum=momentum, **kwargs)
    if name == "adamw":
        return torch.optim.AdamW(model.parameters(), **kwargs)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def lr_factor(schedule: str, step: int, total_steps: int, steps_per_epoch: int) -> float:
    """The learning rate at ``step`` (0-based) as a fraction of the peak, for a per-step schedule.

    * ``constant``: 1 throughout (d2l's recipe).
    * ``step``: ÷10 after half and again after three quarters of the epochs, a fixed version of
      the paper's rule of dividing by 10 when the validation error stops improving (paper §5).
    * ``cosine``: a linear warm-up over the first 5 % of steps, then a cosine down to 0.
    * ``onecycle``: from 1/25 up to 1 over the first 25 % of steps, then a cosine down to 1e-4.
    * ``plateau`` is not per step: it is ``ReduceLROnPlateau`` on the test accuracy (factor 1 here).

    Example:
        >>> [round(lr_factor("step", s, 40, 10), 3) for s in (0, 19, 20, 30)]
        [1.0, 1.0, 0.1, 0.01]
    """
    if schedule in ("constant", "plateau"):
        return 1.0
    if schedule == "step":
        epochs = max(1, total_steps // max(1, steps_per_epoch))
        epoch = step // max(1, steps_per_epoch)
        milestones = (max(1, epochs // 2), max(1, (3 * epochs) // 4))
        return 0.1 ** sum(epoch >= m for m in milestones if m < epochs)
    if schedule == "cosine":
        warm = max(1, round(0.05 * total_steps))
        if step < warm:
            return (step + 1) / warm
        t = (step - warm) / max(1, total_steps - warm)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))
    if schedule == "onecycle":
        warm = max(1, round(0.25 * total_steps))
        start, end = 1 / 25, 1e-4
        if step < warm:
            return start + (1 - start) * step / warm
        t = (step - warm) / max(1, total_steps - warm)
        return end + (1 - end) * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))
    raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")


def make_scheduler(
    optimizer: torch.optim.Optimizer, schedule: str, epochs: int, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau:
    """A per-step ``LambdaLR`` for :func:`lr_factor`, or ``ReduceLROnPlateau`` for ``"plateau"``.

    Example:
        >>> opt = make_optimizer(nn.Linear(2, 2), lr=0.1)
        >>> make_scheduler(opt, "plateau", 10, 5).__class__.__name__
        'ReduceLROnPlateau'
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    if schedule == "plateau":  # the paper's rule: ÷10 when validation accuracy stops improving
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=0.1, patience=1
        )
    total = epochs * steps_per_epoch

    def factor(step: int) -> float:
        return lr_factor(schedule, step, total, steps_per_epoch)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _loader_device(loader: object) -> torch.device | None:
    dev = getattr(loader, "device", None)
    return torch.device(dev) if dev is not None else None


def _resolve_device(device: str | torch.device | None, loader: object) -> torch.device:
    if device is not None:
        return torch.device(device)

    return _loader_device(loader) or pick_device()


AMP_CHOICES = ("auto", "off", "bf16", "fp16")
"""``amp`` values: ``"auto"`` (or None): on CUDA, bf16 where the GPU computes it natively (compute
capability 8.0 or more: A100, RTX 30xx, H100 and later), else fp16 with a gradient scaler; off
elsewhere; ``"off"`` (or False); ``"bf16"``/``"fp16"`` on any device; True: ``"auto"`` on CUDA and
bf16 elsewhere."""

NATIVE_BF16_CAPABILITY = (8, 0)
"""The first CUDA compute capability with bf16 tensor cores (Ampere). Older GPUs (T4 is 7.5,
V100 7.0) run bf16 only emulated, slower than fp32, although ``torch.cuda.is_bf16_supported()``
says yes there: ``amp="auto"`` picks fp16 with a gradient scaler on them."""


def _native_bf16(device: torch.device) -> bool:
    """Whether the CUDA GPU ``device`` has bf16 in hardware (not merely emulated)."""
    if not torch.cuda.is_available():
        return False
    return tuple(torch.cuda.get_device_capability(device)) >= NATIVE_BF16_CAPABILITY


def amp_dtype(device: str | torch.device, amp: bool | str | None = "auto") -> torch.dtype | None:
    """The autocast dtype that ``fit`` uses for ``amp`` on ``device`` (None: full fp32).

    fp16 needs a gradient scaler (``fit`` makes one); bf16 has fp32's range and needs none. On
    CUDA, ``"auto"`` picks bf16 only where the GPU has it natively (compute capability at least
    :data:`NATIVE_BF16_CAPABILITY`), else fp16.

    Example:
        >>> amp_dtype("cpu"), amp_dtype("cpu", "bf16"), amp_dtype("cpu", True)
        (None, torch.bfloat16, torch.bfloat16)
    """
    device = torch.device(device)
    named = {"bf16": torch.bfloat16, "fp16": torch.float16}
    if amp is False or amp == "off":
        return None
    if isinstance(amp, str) and amp in named:
        return named[amp]
    if amp not in (None, True, "auto"):
        raise ValueError(f"unknown amp {amp!r}; choose one of {', '.join(AMP_CHOICES)}")
    if device.type == "cuda":
        return torch.bfloat16 if _native_bf16(device) else torch.float16
    return torch.bfloat16 if amp is True else None


def _default_channels_last(device: torch.device, channels_last: bool | None) -> bool:
    """channels_last by default on CUDA only: there it lets cuDNN use the tensor cores. On a
    2-core CPU, training the d2l model at 224 measured the same in both layouts (oneDNN's forward
    is faster in channels_last, its backward slower), so the CPU keeps the default layout."""
    if channels_last is None:
        return device.type == "cuda"
    return bool(channels_last)


def _autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def _to_device(
    x: torch.Tensor, y: torch.Tensor, device: torch.device, channels_last: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.to(device, non_blocking=True)
    y = y.to(device, non_blocking=True)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y


def evaluate(
    model: nn.Module,
    loader: Iterable,
    device: str | torch.device | None = None,
    amp: bool | str | None = None,
    channels_last: bool | None = None,
) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy of ``model`` over ``loader`` (eval mode, no gradients).

    The sums stay on the device until the end, so there is one host sync per call.

    Example:
        >>> x = torch.zeros(6, 1, 4, 4); y = torch.tensor([0, 1, 0, 1, 0, 1])
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
        >>> loss, acc = evaluate(net, [(x, y)], device="cpu"); acc
        0.5
    """
    device = _resolve_device(device, loader)
    dtype = amp_dtype(device, amp)
    cl = _default_channels_last(device, channels_last)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    n = 0
    with env.eval_mode(model), torch.inference_mode():
        for x, y in loader:
            x, y = _to_device(x, y, device, cl)
            with _autocast(device, dtype):
                out = model(x)
            loss_sum += F.cross_entropy(out.float(), y, reduction="sum")
            correct += (out.argmax(1) == y).sum()
            n += len(y)
    if n == 0:
        return float("nan"), float("nan")
    return loss_sum.item() / n, correct.item() / n


# --------------------------------------------------------------------------- checkpoints


def _rng_state() -> dict:
    state = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": _numpy_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _numpy_state() -> dict:
    name, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 (global state)
    return {
        "name": name,
        "keys": torch.from_numpy(keys.astype(np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached": float(cached),
    }


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_as_tuple(state["python"]))
    s = state["numpy"]
    np.random.set_state(  # noqa: NPY002 (restores the global state)
        (s["name"], s["keys"].numpy().astype(np.uint32), s["pos"], s["has_gauss"], s["cached"])
    )
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(x: object) -> object:
    return tuple(_as_tuple(v) for v in x) if isinstance(x, list | tuple) else x


def _unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, "_orig_mod", model)


def _model_meta(model: nn.Module) -> dict:
    model = _unwrap(model)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    return {
        "variant": getattr(model, "variant", None),
        "num_classes": linears[-1].out_features if linears else None,
        "in_channels": convs[0].in_channels if convs else None,
    }


def _atomic_save(obj: dict, path: Path) -> None:
    tmp = path.with_name(path.name + ".part")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(
    path: str | os.PathLike, device: str | torch.device = "cpu", model: nn.Module | None = None
) -> tuple[nn.Module, dict]:
    """Rebuild a trained model from ``best.pt`` or ``last.pt`` (or a run folder: its ``best.pt``).

    The model is rebuilt by variant name with :func:`alexnet_lesson.models.alexnet`; pass
    ``model=`` to load the weights into a model of your own instead. Returns the model in eval
    mode and an info dict: variant, num_classes, in_channels, mean, std, size, data, epoch,
    history (a DataFrame), config.

    Example:
        >>> load_checkpoint("/nonexistent/best.pt")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        FileNotFoundError: no checkpoint at /nonexistent/best.pt
    """
    path = Path(path)
    if path.is_dir():
        path = path / "best.pt"
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    ckpt = torch.load(path, map_location=device, weights_only=True)
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an alexnet_lesson checkpoint")
    if model is None:
        if not ckpt.get("variant"):
            raise ValueError(
                f"{path} holds a model that is not a named AlexNet variant; "
                "pass model= to load its weights into a model you build yourself"
            )

        model = alexnet(
            ckpt["variant"],
            num_classes=ckpt["num_classes"],
            in_channels=ckpt["in_channels"],
            init="pytorch",
        )
    model.load_state_dict(ckpt["model"])
    model.to(device).eval()
    keys = ("variant", "num_classes", "in_channels", "mean", "std", "size", "data", "epoch")
    info = {k: ckpt.get(k) for k in keys}
    info["history"] = pd.DataFrame(ckpt.get("history", []), columns=list(COLUMNS))
    info["config"] = ckpt.get("config", {})
    info["path"] = path
    return model, info


# --------------------------------------------------------------------------- fit


def _history_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.astype({"epoch": "int64"}) if len(frame) else frame


def fit(
    model: nn.Module,
    train_loader: Iterable,
    test_loader: Iterable | None,
    *,
    epochs: int,
    lr: float,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    schedule: str = "constant",
    label_smoothing: float = 0.0,
    device: str | torch.device | None = None,
    amp: bool | str | None = None,
    channels_last: bool | None = None,
    compile: bool = False,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    seed: int = 0,
    progress: bool = True,
    live_plot: bool = False,
    data: str | None = None,
    steps_per_epoch: int | None = None,
    log_every: int = 10,
    callback: Callable[[dict], None] | None = None,
) -> pd.DataFrame:
    """Train ``model`` for ``epochs`` epochs and return the history, one row per epoch.

    Args:
        train_loader, test_loader: a :class:`~alexnet_lesson.data.DeviceLoader` or any iterable of
            ``(images, labels)`` batches such as a ``DataLoader``; ``test_loader`` may be None.
        optimizer: ``"sgd"`` (with ``momentum``) or ``"adamw"``; ``weight_decay`` applies to both.
        schedule: ``"constant"``, ``"step"``, ``"plateau"``, ``"cosine"`` or ``"onecycle"``
            (see :func:`lr_factor`).
        label_smoothing: passed to the training loss (the reported losses are plain cross-entropy).
        device: default: the train loader's device, else :func:`alexnet_lesson.env.pick_device`.
        amp: mixed precision, see :data:`AMP_CHOICES` (default: on for CUDA, off elsewhere).
        channels_last: the memory layout for convolutions (default: on for CUDA only).
        compile: ``torch.compile`` the model (the checkpoints hold the plain model's weights).
        out_dir: where ``last.pt``, ``best.pt`` and ``history.csv`` go (None: nothing is written).
        resume: continue from ``out_dir/last.pt`` when it exists.
        seed: seeds dropout, shuffling and augmentation; the same seed gives the same history
            on a CPU.
        progress: a ``tqdm.auto`` bar per epoch; ``live_plot``: redraw curves after each epoch
            (in a notebook). ``data``: a description of the data, stored in the checkpoint.
        steps_per_epoch: stop each epoch after this many batches (benchmarks, quick runs).
        callback: called with each epoch's history row (as a dict) after the epoch.

    Returns a DataFrame with columns epoch, train_loss, train_acc, test_loss, test_acc, lr,
    seconds (the epoch's wall time) and images_per_s (training images per second). Its
    ``attrs["stopped"]`` says why it ended early: ``"nan"``, ``"interrupted"`` (else absent).

    Example:
        >>> torch.manual_seed(0) and None
        >>> x = torch.randn(64, 1, 4, 4); y = (x.mean((1, 2, 3)) > 0).long()
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
        >>> h = fit(net, [(x, y)], [(x, y)], epochs=20, lr=0.5, progress=False, device="cpu")
        >>> list(h.columns)[:5], bool(h.test_acc.iloc[-1] > 0.9)
        (['epoch', 'train_loss', 'train_acc', 'test_loss', 'test_acc'], True)
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    device = _resolve_device(device, train_loader)
    dtype = amp_dtype(device, amp)
    cl = _default_channels_last(device, channels_last)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    model.to(device)
    if cl:
        model.to(memory_format=torch.channels_last)
    forward = torch.compile(model) if compile else model

    n_steps = len(train_loader)  # type: ignore[arg-type]
    if steps_per_epoch is not None:
        n_steps = min(n_steps, steps_per_epoch)
    opt = make_optimizer(model, optimizer, lr, momentum, weight_decay)
    opt_defaults = [{k: g[k] for k in ("fused", "foreach") if k in g} for g in opt.param_groups]
    sched = make_scheduler(opt, schedule, epochs, n_steps)
    per_step = not isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    criterion = nn.CrossEntropyLoss(label_smoothing=label_smoothing)

    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    config = {
        "epochs": epochs,
        "lr": lr,
        "optimizer": optimizer,
        "momentum": momentum,
        "weight_decay": weight_decay,
        "schedule": schedule,
        "label_smoothing": label_smoothing,
        "seed": seed,
        "device": str(device),
        "amp": str(dtype).replace("torch.", "") if dtype else "off",
        "channels_last": cl,
        "compile": bool(compile),
        "batch_size": getattr(train_loader, "batch_size", None),
    }
    rows: list[dict] = []
    best = -math.inf
    start_epoch = 1
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (seeds code that uses the global state)
    if resume and out is not None and (out / "last.pt").is_file():
        ckpt = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
        _unwrap(model).load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        for group, fresh in zip(opt.param_groups, opt_defaults, strict=True):
            group.update(fresh)  # this machine's fused/foreach choice, not the saved one
        sched.load_state_dict(ckpt["scheduler"])
        if ckpt["scaler"]:  # empty when saved without fp16 (a CPU run, bf16): a fresh scaler
            scaler.load_state_dict(ckpt["scaler"])
        _set_rng_state(ckpt["rng"])
        rows = list(ckpt["history"])
        best = ckpt.get("best", -math.inf)
        start_epoch = ckpt["epoch"] + 1
        print(f"resuming from {out / 'last.pt'} after epoch {ckpt['epoch']}")
    elif resume:
        print(f"nothing to resume in {out}: starting from epoch 1")

    meta = _model_meta(model)
    mean, std = getattr(train_loader, "mean", None), getattr(train_loader, "std", None)
    size = getattr(train_loader, "size", None) or getattr(_unwrap(model), "input_size", None)

    def checkpoint(epoch: int) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            **meta,
            "mean": mean,
            "std": std,
            "size": size,
            "data": data,
            "epoch": epoch,
            "history": list(rows),
            "best": best,
            "config": config,
            "model": _unwrap(model).state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "scaler": scaler.state_dict(),
            "rng": _rng_state(),
        }

    plot = _LivePlot() if live_plot else None
    history = _history_frame(rows)
    epoch = start_epoch
    try:
        for epoch in range(start_epoch, epochs + 1):
            row = _train_one_epoch(
                forward, model, train_loader, opt, sched if per_step else None, scaler, criterion,
                device, dtype, cl, n_steps, epoch, epochs, progress, log_every,
            )  # fmt: skip
            if not math.isfinite(row["train_loss"]):
                raise NonFiniteLossError(row["train_loss"])
            if test_loader is not None:
                t0 = time.perf_counter()
                row["test_loss"], row["test_acc"] = evaluate(forward, test_loader, device, amp, cl)
                row["seconds"] += time.perf_counter() - t0
            else:
                row["test_loss"] = row["test_acc"] = float("nan")
            if not per_step:
                sched.step(row["test_acc"] if test_loader is not None else -row["train_loss"])
            rows.append(row)
            history = _history_frame(rows)
            score = row["test_acc"] if test_loader is not None else row["train_acc"]
            is_best = score > best
            best = max(best, score)
            if out is not None:
                ckpt = checkpoint(epoch)
                _atomic_save(ckpt, out / "last.pt")
                if is_best:  # the weights and what describes them; no optimizer state
                    keep = ("optimizer", "scheduler", "scaler", "rng")
                    _atomic_save({k: v for k, v in ckpt.items() if k not in keep}, out / "best.pt")
                history.to_csv(out / "history.csv", index=False)
            if progress:
                print(_summary(row))
            if plot is not None:
                plot.update(history)
            if callback is not None:
                callback(dict(row))
    except NonFiniteLossError as exc:
        good = len(rows)
        where = f"{out / 'last.pt'} (after epoch {good})" if out and good else None
        print(
            f"Stopped: the training loss became {exc.args[0]} in epoch {epoch}. The learning rate "
            f"{lr:g} is probably too high for this model and recipe: try lr={lr / 10:g}."
            + (f" The last good checkpoint is kept: {where}." if where else "")
        )
        if where:  # give back the last good weights, not the NaN ones
            state = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
            _unwrap(model).load_state_dict(state["model"])
        history.attrs["stopped"] = "nan"
    except KeyboardInterrupt:
        good = len(rows)
        saved = f" {out / 'last.pt'} holds epoch {good}; resume=True continues." if out else ""
        print(f"Interrupted in epoch {epoch}: returning the {good} finished epoch(s).{saved}")
        history.attrs["stopped"] = "interrupted"
    finally:
        if plot is not None:
            plot.close()
    if out is not None and len(history):
        history.to_csv(out / "history.csv", index=False)
    model.eval()
    return history


def _summary(row: dict) -> str:
    return (
        f"epoch {row['epoch']}: train loss {row['train_loss']:.3f} acc {row['train_acc']:.3f} | "
        f"test loss {row['test_loss']:.3f} acc {row['test_acc']:.3f} | "
        f"lr {row['lr']:.3g} | {row['images_per_s']:.1f} img/s"
    )


def _train_one_epoch(
    forward: Callable,
    model: nn.Module,
    loader: Iterable,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler | None,
    scaler: torch.amp.GradScaler,
    criterion: nn.Module,
    device: torch.device,
    dtype: torch.dtype | None,
    channels_last: bool,
    n_steps: int,
    epoch: int,
    epochs: int,
    progress: bool,
    log_every: int,
) -> dict:
    """One pass over the training data; running sums stay on the device between progress updates."""
    from tqdm.auto import tqdm

    if hasattr(loader, "set_epoch"):
        loader.set_epoch(epoch - 1)
    model.train()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    n = 0
    lr = opt.param_groups[0]["lr"]
    total = getattr(loader, "dataset_size", None)
    if total is None:
        total = len(getattr(loader, "dataset", [])) or None
    bar_options = {} if progress else {"disable": True}  # else $TQDM_DISABLE may switch it off
    bar = tqdm(total=total, desc=f"epoch {epoch}/{epochs}", unit="img", leave=False, **bar_options)
    start = time.perf_counter()
    try:
        for step, (x, y) in enumerate(loader):
            if step >= n_steps:
                break
            x, y = _to_device(x, y, device, channels_last)
            with _autocast(device, dtype):
                out = forward(x)
                loss = criterion(out, y)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            lr = opt.param_groups[0]["lr"]
            if sched is not None:
                sched.step()
            with torch.no_grad():
                loss_sum += F.cross_entropy(out.detach().float(), y, reduction="sum")
                correct += (out.argmax(1) == y).sum()
            n += len(y)
            bar.update(len(y))
            if (step + 1) % log_every == 0:
                mean_loss = loss_sum.item() / n  # one host sync every log_every steps
                if not math.isfinite(mean_loss):
                    return {"epoch": epoch, "train_loss": mean_loss}
                if progress:
                    rate = n / (time.perf_counter() - start)
                    bar.set_postfix(
                        loss=f"{mean_loss:.3f}",
                        acc=f"{correct.item() / n:.3f}",
                        img_s=f"{rate:.0f}",
                    )
        train_loss = loss_sum.item() / max(n, 1)
        train_acc = correct.item() / max(n, 1)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
    finally:
        bar.close()
    return {
        "epoch": epoch,
        "train_loss": train_loss,
        "train_acc": train_acc,
        "test_loss": float("nan"),
        "test_acc": float("nan"),
        "lr": lr,
        "seconds": seconds,
        "images_per_s": n / seconds if seconds > 0 else float("nan"),
    }


class _LivePlot:
    """Curves redrawn in place in a notebook after every epoch (nothing outside IPython)."""

    def __init__(self) -> None:
        self.handle = None
        self.fig = None

    def update(self, history: pd.DataFrame) -> None:
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:
            return
        if get_ipython() is None:
            return
        import matplotlib.pyplot as plt

        if self.fig is not None:
            plt.close(self.fig)
        self.fig = plot_history(history)
        if self.handle is None:
            self.handle = display(self.fig, display_id=True)
        else:
            self.handle.update(self.fig)

    def close(self) -> None:
        if self.fig is not None:
            import matplotlib.pyplot as plt

            plt.close(self.fig)


# --------------------------------------------------------------------------- command line


def _positive(kind: type) -> Callable[[str], int | float]:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def add_train_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``train`` on the CLI's subparsers; every bad flag or value gets argparse's error.

    Example:
        >>> p = argparse.ArgumentParser(); sub = p.add_subparsers(dest="command")
        >>> _ = add_train_command(sub)
        >>> p.parse_args(["train", "--epochs", "2"]).epochs
        2
    """

    p = subparsers.add_parser(
        "train",
        help="train an AlexNet variant on Fashion-MNIST (history CSV, curves, checkpoints, metrics)",
        description="Train an AlexNet variant on Fashion-MNIST with alexnet_lesson.train.fit.",
    )
    p.add_argument("--variant", choices=list(VARIANTS), default="d2l", help="model (default d2l)")
    p.add_argument("--epochs", type=_positive(int), default=10)
    p.add_argument("--batch-size", type=_positive(int), default=128)
    p.add_argument(
        "--lr", type=_positive(float), default=None, help="default: 0.02 sgd, 3e-4 adamw"
    )
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd")
    p.add_argument("--schedule", choices=SCHEDULES, default=RECIPE["schedule"])
    p.add_argument("--momentum", type=_fraction, default=0.9)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--label-smoothing", type=_fraction, default=RECIPE["label_smoothing"])
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--init", choices=list(INITS), default="kaiming")
    p.add_argument("--size", type=_positive(int), help="input size (default: the variant's own)")
    p.add_argument("--limit", type=_positive(int), nargs=2, metavar=("N_TRAIN", "N_TEST"))
    p.add_argument("--data", help="data folder (default: $ALEXNET_LESSON_DATA or ~/.cache/...)")
    p.add_argument("--synthetic", action="store_true", help="use synthetic data if none is found")
    p.add_argument("--out", help="run folder (default: <runs dir>/<variant>)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--smoke", action="store_true", help="tiny run: 256+128 images, one epoch")
    p.add_argument("--device", help="force a device (cpu, cuda, mps)")
    p.add_argument(
        "--amp", choices=AMP_CHOICES, default="auto", help="mixed precision (default: auto)"
    )
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=train_command, _parser=p)
    return p


def train_command(args: argparse.Namespace) -> int:
    """Run ``python -m alexnet_lesson train …``: history CSV, curves PNG, checkpoints, metrics JSON.

    Example:
        >>> train_command(argparse.Namespace())  # doctest: +SKIP
        0
    """

    parser: argparse.ArgumentParser = args._parser
    variant = VARIANTS[args.variant]
    size = args.size or variant.input_size
    model = alexnet(args.variant, num_classes=10, init=args.init, seed=args.seed)
    ok = model.accepted_sizes()
    if not any(lo <= size <= hi for lo, hi in ok):
        parser.error(
            f"argument --size: {args.variant} cannot take {size}×{size} inputs; "
            f"it accepts {format_ranges(ok)}"
        )
    try:
        fallback = "synthetic" if args.synthetic else "error"
        files = data_module.open_fashion_mnist(args.data, download=True, fallback=fallback)
    except data_module.DataUnavailableError as exc:
        print(exc, file=sys.stderr)
        return 1
    limit = tuple(args.limit) if args.limit else ((256, 128) if args.smoke else None)
    epochs = 1 if args.smoke else args.epochs
    device = pick_device(args.device)
    train_loader, test_loader = data_module.device_loaders(
        files, args.batch_size, size, device, augment=args.augment,
        channels=model.in_channels, limit=limit, seed=args.seed,
    )  # fmt: skip
    lr = args.lr or (3e-4 if args.optimizer == "adamw" else RECIPE["lr"])
    out = Path(args.out) if args.out else runs_dir() / args.variant
    description = files.describe()
    if limit:
        description += f" (first {limit[0]} train / {limit[1]} test images used)"
    print(f"training {args.variant} at {size}×{size} on {device}: {description}")
    print(f"run folder: {out}")
    history = fit(
        model, train_loader, test_loader, epochs=epochs, lr=lr, optimizer=args.optimizer,
        momentum=args.momentum, weight_decay=args.weight_decay, schedule=args.schedule,
        label_smoothing=args.label_smoothing, device=device, amp=args.amp,
        channels_last=args.channels_last, compile=args.compile, out_dir=out, resume=args.resume,
        seed=args.seed, progress=not args.no_progress, data=description,
    )  # fmt: skip
    if len(history):
        fig = plot_history(history)
        fig.savefig(out / "curves.png", dpi=100)
        import matplotlib.pyplot as plt

        plt.close(fig)
    last = history.iloc[-1].to_dict() if len(history) else {}
    metrics = {
        "variant": args.variant,
        "size": size,
        "device": str(device),
        "data": description,
        "epochs_done": len(history),
        "stopped": history.attrs.get("stopped"),
        "final": {k: float(v) for k, v in last.items()},
        "best_test_acc": float(history.test_acc.max()) if len(history) else None,
        "total_seconds": float(history.seconds.sum()) if len(history) else 0.0,
        "config": {"lr": lr, "optimizer": args.optimizer, "schedule": args.schedule,
                   "batch_size": args.batch_size, "label_smoothing": args.label_smoothing,
                   "augment": args.augment, "seed": args.seed, "init": args.init},
    }  # fmt: skip
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"wrote {out / 'history.csv'}, curves.png, last.pt, best.pt, metrics.json")
    return 0 if history.attrs.get("stopped") != "nan" else 3
