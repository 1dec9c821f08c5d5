"""What parallel training sends between GPUs, and how long that takes (lesson 09).

Two ways to use two GPUs, two very different amounts of traffic:

* the paper's split (§3.2, Figure 2; :mod:`alexnet_lesson.tower_split`) sends *activations* at
  every exchange, forward and backward, so its traffic grows with the batch;
* data parallelism (DistributedDataParallel, :mod:`alexnet_lesson.distributed`) sends every
  *gradient* once per step (an all-reduce), whatever the batch.

The links and GPUs are public figures, each with its source (:data:`LINKS`, :data:`GPUS`); every
bandwidth and peak rate is computed from the figures the source states. The paper: "the GPUs …
are able to read from and write to one another's memory directly, without going through host
machine memory" (§3.2), so their link was the PCIe bus the GTX 580 sits on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from torch import nn

from alexnet_lesson.params import mac_table
from alexnet_lesson.tower_split import exchange_table

__all__ = [
    "Link",
    "GPU",
    "LINKS",
    "GPUS",
    "sources",
    "ring_allreduce_bytes",
    "traffic",
    "seconds_on",
    "backward_flops",
    "hiding_batch",
]


@dataclass(frozen=True)
class Link:
    """A link between two GPUs: bytes per second in one direction, and where that comes from."""

    name: str
    bytes_per_s: float
    derivation: str
    source: str


@dataclass(frozen=True)
class GPU:
    """A GPU's peak arithmetic (FLOP/s: a multiply-add counts 2) and memory, with the source."""

    name: str
    flops: float
    precision: str
    memory_bytes: int
    derivation: str
    source: str


_PCIE = "Wikipedia, 'PCI Express', table of versions: https://en.wikipedia.org/wiki/PCI_Express"
_H100 = "NVIDIA, 'H100 Tensor Core GPU' (specifications): https://www.nvidia.com/en-us/data-center/h100/"
_GTX580 = (
    "bit-tech, 'Nvidia GeForce GTX 580 review', specifications page: "
    "https://bit-tech.net/reviews/tech/graphics/nvidia-geforce-gtx-580-review/2/"
)

LINKS: dict[str, Link] = {
    "PCIe 2.0 x16 (2012)": Link(
        "PCIe 2.0 x16 (2012)",
        5.0e9 * 16 * (8 / 10) / 8,  # 5 GT/s per lane, 16 lanes, 8b/10b encoding, 8 bits a byte
        "5.0 GT/s per lane × 16 lanes × 8/10 (8b/10b encoding) ÷ 8 bits",
        _PCIE,
    ),
    "NVLink 4 (H100, H200)": Link(
        "NVLink 4 (H100, H200)",
        900e9 / 2,  # 900 GB/s is the two directions together
        "900 GB/s per GPU, both directions together, ÷ 2",
        _H100,
    ),
}
"""The 2012 link (the GTX 580s talked over PCIe 2.0) and a current one (NVLink 4 between H100s)."""

GPUS: dict[str, GPU] = {
    "GTX 580 (2012)": GPU(
        "GTX 580 (2012)",
        512 * 2 * 1.544e9,  # 512 cores, one multiply-add (2 FLOPs) per cycle at 1.544 GHz
        "fp32",
        3 * 2**30,  # the paper's boards had 3 GB (§3.2); the standard card 1.5 GB
        "512 CUDA cores × 2 FLOPs × 1.544 GHz shader clock; 3 GB as in the paper (§3.2)",
        _GTX580,
    ),
    "H100 SXM (fp32)": GPU(
        "H100 SXM (fp32)", 67e12, "fp32", 80 * 10**9, "67 teraFLOPS FP32; 80 GB", _H100
    ),
    "H100 SXM (bf16)": GPU(
        "H100 SXM (bf16)",
        1979e12 / 2,  # NVIDIA quotes 1,979 teraFLOPS *with sparsity*, twice the dense rate
        "bf16",
        80 * 10**9,
        "1,979 teraFLOPS BF16 tensor core with sparsity ÷ 2 (dense); 80 GB",
        _H100,
    ),
}
"""Peak rates: real training reaches a fraction of them (so real compute takes longer)."""


