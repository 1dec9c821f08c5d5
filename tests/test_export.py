"""Export: TorchScript and ONNX files of the d2l AlexNet give PyTorch's outputs; ONNX is optional."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from alexnet_lesson import export
from alexnet_lesson.models import alexnet

ONNX_REASON = (
    "onnx/onnxruntime/onnxscript not installed (the optional alexnet-lesson[export] extra)"
)


@pytest.fixture(scope="module")
def model():
    return alexnet("d2l", seed=0).eval()


@pytest.fixture(scope="module")
def batch(model):
    return export.example_input(model, batch=3, seed=5)  # not the traced batch size (2)


def n_bytes(model):
    return sum(p.numel() * p.element_size() for p in model.parameters())


@pytest.fixture(scope="module")
def ts_file(model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ts")
    return export.to_torchscript(model, folder / "m.pt", export.example_input(model))


@pytest.mark.slow
def test_torchscript_round_trip(model, batch, ts_file):
    result = export.check_export(model, ts_file, batch)
    assert result["format"] == "TorchScript"
    assert result["match"] and result["same_top1"]
    assert result["max_abs_diff"] <= export.ATOL
    assert result["MB"] * 1e6 == pytest.approx(n_bytes(model), rel=0.01)  # the weights, in float32
    assert not model.training


@pytest.mark.slow
def test_check_export_notices_different_weights(model, batch, ts_file):
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.fc8.bias += 0.01  # every logit moves by 0.01, far beyond the tolerance
    result = export.check_export(other, ts_file, batch)
    assert not result["match"]
    # logits below 1 in float32: adding 0.01 is exact to ~1e-7 (measured 5e-9 off over 6 seeds)
    assert result["max_abs_diff"] == pytest.approx(0.01, rel=1e-3)


@pytest.fixture(scope="module")
def onnx_file(model, tmp_path_factory):
    if not export.onnx_available():
        pytest.skip(ONNX_REASON)
    return export.to_onnx(
        model, tmp_path_factory.mktemp("onnx") / "m.onnx", export.example_input(model)
    )


@pytest.mark.slow
def test_onnx_round_trip_with_a_free_batch_size(model, batch, onnx_file):
    result = export.check_export(model, onnx_file, batch)  # batch of 3; exported with 2
    assert result["format"] == "ONNX"
    assert result["match"] and result["same_top1"], result
    assert result["MB"] * 1e6 == pytest.approx(n_bytes(model), rel=0.01)


@pytest.mark.slow
def test_onnx_graph_names(onnx_file):
    import onnx

    graph = onnx.load(str(onnx_file), load_external_data=False).graph
    assert [i.name for i in graph.input] == ["image"]
    assert [o.name for o in graph.output] == ["logits"]


def test_without_the_extra_onnx_is_skipped_with_a_message(monkeypatch, tmp_path):
    monkeypatch.setattr(export, "onnx_available", lambda: False)
    tiny = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 6 * 6, 3))
    x = torch.randn(2, 1, 8, 8)
    with pytest.raises(
        export.ExportUnavailable, match=r"^skipped: install alexnet-lesson\[export\]"
    ):
        export.to_onnx(tiny, tmp_path / "m.onnx", x)
    table = export.export_all(tiny, tmp_path, x)
    assert table.index.tolist() == ["TorchScript", "ONNX"]
    assert table.loc["ONNX", "file"].startswith("skipped: install alexnet-lesson[export]")
    assert bool(table.loc["TorchScript", "match"])
    assert not (tmp_path / "alexnet.onnx").exists()


def test_example_input_shape(model):
    x = export.example_input(model, batch=4)
    assert tuple(x.shape) == (4, 1, 224, 224)
    assert np.isclose(float(x.std()), 1.0, atol=0.01)


def test_export_leaves_the_model_alone_and_takes_bf16_and_fp16(tmp_path):
    for dtype in (torch.bfloat16, torch.float16):
        torch.manual_seed(0)
        tiny = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(72, 3)).to(dtype)
        tiny.train()
        x = torch.randn(4, 1, 8, 8)
        table = export.export_all(tiny, tmp_path / str(dtype), x)
        assert (
            bool(table.loc["TorchScript", "match"])
            and table.loc["TorchScript", "max_abs_diff"] == 0
        )
        assert tiny[0].weight.dtype == dtype and tiny.training  # dtype and mode as they were
        assert tiny[0].weight.device.type == "cpu"  # (on a GPU the CUDA test checks its device)
