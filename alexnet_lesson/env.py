"""Where a lesson runs (smoke or full mode, which device) and the package's one rule for each
cross-cutting thing. :func:`alexnet_lesson.session.setup` reports them at the top of every notebook.

The rules, each in one place: environment variables are read here only (:func:`is_smoke`,
:func:`plan_name`, :func:`cache_dir`); a model's device is the device of its parameters (:func:`model_device`);
code that needs a model in eval mode for a moment uses :func:`eval_mode`, which restores it.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

__all__ = [
    "CACHE_VARS",
    "DATA_VAR",
    "RUNS_VAR",
    "SMOKE_VAR",
    "cache_dir",
    "device_name",
    "DistributedEnv",
    "distributed_env",
    "eval_mode",
    "is_smoke",
    "model_device",
    "pick_device",
    "PLAN_NAMES",
    "PLAN_VAR",
    "plan_name",
    "shown_path",
    "versions_and_device",
]

SMOKE_VAR = "ALEXNET_LESSON_SMOKE"
PLAN_VAR = "ALEXNET_LESSON_PLAN"
PLAN_NAMES = ("cpu", "cuda")  # a lesson's budgets: one plan per kind of device
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


def plan_name(device: torch.device, named: tuple[str, ...] = PLAN_NAMES) -> str:
    """Which of a lesson's plans runs on ``device``: ``"cuda"`` on a CUDA GPU, ``"cpu"`` on
    anything else (Apple's MPS too). ``ALEXNET_LESSON_PLAN`` picks one of ``named`` (the
    lesson's plans: ``cpu``, ``cuda`` and any longer ones it offers) by name, so that a CPU can
    rehearse, shrunk in smoke mode, every cell a GPU would run (CI does), and a learner with
    time can choose a longer plan.

    Example:
        >>> plan_name(torch.device("cpu")) == (os.environ.get(PLAN_VAR) or "cpu")
        True
    """
    asked = os.environ.get(PLAN_VAR, "").strip().lower()
    if asked and asked not in named:
        raise ValueError(f"{PLAN_VAR}={asked!r}: use one of {', '.join(named)}, or unset it")
    return asked or ("cuda" if device.type == "cuda" else "cpu")


def shown_path(path: str | os.PathLike) -> str:
    """``path`` as a learner's output shows it: under the home folder as ``~/…``, under the
    temporary folder as ``<temporary folder>/…``, so that no stored output spells out the
    folders of the machine that ran it.

    Example:
        >>> shown_path(Path.home() / ".cache" / "runs")
        '~/.cache/runs'
        >>> shown_path(Path(tempfile.gettempdir()) / "x" / "last.pt")
        '<temporary folder>/x/last.pt'
    """
    path = Path(path).absolute()
    for root, name in ((Path(tempfile.gettempdir()), "<temporary folder>"), (Path.home(), "~")):
        try:
            return str(Path(name) / path.relative_to(root.absolute()))
        except ValueError:
            continue
    return str(path)


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
        prefer: a device to use instead (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``); a name
            torch does not know, or a device this machine lacks, raises ``ValueError`` saying so.

    Example:
        >>> pick_device("cpu")
        device(type='cpu')
    """
    if prefer:
        try:
            device = torch.device(prefer)
        except RuntimeError:
            raise ValueError(f"unknown device {prefer!r}: use cpu, cuda, cuda:N or mps") from None
        if not _available(device):
            raise ValueError(f"there is no {prefer} device here; use {pick_device().type}")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _available(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()
    if device.type == "mps":
        return _mps_available()
    return device.type == "cpu"


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


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


def versions_and_device(device: torch.device | str | None = None) -> dict:
    """What this machine runs the lessons with, as one dict: the facts that
    ``python -m alexnet_lesson info``, the GPU check and the throughput benchmark report.

    Keys: ``python``, ``executable``, ``platform``; ``versions`` (``torch``, ``torchvision``,
    ``d2l``; None where not installed); ``cuda`` and ``cudnn`` (what torch was built with, None
    without); ``cuda_available``; ``device`` (``device``, default :func:`pick_device`'s):
    ``type`` and ``name``, on CUDA also ``capability``, ``memory_gib``, ``memory_free_gib``,
    ``count`` and ``is_bf16_supported``.

    Example:
        >>> report = versions_and_device("cpu")
        >>> report["device"]["type"], report["versions"]["torch"] == torch.__version__
        ('cpu', True)
    """
    device = pick_device() if device is None else torch.device(device)

    def version(dist: str) -> str | None:
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            return None

    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    about = {"type": device.type, "name": device_name(device)}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        about |= {
            "capability": f"{props.major}.{props.minor}",
            "memory_gib": round(props.total_memory / 2**30, 1),
            "memory_free_gib": round(torch.cuda.mem_get_info(device)[0] / 2**30, 1),
            "count": torch.cuda.device_count(),
            "is_bf16_supported": torch.cuda.is_bf16_supported(),
        }
    return {
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "versions": {
            "torch": torch.__version__,
            "torchvision": version("torchvision"),
            "d2l": version("d2l"),
        },
        "cuda": torch.version.cuda,
        "cudnn": cudnn,
        "cuda_available": torch.cuda.is_available(),
        "device": about,
    }


@dataclass(frozen=True)
class DistributedEnv:
    """Where this process stands in a ``torchrun`` job (one process when not launched by it)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    master: str | None = None  # "host:port" of the rendezvous, as torchrun set it

    @property
    def launched(self) -> bool:
        """Whether ``torchrun`` (or another launcher setting ``WORLD_SIZE``) started this process."""
        return self.master is not None


def distributed_env() -> DistributedEnv:
    """``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and ``MASTER_ADDR:MASTER_PORT``, as ``torchrun``
    sets them for every process it starts (rank 0 of 1 without it).

    Example:
        >>> distributed_env().world_size == int(os.environ.get("WORLD_SIZE", 1))
        True
    """
    get = os.environ.get
    master = f"{get('MASTER_ADDR')}:{get('MASTER_PORT')}" if get("MASTER_ADDR") else None
    return DistributedEnv(
        rank=int(get("RANK", 0)),
        world_size=int(get("WORLD_SIZE", 1)),
        local_rank=int(get("LOCAL_RANK", 0)),
        master=master,
    )
