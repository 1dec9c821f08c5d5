"""Lesson 01: why AlexNet mattered, as data with a source on every row and as models to count.

Published numbers and statements are kept with the place they come from, so that a notebook can
show them without typing them in. "Paper" is Krizhevsky, Sutskever & Hinton, "ImageNet
Classification with Deep Convolutional Neural Networks", NeurIPS 2012. Rows whose source is not the
paper say so in their ``source`` column.

What can be computed is computed: :func:`lenet5` builds LeNet-5 as LeCun et al. (1998, §II.B and
Table I) describe it, so that :func:`lenet5_table` counts its parameters, connections and
multiply-accumulates from the layers, and :func:`lenet_vs_alexnet` sets them next to the paper's
AlexNet (counted by :mod:`alexnet_lesson.params`). :func:`plot_two_towers` draws the paper's two-GPU
layout (§3.2, Figure 2) from the layers of a model: their ``groups`` say which layers read only
their own GPU's half and which read both.
"""

from __future__ import annotations

from collections import OrderedDict
from math import prod

import matplotlib.pyplot as plt
import pandas as pd
import torch
import torch.nn.functional as F
from matplotlib.patches import FancyArrowPatch, Patch, Rectangle
from torch import nn

from alexnet_lesson.models import AlexNet
from alexnet_lesson.params import skeleton, totals
from alexnet_lesson.shapes import trace
from alexnet_lesson.tower_split import exchange_points

__all__ = [
    "ilsvrc2010",
    "ilsvrc2012",
    "winners",
    "ingredients",
    "myths",
    "plot_top5_bars",
    "plot_winners",
    "plot_pipelines",
    "C3_TABLE",
    "ScaledTanh",
    "Subsampling",
    "TableConv2d",
    "EuclideanRBF",
    "lenet5",
    "lenet5_table",
    "lenet_vs_alexnet",
    "NOT_GIVEN",
    "tower_table",
    "plot_two_towers",
]

_RUSSAKOVSKY = (
    "Russakovsky et al. 2015, 'ImageNet Large Scale Visual Recognition Challenge', "
    "IJCV 115(3):211-252, classification results of the winning entries"
)
_SZEGEDY = "Szegedy et al. 2015, 'Going Deeper with Convolutions', CVPR 2015 (GoogLeNet)"
_HE = "He et al. 2016, 'Deep Residual Learning for Image Recognition', CVPR 2016, Table 5"
_ILSVRC = "image-net.org/challenges/LSVRC/{year}/results (the ILSVRC{year} results page)"
_SANCHEZ = (
    "Sánchez & Perronnin 2011, 'High-dimensional signature compression for large-scale image "
    "classification', CVPR 2011"
)
_HU = "Hu et al. 2018, 'Squeeze-and-Excitation Networks', CVPR 2018, abstract"
_LECUN = (
    "LeCun, Bottou, Bengio & Haffner 1998, 'Gradient-based learning applied to document "
    "recognition', Proc. IEEE 86(11):2278-2324"
)

_NaN = float("nan")

#: What :func:`lenet_vs_alexnet` shows for a LeNet-5 figure that no one has checked against
#: LeCun et al. (1998): the lesson states no number it has not computed or checked at its source.
NOT_GIVEN = "not given here"
_UNCHECKED = "none checked against LeCun et al. 1998"


def ilsvrc2010() -> pd.DataFrame:
    """The paper's Table 1: top-1 and top-5 error (%) on the ILSVRC-2010 test set.

    Example:
        >>> ilsvrc2010().set_index("model").loc["CNN (AlexNet)", "top5_test"]
        np.float64(17.0)
    """
    rows = [
        ("Sparse coding", 2010, 47.1, 28.2, "paper Table 1 (ILSVRC-2010 winner, paper ref. [2])"),
        ("SIFT + FVs", 2011, 45.7, 25.7, "paper Table 1 (best published since, ref. [24])"),
        ("CNN (AlexNet)", 2012, 37.5, 17.0, "paper Table 1 and abstract"),
    ]
    return pd.DataFrame(rows, columns=["model", "year", "top1_test", "top5_test", "source"])


