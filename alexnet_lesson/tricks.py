"""The paper's tricks written out for reading: LRN (§3.3), dropout (§4.2), ReLU (§3.1), pooling (§3.4).

Each from-scratch function is the plain version of something PyTorch already has, so that a lesson
can put the two side by side; the model builders make the small controlled experiments of
lessons 04–06 (the d2l AlexNet with LRN or BatchNorm, a four-layer CNN at 28×28).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import pandas as pd
import torch
import torch.nn.functional as F
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
from alexnet_lesson.shapes import conv_out
from alexnet_lesson.train import fit

# --------------------------------------------------------------------------- §3.3 LRN


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


# --------------------------------------------------------------------------- §4.2 dropout


def inverted_dropout(
    x: torch.Tensor, p: float = 0.5, training: bool = True, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Modern ("inverted") dropout: zero each value with probability p and divide the survivors
    by 1 − p while training, so that the expected value is unchanged; do nothing at test time.

    Example:
        >>> y = inverted_dropout(torch.ones(1000), 0.5, generator=torch.Generator().manual_seed(0))
        >>> sorted(set(y.tolist()))  # dropped, or kept and scaled by 1 / (1 - p)
        [0.0, 2.0]
        >>> inverted_dropout(torch.ones(4), 0.5, training=False)
        tensor([1., 1., 1., 1.])
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be between 0 and 1, got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return torch.zeros_like(x)
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= p
    return x * keep / (1.0 - p)


def paper_dropout(
    x: torch.Tensor, p: float = 0.5, training: bool = True, generator: torch.Generator | None = None
) -> torch.Tensor:
    """The paper's dropout (§4.2): zero with probability p while training, no rescaling; at test
    time keep every unit and multiply by 1 − p (×0.5 for p = 0.5).

    Example:
        >>> paper_dropout(torch.ones(3), 0.5, training=False)
        tensor([0.5000, 0.5000, 0.5000])
    """
    if not training:
        return x * (1.0 - p)
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= p
    return x * keep


def dropout_statistics(
    fn, x: torch.Tensor, p: float = 0.5, samples: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Mean output, fraction zeroed and value of the survivors of a dropout function over many draws.

    ``fn`` is called as ``fn(x, p, generator)``; for ``nn.Dropout`` pass
    ``lambda x, p, g: torch.nn.functional.dropout(x, p, training=True)`` (it uses the global RNG,
    which is seeded here too).

    Example:
        >>> s = dropout_statistics(inverted_dropout, torch.ones(100), 0.5, samples=200)
        >>> round(s["mean"], 1), round(s["survivor value"], 1)
        (1.0, 2.0)
    """
    torch.manual_seed(seed)
    g = torch.Generator(device=x.device).manual_seed(seed)
    out = torch.stack([fn(x, p, g) for _ in range(samples)])
    zero = out == 0
    return {
        "mean": out.mean().item(),
        "input mean": x.mean().item(),
        "fraction zeroed": zero.double().mean().item(),
        "survivor value": (out[~zero] / x.expand_as(out)[~zero]).mean().item()
        if (~zero).any()
        else float("nan"),
    }


class ScratchDropout(nn.Module):
    """:func:`inverted_dropout` as a layer that follows ``model.train()`` / ``model.eval()``.

    Example:
        >>> layer = ScratchDropout(0.5).eval()
        >>> layer(torch.ones(3))
        tensor([1., 1., 1.])
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return inverted_dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class DropoutPitfallNet(nn.Module):
    """A two-layer MLP that calls ``F.dropout`` inside ``forward``.

    With ``fixed=False`` it writes ``F.dropout(h, p)``, whose ``training`` argument defaults to
    True, so dropout stays on after ``model.eval()``; ``fixed=True`` passes
    ``training=self.training``.

    Example:
        >>> net = DropoutPitfallNet(fixed=True, seed=0).eval()
        >>> x = torch.ones(1, 8)
        >>> torch.equal(net(x), net(x))
        True
    """

    def __init__(
        self, fixed: bool = False, p: float = 0.5, sizes=(8, 64, 3), seed: int = 0
    ) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.fc1, self.fc2 = nn.Linear(sizes[0], sizes[1]), nn.Linear(sizes[1], sizes[2])
        self.fixed, self.p = fixed, p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.fc1(x))
        if self.fixed:
            h = F.dropout(h, self.p, training=self.training)
        else:
            h = F.dropout(h, self.p)  # the pitfall: training defaults to True
        return self.fc2(h)


# --------------------------------------------------------------------------- §3.1 activations


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


# --------------------------------------------------------------------------- d2l AlexNet + norm

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


# --------------------------------------------------------------------------- experiment helpers


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


# --------------------------------------------------------------------------- experiment plans

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


# --------------------------------------------------------------------------- result tables


def dropout_table(
    versions: dict[str, Callable],
    x: torch.Tensor,
    p: float = 0.5,
    samples: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`dropout_statistics` of several dropout functions, one row per version.

    Example:
        >>> t = dropout_table({"inverted": inverted_dropout, "paper": paper_dropout}, torch.ones(100))
        >>> t["mean"].round(1).to_dict()
        {'inverted': 1.0, 'paper': 0.5}
    """
    return pd.DataFrame(
        {
            name: dropout_statistics(fn, x, p, samples=samples, seed=seed)
            for name, fn in versions.items()
        }
    ).T


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


def dropout_verdict(
    results: pd.DataFrame, train_images: int, baseline: str = "p = 0.0", dropout: str = "p = 0.5"
) -> str:
    """Lesson 05's conclusion: the train − test accuracy gap and the test accuracy, mean over the
    seeds of each model, from a :func:`compare` table (one row per model and seed).

    Example:
        >>> r = pd.DataFrame({"label": ["p = 0.0", "p = 0.5"], "seed": [0, 0], "epochs": [15, 15],
        ...                   "train_acc": [0.99, 0.90], "test_acc": [0.80, 0.82]})
        >>> print(dropout_verdict(r, 512))
        After 15 epochs the gap between training and test accuracy is 0.190 without dropout and 0.080 with it; test accuracy 0.800 versus 0.820 (1 seed(s), 512 training images). With a single seed, a test-accuracy difference of a point or two can be noise.
    """
    gaps = (results["train_acc"] - results["test_acc"]).groupby(results["label"]).mean()
    tests = results.groupby("label")["test_acc"].mean()
    seeds = int(results.groupby("label").size().min())
    text = (
        f"After {int(results['epochs'].max())} epochs the gap between training and test accuracy "
        f"is {gaps[baseline]:.3f} without dropout and {gaps[dropout]:.3f} with it; test accuracy "
        f"{tests[baseline]:.3f} versus {tests[dropout]:.3f} "
        f"({seeds} seed(s), {train_images} training images)."
    )
    if seeds < 2:
        text += " With a single seed, a test-accuracy difference of a point or two can be noise."
    return text


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
