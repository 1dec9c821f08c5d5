"""Lesson 05's dropout: the paper's and the inverted version behave as §4.2 says, and the pitfall is real."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from alexnet_lesson import dropout


def test_inverted_dropout_preserves_the_expectation_and_matches_nn_dropout():
    # 500 draws of 200 values: the mean's relative standard deviation is about 0.0034 and the
    # zeroed fraction's 0.0016, so rel=0.02 and abs=0.01 are about 6σ (worst over 20 seeds:
    # 0.0073 and 0.0031). Survivors are x/(1 - p)/x in float32: exact for p = 0.5, within a few
    # ulp (1.2e-7) of 1.25 for p = 0.2, hence abs=1e-6.
    x = torch.linspace(0.5, 2.0, 200)
    ours = dropout.dropout_statistics(dropout.inverted_dropout, x, 0.5, samples=500)
    theirs = dropout.dropout_statistics(
        lambda x, p, g: nn.Dropout(p).train()(x), x, 0.5, samples=500
    )
    for s in (ours, theirs):
        assert s["mean"] == pytest.approx(s["input mean"], rel=0.02)
        assert s["fraction zeroed"] == pytest.approx(0.5, abs=0.01)
        assert s["survivor value"] == pytest.approx(2.0, abs=1e-6)
    zero_p = dropout.dropout_statistics(dropout.inverted_dropout, x, 0.2, samples=500)
    assert zero_p["fraction zeroed"] == pytest.approx(0.2, abs=0.01)
    assert zero_p["survivor value"] == pytest.approx(1.25, abs=1e-6)


def test_dropout_eval_is_identity_and_paper_scaling_has_the_same_expectation():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1000, generator=g)
    assert torch.equal(dropout.inverted_dropout(x, 0.5, training=False), x)
    assert torch.equal(dropout.ScratchDropout(0.5).eval()(x), x)
    assert torch.allclose(dropout.paper_dropout(x, 0.5, training=False), 0.5 * x)
    # The mean of 1000 training draws estimates (1 - p)·x, the test-time output, with standard
    # deviation |x|·sqrt(p(1 - p)/1000) ≤ 0.032 on [-2, 2]: atol 0.2 is over 6σ (worst seen over
    # 50 seeds: 0.10), while rescaling like inverted dropout would miss by up to 1.0.
    grid = torch.linspace(-2.0, 2.0, 201)
    draws = torch.stack([dropout.paper_dropout(grid, 0.5, generator=g) for _ in range(1000)])
    expected = dropout.paper_dropout(grid, 0.5, training=False)
    assert torch.allclose(draws.mean(0), expected, rtol=0, atol=0.2)
    with pytest.raises(ValueError, match="between 0 and 1"):
        dropout.inverted_dropout(x, 1.5)


def test_f_dropout_pitfall_differs_between_eval_calls_and_the_fix_does_not():
    x = torch.randn(4, 8)
    broken = dropout.DropoutPitfallNet(fixed=False, seed=0).eval()
    fixed = dropout.DropoutPitfallNet(fixed=True, seed=0).eval()
    assert not torch.equal(broken(x), broken(x))
    assert torch.equal(fixed(x), fixed(x))
    # same weights: the fixed model in eval is the deterministic network without dropout
    h = F.relu(fixed.fc1(x))
    assert torch.allclose(fixed(x), fixed.fc2(h))


def test_dropout_table_one_row_per_version():
    x = torch.linspace(0.5, 2.0, 200)
    versions = {"inverted": dropout.inverted_dropout, "paper": dropout.paper_dropout}
    t = dropout.dropout_table(versions, x, 0.2, samples=300)
    assert t.index.tolist() == ["inverted", "paper"]
    assert t.loc["inverted", "mean"] == pytest.approx(x.mean().item(), rel=0.02)
    assert t.loc["paper", "mean"] == pytest.approx(0.8 * x.mean().item(), rel=0.02)
    assert t.loc["inverted", "survivor value"] == pytest.approx(1.25, abs=1e-6)
    assert t.loc["paper", "fraction zeroed"] == pytest.approx(0.2, abs=0.01)
    direct = dropout.dropout_statistics(dropout.paper_dropout, x, 0.2, samples=300)
    assert t.loc["paper"].to_dict() == direct
