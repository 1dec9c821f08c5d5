"""Lesson 02's shape formula against PyTorch's real outputs, for every layer of every variant."""

import pytest
import torch
from torch import nn

from alexnet_lesson.models import VARIANTS
from alexnet_lesson.params import layer_params, meta_model
from alexnet_lesson.shapes import (
    compare_with_pytorch,
    conv_out,
    gpu_halves,
    inputs_for,
    shape_table,
    trace,
)


@pytest.mark.parametrize(
    "n,k,s,p",
    [(224, 11, 4, 0), (227, 11, 4, 0), (224, 11, 4, 2), (13, 3, 2, 0), (6, 5, 3, 1), (9, 3, 1, 1)],
)
def test_conv_out_matches_conv2d_and_maxpool(n, k, s, p):
    x = torch.zeros(1, 1, n, n)
    assert nn.Conv2d(1, 1, k, s, p)(x).shape[-1] == conv_out(n, k, s, p)
    if p <= k // 2:  # PyTorch's max-pool allows padding up to half the window
        assert nn.MaxPool2d(k, s, p)(x).shape[-1] == conv_out(n, k, s, p)


def test_224_versus_227():
    assert conv_out(224, 11, 4, 0) == 54 and conv_out(227, 11, 4, 0) == 55
    assert inputs_for(55, k=11, s=4) == [227, 228, 229, 230]  # 227 exactly, the rest rounded down
    assert inputs_for(55, k=11, s=4, p=2) == [223, 224, 225, 226]  # torchvision's padding
    assert all(conv_out(n, 3, 2) == 13 for n in inputs_for(13, k=3, s=2))


@pytest.mark.parametrize("name", list(VARIANTS))
def test_formula_matches_pytorch_for_every_layer(name):
    v = VARIANTS[name]
    # real CPU tensors, left uninitialised (only shapes matter here): fast to build
    model = meta_model(name).to_empty(device="cpu").eval()
    shape = v.input_shape
    rows = trace(model, shape).rows
    x = torch.zeros(1, *shape)
    with torch.no_grad():
        real = {}
        for layer_name, layer in model.named_children():
            x = layer(x)
            real[layer_name] = tuple(x.shape[1:])
    assert [r.name for r in rows] == list(real)
    for r in rows:
        assert r.out == real[r.name], r.name
    assert compare_with_pytorch(model, shape).agree.all()


def test_shape_table_columns_and_activations():
    t = shape_table(meta_model("paper"), (3, 227, 227))
    assert list(t.columns) == ["layer", "kind", "kernel", "output", "activations"]
    row = t.set_index("layer").loc["conv1"]
    assert (row.kernel, row.output, row.activations) == ("11×11 s4 p0", "96×55×55", 96 * 55 * 55)
    assert t.set_index("layer").loc["conv2", "kernel"] == "5×5 s1 p2 g2"
    assert t.layer.iloc[-1] == "fc8" and t.output.iloc[-1] == "1000"


def test_shape_table_refuses_an_input_that_does_not_fit():
    with pytest.raises(ValueError, match="pool2"):
        shape_table(meta_model("d2l"), (1, 28, 28))


def test_gpu_halves_of_the_paper_model():
    t = gpu_halves(meta_model("paper")).set_index("layer")
    assert t["per GPU"].tolist() == ["48 + 48", "128 + 128", "192 + 192", "192 + 192", "128 + 128"]
    assert t["kernel depth"].tolist() == [3, 48, 256, 192, 192]  # paper §3.5
    assert t.loc["conv3", "reads"] == "both GPUs" and t.loc["conv4", "reads"] == "its own GPU only"
    one = gpu_halves(meta_model("paper_1gpu"))
    assert (one.reads.iloc[1:] == "both GPUs").all()


@pytest.mark.parametrize("name", list(VARIANTS))
def test_torchinfo_agrees_with_our_shapes_and_parameters(name):
    torchinfo = pytest.importorskip("torchinfo")  # an optional dependency (requirements.txt)
    v = VARIANTS[name]
    model = meta_model(name)
    x = torch.zeros(1, *v.input_shape, device="meta")
    summary = torchinfo.summary(model, input_data=x, verbose=0, device="meta")
    theirs = {
        info.var_name: (tuple(info.output_size[1:]), info.num_params)
        for info in summary.summary_list
        if info.depth == 1
    }
    layers = dict(model.named_children())
    ours = {r.name: (r.out, layer_params(layers[r.name])) for r in trace(model, v.input_shape).rows}
    assert ours == theirs
