"""The small experiments of lessons 04–06: builders, runs over seeds, their summaries, and the
one rule (a paired t interval over seeds) by which the three lessons judge a difference.

The lessons' budgets live in notebooks 04–06, whose stored outputs nbval checks."""

import math

import pandas as pd
import pytest
import torch
from torch import nn

from alexnet_lesson import experiments
from alexnet_lesson.config import Recipe

# fit's defaults before the Recipe: a constant learning rate and no label smoothing
PLAIN = Recipe(epochs=2, lr=0.1, batch_size=32, schedule="constant", label_smoothing=0.0)


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


def test_compare_measures_train_accuracy_in_eval_mode_when_asked():
    x = torch.randn(32, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    y = (x.mean((1, 2, 3)) > 0).long()
    data = [(x, y)]

    def make(seed):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(16, 64), nn.Dropout(0.9), nn.Linear(64, 2))

    table, _ = experiments.compare({"m": make}, data, data, PLAIN, seeds=[0], eval_train=True)
    # the training images are the validation images here: in eval mode both accuracies agree,
    # while the running accuracy was measured with 90% of the hidden units dropped
    assert table.loc[0, "train_acc_eval"] == table.loc[0, "val_acc"]
    plain, _ = experiments.compare({"m": make}, data, None, PLAIN, seeds=[0])
    assert "train_acc_eval" not in plain and math.isnan(plain.loc[0, "val_acc"])


# Student's t 0.975 quantiles from printed tables (e.g. NIST/SEMATECH e-Handbook, Table 1.3.6.7.2)
@pytest.mark.parametrize(
    ("df", "t"), [(1, 12.706), (2, 4.303), (4, 2.776), (9, 2.262), (30, 2.042)]
)
def test_t_quantile_matches_the_tables(df, t):
    assert experiments.t_quantile(0.975, df) == pytest.approx(t, abs=5e-4)
    assert experiments.t_quantile(0.025, df) == pytest.approx(-t, abs=5e-4)
    assert experiments.t_quantile(0.5, df) == pytest.approx(0.0, abs=1e-9)


def test_paired_t_test_interval_and_verdicts():
    table = pd.DataFrame(
        {
            "none": [0.80, 0.84, 0.82, 0.79, 0.81],
            "same": [0.81, 0.83, 0.83, 0.78, 0.82],  # ±0.01 around none: null
            "better": [0.83, 0.86, 0.85, 0.82, 0.83],  # +0.02 to +0.03 on every seed
            "worse": [0.70, 0.75, 0.71, 0.69, 0.72],
        },
        index=pd.Index([0, 1, 2, 3, 4], name="seed"),
    )
    r = experiments.paired_t_test(table, "none")
    assert r.index.tolist() == ["same", "better", "worse"]
    assert r["verdict"].tolist() == ["null", "effect: higher", "effect: lower"]
    diff = table["better"] - table["none"]
    half = 2.776445 * diff.std() / math.sqrt(5)
    assert r.loc["better", "ci low"] == pytest.approx(diff.mean() - half)
    assert r.loc["better", "ci high"] == pytest.approx(diff.mean() + half)
    assert r.loc["same", "ci low"] < 0 < r.loc["same", "ci high"]
    assert (r["seeds"] == 5).all()


def test_paired_t_test_pairs_by_seed_and_skips_missing():
    # a consistent +0.01 on every seed is an effect even though each arm's spread is 0.04:
    # pairing removes the seed-to-seed variation that both arms share
    table = pd.DataFrame({"a": [0.70, 0.74, 0.78], "b": [0.71, 0.75, 0.79]})
    assert experiments.paired_t_test(table, "a").loc["b", "mean difference"] == pytest.approx(0.01)
    table.loc[1, "b"] = float("nan")  # e.g. a run that never reached the target
    r = experiments.paired_t_test(table, "a", ["b"])
    assert r.loc["b", "seeds"] == 2
    one = experiments.paired_t_test(table.iloc[:1], "a")
    assert one.loc["b", "verdict"] == "too few seeds" and math.isnan(one.loc["b", "ci low"])


def test_per_seed_and_with_spread():
    results = pd.DataFrame(
        {"label": ["x", "y", "x", "y"], "seed": [1, 1, 0, 0], "val_acc": [0.5, 0.6, 0.7, 0.9]}
    )
    wide = experiments.per_seed(results, "val_acc")
    assert wide.columns.tolist() == ["x", "y"] and wide.index.tolist() == [0, 1]
    assert wide.loc[0].tolist() == [0.7, 0.9]
    spread = experiments.with_spread(wide)
    assert spread.index.tolist() == [0, 1, "mean", "sd"]
    assert spread.loc["mean", "y"] == pytest.approx(0.75)
    assert spread.loc["sd", "x"] == pytest.approx(math.sqrt(0.02))
    assert "excludes 0" in experiments.RULE


