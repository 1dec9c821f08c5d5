"""Checkpoints (lesson 07): what a run saves after every epoch, how it resumes, and the random
state that makes a resumed run equal to an uninterrupted one.

``last.pt`` holds everything a run needs to continue: the whole :class:`~alexnet_lesson.config.RunConfig`,
the weights, the optimizer, schedule and gradient-scaler state, the history, and every process's
random state. ``best.pt`` holds the weights of the epoch with the best validation accuracy and
what describes them (no optimizer state). Both are written atomically into a run folder that
belongs to one run (:mod:`alexnet_lesson.runs`). A resume compares the saved configuration with
the asked one (:func:`alexnet_lesson.config.differences`): another model, optimizer or schedule
is refused; other changes are made only when asked for, and recorded.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from alexnet_lesson import distributed
from alexnet_lesson.config import DataConfig, ModelConfig, Recipe, RunConfig, differences
from alexnet_lesson.env import model_device, shown_path
from alexnet_lesson.models import alexnet
from alexnet_lesson.runs import RunFolderError, claim, existing_run, write_atomic
from alexnet_lesson.schedule import lr_factor

__all__ = [
    "COLUMNS",
    "FORMAT",
    "State",
    "load_checkpoint",
    "load_weights",
    "resume",
    "run_folder",
    "save",
    "seed_everything",
]

FORMAT = "alexnet-lesson-checkpoint/3"
"""Version 3 stores the whole run configuration; versions 1 and 2 (a recipe and the model's
name) still load, but a run saved by them cannot be resumed."""
_READABLE = (FORMAT, "alexnet-lesson-checkpoint/2", "alexnet-lesson-checkpoint/1")
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
"""The history's columns, one row an epoch (``seconds`` includes validation)."""


@dataclass
class State:
    """What a checkpoint saves and a resume restores. ``facts``: what was measured about the
    data (``mean``, ``std`` and a ``data`` description); ``runtime``: device, precision, layout
    and processes, which may change between sessions."""

    config: RunConfig
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object
    scaler: torch.amp.GradScaler
    facts: dict
    runtime: dict
    rows: list = field(default_factory=list)
    best: float = -math.inf
    changes: list = field(default_factory=list)

    @property
    def epochs_done(self) -> int:
        return len(self.rows)

    def history(self) -> pd.DataFrame:
        """The rows so far as a DataFrame (``attrs["config_changes"]``: what resumes changed)."""
        frame = pd.DataFrame(self.rows, columns=list(COLUMNS))
        frame = frame.astype({"epoch": "int64"}) if len(frame) else frame
        if self.changes:
            frame.attrs["config_changes"] = self.changes
        return frame


# --------------------------------------------------------------------------- random state


def seed_everything(seed: int) -> None:
    """Seed PyTorch's, Python's and NumPy's global generators (dropout masks and anything else
    that draws from them); each process of a distributed run adds its rank, for its own masks.

    Example:
        >>> seed_everything(3); a = torch.rand(1); seed_everything(3); bool(torch.rand(1) == a)
        True
    """
    seed = seed + distributed.rank()
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (seeds code that uses the global state)


def _rng_state() -> dict:
    name, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 (global state)
    state = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
    }  # fmt: skip
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


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


# --------------------------------------------------------------------------- saving


@contextmanager
def run_folder(out: Path | None, resume: bool) -> Iterator[None]:
    """Hold the run folder ``out`` for this run (rank 0 takes its lock; see
    :func:`alexnet_lesson.runs.claim`); nothing when ``out`` is None.

    Example:
        >>> with run_folder(None, resume=False):
        ...     print("no folder, no lock")
        no folder, no lock
    """
    with distributed.main_holds(claim(out, resume=resume) if out else nullcontext()):
        yield


def runtime(device: torch.device, dtype: torch.dtype | None, channels_last: bool) -> dict:
    """Where and how a run trains: may change between sessions (a resume says what changed).

    Example:
        >>> runtime(torch.device("cpu"), None, False)["amp"]
        'off'
    """
    return {
        "device": str(device),
        "amp": str(dtype).replace("torch.", "") if dtype else "off",
        "channels_last": channels_last,
        "processes": distributed.world_size(),
    }


