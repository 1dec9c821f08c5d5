"""Training (lesson 07): :func:`fit` follows one :class:`~alexnet_lesson.config.RunConfig`.

``fit`` reads as the steps of a run: **prepare** (seed, precision, memory layout, optimizer,
schedule), **resume** from ``last.pt`` when asked, then every epoch **one pass** over the
training data, **validate**, **save** (:mod:`alexnet_lesson.checkpoint`) and **report**
(:mod:`alexnet_lesson.report`). The test set is not ``fit``'s business: it is read once, after
training (:func:`final_test`), so that nothing is chosen on it.

Speed: a fused optimizer step; running loss and accuracy stay on the device (no host sync per
step); on CUDA the channels-last layout and mixed precision (bf16 where the GPU has it, else fp16
with a gradient scaler); ``torch.compile`` when the recipe asks.

A NaN or infinite loss stops the run and gives back the weights of the last saved epoch (when
there is one); Ctrl-C (or interrupting the kernel) returns the history so far.

Under ``torchrun`` (lesson 09) the trainer touches :mod:`alexnet_lesson.distributed` at three
places: it wraps the model in DistributedDataParallel, adds up the running sums over the
processes, and lets rank 0 alone report. The loaders shard the batches; the checkpoint module
saves every process's random state and lets rank 0 write.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from alexnet_lesson import checkpoint, distributed
from alexnet_lesson.checkpoint import State
from alexnet_lesson.config import AMP_CHOICES, Recipe, RunConfig
from alexnet_lesson.env import eval_mode, model_device, shown_path
from alexnet_lesson.models import alexnet
from alexnet_lesson.report import Report, Reporter
from alexnet_lesson.schedule import make_optimizer, make_scheduler

__all__ = [
    "NATIVE_BF16_CAPABILITY",
    "NonFiniteLossError",
    "amp_dtype",
    "build_model",
    "final_test",
    "fit",
    "loss_and_accuracy",
]

NATIVE_BF16_CAPABILITY = (8, 0)
"""The first CUDA compute capability with bf16 tensor cores (Ampere). Older GPUs (T4 is 7.5,
V100 7.0) run bf16 only emulated, slower than fp32, although ``torch.cuda.is_bf16_supported()``
says yes there: ``amp="auto"`` picks fp16 with a gradient scaler on them."""


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite (the learning rate is usually too high)."""


def build_model(config: RunConfig) -> nn.Module:
    """The AlexNet variant ``config.model`` names, its initial weights drawn from ``config.seed``.

    Example:
        >>> a, b = build_model(RunConfig()), build_model(RunConfig.of(seed=1))
        >>> bool((a.conv1.weight == build_model(RunConfig()).conv1.weight).all())
        True
        >>> bool((a.conv1.weight == b.conv1.weight).all())
        False
    """
    m = config.model
    if m.variant is None:
        raise ValueError("config.model.variant is None: build your own model and pass it to fit")
    return alexnet(m.variant, m.num_classes, m.in_channels, init=m.init, seed=config.seed)


# --------------------------------------------------------------------------- precision, layout