def ilsvrc2012() -> pd.DataFrame:
    """The paper's Table 2: ILSVRC-2012 error (%); NaN where the paper reports none.

    ``cnns`` is how many networks are averaged; ``pretrained`` says how many of them were first
    trained on the ImageNet Fall 2011 release. The 15.3% winner is the seven-network ensemble.

    Example:
        >>> t = ilsvrc2012(); t.loc[t.top5_test.idxmin(), "cnns"]
        np.int64(7)
    """
    rows = [
        ("SIFT + FVs (runner-up)", 0, 0, _NaN, _NaN, 26.2, "paper Table 2 and abstract (ref. [7])"),
        ("1 CNN", 1, 0, 40.7, 18.2, _NaN, "paper Table 2"),
        ("5 CNNs", 5, 0, 38.1, 16.4, 16.4, "paper Table 2"),
        ("1 CNN, pre-trained", 1, 1, 39.0, 16.6, _NaN, "paper Table 2"),
        ("7 CNNs, 2 pre-trained", 7, 2, 36.7, 15.4, 15.3, "paper Table 2 and abstract"),
    ]
    cols = ["model", "cnns", "pretrained", "top1_val", "top5_val", "top5_test", "source"]
    return pd.DataFrame(rows, columns=cols)


def winners() -> pd.DataFrame:
    """ILSVRC classification: the winning top-5 test error (%) by year, 2010-2017, with sources.

    ``in_paper`` is True for the numbers the AlexNet paper itself gives (2010 and 2012); the other
    years are quoted from the cited publications and results pages as they state them. ``kind``
    says whether the entry was built on hand-crafted features or was a convolutional network.
    The 2012 number is the seven-CNN ensemble (:func:`ilsvrc2012`).

    Example:
        >>> w = winners().set_index("year"); w.loc[2011, "top5_test"], w.loc[2012, "top5_test"]
        (np.float64(25.8), np.float64(15.3))
    """
    hand, cnn = "hand-crafted features", "CNN"
    rows = [
        (2010, "NEC-UIUC (sparse coding, 6 models)", hand, 28.2, "paper Table 1 and §6", True),
        (2011, "XRCE (Fisher vectors)", hand, 25.8,
         f"{_RUSSAKOVSKY}; {_ILSVRC.format(year=2011)} gives 0.25770", False),
        (2012, "AlexNet (7 CNNs)", cnn, 15.3, "paper Table 2 and abstract", True),
        (2013, "Clarifai (Zeiler)", cnn, 11.7, _RUSSAKOVSKY, False),
        (2014, "GoogLeNet", cnn, 6.7, f"{_RUSSAKOVSKY}; {_SZEGEDY} gives 6.67", False),
        (2015, "ResNet (MSRA, ensemble)", cnn, 3.57, _HE, False),
        (2016, "Trimps-Soushen (ensemble)", cnn, 2.99,
         f"{_ILSVRC.format(year=2016)} gives 0.02991; {_HU}: 2017 improved on it by about 25%",
         False),
        (2017, "SENet (WMW)", cnn, 2.25, f"{_HU} gives 2.251", False),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["year", "entry", "kind", "top5_test", "source", "in_paper"])


