"""The from-scratch tricks of lessons 04–06 agree with PyTorch's, and the model builders are right."""

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from alexnet_lesson import tricks
from alexnet_lesson.models import LRN_ALPHA, LRN_BETA, LRN_K, LRN_N, paper_lrn


def _activations(seed=0, shape=(2, 16, 5, 5)):
    g = torch.Generator().manual_seed(seed)
    return torch.relu(torch.randn(shape, generator=g, dtype=torch.float64) * 40)


# --------------------------------------------------------------------------- LRN


def test_lrn_from_scratch_matches_pytorch_at_paper_constants_in_float64():
    a = _activations()
    ours = tricks.lrn_paper(a)
    theirs = nn.LocalResponseNorm(LRN_N, alpha=LRN_ALPHA * LRN_N, beta=LRN_BETA, k=LRN_K)(a)
    # float64 (eps 2.2e-16) on values up to ~50: rounding is ~1e-14 (measured ≤ 1.5e-14 over 20
    # seeds); 1e-12 is far above that and far below the 15 of the wrong alpha (next test)
    assert (ours - theirs).abs().max().item() < 1e-12
    assert torch.allclose(paper_lrn()(a), ours, rtol=0, atol=1e-12)


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
    # 500 draws of 200 values: the mean's relative standard deviation is about 0.0034 and the
    # zeroed fraction's 0.0016, so rel=0.02 and abs=0.01 are about 6σ (worst over 20 seeds:
    # 0.0073 and 0.0031). Survivors are x/(1 - p)/x in float32: exact for p = 0.5, within a few
    # ulp (1.2e-7) of 1.25 for p = 0.2, hence abs=1e-6.
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
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1000, generator=g)
    assert torch.equal(tricks.inverted_dropout(x, 0.5, training=False), x)
    assert torch.equal(tricks.ScratchDropout(0.5).eval()(x), x)
    assert torch.allclose(tricks.paper_dropout(x, 0.5, training=False), 0.5 * x)
    # The mean of 1000 training draws estimates (1 - p)·x, the test-time output, with standard
    # deviation |x|·sqrt(p(1 - p)/1000) ≤ 0.032 on [-2, 2]: atol 0.2 is over 6σ (worst seen over
    # 50 seeds: 0.10), while rescaling like inverted dropout would miss by up to 1.0.
    grid = torch.linspace(-2.0, 2.0, 201)
    draws = torch.stack([tricks.paper_dropout(grid, 0.5, generator=g) for _ in range(1000)])
    expected = tricks.paper_dropout(grid, 0.5, training=False)
    assert torch.allclose(draws.mean(0), expected, rtol=0, atol=0.2)
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
    # one unit from 0 on its side: learnable in 4 steps (on pure noise the loss fell by as
    # little as 0.008 on some seeds; now ≥ 0.23 and the last loss ≤ 0.30 over 15 data seeds,
    # lr 0.05 to 0.2)
    x += (2 * y - 1).float()[:, None, None, None]
    data = [(x[:32], y[:32]), (x[32:], y[32:])]

    def make(seed):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Dropout(0.5), nn.Linear(8, 2))

    a, runs = tricks.compare({"m": make}, data, data, seeds=[0, 1], epochs=2, lr=0.1, device="cpu")
    b, _ = tricks.compare({"m": make}, data, data, seeds=[0, 1], epochs=2, lr=0.1, device="cpu")
    assert a["train_loss"].tolist() == b["train_loss"].tolist()
    assert a["train_loss"].iloc[0] != a["train_loss"].iloc[1]  # different seeds, different runs
    assert len(runs["m"]) == 2 and len(runs["m"][0]) == 2
    for h in runs["m"]:
        assert h["train_loss"].iloc[-1] < min(h["train_loss"].iloc[0], 0.5)  # chance: ln 2 = 0.69


# --------------------------------------------------------------------------- plans and builders


