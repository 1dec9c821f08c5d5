"""The paper's two-GPU split, re-enacted (lesson 09): two processes, one tower of the network each.

The paper (§3.2, Figure 2) puts half of every layer's kernels on each of two GTX 580 GPUs; "the
GPUs communicate only in certain layers": conv3 and the fully connected layers read the outputs
of both GPUs, while conv2, conv4 and conv5 read only the kernel maps on their own GPU. LRN
(§3.3) is not one of the layers that communicate, so it normalises over neighbouring kernel maps
*on the same GPU*: one ``nn.LocalResponseNorm`` over all 96 channels of conv1 is a different
network at the boundary between the towers (:func:`lrn_boundary`).

* :func:`paper_twin`: the whole network in one process with the paper's connectivity (``groups=2``
  and :class:`TowerLRN`), optionally narrowed to a fraction of the widths for quick runs;
* :func:`tower_of`: one tower of a twin, with its weights, and an :class:`Exchange` wherever
  Figure 2 has the GPUs talk (:func:`exchange_points`);
* :func:`tower_table` and :func:`plot_two_towers`: what each GPU holds of each layer and where
  the GPUs exchange data, read from a model's layers and drawn as Figure 2 (lesson 01);
* ``python -m alexnet_lesson.tower_split`` (under ``torchrun --nproc-per-node 2``): every process
  runs its tower forward and backward and saves what it computed; :func:`compare_with_twin` puts
  the towers' results side by side with the twin's.

The exchanges are differentiable: in the backward pass each one sums, over the processes, the
gradient every process's copy of the loss sends to each slice (:class:`Exchange`). The same code
runs on CPUs with the gloo backend and on GPUs with NCCL.
"""

from __future__ import annotations

import argparse
import json
from collections import OrderedDict
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import torch
import torch.distributed as dist
import torch.nn.functional as F
from matplotlib.patches import FancyArrowPatch, Patch, Rectangle
from torch import nn

from alexnet_lesson import distributed
from alexnet_lesson.env import eval_mode
from alexnet_lesson.models import (
    INITS,
    LRN_ALPHA,
    LRN_BETA,
    LRN_K,
    LRN_N,
    AlexNet,
    alexnet,
    paper_lrn,
)
from alexnet_lesson.shapes import trace

__all__ = [
    "lrn_of_size",
    "TowerLRN",
    "Exchange",
    "Tower",
    "paper_twin",
    "lrn_boundary",
    "exchange_points",
    "tower_of",
    "tower_table",
    "plot_two_towers",
    "example_batch",
    "twin_step",
    "tower_step",
    "compare_with_twin",
    "exchange_table",
    "main",
]

TOWERS = 2  # §3.2: two GPUs


def lrn_of_size(size: int = LRN_N) -> nn.LocalResponseNorm:
    """The paper's LRN (§3.3) with a window of ``size`` channels instead of n = 5, the other
    constants kept (PyTorch divides ``alpha`` by ``size``, so it gets α · ``size``).

    Example:
        >>> lrn_of_size(3).size, round(lrn_of_size(3).alpha, 8)
        (3, 0.0003)
    """
    if size == LRN_N:
        return paper_lrn()
    return nn.LocalResponseNorm(size, alpha=LRN_ALPHA * size, beta=LRN_BETA, k=LRN_K)


class TowerLRN(nn.Module):
    """The paper's LRN (§3.3) applied to each tower's channels separately, as each GPU computed it.

    Example:
        >>> x = torch.rand(1, 8, 2, 2)
        >>> torch.equal(TowerLRN(2)(x)[:, :4], paper_lrn()(x[:, :4]))
        True
    """

    def __init__(self, towers: int = TOWERS, size: int = LRN_N) -> None:
        super().__init__()
        self.towers = towers
        self.lrn = lrn_of_size(size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.lrn(part) for part in x.chunk(self.towers, dim=1)], dim=1)

    def extra_repr(self) -> str:
        return f"towers={self.towers}"