def ingredients() -> pd.DataFrame:
    """What went into AlexNet and the effect the paper measured for each, with the section.

    Example:
        >>> ingredients().set_index("ingredient").loc["LRN", "paper"]
        '§3.3'
    """
    rows = [
        ("Data", "§2",
         "1.2 million labelled training images in 1000 classes (ILSVRC subset of ImageNet)"),
        ("Two GTX 580 GPUs", "§3.2", "3 GB each, half the kernels on each; beats a one-GPU net "
         "with half the kernels by 1.7% top-1 and 1.2% top-5"),
        ("ReLU", "§3.1, Figure 1",
         "a four-layer CNN reaches 25% training error on CIFAR-10 six times faster than with tanh"),
        ("LRN", "§3.3", "top-1 / top-5 error down by 1.4% / 1.2%; CIFAR-10 test error 13% to 11%"),
        ("Overlapping pooling", "§3.4",
         "3×3 windows with stride 2: top-1 / top-5 error down by 0.4% / 0.3% against 2×2 stride 2"),
        ("Dropout", "§4.2", "p = 0.5 on the first two fully connected layers against "
         "overfitting; it about doubles the iterations needed to converge"),
        ("Augmentation", "§4.1", "random 224×224 crops and flips of 256×256 images (a factor "
         "of 2048); PCA colour noise cuts top-1 error by over 1%"),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["ingredient", "paper", "effect the paper reports"])


def myths() -> pd.DataFrame:
    """Claims common in write-ups about AlexNet, what the paper (or PyTorch) says, and where.

    Example:
        >>> myths().loc[0, "source"]
        'paper Table 2'
    """
    rows = [
        ("AlexNet got 15.3% top-5 error.",
         "15.3% is the test error of an ensemble of 7 CNNs, two pre-trained on ImageNet Fall 2011; "
         "one CNN had 18.2% top-5 on validation.", "paper Table 2"),
        ("A 224×224 input with an 11×11 kernel, stride 4, no padding gives 55×55.",
         "It gives 54×54; 55×55 needs a 227×227 input (lesson 02 computes it).",
         "paper §3.5 and Figure 2; arithmetic"),
        ("Every convolutional layer has LRN.", "Only conv1 and conv2 are followed by LRN.",
         "paper §3.3, §3.5"),
        ("conv1 is conv → pool → LRN.",
         "The paper's order is conv → ReLU → LRN → max-pool; pool-then-LRN is a CaffeNet change.",
         "paper §3.5"),
        ("LRN divides by the sum of neighbouring pixels.",
         "It divides by (k + α·Σ a²)^β, a sum of squares over n adjacent channels at one position.",
         "paper §3.3"),
        ("nn.LocalResponseNorm(5, alpha=1e-4, ...) is the paper's LRN.",
         "PyTorch divides alpha by size, so the paper's α = 1e-4 is alpha=5e-4 in PyTorch.",
         "paper §3.3; PyTorch nn.LocalResponseNorm documentation"),
        ("AlexNet augmented with rotations.",
         "Crops and horizontal reflections, plus PCA colour noise; no rotations.", "paper §4.1"),
        ("Augmentation gave millions of variants per image.",
         "The paper says crops and reflections enlarge the training set by a factor of 2048.",
         "paper §4.1"),
        ("AlexNet was the first CNN on a GPU.",
         "The paper describes its own fast GPU convolution code; it does not claim to be first.",
         "paper §1, §3.2"),
        ("AlexNet introduced ReLU.",
         "The paper credits Nair & Hinton for ReLUs and does not claim to be first.", "paper §3.1"),
        ("F.dropout(x, p=0.5) in forward turns off with model.eval().",
         "Its training argument defaults to True; use nn.Dropout or pass training=self.training.",
         "PyTorch torch.nn.functional.dropout documentation"),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["myth", "fact", "source"])


