"""Where a lesson runs (smoke or full mode, which device) and the package's one rule for each
cross-cutting thing. :func:`alexnet_lesson.session.setup` reports them at the top of every notebook.

The rules, each in one place: environment variables are read here only (:func:`is_smoke`,
:func:`cache_dir`); a model's device is the device of its parameters (:func:`model_device`);
code that needs a model in eval mode for a moment uses :func:`eval_mode`, which restores it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

SMOKE_VAR = "ALEXNET_LESSON_SMOKE"
DATA_VAR = "ALEXNET_LESSON_DATA"
RUNS_VAR = "ALEXNET_LESSON_RUNS"
CACHE_VARS = {"data": DATA_VAR, "runs": RUNS_VAR}


def is_smoke() -> bool:
    """True when ``ALEXNET_LESSON_SMOKE`` asks for small, fast runs.

    The test configuration (``conftest.py``) sets it for every nbval kernel.

    Example:
        >>> is_smoke() == (os.environ.get("ALEXNET_LESSON_SMOKE") == "1")
        True
    """
    return os.environ.get(SMOKE_VAR, "").strip().lower() in {"1", "true", "yes", "on"}


def cache_dir(kind: str) -> Path:
    """The folder for ``kind`` (``"data"`` or ``"runs"``): ``$ALEXNET_LESSON_DATA`` /
    ``$ALEXNET_LESSON_RUNS`` when set, else ``$XDG_CACHE_HOME/alexnet-lesson/<kind>`` (by default
    ``~/.cache/alexnet-lesson/<kind>``).

    Example:
        >>> cache_dir("runs").name in {"runs", Path(os.environ.get(RUNS_VAR, "runs")).name}
        True
    """
    if kind not in CACHE_VARS:
        raise ValueError(f"unknown cache {kind!r}; choose one of {', '.join(CACHE_VARS)}")
    if os.environ.get(CACHE_VARS[kind]):
        return Path(os.environ[CACHE_VARS[kind]]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "alexnet-lesson" / kind


def model_device(model: nn.Module) -> torch.device:
    """The device of a model's parameters (the CPU for a model without any).

    Example:
        >>> model_device(nn.Linear(2, 2))
        device(type='cpu')
    """
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


@contextmanager
def eval_mode(model: nn.Module, training: bool = False) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode (dropout off; train mode with ``training=True``) for a ``with``
    block, and give it back in the mode it had, also when the block raises.

    Example:
        >>> net = nn.Dropout(0.5)
        >>> with eval_mode(net):
        ...     net.training
        False
        >>> net.training
        True
    """
    was_training = model.training
    model.train(training)
    try:
        yield model
    finally:
        model.train(was_training)


def pick_device(prefer: str | None = None) -> torch.device:
    """The best device here: CUDA, then Apple's MPS, then the CPU.

    Args:
        prefer: a device name to use instead (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``).

    Example:
        >>> pick_device("cpu")
        device(type='cpu')
    """
    if prefer:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def device_name(device: torch.device) -> str:
    """A human name for ``device``, e.g. ``"NVIDIA H100 80GB HBM3"`` or ``"CPU (2 threads)"``.

    Example:
        >>> device_name(torch.device("cpu")).startswith("CPU")
        True
    """
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({torch.get_num_threads()} threads)"