def unwrap(model: nn.Module) -> nn.Module:
    """The model itself, without ``torch.compile``'s wrapper.

    Example:
        >>> net = nn.Linear(2, 2); unwrap(net) is net
        True
    """
    return getattr(model, "_orig_mod", model)


def _contents(state: State, epoch: int) -> dict:
    return {
        "format": FORMAT,
        "config": state.config.as_dict(),
        **state.facts,
        "epoch": epoch,
        "history": list(state.rows),
        "best": state.best,
        "config_changes": state.changes,
        "runtime": state.runtime,
        "model": unwrap(state.model).state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict(),
        "scaler": state.scaler.state_dict(),
        "rng": _rng_state(),
        "rng_by_rank": distributed.gather_objects(_rng_state())
        if distributed.world_size() > 1
        else None,
    }


def save(state: State, out: Path | None, is_best: bool) -> None:
    """After an epoch: ``last.pt``, ``best.pt`` (weights only) when ``is_best``, and
    ``history.csv``, each atomically, by rank 0 (every process hands over its random state).

    Example:
        >>> save(None, None, is_best=True) is None  # no run folder: nothing is written
        True
    """
    if out is None:
        return
    ckpt = _contents(state, state.epochs_done)
    if not distributed.is_main():
        return
    _atomic_save(ckpt, out / "last.pt")
    if is_best:
        keep = ("optimizer", "scheduler", "scaler", "rng", "rng_by_rank")
        _atomic_save({k: v for k, v in ckpt.items() if k not in keep}, out / "best.pt")
    write_history(state.history(), out)


def write_history(history: pd.DataFrame, out: Path) -> None:
    """``history.csv`` in the run folder, atomically.

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp()); write_history(pd.DataFrame({"epoch": [1]}), out)
        >>> (out / "history.csv").read_text().split()
        ['epoch', '1']
    """
    write_atomic(out / "history.csv", lambda tmp: history.to_csv(tmp, index=False))


def _atomic_save(obj: dict, path: Path) -> None:
    write_atomic(path, lambda tmp: torch.save(obj, tmp))


# --------------------------------------------------------------------------- resuming


def resume(
    state: State, out: Path, allow_changes: bool, updates_per_epoch: int, say: Callable[[str], None]
) -> None:
    """Restore ``state`` from ``out/last.pt`` after checking that it is a run of this
    configuration (or of changes allowed); put a per-step schedule at its step.

    Example:
        >>> import tempfile
        >>> resume(None, Path(tempfile.mkdtemp()), False, 1, print)  # doctest: +ELLIPSIS
        nothing to resume in ...: starting from epoch 1
    """
    if not (out / "last.pt").is_file():
        if existing_run(out):
            raise RunFolderError(
                f"{out} holds a run ({', '.join(existing_run(out))}) but no last.pt to resume "
                "from; nothing was changed. Choose another folder, or --replace it."
            )
        say(f"nothing to resume in {shown_path(out)}: starting from epoch 1")
        return
    ckpt = _read(out / "last.pt")
    changes = _allowed_changes(state, ckpt, out / "last.pt", allow_changes)
    unwrap(state.model).load_state_dict(ckpt["model"])
    _load_optimizer(state.optimizer, ckpt["optimizer"])
    state.scheduler.load_state_dict(ckpt["scheduler"])
    if ckpt["scaler"]:  # empty when saved without fp16 (a CPU run, bf16): a fresh scaler
        state.scaler.load_state_dict(ckpt["scaler"])
    _apply_recipe(state, Recipe.from_dict(ckpt["config"]["recipe"]))
    _position_schedule(state, ckpt["epoch"], updates_per_epoch)
    by_rank = ckpt.get("rng_by_rank")
    same = by_rank and len(by_rank) == distributed.world_size()
    _set_rng_state(by_rank[distributed.rank()] if same else ckpt["rng"])
    state.rows = [dict(row) for row in ckpt["history"]]
    state.best = ckpt.get("best", -math.inf)
    state.changes = list(ckpt.get("config_changes", []))
    if changes:
        state.changes.append({"after_epoch": ckpt["epoch"], "changes": changes})
    say(f"resuming from {shown_path(out / 'last.pt')} after epoch {ckpt['epoch']}")
    for line in changes:
        say(f"  changed: {line}")
    saved = ckpt.get("runtime", {})
    for key, value in state.runtime.items():
        if key in saved and saved[key] != value:
            say(f"  runtime: {key}: {saved[key]} → {value}")