def test_compare_on_device_loaders_lets_the_seed_decide_the_batches(synthetic):
    train, val = experiments.experiment_loaders(synthetic, 64, batch_size=32, augment=True)
    assert train.train and not val.train and train.config == val.config
    assert (len(train.images), train.config.size, train.config.augment) == (64, 28, True)

    def same_weights(seed):  # every seed starts from the same weights, without dropout
        torch.manual_seed(0)
        return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))

    recipe = PLAIN.replace(epochs=1)
    table, _ = experiments.compare({"m": same_weights}, train, val, recipe, seeds=[0, 1, 0])
    losses = table["train_loss"].tolist()
    assert losses[0] == losses[2] and losses[0] != losses[1]  # the order and the augmentation


def test_sign_test_counts_signs_and_leaves_ties_out():
    # 10 seeds: tanh slower on 9, equal on 1 -> p = 2 / 2**9 (9 untied, none the other way), an effect;
    # 5 slower and 5 equal (the stored lesson-06 pattern) -> p = 2/32, never below 0.05
    relu = pd.Series([76] * 10, dtype=float)
    tanh = relu + [4, 4, 8, 4, 4, 12, 4, 4, 4, 0]
    r = experiments.sign_test(pd.DataFrame({"relu": relu, "tanh": tanh}), "relu")
    assert r.loc["tanh", ["higher", "lower", "ties"]].tolist() == [9, 0, 1]
    assert r.loc["tanh", "p"] == pytest.approx(2 * 1 / 2**9)
    assert r.loc["tanh", "verdict"] == "effect: higher"
    half = relu + [0, 16, 0, 0, 16, 24, 8, 0, 8, 0]
    r = experiments.sign_test(pd.DataFrame({"relu": relu, "tanh": half}), "relu")
    assert r.loc["tanh", "p"] == pytest.approx(2 / 32) and r.loc["tanh", "verdict"] == "null"
    assert r.loc["tanh", "smallest p"] == pytest.approx(2 / 32)
    even = relu + [4, -4, 4, -4, 4, -4, 4, -4, 0, 0]
    r = experiments.sign_test(pd.DataFrame({"relu": relu, "tanh": even}), "relu")
    assert r.loc["tanh", "p"] == 1.0 and r.loc["tanh", "verdict"] == "null"
    # the binomial tail against an independent count: 8 of 10 one way
    eight = relu + ([1] * 8 + [-1] * 2)
    r = experiments.sign_test(pd.DataFrame({"relu": relu, "tanh": eight}), "relu")
    assert r.loc["tanh", "p"] == pytest.approx(2 * (1 + 10 + 45) / 1024)


def test_verdict_sentences_follow_the_table():
    table = pd.DataFrame(
        {"none": [0.80, 0.84, 0.82, 0.79, 0.81], "better": [0.83, 0.86, 0.85, 0.82, 0.83],
         "same": [0.81, 0.83, 0.83, 0.78, 0.82], "worse": [0.70, 0.75, 0.71, 0.69, 0.72]}
    )  # fmt: skip
    text = experiments.verdicts(experiments.paired_t_test(table, "none"), "accuracy").splitlines()
    assert len(text) == 3
    assert text[0].startswith("* **better − none**, accuracy: mean difference +0.026 over 5")
    assert text[0].endswith("Verdict: **an effect**, better is higher than none.")
    assert "which contains 0" in text[1] and text[1].endswith(
        "Verdict: **null**, this experiment cannot tell the two apart."
    )
    assert "entirely below 0" in text[2] and "worse is lower than none" in text[2]
    steps = pd.DataFrame({"relu": [76.0] * 4, "tanh": [80.0, 76.0, 84.0, 76.0]})
    line = experiments.verdicts(experiments.sign_test(steps, "relu"), "steps")
    assert "higher on 2 seeds, lower on 0, equal on 2" in line
    one = experiments.verdicts(experiments.paired_t_test(table.iloc[:2], "none", ["better"]), "a")
    assert "(higher on 2 seeds, lower on 0)" in one
    never = steps.assign(tanh=[80.0, float("inf"), 84.0, 76.0])  # seed 1: never reached it
    r = experiments.sign_test(never, "relu")
    assert r.loc["tanh", ["higher", "ties"]].tolist() == [3, 1]
    both = never.assign(relu=[76.0, float("inf"), 76.0, 76.0])
    assert experiments.sign_test(both, "relu").loc["tanh", "seeds"] == 3
    assert "p cannot go below 0.500" in line and "**null**" in line


def test_padded_overlapping_pool_differs_from_2x2_in_overlap_only():
    overlap = experiments.small_cnn(pool=(3, 2, 1), widths=(16, 32), seed=3)
    plain = experiments.small_cnn(pool=(2, 2), widths=(16, 32), seed=3)
    assert overlap.fc1.in_features == plain.fc1.in_features == 32 * 7 * 7
    a, b = overlap.state_dict(), plain.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    x = torch.randn(2, 1, 28, 28)
    assert not torch.equal(overlap(x), plain(x))  # the pooling itself differs
    assert experiments.small_cnn(pool=(3, 2), widths=(16, 32)).fc1.in_features == 32 * 6 * 6
