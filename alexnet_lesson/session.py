"""The report at the top of every notebook: the mode, the device and the data a lesson runs on.

``al.setup()`` prints one short report so that a reader of the stored outputs knows what
produced them (the rules behind each line are in :mod:`alexnet_lesson.env`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from alexnet_lesson import data as data_module
from alexnet_lesson.env import PLAN_NAMES, SMOKE_VAR, device_name, is_smoke, pick_device, plan_name

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

    def plan(self, plans: dict[str, dict], smoke: dict, quiet: bool = False) -> dict:
        """A lesson's budget for this device: ``plans["cuda"]`` on a CUDA GPU, else
        ``plans["cpu"]`` (:func:`~alexnet_lesson.env.plan_name`; ``ALEXNET_LESSON_PLAN`` picks
        one by name, among them any longer plans a lesson offers beside ``cpu`` and ``cuda``).
        The plan's name comes back as ``"name"``. In smoke mode the same plan, shrunk: ``smoke``'s values (image counts,
        epochs, seeds) replace the plan's, and everything else (model, input size, batch,
        optimiser) stays, so a smoke run executes the very cells the full plan does.

        Example:
            >>> s = Setup(smoke=True, device=torch.device("cpu"), data=None)
            >>> plans = {"cpu": dict(model="small", epochs=4), "cuda": dict(model="d2l", epochs=5)}
            >>> s.plan(plans, smoke=dict(epochs=1), quiet=True)["epochs"]
            1
        """
        if not set(PLAN_NAMES) <= set(plans):
            raise ValueError(
                f"a lesson's plans include {', '.join(PLAN_NAMES)}; got {', '.join(plans)}"
            )
        name = plan_name(self.device, tuple(plans))
        unknown = set(smoke) - set(plans[name])
        if unknown:
            raise ValueError(f"smoke mode can only shrink the plan's own settings, not {unknown}")
        chosen = {**plans[name], **smoke} if self.smoke else dict(plans[name])
        if not quiet:
            print(f"plan {name!r}{', shrunk for smoke mode' if self.smoke else ''}: {chosen}")
        return {**chosen, "name": name}


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