def amp_dtype(device: str | torch.device, amp: bool | str | None = "auto") -> torch.dtype | None:
    """The autocast dtype that ``fit`` uses for ``amp`` on ``device`` (None: full fp32).

    fp16 needs a gradient scaler (``fit`` makes one); bf16 has fp32's range and needs none. On
    CUDA, ``"auto"`` picks bf16 only where the GPU has it natively (compute capability at least
    :data:`NATIVE_BF16_CAPABILITY`), else fp16. True means ``"auto"`` on CUDA, bf16 elsewhere.

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
        found = torch.cuda.get_device_capability(device) if torch.cuda.is_available() else (0, 0)
        return torch.bfloat16 if tuple(found) >= NATIVE_BF16_CAPABILITY else torch.float16
    return torch.bfloat16 if amp is True else None


def _channels_last(device: torch.device, asked: bool | None) -> bool:
    """channels_last by default on CUDA only: there it lets cuDNN use the tensor cores. On a
    2-core CPU, training the d2l model at 224 measured the same in both layouts (oneDNN's forward
    is faster in channels_last, its backward slower), so the CPU keeps the default layout."""
    return device.type == "cuda" if asked is None else bool(asked)


def _autocast(device: torch.device, dtype: torch.dtype | None) -> torch.autocast:
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def _to_device(
    x: torch.Tensor, y: torch.Tensor, device: torch.device, channels_last: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y


# --------------------------------------------------------------------------- measuring


def loss_and_accuracy(
    model: nn.Module,
    loader: Iterable,
    amp: bool | str | None = None,
    channels_last: bool | None = None,
) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy of ``model`` over ``loader``, on the model's device
    (eval mode for the call, no gradients). The sums stay on the device: one host sync per call.

    Example:
        >>> x = torch.zeros(6, 1, 4, 4); y = torch.tensor([0, 1, 0, 1, 0, 1])
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
        >>> loss, acc = loss_and_accuracy(net, [(x, y)]); acc
        0.5
    """
    device = model_device(model)
    dtype = amp_dtype(device, amp)
    cl = _channels_last(device, channels_last)
    sums = _Sums(device)
    with eval_mode(model), torch.inference_mode():
        for x, y in loader:
            x, y = _to_device(x, y, device, cl)
            with _autocast(device, dtype):
                out = model(x)
            sums.add(out, y)
    sharded = getattr(getattr(loader, "shard", None), "world_size", 1) > 1
    loss, acc = sums.means(across_processes=sharded)  # each process evaluated its block
    return (loss, acc) if sums.seen else (math.nan, math.nan)


def final_test(model: nn.Module, test_loader: Iterable, out_dir: str | os.PathLike) -> dict:
    """The test set, read once at the end: load ``out_dir/best.pt`` (the epoch chosen on the
    validation split) into ``model`` and measure it on ``test_loader``.

    Returns ``{"epoch", "val_acc", "test_loss", "test_acc"}``. Nothing is chosen on them.

    Example:
        >>> final_test(nn.Linear(2, 2), [], "/nonexistent")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        FileNotFoundError: no best.pt in /nonexistent: train first (fit with out_dir)
    """
    path = Path(out_dir) / "best.pt"
    if not path.is_file():
        raise FileNotFoundError(f"no best.pt in {out_dir}: train first (fit with out_dir)")
    ckpt = checkpoint.load_weights(model, path)
    rows = {row["epoch"]: row for row in ckpt.get("history", [])}
    loss, acc = loss_and_accuracy(model, test_loader)
    val_acc = rows.get(ckpt["epoch"], {}).get("val_acc", math.nan)
    return {"epoch": ckpt["epoch"], "val_acc": val_acc, "test_loss": loss, "test_acc": acc}


class _Sums:
    """Running loss and accuracy sums, kept on the device (no host sync per step)."""

    def __init__(self, device: torch.device) -> None:
        self.loss = torch.zeros((), device=device)
        self.correct = torch.zeros((), device=device)
        self.n = self.seen = 0

    def add(self, out: torch.Tensor, y: torch.Tensor) -> None:
        with torch.no_grad():
            self.loss += F.cross_entropy(out.float(), y, reduction="sum")
            self.correct += (out.argmax(1) == y).sum()
        self.n += len(y)

    def means(self, across_processes: bool = True) -> tuple[float, float]:
        """Mean loss and accuracy so far (over every process's images when training on
        several: one all-reduce); ``seen`` counts the images."""
        sums = torch.stack([self.loss, self.correct, self.loss.new_tensor(float(self.n))])
        if across_processes:
            sums = distributed.all_reduce_sum(sums)
        loss, right, n = sums.tolist()
        self.seen = int(n)
        return loss / max(n, 1), right / max(n, 1)


# --------------------------------------------------------------------------- fit


@dataclass
class _Run:
    """What one call of :func:`fit` holds between its steps: the saved ``state`` and the rest."""

    state: State
    forward: Callable  # for training: compiled and/or in DistributedDataParallel as asked
    evaluate: Callable  # for validation: the same without DistributedDataParallel
    device: torch.device
    dtype: torch.dtype | None
    channels_last: bool
    criterion: nn.Module
    n_steps: int
    reporter: Reporter

    @property
    def recipe(self) -> Recipe:
        return self.state.config.recipe

    @property
    def per_step(self) -> bool:
        return hasattr(self.state.scheduler, "base_lrs")  # not ReduceLROnPlateau


