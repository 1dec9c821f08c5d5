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


TINY_SIZE = 32  # a small "input size", so that the tiny model is fast


class Tiny(nn.Sequential):
    """A small CNN with the attributes that prediction and analysis read from an AlexNet
    (``input_size``, ``in_channels``, ``conv1``, ``fc7``, ``fc8``)."""

    def __init__(self, seed: int = 0):
        torch.manual_seed(seed)
        super().__init__()
        self.add_module("conv1", nn.Conv2d(1, 8, 5, stride=2))
        self.add_module("relu1", nn.ReLU())
        self.add_module("pool", nn.AdaptiveAvgPool2d(4))
        self.add_module("flatten", nn.Flatten())
        self.add_module("fc7", nn.Linear(128, 16))
        self.add_module("relu7", nn.ReLU())
        self.add_module("fc8", nn.Linear(16, 10))
        self.input_size, self.in_channels = TINY_SIZE, 1


def bordered_images(n: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random 28×28 uint8 images with a black border (like Fashion-MNIST's) and labels."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8)
    x[:, :3], x[:, -3:], x[:, :, :3], x[:, :, -3:] = 0, 0, 0, 0
    return x, torch.arange(n) % 10
