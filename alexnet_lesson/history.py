"""Lesson 01: the results that made AlexNet famous, as data with a source on every row.

Everything here is a published number or statement, kept with the place it comes from, so that a
notebook can show it without typing it in. "Paper" is Krizhevsky, Sutskever & Hinton, "ImageNet
Classification with Deep Convolutional Neural Networks", NeurIPS 2012. Rows whose source is not the
paper say so in their ``source`` column.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

__all__ = [
    "ilsvrc2010",
    "ilsvrc2012",
    "winners",
    "ingredients",
    "myths",
    "plot_top5_bars",
    "plot_winners",
]

_RUSSAKOVSKY = (
    "Russakovsky et al. 2015, 'ImageNet Large Scale Visual Recognition Challenge', "
    "IJCV 115(3):211-252, classification results of the winning entries"
)
_SZEGEDY = "Szegedy et al. 2015, 'Going Deeper with Convolutions', CVPR 2015 (GoogLeNet)"
_HE = "He et al. 2016, 'Deep Residual Learning for Image Recognition', CVPR 2016, Table 5"

_NaN = float("nan")


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
    """ILSVRC classification: the winning top-5 test error (%) by year, each with its source.

    ``in_facts`` is True for numbers from the AlexNet paper itself (checked in the project's
    FACTS.md); the later winners are quoted from the cited publications as they state them.
    2011 is left out: the AlexNet paper does not give that year's winner.

    Example:
        >>> winners().set_index("year").loc[2012, "top5_test"]
        np.float64(15.3)
    """
    rows = [
        (2010, "Sparse coding (6 models)", 28.2, "paper Table 1 and §6", True),
        (2012, "AlexNet (7 CNNs)", 15.3, "paper Table 2 and abstract", True),
        (2013, "Clarifai (Zeiler)", 11.7, _RUSSAKOVSKY, False),
        (2014, "GoogLeNet", 6.7, f"{_RUSSAKOVSKY}; {_SZEGEDY} gives 6.67", False),
        (2015, "ResNet (MSRA, ensemble)", 3.57, _HE, False),
    ]
    return pd.DataFrame(rows, columns=["year", "entry", "top5_test", "source", "in_facts"])


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


def plot_winners(figsize: tuple[float, float] = (6.5, 3.2)) -> plt.Figure:
    """Line chart of the winning top-5 test error by year, with AlexNet's year marked.

    Example:
        >>> fig = plot_winners(); len(fig.axes[0].lines[0].get_xdata())
        5
    """
    w = winners()
    fig, ax = plt.subplots(figsize=figsize)
    ax.plot(w.year, w.top5_test, marker="o")
    for year, err, name in zip(w.year, w.top5_test, w.entry, strict=True):
        ax.annotate(f"{name.split(' (')[0]}\n{err:g}%", (year, err), textcoords="offset points",
                    xytext=(5, 5), ha="left", fontsize=7)  # fmt: skip
    ax.axvline(2012, color="tab:red", ls=":", lw=1)
    ax.set_xticks(range(int(w.year.min()), int(w.year.max()) + 1))
    ax.set_xlim(float(w.year.min()) - 0.3, float(w.year.max()) + 0.7)
    ax.set_ylim(0, float(w.top5_test.max()) + 8)
    ax.set_xlabel("ILSVRC year (no 2011 point: not in the paper)")
    ax.set_ylabel("winning top-5 error (%)")
    fig.tight_layout()
    return fig
