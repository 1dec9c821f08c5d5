"""Training (lesson 07): a :class:`Recipe` of hyperparameters, and one :func:`fit` that follows it.

``fit`` reads as the steps of a run: **prepare** (the model's device, mixed precision, memory
layout, optimizer, schedule), **resume** from ``last.pt`` when asked, then every epoch **one
pass** over the training data, **validate** on the validation loader, **save** ``last.pt`` (and
``best.pt`` when the validation accuracy is the best so far) atomically, and **report**. The test
set is not ``fit``'s business: it is read once, after training (:func:`loss_and_accuracy`), so
that nothing is chosen on it.

Speed: a fused optimizer step; running loss and accuracy stay on the device (no host sync per
step); on CUDA the channels-last layout and mixed precision (bf16 where the GPU has it, else fp16
with a gradient scaler); ``torch.compile`` when the recipe asks.

A NaN or infinite loss stops the run and gives back the weights of the last saved epoch (when
there is one); Ctrl-C (or
interrupting the kernel) returns the history so far. The recipe's momentum 0.9, weight decay
0.0005 and batch size 128 are the paper's (Krizhevsky et al. 2012, §5).

Under ``torchrun`` (lesson 09) ``fit`` trains with DistributedDataParallel: every process takes
its share of each batch (a sharded :class:`~alexnet_lesson.data.DeviceLoader`), the gradients are
averaged over the processes, the running loss and accuracy and the validation numbers are added up over
them, and only rank 0 holds the run folder, writes and reports.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import random
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field, fields
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from IPython import get_ipython
from IPython.display import display
from torch import nn
from tqdm.auto import tqdm

from alexnet_lesson import distributed
from alexnet_lesson.env import eval_mode, model_device
from alexnet_lesson.models import alexnet
from alexnet_lesson.plots import plot_history
from alexnet_lesson.runs import RunFolderError, claim, existing_run, recipe_changes, write_atomic

__all__ = [
    "ADAMW_LR",
    "AMP_CHOICES",
    "COLUMNS",
    "NATIVE_BF16_CAPABILITY",
    "OPTIMIZERS",
    "SCHEDULES",
    "NonFiniteLossError",
    "Recipe",
    "Report",
    "amp_dtype",
    "tensorboard_available",
    "fit",
    "load_checkpoint",
    "recipes_compared",
    "final_test",
    "loss_and_accuracy",
    "lr_factor",
    "make_optimizer",
    "make_scheduler",
]

OPTIMIZERS = ("sgd", "adamw")
ADAMW_LR = 3e-4
"""The usual starting learning rate for AdamW; the CLI's default with ``--optimizer adamw``."""
SCHEDULES = ("constant", "step", "plateau", "cosine", "onecycle")
AMP_CHOICES = ("auto", "off", "bf16", "fp16")
"""``amp`` values: ``"auto"``: on CUDA, bf16 where the GPU computes it natively (compute capability
8.0 or more: A100, RTX 30xx, H100 and later), else fp16 with a gradient scaler; off elsewhere.
``"off"``; ``"bf16"`` or ``"fp16"`` on any device. (:func:`amp_dtype` also takes True: ``"auto"``
on CUDA, bf16 elsewhere; and False or None.)"""

NATIVE_BF16_CAPABILITY = (8, 0)
"""The first CUDA compute capability with bf16 tensor cores (Ampere). Older GPUs (T4 is 7.5,
V100 7.0) run bf16 only emulated, slower than fp32, although ``torch.cuda.is_bf16_supported()``
says yes there: ``amp="auto"`` picks fp16 with a gradient scaler on them."""

COLUMNS = (
    "epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "lr",
    "seconds",
    "images_per_s",
)
CHECKPOINT_FORMAT = "alexnet-lesson-checkpoint/2"
"""Version 2 stores ``recipe`` and ``runtime``; version 1 stored ``config`` (still loadable)."""
READABLE_FORMATS = (CHECKPOINT_FORMAT, "alexnet-lesson-checkpoint/1")


# --------------------------------------------------------------------------- the recipe


def _setting(default: object, meaning: str, rule: tuple | None = None, choices: tuple = ()):
    return field(default=default, metadata={"meaning": meaning, "rule": rule, "choices": choices})


_POSITIVE = (lambda v: v > 0, "must be positive")
_FRACTION = (lambda v: 0 <= v < 1, "must be in [0, 1)")
_NOT_NEGATIVE = (lambda v: 0 <= v < math.inf, "must be a finite number, 0 or more")
_SEED = (lambda v: 0 <= v < 2**32, "must be between 0 and 2**32 - 1")
_POSITIVE_FINITE = (lambda v: 0 < v < math.inf, "must be a positive finite number")


