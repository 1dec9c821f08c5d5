"""The small experiments of lessons 04–06: builders, runs over seeds, and their summaries.

The lessons' budgets and their rule for a real difference live in notebooks 04–06, whose stored
outputs nbval checks."""

import pandas as pd
import pytest
import torch
from torch import nn

from alexnet_lesson import experiments
from alexnet_lesson.train import Recipe

# fit's defaults before the Recipe: a constant learning rate and no label smoothing
PLAIN = Recipe(epochs=2, lr=0.1, batch_size=32, schedule="constant", label_smoothing=0.0)


def _summary(accs, seconds=None):
    rows = [
        {"label": label, "test_acc": acc, "s_per_epoch": (seconds or {}).get(label, 1.0)}
        for label, values in accs.items()
        for acc in values
    ]
    return experiments.summarise_runs(pd.DataFrame(rows), "label", ["test_acc", "s_per_epoch"])


@pytest.mark.parametrize(("pool", "flat"), [((3, 2), 64 * 6 * 6), ((2, 2), 64 * 7 * 7)])
def test_small_cnn_shapes_and_activation(pool, flat):
    net = experiments.small_cnn("tanh", pool=pool, dropout=0.5)
    assert net.fc1.in_features == flat
    assert isinstance(net.act1, nn.Tanh) and isinstance(net.drop, nn.Dropout)
    assert net(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    a, b = experiments.small_cnn("relu", seed=3), experiments.small_cnn("tanh", seed=3)
    assert torch.equal(a.conv1.weight, b.conv1.weight)  # same seed, same starting weights
    with pytest.raises(ValueError, match="unknown activation"):
        experiments.small_cnn("gelu")


def test_compare_is_reproducible_and_reports_each_run():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 1, 4, 4, generator=g)
    y = (x.mean((1, 2, 3)) > 0).long()
    # one unit from 0 on its side: learnable in 4 steps (on pure noise the loss fell by as
    # little as 0.008 on some seeds; now ≥ 0.23 and the last loss ≤ 0.30 over 15 data seeds,
    # lr 0.05 to 0.2)
    x += (2 * y - 1).float()[:, None, None, None]
    data = [(x[:32], y[:32]), (x[32:], y[32:])]

    def make(seed):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Dropout(0.5), nn.Linear(8, 2))

    a, runs = experiments.compare({"m": make}, data, data, PLAIN, seeds=[0, 1], device="cpu")
    b, _ = experiments.compare({"m": make}, data, data, PLAIN, seeds=[0, 1], device="cpu")
    assert a["train_loss"].tolist() == b["train_loss"].tolist()
    assert a["train_loss"].iloc[0] != a["train_loss"].iloc[1]  # different seeds, different runs
    assert len(runs["m"]) == 2 and len(runs["m"][0]) == 2
    for h in runs["m"]:
        assert h["train_loss"].iloc[-1] < min(h["train_loss"].iloc[0], 0.5)  # chance: ln 2 = 0.69


def test_cnn_builder_passes_options_and_seed():
    make = experiments.cnn_builder("tanh", pool=(2, 2), widths=(8, 16), hidden=32, dropout=0.5)
    net = make(4)
    assert isinstance(net.act1, nn.Tanh) and net.fc1.in_features == 16 * 7 * 7
    assert net.fc2.in_features == 32 and net.drop.p == 0.5
    same = experiments.small_cnn(
        "tanh", pool=(2, 2), widths=(8, 16), hidden=32, dropout=0.5, seed=4
    )
    assert torch.equal(net.conv1.weight, same.conv1.weight)
    assert not torch.equal(make(5).conv1.weight, net.conv1.weight)


def test_versus_baseline_gaps_spreads_and_time():
    summary = _summary(
        {"none": [0.80, 0.84], "lrn": [0.81, 0.85], "batchnorm": [0.90, 0.91]},
        seconds={"none": 2.0, "lrn": 3.0, "batchnorm": 2.2},
    )
    t = experiments.versus_baseline(summary, "none", ["lrn", "batchnorm"])
    assert t.index.tolist() == ["lrn", "batchnorm"] and t["seeds"].tolist() == [2, 2]
    # lrn: gap +0.010, spread std(0.80, 0.84) = 0.0283, so 2 · spread = 0.057: within noise
    assert t.loc["lrn", "gap"] == pytest.approx(0.010)
    assert 2 * t.loc["lrn", "spread"] == pytest.approx(0.0566, abs=1e-4)
    assert t.loc["lrn", "time ratio"] == pytest.approx(1.50)
    # batchnorm: gap +0.085 > 0.057, the larger of the two spreads: larger than the noise
    assert t.loc["batchnorm", "gap"] == pytest.approx(0.085)
    assert t.loc["batchnorm", "spread"] == t.loc["lrn", "spread"]
    assert t.loc["batchnorm", "time ratio"] == pytest.approx(1.10)
    real = t["gap"].abs() > 2 * t["spread"]  # lessons 04 and 06 state this rule
    assert real.tolist() == [False, True]
    one = _summary({"none": [0.80], "lrn": [0.95], "batchnorm": [0.70]})
    t = experiments.versus_baseline(one, "none", ["lrn", "batchnorm"], time=None)
    assert t["gap"].round(3).tolist() == [0.150, -0.100] and t["seeds"].tolist() == [1, 1]
    assert t["spread"].isna().all() and not (t["gap"].abs() > 2 * t["spread"]).any()
    assert "time ratio" not in t
