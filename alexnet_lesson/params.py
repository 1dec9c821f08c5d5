"""Lesson 03: parameters, multiply-accumulates (MACs) and memory, by formula and checked by PyTorch.

Formulas, per layer:

- convolution: parameters (k_h·k_w·c_in/groups + 1)·c_out; MACs c_out·h_out·w_out·k_h·k_w·c_in/groups
- fully connected: parameters (n_in + 1)·n_out; MACs n_in·n_out

(bias additions, ReLU, LRN and pooling are not counted as MACs, as PyTorch's FLOP counter does).
The checks use PyTorch itself: ``numel`` for parameters, ``FlopCounterMode`` for MACs and
autograd's saved-tensor hooks for the activations a training step keeps. The paper's abstract
quotes "60 million parameters"; §3.2 explains the two-GPU split that :func:`grouping_savings` prices
and :func:`split_memory` sizes (what one 3 GB GPU had to hold, with and without the split); §4.1
gives the crops that :func:`crop_positions` counts.
"""

from __future__ import annotations

from math import prod

import pandas as pd
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from alexnet_lesson.env import eval_mode, model_device
from alexnet_lesson.models import VARIANTS, alexnet
from alexnet_lesson.shapes import trace

__all__ = [
    "meta_model",
    "layer_params",
    "param_formula",
    "param_table",
    "mac_table",
    "flop_counter_macs",
    "macs_vs_flop_counter",
    "variant_costs",
    "weight_bytes",
    "SAVED_KINDS",
    "saved_by_kind",
    "saved_tensor_bytes",
    "lrn_output_bytes",
    "training_memory",
    "measure_cuda_training_memory",
    "grouping_savings",
    "one_gpu_half",
    "split_memory",
    "largest_batch",
    "crop_positions",
]

_COUNTED = (nn.Conv2d, nn.Linear)


def meta_model(variant: str) -> nn.Module:
    """A variant built on PyTorch's ``meta`` device: every shape, no values, built in milliseconds.

    Good for counting parameters and MACs (``FlopCounterMode`` works on it); not for running data.

    Example:
        >>> net = meta_model("paper"); net.fc6.weight.device.type, net.fc6.weight.numel()
        ('meta', 37748736)
    """
    with torch.device("meta"):
        return alexnet(variant, init="pytorch")