def plot_top5_bars(figsize: tuple[float, float] = (7.5, 3.2)) -> plt.Figure:
    """Bar chart of top-5 test error: the methods before AlexNet, the runner-up, one CNN, the ensemble.

    One CNN has no 2012 *test* number in the paper, so its bar is its validation error (labelled).

    Example:
        >>> fig = plot_top5_bars(); len(fig.axes[0].patches)
        6
    """
    t10, t12 = ilsvrc2010(), ilsvrc2012().set_index("model")
    bars = [
        (f"{m}\n(2010 test)", v, "tab:gray")
        for m, v in zip(t10.model[:2], t10.top5_test[:2], strict=True)
    ]
    bars += [
        ("CNN\n(2010 test)", float(t10.top5_test.iloc[2]), "tab:orange"),
        (
            "SIFT + FVs\n(2012 test)",
            float(t12.loc["SIFT + FVs (runner-up)", "top5_test"]),
            "tab:gray",
        ),
        ("1 CNN\n(2012 val)", float(t12.loc["1 CNN", "top5_val"]), "tab:orange"),
        ("7 CNNs\n(2012 test)", float(t12.loc["7 CNNs, 2 pre-trained", "top5_test"]), "tab:red"),
    ]
    fig, ax = plt.subplots(figsize=figsize)
    labels, values, colours = zip(*bars, strict=True)
    ax.bar(labels, values, color=colours)
    for i, v in enumerate(values):
        ax.text(i, v + 0.4, f"{v:.1f}", ha="center", fontsize=8)
    ax.set_ylabel("top-5 error (%)")
    ax.set_title("ILSVRC top-5 error (paper Tables 1 and 2)", fontsize=10)
    ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    return fig


def plot_winners(figsize: tuple[float, float] = (7.5, 3.4)) -> plt.Figure:
    """Line chart of the winning top-5 test error by year; hand-crafted entries grey, CNNs orange.

    Example:
        >>> fig = plot_winners(); len(fig.axes[0].lines[0].get_xdata())
        8
    """
    w = winners()
    fig, ax = plt.subplots(figsize=figsize)
    ax.plot(w.year, w.top5_test, color="0.6", zorder=1)
    for kind, colour in [("hand-crafted features", "tab:gray"), ("CNN", "tab:orange")]:
        part = w[w.kind == kind]
        ax.scatter(part.year, part.top5_test, color=colour, label=kind, zorder=2)
    for year, err, name in zip(w.year, w.top5_test, w.entry, strict=True):
        ax.annotate(f"{name.split(' (')[0]}\n{err:g}%", (year, err), textcoords="offset points",
                    xytext=(4, 5), ha="left", fontsize=7)  # fmt: skip
    ax.axvline(2012, color="tab:red", ls=":", lw=1)
    ax.set_xticks(range(int(w.year.min()), int(w.year.max()) + 1))
    ax.set_xlim(float(w.year.min()) - 0.3, float(w.year.max()) + 0.9)
    ax.set_ylim(0, float(w.top5_test.max()) + 8)
    ax.set_xlabel("ILSVRC year")
    ax.set_ylabel("winning top-5 error (%)")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


# --- the pipeline AlexNet replaced -------------------------------------------------------------

_HOW = {  # how each stage gets its numbers, and its colour in the drawing
    "designed by hand": "0.85",
    "fit to images without labels": "#9ecae1",
    "trained on the labels": "#fdae6b",
}


def _stage(ax: plt.Axes, x: float, y: float, w: float, text: str, how: str | None) -> None:
    colour = "white" if how is None else _HOW[how]
    ax.add_patch(Rectangle((x, y - 0.3), w, 0.6, facecolor=colour, edgecolor="0.3", gid=how))
    ax.text(x + w / 2, y, text, ha="center", va="center", fontsize=7.5)