def _read(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, not a torch file, or foreign pickled objects
        raise RunFolderError(
            f"{path} cannot be read as a checkpoint ({type(exc).__name__}); nothing was changed. "
            "Start a new run in another folder, or --replace this one."
        ) from None


def _allowed_changes(state: State, ckpt: dict, path: Path, allow_changes: bool) -> list[str]:
    """The configuration and data changes this resume makes; a ``RunFolderError`` for any it cannot."""
    if ckpt.get("format") != FORMAT:
        raise RunFolderError(
            f"{path} is not a checkpoint this version of alexnet_lesson can resume (format "
            f"{ckpt.get('format')!r}); load_checkpoint still reads its weights. Start a new run."
        )
    cannot, may = differences(ckpt["config"], state.config)
    for fact in ("data", "mean", "std"):  # other images with the same counts differ here
        if ckpt.get(fact) != state.facts.get(fact):
            may.append(f"{fact}: {ckpt.get(fact)} → {state.facts.get(fact)}")
    if cannot:
        raise RunFolderError(
            f"cannot resume {path} with another model, optimizer or schedule "
            f"({'; '.join(cannot)}); nothing was changed. "
            "Resume with the same ones, or start a new run in another folder."
        )
    if may and not allow_changes:
        raise RunFolderError(
            f"{path} was trained with another configuration or data ({'; '.join(may)}); "
            "nothing was changed. Resume with the saved configuration, or accept the changes "
            'with --change-recipe (resume="with-changes"), or start a new run in another folder.'
        )
    return may


def _load_optimizer(opt: torch.optim.Optimizer, saved: dict) -> None:
    """Load the saved optimizer state, keeping this machine's fused/foreach choice and laying
    each state tensor out like its weight (a CPU run resumed on CUDA uses channels_last)."""
    fresh = [{k: g[k] for k in ("fused", "foreach") if k in g} for g in opt.param_groups]
    opt.load_state_dict(saved)
    for group, here in zip(opt.param_groups, fresh, strict=True):
        group.update(here)
        for p in group["params"]:
            for key, value in opt.state.get(p, {}).items():
                if torch.is_tensor(value) and value.shape == p.shape:
                    opt.state[p][key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def _apply_recipe(state: State, saved: Recipe) -> None:
    """The restored optimizer holds the saved lr, momentum and weight decay: use the recipe's."""
    recipe = state.config.recipe
    scale = recipe.lr / saved.lr
    for group in state.optimizer.param_groups:
        group["lr"] *= scale
        group["initial_lr"] = recipe.lr
        group["weight_decay"] = recipe.weight_decay
        if "momentum" in group:
            group["momentum"] = recipe.momentum
    if hasattr(state.scheduler, "base_lrs"):
        state.scheduler.base_lrs = [recipe.lr for _ in state.scheduler.base_lrs]


def _position_schedule(state: State, epochs_done: int, updates: int) -> None:
    """Put a per-step schedule at this run's step after ``epochs_done`` epochs, so that a change
    of steps per epoch (batch size, data, grad_accum) keeps the schedule's shape."""
    if not hasattr(state.scheduler, "base_lrs"):  # ReduceLROnPlateau: no steps to place
        return
    recipe = state.config.recipe
    done = epochs_done * updates
    state.scheduler.last_epoch = done
    factor = lr_factor(recipe.schedule, done, recipe.epochs * updates, updates)
    for group, base in zip(state.optimizer.param_groups, state.scheduler.base_lrs, strict=True):
        group["lr"] = base * factor


# --------------------------------------------------------------------------- loading


def load_weights(model: nn.Module, path: Path) -> dict:
    """Load the weights of the checkpoint at ``path`` into ``model`` (on its device); return the
    checkpoint.

    Example:
        >>> load_weights(nn.Linear(2, 2), Path("/nonexistent.pt"))  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        FileNotFoundError: ...
    """
    ckpt = torch.load(path, map_location=model_device(model), weights_only=True)
    unwrap(model).load_state_dict(ckpt["model"])
    return ckpt


def load_checkpoint(
    path: str | os.PathLike, device: str | torch.device = "cpu", model: nn.Module | None = None
) -> tuple[nn.Module, dict]:
    """Rebuild a trained model from ``best.pt`` or ``last.pt`` (or a run folder: its ``best.pt``).

    The model is rebuilt from the saved configuration with :func:`alexnet_lesson.models.alexnet`;
    pass ``model=`` to load the weights into a model of your own instead. Returns the model in
    eval mode and an info dict: config (a :class:`~alexnet_lesson.config.RunConfig`, None where an
    old checkpoint cannot say), recipe, variant, num_classes, in_channels, size, mean, std, data,
    epoch, history (a DataFrame), runtime and path.

    Example:
        >>> load_checkpoint("/nonexistent/best.pt")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        FileNotFoundError: no checkpoint at /nonexistent/best.pt
    """
    path = Path(path)
    if path.is_dir():
        path = path / "best.pt"
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {path}: pass a run folder (the --out of a training run) or its "
            "best.pt or last.pt"
        )
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # not a torch file, truncated, or foreign pickled objects
        raise ValueError(
            f"{path} is not a checkpoint ({type(exc).__name__} on reading it): pass the best.pt "
            "or last.pt that a training run wrote"
        ) from None
    found = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
    if found not in _READABLE:
        raise ValueError(
            f"{path} is not an alexnet_lesson checkpoint this version reads (format {found!r}; "
            f"it reads {', '.join(_READABLE)}): pass a checkpoint of this package's training runs"
        )
    info = _describe(ckpt)
    if model is None:
        if not info["variant"]:
            raise ValueError(
                f"{path} holds a model that is not a named AlexNet variant; "
                "pass model= to load its weights into a model you build yourself"
            )
        model = alexnet(info["variant"], info["num_classes"], info["in_channels"], init="pytorch")
    model.load_state_dict(ckpt["model"])
    model.to(device).eval()
    info["path"] = path
    return model, info


def _describe(ckpt: dict) -> dict:
    """What a checkpoint of any readable format says about its run."""
    config = RunConfig.from_dict(ckpt["config"]) if "config" in ckpt else _old_config(ckpt)
    old_names = {"test_loss": "val_loss", "test_acc": "val_acc"}  # before the validation split
    rows = [{old_names.get(k, k): v for k, v in row.items()} for row in ckpt.get("history", [])]
    model = config.model if config else None
    return {
        "config": config,
        "recipe": config.recipe if config else None,
        "variant": model.variant if model else ckpt.get("variant"),
        "num_classes": model.num_classes if model else ckpt.get("num_classes"),
        "in_channels": model.in_channels if model else ckpt.get("in_channels"),
        "size": config.data.size if config else ckpt.get("size"),
        **{k: ckpt.get(k) for k in ("mean", "std", "data", "epoch")},
        "history": pd.DataFrame(rows, columns=list(COLUMNS)),
        "runtime": ckpt.get("runtime") or {},
    }


def _old_config(ckpt: dict) -> RunConfig | None:
    """The configuration a version-2 checkpoint implies (its recipe held the seed); None for
    version 1, or where its values fit no configuration of today."""
    if "recipe" not in ckpt:
        return None
    try:
        channels = ckpt.get("in_channels") or 1
        return RunConfig(
            model=ModelConfig(variant=ckpt.get("variant"), num_classes=ckpt.get("num_classes") or 10,
                              in_channels=channels),
            data=DataConfig(size=ckpt.get("size") or 224, channels=channels,
                            augment=bool(ckpt.get("augment"))),
            recipe=Recipe.from_dict(ckpt["recipe"]),
            seed=int(ckpt["recipe"].get("seed", 0)),
        )  # fmt: skip
    except (ValueError, TypeError):
        return None