@dataclass(frozen=True)
class Recipe:
    """Every hyperparameter of a training run, as data: ``fit`` follows it, the CLI fills it from
    flags, every checkpoint stores it. ``Recipe()`` is our default recipe (with augmented
    batches): SGD with the paper's momentum and weight decay (§5), a one-cycle schedule and
    label smoothing 0.1. Change a copy with :meth:`replace`; show it with :meth:`table`.

    Example:
        >>> Recipe(epochs=3).replace(lr=0.01).lr, Recipe().batch_size * Recipe().grad_accum
        (0.01, 128)
        >>> Recipe(optimizer="adam")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        ValueError: unknown optimizer 'adam'; choose one of sgd, adamw
    """

    epochs: int = _setting(10, "passes over the training data", _POSITIVE)
    batch_size: int = _setting(128, "images per batch (paper §5: 128)", _POSITIVE)
    lr: float = _setting(0.02, "peak learning rate", _POSITIVE_FINITE)
    optimizer: str = _setting("sgd", "sgd (with momentum) or adamw", choices=OPTIMIZERS)
    momentum: float = _setting(0.9, "SGD momentum (paper §5: 0.9)", _FRACTION)
    weight_decay: float = _setting(5e-4, "weight decay (paper §5: 0.0005)", _NOT_NEGATIVE)
    schedule: str = _setting(
        "onecycle", "learning-rate schedule (see lr_factor)", choices=SCHEDULES
    )
    label_smoothing: float = _setting(0.1, "label smoothing of the training loss", _FRACTION)
    grad_accum: int = _setting(1, "batches whose gradients add up to one step", _POSITIVE)
    amp: str = _setting("auto", "mixed precision (see AMP_CHOICES)", choices=AMP_CHOICES)
    channels_last: bool | None = _setting(None, "channels-last layout (None: on CUDA only)")
    compile: bool = _setting(False, "torch.compile the model")
    seed: int = _setting(0, "seeds dropout, shuffling and augmentation", _SEED)
    steps_per_epoch: int | None = _setting(None, "batches per epoch at most (None: all)", _POSITIVE)

    def __post_init__(self) -> None:
        for f in fields(self):
            self.check(f.name, getattr(self, f.name))

    @classmethod
    def check(cls, name: str, value: object) -> None:
        """Raise ``ValueError`` saying what ``name`` must be when ``value`` breaks its rule.

        Example:
            >>> Recipe.check("lr", 0.1) is None
            True
        """
        meta = {f.name: f.metadata for f in fields(cls)}[name]
        if meta["choices"] and value not in meta["choices"]:
            choices = ", ".join(meta["choices"])
            raise ValueError(f"unknown {name} {value!r}; choose one of {choices}")
        rule = meta["rule"]
        if rule is not None and value is not None and not rule[0](value):
            raise ValueError(f"{name} {rule[1]}, got {value!r}")

    def replace(self, **changes: object) -> Recipe:
        """A copy with ``changes`` (checked like a new recipe).

        Example:
            >>> Recipe().replace(epochs=2).epochs
            2
        """
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        """The recipe as a plain dict (what checkpoints store).

        Example:
            >>> Recipe().as_dict()["schedule"]
            'onecycle'
        """
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Recipe:
        """The recipe a checkpoint stored (keys this version does not know are left out).

        Example:
            >>> Recipe.from_dict({"epochs": 2, "old_key": 1}) == Recipe(epochs=2)
            True
        """
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def table(self) -> pd.DataFrame:
        """One row per setting: its value and what it means.

        Example:
            >>> Recipe().table().loc["lr", "value"]
            0.02
        """
        rows = [(f.name, getattr(self, f.name), f.metadata["meaning"]) for f in fields(self)]
        return pd.DataFrame(rows, columns=["setting", "value", "meaning"]).set_index("setting")


def recipes_compared(recipe: Recipe | None = None, epochs_ours: int | None = None) -> pd.DataFrame:
    """The paper's training recipe as one unit, next to ours and d2l's, each paper value with
    its section (Krizhevsky et al. 2012) and d2l's with its source.

    ``recipe`` (default ``Recipe()``) fills the "ours" column where a Recipe field decides it;
    the rest (data, model, augmentation) is how the lessons' loaders and models are built.

    Example:
        >>> t = recipes_compared()
        >>> t.loc["momentum", ["paper", "ours", "d2l"]].tolist()
        ['0.9', '0.9', 'none (plain SGD)']
    """
    r = recipe or Recipe()
    d2l = "d2l.ai, AlexNet chapter, Training"
    rows = [
        ("data", "ImageNet ILSVRC-2012: 1.2 M images, 1000 classes", "§2",
         "Fashion-MNIST 28×28 grey, 10 classes; 10 % of the training images held out", "Fashion-MNIST, no validation split", d2l),
        ("input", "224×224×3 crops of 256×256 images", "§2, §4.1",
         "28×28 upsampled to 224×224, 1 channel", "Resize(224) with PIL", d2l),
        ("augmentation", "random 224 crops + horizontal flips", "§4.1",
         "random shift ≤ 2 px at 28×28 + horizontal flips", "none", d2l),
        ("PCA lighting", "α ~ N(0, 0.1) along the RGB principal components", "§4.1",
         "not used (grey images: it would be a brightness offset)", "none", d2l),
        ("initialisation", "weights N(0, 0.01); biases 1 in conv2, conv4, conv5, fc6, fc7", "§5",
         "He (Kaiming) normal", "Xavier uniform", d2l),
        ("optimizer", "SGD with momentum", "§5", r.optimizer, "sgd", d2l),
        ("momentum", "0.9", "§5", str(r.momentum) if r.optimizer == "sgd" else "-",
         "none (plain SGD)", d2l),
        ("weight decay", "0.0005", "§5", str(r.weight_decay), "none", d2l),
        ("batch size", "128", "§5", str(r.batch_size), "128", d2l),
        ("learning rate", "0.01, ÷10 by hand when validation error stalls (3 times)", "§5",
         f"{r.lr} peak, {r.schedule} schedule", "0.01 constant", d2l),
        ("epochs", "about 90", "§5", str(epochs_ours or r.epochs), "10", d2l),
        ("label smoothing", "none", "§5", str(r.label_smoothing), "none", d2l),
        ("dropout", "0.5 on fc6 and fc7", "§4.2", "0.5 on fc6 and fc7", "0.5 on fc6 and fc7", d2l),
        ("LRN", "after conv1 and conv2", "§3.3", "none (d2l variant)", "none", d2l),
        ("hardware, time", "two GTX 580 3 GB, five to six days", "§3.2, §5",
         "whatever trains the lesson (printed with each run)", "one GPU", d2l),
    ]  # fmt: skip
    columns = ["setting", "paper", "paper §", "ours", "d2l", "d2l source"]
    return pd.DataFrame(rows, columns=columns).set_index("setting")