def layer_params(layer: nn.Module) -> int:
    """Parameters of a convolution or linear layer by formula (0 for any other layer).

    Example:
        >>> layer_params(nn.Conv2d(96, 256, 5, groups=2)), layer_params(nn.Linear(4096, 1000))
        (307456, 4097000)
    """
    bias = 1 if getattr(layer, "bias", None) is not None else 0
    if isinstance(layer, nn.Conv2d):
        kh, kw = layer.kernel_size
        return (kh * kw * layer.in_channels // layer.groups + bias) * layer.out_channels
    if isinstance(layer, nn.Linear):
        return (layer.in_features + bias) * layer.out_features
    return 0


def param_formula(layer: nn.Module) -> str:
    """The formula of :func:`layer_params` with the layer's numbers filled in.

    Example:
        >>> param_formula(nn.Conv2d(96, 256, 5, groups=2))
        '(5·5·96/2 + 1)·256'
    """
    if isinstance(layer, nn.Conv2d):
        kh, kw = layer.kernel_size
        g = f"/{layer.groups}" if layer.groups > 1 else ""
        return f"({kh}·{kw}·{layer.in_channels}{g} + 1)·{layer.out_channels}"
    if isinstance(layer, nn.Linear):
        return f"({layer.in_features} + 1)·{layer.out_features}"
    return ""


def param_table(model: nn.Module) -> pd.DataFrame:
    """Parameters per convolution and linear layer: formula, value, PyTorch's ``numel`` and share.

    Example:
        >>> t = param_table(meta_model("d2l")); (t.params == t.numel).all()
        np.True_
    """
    rows = []
    for name, layer in model.named_children():
        if isinstance(layer, _COUNTED):
            rows.append(
                {
                    "layer": name,
                    "kind": "conv" if isinstance(layer, nn.Conv2d) else "fc",
                    "formula": param_formula(layer),
                    "params": layer_params(layer),
                    "numel": sum(p.numel() for p in layer.parameters()),
                }
            )
    table = pd.DataFrame(rows)
    table["share %"] = (100 * table.params / table.params.sum()).round(1)
    return table


def mac_table(model: nn.Module, shape: tuple[int, int, int]) -> pd.DataFrame:
    """MACs per image for each convolution and linear layer at input ``shape`` (C, H, W), by formula.

    Example:
        >>> mac_table(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 5)), (1, 4, 4)).macs.tolist()
        [72, 40]
    """
    result = trace(model, shape)
    if not result.ok:
        raise ValueError(result.error)
    layers = dict(model.named_children())
    rows = []
    for row in result.rows:
        layer = layers[row.name]
        if isinstance(layer, nn.Conv2d):
            kh, kw = layer.kernel_size
            per_output = kh * kw * layer.in_channels // layer.groups
            formula = f"{'·'.join(map(str, row.out))}·({kh}·{kw}·{layer.in_channels}"
            formula += (f"/{layer.groups}" if layer.groups > 1 else "") + ")"
            macs = prod(row.out) * per_output
        elif isinstance(layer, nn.Linear):
            formula = f"{layer.in_features}·{layer.out_features}"
            macs = layer.in_features * layer.out_features
        else:
            continue
        kind = "conv" if isinstance(layer, nn.Conv2d) else "fc"
        rows.append({"layer": row.name, "kind": kind, "formula": formula, "macs": macs})
    table = pd.DataFrame(rows)
    table["share %"] = (100 * table.macs / table.macs.sum()).round(1)
    return table


def flop_counter_macs(model: nn.Module, shape: tuple[int, int, int]) -> dict[str, int]:
    """MACs per layer for one image as PyTorch's ``FlopCounterMode`` counts them (FLOPs / 2).

    Example:
        >>> flop_counter_macs(nn.Sequential(nn.Flatten(), nn.Linear(8, 5)), (2, 2, 2))
        {'1': 40}
    """
    counter = FlopCounterMode(display=False)
    with eval_mode(model), torch.no_grad(), counter:
        model(torch.zeros(1, *shape, device=model_device(model)))
    prefix = type(model).__name__ + "."
    counts = counter.get_flop_counts()
    return {
        key[len(prefix) :]: sum(counts[key].values()) // 2
        for key in counts
        if key.startswith(prefix) and "." not in key[len(prefix) :]
    }


def macs_vs_flop_counter(model: nn.Module, shape: tuple[int, int, int]) -> pd.DataFrame:
    """:func:`mac_table`'s formula next to ``FlopCounterMode``'s count, with an ``agree`` column.

    Example:
        >>> macs_vs_flop_counter(meta_model("cifar96"), (3, 96, 96)).agree.all()
        np.True_
    """
    table = mac_table(model, shape)[["layer", "formula", "macs"]].copy()
    counted = flop_counter_macs(model, shape)
    table["flop counter"] = [counted.get(name, 0) for name in table.layer]
    table["agree"] = table.macs == table["flop counter"]
    return table


def variant_costs(names: list[str] | None = None) -> pd.DataFrame:
    """Parameters and MACs (per image, at each variant's design input) for every variant.

    Example:
        >>> int(variant_costs(["d2l"]).loc[0, "params"])
        46764746
    """
    rows = []
    for name in names or list(VARIANTS):
        model, shape = meta_model(name), VARIANTS[name].input_shape
        p, m = param_table(model), mac_table(model, shape)
        rows.append(
            {
                "variant": name,
                "input": "×".join(map(str, shape)),
                "params": int(p.params.sum()),
                "conv params": int(p.params[p.kind == "conv"].sum()),
                "fc params": int(p.params[p.kind == "fc"].sum()),
                "MACs": int(m.macs.sum()),
                "conv MACs": int(m.macs[m.kind == "conv"].sum()),
                "fc MACs": int(m.macs[m.kind == "fc"].sum()),
            }
        )
    return pd.DataFrame(rows)


# --- memory ----------------------------------------------------------------------------------


def weight_bytes(model: nn.Module, bytes_per_value: int = 4) -> int:
    """Bytes to store the weights: 4 per value in fp32, 2 in bf16 or fp16.

    Example:
        >>> weight_bytes(nn.Linear(3, 2)), weight_bytes(nn.Linear(3, 2), 2)
        (32, 16)
    """
    return sum(p.numel() for p in model.parameters()) * bytes_per_value


SAVED_KINDS = ("activations", "LRN's intermediates", "max-pool indices", "dropout masks")


def saved_by_kind(model: nn.Module, shape: tuple[int, int, int], batch: int = 1) -> dict[str, int]:
    """Bytes autograd keeps for the backward pass per ``batch`` images (weights excluded), by kind.

    Runs one forward pass in training mode on the CPU under ``saved_tensors_hooks`` and adds up
    the distinct storages saved, each under the kind of the layer that saved it first:
    ``activations`` (layer inputs, ReLU outputs), ``LRN's intermediates`` (what PyTorch's
    composite ``LocalResponseNorm`` keeps besides its input: squares, window sums, the
    denominator and its power), ``max-pool indices`` (int64) and ``dropout masks``. The count is
    what this PyTorch build on the CPU keeps; a GPU build can differ a little (its dropout masks
    are one byte per value, for instance).

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2))
        >>> saved_by_kind(net, (1, 6, 6))  # input 36·4, ReLU output 2·16·4, indices 2·4·8
        {'activations': 272, "LRN's intermediates": 0, 'max-pool indices': 64, 'dropout masks': 0}
    """
    param_ptrs = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, tuple[str, int]] = {}
    inside: list[nn.Module] = []

    def kind(t: torch.Tensor) -> str:
        layer = inside[-1] if inside else None
        if isinstance(layer, nn.LocalResponseNorm):
            return "LRN's intermediates"
        if isinstance(layer, nn.MaxPool2d) and t.dtype == torch.int64:
            return "max-pool indices"
        if isinstance(layer, nn.Dropout):
            return "dropout masks"
        return "activations"

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in param_ptrs and storage.data_ptr() not in seen:
            seen[storage.data_ptr()] = (kind(t), storage.nbytes())
        return t

    def enter(layer: nn.Module, _inputs: tuple) -> None:
        inside.append(layer)

    def leave(*_: object) -> None:  # a hook that returned something would replace the output
        inside.pop()

    leaves = [m for m in model.modules() if not list(m.children())]
    hooks = [m.register_forward_pre_hook(enter) for m in leaves]
    hooks += [m.register_forward_hook(leave) for m in leaves]
    x = torch.zeros(batch, *shape)
    try:
        with (
            eval_mode(model, training=True),
            torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t),
        ):
            out = model(x)
        del out
    finally:
        for h in hooks:
            h.remove()
    totals = dict.fromkeys(SAVED_KINDS, 0)
    for name, nbytes in seen.values():
        totals[name] += nbytes
    return totals


