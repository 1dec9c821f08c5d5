"""Local response normalisation, lesson 04: the paper's formula written out (§3.3), the common
mistake with PyTorch's ``alpha``, lateral inhibition on a toy vector, and the models of the
lesson's experiment (the d2l AlexNet and a small AlexNet at 28×28, with no norm, LRN or BatchNorm).

The paper: b = a / (k + α Σ a²)^β over n neighbouring channels, k = 2, n = 5, α = 1e-4, β = 0.75,
after ReLU in conv1 and conv2; it cut top-1/top-5 error by 1.4%/1.2% (§3.3).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import pandas as pd
import torch
from torch import nn

from alexnet_lesson.models import (
    LRN_ALPHA,
    LRN_BETA,
    LRN_K,
    LRN_N,
    AlexNet,
    alexnet,
    init_kaiming,
    paper_lrn,
)

__all__ = [
    "lrn_paper",
    "lrn_pitfall_table",
    "lateral_inhibition",
    "activation_scale",
    "NORMS",
    "d2l_with_norm",
    "mini_alexnet",
    "norm_builders",
]


def lrn_paper(
    a: torch.Tensor,
    n: int = LRN_N,
    alpha: float = LRN_ALPHA,
    beta: float = LRN_BETA,
    k: float = LRN_K,
) -> torch.Tensor:
    """Local response normalisation exactly as the paper writes it (§3.3), one channel at a time.

    b[i] = a[i] / (k + alpha · Σ_j a[j]²)^beta, with j running over the channels
    max(0, i − n/2) … min(N − 1, i + n/2) at the same position (n/2 rounded down).

    Args:
        a: activations with channels on axis 1 (N×C, N×C×L or N×C×H×W).

    Example:
        >>> a = torch.tensor([[0.0, 10.0, 0.0]])
        >>> lrn_paper(a, n=3, alpha=0.1, beta=1.0, k=1.0)
        tensor([[0.0000, 0.9091, 0.0000]])
    """
    channels = a.shape[1]
    b = torch.empty_like(a)
    for i in range(channels):
        lo, hi = max(0, i - n // 2), min(channels - 1, i + n // 2)
        squares = (a[:, lo : hi + 1] ** 2).sum(dim=1)
        b[:, i] = a[:, i] / (k + alpha * squares) ** beta
    return b


def lrn_pitfall_table(a: torch.Tensor) -> pd.DataFrame:
    """How far PyTorch's LRN is from the paper's formula with alpha passed right and wrong.

    Runs :func:`lrn_paper` (the reference) and ``nn.LocalResponseNorm`` with ``alpha = α·n`` and
    with the paper's α passed straight through, in float64.

    Example:
        >>> t = lrn_pitfall_table(torch.full((1, 8, 2, 2), 30.0))
        >>> bool(t["max abs difference"].iloc[0] < 1e-12), bool(t["max abs difference"].iloc[1] > 1e-3)
        (True, True)
    """
    a = a.double()
    ref = lrn_paper(a)
    rows = []
    for label, layer in [
        (f"nn.LocalResponseNorm(5, alpha={LRN_ALPHA * LRN_N:g}) (α·n)", paper_lrn()),
        (
            f"nn.LocalResponseNorm(5, alpha={LRN_ALPHA:g}) (α as printed)",
            nn.LocalResponseNorm(LRN_N, alpha=LRN_ALPHA, beta=LRN_BETA, k=LRN_K),
        ),
    ]:
        out = layer(a)
        diff = (out - ref).abs()
        rows.append(
            {
                "layer": label,
                "max abs difference": diff.max().item(),
                "max relative difference": (diff / ref.abs().clamp_min(1e-300)).max().item(),
            }
        )
    return pd.DataFrame(rows)


def lateral_inhibition(
    values: torch.Tensor | list[float],
    n: int = LRN_N,
    alpha: float = LRN_ALPHA,
    beta: float = LRN_BETA,
    k: float = LRN_K,
) -> pd.DataFrame:
    """LRN on one position's channel vector: the input, the output, and the divisor per channel.

    Example:
        >>> t = lateral_inhibition([1.0, 1.0, 100.0, 1.0, 1.0], n=3, alpha=1e-2, beta=0.75, k=2.0)
        >>> bool(t.loc[1, "output"] < t.loc[0, "output"])  # the strong channel damps its neighbour
        True
    """
    a = torch.as_tensor(values, dtype=torch.float64).reshape(1, -1)
    b = lrn_paper(a, n, alpha, beta, k)[0]
    return pd.DataFrame(
        {
            "channel": range(a.shape[1]),
            "input": a[0].numpy(),
            "output": b.numpy(),
            "divisor": (a[0] / b).where(a[0] != 0, torch.nan).numpy(),
        }
    )


def activation_scale(maps: dict[str, torch.Tensor]) -> pd.DataFrame:
    """The scale of ReLU outputs with and without the paper's LRN, one row per set of maps.

    For each C×H×W (or N×C×H×W) tensor of activations: the mean and maximum before and after
    :func:`lrn_paper` (paper constants), and the divisor (k + α Σ a²)^β over the positions
    where the activation is positive: its smallest, median and largest value. A divisor that
    is the same everywhere (k^β = 2^0.75 ≈ 1.68 when α Σ a² ≪ k) only rescales the maps; one
    that varies damps strong responses more than weak ones.

    Example:
        >>> t = activation_scale({"small": torch.full((8, 2, 2), 0.1), "large": torch.full((8, 2, 2), 100.0)})
        >>> t.round(3)[["divisor min", "divisor max"]].values.tolist()
        [[1.682, 1.682], [3.344, 4.304]]
    """
    rows = {}
    for label, a in maps.items():
        a = a.double()
        a4 = a if a.dim() == 4 else a.unsqueeze(0)
        b = lrn_paper(a4)
        positive = a4 > 0
        divisor = (a4[positive] / b[positive]) if positive.any() else torch.full((1,), torch.nan)
        rows[label] = {
            "mean before": a4.mean().item(),
            "mean after": b.mean().item(),
            "max before": a4.max().item(),
            "max after": b.max().item(),
            "divisor min": divisor.min().item(),
            "divisor median": divisor.median().item(),
            "divisor max": divisor.max().item(),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


NORMS = ("none", "lrn", "batchnorm")


def d2l_with_norm(norm: str = "lrn", seed: int | None = 0, init: str = "kaiming") -> AlexNet:
    """The d2l AlexNet with normalisation in the first two blocks, for a like-for-like comparison.

    * ``"none"``: the d2l variant as it is (conv → ReLU → pool);
    * ``"lrn"``: the paper's order conv → ReLU → LRN (paper constants) → pool in blocks 1 and 2 (§3.5);
    * ``"batchnorm"``: conv → BatchNorm → ReLU → pool in blocks 1 and 2 (Ioffe & Szegedy 2015
      put the normalisation before the nonlinearity).

    The same ``seed`` gives the same convolution and linear weights in all three.

    Example:
        >>> [name for name, _ in d2l_with_norm("lrn").named_children()][:5]
        ['conv1', 'relu1', 'lrn1', 'pool1', 'conv2']
    """
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")
    base = alexnet("d2l", init=init, seed=seed)
    layers = []
    for name, layer in base.named_children():
        if norm == "batchnorm" and name in ("relu1", "relu2"):
            conv = getattr(base, "conv" + name[-1])
            layers.append(("bn" + name[-1], nn.BatchNorm2d(conv.out_channels)))
        layers.append((name, layer))
        if norm == "lrn" and name in ("relu1", "relu2"):
            layers.append(("lrn" + name[-1], paper_lrn()))
    return AlexNet(OrderedDict(layers), f"d2l+{norm}", base.in_channels, base.input_size)


def mini_alexnet(
    norm: str = "none",
    seed: int | None = 0,
    widths: tuple[int, int, int, int, int] = (32, 64, 96, 96, 64),
    hidden: int = 256,
    dropout: float = 0.5,
    num_classes: int = 10,
) -> nn.Sequential:
    """AlexNet's layer pattern shrunk for 1×28×28 images, so that a CPU can train it in seconds.

    Five 3×3 convolutions (padding 1) with ReLU, max-pools 3/2 after conv1, conv2 and conv5,
    fc → fc → fc with dropout, and the same ``norm`` choices as :func:`d2l_with_norm` in blocks 1
    and 2 (LRN with the paper's constants, or BatchNorm before the ReLU). Sizes: 28 → 13 → 6 → 2.

    Example:
        >>> net = mini_alexnet("lrn")
        >>> net(torch.zeros(2, 1, 28, 28)).shape, [n for n, _ in net.named_children()][:4]
        (torch.Size([2, 10]), ['conv1', 'relu1', 'lrn1', 'pool1'])
    """
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")
    if seed is not None:
        torch.manual_seed(seed)
    c1, c2, c3, c4, c5 = widths
    layers: list[tuple[str, nn.Module]] = []
    for i, (cin, cout) in enumerate([(1, c1), (c1, c2), (c2, c3), (c3, c4), (c4, c5)], start=1):
        layers.append((f"conv{i}", nn.Conv2d(cin, cout, 3, padding=1)))
        if norm == "batchnorm" and i <= 2:
            layers.append((f"bn{i}", nn.BatchNorm2d(cout)))
        layers.append((f"relu{i}", nn.ReLU(inplace=True)))
        if norm == "lrn" and i <= 2:
            layers.append((f"lrn{i}", paper_lrn()))
        if i in (1, 2, 5):
            layers.append((f"pool{i}", nn.MaxPool2d(3, 2)))
    layers += [
        ("flatten", nn.Flatten()),
        ("fc6", nn.Linear(c5 * 2 * 2, hidden)), ("relu6", nn.ReLU(inplace=True)),
        ("drop6", nn.Dropout(dropout)),
        ("fc7", nn.Linear(hidden, hidden)), ("relu7", nn.ReLU(inplace=True)),
        ("drop7", nn.Dropout(dropout)),
        ("fc8", nn.Linear(hidden, num_classes)),
    ]  # fmt: skip
    return nn.Sequential(OrderedDict(layers))


def norm_builders(
    model: str = "mini_alexnet", norms: tuple[str, ...] = NORMS
) -> dict[str, Callable[[int], nn.Module]]:
    """Label → ``seed -> model`` for lesson 04's normalisation experiment (for :func:`compare`).

    ``"d2l"`` builds :func:`d2l_with_norm` (224×224 inputs); ``"mini_alexnet"`` builds
    :func:`mini_alexnet` (28×28) re-initialised with ``init_kaiming``. Within one seed, all
    norms start from the same convolution and linear weights.

    Example:
        >>> build = norm_builders("mini_alexnet")
        >>> list(build), [name for name, _ in build["lrn"](0).named_children()][:3]
        (['none', 'lrn', 'batchnorm'], ['conv1', 'relu1', 'lrn1'])
    """
    if model == "d2l":
        return {n: (lambda seed, n=n: d2l_with_norm(n, seed=seed)) for n in norms}
    if model == "mini_alexnet":
        return {n: (lambda seed, n=n: init_kaiming(mini_alexnet(n, seed=seed))) for n in norms}
    raise ValueError(f"unknown model {model!r}; choose 'd2l' or 'mini_alexnet'")
