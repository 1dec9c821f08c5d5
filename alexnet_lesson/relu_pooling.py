"""ReLU and overlapping pooling, lesson 06: the activation curves and their derivatives (§3.1,
Figure 1's comparison of ReLU with tanh), steps to a training-error target, and pooled map sizes
for overlapping (z = 3, s = 2) against non-overlapping (z = s = 2) max-pooling (§3.4).
"""

from __future__ import annotations

import pandas as pd
import torch

from alexnet_lesson.shapes import conv_out

__all__ = [
    "activation_curves",
    "steps_to_error",
    "steps_to_error_table",
    "error_curves",
    "pool_sizes",
]


def activation_curves(lo: float = -5.0, hi: float = 5.0, points: int = 201) -> pd.DataFrame:
    """Sigmoid, tanh and ReLU and their derivatives (by autograd) on a grid, one column each.

    Example:
        >>> t = activation_curves(-1, 1, 3)
        >>> t[["x", "relu", "d relu", "d tanh"]].round(6).values.tolist()
        [[-1.0, 0.0, 0.0, 0.419974], [0.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 0.419974]]
    """
    x = torch.linspace(lo, hi, points, dtype=torch.float64)
    x = torch.where(x.abs() < 1e-12, 0.0, x)  # print 0, not -0.0
    table = {"x": x.numpy()}
    for name, fn in [("sigmoid", torch.sigmoid), ("tanh", torch.tanh), ("relu", torch.relu)]:
        xi = x.clone().requires_grad_(True)
        y = fn(xi)
        (grad,) = torch.autograd.grad(y.sum(), xi)
        table[name] = y.detach().numpy()
        table[f"d {name}"] = grad.numpy()
    return pd.DataFrame(table)


def steps_to_error(log: pd.DataFrame, target: float, steps_per_epoch: int) -> float:
    """The first step count at which the logged training error (1 − ``train_acc``) is at most
    ``target``; NaN if it never gets there. Resolution: one logged epoch (``steps_per_epoch``).

    Example:
        >>> log = pd.DataFrame({"epoch": [1, 2, 3], "train_acc": [0.5, 0.7, 0.8]})
        >>> steps_to_error(log, 0.25, steps_per_epoch=10)
        30.0
    """
    hit = log[(1.0 - log["train_acc"]) <= target]
    if hit.empty:
        return float("nan")
    return float(hit["epoch"].iloc[0] * steps_per_epoch)


def pool_sizes(size: int, pools: list[tuple[int, int]]) -> pd.DataFrame:
    """Output side and overlap of max-pooling windows (window z, stride s) on a size×size map.

    Example:
        >>> pool_sizes(55, [(3, 2), (2, 2)])[["window z", "stride s", "output", "overlapping"]].values.tolist()
        [[3, 2, 27, True], [2, 2, 27, False]]
    """

    return pd.DataFrame(
        [
            {
                "input": size,
                "window z": z,
                "stride s": s,
                "output": conv_out(size, z, s),
                "overlapping": z > s,
                "inputs read per output": z * z,
            }
            for z, s in pools
        ]
    )


def steps_to_error_table(
    results: pd.DataFrame,
    runs: dict[str, list[pd.DataFrame]],
    target: float,
    every: int,
    ratio: tuple[str, str] = ("tanh", "relu"),
) -> pd.DataFrame:
    """Steps to reach ``target`` training error per seed (rows) and model (columns), and the
    ratio of two models' steps (lesson 06's "tanh / relu", paper §3.1 Figure 1).

    ``results`` and ``runs`` come from :func:`compare` run with ``steps_per_epoch=every``; each
    history's first logged point with error ≤ ``target`` counts (:func:`steps_to_error`).

    Example:
        >>> h = lambda accs: pd.DataFrame({"epoch": [1, 2, 3], "train_acc": accs})
        >>> runs = {"relu": [h([0.6, 0.8, 0.9])], "tanh": [h([0.5, 0.6, 0.8])]}
        >>> results = pd.DataFrame({"label": ["relu", "tanh"], "seed": [0, 0]})
        >>> steps_to_error_table(results, runs, 0.25, every=4).values.tolist()
        [[8.0, 12.0, 1.5]]
    """
    rows = []
    for label, histories in runs.items():
        seeds = results.loc[results["label"] == label, "seed"].tolist()
        if len(seeds) != len(histories):
            raise ValueError(f"{label!r}: {len(seeds)} rows in results but {len(histories)} runs")
        for seed, history in zip(seeds, histories, strict=True):
            rows.append(
                {"label": label, "seed": seed, "steps": steps_to_error(history, target, every)}
            )
    table = pd.DataFrame(rows).pivot(index="seed", columns="label", values="steps")
    slow, fast = ratio
    table[f"{slow} / {fast}"] = table[slow] / table[fast]
    return table


def error_curves(runs: dict[str, list[pd.DataFrame]], every: int) -> dict[str, list[pd.DataFrame]]:
    """Copies of :func:`compare`'s histories with a ``step`` column (logged epoch × ``every``)
    and ``train_error`` (1 − ``train_acc``), for plotting training error against steps.

    Example:
        >>> h = pd.DataFrame({"epoch": [1, 2], "train_acc": [0.5, 0.75]})
        >>> error_curves({"relu": [h]}, every=4)["relu"][0][["step", "train_error"]].values.tolist()
        [[4.0, 0.5], [8.0, 0.25]]
    """
    return {
        label: [h.assign(step=h["epoch"] * every, train_error=1 - h["train_acc"]) for h in hs]
        for label, hs in runs.items()
    }