class _AllGather(torch.autograd.Function):
    """Forward: every process's tensor, concatenated along ``dim`` in rank order. Backward: every
    process's loss depends on every slice, so the gradients of all processes are added up
    (all-reduce) and each process keeps the slice that belongs to its own input."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, dim: int) -> torch.Tensor:  # type: ignore[override]
        ctx.dim = dim
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts, dim=dim)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad.chunk(dist.get_world_size(), dim=ctx.dim)[dist.get_rank()], None


class Exchange(nn.Module):
    """Where the GPUs talk: gather every tower's activations along the channel axis (dim 1).

    Needs ``torch.distributed`` to be initialised (one process per tower); differentiable.

    Example:
        >>> Exchange()
        Exchange(all towers' channels, concatenated)
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not dist.is_initialized():
            raise RuntimeError(
                "an Exchange needs one process per tower: launch with torchrun (see "
                "alexnet_lesson.distributed.launch)"
            )
        return _AllGather.apply(x, 1)

    def extra_repr(self) -> str:
        return "all towers' channels, concatenated"


class Tower(nn.Sequential):
    """One GPU's half of the network (:func:`tower_of`): its kernels, and the exchanges between them."""

    def __init__(self, layers: OrderedDict, rank: int, towers: int) -> None:
        super().__init__(layers)
        self.rank, self.towers = rank, towers


def _narrow(model: AlexNet, divisor: int) -> OrderedDict:
    """Every layer of ``model`` with ``1/divisor`` of its kernels and neurons (the image's channels
    and the classes stay): the same connectivity at a fraction of the width."""
    layers: OrderedDict = OrderedDict()
    children = list(model.named_children())
    weighted = [name for name, m in children if isinstance(m, nn.Conv2d | nn.Linear)]
    for name, m in children:
        keep_in, keep_out = name == weighted[0], name == weighted[-1]
        if isinstance(m, nn.Conv2d):
            c_in = m.in_channels if keep_in else m.in_channels // divisor
            layers[name] = nn.Conv2d(c_in, m.out_channels // divisor, m.kernel_size, m.stride,
                                     m.padding, groups=m.groups)  # fmt: skip
        elif isinstance(m, nn.Linear):
            n_out = m.out_features if keep_out else m.out_features // divisor
            layers[name] = nn.Linear(m.in_features // divisor, n_out)
        else:
            layers[name] = m
    return layers


def paper_twin(
    num_classes: int = 10, divisor: int = 1, seed: int = 0, init: str = "kaiming"
) -> AlexNet:
    """The paper's network in one process with the two-GPU connectivity: ``groups=2`` on conv2,
    conv4 and conv5 (as ``alexnet("paper")``), and :class:`TowerLRN` instead of one LRN over all
    channels. ``divisor`` narrows every layer to ``1/divisor`` of its kernels and neurons (8: 12,
    32, 48, 48, 32 kernels and 512 neurons), for runs that take seconds on a CPU.

    Example:
        >>> net = paper_twin(divisor=8)
        >>> net.conv2, net.lrn1.towers
        (Conv2d(12, 32, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2), groups=2), 2)
    """
    if 96 % (2 * TOWERS * divisor) or 4096 % (TOWERS * divisor):
        raise ValueError(f"divisor {divisor} does not split the layers evenly; use 1, 2, 4 or 8")
    with torch.device("meta"):  # the shapes only; the layers get their values below
        model = alexnet("paper", num_classes=num_classes, init="pytorch")
    layers = _narrow(model, divisor)
    for name in ("lrn1", "lrn2"):
        layers[name] = TowerLRN(TOWERS)
    variant = "paper" if divisor == 1 else f"paper/{divisor}"
    if seed is not None:
        torch.manual_seed(seed)
    twin = AlexNet(layers, variant, model.in_channels, model.input_size)
    return INITS[init](twin)  # type: ignore[return-value]


def lrn_boundary(
    channels: int = 96, towers: int = TOWERS, seed: int = 0, size: int = LRN_N
) -> pd.Series:
    """Per channel, the largest difference between one LRN over all ``channels`` and the paper's
    LRN per tower (:class:`TowerLRN`), on random non-negative activations (as after a ReLU);
    ``size`` is the LRN's window (the paper's n = 5).

    Example:
        >>> diff = lrn_boundary()
        >>> diff[diff > 0].index.tolist()
        [46, 47, 48, 49]
    """
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(4, channels, 5, 5, generator=g, dtype=torch.float64) * 20
    gap = (lrn_of_size(size)(a) - TowerLRN(towers, size)(a)).abs().amax(dim=(0, 2, 3))
    return pd.Series(gap.numpy(), index=pd.RangeIndex(channels, name="channel"), name="max |diff|")


def _reads_all_towers(name: str, layer: nn.Module, first: str, towers: int) -> bool:
    """Whether ``layer`` needs every tower's output: fully connected layers, and convolutions
    other than the first (which reads the image) whose kernels see every channel (groups=1)."""
    if isinstance(layer, nn.Linear):
        return True
    if isinstance(layer, nn.Conv2d) and name != first:
        if layer.groups not in (1, towers):
            raise ValueError(
                f"{name} has groups={layer.groups}: it splits over neither 1 nor {towers}"
            )
        return layer.groups == 1
    return False


def exchange_points(twin: nn.Module, towers: int = TOWERS) -> list[str]:
    """The layers whose input is gathered from every tower, then ``"logits"`` (the gathered output).

    Example:
        >>> exchange_points(paper_twin(divisor=8))
        ['conv3', 'fc6', 'fc7', 'fc8', 'logits']
    """
    children = list(twin.named_children())
    first = next(n for n, m in children if isinstance(m, nn.Conv2d))
    return [n for n, m in children if _reads_all_towers(n, m, first, towers)] + ["logits"]


def _tower_layer(layer: nn.Module, rank: int, towers: int, name: str) -> nn.Module:
    """Tower ``rank``'s part of one layer of the twin, holding that part of its weights."""
    if isinstance(layer, nn.LocalResponseNorm):
        raise ValueError(
            f"{name} normalises over all {towers} towers' channels at once, so no GPU of the paper "
            "could compute it alone; build the twin with TowerLRN (paper_twin)"
        )
    if isinstance(layer, TowerLRN):
        return paper_lrn()
    if not isinstance(layer, nn.Conv2d | nn.Linear):
        return layer
    rows = layer.weight.shape[0] // towers
    w = layer.weight.detach()[rank * rows : (rank + 1) * rows]
    if isinstance(layer, nn.Conv2d):
        # a grouped kernel already reads only its own tower's channels: w.shape[1] of them
        part = nn.Conv2d(w.shape[1], rows, layer.kernel_size, layer.stride, layer.padding)
    else:
        part = nn.Linear(w.shape[1], rows)
    part = part.to(w.device, w.dtype)
    with torch.no_grad():
        part.weight.copy_(w)
        part.bias.copy_(layer.bias.detach()[rank * rows : (rank + 1) * rows])
    return part


def tower_of(twin: nn.Module, rank: int, towers: int = TOWERS) -> Tower:
    """Tower ``rank`` of ``twin``: its share of every layer's kernels and neurons (in channel
    order: tower 0 the first half), with an :class:`Exchange` before each layer that reads every
    tower and after the last (the logits). The layers keep the twin's names.

    Example:
        >>> tower = tower_of(paper_twin(divisor=8), rank=1)
        >>> tower.conv1.out_channels, tower.conv3.in_channels, tower.conv3.out_channels
        (6, 32, 24)
    """
    children = list(twin.named_children())
    gathered = set(exchange_points(twin, towers))
    layers: OrderedDict = OrderedDict()
    for name, layer in children:
        if name in gathered:
            layers[f"exchange_{name}"] = Exchange()
        layers[name] = _tower_layer(layer, rank, towers, name)
    layers["exchange_logits"] = Exchange()
    return Tower(layers, rank, towers)


def _per_tower(out: tuple[int, ...], towers: int, name: str) -> str:
    if out[0] % towers:
        raise ValueError(f"{name} has {out[0]} channels or units: they do not split over {towers}")
    return "×".join(map(str, (out[0] // towers, *out[1:])))


def _input_shape(model: nn.Module, shape: tuple[int, int, int] | None) -> tuple[int, int, int]:
    """``shape``, or the design input (C, H, W) of an AlexNet variant."""
    if shape is not None:
        return shape
    if not isinstance(model, AlexNet):
        raise ValueError("pass shape=(C, H, W) for a model that is not an AlexNet variant")
    return (model.in_channels, model.input_size, model.input_size)


def tower_table(
    model: nn.Module, shape: tuple[int, int, int] | None = None, towers: int = TOWERS
) -> pd.DataFrame:
    """One row per convolution or linear layer of ``model`` split over ``towers`` GPUs (§3.2).

    ``groups`` is read from the layer (linear layers have none: 1); ``reads`` is "the image" for
    the first convolution, "both towers" where the layer needs every tower's output (the rule of
    :func:`exchange_points`: a linear layer, or a later convolution with groups=1) and "own
    tower" otherwise. Shapes come from :func:`alexnet_lesson.shapes.trace`; ``then`` is the shape
    after the pooling that follows, where one does. ``shape`` (C, H, W) defaults to an AlexNet
    variant's design input.

    Example:
        >>> tower_table(paper_twin(divisor=8))[["layer", "groups", "reads"]].values.tolist()[:3]
        [['conv1', 1, 'the image'], ['conv2', 2, 'own tower'], ['conv3', 1, 'both towers']]
    """
    shape = _input_shape(model, shape)
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
    model: nn.Module,
    shape: tuple[int, int, int] | None = None,
    towers: int = TOWERS,
    figsize: tuple[float, float] = (12, 4.2),
) -> plt.Figure:
    """The paper's two-GPU layout (§3.2, Figure 2) drawn from ``model``'s layers (:func:`tower_table`).

    One box per layer and tower, with the tower's share of the layer's output (and of the pooling
    after it); grey arrows stay in a tower, red arrows cross to the other tower where a layer
    reads both. Boxes have gids ``"box:<layer>:<tower>"``, arrows ``"arrow:<layer>:<from>-><to>"``
    (from ``"image"`` for the first layer). ``shape`` as in :func:`tower_table`.

    Example:
        >>> fig = plot_two_towers(paper_twin(divisor=8))
        >>> sorted({p.get_gid().split(":")[1] for p in fig.axes[0].patches
        ...         if p.get_gid().startswith("arrow") and p.get_gid().endswith(("0->1", "1->0"))})
        ['conv3', 'fc6', 'fc7', 'fc8']
    """
    if towers != 2:
        raise ValueError("the drawing has room for two towers, as in the paper")
    shape = _input_shape(model, shape)
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


def example_batch(
    n: int = 4, num_classes: int = 10, size: int = 227, seed: int = 0, dtype=torch.float64
) -> tuple[torch.Tensor, torch.Tensor]:
    """A reproducible batch of random 3×size×size images and labels (the same in every process).

    Example:
        >>> x, y = example_batch(2, size=227); tuple(x.shape), y.tolist()
        ((2, 3, 227, 227), [7, 4])
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, size, size, generator=g, dtype=dtype)
    return x, torch.randint(0, num_classes, (n,), generator=g)


def twin_step(twin: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """Logits, loss and every parameter's gradient of one forward and backward pass, dropout off.

    Dropout's random masks would differ between the twin and the towers; everything else is the
    training computation. The gradients are of the mean cross-entropy over the batch.

    Example:
        >>> out = twin_step(nn.Linear(3, 2), torch.ones(1, 3), torch.tensor([0]))
        >>> sorted(out)
        ['bias', 'logits', 'loss', 'weight']
    """
    twin.zero_grad(set_to_none=True)
    with eval_mode(twin):
        logits = twin(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in twin.named_parameters()}
    return {"logits": logits.detach(), "loss": loss.detach(), **grads}


def tower_step(tower: Tower, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """:func:`twin_step` for one tower, in its own process: every process holds the same logits
    and so a copy of the same loss; the exchanges add the copies' gradients up, so each copy
    counts ``1/towers`` and the sum is the gradient of the one loss.

    Example:
        >>> tower_step(tower_of(paper_twin(divisor=8), 0), *example_batch(1))  # doctest: +SKIP
    """
    tower.zero_grad(set_to_none=True)
    with eval_mode(tower):
        logits = tower(x)
    loss = F.cross_entropy(logits, y)
    (loss / tower.towers).backward()
    grads = {n: p.grad.detach().clone() for n, p in tower.named_parameters()}
    return {"logits": logits.detach(), "loss": loss.detach(), **grads}


def compare_with_twin(twin_out: dict, tower_outs: list[dict]) -> pd.DataFrame:
    """The twin's results next to the towers': logits and loss (every tower holds all of them)
    and each gradient (tower ``r`` holds rows ``r`` of the twin's, in rank order).

    Columns: ``shape``, ``max |twin|`` (the scale) and ``max |diff|``, the largest difference
    between the twin's value and what the towers computed.

    Example:
        >>> one = {"loss": torch.tensor(1.0), "w": torch.ones(4, 1)}
        >>> halves = [{"loss": torch.tensor(1.0), "w": torch.ones(2, 1)}] * 2
        >>> compare_with_twin(one, halves)["max |diff|"].tolist()
        [0.0, 0.0]
    """
    rows = []
    for name, want in twin_out.items():
        if name in ("logits", "loss"):
            got = max((t[name].double() - want.double()).abs().max().item() for t in tower_outs)
        else:
            whole = torch.cat([t[name] for t in tower_outs], dim=0)
            got = (whole.double() - want.double()).abs().max().item()
        rows.append((name, tuple(want.shape), want.abs().max().item(), got))
    table = pd.DataFrame(rows, columns=["value", "shape", "max |twin|", "max |diff|"])
    return table.set_index("value")


def exchange_table(
    twin: nn.Module, size: int = 227, bytes_per_value: int = 4, towers: int = TOWERS
) -> pd.DataFrame:
    """What each tower sends at every exchange, per image: its share of the layer's input (or of
    the logits), once forward and once more as gradients in the backward pass.

    Example:
        >>> exchange_table(paper_twin(divisor=8), size=227).loc["conv3", "values sent"]
        np.int64(2704)
    """
    points = exchange_points(twin, towers)
    result = trace(twin, (3, size, size))
    if not result.ok:
        raise ValueError(result.error)
    outputs = [result.input] + [row.out for row in result.rows]  # layer i reads outputs[i]
    names = [row.name for row in result.rows]
    shapes = {name: outputs[i] for i, name in enumerate(names) if name in points}
    shapes["logits"] = outputs[-1]
    rows = []
    for name in points:
        values = torch.Size(shapes[name]).numel() // towers * (towers - 1)
        rows.append((name, "×".join(map(str, shapes[name])), values))
    table = pd.DataFrame(rows, columns=["gathered for", "all towers' tensor", "values sent"])
    table["bytes forward"] = table["values sent"] * bytes_per_value
    table["bytes backward"] = table["bytes forward"]
    return table.set_index("gathered for")


def _run(args: argparse.Namespace) -> dict:
    """One process's part of ``python -m alexnet_lesson.tower_split``: its tower's step."""
    dtype = getattr(torch, args.dtype)
    device = distributed.device_for_rank(args.device)
    twin = paper_twin(args.classes, args.divisor, seed=args.seed).to(device, dtype)
    tower = tower_of(twin, dist.get_rank(), dist.get_world_size())
    x, y = example_batch(args.batch, args.classes, args.size, args.seed, dtype)
    return tower_step(tower, x.to(device), y.to(device))


def main(argv: list[str] | None = None) -> int:
    """Run one tower per process (under ``torchrun --nproc-per-node 2``) and save each result.

    Every process builds the same twin (same seed), cuts out its tower, runs one step on the same
    batch and saves ``rank<r>.pt`` in ``--out``; process 0 also writes ``run.json``.

    Example:
        >>> main(["--out", "/tmp/split"])  # doctest: +SKIP
        0
    """
    p = argparse.ArgumentParser(
        prog="python -m alexnet_lesson.tower_split", description=main.__doc__
    )
    p.add_argument("--out", required=True, help="folder for rank<r>.pt and run.json")
    p.add_argument(
        "--divisor", type=int, default=8, help="narrow every layer (1: the paper's widths)"
    )
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--size", type=int, default=227)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    p.add_argument("--device", default="cpu", help="cpu (gloo) or cuda (NCCL, one GPU per process)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    with distributed.process_group(args.device):
        result = _run(args)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        torch.save({k: v.cpu() for k, v in result.items()}, out / f"rank{dist.get_rank()}.pt")
        if distributed.is_main():
            info = vars(args) | {"world_size": dist.get_world_size(), "backend": dist.get_backend()}
            (out / "run.json").write_text(json.dumps(info, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
