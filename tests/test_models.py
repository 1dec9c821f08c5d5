"""The variants: output shapes, parameter counts against hand formulas, the wrong-size error, init."""

import math

import pytest
import torch
from torch import nn

from alexnet_lesson import tables
from alexnet_lesson.models import VARIANTS, InputSizeError, alexnet, init_paper, variants


def conv(k, c_in, c_out, groups=1):
    return (k * k * c_in // groups + 1) * c_out


def fc(n_in, n_out):
    return (n_in + 1) * n_out


# Written from the paper (§3.5), torchvision's source and the d2l chapter, not from our models.
EXPECTED_PARAMS = {
    "paper": conv(11, 3, 96) + conv(5, 96, 256, 2) + conv(3, 256, 384) + conv(3, 384, 384, 2)
    + conv(3, 384, 256, 2) + fc(9216, 4096) + fc(4096, 4096) + fc(4096, 1000),
    "paper_1gpu": conv(11, 3, 96) + conv(5, 96, 256) + conv(3, 256, 384) + conv(3, 384, 384)
    + conv(3, 384, 256) + fc(9216, 4096) + fc(4096, 4096) + fc(4096, 1000),
    "torchvision": 61_100_840,  # torchvision's model docs: AlexNet_Weights.IMAGENET1K_V1 num_params
    "d2l": conv(11, 1, 96) + conv(5, 96, 256) + conv(3, 256, 384) + conv(3, 384, 384)
    + conv(3, 384, 256) + fc(6400, 4096) + fc(4096, 4096) + fc(4096, 10),
    "caffe227": conv(11, 1, 96) + conv(5, 96, 256) + conv(3, 256, 384) + conv(3, 384, 384)
    + conv(3, 384, 256) + fc(9216, 4096) + fc(4096, 4096) + fc(4096, 10),
    "cifar96": conv(11, 3, 64) + conv(5, 64, 192) + conv(3, 192, 384) + conv(3, 384, 256)
    + conv(3, 256, 256) + fc(9216, 4096) + fc(4096, 1024) + fc(1024, 10),
}  # fmt: skip


@pytest.mark.parametrize("name", list(VARIANTS))
def test_parameter_count_matches_formula(name):
    model = alexnet(name, init="pytorch")
    assert sum(p.numel() for p in model.parameters()) == EXPECTED_PARAMS[name]


def test_paper_total_is_about_sixty_million():
    # Abstract: "60 million parameters"
    model = alexnet("paper", init="pytorch")
    assert 60e6 < sum(p.numel() for p in model.parameters()) < 61e6


def test_torchvision_variant_matches_torchvision():
    from torchvision.models import alexnet as tv_alexnet

    ours = [p.shape for p in alexnet("torchvision").parameters()]
    theirs = [p.shape for p in tv_alexnet(weights=None).parameters()]
    assert ours == theirs


@pytest.mark.parametrize("name", list(VARIANTS))
def test_output_shape_at_design_size(name):
    v = VARIANTS[name]
    model = alexnet(name).eval()
    with torch.no_grad():
        out = model(torch.randn(2, v.in_channels, v.input_size, v.input_size))
    assert out.shape == (2, v.num_classes)


def test_layer_names_follow_the_paper():
    names = [
        n for n, m in alexnet("paper").named_children() if isinstance(m, nn.Conv2d | nn.Linear)
    ]
    assert names == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]


def test_paper_lrn_uses_pytorch_alpha():
    lrn = alexnet("paper").lrn1
    assert (lrn.size, lrn.alpha, lrn.beta, lrn.k) == (5, 5e-4, 0.75, 2.0)
    assert [m.groups for m in alexnet("paper").modules() if isinstance(m, nn.Conv2d)] == [
        1,
        2,
        1,
        2,
        2,
    ]


def test_wrong_size_error_names_variant_size_and_accepted_range():
    model = alexnet("d2l")
    with pytest.raises(InputSizeError) as err:
        model(torch.zeros(1, 1, 28, 28))
    msg = str(err.value)
    assert "'d2l'" in msg and "1×28×28" in msg and "pool" in msg
    lo, hi = model.accepted_sizes()[0]
    assert f"{lo} to {hi} px" in msg
    # the computed range really is the range: its ends work, one past them fails
    for n, ok in [(lo, True), (hi, True), (lo - 1, False), (hi + 1, False)]:
        if ok:
            model.eval()(torch.zeros(1, 1, n, n))
        else:
            with pytest.raises(InputSizeError):
                model(torch.zeros(1, 1, n, n))


