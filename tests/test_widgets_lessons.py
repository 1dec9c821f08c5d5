"""The lesson 04–05 widget callbacks compute the right numbers and draw; the wrappers build."""

import contextlib
import io
import math

import matplotlib.pyplot as plt
import pytest
import torch

from alexnet_lesson import widgets
from alexnet_lesson.lrn import lrn_paper

# lesson 04's channel vector at one position: one strong channel (4) among weak ones
TOY = (1.0, 2.0, 1.5, 1.0, 40.0, 1.0, 3.0, 1.0, 2.0, 1.0, 1.5)


def test_lrn_toy_callback_applies_the_sliders_values():
    fig, table = widgets.lrn_toy(TOY, k=2.0, n=5, alpha=1e-2, beta=0.75)
    a = torch.tensor(TOY, dtype=torch.float64)[None]
    expected = lrn_paper(a, 5, 1e-2, 0.75, 2.0)[0]
    assert table["output"].tolist() == pytest.approx(expected.tolist(), abs=1e-12)
    assert len(fig.axes) == 2 and len(fig.axes[1].patches) == len(TOY)
    # a larger alpha damps more; alpha = 0 leaves a / k**beta
    _, stronger = widgets.lrn_toy(TOY, k=2.0, n=5, alpha=1e-1, beta=0.75)
    assert (stronger["output"] < table["output"]).all()
    _, none = widgets.lrn_toy(TOY, k=2.0, n=5, alpha=0.0, beta=0.75)
    assert none["output"].tolist() == pytest.approx((a[0] / 2.0**0.75).tolist())
    plt.close("all")


def test_lrn_maps_callback_summary_and_channels():
    maps = torch.rand(10, 6, 6, generator=torch.Generator().manual_seed(0)) * 50
    fig, summary = widgets.lrn_maps(maps, k=2.0, n=5, alpha=1e-3, beta=0.75, channels=4)
    after = lrn_paper(maps[None].double(), 5, 1e-3, 0.75, 2.0)[0]
    assert summary.loc["after LRN", "mean"] == pytest.approx(after.mean().item())
    assert summary.loc["ReLU(conv1)", "max"] == pytest.approx(maps.max().item(), rel=1e-6)
    assert len(fig.axes) == 2 * 4 + 1
    # one colour scale for both rows: LRN's division shows as a darker row, not the same picture
    scales = [ax.images[0].get_clim() for ax in fig.axes[:8]]
    assert all(
        lo == 0 and hi == pytest.approx(maps[:4].max().item(), rel=1e-6) for lo, hi in scales
    )
    plt.close("all")


@pytest.mark.parametrize("p", [0.0, 0.3, 0.8])
def test_dropout_callback_counts_and_scale(p):
    _, stats = widgets.dropout_demo(p, seed=1)
    assert stats["units"] == 256
    # the callback rounds the scale to 4 places: off by at most 5e-5
    assert stats["scale of kept units"] == pytest.approx(1 / (1 - p), abs=1e-4)
    if p == 0.0:
        assert stats["kept"] == 255  # everything but the ramp's single 0 pixel
        assert stats["output mean"] == stats["input mean"]
    else:  # 255 non-zero pixels, each kept with probability 1 - p: within 5 binomial σ
        assert abs(stats["kept"] - 255 * (1 - p)) < 5 * math.sqrt(255 * p * (1 - p))
    plt.close("all")


def test_widget_wrappers_build_with_sliders():
    with contextlib.redirect_stdout(io.StringIO()):
        toy = widgets.lrn_toy_widget(TOY)
        maps = widgets.lrn_maps_widget(torch.rand(8, 5, 5))
        drop = widgets.dropout_widget()
    assert [c.description for c in toy.children[:4]] == ["k", "n", "α", "β"]
    assert [c.description for c in maps.children[:4]] == ["k", "n", "α", "β"]
    assert [c.description for c in drop.children[:2]] == ["p", "seed"]
    plt.close("all")
