"""The small controlled experiments of lessons 04–06: a four-layer CNN that trains in seconds on a
CPU (the paper's ReLU comparison, §3.1 and Figure 1, used a four-layer CNN on CIFAR-10), builders
for each arm of an experiment, training every arm over several seeds with one recipe
(:func:`compare`), and the one rule by which the three lessons judge a difference.

The rule (:data:`RULE`, :func:`paired_t_test`): every arm is trained with the same seeds, and a
seed gives both arms the same initial weights and batches, so the runs come in pairs. For each
seed take the difference between the two arms; over the n seeds, the 95% confidence interval of
the mean difference is mean ± t(0.975, n − 1) · sd / √n, with t from Student's t distribution.
An interval that excludes 0 is an effect (its sign says which way); one that includes 0 is a
null result: this experiment cannot tell the arms apart, and the interval says how large an
effect it could have missed.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterable

import pandas as pd
import torch
from torch import nn

from alexnet_lesson.config import DataConfig, ModelConfig, Recipe, RunConfig
from alexnet_lesson.data import DeviceLoader, FashionMNISTFiles, Images, splits
from alexnet_lesson.report import Report
from alexnet_lesson.train import fit, loss_and_accuracy

__all__ = [
    "RULE",
    "small_cnn",
    "cnn_builder",
    "experiment_loaders",
    "compare",
    "compare_recipes",
    "per_seed",
    "with_spread",
    "t_quantile",
    "paired_t_test",
    "sign_test",
    "verdicts",
]

RULE = (
    "paired over seeds: the per-seed difference between two arms; its mean ± t(0.975, n − 1) · "
    "sd / √n is the 95% confidence interval; an effect if the interval excludes 0, else null"
)

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def small_cnn(
    activation: str = "relu",
    pool: tuple[int, ...] = (2, 2),
    dropout: float = 0.0,
    hidden: int = 128,
    widths: tuple[int, int] = (32, 64),
    size: int = 28,
    seed: int | None = 0,
) -> nn.Sequential:
    """A four-layer CNN for 28×28 images (two 5×5 convolutions, two fully connected layers), cheap
    enough on a CPU for the ReLU-vs-tanh (§3.1), pooling (§3.4) and dropout (§4.2) experiments.

    Args:
        activation: ``"relu"``, ``"tanh"`` or ``"sigmoid"`` after every hidden layer.
        pool: (window, stride) or (window, stride, padding) of both max-pools: (3, 2) overlaps as
            in the paper, (2, 2) does not. On 28×28 inputs (3, 2, 1) gives the same map sizes as
            (2, 2), 28 → 14 → 7, so the two differ in overlap only (same ``fc1``, same weights).
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
    z, s, pad = (*pool, 0)[:3]
    features = [
        ("conv1", nn.Conv2d(1, widths[0], 5, padding=2)), ("act1", act()),
        ("pool1", nn.MaxPool2d(z, s, pad)),
        ("conv2", nn.Conv2d(widths[0], widths[1], 5, padding=2)), ("act2", act()),
        ("pool2", nn.MaxPool2d(z, s, pad)),
        ("flatten", nn.Flatten()),
    ]  # fmt: skip
    with torch.no_grad():
        probe = torch.zeros(1, 1, size, size)
        flat = nn.Sequential(OrderedDict(features))(probe).shape[1]
    head = [("fc1", nn.Linear(flat, hidden)), ("act3", act())]
    if dropout > 0:
        head.append(("drop", nn.Dropout(dropout)))
    head.append(("fc2", nn.Linear(hidden, 10)))  # Fashion-MNIST's ten classes
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


def experiment_loaders(
    files: FashionMNISTFiles,
    train_images: int | None,
    batch_size: int = 64,
    size: int = 28,
    device: str | torch.device = "cpu",
    augment: bool = False,
    val_images: int | None = None,
) -> tuple[DeviceLoader, DeviceLoader]:
    """Training and validation loaders for a small experiment: the first ``train_images`` of
    the training part of :func:`~alexnet_lesson.data.splits` (None: all of it), and the first
    ``val_images`` of its validation part (None: all of it), the same held-out images every
    lesson uses. The test set is not read.

    Both are normalised with the statistics of the whole training part, so an experiment's
    subset does not change what the network sees for a given image. ``augment``: random shifts
    and flips of the training batches (:class:`~alexnet_lesson.data.DeviceLoader`).

    Example:
        >>> from alexnet_lesson.data import write_synthetic
        >>> train, val = experiment_loaders(write_synthetic(tempfile.mkdtemp(), 40, 10), 16, batch_size=8)
        >>> len(train.images), len(val.images)
        (16, 4)
        >>> len(experiment_loaders(write_synthetic(tempfile.mkdtemp(), 40, 10), 16, val_images=2)[1].images)
        2
    """
    config = DataConfig(size=size, augment=augment, limit=(None, 0))
    parts = splits(files, config, batch_size, device)
    whole = parts.train
    train = _first(whole, train_images)
    if val_images is None:
        return DeviceLoader(train, config, batch_size, whole.device, train=True), parts.val
    val = DeviceLoader(_first(parts.val, val_images), config, batch_size, whole.device, train=False)
    return DeviceLoader(train, config, batch_size, whole.device, train=True), val


