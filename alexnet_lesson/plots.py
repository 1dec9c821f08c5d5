"""Pictures that more than one place draws (matplotlib only): image grids (lessons 00, 07, 08),
training curves (07 and the command line), LRN on a channel vector and on feature maps (04 and its
widgets), runs over seeds (04–06) and dropout masks (05 and its widget). A picture one lesson
draws once is drawn in that lesson's own cell."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from alexnet_lesson.data import CLASS_NAMES

__all__ = [
    "show_images",
    "plot_history",
    "plot_lateral_inhibition",
    "plot_lrn_maps",
    "plot_compare",
    "plot_seed_points",
    "plot_dropout",
]


def show_images(
    images: torch.Tensor | np.ndarray,
    labels: Sequence[int] | torch.Tensor | None = None,
    preds: Sequence[int] | torch.Tensor | None = None,
    ncols: int = 8,
    size: float = 1.4,
    class_names: Sequence[str] = CLASS_NAMES,
) -> plt.Figure:
    """A grid of grey images titled with their class names (and predictions, red when wrong).

    Accepts N×H×W or N×1×H×W arrays or tensors, ``uint8`` or float (each image is scaled to its
    own range, so normalised batches display as well as raw ones).

    Example:
        >>> fig = show_images(torch.zeros(4, 28, 28, dtype=torch.uint8), labels=[0, 1, 2, 3])
        >>> len(fig.axes)
        4
    """
    x = (
        torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
        .detach()
        .cpu()
    )
    if x.ndim == 4:
        x = x[:, 0]
    n = len(x)
    ncols = min(ncols, n) or 1
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(ncols * size, nrows * (size + 0.3)), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            fig.delaxes(ax)
            continue
        ax.imshow(x[i].float().numpy(), cmap="gray")
        title, color = "", "black"
        if labels is not None:
            title = class_names[int(labels[i])]
        if preds is not None:
            pred = class_names[int(preds[i])]
            wrong = labels is not None and int(preds[i]) != int(labels[i])
            title = f"{title}\n→ {pred}" if title else pred
            color = "red" if wrong else "green"
        ax.set_title(title, fontsize=8, color=color)
    fig.tight_layout()
    return fig


def plot_history(
    history, title: str | None = None, size: tuple[float, float] = (9, 3.2)
) -> plt.Figure:
    """Training curves from a :func:`alexnet_lesson.train.fit` history: loss and accuracy per epoch.

    Accepts the history DataFrame (or anything ``pandas.DataFrame`` accepts) with columns epoch,
    train_loss, val_loss, train_acc and val_acc (and test_loss, test_acc where a table has them);
    columns that are missing or all NaN are left out.

    Example:
        >>> fig = plot_history({"epoch": [1, 2], "train_loss": [2.0, 1.0], "val_loss": [2.1, 1.2],
        ...                     "train_acc": [0.3, 0.6], "val_acc": [0.3, 0.5]})
        >>> [ax.get_ylabel() for ax in fig.axes]
        ['loss', 'accuracy']
    """
    h = pd.DataFrame(history)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=size)
    for ax, metric in ((ax_loss, "loss"), (ax_acc, "acc")):
        for split, style in (("train", "-o"), ("val", "--s"), ("test", ":^")):
            col = f"{split}_{metric}"
            if col in h and h[col].notna().any():
                ax.plot(h["epoch"], h[col], style, markersize=4, label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss" if metric == "loss" else "accuracy")
        ax.grid(alpha=0.3)
        ax.legend()
        if len(h):
            ax.set_xticks(list(h["epoch"]))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- lessons 04–06


def plot_lateral_inhibition(table, title: str | None = None) -> plt.Figure:
    """Bars of one position's channel values before and after LRN (a :func:`lrn.lateral_inhibition` table).

    Example:
        >>> from alexnet_lesson.lrn import lateral_inhibition
        >>> len(plot_lateral_inhibition(lateral_inhibition([1.0, 9.0, 1.0])).axes)
        2
    """
    fig, (ax_in, ax_out) = plt.subplots(1, 2, figsize=(9, 2.8))
    ax_in.bar(table["channel"], table["input"], color="tab:gray")
    ax_in.set_title("before LRN: a[i]")
    ax_out.bar(table["channel"], table["output"], color="tab:blue")
    ax_out.set_title("after LRN: b[i]")
    for ax in (ax_in, ax_out):
        ax.set_xlabel("channel i (one spatial position)")
        ax.set_xticks(list(table["channel"]))
        ax.grid(alpha=0.3, axis="y")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_lrn_maps(
    before: torch.Tensor, after: torch.Tensor, channels: int = 6, title: str | None = None
) -> plt.Figure:
    """C×H×W feature maps before and after LRN (first ``channels`` channels) and a histogram of each.

    Both rows share one colour scale (0 to the larger maximum), so a map that LRN divides by 1.7
    is drawn 1.7 times darker: the rows compare by value, not only by pattern.

    Example:
        >>> m = torch.rand(8, 5, 5)
        >>> len(plot_lrn_maps(m, m / 2, channels=4).axes)
        9
    """
    before, after = before.detach().float().cpu(), after.detach().float().cpu()
    fig = plt.figure(figsize=(1.5 * channels, 5.6))
    grid = fig.add_gridspec(3, channels, height_ratios=[1, 1, 1.2])
    vmax = float(max(before[:channels].max(), after[:channels].max())) or 1.0
    for row, (maps, label) in enumerate(((before, "ReLU(conv1)"), (after, "after LRN"))):
        for c in range(channels):
            ax = fig.add_subplot(grid[row, c])
            ax.imshow(maps[c].numpy(), cmap="viridis", vmin=0, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"ch {c}", fontsize=8)
            if c == 0:  # the row's name beside it: above, it would overlap the row over it
                ax.set_ylabel(label, fontsize=9)
    ax = fig.add_subplot(grid[2, :])
    top = float(max(before.max(), after.max())) or 1.0
    bins = np.linspace(0, top, 60)
    ax.hist(before.flatten().numpy(), bins=bins, alpha=0.6, label="ReLU(conv1)", log=True)
    ax.hist(after.flatten().numpy(), bins=bins, alpha=0.6, label="after LRN", log=True)
    ax.set_xlabel("activation value (all channels, all positions)")
    ax.set_ylabel("count (log)")
    ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_compare(
    runs: dict,
    y: str,
    x: str = "epoch",
    ylabel: str | None = None,
    title: str | None = None,
    hline: float | None = None,
    size: tuple[float, float] = (6, 3.2),
    ax: plt.Axes | None = None,
) -> plt.Figure:
    """One colour per label, one line per run: ``runs`` maps a label to a history DataFrame or a
    list of them (e.g. one per seed); ``y`` is the column to draw against ``x``.

    Example:
        >>> import pandas as pd
        >>> h = pd.DataFrame({"epoch": [1, 2], "test_acc": [0.5, 0.6]})
        >>> fig = plot_compare({"a": [h, h], "b": h}, "test_acc")
        >>> len(fig.axes[0].lines)
        3
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=size)
    else:
        fig = ax.figure
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, hs) in enumerate(runs.items()):
        hs = hs if isinstance(hs, list | tuple) else [hs]
        for j, h in enumerate(hs):
            ax.plot(h[x], h[y], color=colors[i % len(colors)], alpha=0.85, lw=1.4,
                    label=label if j == 0 else None)  # fmt: skip
    if hline is not None:
        ax.axhline(hline, color="black", lw=0.8, ls=":")
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel or y)
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_seed_points(
    results, by: str, column: str, title: str | None = None, size: tuple[float, float] = (6, 3)
) -> plt.Figure:
    """One dot per run (seed) and a bar for the mean per group: the spread is visible at a glance.

    Example:
        >>> import pandas as pd
        >>> r = pd.DataFrame({"model": ["a", "a", "b"], "acc": [0.5, 0.7, 0.6]})
        >>> [t.get_text() for t in plot_seed_points(r, "model", "acc").axes[0].get_xticklabels()]
        ['a', 'b']
    """
    groups = list(dict.fromkeys(results[by]))
    fig, ax = plt.subplots(figsize=size)
    for i, g in enumerate(groups):
        vals = results.loc[results[by] == g, column].to_numpy(dtype=float)
        ax.bar(i, vals.mean(), color="tab:blue", alpha=0.3, width=0.6)
        ax.plot(np.full(len(vals), i), vals, "o", color="tab:blue")
    ax.set_xticks(range(len(groups)), [str(g) for g in groups])
    ax.set_ylabel(column)
    ax.grid(alpha=0.3, axis="y")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_dropout(x: torch.Tensor, out: torch.Tensor, p: float) -> plt.Figure:
    """An activation vector or image, which units dropout kept, and the rescaled result (÷ (1 − p)).

    Example:
        >>> x = torch.ones(4, 4)
        >>> len(plot_dropout(x, x * 2, 0.5).axes)
        3
    """
    x, out = x.detach().float().cpu(), out.detach().float().cpu()
    if x.ndim == 1:
        x, out = x[None], out[None]
    kept = (out != 0).float()
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.2 if x.shape[0] > 1 else 1.6))
    vmax = float(max(x.abs().max(), out.abs().max())) or 1.0
    panels = (
        (x, "input", "viridis", 0, vmax),
        (kept, f"kept: {int(kept.sum())} of {kept.numel()}", "gray", 0, 1),
        (out, f"output (kept ÷ {1 - p:.2f})", "viridis", 0, vmax),
    )
    for ax, (img, label, cmap, lo, hi) in zip(axes, panels, strict=True):
        ax.imshow(img.numpy(), cmap=cmap, vmin=lo, vmax=hi, aspect="auto")
        ax.set_title(label, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"dropout p = {p:.2f}")
    fig.tight_layout()
    return fig