def saved_tensor_bytes(model: nn.Module, shape: tuple[int, int, int], batch: int = 1) -> int:
    """All the bytes autograd keeps for the backward pass per ``batch`` images: the sum of
    :func:`saved_by_kind`.

    Example:
        >>> saved_tensor_bytes(nn.Sequential(nn.Linear(3, 2)), (1, 1, 3))
        12
    """
    return sum(saved_by_kind(model, shape, batch).values())


def lrn_output_bytes(model: nn.Module, shape: tuple[int, int, int], batch: int = 1) -> int:
    """Bytes of every ``LocalResponseNorm`` output for ``batch`` images: what a hand-written LRN
    that saves one denominator per layer (and reuses its saved input) keeps for backward, in
    place of PyTorch's composite intermediates.

    Example:
        >>> lrn_output_bytes(nn.Sequential(nn.Conv2d(1, 4, 3), nn.LocalResponseNorm(2)), (1, 5, 5))
        144
    """
    sizes: list[int] = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: sizes.append(out.numel() * out.element_size()))
        for m in model.modules()
        if isinstance(m, nn.LocalResponseNorm)
    ]
    try:
        with torch.no_grad(), eval_mode(model, training=True):
            model(torch.zeros(batch, *shape))
    finally:
        for h in hooks:
            h.remove()
    return sum(sizes)


