"""The from-scratch tricks of lessons 04–06 agree with PyTorch's, and the model builders are right."""

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from alexnet_lesson import tricks
from alexnet_lesson.models import LRN_ALPHA, LRN_BETA, LRN_K, LRN_N


def _activations(seed=0, shape=(2, 16, 5, 5)):
    g = torch.Generator().manual_seed(seed)
    return torch.relu(torch.randn(shape, generator=g, dtype=torch.float64) * 40)


# --------------------------------------------------------------------------- LRN


def test_lrn_from_scratch_matches_pytorch_at_paper_constants_in_float64():
    a = _activations()
    ours = tricks.lrn_paper(a)
    theirs = nn.LocalResponseNorm(LRN_N, alpha=LRN_ALPHA * LRN_N, beta=LRN_BETA, k=LRN_K)(a)
    assert (ours - theirs).abs().max().item() < 1e-12
    assert torch.allclose(tricks.torch_lrn()(a), ours, rtol=0, atol=1e-12)


def test_lrn_alpha_must_be_multiplied_by_size():
    a = _activations(1)
    ours = tricks.lrn_paper(a)
    wrong = nn.LocalResponseNorm(LRN_N, alpha=LRN_ALPHA, beta=LRN_BETA, k=LRN_K)(a)
    assert (ours - wrong).abs().max().item() > 1e-3
    table = tricks.lrn_pitfall_table(a)
    assert table["max abs difference"].iloc[0] < 1e-12
    assert table["max abs difference"].iloc[1] > 1e-3


def test_lrn_by_hand_on_one_position():
    # three channels, n = 3: channel 0 sums channels 0..1, channel 1 sums 0..2, channel 2 sums 1..2
    a = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    b = tricks.lrn_paper(a, n=3, alpha=0.5, beta=1.0, k=1.0)
    expected = [1 / (1 + 0.5 * 5), 2 / (1 + 0.5 * 14), 3 / (1 + 0.5 * 13)]
    assert b[0].tolist() == pytest.approx(expected, abs=1e-15)


def test_lateral_inhibition_strong_channel_damps_neighbours_only_within_reach():
    values = [1.0] * 9
    values[4] = 50.0
    t = tricks.lateral_inhibition(values, n=5, alpha=1e-2)
    alone = tricks.lateral_inhibition([1.0] * 9, n=5, alpha=1e-2)
    damped = (t["output"] < alone["output"] - 1e-9).tolist()
    assert damped[:4] + damped[5:] == [False, False, True, True, True, True, False, False]
    assert t["divisor"].iloc[4] > alone["divisor"].iloc[4]  # and itself most of all


# --------------------------------------------------------------------------- dropout


def test_inverted_dropout_preserves_the_expectation_and_matches_nn_dropout():
    x = torch.linspace(0.5, 2.0, 200)
    ours = tricks.dropout_statistics(tricks.inverted_dropout, x, 0.5, samples=500)
    theirs = tricks.dropout_statistics(
        lambda x, p, g: nn.Dropout(p).train()(x), x, 0.5, samples=500
    )
    for s in (ours, theirs):
        assert s["mean"] == pytest.approx(s["input mean"], rel=0.02)
        assert s["fraction zeroed"] == pytest.approx(0.5, abs=0.01)
        assert s["survivor value"] == pytest.approx(2.0, abs=1e-6)
    zero_p = tricks.dropout_statistics(tricks.inverted_dropout, x, 0.2, samples=500)
    assert zero_p["fraction zeroed"] == pytest.approx(0.2, abs=0.01)
    assert zero_p["survivor value"] == pytest.approx(1.25, abs=1e-6)


def test_dropout_eval_is_identity_and_paper_scaling_has_the_same_expectation():
    x = torch.randn(1000)
    assert torch.equal(tricks.inverted_dropout(x, 0.5, training=False), x)
    assert torch.equal(tricks.ScratchDropout(0.5).eval()(x), x)
    assert torch.allclose(tricks.paper_dropout(x, 0.5, training=False), 0.5 * x)
    g = torch.Generator().manual_seed(0)
    train_mean = torch.stack([tricks.paper_dropout(x, 0.5, generator=g) for _ in range(400)]).mean(
        0
    )
    assert torch.allclose(train_mean, 0.5 * x, atol=0.25)
    with pytest.raises(ValueError, match="between 0 and 1"):
        tricks.inverted_dropout(x, 1.5)


def test_f_dropout_pitfall_differs_between_eval_calls_and_the_fix_does_not():
    x = torch.randn(4, 8)
    broken = tricks.DropoutPitfallNet(fixed=False, seed=0).eval()
    fixed = tricks.DropoutPitfallNet(fixed=True, seed=0).eval()
    assert not torch.equal(broken(x), broken(x))
    assert torch.equal(fixed(x), fixed(x))
    # same weights: the fixed model in eval is the deterministic network without dropout
    h = F.relu(fixed.fc1(x))
    assert torch.allclose(fixed(x), fixed.fc2(h))


