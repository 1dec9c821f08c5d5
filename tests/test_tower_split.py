"""Lesson 09's re-enactment of the paper's two-GPU split (§3.2, Figure 2): the towers, the
exchanges, and two processes that compute exactly what one process with the same connectivity does;
and lesson 01's table and drawing of the two towers, read from a model's layers."""

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

from alexnet_lesson import distributed, models
from alexnet_lesson import tower_split as ts
from alexnet_lesson.params import meta_model
from alexnet_lesson.shapes import trace


def meta_twin(**kwargs):
    with torch.device("meta"):  # shapes only: the full-width twin in milliseconds
        return ts.paper_twin(**kwargs)


def meta_paper():
    with torch.device("meta"):
        return models.alexnet("paper", init="pytorch")


def test_one_lrn_over_all_channels_differs_only_at_the_tower_boundary():
    # the window is n = 5 channels: channels 46, 47 reach over to 48, 49 and back
    diff = ts.lrn_boundary(channels=96)
    assert diff[diff > 0].index.tolist() == [46, 47, 48, 49]
    assert diff.drop([46, 47, 48, 49]).max() == 0.0  # elsewhere the same numbers, bit for bit
    assert diff.min() == 0.0 and diff[[46, 47, 48, 49]].min() > 1e-6  # a real difference


@pytest.mark.parametrize(
    "size, differ", [(3, [47, 48]), (5, [46, 47, 48, 49]), (7, list(range(45, 51)))]
)
def test_the_lrn_window_decides_how_many_channels_reach_over_the_boundary(size, differ):
    diff = ts.lrn_boundary(channels=96, size=size)
    assert diff[diff > 0].index.tolist() == differ


def test_the_twin_has_the_papers_connectivity():
    twin = meta_twin(num_classes=1000)
    paper = meta_paper()
    for (name, mine), (_, theirs) in zip(
        twin.named_children(), paper.named_children(), strict=True
    ):
        if isinstance(theirs, nn.LocalResponseNorm):
            assert isinstance(mine, ts.TowerLRN) and mine.towers == 2, name
        elif isinstance(theirs, nn.Conv2d | nn.Linear):
            assert mine.weight.shape == theirs.weight.shape, name
            assert getattr(mine, "groups", 1) == getattr(theirs, "groups", 1), name


def test_the_exchanges_are_where_figure_2_has_the_gpus_talk():
    assert ts.exchange_points(meta_twin()) == ["conv3", "fc6", "fc7", "fc8", "logits"]
    tower = ts.tower_of(ts.paper_twin(divisor=8), rank=0)
    names = [n for n, _ in tower.named_children()]
    for layer in ("conv3", "fc6", "fc7", "fc8"):
        assert names[names.index(layer) - 1] == f"exchange_{layer}"
    for layer in ("conv2", "conv4", "conv5"):  # these read their own tower only
        assert not names[names.index(layer) - 1].startswith("exchange")
    assert names[-1] == "exchange_logits"


def test_the_towers_hold_the_twins_weights_between_them():
    twin = ts.paper_twin(divisor=8, seed=1)
    towers = [ts.tower_of(twin, r) for r in range(2)]
    for name, p in twin.named_parameters():
        parts = [dict(t.named_parameters())[name] for t in towers]
        assert torch.equal(torch.cat(parts), p), name


def test_a_twin_with_one_lrn_over_all_channels_cannot_be_cut():
    with pytest.raises(ValueError, match="TowerLRN"):
        ts.tower_of(meta_paper(), rank=0)


def test_an_exchange_needs_one_process_per_tower():
    with pytest.raises(RuntimeError, match="torchrun"):
        ts.Exchange()(torch.zeros(1, 2))