def test_wrong_channels_and_missing_batch_axis():
    with pytest.raises(InputSizeError, match="1 channel"):
        alexnet("d2l")(torch.zeros(1, 3, 224, 224))
    with pytest.raises(InputSizeError, match="unsqueeze"):
        alexnet("d2l")(torch.zeros(1, 224, 224))


def test_adaptive_variants_accept_any_size_above_a_minimum():
    ranges = alexnet("torchvision").accepted_sizes()
    assert len(ranges) == 1 and ranges[0][1] == 1024 and ranges[0][0] > 1


def test_unknown_variant_lists_choices():
    with pytest.raises(ValueError, match="d2l"):
        alexnet("vgg")


def test_paper_init():
    model = init_paper(alexnet("paper", init="pytorch"))
    biases = {
        n: float(m.bias.detach().mean())
        for n, m in model.named_children()
        if hasattr(m, "bias") and m.bias is not None
    }
    assert biases == {
        "conv1": 0,
        "conv2": 1,
        "conv3": 0,
        "conv4": 1,
        "conv5": 1,
        "fc6": 1,
        "fc7": 1,
        "fc8": 0,
    }
    assert abs(model.fc6.weight.std().item() - 0.01) < 1e-4


def _fixed_batch_losses(synthetic, init, steps=6):
    """Loss of one fixed batch of 8 before and after ``steps`` plain SGD steps at lr 0.01 (d2l's
    recipe), measured in eval mode so that dropout's noise does not blur the comparison."""
    from alexnet_lesson.config import DataConfig
    from alexnet_lesson.data import splits

    train = splits(synthetic, DataConfig(augment=False, val_share=0), batch_size=8).train
    x, y = next(iter(train))
    model = alexnet("d2l", init=init, seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def eval_loss():
        model.eval()
        with torch.no_grad():
            loss = nn.functional.cross_entropy(model(x), y).item()
        model.train()
        return loss

    before = eval_loss()
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return before, eval_loss()


# Measured over 13 seeds (weights and batch): with the default init the loss fell by 0.43 to 1.4,
# with PyTorch's by at most 0.02. The train-mode loss of 8 steps on 16 images, asserted before,
# carried dropout's noise and missed a fall of 0.2 on one seed in five.


@pytest.mark.slow
def test_default_init_lets_plain_sgd_train_d2l(synthetic):
    """Default (Kaiming) init + plain SGD at lr 0.01: the loss on a fixed batch falls."""
    before, after = _fixed_batch_losses(synthetic, "kaiming")
    assert after < before - 0.2, (before, after)  # chance is ln 10 ≈ 2.30


@pytest.mark.slow
def test_pytorch_default_init_with_plain_sgd_stays_at_chance(synthetic):
    """The contrast that motivates the default: PyTorch's own init leaves the loss at ln 10."""
    before, after = _fixed_batch_losses(synthetic, "pytorch")
    assert abs(after - math.log(10)) < 0.05 and abs(after - before) < 0.05, (before, after)


def test_seed_makes_weights_reproducible():
    a, b = alexnet("d2l", seed=3), alexnet("d2l", seed=3)
    assert torch.equal(a.conv1.weight, b.conv1.weight)


def test_registry_rows():
    rows = {r["variant"]: r for r in variants()}
    assert set(rows) == set(VARIANTS)
    assert rows["d2l"]["input"] == "1×224×224"
    assert VARIANTS["d2l"].input_shape == (1, 224, 224)
    assert VARIANTS["paper"].input_shape == (3, 227, 227)


def test_the_variants_table_describes_every_variant_with_a_source():
    t = tables.read("variants").set_index("variant")
    assert list(t.index) == list(VARIANTS)  # the registry's order, no more, no fewer
    for name in VARIANTS:
        for column in ("what it is", "used by", "how it differs from the paper", "source"):
            assert t.loc[name, column].strip(), (name, column)
    assert "1404.5997" in t.loc["torchvision", "source"]
    assert "caffenet" in t.loc["caffe227", "source"].lower()