# --------------------------------------------------------------------------- activations, models


def test_activation_curves_gradients_match_formulas():
    t = tricks.activation_curves(-4, 4, 81)
    s = torch.sigmoid(torch.tensor(t["x"].values))
    assert t["d sigmoid"].values == pytest.approx((s * (1 - s)).numpy(), abs=1e-12)
    assert t["d tanh"].values == pytest.approx(1 - t["tanh"].values ** 2, abs=1e-12)
    assert set(t.loc[t["x"] > 0, "d relu"]) == {1.0}
    assert set(t.loc[t["x"] < 0, "d relu"]) == {0.0}


@pytest.mark.parametrize(("pool", "flat"), [((3, 2), 64 * 6 * 6), ((2, 2), 64 * 7 * 7)])
def test_small_cnn_shapes_and_activation(pool, flat):
    net = tricks.small_cnn("tanh", pool=pool, dropout=0.5)
    assert net.fc1.in_features == flat
    assert isinstance(net.act1, nn.Tanh) and isinstance(net.drop, nn.Dropout)
    assert net(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    a, b = tricks.small_cnn("relu", seed=3), tricks.small_cnn("tanh", seed=3)
    assert torch.equal(a.conv1.weight, b.conv1.weight)  # same seed, same starting weights
    with pytest.raises(ValueError, match="unknown activation"):
        tricks.small_cnn("gelu")


def test_d2l_with_norm_layers_and_same_weights():
    nets = {n: tricks.d2l_with_norm(n, seed=0) for n in tricks.NORMS}
    names = {n: [k for k, _ in m.named_children()] for n, m in nets.items()}
    assert names["lrn"][:9] == [
        "conv1", "relu1", "lrn1", "pool1", "conv2", "relu2", "lrn2", "pool2", "conv3",
    ]  # fmt: skip
    assert names["batchnorm"][:4] == ["conv1", "bn1", "relu1", "pool1"]
    assert names["none"] == [k for k, _ in tricks.alexnet("d2l").named_children()]
    assert isinstance(nets["lrn"].lrn2, nn.LocalResponseNorm) and nets["lrn"].lrn2.alpha == 5e-4
    assert nets["batchnorm"].bn2.num_features == 256
    for n in ("lrn", "batchnorm"):
        assert torch.equal(nets[n].conv1.weight, nets["none"].conv1.weight)
    with pytest.raises(ValueError, match="unknown norm"):
        tricks.d2l_with_norm("layernorm")


def test_d2l_with_norm_forward_at_224():
    net = tricks.d2l_with_norm("batchnorm").eval()
    assert net(torch.zeros(1, 1, 224, 224)).shape == (1, 10)


# --------------------------------------------------------------------------- experiment helpers


def test_steps_to_error_and_summaries():
    log = pd.DataFrame({"epoch": [1, 2, 3, 4], "train_acc": [0.3, 0.6, 0.76, 0.9]})
    assert tricks.steps_to_error(log, 0.25, 5) == 15.0
    assert pd.isna(tricks.steps_to_error(log, 0.01, 5))
    sizes = tricks.pool_sizes(28, [(3, 2), (2, 2)])
    assert sizes["output"].tolist() == [13, 14]
    r = pd.DataFrame({"m": ["a", "a", "b", "b"], "acc": [0.1, 0.3, 0.5, 0.5]})
    s = tricks.summarise_runs(r, "m", ["acc"])
    assert s.loc["a", "mean"] == pytest.approx(0.2) and s.loc["b", "std"] == 0.0


def test_mini_alexnet_norm_placement_and_same_start():
    nets = {n: tricks.mini_alexnet(n, seed=1) for n in tricks.NORMS}
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


def test_compare_is_reproducible_and_reports_each_run():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 1, 4, 4, generator=g)
    y = (x.mean((1, 2, 3)) > 0).long()
    data = [(x[:32], y[:32]), (x[32:], y[32:])]

    def make(seed):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Dropout(0.5), nn.Linear(8, 2))

    a, runs = tricks.compare({"m": make}, data, data, seeds=[0, 1], epochs=2, lr=0.1, device="cpu")
    b, _ = tricks.compare({"m": make}, data, data, seeds=[0, 1], epochs=2, lr=0.1, device="cpu")
    assert a["train_loss"].tolist() == b["train_loss"].tolist()
    assert a["train_loss"].iloc[0] != a["train_loss"].iloc[1]  # different seeds, different runs
    assert len(runs["m"]) == 2 and len(runs["m"][0]) == 2
    assert runs["m"][0]["train_loss"].iloc[-1] < runs["m"][0]["train_loss"].iloc[0]
