"""Helpers for the AlexNet lessons: models, shapes, data, training, plots and widgets.

Each module is named for the concept a lesson teaches; the notebooks import what they need, e.g.::

    import alexnet_lesson as al
    env = al.setup()            # mode, device and data, printed
    model = al.alexnet("d2l")   # a variant by name

The names below load their module on first use, so ``python -m alexnet_lesson`` and
``import alexnet_lesson.config`` read only what they need.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "analysis", "checkpoint", "communication", "config", "data", "data_parallel", "distributed",
    "dropout", "env", "exercises", "experiments", "export", "lenet", "lighting", "lrn", "models",
    "params", "plots", "prediction", "relu_pooling", "report", "runs", "schedule", "session",
    "shapes", "tables", "tower_split", "train", "widgets",
)  # every module but the command line's (cli, __main__)  # fmt: skip
_NAMES = {
    "VARIANTS": "models",
    "InputSizeError": "models",
    "alexnet": "models",
    "is_smoke": "env",
    "pick_device": "env",
    "predict": "prediction",
    "setup": "session",
}
__all__ = ["__version__", *_NAMES]


def __getattr__(name: str) -> object:
    """``al.data``, ``al.alexnet``, …: import the module (or the module that holds the name)."""
    if name in _SUBMODULES:
        return importlib.import_module(f"alexnet_lesson.{name}")
    if name in _NAMES:
        return getattr(importlib.import_module(f"alexnet_lesson.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'alexnet_lesson' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBMODULES, *_NAMES])
