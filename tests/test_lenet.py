"""Lesson 01's LeNet-5, counted as the 1998 paper counts it, from the model's layers."""

import torch

from alexnet_lesson import lenet, params


def test_c3_table_is_the_papers_table_1():
    table = lenet.C3_TABLE
    assert len(table) == 16 and sum(len(t) for t in table) == 60
    assert [len(t) for t in table] == [3] * 6 + [4] * 9 + [6]
    # the paper's Table I, row by row: the C3 maps each S2 map feeds
    feeds = {i: [j for j, t in enumerate(table) if i in t] for i in range(6)}
    assert feeds[0] == [0, 4, 5, 6, 9, 10, 11, 12, 14, 15]
    assert feeds[1] == [0, 1, 5, 6, 7, 10, 11, 12, 13, 15]
    assert feeds[5] == [3, 4, 5, 8, 9, 10, 11, 13, 14, 15]


def test_lenet5_counts_match_the_1998_paper():
    t = lenet.layer_counts().set_index("layer")
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
    t = lenet.layer_counts().set_index("layer")
    counted = params.flop_counter_macs(lenet.lenet5(), (1, 32, 32))
    assert counted == {name: int(t.loc[name, "MACs"]) for name in counted}
    assert set(counted) == {"c1", "c3", "c5", "f6"}
    assert t.MACs.sum() == sum(counted.values()) + 840  # plus the RBF's squared differences


def test_lenet5_trains_through_the_table_and_keeps_the_rbf_fixed():
    net = lenet.lenet5()
    net(torch.randn(2, 1, 32, 32)).sum().backward()
    assert net.c3.weight.grad.abs().sum() > 0
    assert "centres" in dict(net.output.named_buffers())
    assert sum(p.numel() for p in net.parameters()) == 60000


def test_lenet5_leaves_the_callers_random_numbers_alone():
    torch.manual_seed(1)
    before = torch.rand(1)
    torch.manual_seed(1)
    lenet.lenet5()
    assert torch.equal(torch.rand(1), before)
