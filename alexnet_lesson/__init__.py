"""Helpers for the AlexNet lessons: models, shapes, data, training, plots and widgets.

Each module mirrors a lesson; the notebooks import what they need, e.g.::

    from alexnet_lesson import setup, alexnet
"""

from alexnet_lesson.env import is_smoke, pick_device, setup
from alexnet_lesson.models import VARIANTS, InputSizeError, alexnet

__version__ = "0.1.0"
__all__ = [
    "VARIANTS",
    "InputSizeError",
    "alexnet",
    "is_smoke",
    "pick_device",
    "setup",
    "__version__",
]
