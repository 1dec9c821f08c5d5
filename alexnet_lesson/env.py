"""Where a lesson runs: smoke or full mode, which device, which data.

Every notebook starts with :func:`setup`, which prints one short report so that
a reader of the stored outputs knows what produced them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

SMOKE_VAR = "ALEXNET_LESSON_SMOKE"


def is_smoke() -> bool:
    """True when ``ALEXNET_LESSON_SMOKE`` asks for small, fast runs.

    The test configuration (``conftest.py``) sets it for every nbval kernel.

    Example:
        >>> is_smoke() == (os.environ.get("ALEXNET_LESSON_SMOKE") == "1")
        True
    """
    return os.environ.get(SMOKE_VAR, "").strip().lower() in {"1", "true", "yes", "on"}


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


@dataclass(frozen=True)
class Setup:
    """What :func:`setup` found: the mode, the device and the data in use."""

    smoke: bool
    device: torch.device
    data: object  # an alexnet_lesson.data.FashionMNISTFiles, or None when not asked for

    @property
    def mode(self) -> str:
        return "smoke" if self.smoke else "full"


def setup(data: bool = True, device: str | None = None, quiet: bool = False) -> Setup:
    """Tell a notebook its mode, device and data, and print them.

    Args:
        data: also find Fashion-MNIST (download it, or fall back to the synthetic set offline).
        device: force a device instead of :func:`pick_device`'s choice.
        quiet: do not print.

    Example:
        >>> s = setup(data=False, device="cpu", quiet=True)
        >>> s.device.type
        'cpu'
    """
    from alexnet_lesson import data as data_module

    smoke = is_smoke()
    dev = pick_device(device)
    files = data_module.open_fashion_mnist(fallback="synthetic") if data else None
    result = Setup(smoke=smoke, device=dev, data=files)
    if not quiet:
        how = "smoke (small data, short runs)" if smoke else "full"
        print(
            f"mode:   {how}   [set {SMOKE_VAR}={0 if smoke else 1} for {'full' if smoke else 'smoke'} mode]"
        )
        print(f"device: {dev.type} - {device_name(dev)}")
        print(
            f"data:   {files.describe() if files is not None else 'none (this lesson uses no images)'}"
        )
    return result
