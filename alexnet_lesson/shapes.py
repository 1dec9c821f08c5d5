"""Lesson 02: output sizes by formula, out = ⌊(n + 2p − d·(k − 1) − 1) / s⌋ + 1, for convolution
and pooling, and the shape tables built on it.

:func:`trace` walks a model's layers with this formula alone (no tensors), which is how the
models check their input size and how lesson 02 prints its shape tables. The paper (§3.5,
Figure 2) gives a 224×224 input and 55×55 conv1 maps; the formula shows that needs 227.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

import pandas as pd
import torch
from torch import nn

from alexnet_lesson.env import eval_mode

__all__ = [
    "conv_out",
    "inputs_for",
    "Row",
    "Trace",
    "trace",
    "accepted_sizes",
    "format_ranges",
    "shape_table",
    "compare_with_pytorch",
    "gpu_halves",
]


def conv_out(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Output length of a convolution or pooling window along one axis.

    Args:
        n: input length; k: kernel size; s: stride; p: zero padding on each side; d: dilation.

    Example:
        >>> conv_out(224, k=11, s=4, p=0), conv_out(227, k=11, s=4, p=0)
        (54, 55)
    """
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def inputs_for(out: int, k: int, s: int = 1, p: int = 0, largest: int = 1024) -> list[int]:
    """The input lengths (up to ``largest``) from which :func:`conv_out` gives ``out``.

    The first is the one the window covers exactly; the stride's rounding down adds the others.

    Example:
        >>> inputs_for(55, k=11, s=4)
        [227, 228, 229, 230]
    """
    return [n for n in range(1, largest + 1) if conv_out(n, k, s, p) == out]


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[-1]))


@dataclass
class Row:
    """One layer of a :func:`trace`: its name, kind and output shape (C, H, W) or (features,)."""

    name: str
    kind: str
    out: tuple[int, ...]
    kernel: str = ""


@dataclass
class Trace:
    """The layer-by-layer shapes for one input, and where (and why) it broke, if it did."""

    input: tuple[int, ...]
    rows: list[Row] = field(default_factory=list)
    error: str | None = None
    failed_at: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _window(
    layer: nn.Module,
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]:
    k, s, p, d = (
        _pair(getattr(layer, a, 1)) for a in ("kernel_size", "stride", "padding", "dilation")
    )
    return k, s, p, d


class _Stop(Exception):
    """A layer that cannot take its input; the message says why."""


def _window_out(name: str, layer: nn.Module, cur: tuple[int, ...]) -> tuple[tuple[int, ...], str]:
    """Output shape and kernel text of a convolution or pooling window on a C×H×W input."""
    if len(cur) != 3:
        raise _Stop(f"{name} needs a C×H×W input, got {cur}")
    if isinstance(layer, nn.Conv2d) and layer.in_channels != cur[0]:
        raise _Stop(f"{name} expects {layer.in_channels} input channels, got {cur[0]}")
    k, s, p, d = _window(layer)
    h = conv_out(cur[1], k[0], s[0], p[0], d[0])
    w = conv_out(cur[2], k[1], s[1], p[1], d[1])
    kernel = f"{k[0]}×{k[1]}, s{s[0]}, p{p[0]}"
    if h < 1 or w < 1:
        raise _Stop(
            f"at {name} ({kernel}) a {cur[1]}×{cur[2]} input gives a {h}×{w} output: "
            "the feature map is smaller than the window"
        )
    c = layer.out_channels if isinstance(layer, nn.Conv2d) else cur[0]
    return (c, h, w), kernel


def _layer_out(name: str, layer: nn.Module, cur: tuple[int, ...]) -> tuple[tuple[int, ...], str]:
    """Output shape of one layer for an input of shape ``cur``, and its kernel text (or "")."""
    if isinstance(layer, nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d):
        return _window_out(name, layer, cur)
    if isinstance(layer, nn.AdaptiveAvgPool2d | nn.AdaptiveMaxPool2d):
        return (cur[0], *_pair(layer.output_size)), ""
    if isinstance(layer, nn.Flatten):
        return (prod(cur),), ""
    if isinstance(layer, nn.Linear):
        if cur != (layer.in_features,):
            got = "×".join(map(str, cur)) + (f" = {prod(cur)}" if len(cur) > 1 else "")
            raise _Stop(f"{name} expects {layer.in_features} features but gets {got}")
        return (layer.out_features,), ""
    return cur, ""


def trace(model: nn.Module, shape: tuple[int, int, int]) -> Trace:
    """Follow an input of ``shape`` (C, H, W) through ``model``'s layers using formulas only.

    Understands ``Conv2d``, ``MaxPool2d``/``AvgPool2d``, ``AdaptiveAvgPool2d``, ``Flatten`` and
    ``Linear``; any other layer keeps the shape. Stops at the first layer that cannot take its input.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 8, 5), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 12 * 12, 10))
        >>> [r.out for r in trace(net, (1, 28, 28)).rows]
        [(8, 24, 24), (8, 12, 12), (1152,), (10,)]
    """
    result = Trace(input=tuple(shape))
    cur: tuple[int, ...] = tuple(shape)
    for name, layer in model.named_children():
        try:
            cur, kernel = _layer_out(name, layer, cur)
        except _Stop as stop:
            result.error, result.failed_at = str(stop), name
            return result
        result.rows.append(Row(name=name, kind=type(layer).__name__, out=cur, kernel=kernel))
    return result


