"""Pictures for the lessons: image grids and training curves (matplotlib only)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from alexnet_lesson.data import CLASS_NAMES


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
    x = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images).detach().cpu()
    if x.ndim == 4:
        x = x[:, 0]
    n = len(x)
    ncols = min(ncols, n) or 1
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * (size + 0.3)), squeeze=False)
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
