"""The small experiments of lessons 04–06: builders, budgets, runs over seeds, and their summaries."""

import pandas as pd
import pytest
import torch
from torch import nn

from alexnet_lesson import experiments


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

    a, runs = experiments.compare(
        {"m": make}, data, data, seeds=[0, 1], epochs=2, lr=0.1, device="cpu"
    )
    b, _ = experiments.compare(
        {"m": make}, data, data, seeds=[0, 1], epochs=2, lr=0.1, device="cpu"
    )
    assert a["train_loss"].tolist() == b["train_loss"].tolist()
    assert a["train_loss"].iloc[0] != a["train_loss"].iloc[1]  # different seeds, different runs
    assert len(runs["m"]) == 2 and len(runs["m"][0]) == 2
    for h in runs["m"]:
        assert h["train_loss"].iloc[-1] < min(h["train_loss"].iloc[0], 0.5)  # chance: ln 2 = 0.69


def test_plan_picks_smoke_then_cuda_then_cpu_and_returns_a_copy():
    assert experiments.plan("lrn", smoke=True, device_type="cuda")["model"] == "mini_alexnet"
    assert experiments.plan("lrn", smoke=True, device_type="cuda")["epochs"] == 1
    gpu = experiments.plan("lrn", smoke=False, device_type="cuda")
    assert (gpu["model"], gpu["size"], gpu["seeds"]) == ("d2l", 224, (0, 1, 2))
    assert experiments.plan("lrn", False, "mps") == experiments.plan("lrn", False, "cpu")
    assert experiments.plan("relu", False, "cpu") == dict(
        limit=(None, 64), batch=32, every=4, logs=40, seeds=(0, 1, 2)
    )
    p = experiments.plan("pooling", False, "cpu")
    p["epochs"] = 99
    assert experiments.plan("pooling", False, "cpu")["epochs"] == 3
    for name in ("lrn", "dropout", "relu", "pooling"):
        assert set(experiments.PLANS[name]) == {"smoke", "cuda", "cpu"}
        assert len(experiments.plan(name, True, "cpu")["seeds"]) == 1
    with pytest.raises(ValueError, match="unknown experiment"):
        experiments.plan("gelu", False, "cpu")


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


def test_describe_run_counts_images_of_both_loader_kinds():
    from types import SimpleNamespace

    from torch.utils.data import DataLoader, TensorDataset

    train = DataLoader(TensorDataset(torch.zeros(12, 1)), batch_size=5)
    line = experiments.describe_run(experiments.plan("relu", True, "cpu"), train)
    assert line == "train on 12 images; batch 32; seeds [0]; 10 logs every 2 steps"
    test = SimpleNamespace(dataset_size=7)
    line = experiments.describe_run({"seeds": (0, 1), "epochs": 2}, train, test, "mini_alexnet")
    assert line == "train on 12 images, test on 7; seeds [0, 1]; 2 epoch(s); mini_alexnet"
    line = experiments.describe_run(experiments.plan("lrn", False, "cpu"), train, test, "AdamW")
    assert line == (
        "train on 12 images, test on 7; batch 32; seeds [0, 1]; 2 epoch(s); "
        "mini_alexnet at 28 px; AdamW"
    )


def test_noise_verdict_within_noise_larger_than_noise_and_one_seed():
    summary = _summary(
        {"none": [0.80, 0.84], "lrn": [0.81, 0.85], "batchnorm": [0.90, 0.91]},
        seconds={"none": 2.0, "lrn": 3.0, "batchnorm": 2.2},
    )
    lines = experiments.noise_verdict(summary).splitlines()
    assert len(lines) == 2
    # lrn: gap +0.010, band 2 · std(0.80, 0.84) = 0.0566 → within noise
    assert lines[0].startswith("* **lrn** vs none: test accuracy +0.010 (noise band ±0.057)")
    assert "**within noise**" in lines[0] and "1.50× as long" in lines[0]
    # batchnorm: gap +0.085 > 0.057 → larger than the noise
    assert "+0.085" in lines[1] and "larger than the noise" in lines[1]
    assert "1.10× as long" in lines[1]
    one = _summary({"none": [0.80], "lrn": [0.95], "batchnorm": [0.70]})
    text = experiments.noise_verdict(one)
    assert text.count("one seed gives no measure of noise") == 2 and "nan" not in text
    assert "+0.150" in text and "-0.100" in text
    assert "no measure" in experiments.noise_verdict(summary, seeds=1)