def sources() -> pd.DataFrame:
    """Every link and GPU figure with how it was derived and its source, as one table.

    Example:
        >>> float(sources().loc["PCIe 2.0 x16 (2012)", "GB/s or TFLOP/s"])
        8.0
    """
    rows = [(k.name, k.bytes_per_s / 1e9, k.derivation, k.source) for k in LINKS.values()]
    rows += [(g.name, g.flops / 1e12, g.derivation, g.source) for g in GPUS.values()]
    table = pd.DataFrame(rows, columns=["what", "GB/s or TFLOP/s", "derived as", "source"])
    return table.round(3).set_index("what")


def ring_allreduce_bytes(values: int, processes: int, bytes_per_value: int = 4) -> int:
    """Bytes each process sends (and receives) in a ring all-reduce of ``values`` numbers:
    ``2 (N − 1) / N`` of the buffer (a reduce-scatter, then an all-gather), as NCCL's ring does.

    Example:
        >>> ring_allreduce_bytes(1000, 2), ring_allreduce_bytes(1000, 8)
        (4000, 7000)
    """
    return math.ceil(2 * (processes - 1) / processes * values * bytes_per_value)


def traffic(twin: nn.Module, model: nn.Module, batch: int = 128, size: int = 227) -> pd.DataFrame:
    """Bytes each GPU sends per training step of ``batch`` images, two GPUs: the paper's split of
    ``twin`` (every exchange, forward and backward) and data parallelism on ``model`` (one fp32
    all-reduce of every gradient; each GPU then computes ``batch / 2`` of the images).

    Example:
        >>> from alexnet_lesson.tower_split import paper_twin
        >>> t = traffic(paper_twin(divisor=8), nn.Linear(1000, 1000), batch=2)
        >>> t["bytes per GPU"].tolist()
        [60752, 4004000]
    """
    per_image = exchange_table(twin, size)
    split = int((per_image["bytes forward"] + per_image["bytes backward"]).sum())
    params = sum(p.numel() for p in model.parameters())
    rows = [
        ("model split (2012)", "activations, forward and backward", batch * split, split),
        (
            "data parallel (DDP)",
            "all gradients, once per step",
            ring_allreduce_bytes(params, 2),
            None,
        ),
    ]
    columns = ["scheme", "what is sent", "bytes per GPU", "bytes per image"]
    return pd.DataFrame(rows, columns=columns).set_index("scheme")


def seconds_on(bytes_sent: float, link: str) -> float:
    """Seconds to send ``bytes_sent`` in one direction over a link of :data:`LINKS` at its peak.

    Example:
        >>> seconds_on(8e9, "PCIe 2.0 x16 (2012)")
        1.0
    """
    return bytes_sent / LINKS[link].bytes_per_s


def backward_flops(model: nn.Module, shape: tuple[int, int, int]) -> int:
    """FLOPs of one image's backward pass: twice the forward multiply-adds (one product for the
    gradient of each layer's input, one for its weights), at 2 FLOPs per multiply-add.

    Example:
        >>> backward_flops(nn.Sequential(nn.Flatten(), nn.Linear(4, 3)), (1, 2, 2))
        48
    """
    return 2 * 2 * int(mac_table(model, shape).macs.sum())


def hiding_batch(
    model: nn.Module, shape: tuple[int, int, int], gpu: str, link: str, processes: int = 2
) -> dict:
    """The smallest batch per GPU whose backward pass takes at least as long as the gradient
    all-reduce, so that DDP can hide the communication behind the compute (it starts
    all-reducing the last layers' gradients while the backward pass goes on to the first ones).

    Both sides at the peak rates of :data:`GPUS` and :data:`LINKS`. Real GPUs compute at a
    fraction of their peak, which makes the backward pass slower and the batch needed smaller.

    Example:
        >>> from alexnet_lesson.params import meta_model
        >>> hiding_batch(meta_model("d2l"), (1, 224, 224), "GTX 580 (2012)", "PCIe 2.0 x16 (2012)")["batch"]
        10
    """
    params = sum(p.numel() for p in model.parameters())
    allreduce_s = seconds_on(ring_allreduce_bytes(params, processes), link)
    backward_s = backward_flops(model, shape) / GPUS[gpu].flops
    return {
        "gpu": gpu,
        "link": link,
        "allreduce ms": 1e3 * allreduce_s,
        "backward ms per image": 1e3 * backward_s,
        "batch": max(1, math.ceil(allreduce_s / backward_s)),
    }
