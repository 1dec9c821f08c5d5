"""Lesson 03: parameter and MAC formulas against numel, FlopCounterMode and hand computation."""

import pytest
import torch
from torch import nn

from alexnet_lesson.models import VARIANTS
from alexnet_lesson.params import (
    SAVED_KINDS,
    crop_positions,
    flop_counter_macs,
    grouping_savings,
    largest_batch,
    layer_params,
    lrn_output_bytes,
    mac_table,
    macs_vs_flop_counter,
    measure_cuda_training_memory,
    meta_model,
    one_gpu_half,
    param_table,
    saved_by_kind,
    saved_tensor_bytes,
    split_memory,
    training_memory,
    variant_costs,
    weight_bytes,
)


def design(name):
    return VARIANTS[name].input_shape


@pytest.mark.parametrize("name", list(VARIANTS))
def test_layer_params_match_numel_for_every_layer(name):
    model = meta_model(name)
    for layer_name, layer in model.named_children():
        assert layer_params(layer) == sum(p.numel() for p in layer.parameters()), layer_name
    t = param_table(model)
    assert (t.params == t.numel).all()
    assert abs(t["share %"].sum() - 100) < 0.5


def test_totals_match_numel_of_real_models():
    t = variant_costs().set_index("variant")
    for name in VARIANTS:
        real = sum(p.numel() for p in meta_model(name).to_empty(device="cpu").parameters())
        assert t.loc[name, "params"] == real
        assert t.loc[name, "params"] == t.loc[name, "conv params"] + t.loc[name, "fc params"]
        assert t.loc[name, "MACs"] == t.loc[name, "conv MACs"] + t.loc[name, "fc MACs"]


@pytest.mark.parametrize("name", list(VARIANTS))
def test_macs_match_flop_counter(name):
    t = macs_vs_flop_counter(meta_model(name), design(name))
    assert t.agree.all(), t[~t.agree]
    assert len(t) == 8  # five convolutions, three fully connected layers


def test_flop_counter_on_a_real_cpu_model_matches_the_meta_count():
    real = flop_counter_macs(meta_model("d2l").to_empty(device="cpu"), (1, 224, 224))
    assert real == flop_counter_macs(meta_model("d2l"), (1, 224, 224))


def test_paper_macs_by_hand():
    # written out from the paper's layer sizes (§3.5, Figure 2) at 227 px
    hand = (
        96 * 55 * 55 * 11 * 11 * 3
        + 256 * 27 * 27 * 5 * 5 * 48
        + 384 * 13 * 13 * 3 * 3 * 256
        + 384 * 13 * 13 * 3 * 3 * 192
        + 256 * 13 * 13 * 3 * 3 * 192
        + 9216 * 4096
        + 4096 * 4096
        + 4096 * 1000
    )
    assert mac_table(meta_model("paper"), (3, 227, 227)).macs.sum() == hand


def test_grouping_saves_half_of_conv2_conv4_conv5():
    t = grouping_savings().set_index("quantity")
    halves = (5 * 5 * 96 * 256 + 3 * 3 * 384 * 384 + 3 * 3 * 384 * 256) // 2
    assert t.loc["params", "saved"] == halves
    assert (
        t.loc["MACs", "saved"]
        == (256 * 27 * 27 * 5 * 5 * 96 + 384 * 13 * 13 * 3 * 3 * 384 + 256 * 13 * 13 * 3 * 3 * 384)
        // 2
    )


def test_weight_bytes_and_training_memory():
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 2))
    n = 12 * 5 + 5 + 5 * 2 + 2
    assert weight_bytes(net) == 4 * n and weight_bytes(net, 2) == 2 * n
    # saved for backward: the flattened input (by the first linear), the ReLU output
    # (by ReLU and the second linear, one storage)
    assert saved_tensor_bytes(net, (3, 2, 2), batch=2) == 4 * (2 * 12 + 2 * 5)
    t = training_memory(net, (3, 2, 2), batch=8).set_index("part")
    assert (
        t.loc["weights", "bytes"]
        == t.loc["gradients", "bytes"]
        == t.loc["momentum", "bytes"]
        == 4 * n
    )
    assert t.loc["saved activations", "bytes"] == 8 * 4 * (12 + 5)
    assert list(t.index) == ["weights", "gradients", "momentum", "saved activations"]