@dataclass(frozen=True)
class Report:
    """How :func:`fit` reports; nothing here changes the numbers.

    ``progress``: a tqdm bar per epoch and a line after it; ``tensorboard``: a folder for
    TensorBoard's event files (needs the optional ``tensorboard`` package; the history CSV stays
    the record); ``live_plot``: curves redrawn after
    every epoch (in a notebook); ``log_every``: steps between the bar's loss updates (each one a
    host sync); ``callback``: called with each epoch's history row (a dict).
    """

    progress: bool = True
    live_plot: bool = False
    tensorboard: str | os.PathLike | None = None
    log_every: int = 10
    callback: Callable[[dict], None] | None = None


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite (the learning rate is usually too high)."""


# --------------------------------------------------------------------------- optimizer, schedule, precision


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
    * ``plateau`` is not per step: it is ``ReduceLROnPlateau`` on the validation accuracy (factor 1 here).

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


def _channels_last(device: torch.device, recipe: Recipe) -> bool:
    """channels_last by default on CUDA only: there it lets cuDNN use the tensor cores. On a
    2-core CPU, training the d2l model at 224 measured the same in both layouts (oneDNN's forward
    is faster in channels_last, its backward slower), so the CPU keeps the default layout."""
    if recipe.channels_last is None:
        return device.type == "cuda"
    return bool(recipe.channels_last)


def _autocast(device: torch.device, dtype: torch.dtype | None) -> torch.autocast:
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def _to_device(
    x: torch.Tensor, y: torch.Tensor, device: torch.device, channels_last: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.to(device, non_blocking=True)
    y = y.to(device, non_blocking=True)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y


def loss_and_accuracy(
    model: nn.Module,
    loader: Iterable,
    amp: bool | str | None = None,
    channels_last: bool | None = None,
) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy of ``model`` over ``loader``, on the model's device
    (eval mode, no gradients). The sums stay on the device: one host sync per call.

    Example:
        >>> x = torch.zeros(6, 1, 4, 4); y = torch.tensor([0, 1, 0, 1, 0, 1])
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
        >>> loss, acc = loss_and_accuracy(net, [(x, y)]); acc
        0.5
    """
    device = model_device(model)
    dtype = amp_dtype(device, amp)
    cl = _channels_last(device, Recipe(channels_last=channels_last))
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    n = 0
    with eval_mode(model), torch.inference_mode():
        for x, y in loader:
            x, y = _to_device(x, y, device, cl)
            with _autocast(device, dtype):
                out = model(x)
            loss_sum += F.cross_entropy(out.float(), y, reduction="sum")
            correct += (out.argmax(1) == y).sum()
            n += len(y)
    if getattr(loader, "world_size", 1) > 1:  # each process evaluated its block of the images
        loss, right, n = _added_up(loss_sum, correct, n)
    else:
        loss, right = loss_sum.item(), correct.item()
    if n == 0:
        return float("nan"), float("nan")
    return loss / n, right / n


def final_test(model: nn.Module, test_loader: Iterable, out_dir: str | os.PathLike) -> dict:
    """The test set, read once at the end: load ``out_dir/best.pt`` (the epoch chosen on the
    validation split) into ``model`` and measure it on ``test_loader``.

    Returns ``{"epoch", "val_acc", "test_loss", "test_acc"}``: the chosen epoch, its validation
    accuracy, and its test loss and accuracy. Nothing is chosen on these test numbers.

    Example:
        >>> final_test(nn.Linear(2, 2), [], "/nonexistent")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        FileNotFoundError: no best.pt in /nonexistent: train first (fit with out_dir)
    """
    path = Path(out_dir) / "best.pt"
    if not path.is_file():
        raise FileNotFoundError(f"no best.pt in {out_dir}: train first (fit with out_dir)")
    ckpt = torch.load(path, map_location=model_device(model), weights_only=True)
    _unwrap(model).load_state_dict(ckpt["model"])
    rows = {row["epoch"]: row for row in _history_rows(ckpt)}
    loss, acc = loss_and_accuracy(model, test_loader)
    val_acc = rows.get(ckpt["epoch"], {}).get("val_acc", math.nan)
    return {"epoch": ckpt["epoch"], "val_acc": val_acc, "test_loss": loss, "test_acc": acc}


def _added_up(loss: torch.Tensor, correct: torch.Tensor, n: int) -> tuple[float, float, int]:
    """Sums of loss, correct predictions and images over every process (one all-reduce)."""
    if distributed.world_size() == 1:
        return loss.item(), correct.item(), n
    count = torch.tensor(float(n), dtype=torch.float64, device=loss.device)
    loss_sum, right, total = distributed.all_reduce_sum(
        torch.stack([loss.double(), correct.double(), count])
    ).tolist()
    return loss_sum, right, int(total)


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
    write_atomic(path, lambda tmp: torch.save(obj, tmp))


