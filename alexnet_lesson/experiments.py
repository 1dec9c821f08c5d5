"""The small controlled experiments of lessons 04–06: a four-layer CNN that trains in seconds on a
CPU (the paper's ReLU comparison, §3.1 and Figure 1, used a four-layer CNN on CIFAR-10), builders
for each arm of an experiment, training every arm over several seeds with one recipe
(:func:`compare`), and the numbers that say how far two arms differ: means and spreads over the
seeds (:func:`summarise_runs`, :func:`versus_baseline`). Each lesson's budget, and its rule for
calling a difference real, are in the notebook.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable

import pandas as pd
import torch
from torch import nn

from alexnet_lesson.train import Recipe, Report, fit

__all__ = ["small_cnn", "cnn_builder", "compare", "summarise_runs", "versus_baseline"]

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def small_cnn(
    activation: str = "relu",
    pool: tuple[int, int] = (2, 2),
    dropout: float = 0.0,
    hidden: int = 128,
    widths: tuple[int, int] = (32, 64),
    size: int = 28,
    in_channels: int = 1,
    num_classes: int = 10,
    seed: int | None = 0,
) -> nn.Sequential:
    """A four-layer CNN for 28×28 images (two 5×5 convolutions, two fully connected layers), cheap
    enough on a CPU for the ReLU-vs-tanh (§3.1), pooling (§3.4) and dropout (§4.2) experiments.

    Args:
        activation: ``"relu"``, ``"tanh"`` or ``"sigmoid"`` after every hidden layer.
        pool: (window, stride) of both max-pools: (3, 2) overlaps as in the paper, (2, 2) does not.
        dropout: probability of an ``nn.Dropout`` after the hidden fully connected layer.
        seed: seed for the initial weights (PyTorch's default initialisation).

    Example:
        >>> net = small_cnn("tanh", pool=(3, 2))
        >>> net(torch.zeros(2, 1, 28, 28)).shape, net.fc1.in_features
        (torch.Size([2, 10]), 2304)
    """
    if activation not in _ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; choose one of {', '.join(_ACTIVATIONS)}"
        )
    if seed is not None:
        torch.manual_seed(seed)
    act = _ACTIVATIONS[activation]
    z, s = pool
    features = [
        ("conv1", nn.Conv2d(in_channels, widths[0], 5, padding=2)), ("act1", act()),
        ("pool1", nn.MaxPool2d(z, s)),
        ("conv2", nn.Conv2d(widths[0], widths[1], 5, padding=2)), ("act2", act()),
        ("pool2", nn.MaxPool2d(z, s)),
        ("flatten", nn.Flatten()),
    ]  # fmt: skip
    with torch.no_grad():
        probe = torch.zeros(1, in_channels, size, size)
        flat = nn.Sequential(OrderedDict(features))(probe).shape[1]
    head = [("fc1", nn.Linear(flat, hidden)), ("act3", act())]
    if dropout > 0:
        head.append(("drop", nn.Dropout(dropout)))
    head.append(("fc2", nn.Linear(hidden, num_classes)))
    return nn.Sequential(OrderedDict(features + head))


def cnn_builder(activation: str = "relu", **kwargs) -> Callable[[int], nn.Sequential]:
    """A ``seed -> small_cnn(activation, seed=seed, **kwargs)`` constructor for :func:`compare`.

    Example:
        >>> build = cnn_builder("tanh", pool=(2, 2), hidden=32)
        >>> net = build(3)
        >>> type(net.act1).__name__, net.fc1.out_features
        ('Tanh', 32)
    """

    def build(seed: int) -> nn.Sequential:
        return small_cnn(activation, seed=seed, **kwargs)

    return build


def _last_epoch(history: pd.DataFrame) -> dict:
    """The last epoch's losses and accuracies, and the mean time and speed over the epochs."""
    last = history.iloc[-1]
    return {
        "epochs": int(last["epoch"]),
        **{k: last[k] for k in ("train_loss", "train_acc", "test_loss", "test_acc")},
        "s_per_epoch": history["seconds"].mean(),
        "images_per_s": history["images_per_s"].mean(),
    }


def compare(
    builders: dict[str, Callable[[int], nn.Module]],
    train_loader: Iterable,
    test_loader: Iterable | None,
    recipe: Recipe,
    seeds: Iterable[int] = (0,),
    device: str | torch.device | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Train one model per (label, seed) with :func:`alexnet_lesson.train.fit`: same data, same recipe.

    Args:
        builders: label → function ``seed -> model`` (the seed sets the initial weights).
        recipe: the hyperparameters of every run; a run uses ``recipe.replace(seed=seed)``, so
            the seed also sets the order of the batches and the dropout masks.
        device: where the models train (default: where the builders put them); the loaders
            follow the model.

    Returns a table with one row per run (label, seed, last epoch's train and test loss and
    accuracy, seconds per epoch, training images per second) and the histories as
    ``{label: [history per seed]}``.

    Example:
        >>> x = torch.randn(32, 1, 4, 4); y = (x.mean((1, 2, 3)) > 0).long()
        >>> make = lambda seed: nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
        >>> recipe = Recipe(epochs=2, lr=0.1, batch_size=32, schedule="constant", label_smoothing=0.0)
        >>> table, runs = compare({"linear": make}, [(x, y)], [(x, y)], recipe, seeds=[0, 1])
        >>> table[["label", "seed", "epochs"]].values.tolist(), len(runs["linear"])
        ([['linear', 0, 2], ['linear', 1, 2]], 2)
    """
    quiet = Report(progress=False)
    rows, runs = [], {}
    for label, build in builders.items():
        for seed in seeds:
            model = build(seed) if device is None else build(seed).to(device)
            history = fit(model, train_loader, test_loader, recipe.replace(seed=seed), report=quiet)
            rows.append({"label": label, "seed": seed, **_last_epoch(history)})
            runs.setdefault(label, []).append(history)
    return pd.DataFrame(rows), runs


def summarise_runs(results: pd.DataFrame, by: str, columns: list[str]) -> pd.DataFrame:
    """Mean, standard deviation (over seeds) and count of each column per group.

    Example:
        >>> r = pd.DataFrame({"model": ["a", "a", "b"], "acc": [0.5, 0.7, 0.6]})
        >>> summarise_runs(r, "model", ["acc"]).round(3).values.tolist()
        [[0.6, 0.141, 2.0], [0.6, nan, 1.0]]
    """
    agg = results.groupby(by, sort=False)[columns].agg(["mean", "std", "count"])
    if len(columns) == 1:
        agg.columns = [c[1] for c in agg.columns]
    return agg


def versus_baseline(
    summary: pd.DataFrame,
    baseline: str,
    others: Iterable[str],
    metric: str = "test_acc",
    time: str | None = "s_per_epoch",
) -> pd.DataFrame:
    """Each model's difference from ``baseline`` in the mean of ``metric``, next to the spread
    between seeds: the numbers a notebook needs to say whether a difference is more than noise.

    ``summary`` comes from :func:`summarise_runs` (mean, std and count of ``metric``, and of
    ``time`` when given, per model). Columns: ``gap`` (the model's mean minus the baseline's),
    ``spread`` (the larger of the two standard deviations; NaN when either has one seed),
    ``seeds`` (the smaller count) and, with ``time``, ``time ratio`` (the model's mean time over
    the baseline's).

    Example:
        >>> r = pd.DataFrame({"label": ["none", "none", "lrn", "lrn"], "test_acc": [0.80, 0.82, 0.81, 0.83]})
        >>> t = versus_baseline(summarise_runs(r, "label", ["test_acc"]), "none", ["lrn"], time=None)
        >>> t.round(4).to_dict("index")
        {'lrn': {'gap': 0.01, 'spread': 0.0141, 'seeds': 2}}
    """
    single = not isinstance(summary.columns, pd.MultiIndex)
    stats = summary if single else summary[metric]
    base = stats.loc[baseline]
    rows = {}
    for name in others:
        row = stats.loc[name]
        seeds = int(min(row["count"], base["count"]))
        spread = max(row["std"], base["std"]) if seeds > 1 else float("nan")
        rows[name] = {"gap": row["mean"] - base["mean"], "spread": spread, "seeds": seeds}
        if time is not None and not single:
            rows[name]["time ratio"] = (
                summary.loc[name, (time, "mean")] / summary.loc[baseline, (time, "mean")]
            )
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(summary.index.name)
