"""Interactive widgets for the lessons.

Each widget is two parts: a plain function that computes what the widget shows (unit-tested,
callable without Jupyter), and a thin ``*_widget()`` wrapper that only wires ipywidgets controls
to that function. Lesson 02: the output-size calculator and the variant explorer; lesson 04: LRN
on a channel vector and on feature maps; lesson 05: dropout on an image.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from functools import partial

import ipywidgets as W
import matplotlib.pyplot as plt
import pandas as pd
import torch

from alexnet_lesson.dropout import inverted_dropout
from alexnet_lesson.lrn import lateral_inhibition, lrn_paper
from alexnet_lesson.models import VARIANTS, InputSizeError, alexnet
from alexnet_lesson.plots import plot_dropout, plot_lateral_inhibition, plot_lrn_maps
from alexnet_lesson.shapes import conv_out, shape_table

__all__ = [
    "conv_calculator",
    "conv_calculator_widget",
    "variant_shapes",
    "variant_shapes_widget",
    "lrn_toy",
    "lrn_toy_widget",
    "lrn_maps",
    "lrn_maps_widget",
    "dropout_demo",
    "dropout_widget",
]

# --- lesson 02: the output-size calculator and the variant explorer ----------------------------


def conv_calculator(n: int, k: int, s: int = 1, p: int = 0) -> dict:
    """Output size of a convolution or pooling window, the arithmetic, and any warnings.

    Returns a dict with ``out`` (the size), ``exact`` (True when the stride divides
    n + 2p − k), ``text`` (the formula with the numbers in) and ``warnings`` (a list of strings:
    rows/columns the window never reaches, or an output smaller than 1).

    Example:
        >>> conv_calculator(224, 11, 4, 0)["text"]
        '⌊(224 + 2·0 − 11) / 4⌋ + 1 = ⌊213 / 4⌋ + 1 = 54'
    """
    if k < 1 or s < 1 or n < 1 or p < 0:
        raise ValueError("need n ≥ 1, k ≥ 1, s ≥ 1 and p ≥ 0")
    span = n + 2 * p - k
    out = conv_out(n, k, s, p)
    text = f"⌊({n} + 2·{p} − {k}) / {s}⌋ + 1 = ⌊{span} / {s}⌋ + 1 = {out}"
    warnings = []
    if span < 0:
        warnings.append(
            f"size below 1: the {k}-wide window is larger than the padded input "
            f"({n} + 2·{p} = {n + 2 * p}), so there is no output"
        )
    elif span % s:
        left = span % s
        warnings.append(
            f"not exact: {span} / {s} leaves {left}, so the last {left} row(s) and column(s) "
            "of the padded input are never read"
        )
    return {"out": out, "exact": span >= 0 and span % s == 0, "text": text, "warnings": warnings}


def variant_shapes(variant: str, size: int) -> pd.DataFrame | str:
    """The shape table of ``variant`` for a square ``size`` input, or the package's error text.

    The error text is the :class:`~alexnet_lesson.models.InputSizeError` message a model raises
    for that input: it names the layer where the shapes break and the sizes that would work.

    Example:
        >>> variant_shapes("d2l", 28)[:60]
        "AlexNet variant 'd2l' cannot take a 1×28×28 input: at pool2 "
    """
    with torch.device("meta"):
        model = alexnet(variant, init="pytorch")
    shape = (model.in_channels, size, size)
    try:
        model.check_input(torch.empty(1, *shape, device="meta"))
    except InputSizeError as err:
        return str(err)
    return shape_table(model, shape)


def _calculator_html(result: dict) -> str:
    lines = [f"<b>output size: {result['out']}</b>", html.escape(result["text"])]
    lines += [f"<span style='color:#b00'>⚠ {html.escape(w)}</span>" for w in result["warnings"]]
    return "<br>".join(lines)


def conv_calculator_widget() -> W.VBox:
    """Sliders for input size, kernel, stride and padding, showing :func:`conv_calculator`'s result.

    Example:
        >>> w = conv_calculator_widget(); w.children[-1].value.startswith("<b>output size: 54")
        True
    """
    sliders = {
        "n": W.IntSlider(224, 1, 512, description="input n"),
        "k": W.IntSlider(11, 1, 15, description="kernel k"),
        "s": W.IntSlider(4, 1, 8, description="stride s"),
        "p": W.IntSlider(0, 0, 6, description="padding p"),
    }
    result = W.HTML()

    def update(_=None) -> None:
        result.value = _calculator_html(conv_calculator(**{a: w.value for a, w in sliders.items()}))

    for w in sliders.values():
        w.observe(update, names="value")
    update()
    return W.VBox([*sliders.values(), result])


def _variant_html(answer: pd.DataFrame | str) -> str:
    if isinstance(answer, str):
        return f"<p style='color:#b00'>{html.escape(answer)}</p>"
    return answer.to_html(index=False)


def variant_shapes_widget() -> W.VBox:
    """Pick a variant and an input size; see :func:`variant_shapes`'s table or error message.

    Example:
        >>> w = variant_shapes_widget(); "fc8" in w.children[-1].value
        True
    """
    names = list(VARIANTS)
    pick = W.Dropdown(options=names, value="d2l", description="variant")
    size = W.IntSlider(VARIANTS["d2l"].input_size, 8, 512, description="input size")
    result = W.HTML()

    def update(_=None) -> None:
        result.value = _variant_html(variant_shapes(pick.value, size.value))

    def new_variant(change: dict) -> None:
        size.value = VARIANTS[change["new"]].input_size
        update()

    pick.observe(new_variant, names="value")
    size.observe(update, names="value")
    update()
    return W.VBox([pick, size, result])


# --- lesson 04: LRN sliders on a channel vector and on real feature maps ----------------------


LOG_READOUT = ".3g"  # the log sliders' readout; figure titles print k and α the same way


def _lrn_title(k: float, n: int, alpha: float, beta: float) -> str:
    return f"LRN with k={k:{LOG_READOUT}}, n={int(n)}, α={alpha:{LOG_READOUT}}, β={beta:g}"


def lrn_toy(
    values: list[float] | tuple[float, ...],
    k: float = 2.0,
    n: int = 5,
    alpha: float = 1e-4,
    beta: float = 0.75,
) -> tuple[plt.Figure, pd.DataFrame]:
    """The LRN slider callback: LRN with (k, n, α, β) on one position's channel ``values``;
    the :func:`~alexnet_lesson.lrn.lateral_inhibition` table and its bar chart.

    Example:
        >>> fig, table = lrn_toy([1.0, 2.0, 1.5, 1.0, 40.0, 1.0], k=1.0, n=3, alpha=1.0, beta=1.0)
        >>> round(float(table.loc[4, "output"]), 4), round(float(table.loc[3, "divisor"]), 2)
        (0.025, 1604.25)
    """
    table = lateral_inhibition(list(values), n=int(n), alpha=alpha, beta=beta, k=k)
    return plot_lateral_inhibition(table, title=_lrn_title(k, n, alpha, beta)), table


def lrn_maps(
    maps: torch.Tensor,
    k: float = 2.0,
    n: int = 5,
    alpha: float = 1e-4,
    beta: float = 0.75,
    channels: int = 6,
) -> tuple[plt.Figure, pd.DataFrame]:
    """The feature-map slider callback: LRN (paper formula) on C×H×W maps; figure and a summary
    (mean and maximum activation before and after).

    Example:
        >>> fig, s = lrn_maps(torch.ones(8, 4, 4), k=1.0, n=3, alpha=1.0, beta=1.0, channels=4)
        >>> s["mean"].round(4).tolist()
        [1.0, 0.2708]
    """
    maps = maps.detach().double().cpu()
    after = lrn_paper(maps[None], int(n), alpha, beta, k)[0]
    fig = plot_lrn_maps(maps, after, channels, title=_lrn_title(k, n, alpha, beta))
    summary = pd.DataFrame(
        {
            "mean": [maps.mean().item(), after.mean().item()],
            "max": [maps.max().item(), after.max().item()],
        },
        index=["ReLU(conv1)", "after LRN"],
    )
    return fig, summary


def _redraw(callback: Callable, describe: Callable | None, **sliders: W.Widget) -> W.interactive:
    """Sliders that call ``callback(**their values)``, show the figure it returns and print
    ``describe(numbers)`` for the numbers it returns (nothing when ``describe`` is None)."""

    def show(**values: float) -> None:
        _, numbers = callback(**values)
        plt.show()
        if describe is not None:
            print(describe(numbers))

    return W.interactive(show, **sliders)


def _lrn_sliders() -> dict:
    return {
        "k": W.FloatLogSlider(
            value=2.0, base=10, min=-2, max=1, step=0.1, description="k", readout_format=LOG_READOUT
        ),
        "n": W.IntSlider(value=5, min=1, max=11, step=2, description="n"),
        "alpha": W.FloatLogSlider(
            value=1e-4,
            base=10,
            min=-6,
            max=0,
            step=0.25,
            description="α",
            readout_format=LOG_READOUT,
        ),
        "beta": W.FloatSlider(value=0.75, min=0.0, max=2.0, step=0.05, description="β"),
    }


def lrn_toy_widget(values: list[float] | tuple[float, ...]) -> W.interactive:
    """Sliders for k, n, α, β that redraw :func:`lrn_toy` for ``values`` (in a live notebook).

    Example:
        >>> import contextlib, io
        >>> with contextlib.redirect_stdout(io.StringIO()):  # it draws once
        ...     widget = lrn_toy_widget([1.0, 9.0, 1.0])
        >>> [c.description for c in widget.children[:4]]
        ['k', 'n', 'α', 'β']
    """
    return _redraw(partial(lrn_toy, values), None, **_lrn_sliders())


def lrn_maps_widget(maps: torch.Tensor, channels: int = 6) -> W.interactive:
    """Sliders for k, n, α, β that redraw :func:`lrn_maps` for the given C×H×W feature maps and
    print its summary.

    Example:
        >>> import contextlib, io
        >>> with contextlib.redirect_stdout(io.StringIO()):  # it draws and prints once
        ...     widget = lrn_maps_widget(torch.rand(8, 5, 5))
        >>> widget.children[1].value  # n
        5
    """

    def describe(summary: pd.DataFrame) -> str:
        return summary.round(4).to_string()

    return _redraw(partial(lrn_maps, maps, channels=channels), describe, **_lrn_sliders())


# --- lesson 05: a dropout slider ----------------------------------------------------------------


def dropout_demo(
    p: float = 0.5, seed: int = 0, image: torch.Tensor | None = None
) -> tuple[plt.Figure, dict]:
    """The dropout slider callback: inverted dropout with probability p on an image (default: a
    16×16 ramp); figure and numbers (units kept, their scale, input and output means).

    Example:
        >>> fig, s = dropout_demo(0.25)
        >>> s["scale of kept units"], s["units"]
        (1.3333, 256)
    """
    x = image if image is not None else torch.linspace(0, 1, 256).reshape(16, 16)
    x = x.detach().float().cpu()
    out = inverted_dropout(x, p, generator=torch.Generator().manual_seed(seed))
    stats = {
        "units": x.numel(),
        "kept": int((out != 0).sum()),
        "scale of kept units": round(1 / (1 - p), 4) if p < 1 else float("inf"),
        "input mean": round(x.mean().item(), 4),
        "output mean": round(out.mean().item(), 4),
    }
    return plot_dropout(x, out, p), stats


def dropout_widget(image: torch.Tensor | None = None) -> W.interactive:
    """A slider for p (and the random seed) that redraws :func:`dropout_demo` and prints its numbers.

    Example:
        >>> import contextlib, io
        >>> with contextlib.redirect_stdout(io.StringIO()) as printed:  # it draws once
        ...     widget = dropout_widget()
        >>> printed.getvalue().splitlines()[-1].split(", ")[:2]
        ['units: 256', 'kept: 119']
    """

    def describe(stats: dict) -> str:
        return ", ".join(f"{k}: {v}" for k, v in stats.items())

    return _redraw(
        partial(dropout_demo, image=image),
        describe,
        p=W.FloatSlider(value=0.5, min=0.0, max=0.95, step=0.05, description="p"),
        seed=W.IntSlider(value=0, min=0, max=20, description="seed"),
    )