def accepted_sizes(model: nn.Module, channels: int, largest: int = 1024) -> list[tuple[int, int]]:
    """The square input sizes ``model`` accepts, as inclusive ranges ``(low, high)``, up to ``largest``.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 8, 5), nn.Flatten(), nn.Linear(8 * 24 * 24, 10))
        >>> accepted_sizes(net, channels=1)
        [(28, 28)]
    """
    ranges: list[tuple[int, int]] = []
    for n in range(1, largest + 1):
        if trace(model, (channels, n, n)).ok:
            if ranges and ranges[-1][1] == n - 1:
                ranges[-1] = (ranges[-1][0], n)
            else:
                ranges.append((n, n))
    return ranges


def format_ranges(ranges: list[tuple[int, int]], largest: int = 1024) -> str:
    """``[(63, 1024)]`` → ``"63 px or more"``; ``[(220, 227)]`` → ``"220 to 227 px"``.

    Example:
        >>> format_ranges([(220, 227)])
        '220 to 227 px'
    """
    if not ranges:
        return "no size"
    parts = []
    for lo, hi in ranges:
        if hi >= largest:
            parts.append(f"{lo} px or more")
        elif lo == hi:
            parts.append(f"{lo} px")
        else:
            parts.append(f"{lo} to {hi} px")
    return ", ".join(parts)


# --- Lesson 02: shape tables, PyTorch's own answer, the paper's two GPUs -------------------------


def _kernel_text(layer: nn.Module) -> str:
    """``"11×11 s4 p0"`` for a window layer (``g2`` appended for grouped convolutions), else ``""``."""
    if not isinstance(layer, nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d):
        return ""
    k, s, p, _ = _window(layer)
    text = f"{k[0]}×{k[1]} s{s[0]} p{p[0]}"
    groups = getattr(layer, "groups", 1)
    return text + (f" g{groups}" if groups > 1 else "")


def shape_table(model: nn.Module, shape: tuple[int, int, int]) -> pd.DataFrame:
    """One row per layer: name, kind, kernel/stride/padding, output C×H×W and activations per image.

    Computed with :func:`trace` (formulas only). Raises ``ValueError`` with the trace's message
    when the input does not fit.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 8, 5), nn.MaxPool2d(2), nn.Flatten())
        >>> shape_table(net, (1, 28, 28)).output.tolist()
        ['8×24×24', '8×12×12', '1152']
    """
    result = trace(model, shape)
    if not result.ok:
        raise ValueError(result.error)
    layers = dict(model.named_children())
    rows = [
        {
            "layer": r.name,
            "kind": r.kind,
            "kernel": _kernel_text(layers[r.name]),
            "output": "×".join(map(str, r.out)),
            "activations": prod(r.out),
        }
        for r in result.rows
    ]
    return pd.DataFrame(rows, columns=["layer", "kind", "kernel", "output", "activations"])


def _pytorch_shapes(model: nn.Module, shape: tuple[int, int, int]) -> dict[str, tuple[int, ...]]:
    """Each layer's real output shape (without the batch axis): a zero image run layer by layer."""
    out: dict[str, tuple[int, ...]] = {}
    x = torch.zeros(1, *shape)
    with eval_mode(model), torch.no_grad():
        for name, layer in model.named_children():
            x = layer(x)
            out[name] = tuple(x.shape[1:])
    return out


def compare_with_pytorch(model: nn.Module, shape: tuple[int, int, int]) -> pd.DataFrame:
    """The formula's output shape next to PyTorch's for every layer, with an ``agree`` column.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 8, 5, stride=2), nn.MaxPool2d(3, 2))
        >>> compare_with_pytorch(net, (1, 28, 28)).agree.all()
        np.True_
    """
    real = _pytorch_shapes(model, shape)
    rows = []
    for r in trace(model, shape).rows:
        rows.append(
            {
                "layer": r.name,
                "formula": "×".join(map(str, r.out)),
                "pytorch": "×".join(map(str, real[r.name])),
                "agree": r.out == real[r.name],
            }
        )
    return pd.DataFrame(rows, columns=["layer", "formula", "pytorch", "agree"])


def gpu_halves(model: nn.Module, gpus: int = 2) -> pd.DataFrame:
    """How the paper's convolutions split over two GPUs (§3.2): kernels per GPU and what they see.

    ``kernel depth`` is the number of input channels each kernel reads (``in_channels / groups``);
    a layer whose kernels read every channel of the previous layer needs both GPUs' outputs, so
    the GPUs exchange data there (conv3, and the fully connected layers after it). conv1 reads
    the image, which both GPUs hold.

    Example:
        >>> from alexnet_lesson.params import meta_model
        >>> gpu_halves(meta_model("paper"))["per GPU"].tolist()
        ['48 + 48', '128 + 128', '192 + 192', '192 + 192', '128 + 128']
    """
    rows = []
    convs = [(n, m) for n, m in model.named_children() if isinstance(m, nn.Conv2d)]
    for i, (name, conv) in enumerate(convs):
        half = conv.out_channels // gpus
        depth = conv.in_channels // conv.groups
        rows.append(
            {
                "layer": name,
                "kernels": conv.out_channels,
                "per GPU": " + ".join([str(half)] * gpus),
                "groups": conv.groups,
                "kernel depth": depth,
                "reads": "the image"
                if i == 0
                else ("both GPUs" if conv.groups == 1 else "its own GPU only"),
            }
        )
    return pd.DataFrame(rows)