def training_memory(
    model: nn.Module, shape: tuple[int, int, int], batch: int = 128
) -> pd.DataFrame:
    """An fp32 estimate of a training step's memory with SGD and momentum, in MiB.

    Weights, their gradients and the momentum buffers are one copy of the weights each; the
    activations saved for backward are :func:`saved_tensor_bytes` per image times ``batch``
    (the input batch is among them: conv1 keeps it). Temporary buffers (gradients of activations while
    backward runs, convolution workspaces) come on top, so a real GPU peak is somewhat higher.

    Example:
        >>> training_memory(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), (1, 2, 2), batch=2).part.tolist()[:3]
        ['weights', 'gradients', 'momentum']
    """
    w = weight_bytes(model)
    saved = saved_tensor_bytes(model, shape, batch=1) * batch
    rows = [
        ("weights", w),
        ("gradients", w),
        ("momentum", w),
        ("saved activations", saved),
    ]
    table = pd.DataFrame(rows, columns=["part", "bytes"])
    table["MiB"] = (table.bytes / 2**20).round(1)
    return table


def measure_cuda_training_memory(
    model: nn.Module, shape: tuple[int, int, int], batch: int = 128
) -> int:
    """Peak bytes ``torch.cuda.max_memory_allocated`` reports for one SGD-with-momentum step.

    Needs a CUDA GPU; raises ``RuntimeError`` where there is none.

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
        >>> peak = measure_cuda_training_memory(net, (1, 2, 2), 2) if torch.cuda.is_available() else 1
        >>> peak > 0
        True
    """
    if not torch.cuda.is_available():
        raise RuntimeError("no CUDA GPU here: torch.cuda.max_memory_allocated cannot be measured")
    device = torch.device("cuda")
    model = model.to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, *shape, device=device)
    y = torch.zeros(batch, dtype=torch.long, device=device)
    for _ in range(2):  # the second step has the momentum buffers
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=False)
        loss.backward()
        opt.step()
        torch.cuda.synchronize()
    return int(torch.cuda.max_memory_allocated(device))


# --- the two GPUs --------------------------------------------------------------------------------


def grouping_savings() -> pd.DataFrame:
    """What ``groups=2`` (the paper's two-GPU split, §3.2) saves against the same net on one GPU.

    Example:
        >>> grouping_savings().set_index("quantity").loc["params", "saved"] > 0
        np.True_
    """
    t = variant_costs(["paper", "paper_1gpu"]).set_index("variant")
    rows = []
    for q in ["params", "conv params", "MACs", "conv MACs"]:
        one, two = int(t.loc["paper_1gpu", q]), int(t.loc["paper", q])
        rows.append(
            {
                "quantity": q,
                "one GPU (groups=1)": one,
                "two GPUs (groups=2)": two,
                "saved": one - two,
                "saved %": round(100 * (one - two) / one, 1),
            }
        )
    return pd.DataFrame(rows)


class _Received(nn.Module):
    """Where a GPU reads the other GPU's half too (§3.2): its own channels and a copy of the
    other's, stood in for by a second copy of its own (the values do not matter, the memory does)."""

    def __init__(self, gpus: int) -> None:
        super().__init__()
        self.gpus = gpus

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x] * self.gpus, dim=1)


