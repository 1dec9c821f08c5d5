"""The report at the top of every notebook: the mode, the device and the data a lesson runs on.

``al.setup()`` prints one short report so that a reader of the stored outputs knows what
produced them (the rules behind each line are in :mod:`alexnet_lesson.env`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from alexnet_lesson import data as data_module
from alexnet_lesson.env import SMOKE_VAR, device_name, is_smoke, pick_device

__all__ = [
    "Setup",
    "setup",
]


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
        device: force a device instead of :func:`alexnet_lesson.env.pick_device`'s choice.
        quiet: do not print.

    Example:
        >>> s = setup(data=False, device="cpu", quiet=True)
        >>> s.device.type
        'cpu'
    """
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