def test_saved_bytes_scale_with_batch_and_cover_each_conv_output():
    model = meta_model("d2l").to_empty(device="cpu")
    one = saved_tensor_bytes(model, (1, 224, 224))
    assert saved_tensor_bytes(model, (1, 224, 224), batch=2) == 2 * one
    assert one > 4 * (1 * 224 * 224 + 96 * 54 * 54 + 256 * 26 * 26)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU path")
def test_cuda_measurement_says_no_gpu():
    with pytest.raises(RuntimeError, match="no CUDA"):
        measure_cuda_training_memory(nn.Linear(2, 2), (1, 1, 2), batch=1)


def test_one_gpu_half_holds_half_the_weights_and_reads_both_halves_where_the_paper_says():
    half = one_gpu_half()
    paper = meta_model("paper")
    assert 2 * sum(p.numel() for p in half.parameters()) == sum(
        p.numel() for p in paper.parameters()
    )
    convs = [m for m in half if isinstance(m, nn.Conv2d)]
    assert [c.in_channels for c in convs] == [
        3,
        48,
        256,
        192,
        192,
    ]  # §3.5: 11×11×3, 5×5×48, 3×3×256, 3×3×192
    assert [m.in_features for m in half if isinstance(m, nn.Linear)] == [9216, 4096, 4096]
    assert half(torch.zeros(1, 3, 227, 227)).shape == (1, 500)


def test_split_memory_halves_the_weights_and_totals_add_up():
    t = split_memory(batch=4).set_index("part")
    whole, each = "one GPU holds everything (bytes)", "each GPU of the split (bytes)"
    assert t.loc["weights", whole] == 4 * sum(p.numel() for p in meta_model("paper").parameters())
    assert t.loc["weights", whole] == 2 * t.loc["weights", each]
    kinds = [f"saved: {k}" for k in SAVED_KINDS]
    for col in (whole, each):
        assert (
            t.loc["what PyTorch keeps", col]
            == t.loc[["weights", "gradients", "momentum", *kinds], col].sum()
        )
        lean = t.loc["what PyTorch keeps", col] - t.loc["saved: LRN's intermediates", col]
        assert t.loc["with one denominator per LRN", col] > lean  # one tensor per LRN comes back
        assert t.loc["with one denominator per LRN", col] < t.loc["what PyTorch keeps", col]
    # one GPU of the split keeps more than half the activations: copies where the GPUs talk
    saved = t.loc[kinds].sum()
    assert saved[whole] / 2 < saved[each] < saved[whole]
    eight = split_memory(batch=8).set_index("part").loc[kinds, whole].sum()
    assert eight == 2 * saved[whole]


def test_saved_by_kind_against_the_layer_shapes():
    # the paper's LRNs follow conv1 (96×55×55) and conv2 (256×27×27): one denominator each
    paper = meta_model("paper").to_empty(device="cpu")
    denominators = 4 * (96 * 55 * 55 + 256 * 27 * 27)
    assert lrn_output_bytes(paper, (3, 227, 227)) == denominators
    kinds = saved_by_kind(paper, (3, 227, 227))
    assert kinds["LRN's intermediates"] >= 2 * denominators  # the composite keeps several
    # max-pool indices, int64, one per output of pool1 (96×27×27), pool2 (256×13×13), pool5
    assert kinds["max-pool indices"] == 8 * (96 * 27 * 27 + 256 * 13 * 13 + 256 * 6 * 6)
    assert sum(kinds.values()) == saved_tensor_bytes(paper, (3, 227, 227))
    d2l = saved_by_kind(meta_model("d2l").to_empty(device="cpu"), (1, 224, 224))
    assert d2l["LRN's intermediates"] == 0 and d2l["dropout masks"] > 0


def test_largest_batch_is_the_last_that_fits():
    assert largest_batch(3 * 2**30, 10, 2**20) == (3 * 2**30 - 10) // 2**20
    fixed, per = 731_582_688, 12_000_000
    b = largest_batch(3 * 2**30, fixed, per)
    assert fixed + b * per <= 3 * 2**30 < fixed + (b + 1) * per
    assert largest_batch(100, 200, 1) == 0


def test_crop_positions_count_the_offsets_and_flips():
    crops = crop_positions(256, 224)
    assert len(crops) == len(set(crops)) == (256 - 224 + 1) ** 2 * 2 == 2178
    assert max(top for top, _, _ in crops) == 256 - 224  # the last crop ends at the image's edge