def plot_pipelines(figsize: tuple[float, float] = (10, 3.2)) -> plt.Figure:
    """The ILSVRC 2010-2011 winners' pipeline next to AlexNet's, coloured by how each stage is set.

    Top: dense local descriptors (designed by hand), an encoding such as Fisher vectors or sparse
    coding fit to images without labels, pooling over the image, then linear classifiers, the
    only stage trained on the labels (paper §6; Lin et al. 2011; Sánchez & Perronnin 2011).
    Bottom: AlexNet, where every layer is trained on the labels.

    Example:
        >>> fig = plot_pipelines(); sorted({p.get_gid() for p in fig.axes[0].patches} - {None})
        ['designed by hand', 'fit to images without labels', 'trained on the labels']
    """
    fig, ax = plt.subplots(figsize=figsize)
    hand = [
        ("image", None),
        ("local descriptors\non a dense grid\n(SIFT, HOG, LBP, colour)", "designed by hand"),
        ("encoding: Fisher vectors,\nsparse or super-vector coding\n(a codebook or mixture)",
         "fit to images without labels"),
        ("pooling over the image\nand its regions", "designed by hand"),
        ("linear SVMs,\none per class", "trained on the labels"),
    ]  # fmt: skip
    for i, (text, how) in enumerate(hand):
        _stage(ax, 2.1 * i, 1.0, 1.8, text, how)
        if i:
            ax.annotate("", (2.1 * i, 1.0), (2.1 * i - 0.3, 1.0), arrowprops={"arrowstyle": "->"})
    cnn = [
        (0.0, 1.8, "image", None),
        (2.1, 5.4, "conv1 … conv5, fc6, fc7: the features, learned", "trained on the labels"),
        (7.8, 1.8 + 0.6, "fc8 + softmax,\n1000 classes", "trained on the labels"),
    ]
    for x, w, text, how in cnn:
        _stage(ax, x, 0.0, w, text, how)
        if x:
            ax.annotate("", (x, 0.0), (x - 0.3, 0.0), arrowprops={"arrowstyle": "->"})
    ax.text(-0.1, 1.45, "ILSVRC 2010 and 2011 winners (hand-crafted features)", fontsize=9)
    ax.text(-0.1, 0.45, "AlexNet, 2012 (every layer learned)", fontsize=9)
    ax.legend(handles=[Patch(facecolor=c, edgecolor="0.3", label=h) for h, c in _HOW.items()],
              loc="lower center", bbox_to_anchor=(0.5, -0.22), ncol=3, fontsize=8,
              frameon=False)  # fmt: skip
    ax.set_xlim(-0.2, 10.4)
    ax.set_ylim(-0.45, 1.65)
    ax.axis("off")
    fig.tight_layout()
    return fig


# --- LeNet-5 (LeCun et al. 1998) -----------------------------------------------------------------

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