def one_gpu_half(gpus: int = 2) -> nn.Sequential:
    """What one of the paper's GPUs held (§3.2, Figure 2): 1/``gpus`` of every layer's kernels
    and neurons, and a full-width input wherever the GPUs communicate (conv3, fc6, fc7, fc8).

    conv1 reads the image, which every GPU holds; conv2, conv4 and conv5 read only their own
    GPU's maps; LRN normalises over its own GPU's maps. fc8 is split like the other layers (the
    paper does not say where its 1000 outputs were computed; an assumption). Its parameters are
    exactly 1/``gpus`` of the paper model's. Built on the CPU with uninitialised weights.

    Example:
        >>> half = one_gpu_half()
        >>> sum(p.numel() for p in half.parameters()) * 2 == sum(p.numel() for p in meta_model("paper").parameters())
        True
    """
    paper = meta_model("paper")
    first = next(m for m in paper.children() if isinstance(m, nn.Conv2d))
    layers: list[nn.Module] = []
    with torch.device("meta"):  # shapes now, uninitialised CPU memory below
        for m in paper.children():
            if isinstance(m, nn.Conv2d):
                if m.groups == 1 and m is not first:
                    layers.append(_Received(gpus))
                c_in = m.in_channels // m.groups
                layers.append(nn.Conv2d(c_in, m.out_channels // gpus, m.kernel_size, m.stride,
                                        m.padding))  # fmt: skip
            elif isinstance(m, nn.Linear):
                layers += [_Received(gpus), nn.Linear(m.in_features, m.out_features // gpus)]
            else:
                layers.append(m)
    return nn.Sequential(*layers).to_empty(device="cpu")


def split_memory(batch: int = 128, gpus: int = 2) -> pd.DataFrame:
    """Bytes one GPU holds to train the paper's model (fp32, SGD with momentum, 227 px input):
    the whole net on one GPU against one GPU's half of the two-GPU split (:func:`one_gpu_half`).

    Rows: weights, their gradients and the momentum buffers (one copy of the weights each); what
    autograd keeps for ``batch`` images, by kind (:func:`saved_by_kind`; for a GPU of the split
    also the copy of the other GPU's maps where they communicate); ``what PyTorch keeps``, their
    total; and ``with one denominator per LRN``, the same total with PyTorch's composite LRN
    intermediates replaced by one saved tensor per LRN layer (:func:`lrn_output_bytes`), as a
    hand-written kernel such as the paper's could keep. Not counted: gradients of the activations
    while backward runs, convolution workspaces, the CUDA context, the input pipeline's buffers.

    Example:
        >>> t = split_memory(batch=2).set_index("part")
        >>> int(t.loc["weights", "one GPU holds everything (bytes)"]) == 2 * int(t.loc["weights", "each GPU of the split (bytes)"])
        True
    """
    shape = VARIANTS["paper"].input_shape
    columns = {
        "one GPU holds everything": meta_model("paper").to_empty(device="cpu"),
        "each GPU of the split": one_gpu_half(gpus),
    }
    parts = ["weights", "gradients", "momentum", *(f"saved: {k}" for k in SAVED_KINDS)]
    parts += ["what PyTorch keeps", "with one denominator per LRN"]
    table = pd.DataFrame({"part": parts})
    for label, model in columns.items():
        w = weight_bytes(model)
        # one image, times the batch: what a forward pass saves grows linearly with the batch
        saved = {k: batch * v for k, v in saved_by_kind(model, shape).items()}
        keeps = 3 * w + sum(saved.values())
        lean = keeps - saved["LRN's intermediates"] + batch * lrn_output_bytes(model, shape)
        table[f"{label} (bytes)"] = [w, w, w, *saved.values(), keeps, lean]
    for label in columns:
        table[f"{label} (GiB)"] = (table[f"{label} (bytes)"] / 2**30).round(2)
    return table


def largest_batch(card_bytes: int, fixed_bytes: int, per_image_bytes: int) -> int:
    """The largest batch whose memory, ``fixed_bytes + batch · per_image_bytes``, fits in
    ``card_bytes`` (0 when not even one image fits; ``per_image_bytes`` must be positive).

    Example:
        >>> largest_batch(100, 20, 7)  # 20 + 11 · 7 = 97 fits, 12 images would need 104
        11
    """
    return max(0, (card_bytes - fixed_bytes) // per_image_bytes)


def crop_positions(image: int = 256, crop: int = 224, flips: bool = True) -> list[tuple]:
    """Every distinct ``crop``×``crop`` patch of an ``image``×``image`` picture (§4.1), as
    (top, left, flipped) triples: the window fits at ``image − crop + 1`` offsets per axis.

    Example:
        >>> len(crop_positions(256, 224)), len(crop_positions(4, 2, flips=False))
        (2178, 9)
    """
    offsets = range(image - crop + 1)
    mirrors = (False, True) if flips else (False,)
    return [(top, left, m) for top in offsets for left in offsets for m in mirrors]


# --- pictures ----------------------------------------------------------------------------------
