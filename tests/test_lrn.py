"""Lesson 04's LRN: the from-scratch formula agrees with PyTorch's, and the experiment's models are right."""

import pytest
import torch
from torch import nn

from alexnet_lesson import lrn, models
from alexnet_lesson.models import LRN_ALPHA, LRN_BETA, LRN_K, LRN_N, paper_lrn


def _activations(seed=0, shape=(2, 16, 5, 5)):
    g = torch.Generator().manual_seed(seed)
    return torch.relu(torch.randn(shape, generator=g, dtype=torch.float64) * 40)


def test_lrn_from_scratch_matches_pytorch_at_paper_constants_in_float64():
    a = _activations()
    ours = lrn.lrn_paper(a)
    theirs = nn.LocalResponseNorm(LRN_N, alpha=LRN_ALPHA * LRN_N, beta=LRN_BETA, k=LRN_K)(a)
    # float64 (eps 2.2e-16) on values up to ~50: rounding is ~1e-14 (measured ≤ 1.5e-14 over 20
    # seeds); 1e-12 is far above that and far below the 15 of the wrong alpha (next test)
    assert (ours - theirs).abs().max().item() < 1e-12
    assert torch.allclose(paper_lrn()(a), ours, rtol=0, atol=1e-12)


def test_lrn_alpha_must_be_multiplied_by_size():
    a = _activations(1)
    ours = lrn.lrn_paper(a)
    wrong = nn.LocalResponseNorm(LRN_N, alpha=LRN_ALPHA, beta=LRN_BETA, k=LRN_K)(a)
    assert (ours - wrong).abs().max().item() > 1e-3
    table = lrn.lrn_pitfall_table(a)
    assert table["max abs difference"].iloc[0] < 1e-12
    assert table["max abs difference"].iloc[1] > 1e-3


def test_lrn_by_hand_on_one_position():
    # three channels, n = 3: channel 0 sums channels 0..1, channel 1 sums 0..2, channel 2 sums 1..2
    a = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    b = lrn.lrn_paper(a, n=3, alpha=0.5, beta=1.0, k=1.0)
    expected = [1 / (1 + 0.5 * 5), 2 / (1 + 0.5 * 14), 3 / (1 + 0.5 * 13)]
    assert b[0].tolist() == pytest.approx(expected, abs=1e-15)


def test_lateral_inhibition_strong_channel_damps_neighbours_only_within_reach():
    values = [1.0] * 9
    values[4] = 50.0
    t = lrn.lateral_inhibition(values, n=5, alpha=1e-2)
    alone = lrn.lateral_inhibition([1.0] * 9, n=5, alpha=1e-2)
    damped = (t["output"] < alone["output"] - 1e-9).tolist()
    assert damped[:4] + damped[5:] == [False, False, True, True, True, True, False, False]
    assert t["divisor"].iloc[4] > alone["divisor"].iloc[4]  # and itself most of all


def test_d2l_with_norm_layers_and_same_weights():
    nets = {n: lrn.d2l_with_norm(n, seed=0) for n in lrn.NORMS}
    names = {n: [k for k, _ in m.named_children()] for n, m in nets.items()}
    assert names["lrn"][:9] == [
        "conv1", "relu1", "lrn1", "pool1", "conv2", "relu2", "lrn2", "pool2", "conv3",
    ]  # fmt: skip
    assert names["batchnorm"][:4] == ["conv1", "bn1", "relu1", "pool1"]
    assert names["none"] == [k for k, _ in models.alexnet("d2l").named_children()]
    assert isinstance(nets["lrn"].lrn2, nn.LocalResponseNorm) and nets["lrn"].lrn2.alpha == 5e-4
    assert nets["batchnorm"].bn2.num_features == 256
    for n in ("lrn", "batchnorm"):
        assert torch.equal(nets[n].conv1.weight, nets["none"].conv1.weight)
    with pytest.raises(ValueError, match="unknown norm"):
        lrn.d2l_with_norm("layernorm")


def test_d2l_with_norm_forward_at_224():
    net = lrn.d2l_with_norm("batchnorm").eval()
    assert net(torch.zeros(1, 1, 224, 224)).shape == (1, 10)


def test_mini_alexnet_norm_placement_and_same_start():
    nets = {n: lrn.mini_alexnet(n, seed=1) for n in lrn.NORMS}
    names = {n: [k for k, _ in m.named_children()] for n, m in nets.items()}
    assert names["lrn"][:8] == [
        "conv1",
        "relu1",
        "lrn1",
        "pool1",
        "conv2",
        "relu2",
        "lrn2",
        "pool2",
    ]
    assert names["batchnorm"][:4] == ["conv1", "bn1", "relu1", "pool1"]
    assert "lrn3" not in names["lrn"] and "bn3" not in names["batchnorm"]
    for n in ("lrn", "batchnorm"):
        assert torch.equal(nets[n].conv1.weight, nets["none"].conv1.weight)
        assert torch.equal(nets[n].fc8.weight, nets["none"].fc8.weight)
    assert nets["none"].eval()(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_norm_builders_build_the_same_models_as_by_hand():
    build = lrn.norm_builders("mini_alexnet")
    assert list(build) == ["none", "lrn", "batchnorm"]
    for norm, make in build.items():
        by_hand = models.init_kaiming(lrn.mini_alexnet(norm, seed=2))
        ours = make(2)
        assert [n for n, _ in ours.named_children()] == [n for n, _ in by_hand.named_children()]
        for a, b in zip(ours.parameters(), by_hand.parameters(), strict=True):
            assert torch.equal(a, b)
    assert not torch.equal(build["lrn"](0).conv1.weight, build["lrn"](1).conv1.weight)
    d2l = lrn.norm_builders("d2l", norms=("batchnorm",))["batchnorm"](0)
    assert d2l.bn1.num_features == 96 and d2l.input_size == 224
    with pytest.raises(ValueError, match="unknown model"):
        lrn.norm_builders("vgg")


def test_activation_scale_rescales_small_activations_and_damps_large_ones():
    small = _activations(shape=(16, 5, 5)) / 1000  # at most about 0.2: α Σ a² ≪ k
    t = lrn.activation_scale({"small": small, "large": small * 1000})
    floor = LRN_K**LRN_BETA  # 2^0.75: the divisor when α Σ a² is negligible
    assert t.loc["small", ["divisor min", "divisor max"]].tolist() == pytest.approx([floor] * 2)
    assert t.loc["small", "mean after"] == pytest.approx(t.loc["small", "mean before"] / floor)
    # at values up to ~200 the divisor varies: the largest activations are divided the most
    assert t.loc["large", "divisor max"] > 1.2 * t.loc["large", "divisor min"]
    assert t.loc["large", "divisor min"] >= floor
    after = lrn.lrn_paper(small[None] * 1000)
    assert t.loc["large", "max after"] == pytest.approx(after.max().item())
    assert t.loc["large", "max before"] == pytest.approx((small * 1000).max().item())