def _write_history(history: pd.DataFrame, out: Path) -> None:
    write_atomic(out / "history.csv", lambda tmp: history.to_csv(tmp, index=False))


def load_checkpoint(
    path: str | os.PathLike, device: str | torch.device = "cpu", model: nn.Module | None = None
) -> tuple[nn.Module, dict]:
    """Rebuild a trained model from ``best.pt`` or ``last.pt`` (or a run folder: its ``best.pt``).

    The model is rebuilt by variant name with :func:`alexnet_lesson.models.alexnet`; pass
    ``model=`` to load the weights into a model of your own instead. Returns the model in eval
    mode and an info dict: variant, num_classes, in_channels, mean, std, size, data, epoch,
    history (a DataFrame), recipe (a :class:`Recipe`, None for a version-1 checkpoint), runtime
    (device, amp, channels_last as trained) and path.

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
    if ckpt.get("format") not in READABLE_FORMATS:
        raise ValueError(f"{path} is not an alexnet_lesson checkpoint")
    if model is None:
        model = _named_model(ckpt, path)
    model.load_state_dict(ckpt["model"])
    model.to(device).eval()
    keys = ("variant", "num_classes", "in_channels", "mean", "std", "size", "data", "epoch")
    info = {k: ckpt.get(k) for k in keys}
    info["history"] = pd.DataFrame(_history_rows(ckpt), columns=list(COLUMNS))
    info["recipe"] = Recipe.from_dict(ckpt["recipe"]) if "recipe" in ckpt else None
    info["runtime"] = ckpt.get("runtime") or ckpt.get("config") or {}
    info["path"] = path
    return model, info


def _history_rows(ckpt: dict) -> list[dict]:
    """The stored history; checkpoints written before the validation split called its columns
    ``test_loss`` and ``test_acc`` (they were chosen on, so they were validation numbers)."""
    old = {"test_loss": "val_loss", "test_acc": "val_acc"}
    return [{old.get(k, k): v for k, v in row.items()} for row in ckpt.get("history", [])]


def _named_model(ckpt: dict, path: Path) -> nn.Module:
    if not ckpt.get("variant"):
        raise ValueError(
            f"{path} holds a model that is not a named AlexNet variant; "
            "pass model= to load its weights into a model you build yourself"
        )
    return alexnet(
        ckpt["variant"],
        num_classes=ckpt["num_classes"],
        in_channels=ckpt["in_channels"],
        init="pytorch",
    )


# --------------------------------------------------------------------------- fit


@dataclass
class _Run:
    """Everything one call of :func:`fit` holds between its steps."""

    model: nn.Module
    forward: Callable  # for training: compiled and/or in DistributedDataParallel as asked
    evaluate: Callable  # for testing: the same without DDP
    recipe: Recipe
    device: torch.device
    dtype: torch.dtype | None
    channels_last: bool
    optimizer: torch.optim.Optimizer
    scheduler: object
    scaler: torch.amp.GradScaler
    criterion: nn.Module
    n_steps: int
    describes: dict
    rows: list = field(default_factory=list)
    best: float = -math.inf
    start_epoch: int = 1
    changes: list = field(default_factory=list)

    @property
    def per_step(self) -> bool:
        return not isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)

    def history(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.rows, columns=list(COLUMNS))
        frame = frame.astype({"epoch": "int64"}) if len(frame) else frame
        if self.changes:
            frame.attrs["recipe_changes"] = self.changes
        return frame


def fit(
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable | None = None,
    recipe: Recipe = Recipe(),
    *,
    out_dir: str | os.PathLike | None = None,
    resume: bool | str = False,
    data: str | None = None,
    report: Report = Report(),
) -> pd.DataFrame:
    """Train ``model`` on its own device following ``recipe``; return the history, a row an epoch.

    Args:
        train_loader, val_loader: a :class:`~alexnet_lesson.data.DeviceLoader` (moved to the
            model's device if it is elsewhere) or any iterable of ``(images, labels)`` batches,
            such as a ``DataLoader``. ``val_loader`` holds images kept out of training
            (:func:`~alexnet_lesson.data.device_splits`): ``best.pt`` and the ``plateau``
            schedule are chosen on it; it may be None. Do not pass the test set here.
        recipe: every hyperparameter (:class:`Recipe`); its ``batch_size`` must be the loader's.
        out_dir: the run folder, for ``last.pt``, ``best.pt`` and ``history.csv`` (None: nothing
            is written). It belongs to this run (:mod:`alexnet_lesson.runs`): a folder that holds
            another run is refused unless ``resume``, and a lock keeps other processes out.
        resume: continue from ``out_dir/last.pt`` when it exists. The saved recipe must equal
            ``recipe``; ``resume="with-changes"`` accepts the changes a learner may mean (more
            epochs, another learning rate, …) and records them in the checkpoint.
        data: a description of the data, stored in the checkpoints.
        report: progress bar, live plot, callback (:class:`Report`).

    Returns a DataFrame with the columns of :data:`COLUMNS` (``seconds``: the epoch's wall time;
    ``images_per_s``: training images per second). ``attrs["stopped"]`` says why it ended
    early: ``"nan"`` or ``"interrupted"`` (else absent).

    Example:
        >>> torch.manual_seed(0) and None
        >>> x = torch.randn(64, 1, 4, 4); y = (x.mean((1, 2, 3)) > 0).long()
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
        >>> recipe = Recipe(epochs=20, lr=0.5, batch_size=64, schedule="constant")
        >>> h = fit(net, [(x, y)], [(x, y)], recipe, report=Report(progress=False))
        >>> list(h.columns)[:5], bool(h.val_acc.iloc[-1] > 0.9)
        (['epoch', 'train_loss', 'train_acc', 'val_loss', 'val_acc'], True)
    """
    out = Path(out_dir) if out_dir is not None else None
    if resume and out is None:
        raise ValueError("resume needs out_dir: the run folder to continue")
    if not distributed.is_main():  # with several processes, rank 0 alone reports
        report = dataclasses.replace(report, progress=False, live_plot=False, tensorboard=None)
    with distributed.main_holds(claim(out, resume=bool(resume)) if out else nullcontext()):
        run = _prepare(model, train_loader, recipe, data)
        train_loader = _follow(train_loader, run.device)
        val_loader = _follow(val_loader, run.device)
        if resume:
            _resume(run, out, allow_changes=resume == "with-changes")
        history = _epochs(run, train_loader, val_loader, out, report)
        if out is not None and len(history) and distributed.is_main():
            _write_history(history, out)
    model.eval()
    return history


def _follow(loader: Iterable | None, device: torch.device) -> Iterable | None:
    """A DeviceLoader elsewhere moves to the model's device; other loaders are left alone."""
    if loader is not None and hasattr(loader, "to") and getattr(loader, "device", device) != device:
        loader.to(device)
    return loader


def _check_batch_size(recipe: Recipe, loader: Iterable) -> None:
    size = getattr(loader, "batch_size", None)
    if size is not None and size != recipe.batch_size:
        raise ValueError(
            f"the recipe says batch_size={recipe.batch_size} but the train loader's batches hold "
            f"{size}: build the loader with recipe.batch_size, or use recipe.replace(batch_size={size})"
        )


def _prepare(model: nn.Module, loader: Iterable, recipe: Recipe, data: str | None) -> _Run:
    """The device (the model's), precision, layout, optimizer, schedule and seeds of a run."""
    _check_batch_size(recipe, loader)
    device = model_device(model)
    channels_last = _channels_last(device, recipe)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if channels_last:
        model.to(memory_format=torch.channels_last)
    n_steps = len(loader)  # type: ignore[arg-type]
    if recipe.steps_per_epoch is not None:
        n_steps = min(n_steps, recipe.steps_per_epoch)
    opt = make_optimizer(model, recipe.optimizer, recipe.lr, recipe.momentum, recipe.weight_decay)
    updates = -(-n_steps // recipe.grad_accum)  # optimizer steps per epoch
    dtype = amp_dtype(device, recipe.amp)
    seed = recipe.seed + distributed.rank()  # each process its own dropout masks
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (seeds code that uses the global state)
    forward = distributed.wrap(model)  # DistributedDataParallel with several processes
    forward = torch.compile(forward) if recipe.compile else forward
    return _Run(
        model=model,
        forward=forward,
        evaluate=forward if distributed.world_size() == 1 else model,
        recipe=recipe,
        device=device,
        dtype=dtype,
        channels_last=channels_last,
        optimizer=opt,
        scheduler=make_scheduler(opt, recipe.schedule, recipe.epochs, updates),
        scaler=torch.amp.GradScaler(device.type, enabled=dtype == torch.float16),
        criterion=nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing),
        n_steps=n_steps,
        describes={
            **_model_meta(model),
            "mean": getattr(loader, "mean", None),
            "std": getattr(loader, "std", None),
            "size": getattr(loader, "size", None) or getattr(_unwrap(model), "input_size", None),
            "augment": getattr(loader, "augment", None),
            "data": data,
        },
    )


def _resume(run: _Run, out: Path, allow_changes: bool) -> None:
    """Load weights, optimizer, schedule, scaler, RNG and history from ``out/last.pt``, after
    checking that it is a checkpoint of this model and of this recipe (or of changes allowed)."""
    if not (out / "last.pt").is_file():
        if existing_run(out):
            raise RunFolderError(
                f"{out} holds a run ({', '.join(existing_run(out))}) but no last.pt to resume "
                "from; nothing was changed. Choose another folder, or --replace it."
            )
        _say(f"nothing to resume in {out}: starting from epoch 1")
        return
    ckpt = _read_checkpoint(out / "last.pt")
    changes = _resume_changes(run, ckpt, out / "last.pt", allow_changes)
    _unwrap(run.model).load_state_dict(ckpt["model"])
    _load_optimizer(run.optimizer, ckpt["optimizer"])
    run.scheduler.load_state_dict(ckpt["scheduler"])
    if ckpt["scaler"]:  # empty when saved without fp16 (a CPU run, bf16): a fresh scaler
        run.scaler.load_state_dict(ckpt["scaler"])
    _apply_hyperparameters(run, Recipe.from_dict(ckpt["recipe"]))
    _position_schedule(run, ckpt["epoch"])
    _set_rng_state(_this_process_rng(ckpt))
    run.rows = _history_rows(ckpt)
    run.best = ckpt.get("best", -math.inf)
    run.start_epoch = ckpt["epoch"] + 1
    run.changes = list(ckpt.get("recipe_changes", []))
    if changes:
        run.changes.append({"after_epoch": ckpt["epoch"], "changes": changes})
    _say(f"resuming from {out / 'last.pt'} after epoch {ckpt['epoch']}")
    for line in changes:
        _say(f"  changed: {line}")
    for line in _runtime_changes(run, ckpt.get("runtime", {})):
        _say(f"  runtime: {line}")
    before = ckpt.get("runtime", {}).get("processes", 1)
    if before != distributed.world_size():
        _say(f"  processes: {before} → {distributed.world_size()} (each step now sees "
             f"{distributed.world_size()} × {run.recipe.batch_size} images)")  # fmt: skip


def _say(text: str) -> None:
    """Print, in one process only (rank 0) when there are several."""
    if distributed.is_main():
        print(text)


def _this_process_rng(ckpt: dict) -> dict:
    """This process's saved random state: its own when the run had as many processes."""
    by_rank = ckpt.get("rng_by_rank")
    if by_rank and len(by_rank) == distributed.world_size():
        return by_rank[distributed.rank()]
    return ckpt["rng"]


def _read_checkpoint(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, not a torch file, or foreign pickled objects
        raise RunFolderError(
            f"{path} cannot be read as a checkpoint ({type(exc).__name__}); nothing was changed. "
            "Start a new run in another folder, or --replace this one."
        ) from None


def _runtime_changes(run: _Run, saved: dict) -> list[str]:
    """Device, precision and layout differences: allowed, and said."""
    now = {
        "device": str(run.device),
        "amp": _amp_name(run.dtype),
        "channels_last": run.channels_last,
    }
    return [f"{k}: {saved[k]} → {v}" for k, v in now.items() if k in saved and saved[k] != v]


def _amp_name(dtype: torch.dtype | None) -> str:
    return str(dtype).replace("torch.", "") if dtype else "off"


def _position_schedule(run: _Run, epochs_done: int) -> None:
    """Put a per-step schedule at this run's step count after ``epochs_done`` epochs, so that a
    change of steps per epoch (batch size, data, grad_accum) keeps the schedule's shape."""
    if not run.per_step:
        return
    updates = -(-run.n_steps // run.recipe.grad_accum)
    done = epochs_done * updates
    run.scheduler.last_epoch = done
    factor = lr_factor(run.recipe.schedule, done, run.recipe.epochs * updates, updates)
    for group, base in zip(run.optimizer.param_groups, run.scheduler.base_lrs, strict=True):
        group["lr"] = base * factor


def _resume_changes(run: _Run, ckpt: dict, path: Path, allow_changes: bool) -> list[str]:
    """The recipe and data changes this resume makes; a ``RunFolderError`` for any it cannot."""
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise RunFolderError(
            f"{path} is not a checkpoint this version of alexnet_lesson can resume (format "
            f"{ckpt.get('format')!r}); load_checkpoint still reads its weights. Start a new run."
        )
    model = [
        f"{k}: {ckpt.get(k)} → {v}" for k, v in _model_meta(run.model).items() if ckpt.get(k) != v
    ]
    cannot, may = recipe_changes(ckpt["recipe"], run.recipe.as_dict())
    keys = ("size", "mean", "std", "augment", "data")  # the data and its preprocessing, where known
    known = [k for k in keys if ckpt.get(k) is not None and run.describes[k] is not None]
    may += [f"{k}: {ckpt[k]} → {run.describes[k]}" for k in known if ckpt[k] != run.describes[k]]
    if model or cannot:
        raise RunFolderError(
            f"cannot resume {path} with another model, optimizer or schedule "
            f"({'; '.join(model + cannot)}); "
            "nothing was changed. Resume with the same ones, or start a new run in another folder."
        )
    if may and not allow_changes:
        raise RunFolderError(
            f"{path} was trained with another recipe or data ({'; '.join(may)}); nothing was "
            "changed. "
            "Resume with the saved recipe, or accept the changes with --change-recipe "
            '(resume="with-changes"), or start a new run in another folder.'
        )
    return may


def _load_optimizer(opt: torch.optim.Optimizer, state: dict) -> None:
    """Load the saved optimizer state, keeping this machine's fused/foreach choice and laying
    each state tensor out like its weight (a CPU run resumed on CUDA uses channels_last)."""
    fresh = [{k: g[k] for k in ("fused", "foreach") if k in g} for g in opt.param_groups]
    opt.load_state_dict(state)
    for group, here in zip(opt.param_groups, fresh, strict=True):
        group.update(here)
        for p in group["params"]:
            for key, value in opt.state.get(p, {}).items():
                if torch.is_tensor(value) and value.shape == p.shape:
                    opt.state[p][key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def _apply_hyperparameters(run: _Run, saved: Recipe) -> None:
    """The restored optimizer holds the saved lr, momentum and weight decay: use the recipe's."""
    scale = run.recipe.lr / saved.lr
    for group in run.optimizer.param_groups:
        group["lr"] *= scale
        group["initial_lr"] = run.recipe.lr
        group["weight_decay"] = run.recipe.weight_decay
        if "momentum" in group:
            group["momentum"] = run.recipe.momentum
    if hasattr(run.scheduler, "base_lrs"):
        run.scheduler.base_lrs = [run.recipe.lr for _ in run.scheduler.base_lrs]


def _epochs(
    run: _Run,
    train_loader: Iterable,
    val_loader: Iterable | None,
    out: Path | None,
    report: Report,
) -> pd.DataFrame:
    """The loop over epochs: one pass, validate, save, report; stops cleanly on NaN and Ctrl-C."""
    views = [_LivePlot()] if report.live_plot else []
    if report.tensorboard is not None:
        views.append(_TensorBoard(report.tensorboard))
    epoch = run.start_epoch
    try:
        for epoch in range(run.start_epoch, run.recipe.epochs + 1):
            row = _one_epoch(run, train_loader, epoch, report)
            _validate(run, val_loader, row)
            run.rows.append(row)
            _save(run, out, epoch)
            _report(report, row, run.history(), views)
    except NonFiniteLossError as exc:
        _stop_on_nan(run, out, exc.args[0], epoch, train_loader)
        return _stopped(run, "nan")
    except KeyboardInterrupt:
        saved = (
            f" {out / 'last.pt'} holds epoch {len(run.rows)}; "
            + (
                'resume="with-changes" (--resume --change-recipe)'
                if run.changes
                else "resume=True (--resume)"
            )
            + " continues."
            if out and run.rows
            else ""
        )
        _say(
            f"Interrupted in epoch {epoch}: returning the {len(run.rows)} finished epoch(s).{saved}"
        )
        return _stopped(run, "interrupted")
    finally:
        for view in views:
            view.close()
    return run.history()


def _stopped(run: _Run, why: str) -> pd.DataFrame:
    history = run.history()
    history.attrs["stopped"] = why
    return history


def _one_epoch(run: _Run, loader: Iterable, epoch: int, report: Report) -> dict:
    """One pass over the training data; the running sums stay on the device between updates."""
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(epoch - 1)
    run.model.train()
    run.optimizer.zero_grad(set_to_none=True)  # no gradients left over from before the epoch
    sums = _Sums(run.device)
    lr = run.optimizer.param_groups[0]["lr"]
    bar = tqdm(
        total=getattr(loader, "dataset_size", None) or len(getattr(loader, "dataset", [])) or None,
        desc=f"epoch {epoch}/{run.recipe.epochs}", unit="img", leave=False,
        **({} if report.progress else {"disable": True}),  # else $TQDM_DISABLE may decide
    )  # fmt: skip
    start = time.perf_counter()
    try:
        for step, (x, y) in enumerate(loader):
            if step >= run.n_steps:
                break
            lr = _train_step(run, step, *_to_device(x, y, run.device, run.channels_last), sums)
            bar.update(len(y))
            if (step + 1) % report.log_every == 0:
                _check_and_show(sums, bar, start, report.progress)
        if run.device.type == "cuda":
            torch.cuda.synchronize(run.device)
        seconds = time.perf_counter() - start
    finally:
        bar.close()
    loss, acc = sums.means()
    if not math.isfinite(loss):
        raise NonFiniteLossError(loss)
    nan = float("nan")
    return dict(epoch=epoch, train_loss=loss, train_acc=acc, val_loss=nan, val_acc=nan, lr=lr,
                seconds=seconds, images_per_s=sums.seen / seconds if seconds > 0 else nan)  # fmt: skip


def _train_step(run: _Run, step: int, x: torch.Tensor, y: torch.Tensor, sums: _Sums) -> float:
    """Forward and backward on one batch; every ``grad_accum`` batches, one optimizer step.
    Returns the learning rate the batch was trained with."""
    k = run.recipe.grad_accum
    group = min(k, run.n_steps - (step // k) * k)  # the last group of an epoch may be shorter
    with _autocast(run.device, run.dtype):
        out = run.forward(x)
        loss = run.criterion(out, y) / group
    run.scaler.scale(loss).backward()
    lr = run.optimizer.param_groups[0]["lr"]
    if (step + 1) % k == 0 or step + 1 == run.n_steps:
        run.scaler.step(run.optimizer)
        run.scaler.update()
        run.optimizer.zero_grad(set_to_none=True)
        if run.per_step:
            run.scheduler.step()
    sums.add(out.detach(), y)
    return lr


class _Sums:
    """Running loss and accuracy sums, kept on the device (no host sync per step)."""

    def __init__(self, device: torch.device) -> None:
        self.loss = torch.zeros((), device=device)
        self.correct = torch.zeros((), device=device, dtype=torch.long)
        self.n = self.seen = 0

    def add(self, out: torch.Tensor, y: torch.Tensor) -> None:
        with torch.no_grad():
            self.loss += F.cross_entropy(out.float(), y, reduction="sum")
            self.correct += (out.argmax(1) == y).sum()
        self.n += len(y)

    def means(self) -> tuple[float, float]:
        """Mean loss and accuracy so far over every process's images (``seen`` counts them)."""
        loss, right, self.seen = _added_up(self.loss, self.correct, self.n)
        n = max(self.seen, 1)
        return loss / n, right / n


def _check_and_show(sums: _Sums, bar: tqdm, start: float, progress: bool) -> None:
    """Every ``log_every`` steps: one host sync; stop at a NaN loss; update the bar."""
    loss, acc = sums.means()
    if not math.isfinite(loss):
        raise NonFiniteLossError(loss)
    if progress:
        rate = sums.seen / (time.perf_counter() - start)
        bar.set_postfix(loss=f"{loss:.3f}", acc=f"{acc:.3f}", img_s=f"{rate:.0f}")


def _validate(run: _Run, loader: Iterable | None, row: dict) -> None:
    """Validation loss and accuracy into ``row`` (its seconds include them); a plateau schedule steps."""
    if loader is not None:
        t0 = time.perf_counter()
        row["val_loss"], row["val_acc"] = loss_and_accuracy(
            run.evaluate, loader, run.recipe.amp, run.channels_last
        )
        row["seconds"] += time.perf_counter() - t0
    if not run.per_step:  # the paper's rule: ÷10 when the validation accuracy stops improving
        run.scheduler.step(row["val_acc"] if loader is not None else -row["train_loss"])


def _save(run: _Run, out: Path | None, epoch: int) -> None:
    """``last.pt`` every epoch, ``best.pt`` (weights only) at the best validation accuracy so far."""
    row = run.rows[-1]
    score = row["val_acc"] if not math.isnan(row["val_acc"]) else row["train_acc"]
    is_best = score > run.best
    run.best = max(run.best, score)
    if out is None:
        return
    ckpt = _checkpoint(run, epoch)  # every process: it gathers their random states
    if not distributed.is_main():
        return
    _atomic_save(ckpt, out / "last.pt")
    if is_best:  # the weights and what describes them; no optimizer state
        keep = ("optimizer", "scheduler", "scaler", "rng", "rng_by_rank")
        _atomic_save({k: v for k, v in ckpt.items() if k not in keep}, out / "best.pt")
    _write_history(run.history(), out)


def _checkpoint(run: _Run, epoch: int) -> dict:
    return {
        "format": CHECKPOINT_FORMAT,
        **run.describes,
        "epoch": epoch,
        "history": list(run.rows),
        "best": run.best,
        "recipe": run.recipe.as_dict(),
        "recipe_changes": run.changes,
        "runtime": {
            "device": str(run.device),
            "amp": _amp_name(run.dtype),
            "channels_last": run.channels_last,
            "processes": distributed.world_size(),
        },
        "model": _unwrap(run.model).state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "scaler": run.scaler.state_dict(),
        "rng": _rng_state(),
        "rng_by_rank": distributed.gather_objects(_rng_state())
        if distributed.world_size() > 1
        else None,
    }


def _stop_on_nan(run: _Run, out: Path | None, loss: float, epoch: int, loader: Iterable) -> None:
    """Say what happened, with advice that fits the cause; give back the last good weights."""
    good, lr = len(run.rows), run.recipe.lr
    where = f"{out / 'last.pt'} (after epoch {good})" if out and good else None
    if _inputs_finite(loader, epoch, run.n_steps):
        advice = (
            f"The learning rate {lr:g} is probably too high for this model and recipe: "
            f"try lr={lr / 10:g}."
        )
    else:
        advice = (
            "The training images themselves hold NaN or infinite values: check the data and "
            "its normalisation (a std of 0 divides by zero)."
        )
    _say(
        f"Stopped: the training loss became {loss} in epoch {epoch}. {advice}"
        + (f" The last good checkpoint is kept: {where}." if where else "")
    )
    if where:
        state = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
        _unwrap(run.model).load_state_dict(state["model"])


def _inputs_finite(loader: Iterable, epoch: int, n_steps: int) -> bool:
    """Whether this epoch's training batches are all finite (read again, once, after a stop)."""
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(epoch - 1)
    for step, (x, _) in enumerate(loader):
        if step >= n_steps:
            break
        if x.is_floating_point() and not torch.isfinite(x).all():
            return False
    return True


def _report(report: Report, row: dict, history: pd.DataFrame, views: list) -> None:
    if report.progress:
        print(
            f"epoch {row['epoch']}: train loss {row['train_loss']:.3f} acc {row['train_acc']:.3f}"
            f" | val loss {row['val_loss']:.3f} acc {row['val_acc']:.3f}"
            f" | lr {row['lr']:.3g} | {row['images_per_s']:.1f} img/s"
        )
    for view in views:
        view.update(history)
    if report.callback is not None:
        report.callback(dict(row))


class _LivePlot:
    """Curves redrawn in place in a notebook after every epoch (nothing outside IPython)."""

    def __init__(self) -> None:
        self.handle = None
        self.fig = None

    def update(self, history: pd.DataFrame) -> None:
        if get_ipython() is None:
            return
        if self.fig is not None:
            plt.close(self.fig)
        self.fig = plot_history(history)
        if self.handle is None:
            self.handle = display(self.fig, display_id=True)
        else:
            self.handle.update(self.fig)

    def close(self) -> None:
        if self.fig is not None:
            plt.close(self.fig)


def tensorboard_available() -> bool:
    """Whether the optional ``tensorboard`` package is installed (``Report(tensorboard=…)``).

    Example:
        >>> tensorboard_available() in (True, False)
        True
    """
    return importlib.util.find_spec("tensorboard") is not None


class _TensorBoard:
    """Each epoch's row as TensorBoard scalars, under the run's folder."""

    def __init__(self, folder: str | os.PathLike) -> None:
        from torch.utils.tensorboard import SummaryWriter  # optional: tensorboard is an extra

        self.writer = SummaryWriter(str(folder))

    def update(self, history: pd.DataFrame) -> None:
        row = history.iloc[-1]
        for column in COLUMNS[1:]:
            if math.isfinite(row[column]):
                self.writer.add_scalar(column, float(row[column]), int(row["epoch"]))
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