def fit(
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable | None = None,
    config: RunConfig | None = None,
    *,
    out_dir: str | os.PathLike | None = None,
    resume: bool | str = False,
    report: Report | None = None,
) -> pd.DataFrame:
    """Train ``model`` on its own device following ``config``; return the history, a row an epoch.

    Args:
        model: the model ``config.model`` describes (:func:`build_model`; with
            ``config.model.variant=None``, a model of your own).
        train_loader, val_loader: :class:`~alexnet_lesson.data.DeviceLoader` from
            :func:`~alexnet_lesson.data.splits` with ``config.data`` (moved to the model's device
            if elsewhere) or any iterable of ``(images, labels)`` batches. ``best.pt`` and the
            ``plateau`` schedule are chosen on ``val_loader``; it may be None. Never the test set.
        config: everything that decides the run (default ``RunConfig()``); its seed decides the batch order, the
            augmentation and the dropout masks (and, through :func:`build_model`, the weights).
        out_dir: the run folder for ``last.pt``, ``best.pt`` and ``history.csv`` (None: nothing
            is written). It belongs to this run (:mod:`alexnet_lesson.runs`).
        resume: continue from ``out_dir/last.pt`` when it exists. Its configuration must equal
            ``config``; ``resume="with-changes"`` accepts the changes a learner may mean (more
            epochs, another learning rate, …) and records them in the checkpoint.
        report: progress bar, live plot, TensorBoard, callback (:class:`~alexnet_lesson.report.Report`).

    Returns a DataFrame with the columns of :data:`~alexnet_lesson.checkpoint.COLUMNS`;
    ``attrs["stopped"]`` says why it ended early: ``"nan"`` or ``"interrupted"``. The model is
    left in the mode (train or eval) it was in when ``fit`` began.

    Example:
        >>> x = torch.randn(64, 1, 4, 4, generator=torch.Generator().manual_seed(0))
        >>> y = (x.mean((1, 2, 3)) > 0).long(); net = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
        >>> config = RunConfig.of(variant=None, epochs=20, lr=0.5, batch_size=64, schedule="constant")
        >>> h = fit(net, [(x, y)], [(x, y)], config, report=Report(progress=False))
        >>> list(h.columns)[:5], bool(h.val_acc.iloc[-1] > 0.9), net.training
        (['epoch', 'train_loss', 'train_acc', 'val_loss', 'val_acc'], True, True)
    """
    config = config or RunConfig()
    report = report or Report()
    out = Path(out_dir) if out_dir is not None else None
    if resume and out is None:
        raise ValueError("resume needs out_dir: the run folder to continue")
    was_training = model.training
    reporter = report.open(config.recipe.epochs, main=distributed.is_main())
    try:
        with checkpoint.run_folder(out, resume=bool(resume)):
            run = _prepare(model, train_loader, val_loader, config, reporter)
            if resume:
                updates = -(-run.n_steps // run.recipe.grad_accum)
                checkpoint.resume(run.state, out, resume == "with-changes", updates, reporter.say)
                reporter.replay(run.state.history(), run.state.epochs_done >= run.recipe.epochs)
            history = _epochs(run, train_loader, val_loader, out)
    finally:
        reporter.close()
        model.train(was_training)
    return history


def _check(model: nn.Module, loaders: list, config: RunConfig) -> None:
    """The config must describe the model and the training loader it is given."""
    size = getattr(loaders[0], "batch_size", None)
    if size is not None and size != config.recipe.batch_size:
        raise ValueError(
            f"the config says batch_size={config.recipe.batch_size} but the train loader's "
            f"batches hold {size}: build the loader with config.recipe.batch_size, or use "
            f"config.replace(batch_size={size})"
        )
    built = getattr(loaders[0], "config", None)
    if built is not None and built != config.data:
        raise ValueError(
            f"the train loader was built with {built} but the config says {config.data}: "
            "build it with alexnet_lesson.data.splits(files, config.data, …)"
        )
    if config.model.variant is None:
        return
    m = checkpoint.unwrap(model)
    linears = [x for x in m.modules() if isinstance(x, nn.Linear)]
    convs = [x for x in m.modules() if isinstance(x, nn.Conv2d)]
    found = {"variant": getattr(m, "variant", None),
             "num_classes": linears[-1].out_features if linears else None,
             "in_channels": convs[0].in_channels if convs else None}  # fmt: skip
    wrong = [f"{k}={v!r}" for k, v in found.items() if getattr(config.model, k) != v]
    if wrong:
        raise ValueError(
            f"the config's model is {config.model} but the model has {', '.join(wrong)}: "
            "build it with build_model(config), or describe it in config.model "
            "(variant=None for a model of your own)"
        )


def _prepare(
    model: nn.Module, train: Iterable, val: Iterable | None, config: RunConfig, reporter: Reporter
) -> _Run:
    """The device (the model's), seeds, precision, layout, optimizer and schedule of a run."""
    _check(model, [x for x in (train, val) if x is not None], config)
    recipe, device = config.recipe, model_device(model)
    for loader in (train, val):  # a DeviceLoader elsewhere moves to the model's device
        if loader is not None and getattr(loader, "device", device) != device:
            loader.to(device)
    channels_last = _channels_last(device, recipe.channels_last)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if channels_last:
        model.to(memory_format=torch.channels_last)
    n_steps = min(len(train), recipe.steps_per_epoch or len(train))  # type: ignore[arg-type]
    opt = make_optimizer(model, recipe.optimizer, recipe.lr, recipe.momentum, recipe.weight_decay)
    updates = -(-n_steps // recipe.grad_accum)  # optimizer steps per epoch
    dtype = amp_dtype(device, recipe.amp)
    checkpoint.seed_everything(config.seed)  # dropout masks (each process its own)
    wrapped = distributed.wrap(model)  # DistributedDataParallel with several processes
    forward = torch.compile(wrapped) if recipe.compile else wrapped
    state = State(
        config=config,
        model=model,
        optimizer=opt,
        scheduler=make_scheduler(opt, recipe.schedule, recipe.epochs, updates),
        scaler=torch.amp.GradScaler(device.type, enabled=dtype == torch.float16),
        facts={
            "mean": getattr(train, "mean", None),
            "std": getattr(train, "std", None),
            "data": getattr(train, "description", None),
        },  # fmt: skip
        runtime=checkpoint.runtime(device, dtype, channels_last),
    )
    return _Run(
        state=state,
        forward=forward,
        evaluate=forward if wrapped is model else model,
        device=device,
        dtype=dtype,
        channels_last=channels_last,
        criterion=nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing),
        n_steps=n_steps,
        reporter=reporter,
    )


def _epochs(run: _Run, train: Iterable, val: Iterable | None, out: Path | None) -> pd.DataFrame:
    """The loop over epochs: one pass, validate, save, report; stops cleanly on NaN and Ctrl-C."""
    state, epoch = run.state, run.state.epochs_done + 1
    try:
        for epoch in range(state.epochs_done + 1, run.recipe.epochs + 1):
            row = _one_epoch(run, train, epoch)
            _validate(run, val, row)
            score = row["val_acc"] if not math.isnan(row["val_acc"]) else row["train_acc"]
            is_best, state.best = score > state.best, max(state.best, score)
            state.rows.append(row)
            checkpoint.save(state, out, is_best)
            run.reporter.end_epoch(row, state.history())
    except NonFiniteLossError as exc:
        _stop_on_nan(run, out, exc.args[0], epoch, train)
        return _stopped(state, "nan")
    except KeyboardInterrupt:
        how = 'resume="with-changes" (--resume --change-recipe)' if state.changes else (
            "resume=True (--resume)")  # fmt: skip
        kept = f" {shown_path(out / 'last.pt')} holds epoch {state.epochs_done}; {how} continues."
        run.reporter.end_epoch()
        run.reporter.say(
            f"Interrupted in epoch {epoch}: returning the {state.epochs_done} finished epoch(s)."
            + (kept if out and state.rows else "")
        )
        return _stopped(state, "interrupted")
    return state.history()


def _stopped(state: State, why: str) -> pd.DataFrame:
    history = state.history()
    history.attrs["stopped"] = why
    return history


def _one_epoch(run: _Run, loader: Iterable, epoch: int) -> dict:
    """One pass over the training data; the running sums stay on the device between updates."""
    if hasattr(loader, "set_epoch"):  # the seed decides this epoch's batches and augmentation
        loader.set_epoch(epoch - 1, run.state.config.seed)
    run.state.model.train()
    run.state.optimizer.zero_grad(set_to_none=True)  # no gradients left over from before
    sums = _Sums(run.device)
    lr = run.state.optimizer.param_groups[0]["lr"]
    size = getattr(loader, "dataset_size", None) or len(getattr(loader, "dataset", [])) or None
    run.reporter.start_epoch(epoch, size)
    start = time.perf_counter()
    for step, (x, y) in enumerate(loader):
        if step >= run.n_steps:
            break
        lr = _train_step(run, step, *_to_device(x, y, run.device, run.channels_last), sums)
        run.reporter.step(len(y))
        if (step + 1) % run.reporter.log_every == 0:  # one host sync: the loss must be finite
            loss, acc = sums.means()
            if not math.isfinite(loss):
                raise NonFiniteLossError(loss)
            run.reporter.running(loss, acc, sums.seen)
    if run.device.type == "cuda":
        torch.cuda.synchronize(run.device)
    seconds = time.perf_counter() - start
    run.reporter.end_epoch()
    loss, acc = sums.means()
    if not math.isfinite(loss):
        raise NonFiniteLossError(loss)
    return dict(epoch=epoch, train_loss=loss, train_acc=acc, val_loss=math.nan, val_acc=math.nan,
                lr=lr, seconds=seconds, images_per_s=sums.seen / seconds if seconds else math.nan)  # fmt: skip


def _train_step(run: _Run, step: int, x: torch.Tensor, y: torch.Tensor, sums: _Sums) -> float:
    """Forward and backward on one batch; every ``grad_accum`` batches, one optimizer step.
    Returns the learning rate the batch was trained with."""
    k, state = run.recipe.grad_accum, run.state
    group = min(k, run.n_steps - (step // k) * k)  # the last group of an epoch may be shorter
    with _autocast(run.device, run.dtype):
        out = run.forward(x)
        loss = run.criterion(out, y) / group
    state.scaler.scale(loss).backward()
    lr = state.optimizer.param_groups[0]["lr"]
    if (step + 1) % k == 0 or step + 1 == run.n_steps:
        state.scaler.step(state.optimizer)
        state.scaler.update()
        state.optimizer.zero_grad(set_to_none=True)
        if run.per_step:
            state.scheduler.step()
    sums.add(out.detach(), y)
    return lr


def _validate(run: _Run, loader: Iterable | None, row: dict) -> None:
    """Validation loss and accuracy into ``row`` (its seconds include them); a plateau schedule
    steps on them (the paper's rule: ÷10 when the validation accuracy stops improving, §5)."""
    if loader is not None:
        t0 = time.perf_counter()
        row["val_loss"], row["val_acc"] = loss_and_accuracy(
            run.evaluate, loader, run.recipe.amp, run.channels_last
        )
        row["seconds"] += time.perf_counter() - t0
    if not run.per_step:
        run.state.scheduler.step(row["val_acc"] if loader is not None else -row["train_loss"])


def _stop_on_nan(run: _Run, out: Path | None, loss: float, epoch: int, loader: Iterable) -> None:
    """Say what happened, with advice that fits the cause; give back the last good weights."""
    good, lr = run.state.epochs_done, run.recipe.lr
    where = f"{shown_path(out / 'last.pt')} (after epoch {good})" if out and good else None
    if _inputs_finite(run, loader, epoch):
        advice = (f"The learning rate {lr:g} is probably too high for this model and recipe: "
                  f"try lr={lr / 10:g}.")  # fmt: skip
    else:
        advice = ("The training images themselves hold NaN or infinite values: check the data "
                  "and its normalisation (a std of 0 divides by zero).")  # fmt: skip
    run.reporter.end_epoch()
    run.reporter.say(
        f"Stopped: the training loss became {loss} in epoch {epoch}. {advice}"
        + (f" The last good checkpoint is kept: {where}." if where else "")
    )
    if where:
        checkpoint.load_weights(run.state.model, out / "last.pt")


def _inputs_finite(run: _Run, loader: Iterable, epoch: int) -> bool:
    """Whether this epoch's training batches are all finite (read again, once, after a stop)."""
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(epoch - 1, run.state.config.seed)
    for step, (x, _) in enumerate(loader):
        if step >= run.n_steps:
            break
        if x.is_floating_point() and not torch.isfinite(x).all():
            return False
    return True
