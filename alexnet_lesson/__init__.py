"""Helpers for the AlexNet lessons: models, shapes, data, training, plots and widgets.

Each module mirrors a lesson; the notebooks import what they need, e.g.::

    import alexnet_lesson as al
    env = al.setup()            # mode, device and data, printed
    model = al.alexnet("d2l")   # a variant by name
"""

from alexnet_lesson import data, exercises, models, shapes, train
from alexnet_lesson.env import is_smoke, pick_device
from alexnet_lesson.evaluate import predict
from alexnet_lesson.models import VARIANTS, InputSizeError, alexnet
from alexnet_lesson.session import setup

__version__ = "0.1.0"
__all__ = [
    "data",
    "exercises",
    "models",
    "shapes",
    "train",
    "VARIANTS",
    "InputSizeError",
    "alexnet",
    "is_smoke",
    "pick_device",
    "predict",
    "setup",
    "__version__",
]
