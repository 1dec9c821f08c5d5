"""LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998), the network AlexNet grew from, built from its
paper and counted layer by layer (lesson 01).

:func:`lenet5` builds LeNet-5 as the 1998 paper describes it (§II.B and Table I: C1, S2, C3 with
its partial connections, S4, C5, F6 and Euclidean RBF outputs); :func:`layer_counts` counts its
trainable parameters, its connections (as the paper counts them: §II.A gives 340,908
connections and 60,000 free parameters) and its multiply-accumulates per image, all from the
model's layers. Source: Proc. IEEE 86(11):2278-2324, https://doi.org/10.1109/5.726791.
"""

from __future__ import annotations

from collections import OrderedDict
from math import prod

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "C3_TABLE",
    "ScaledTanh",
    "Subsampling",
    "TableConv2d",
    "EuclideanRBF",
    "lenet5",
    "layer_counts",
]

# Table I of LeCun et al. 1998: the S2 maps each of C3's 16 maps reads. The first six read three
# neighbouring maps, the next six four neighbouring maps, the next three four maps that are not
# all neighbours, the last one all six (§II.B).
C3_TABLE: tuple[tuple[int, ...], ...] = (
    *(tuple((j + i) % 6 for i in range(3)) for j in range(6)),
    *(tuple((j + i) % 6 for i in range(4)) for j in range(6)),
    (0, 1, 3, 4),
    (1, 2, 4, 5),
    (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


class ScaledTanh(nn.Module):
    """LeNet-5's squashing function f(a) = A·tanh(S·a), A = 1.7159, S = 2/3 (1998, Appendix A).

    Example:
        >>> round(float(ScaledTanh()(torch.tensor(1.0))), 4)
        1.0
    """

    A, S = 1.7159, 2 / 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.A * torch.tanh(self.S * x)


class Subsampling(nn.Module):
    """S2 and S4 of LeNet-5 (§II.B): each unit adds a 2×2 block of one map, multiplies the sum by
    a trainable coefficient and adds a trainable bias (two parameters per map).

    Example:
        >>> s = Subsampling(6); s(torch.ones(1, 6, 28, 28)).shape, sum(p.numel() for p in s.parameters())
        (torch.Size([1, 6, 14, 14]), 12)
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sums = F.avg_pool2d(x, 2) * 4
        return sums * self.weight[:, None, None] + self.bias[:, None, None]

    def extra_repr(self) -> str:
        return f"{self.channels} maps, 2×2 sums"


class TableConv2d(nn.Module):
    """A convolution whose output map ``j`` reads only the input maps ``table[j]`` (LeNet-5's C3).

    Each output map has its own kernel over just the maps it reads, so the parameters PyTorch
    counts are exactly the connections the table allows.

    Example:
        >>> c3 = TableConv2d(C3_TABLE, 5); c3(torch.zeros(1, 6, 14, 14)).shape
        torch.Size([1, 16, 10, 10])
    """

    def __init__(self, table: tuple[tuple[int, ...], ...], kernel_size: int) -> None:
        super().__init__()
        self.table, self.kernel_size = table, kernel_size
        self.in_channels = max(max(t) for t in table) + 1
        self.out_channels = len(table)
        # one kernel slice per connected (output map, input map) pair, in table order
        pairs = sum(len(t) for t in table)
        self.weight = nn.Parameter(torch.randn(pairs, kernel_size, kernel_size) * 0.1)
        self.bias = nn.Parameter(torch.zeros(len(table)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps, start = [], 0
        for t in self.table:
            kernel = self.weight[start : start + len(t)].unsqueeze(0)
            maps.append(F.conv2d(x[:, list(t)], kernel))
            start += len(t)
        return torch.cat(maps, dim=1) + self.bias[:, None, None]

    def extra_repr(self) -> str:
        inputs = sum(len(t) for t in self.table)
        pairs = self.in_channels * self.out_channels
        k = self.kernel_size
        return f"{self.in_channels} → {self.out_channels} maps, {inputs} of {pairs} pairs, {k}×{k}"


class EuclideanRBF(nn.Module):
    """LeNet-5's output layer (§II.B): y_i = Σ_j (x_j − w_ij)², one unit per class.

    The paper chose the centres by hand (±1 bitmaps of 7×12 pixels) and kept them fixed, so they
    are a buffer here, not parameters; random ±1 values stand in for the bitmaps.

    Example:
        >>> rbf = EuclideanRBF(84, 10); rbf(torch.zeros(2, 84)).shape, len(list(rbf.parameters()))
        (torch.Size([2, 10]), 0)
    """

    def __init__(self, in_features: int, out_features: int, seed: int = 0) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        g = torch.Generator().manual_seed(seed)
        signs = torch.randint(0, 2, (out_features, in_features), generator=g) * 2 - 1
        self.register_buffer("centres", signs.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x[:, None, :] - self.centres) ** 2).sum(-1)

    def extra_repr(self) -> str:
        return f"{self.in_features} → {self.out_features}, centres fixed"


def lenet5(seed: int = 0) -> nn.Sequential:
    """LeNet-5 as LeCun et al. (1998, §II.B) describe it, for a 1×32×32 image and 10 digits.

    C1 (6 maps, 5×5) → S2 → C3 (16 maps, Table I) → S4 → C5 (120 maps, 5×5, i.e. 1×1 outputs)
    → F6 (84 units) → 10 Euclidean RBF units, with the scaled tanh after C1 to F6.

    Example:
        >>> lenet5()(torch.zeros(1, 1, 32, 32)).shape
        torch.Size([1, 10])
    """
    act = ScaledTanh
    with torch.random.fork_rng():  # seeded weights, the caller's random numbers left alone
        torch.manual_seed(seed)
        return nn.Sequential(
            OrderedDict(
                c1=nn.Conv2d(1, 6, 5),
                act1=act(),
                s2=Subsampling(6),
                act2=act(),
                c3=TableConv2d(C3_TABLE, 5),
                act3=act(),
                s4=Subsampling(16),
                act4=act(),
                c5=nn.Conv2d(16, 120, 5),
                act5=act(),
                flatten=nn.Flatten(),
                f6=nn.Linear(120, 84),
                act6=act(),
                output=EuclideanRBF(84, 10, seed),
            )  # fmt: skip
        )


def _count(layer: nn.Module, out: tuple[int, ...]) -> tuple[int, int]:
    """(connections, MACs) of one LeNet layer with output shape ``out``: a connection is an input
    or a bias feeding a unit (the paper's count); a MAC is one use of a weight on an input."""
    units = prod(out)
    if isinstance(layer, nn.Conv2d):
        per_unit = layer.kernel_size[0] * layer.kernel_size[1] * layer.in_channels // layer.groups
        return units * (per_unit + 1), units * per_unit
    if isinstance(layer, TableConv2d):
        area = prod(out[1:])
        per_map = [layer.kernel_size**2 * len(t) for t in layer.table]
        return sum(area * (k + 1) for k in per_map), sum(area * k for k in per_map)
    if isinstance(layer, Subsampling):  # 4 inputs and a bias per unit; adding is not a MAC
        return units * (4 + 1), 0
    if isinstance(layer, nn.Linear):
        return units * (layer.in_features + 1), units * layer.in_features
    if isinstance(layer, EuclideanRBF):  # a squared difference per input, no bias
        return units * layer.in_features, units * layer.in_features
    return 0, 0


def layer_counts(model: nn.Module | None = None) -> pd.DataFrame:
    """Per layer of LeNet-5: output shape, trainable parameters (PyTorch's count), connections
    (inputs and bias of every unit, as the paper counts them) and multiply-accumulates per image.

    MACs are counted as :mod:`alexnet_lesson.params` counts AlexNet's: one per weight use in the
    convolution and fully connected layers; the RBF's squared differences count too, the
    subsampling sums do not.

    Example:
        >>> t = layer_counts(); int(t.params.sum()), int(t.connections.sum())
        (60000, 340908)
    """
    model = lenet5() if model is None else model
    rows = []
    x = torch.zeros(1, 1, 32, 32)
    with torch.no_grad():
        for name, layer in model.named_children():
            x = layer(x)
            if isinstance(layer, ScaledTanh | nn.Flatten):
                continue
            out = tuple(x.shape[1:])
            connections, macs = _count(layer, out)
            rows.append(
                {
                    "layer": name,
                    "kind": type(layer).__name__,
                    "output": "×".join(map(str, out)),
                    "params": sum(p.numel() for p in layer.parameters()),
                    "connections": connections,
                    "MACs": macs,
                }
            )
    return pd.DataFrame(rows)