def _first(loader: DeviceLoader, n: int | None) -> Images:
    """The first ``n`` images of a loader's part (None: all), with its normalisation."""
    n = len(loader.images) if n is None else n
    return Images(loader.images[:n], loader.labels[:n], loader.mean, loader.std)


def _last_epoch(history: pd.DataFrame) -> dict:
    """The last epoch's losses and accuracies, and the mean time and speed over the epochs."""
    last = history.iloc[-1]
    return {
        "epochs": int(last["epoch"]),
        **{k: last[k] for k in ("train_loss", "train_acc", "val_loss", "val_acc")},
        "s_per_epoch": history["seconds"].mean(),
        "images_per_s": history["images_per_s"].mean(),
    }


def compare(
    builders: dict[str, Callable[[int], nn.Module]],
    train_loader: Iterable,
    val_loader: Iterable | None,
    recipe: Recipe,
    seeds: Iterable[int] = (0,),
    device: str | torch.device | None = None,
    eval_train: bool = False,
) -> tuple[pd.DataFrame, dict]:
    """Train one model per (label, seed) with :func:`alexnet_lesson.train.fit`: same data, same recipe.

    Args:
        builders: label → function ``seed -> model`` (the seed sets the initial weights).
        recipe: the hyperparameters of every run. Each run's :class:`~alexnet_lesson.config.RunConfig`
            holds ``recipe``, the training loader's data configuration and the seed, so the
            seed also decides the order of the batches, the augmentation draws and the dropout
            masks: two seeds differ in all four, and one seed repeats them.
        val_loader: held-out images (a validation split, never the test set) measured after
            every epoch in eval mode; may be None.
        device: where the models train (default: where the builders put them); the loaders
            follow the model.
        eval_train: also measure each trained model on the training images in eval mode
            (column ``train_acc_eval``). ``train_acc`` is the running accuracy on the batches
            while training, in train mode (dropout on), so only ``train_acc_eval`` is
            comparable with ``val_acc``.

    Returns a table with one row per run (label, seed, last epoch's train and validation loss
    and accuracy, seconds per epoch, training images per second) and the histories as
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
    data = getattr(train_loader, "config", DataConfig())
    rows, runs = [], {}
    for label, build in builders.items():
        for seed in seeds:
            model = build(seed) if device is None else build(seed).to(device)
            config = RunConfig(ModelConfig(variant=None), data, recipe, seed)
            history = fit(model, train_loader, val_loader, config, report=quiet)
            rows.append({"label": label, "seed": seed, **_last_epoch(history)})
            if eval_train:
                rows[-1]["train_acc_eval"] = loss_and_accuracy(model, train_loader)[1]
            runs.setdefault(label, []).append(history)
    return pd.DataFrame(rows), runs


def compare_recipes(
    build: Callable[[int], nn.Module],
    arms: dict[str, tuple[Recipe, Iterable]],
    val_loader: Iterable,
    seeds: Iterable[int] = (0,),
) -> pd.DataFrame:
    """One factor at a time: the same model (``build(seed)``) trained under each arm's recipe and
    training loader (label → ``(recipe, train_loader)``; a loader without augmentation is an
    arm too), every arm with the same seeds, judged on ``val_loader``.

    Returns one row per (label, seed) like :func:`compare`, ready for :func:`per_seed` and
    :func:`paired_t_test`.

    Example:
        >>> x = torch.randn(32, 1, 4, 4); y = (x.mean((1, 2, 3)) > 0).long()
        >>> make = lambda seed: nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
        >>> base = Recipe(epochs=2, lr=0.1, batch_size=32, schedule="constant")
        >>> arms = {"base": (base, [(x, y)]), "lr 0.5": (base.replace(lr=0.5), [(x, y)])}
        >>> compare_recipes(make, arms, [(x, y)], seeds=[0, 1]).label.tolist()
        ['base', 'base', 'lr 0.5', 'lr 0.5']
    """
    tables = [
        compare({label: build}, train, val_loader, recipe, seeds)[0]
        for label, (recipe, train) in arms.items()
    ]
    return pd.concat(tables, ignore_index=True)


def per_seed(results: pd.DataFrame, metric: str, by: str = "label") -> pd.DataFrame:
    """One row per seed, one column per arm: the values :func:`paired_t_test` pairs up.

    Example:
        >>> r = pd.DataFrame({"label": ["a", "b", "a", "b"], "seed": [0, 0, 1, 1], "acc": [.5, .6, .7, .9]})
        >>> per_seed(r, "acc").values.tolist()
        [[0.5, 0.6], [0.7, 0.9]]
    """
    arms = list(dict.fromkeys(results[by]))
    return results.pivot(index="seed", columns=by, values=metric)[arms].rename_axis(columns=None)


def with_spread(table: pd.DataFrame) -> pd.DataFrame:
    """A :func:`per_seed` table with two more rows: the mean and the standard deviation
    (n − 1 in the denominator) over the seeds of each column.

    Example:
        >>> t = pd.DataFrame({"a": [0.5, 0.7], "b": [0.6, 0.9]})
        >>> with_spread(t).round(3).loc[["mean", "sd"]].values.tolist()
        [[0.6, 0.75], [0.141, 0.212]]
    """
    return pd.concat([table, table.mean().to_frame("mean").T, table.std().to_frame("sd").T])


def _t_cdf(t: float, df: int, steps: int = 2000) -> float:
    """Student's t distribution function, by Simpson's rule on the density from 0 to ``t``."""
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def density(x: float) -> float:
        return math.exp(log_c - (df + 1) / 2 * math.log1p(x * x / df))

    h = abs(t) / steps
    inner = sum((4 if i % 2 else 2) * density(i * h) for i in range(1, steps))
    area = h / 3 * (density(0.0) + inner + density(abs(t)))
    return 0.5 + math.copysign(area, t)


def t_quantile(q: float, df: int) -> float:
    """The ``q`` quantile of Student's t distribution with ``df`` degrees of freedom (bisection
    on :func:`_t_cdf`; no SciPy needed): the t in mean ± t · sd / √n.

    Example:
        >>> round(t_quantile(0.975, 4), 3), round(t_quantile(0.975, 9), 3)  # tables: 2.776, 2.262
        (2.776, 2.262)
    """
    if not 0 < q < 1 or df < 1:
        raise ValueError(f"need 0 < q < 1 and df >= 1, got q={q}, df={df}")
    lo, hi = -1e3, 1e3
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _t_cdf(mid, df) < q else (lo, mid)
    return (lo + hi) / 2


def paired_t_test(
    table: pd.DataFrame, baseline: str, others: Iterable[str] | None = None, level: float = 0.95
) -> pd.DataFrame:
    """The lessons' one rule (:data:`RULE`): each arm against ``baseline``, paired by seed.

    ``table`` has one row per seed and one column per arm (:func:`per_seed`); a seed missing a
    value in either arm (NaN) is left out of that pair. Columns: ``seeds`` (pairs used),
    ``higher on`` and ``lower on`` (seeds where the arm is above or below the baseline),
    ``mean difference`` (arm − baseline), ``sd of differences``, ``ci low`` and ``ci high``
    (the ``level`` confidence interval of the mean difference from the t distribution) and
    ``verdict``: ``"effect: higher"`` or ``"effect: lower"`` when the interval excludes 0,
    ``"null"`` when it does not, ``"too few seeds"`` with fewer than 2 pairs.

    Example:
        >>> t = pd.DataFrame({"none": [0.80, 0.82, 0.81], "lrn": [0.83, 0.84, 0.84]})
        >>> r = paired_t_test(t, "none")
        >>> r.round(4)[["seeds", "mean difference", "ci low", "ci high", "verdict"]].values.tolist()
        [[3, 0.0267, 0.0123, 0.041, 'effect: higher']]
    """
    others = [c for c in table.columns if c != baseline] if others is None else list(others)
    rows = {}
    for arm in others:
        diff = (table[arm] - table[baseline]).dropna()
        n = len(diff)
        mean = diff.mean() if n else float("nan")
        sd = diff.std() if n > 1 else float("nan")
        half = t_quantile(0.5 + level / 2, n - 1) * sd / math.sqrt(n) if n > 1 else float("nan")
        if n < 2:
            verdict = "too few seeds"
        elif mean - half > 0:
            verdict = "effect: higher"
        elif mean + half < 0:
            verdict = "effect: lower"
        else:
            verdict = "null"
        rows[arm] = {
            "seeds": n,
            "higher on": int((diff > 0).sum()),
            "lower on": int((diff < 0).sum()),
            "mean difference": mean,
            "sd of differences": sd,
            "ci low": mean - half,
            "ci high": mean + half,
            "verdict": verdict,
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(f"vs {baseline}")


def sign_test(
    table: pd.DataFrame, baseline: str, others: Iterable[str] | None = None, level: float = 0.95
) -> pd.DataFrame:
    """The rule for a measure with ties (a count of steps, say): each arm against ``baseline``,
    paired by seed, by the exact two-sided sign test.

    Only the signs of the per-seed differences count: ``higher`` and ``lower`` seeds, ``ties``
    left out. Under "no difference" each untied seed is higher or lower with probability 1/2, so
    ``p`` is the binomial probability of a split at least as uneven as the one seen, both ways.
    ``verdict`` is an effect when ``p < 1 − level``, else null. With m untied seeds the smallest
    possible p is 2/2^m (``smallest p``): with 5 or fewer the test cannot find an effect at all.
    A value may be ``inf`` (a run that never reached a target takes more steps than any that
    did): only its sign counts. A seed with NaN in either arm, or ``inf`` in both, is left out.

    Example:
        >>> t = pd.DataFrame({"relu": [8, 9, 8, 8, 9, 8], "tanh": [9, 9, 10, 9, 10, 9]})
        >>> sign_test(t, "relu")[["higher", "lower", "ties", "p", "verdict"]].values.tolist()
        [[5, 0, 1, 0.0625, 'null']]
    """
    others = [c for c in table.columns if c != baseline] if others is None else list(others)
    rows = {}
    for arm in others:
        diff = (table[arm] - table[baseline]).dropna()  # inf − inf is NaN: left out too
        higher, lower = int((diff > 0).sum()), int((diff < 0).sum())
        m = higher + lower
        tail = sum(math.comb(m, k) for k in range(min(higher, lower) + 1)) / 2**m
        p = min(1.0, 2 * tail)
        if p < 1 - level:
            verdict = "effect: higher" if higher > lower else "effect: lower"
        else:
            verdict = "null"
        rows[arm] = {
            "seeds": len(diff),
            "higher": higher,
            "lower": lower,
            "ties": len(diff) - m,
            "p": p,
            "smallest p": min(1.0, 2 / 2**m),
            "verdict": verdict,
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(f"vs {baseline}")


def _signed(x: float, digits: int) -> str:
    return f"{x:+.{digits}f}".replace("-", "−")


def verdicts(tests: pd.DataFrame, measure: str, digits: int = 3, level: float = 0.95) -> str:
    """The verdict sentences of a :func:`paired_t_test` or :func:`sign_test` table, written from
    the table itself (Markdown, one bullet per arm), so that they say what this run found on
    any device, plan or seed. ``level`` is the one the table was made with.

    Example:
        >>> t = pd.DataFrame({"none": [0.80, 0.82, 0.81], "lrn": [0.83, 0.84, 0.84]})
        >>> print(verdicts(paired_t_test(t, "none"), "validation accuracy"))
        * **lrn − none**, validation accuracy: mean difference +0.027 over 3 seeds (higher on 3 seeds, lower on 0), 95% interval +0.012 to +0.041, entirely above 0. Verdict: **an effect**, lrn is higher than none.
    """
    baseline = tests.index.name.removeprefix("vs ")
    lines = []
    for arm, row in tests.iterrows():
        head = f"* **{arm} − {baseline}**, {measure}: "
        if row["verdict"] == "too few seeds":
            lines.append(head + f"only {row['seeds']} paired seed(s): **no verdict**.")
            continue
        if "p" in row:  # a sign test
            said = (
                f"higher on {_seeds(row['higher'])}, lower on {row['lower']}, equal on "
                f"{row['ties']}; exact two-sided sign test p = {row['p']:.3f}"
            )
            untied = row["higher"] + row["lower"]
            if row["verdict"] == "null" and row["smallest p"] >= 1 - level:
                said += f" (with {untied} untied seed{'' if untied == 1 else 's'} p cannot go "
                said += f"below {row['smallest p']:.3f}, so no split could have been an effect)"
        else:
            lo, hi = row["ci low"], row["ci high"]
            where = {"null": "which contains 0", "effect: higher": "entirely above 0",
                     "effect: lower": "entirely below 0"}[row["verdict"]]  # fmt: skip
            said = (
                f"mean difference {_signed(row['mean difference'], digits)} over {row['seeds']} "
                f"seeds ({_direction_counts(row)}), {100 * level:.0f}% interval {_signed(lo, digits)} to "
                f"{_signed(hi, digits)}, {where}"
            )
        if row["verdict"] == "null":
            outcome = "**null**, this experiment cannot tell the two apart"
        else:
            way = "higher" if row["verdict"] == "effect: higher" else "lower"
            outcome = f"**an effect**, {arm} is {way} than {baseline}"
        lines.append(f"{head}{said}. Verdict: {outcome}.")
    return "\n".join(lines)


def _seeds(n: int) -> str:
    return f"{n} seed" if n == 1 else f"{n} seeds"


def _direction_counts(row: pd.Series) -> str:
    return f"higher on {_seeds(row['higher on'])}, lower on {row['lower on']}"