def lenet5_table(model: nn.Module | None = None) -> pd.DataFrame:
    """Per layer of LeNet-5: output shape, trainable parameters (PyTorch's count), connections
    (inputs and bias of every unit, as the paper counts them) and multiply-accumulates per image.

    MACs are counted as lesson 03 counts AlexNet's: one per weight use in the convolution and
    fully connected layers; the RBF's squared differences count too, the subsampling sums do not.

    Example:
        >>> t = lenet5_table(); int(t.params.sum()), int(t.connections.sum())
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


def lenet_vs_alexnet() -> pd.DataFrame:
    """LeNet-5 (1998) next to AlexNet (2012): data, size, compute and hardware, each with a source.

    Parameters and MACs per image are computed from the models (:func:`lenet5_table`, and
    :func:`alexnet_lesson.params.totals` for the paper's variant at 227×227); the rest is quoted.
    LeNet-5's training passes, hardware and training time read :data:`NOT_GIVEN`: no figure for
    them has been checked against LeCun et al. (1998), so none is stated.

    Example:
        >>> t = lenet_vs_alexnet().set_index("quantity"); t.loc["trainable parameters", "LeNet-5"]
        60000
    """
    lenet = lenet5_table()
    alex = totals(["paper"]).iloc[0]
    lecun = "LeCun et al. 1998"
    rows = [
        ("year", 1998, 2012, _LECUN, "NeurIPS 2012"),
        ("task", "10 handwritten digits", "1000 object classes", f"{lecun} §III.A", "paper §2"),
        ("input", "1×32×32 (grey)", "3×224×224 (colour; counted at 227)", f"{lecun} §II.B", "paper §3.5"),
        ("training images", 60_000, 1_200_000, f"{lecun} §III.A (MNIST)",
         "paper §2 (roughly 1.2 million)"),
        ("trainable parameters", int(lenet.params.sum()), int(alex.params),
         "computed: lenet5_table() (the paper, §II.A: 60,000)",
         "computed: params.totals (abstract: 60 million)"),
        ("MACs per image", int(lenet.MACs.sum()), int(alex.MACs),
         "computed: lenet5_table()", "computed: params.totals"),
        ("passes over the training set", NOT_GIVEN, 90, _UNCHECKED, "paper §5 (roughly 90)"),
        ("hardware", NOT_GIVEN, "two GTX 580 GPUs, 3 GB each", _UNCHECKED, "paper §3.2"),
        ("training time", NOT_GIVEN, "5 to 6 days", _UNCHECKED, "paper §5"),
    ]  # fmt: skip
    return pd.DataFrame(
        rows, columns=["quantity", "LeNet-5", "AlexNet", "source LeNet-5", "source AlexNet"]
    )


# --- the two towers ------------------------------------------------------------------------------


def _default_model(
    model: nn.Module | None, shape: tuple[int, int, int] | None
) -> tuple[nn.Module, tuple[int, int, int]]:
    model = skeleton("paper") if model is None else model
    if shape is None:
        if not isinstance(model, AlexNet):
            raise ValueError("pass shape=(C, H, W) for a model that is not an AlexNet variant")
        shape = (model.in_channels, model.input_size, model.input_size)
    return model, shape


def _per_tower(out: tuple[int, ...], towers: int, name: str) -> str:
    if out[0] % towers:
        raise ValueError(f"{name} has {out[0]} channels or units: they do not split over {towers}")
    return "×".join(map(str, (out[0] // towers, *out[1:])))


def tower_table(
    model: nn.Module | None = None, shape: tuple[int, int, int] | None = None, towers: int = 2
) -> pd.DataFrame:
    """One row per convolution or linear layer of ``model`` split over ``towers`` GPUs (§3.2).

    ``groups`` is read from the layer (linear layers have none: 1); ``reads`` is "the image" for
    the first convolution, "both towers" where the layer needs every tower's output (the rule of
    :func:`alexnet_lesson.tower_split.exchange_points`: a linear layer, or a later convolution
    with groups=1) and "own tower" otherwise. Shapes come from :func:`alexnet_lesson.shapes.trace`;
    ``then`` is the shape after the pooling that follows, where one does. Default: the paper's
    variant at 3×227×227.

    Example:
        >>> tower_table()[["layer", "groups", "reads"]].values.tolist()[:3]
        [['conv1', 1, 'the image'], ['conv2', 2, 'own tower'], ['conv3', 1, 'both towers']]
    """
    model, shape = _default_model(model, shape)
    result = trace(model, shape)
    if not result.ok:
        raise ValueError(result.error)
    layers = dict(model.named_children())
    cross = set(exchange_points(model, towers))
    rows: list[dict] = []
    for r in result.rows:
        layer = layers[r.name]
        if isinstance(layer, nn.Conv2d | nn.Linear):
            first = not rows and isinstance(layer, nn.Conv2d)
            reads = "the image" if first else "both towers" if r.name in cross else "own tower"
            rows.append(
                {
                    "layer": r.name,
                    "groups": getattr(layer, "groups", 1),
                    "reads": reads,
                    "output": "×".join(map(str, r.out)),
                    "per tower": _per_tower(r.out, towers, r.name),
                    "then": "",
                }
            )
        elif rows and isinstance(layer, nn.MaxPool2d | nn.AvgPool2d):
            rows[-1]["then"] = f"{r.name} → {_per_tower(r.out, towers, r.name)}"
    return pd.DataFrame(rows, columns=["layer", "groups", "reads", "output", "per tower", "then"])


def _box(ax: plt.Axes, x: float, y: float, h: float, text: str, gid: str, colour: str) -> None:
    ax.add_patch(
        Rectangle((x - 0.4, y - h / 2), 0.8, h, facecolor=colour, edgecolor="0.3", gid=gid)
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=7)


def _arrow(
    ax: plt.Axes, a: tuple[float, float], b: tuple[float, float], gid: str, cross: bool
) -> None:
    style = {"color": "tab:red", "lw": 1.2} if cross else {"color": "0.45", "lw": 1.0}
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=8, gid=gid, **style))


def plot_two_towers(
    model: nn.Module | None = None,
    shape: tuple[int, int, int] | None = None,
    towers: int = 2,
    figsize: tuple[float, float] = (12, 4.2),
) -> plt.Figure:
    """The paper's two-GPU layout (§3.2, Figure 2) drawn from ``model``'s layers (:func:`tower_table`).

    One box per layer and tower, with the tower's share of the layer's output (and of the pooling
    after it); grey arrows stay in a tower, red arrows cross to the other tower where a layer
    reads both. Boxes have gids ``"box:<layer>:<tower>"``, arrows ``"arrow:<layer>:<from>-><to>"``
    (from ``"image"`` for the first layer). Default: the paper's variant at 3×227×227.

    Example:
        >>> fig = plot_two_towers()
        >>> sorted({p.get_gid().split(":")[1] for p in fig.axes[0].patches
        ...         if p.get_gid().startswith("arrow") and p.get_gid().endswith(("0->1", "1->0"))})
        ['conv3', 'fc6', 'fc7', 'fc8']
    """
    if towers != 2:
        raise ValueError("the drawing has room for two towers, as in the paper")
    model, shape = _default_model(model, shape)
    table = tower_table(model, shape, towers)
    fig, ax = plt.subplots(figsize=figsize)
    ys = {0: 1.0, 1: 0.0}  # tower 0 (the first half of every layer's channels) on top
    image = "image\n" + "×".join(map(str, shape)) + "\n(both GPUs\nhold it)"
    _box(ax, 0, 0.5, 1.8, image, "box:image", "0.9")
    for i, row in enumerate(table.to_dict("records"), start=1):
        name, reads = row["layer"], row["reads"]
        text = f"{name}\n{row['per tower']}"
        if row["then"]:
            text += f"\npool: {row['then'].split(' → ')[-1]}"
        colour = "#fdd0a2" if reads == "both towers" else "#c6dbef"
        for t, y in ys.items():
            _box(ax, i, y, 0.7, text, f"box:{name}:{t}", colour)
            if reads == "the image":
                _arrow(ax, (0.4, 0.5), (i - 0.4, y), f"arrow:{name}:image->{t}", False)
                continue
            for s in list(ys) if reads == "both towers" else [t]:
                _arrow(ax, (i - 0.6, ys[s]), (i - 0.4, y), f"arrow:{name}:{s}->{t}", s != t)
    n = len(table)
    ax.text(n + 0.55, 1.0, "GPU 1", va="center", fontsize=9)
    ax.text(n + 0.55, 0.0, "GPU 2", va="center", fontsize=9)
    ax.legend(
        handles=[
            Patch(facecolor="#c6dbef", edgecolor="0.3", label="reads its own GPU's half (or the image)"),
            Patch(facecolor="#fdd0a2", edgecolor="0.3", label="reads both GPUs' halves"),
            Patch(color="tab:red", label="data crossing between the GPUs"),
        ],
        loc="lower center", bbox_to_anchor=(0.5, -0.2), ncol=3, fontsize=8, frameon=False,
    )  # fmt: skip
    name = getattr(model, "variant", type(model).__name__)
    ax.set_title(f"'{name}' split over two GPUs: each box is one GPU's share of a layer's output",
                 fontsize=10)  # fmt: skip
    ax.set_xlim(-0.6, n + 1.2)
    ax.set_ylim(-0.55, 1.55)
    ax.axis("off")
    fig.tight_layout()
    return fig