def test_plan_picks_smoke_then_cuda_then_cpu_and_returns_a_copy():
    assert tricks.plan("lrn", smoke=True, device_type="cuda")["model"] == "mini_alexnet"
    assert tricks.plan("lrn", smoke=True, device_type="cuda")["epochs"] == 1
    gpu = tricks.plan("lrn", smoke=False, device_type="cuda")
    assert (gpu["model"], gpu["size"], gpu["seeds"]) == ("d2l", 224, (0, 1, 2))
    assert tricks.plan("lrn", False, "mps") == tricks.plan("lrn", False, "cpu")
    assert tricks.plan("relu", False, "cpu") == dict(
        limit=(None, 64), batch=32, every=4, logs=40, seeds=(0, 1, 2)
    )
    p = tricks.plan("pooling", False, "cpu")
    p["epochs"] = 99
    assert tricks.plan("pooling", False, "cpu")["epochs"] == 3
    for name in ("lrn", "dropout", "relu", "pooling"):
        assert set(tricks.PLANS[name]) == {"smoke", "cuda", "cpu"}
        assert len(tricks.plan(name, True, "cpu")["seeds"]) == 1
    with pytest.raises(ValueError, match="unknown experiment"):
        tricks.plan("gelu", False, "cpu")


def test_norm_builders_build_the_same_models_as_by_hand():
    build = tricks.norm_builders("mini_alexnet")
    assert list(build) == ["none", "lrn", "batchnorm"]
    for norm, make in build.items():
        by_hand = tricks.init_kaiming(tricks.mini_alexnet(norm, seed=2))
        ours = make(2)
        assert [n for n, _ in ours.named_children()] == [n for n, _ in by_hand.named_children()]
        for a, b in zip(ours.parameters(), by_hand.parameters(), strict=True):
            assert torch.equal(a, b)
    assert not torch.equal(build["lrn"](0).conv1.weight, build["lrn"](1).conv1.weight)
    d2l = tricks.norm_builders("d2l", norms=("batchnorm",))["batchnorm"](0)
    assert d2l.bn1.num_features == 96 and d2l.input_size == 224
    with pytest.raises(ValueError, match="unknown model"):
        tricks.norm_builders("vgg")


def test_cnn_builder_passes_options_and_seed():
    make = tricks.cnn_builder("tanh", pool=(2, 2), widths=(8, 16), hidden=32, dropout=0.5)
    net = make(4)
    assert isinstance(net.act1, nn.Tanh) and net.fc1.in_features == 16 * 7 * 7
    assert net.fc2.in_features == 32 and net.drop.p == 0.5
    same = tricks.small_cnn("tanh", pool=(2, 2), widths=(8, 16), hidden=32, dropout=0.5, seed=4)
    assert torch.equal(net.conv1.weight, same.conv1.weight)
    assert not torch.equal(make(5).conv1.weight, net.conv1.weight)


def test_describe_run_counts_images_of_both_loader_kinds():
    from types import SimpleNamespace

    from torch.utils.data import DataLoader, TensorDataset

    train = DataLoader(TensorDataset(torch.zeros(12, 1)), batch_size=5)
    line = tricks.describe_run(tricks.plan("relu", True, "cpu"), train)
    assert line == "train on 12 images; batch 32; seeds [0]; 10 logs every 2 steps"
    test = SimpleNamespace(dataset_size=7)
    line = tricks.describe_run({"seeds": (0, 1), "epochs": 2}, train, test, "mini_alexnet")
    assert line == "train on 12 images, test on 7; seeds [0, 1]; 2 epoch(s); mini_alexnet"
    line = tricks.describe_run(tricks.plan("lrn", False, "cpu"), train, test, "AdamW")
    assert line == (
        "train on 12 images, test on 7; batch 32; seeds [0, 1]; 2 epoch(s); "
        "mini_alexnet at 28 px; AdamW"
    )


# --------------------------------------------------------------------------- result tables


def test_dropout_table_one_row_per_version():
    x = torch.linspace(0.5, 2.0, 200)
    versions = {"inverted": tricks.inverted_dropout, "paper": tricks.paper_dropout}
    t = tricks.dropout_table(versions, x, 0.2, samples=300)
    assert t.index.tolist() == ["inverted", "paper"]
    assert t.loc["inverted", "mean"] == pytest.approx(x.mean().item(), rel=0.02)
    assert t.loc["paper", "mean"] == pytest.approx(0.8 * x.mean().item(), rel=0.02)
    assert t.loc["inverted", "survivor value"] == pytest.approx(1.25, abs=1e-6)
    assert t.loc["paper", "fraction zeroed"] == pytest.approx(0.2, abs=0.01)
    direct = tricks.dropout_statistics(tricks.paper_dropout, x, 0.2, samples=300)
    assert t.loc["paper"].to_dict() == direct


