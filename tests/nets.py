"""Small networks the training tests share (importable from the test files: pytest puts this
folder on sys.path)."""

import torch
from torch import nn


def small_cnn(seed: int = 0) -> nn.Sequential:
    """A 28×28 → 10-class CNN small enough to train in seconds on a CPU, with dropout."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(8 * 14 * 14, 10),
    )  # fmt: skip
