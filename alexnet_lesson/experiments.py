"""The small controlled experiments of lessons 04–06: a four-layer CNN that trains in seconds,
builders for each arm of an experiment, running every arm over several seeds (:func:`compare`),
the experiments' budgets by mode and device, and summaries of the runs.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import pandas as pd
import torch
from torch import nn

from alexnet_lesson.train import fit

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


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
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}"
        )
    if seed is not None:
        torch.manual_seed(seed)
    act = ACTIVATIONS[activation]
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


def compare(
    builders: dict,
    train_loader,
    test_loader,
    seeds: tuple[int, ...] | list[int] = (0,),
    **fit_kwargs,
) -> tuple[pd.DataFrame, dict]:
    """Train one model per (label, seed) with :func:`alexnet_lesson.train.fit`, same data and budget.

    Args:
        builders: label → function ``seed -> model`` (the seed sets the initial weights).
        seeds: each seed also seeds ``fit`` (shuffling, dropout).
        fit_kwargs: passed to ``fit`` (``epochs`` and ``lr`` at least); ``progress`` defaults to False.

    Returns a table with one row per run (label, seed, last epoch's train and test loss and
    accuracy, seconds per epoch, training images per second) and the histories as
    ``{label: [history per seed]}``.

    Example:
        >>> x = torch.randn(32, 1, 4, 4); y = (x.mean((1, 2, 3)) > 0).long()
        >>> make = lambda seed: nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
        >>> table, runs = compare({"linear": make}, [(x, y)], [(x, y)], seeds=[0, 1], epochs=2, lr=0.1)
        >>> table[["label", "seed", "epochs"]].values.tolist(), len(runs["linear"])
        ([['linear', 0, 2], ['linear', 1, 2]], 2)
    """

    fit_kwargs.setdefault("progress", False)
    rows, runs = [], {}
    for label, build in builders.items():
        for seed in seeds:
            history = fit(build(seed), train_loader, test_loader, seed=seed, **fit_kwargs)
            last = history.iloc[-1]
            rows.append(
                {
                    "label": label,
                    "seed": seed,
                    "epochs": int(last["epoch"]),
                    "train_loss": last["train_loss"],
                    "train_acc": last["train_acc"],
                    "test_loss": last["test_loss"],
                    "test_acc": last["test_acc"],
                    "s_per_epoch": history["seconds"].mean(),
                    "images_per_s": history["images_per_s"].mean(),
                }
            )
            runs.setdefault(label, []).append(history)
    return pd.DataFrame(rows), runs


#: The budgets of the lessons' experiments: experiment → mode → plan. "smoke" is the quick check
#: (any device), "cuda" a GPU run, "cpu" the committed run on a CPU (also used on MPS).
PLANS: dict[str, dict[str, dict]] = {
    "lrn": {  # lesson 04: none / LRN / BatchNorm in blocks 1 and 2
        "smoke": dict(model="mini_alexnet", size=28, limit=(256, 256), batch=32, epochs=1,
                      seeds=(0,), optimizer="adamw", lr=1e-3),
        "cuda": dict(model="d2l", size=224, limit=None, batch=128, epochs=5, seeds=(0, 1, 2),
                     optimizer="sgd", lr=0.01),
        "cpu": dict(model="mini_alexnet", size=28, limit=(768, 1000), batch=32, epochs=2,
                    seeds=(0, 1), optimizer="adamw", lr=1e-3),
    },
    "dropout": {  # lesson 05: small_cnn with and without dropout, trained to overfit
        "smoke": dict(limit=(128, 256), epochs=2, seeds=(0,)),
        "cuda": dict(limit=(2000, 1000), epochs=40, seeds=(0, 1, 2)),
        "cpu": dict(limit=(512, 1000), epochs=15, seeds=(0,)),
    },
    "relu": {  # lesson 06: steps to 25% training error, ReLU vs tanh (log every `every` steps)
        "smoke": dict(limit=(512, 64), batch=32, every=2, logs=10, seeds=(0,)),
        "cuda": dict(limit=None, batch=128, every=5, logs=100, seeds=(0, 1, 2, 3, 4)),
        "cpu": dict(limit=(None, 64), batch=32, every=4, logs=40, seeds=(0, 1, 2)),  # all train
    },
    "pooling": {  # lesson 06: max-pool 3/2 vs 2/2
        "smoke": dict(limit=(256, 256), epochs=1, seeds=(0,)),
        "cuda": dict(limit=None, epochs=10, seeds=(0, 1, 2)),
        "cpu": dict(limit=(1024, 1000), epochs=3, seeds=(0, 1, 2)),
    },
}  # fmt: skip


def plan(name: str, smoke: bool, device_type: str) -> dict:
    """The budget of one lesson experiment, a copy of its entry in :data:`PLANS`: the smoke plan
    in smoke mode on any device, else the CUDA plan on a GPU and the CPU plan anywhere else.

    Args:
        name: ``"lrn"`` (lesson 04), ``"dropout"`` (05), ``"relu"`` or ``"pooling"`` (06).
        smoke: ``env.smoke``.
        device_type: ``env.device.type`` (``"cuda"``, ``"cpu"``, ``"mps"``, …).

    Example:
        >>> plan("dropout", smoke=False, device_type="cpu")
        {'limit': (512, 1000), 'epochs': 15, 'seeds': (0,)}
    """
    if name not in PLANS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(PLANS)}")
    mode = "smoke" if smoke else ("cuda" if device_type == "cuda" else "cpu")
    return dict(PLANS[name][mode])


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


def _dataset_size(loader: object) -> int:
    size = getattr(loader, "dataset_size", None)
    return int(size) if size is not None else len(loader.dataset)  # type: ignore[attr-defined]


def describe_run(
    plan: dict, train_loader: object, test_loader: object = None, what: str = ""
) -> str:
    """One line saying what an experiment ran on: images, batch, seeds, budget, model, ``what``.

    Loaders are :class:`~alexnet_lesson.data.DeviceLoader` (``dataset_size``) or anything with
    a ``dataset``; ``plan`` is a :func:`plan` dict (``epochs``, or ``logs`` × ``every`` steps;
    ``model`` and ``size`` where it names them).

    Example:
        >>> from types import SimpleNamespace as Loader
        >>> p = {"limit": (512, 1000), "epochs": 15, "seeds": (0,)}
        >>> describe_run(p, Loader(dataset_size=512), Loader(dataset_size=1000), "small_cnn")
        'train on 512 images, test on 1000; seeds [0]; 15 epoch(s); small_cnn'
    """
    images = f"train on {_dataset_size(train_loader)} images"
    if test_loader is not None:
        images += f", test on {_dataset_size(test_loader)}"
    parts = [images]
    if "batch" in plan:
        parts.append(f"batch {plan['batch']}")
    parts.append(f"seeds {list(plan['seeds'])}")
    if "epochs" in plan:
        parts.append(f"{plan['epochs']} epoch(s)")
    if "logs" in plan:
        parts.append(f"{plan['logs']} logs every {plan['every']} steps")
    if "model" in plan:
        parts.append(f"{plan['model']} at {plan['size']} px" if "size" in plan else plan["model"])
    if what:
        parts.append(what)
    return "; ".join(parts)


def noise_verdict(
    summary: pd.DataFrame,
    baseline: str = "none",
    others: tuple[str, ...] = ("lrn", "batchnorm"),
    seeds: int | None = None,
    metric: str = "test_acc",
    time: str | None = "s_per_epoch",
) -> str:
    """Markdown bullets: is each model's gain over ``baseline`` larger than the seed-to-seed noise?

    ``summary`` comes from :func:`summarise_runs` (mean, std and count of ``metric`` and ``time``
    per model). A gap smaller than twice the larger of the two standard deviations is "within
    noise"; with one seed (``seeds``, by default the smallest count) there is no measure of noise.

    Example:
        >>> r = pd.DataFrame({"label": ["none", "none", "lrn", "lrn"], "test_acc": [0.80, 0.82, 0.81, 0.83]})
        >>> noise_verdict(summarise_runs(r, "label", ["test_acc"]), others=("lrn",), time=None)
        '* **lrn** vs none: test accuracy +0.010 (noise band ±0.028): **within noise**.'
    """
    single = not isinstance(summary.columns, pd.MultiIndex)
    acc = summary if single else summary[metric]
    if seeds is None:
        seeds = int(acc["count"].min())
    lines = []
    for name in others:
        gap = acc["mean"][name] - acc["mean"][baseline]
        line = f"* **{name}** vs {baseline}: test accuracy {gap:+.3f}"
        if seeds < 2:
            line += ": one seed gives no measure of noise, so no conclusion"
        else:
            band = 2 * max(acc["std"][name], acc["std"][baseline])
            verdict = "**within noise**" if abs(gap) < band else "larger than the noise"
            line += f" (noise band ±{band:.3f}): {verdict}"
        if time is not None and not single:
            slow = summary[time]["mean"]
            line += f"; an epoch took {slow[name] / slow[baseline]:.2f}× as long"
        lines.append(line + ".")
    return "\n".join(lines)