def test_the_bytes_exchanged_per_image_follow_from_the_shapes():
    twin = meta_twin(num_classes=1000)
    table = ts.exchange_table(twin, size=227, bytes_per_value=4)
    rows = {r.name: r.out for r in trace(twin, (3, 227, 227)).rows}
    # each tower sends its half of what the next layer reads: pool2's output for conv3, …
    assert (
        table.loc["conv3", "values sent"] == 256 * 13 * 13 // 2 == rows["pool2"][0] * 13 * 13 // 2
    )
    assert table.loc["fc6", "values sent"] == 256 * 6 * 6 // 2
    assert table.loc["fc7", "values sent"] == table.loc["fc8", "values sent"] == 4096 // 2
    assert table.loc["logits", "values sent"] == 1000 // 2
    assert (table["bytes forward"] == 4 * table["values sent"]).all()
    assert (table["bytes backward"] == table["bytes forward"]).all()


@pytest.mark.slow
def test_two_processes_compute_what_the_twin_computes(tmp_path):
    """Two gloo processes, one tower each, float64: logits, loss and every gradient equal the
    single-process twin's to 1e-12 (rounding: the towers add the same products in another order)."""
    args = ["--out", str(tmp_path), "--divisor", "8", "--batch", "3", "--dtype", "float64"]
    distributed.launch("alexnet_lesson.tower_split", args, nproc=2, timeout=120)
    towers = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    twin = ts.paper_twin(divisor=8, seed=0).double()
    x, y = ts.example_batch(3, dtype=torch.float64)
    table = ts.compare_with_twin(ts.twin_step(twin, x, y), towers)
    assert len(table) == 2 + len(list(twin.parameters()))
    assert (table["max |twin|"] > 1e-4).all()  # none of the compared values is trivially zero
    assert (table["max |diff|"] <= 1e-12).all(), table
    # the same weights with one LRN over all channels give other logits: the check can tell
    naive = ts.paper_twin(divisor=8, seed=0).double()
    naive.lrn1, naive.lrn2 = models.paper_lrn(), models.paper_lrn()
    logits = ts.twin_step(naive, x, y)["logits"]
    assert (logits - towers[0]["logits"]).abs().max() > 1e-9


# --- the two towers as a table and a drawing (lesson 01), read from the model's layers ----------


def _arrows(fig):
    return [p.get_gid() for p in fig.axes[0].patches if p.get_gid().startswith("arrow:")]


def _crossing(fig):
    return {gid.split(":")[1] for gid in _arrows(fig) if gid.endswith(("0->1", "1->0"))}


def test_tower_table_reads_groups_and_shapes_from_the_model():
    t = ts.tower_table(meta_paper())
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
    fig = ts.plot_two_towers(meta_paper())
    boxes = [p.get_gid() for p in fig.axes[0].patches if p.get_gid().startswith("box:")]
    layers = ts.tower_table(meta_paper()).layer.tolist()
    assert sorted(boxes) == sorted(["box:image"] + [f"box:{n}:{t}" for n in layers for t in (0, 1)])
    assert _crossing(fig) == {"conv3", "fc6", "fc7", "fc8"}
    # a layer that reads both towers gets 4 arrows, one that reads its own tower 2
    arrows = _arrows(fig)
    assert sum(a.startswith("arrow:conv3:") for a in arrows) == 4
    assert sum(a.startswith("arrow:conv4:") for a in arrows) == 2
    text = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "48×55×55" in text and "pool: 128×6×6" in text
    plt.close(fig)


def test_two_towers_follow_the_model_not_constants():
    one_gpu = ts.plot_two_towers(meta_model("paper_1gpu"))
    assert _crossing(one_gpu) == {"conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"}
    narrow = ts.paper_twin(divisor=8)  # 12, 32, 48, 48, 32 kernels, 512 neurons, 10 classes
    t = ts.tower_table(narrow)
    assert t["per tower"].tolist()[0] == "6×55×55" and t["per tower"].tolist()[-1] == "5"
    assert _crossing(ts.plot_two_towers(narrow)) == {"conv3", "fc6", "fc7", "fc8"}
    plt.close("all")


def test_two_towers_need_a_shape_for_other_models():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3, groups=2))
    with pytest.raises(ValueError, match="shape"):
        ts.tower_table(net)
    assert ts.tower_table(net, (3, 8, 8)).reads.tolist() == ["the image", "own tower"]
