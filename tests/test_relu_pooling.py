"""Lesson 06: activation curves, steps to an error target, and pooled sizes."""

import pandas as pd
import pytest
import torch

from alexnet_lesson import relu_pooling


def test_activation_curves_gradients_match_formulas():
    t = relu_pooling.activation_curves(-4, 4, 81)
    s = torch.sigmoid(torch.tensor(t["x"].values))
    assert t["d sigmoid"].values == pytest.approx((s * (1 - s)).numpy(), abs=1e-12)
    assert t["d tanh"].values == pytest.approx(1 - t["tanh"].values ** 2, abs=1e-12)
    assert set(t.loc[t["x"] > 0, "d relu"]) == {1.0}
    assert set(t.loc[t["x"] < 0, "d relu"]) == {0.0}


def test_steps_to_error_and_pool_sizes():
    log = pd.DataFrame({"epoch": [1, 2, 3, 4], "train_acc": [0.3, 0.6, 0.76, 0.9]})
    assert relu_pooling.steps_to_error(log, 0.25, 5) == 15.0
    assert pd.isna(relu_pooling.steps_to_error(log, 0.01, 5))
    sizes = relu_pooling.pool_sizes(28, [(3, 2), (2, 2)])
    assert sizes["output"].tolist() == [13, 14]


def test_steps_to_error_table_matches_steps_to_error_per_run():
    def h(accs):
        return pd.DataFrame({"epoch": range(1, len(accs) + 1), "train_acc": accs})

    runs = {
        "relu": [h([0.7, 0.8, 0.9]), h([0.76, 0.9, 0.9])],
        "tanh": [h([0.5, 0.6, 0.8]), h([0.5, 0.6, 0.7])],
    }
    results = pd.DataFrame({"label": ["relu", "relu", "tanh", "tanh"], "seed": [3, 4, 3, 4]})
    t = relu_pooling.steps_to_error_table(results, runs, 0.25, every=5)
    assert t.index.tolist() == [3, 4]
    assert t.columns.tolist() == ["relu", "tanh", "tanh / relu"]
    assert t.loc[3].tolist() == [10.0, 15.0, 1.5]
    assert (
        t.loc[4, "relu"] == 5.0 and pd.isna(t.loc[4, "tanh"]) and pd.isna(t.loc[4, "tanh / relu"])
    )
    with pytest.raises(ValueError, match="rows in results"):
        relu_pooling.steps_to_error_table(results.iloc[:3], runs, 0.25, every=5)


def test_error_curves_copies_and_adds_step_and_error():
    h = pd.DataFrame({"epoch": [1, 2, 3], "train_acc": [0.5, 0.6, 0.9]})
    curves = relu_pooling.error_curves({"relu": [h], "tanh": [h, h]}, every=4)
    assert [len(v) for v in curves.values()] == [1, 2]
    assert curves["tanh"][1]["step"].tolist() == [4, 8, 12]
    assert curves["relu"][0]["train_error"].tolist() == pytest.approx([0.5, 0.4, 0.1])
    assert list(h.columns) == ["epoch", "train_acc"]  # the input is left alone