def _summary(accs, seconds=None):
    rows = [
        {"label": label, "test_acc": acc, "s_per_epoch": (seconds or {}).get(label, 1.0)}
        for label, values in accs.items()
        for acc in values
    ]
    return tricks.summarise_runs(pd.DataFrame(rows), "label", ["test_acc", "s_per_epoch"])


def test_noise_verdict_within_noise_larger_than_noise_and_one_seed():
    summary = _summary(
        {"none": [0.80, 0.84], "lrn": [0.81, 0.85], "batchnorm": [0.90, 0.91]},
        seconds={"none": 2.0, "lrn": 3.0, "batchnorm": 2.2},
    )
    lines = tricks.noise_verdict(summary).splitlines()
    assert len(lines) == 2
    # lrn: gap +0.010, band 2 · std(0.80, 0.84) = 0.0566 → within noise
    assert lines[0].startswith("* **lrn** vs none: test accuracy +0.010 (noise band ±0.057)")
    assert "**within noise**" in lines[0] and "1.50× as long" in lines[0]
    # batchnorm: gap +0.085 > 0.057 → larger than the noise
    assert "+0.085" in lines[1] and "larger than the noise" in lines[1]
    assert "1.10× as long" in lines[1]
    one = _summary({"none": [0.80], "lrn": [0.95], "batchnorm": [0.70]})
    text = tricks.noise_verdict(one)
    assert text.count("one seed gives no measure of noise") == 2 and "nan" not in text
    assert "+0.150" in text and "-0.100" in text
    assert "no measure" in tricks.noise_verdict(summary, seeds=1)


def test_dropout_verdict_means_over_seeds():
    r = pd.DataFrame(
        {
            "label": ["p = 0.0", "p = 0.0", "p = 0.5", "p = 0.5"],
            "seed": [0, 1, 0, 1],
            "epochs": [15, 15, 15, 15],
            "train_acc": [1.0, 0.98, 0.9, 0.92],
            "test_acc": [0.80, 0.82, 0.84, 0.82],
        }
    )
    text = tricks.dropout_verdict(r, 512)
    assert text.startswith("After 15 epochs the gap between training and test accuracy is 0.180")
    assert "0.080 with it; test accuracy 0.810 versus 0.830 (2 seed(s), 512 training" in text
    assert "single seed" not in text
    assert "single seed" in tricks.dropout_verdict(r[r["seed"] == 0], 512)


def test_steps_to_error_table_matches_steps_to_error_per_run():
    def h(accs):
        return pd.DataFrame({"epoch": range(1, len(accs) + 1), "train_acc": accs})

    runs = {
        "relu": [h([0.7, 0.8, 0.9]), h([0.76, 0.9, 0.9])],
        "tanh": [h([0.5, 0.6, 0.8]), h([0.5, 0.6, 0.7])],
    }
    results = pd.DataFrame({"label": ["relu", "relu", "tanh", "tanh"], "seed": [3, 4, 3, 4]})
    t = tricks.steps_to_error_table(results, runs, 0.25, every=5)
    assert t.index.tolist() == [3, 4]
    assert t.columns.tolist() == ["relu", "tanh", "tanh / relu"]
    assert t.loc[3].tolist() == [10.0, 15.0, 1.5]
    assert (
        t.loc[4, "relu"] == 5.0 and pd.isna(t.loc[4, "tanh"]) and pd.isna(t.loc[4, "tanh / relu"])
    )
    with pytest.raises(ValueError, match="rows in results"):
        tricks.steps_to_error_table(results.iloc[:3], runs, 0.25, every=5)


def test_error_curves_copies_and_adds_step_and_error():
    h = pd.DataFrame({"epoch": [1, 2, 3], "train_acc": [0.5, 0.6, 0.9]})
    curves = tricks.error_curves({"relu": [h], "tanh": [h, h]}, every=4)
    assert [len(v) for v in curves.values()] == [1, 2]
    assert curves["tanh"][1]["step"].tolist() == [4, 8, 12]
    assert curves["relu"][0]["train_error"].tolist() == pytest.approx([0.5, 0.4, 0.1])
    assert list(h.columns) == ["epoch", "train_acc"]  # the input is left alone
