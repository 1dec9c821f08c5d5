"""Lesson 01's story: LeNet-5 counted as the 1998 paper counts it, the pipeline AlexNet replaced,
and the two towers drawn from the model's layers, not from typed constants."""

import matplotlib.pyplot as plt
import pytest
import torch

from alexnet_lesson import history, params
from alexnet_lesson.tower_split import paper_twin


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_c3_table_is_the_papers_table_1():
    table = history.C3_TABLE
    assert len(table) == 16 and sum(len(t) for t in table) == 60
    assert [len(t) for t in table] == [3] * 6 + [4] * 9 + [6]
    # the paper's Table I, row by row: the C3 maps each S2 map feeds
    feeds = {i: [j for j, t in enumerate(table) if i in t] for i in range(6)}
    assert feeds[0] == [0, 4, 5, 6, 9, 10, 11, 12, 14, 15]
    assert feeds[1] == [0, 1, 5, 6, 7, 10, 11, 12, 13, 15]
    assert feeds[5] == [3, 4, 5, 8, 9, 10, 11, 13, 14, 15]


def test_lenet5_counts_match_the_1998_paper():
    t = history.lenet5_table().set_index("layer")
    # LeCun et al. 1998, §II.B: per layer; §II.A: 340,908 connections, 60,000 free parameters
    assert t.params.to_dict() == {
        "c1": 156, "s2": 12, "c3": 1516, "s4": 32, "c5": 48120, "f6": 10164, "output": 0
    }  # fmt: skip
    assert t.connections.to_dict() == {
        "c1": 122304, "s2": 5880, "c3": 151600, "s4": 2000, "c5": 48120, "f6": 10164,
        "output": 840,
    }  # fmt: skip
    assert t.params.sum() == 60000 and t.connections.sum() == 340908
    assert t.output.tolist() == ["6×28×28", "6×14×14", "16×10×10", "16×5×5", "120×1×1", "84", "10"]


def test_lenet5_macs_agree_with_pytorchs_flop_counter():
    t = history.lenet5_table().set_index("layer")
    counted = params.flop_counter_macs(history.lenet5(), (1, 32, 32))
    assert counted == {name: int(t.loc[name, "MACs"]) for name in counted}
    assert set(counted) == {"c1", "c3", "c5", "f6"}
    assert t.MACs.sum() == sum(counted.values()) + 840  # plus the RBF's squared differences


def test_lenet5_trains_through_the_table_and_keeps_the_rbf_fixed():
    net = history.lenet5()
    net(torch.randn(2, 1, 32, 32)).sum().backward()
    assert net.c3.weight.grad.abs().sum() > 0
    assert "centres" in dict(net.output.named_buffers())
    assert sum(p.numel() for p in net.parameters()) == 60000


def test_lenet5_leaves_the_callers_random_numbers_alone():
    torch.manual_seed(1)
    before = torch.rand(1)
    torch.manual_seed(1)
    history.lenet5()
    assert torch.equal(torch.rand(1), before)


def test_side_by_side_is_computed_from_the_models():
    t = history.lenet_vs_alexnet().set_index("quantity")
    alex = params.totals(["paper"]).iloc[0]
    assert t.loc["trainable parameters", "AlexNet"] == alex.params == 60965224
    assert t.loc["MACs per image", "AlexNet"] == alex.MACs
    assert t.loc["MACs per image", "LeNet-5"] == history.lenet5_table().MACs.sum()
    assert t["source LeNet-5"].str.len().gt(5).all() and t["source AlexNet"].str.len().gt(5).all()


def test_side_by_side_states_no_unchecked_lenet_figure():
    t = history.lenet_vs_alexnet().set_index("quantity")
    unchecked = ["passes over the training set", "hardware", "training time"]
    assert (t.loc[unchecked, "LeNet-5"] == history.NOT_GIVEN).all()
    assert t.loc[unchecked, "source LeNet-5"].str.contains("none checked").all()
    text = t.to_string()
    for figure in ("R10000", "Origin", "2 to 3 days", "401"):
        assert figure not in text


def test_pipeline_drawing_has_the_three_ways_a_stage_is_set():
    ax = history.plot_pipelines().axes[0]
    gids = [p.get_gid() for p in ax.patches if p.get_gid()]
    assert set(gids) == {
        "designed by hand",
        "fit to images without labels",
        "trained on the labels",
    }


def _arrows(fig):
    return [p.get_gid() for p in fig.axes[0].patches if p.get_gid().startswith("arrow:")]


def _crossing(fig):
    return {gid.split(":")[1] for gid in _arrows(fig) if gid.endswith(("0->1", "1->0"))}


def test_tower_table_reads_groups_and_shapes_from_the_model():
    t = history.tower_table()
    assert t.layer.tolist() == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
    assert t.groups.tolist() == [1, 2, 1, 2, 2, 1, 1, 1]
    assert t["per tower"].tolist() == [
        "48×55×55", "128×27×27", "192×13×13", "192×13×13", "128×13×13", "2048", "2048", "500"
    ]  # fmt: skip
    assert t.then.tolist()[:2] == ["pool1 → 48×27×27", "pool2 → 128×13×13"]
    # the layers that talk across the GPUs are exactly those with groups == 1 after the first
    # grouped layer (paper §3.2: conv3 and the fully connected layers)
    first_grouped = t.index[t.groups > 1][0]
    expected = t.layer[(t.index > first_grouped) & (t.groups == 1)].tolist()
    assert t.layer[t.reads == "both towers"].tolist() == expected == ["conv3", "fc6", "fc7", "fc8"]


def test_two_towers_drawing_has_two_boxes_per_layer_and_crosses_where_the_table_says():
    fig = history.plot_two_towers()
    boxes = [p.get_gid() for p in fig.axes[0].patches if p.get_gid().startswith("box:")]
    layers = history.tower_table().layer.tolist()
    assert sorted(boxes) == sorted(["box:image"] + [f"box:{n}:{t}" for n in layers for t in (0, 1)])
    assert _crossing(fig) == {"conv3", "fc6", "fc7", "fc8"}
    # a layer that reads both towers gets 4 arrows, one that reads its own tower 2
    arrows = _arrows(fig)
    assert sum(a.startswith("arrow:conv3:") for a in arrows) == 4
    assert sum(a.startswith("arrow:conv4:") for a in arrows) == 2
    text = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "48×55×55" in text and "pool: 128×6×6" in text


def test_two_towers_follow_the_model_not_constants():
    one_gpu = history.plot_two_towers(params.skeleton("paper_1gpu"))
    assert _crossing(one_gpu) == {"conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"}
    narrow = paper_twin(divisor=8)  # 12, 32, 48, 48, 32 kernels, 512 neurons, 10 classes
    t = history.tower_table(narrow)
    assert t["per tower"].tolist()[0] == "6×55×55" and t["per tower"].tolist()[-1] == "5"
    fig = history.plot_two_towers(narrow)
    assert _crossing(fig) == {"conv3", "fc6", "fc7", "fc8"}


def test_two_towers_need_a_shape_for_other_models():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Conv2d(4, 4, 3, groups=2))
    with pytest.raises(ValueError, match="shape"):
        history.tower_table(net)
    assert history.tower_table(net, (3, 8, 8)).reads.tolist() == ["the image", "own tower"]
