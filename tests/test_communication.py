"""Lesson 09's traffic numbers: the links' bandwidths from their cited figures, what the split and
DDP send, and the batch at which DDP's all-reduce hides behind the backward pass."""

import torch
from torch import nn

from alexnet_lesson import communication as comm
from alexnet_lesson.params import mac_table, meta_model
from alexnet_lesson.tower_split import paper_twin


def test_links_and_gpus_follow_from_the_cited_figures():
    assert comm.LINKS["PCIe 2.0 x16 (2012)"].bytes_per_s == 8e9  # 500 MB/s per lane, 16 lanes
    assert comm.LINKS["NVLink 4 (H100, H200)"].bytes_per_s == 450e9  # 900 GB/s both ways
    assert round(comm.GPUS["GTX 580 (2012)"].flops / 1e9) == 1581
    assert all(s.startswith(("Wikipedia", "NVIDIA", "bit-tech")) for s in comm.sources().source)
    assert all("https://" in s for s in comm.sources().source)


def test_a_ring_allreduce_sends_2_n_minus_1_over_n_of_the_buffer():
    assert comm.ring_allreduce_bytes(10**6, 1) == 0
    assert comm.ring_allreduce_bytes(10**6, 2) == 4 * 10**6
    assert comm.ring_allreduce_bytes(10**6, 4) == 6 * 10**6
    assert comm.ring_allreduce_bytes(10**6, 2, bytes_per_value=2) == 2 * 10**6


def test_split_traffic_grows_with_the_batch_and_ddp_traffic_does_not():
    with torch.device("meta"):
        twin = paper_twin(num_classes=1000)
    model = meta_model("paper")
    small, large = comm.traffic(twin, model, batch=1), comm.traffic(twin, model, batch=128)
    split, ddp = "model split (2012)", "data parallel (DDP)"
    assert large.loc[split, "bytes per GPU"] == 128 * small.loc[split, "bytes per GPU"]
    assert large.loc[ddp, "bytes per GPU"] == small.loc[ddp, "bytes per GPU"]
    params = sum(p.numel() for p in model.parameters())
    assert large.loc[ddp, "bytes per GPU"] == 4 * params  # two GPUs: the whole buffer, fp32
    # at the paper's batch of 128 the split sends less than DDP would
    assert large.loc[split, "bytes per GPU"] < large.loc[ddp, "bytes per GPU"]


def test_backward_flops_are_twice_the_forward_multiply_adds_at_two_flops_each():
    model = meta_model("d2l")
    assert (
        comm.backward_flops(model, (1, 224, 224)) == 4 * mac_table(model, (1, 224, 224)).macs.sum()
    )


def test_the_hiding_batch_is_the_smallest_whose_backward_outlasts_the_allreduce():
    model = nn.Sequential(nn.Flatten(), nn.Linear(256, 256))
    for gpu, link in [
        ("GTX 580 (2012)", "PCIe 2.0 x16 (2012)"),
        ("H100 SXM (bf16)", "NVLink 4 (H100, H200)"),
    ]:
        h = comm.hiding_batch(model, (1, 16, 16), gpu, link)
        b, backward, allreduce = h["batch"], h["backward ms per image"], h["allreduce ms"]
        assert b * backward >= allreduce > (b - 1) * backward
