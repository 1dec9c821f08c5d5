"""The CUDA path on a real GPU: mixed precision, channels_last, fused SGD, compile, resume across
devices, lesson 03's memory estimate, predict and export (``pytest -m cuda``).

Every test marked ``cuda`` skips cleanly where there is no CUDA GPU; ``benchmarks/gpu_check.sh``
runs them on one. The rule that picks the autocast dtype, and resuming between runs with and
without a gradient scaler, are tested everywhere: the GPU's compute capability is faked.

Where ``$GPU_CHECK_RECORD`` names a JSON file, the tests write what they measured into it (the
GPU, the memory ratio, compile time, …) for the check's summary.
"""

import contextlib
import copy
import gc
import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from nets import small_cnn
from torch import nn

from alexnet_lesson import export
from alexnet_lesson.analysis import predictions
from alexnet_lesson.checkpoint import load_checkpoint
from alexnet_lesson.config import DataConfig, ModelConfig, Recipe, RunConfig
from alexnet_lesson.data import DeviceLoader, Images, load_split, splits
from alexnet_lesson.models import alexnet
from alexnet_lesson.params import measure_cuda_training_memory, meta_model, training_memory
from alexnet_lesson.prediction import predict
from alexnet_lesson.report import Report
from alexnet_lesson.schedule import make_optimizer
from alexnet_lesson.train import amp_dtype, build_model, fit

RECORD_VAR = "GPU_CHECK_RECORD"
MEMORY_MARGIN = (0.95, 1.5)
"""The measured peak of one training step (d2l model, batch 128, 224 px, fp32, SGD with momentum)
must lie within these multiples of lesson 03's estimate (``params.training_memory``). The
estimate counts the weights, gradients, momentum and saved activations; the backward pass adds
temporaries it leaves out (a weight gradient before it is added to ``.grad``, activation
gradients, cuDNN workspaces), so the peak is expected somewhat above it, not far above."""

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def on_gpu(test):
    """Mark a test ``cuda`` (selected by ``pytest -m cuda``) and skip it without a CUDA GPU."""
    return pytest.mark.cuda(needs_cuda(test))


@pytest.fixture
def record():
    """``record(key, value)`` stores a measurement in ``$GPU_CHECK_RECORD`` (nothing when unset)."""

    def put(key, value):
        path = os.environ.get(RECORD_VAR)
        if not path:
            return
        file = Path(path)
        data = json.loads(file.read_text()) if file.is_file() else {}
        data[key] = value
        file.write_text(json.dumps(data, indent=2, default=str) + "\n")

    return put


DATA = DataConfig(size=28)  # augmented training batches, normalised


def small_loaders(files, device):
    (xtr, ytr), (xte, yte) = load_split(files, True), load_split(files, False)
    return (
        DeviceLoader(Images(xtr[:256], ytr[:256], 0.2, 0.3), DATA, 32, device, train=True),
        DeviceLoader(Images(xte[:128], yte[:128], 0.2, 0.3), DATA, 64, device),
    )


QUIET = Report(progress=False)
BASE = RunConfig(  # tests/nets.py's small CNN: a model of our own
    ModelConfig(variant=None),
    DATA,
    Recipe(epochs=2, lr=0.05, batch_size=32, schedule="constant", label_smoothing=0.0),
)


def run(loaders, device, model=None, **kw):
    """``fit`` on ``device`` (the model's) with ``BASE`` changed by the settings in ``kw`` (flat
    names: ``epochs=``, ``amp=``, …)."""
    options = {k: kw.pop(k) for k in ("out_dir", "resume") if k in kw}
    model = (model or small_cnn()).to(device)
    return fit(model, *loaders, BASE.replace(**kw), report=QUIET, **options)


@contextlib.contextmanager
def cudnn(**flags):
    """Set ``torch.backends.cudnn`` flags for a block (fit turns ``benchmark`` on for good)."""
    saved = {k: getattr(torch.backends.cudnn, k) for k in flags}
    for k, v in flags.items():
        setattr(torch.backends.cudnn, k, v)
    try:
        yield
    finally:
        for k, v in saved.items():
            setattr(torch.backends.cudnn, k, v)


def second_conv(model):
    """A conv layer with several input channels (conv1's 1-channel weight is in both layouts)."""
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)][1]


# ------------------------------------------------- the amp rule, on a faked GPU (runs everywhere)

GPUS = [  # (name, compute capability, what amp="auto" must pick)
    ("V100", (7, 0), torch.float16),
    ("T4", (7, 5), torch.float16),
    ("A100", (8, 0), torch.bfloat16),
    ("RTX 3090", (8, 6), torch.bfloat16),
    ("L4", (8, 9), torch.bfloat16),
    ("H100/H200", (9, 0), torch.bfloat16),
    ("B200", (10, 0), torch.bfloat16),
]


def fake_gpus(monkeypatch, capabilities):
    """Pretend CUDA is there, with ``capabilities[i]`` for device i, and bf16 "supported" on all
    of them, as ``torch.cuda.is_bf16_supported()`` says where bf16 is only emulated."""

    def capability(device=None):
        index = torch.device(device).index if device is not None else None
        return capabilities[index or 0]

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)


@pytest.mark.parametrize(("name", "capability", "expected"), GPUS, ids=[g[0] for g in GPUS])
def test_auto_amp_is_bf16_only_where_the_gpu_has_it_natively(
    monkeypatch, name, capability, expected
):
    fake_gpus(monkeypatch, {0: capability})
    for amp in ("auto", None, True):
        assert amp_dtype("cuda", amp) == expected, (name, amp)
    assert amp_dtype(torch.device("cuda", 0)) == expected
    # an explicit choice is kept, whatever the GPU
    assert (amp_dtype("cuda", "bf16"), amp_dtype("cuda", "fp16")) == (torch.bfloat16, torch.float16)
    assert amp_dtype("cuda", "off") is None and amp_dtype("cuda", False) is None
    assert amp_dtype("cpu") is None  # the CPU is not affected


def test_auto_amp_asks_the_device_it_runs_on(monkeypatch):
    fake_gpus(monkeypatch, {0: (7, 5), 1: (9, 0)})  # a T4 and an H100 in one machine
    assert amp_dtype("cuda:0") == torch.float16
    assert amp_dtype("cuda:1") == torch.bfloat16
    assert amp_dtype("cuda") == torch.float16  # no index: the current device (0 here)


def test_auto_amp_without_a_gpu_is_fp16_and_asks_nothing(monkeypatch):
    def no_gpu(*args, **kwargs):
        raise AssertionError("get_device_capability called without a GPU")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "get_device_capability", no_gpu)
    assert amp_dtype("cuda") == torch.float16


@pytest.mark.parametrize(("first", "then"), [("off", "fp16"), ("fp16", "off"), ("bf16", "fp16")])
def test_resume_between_runs_with_and_without_a_gradient_scaler(synthetic, tmp_path, first, then):
    """A CPU run (no scaler) resumed on an fp16 GPU (scaler), and back: what resuming across
    devices does to the scaler's state, checked here with the CPU's own autocast."""
    loaders = small_loaders(synthetic, "cpu")
    one = run(loaders, "cpu", epochs=1, amp=first, out_dir=tmp_path)
    two = run(loaders, "cpu", epochs=2, amp=then, out_dir=tmp_path, resume="with-changes")
    assert two.epoch.tolist() == [1, 2]
    assert two.val_acc.iloc[0] == one.val_acc.iloc[0]  # epoch 1 comes from the checkpoint
    assert math.isfinite(two.train_loss.iloc[1])
    scaler = torch.load(tmp_path / "last.pt", weights_only=True)["scaler"]
    assert bool(scaler) == (then == "fp16")  # the state of the scaler the second run used


# ------------------------------------------------------------------------- on a real CUDA GPU


@pytest.fixture(scope="module")
def gpu_loaders(synthetic):
    return small_loaders(synthetic, "cuda")


@on_gpu
def test_auto_amp_on_this_gpu(record):
    capability = torch.cuda.get_device_capability()
    expected = torch.bfloat16 if capability >= (8, 0) else torch.float16
    assert amp_dtype("cuda") == expected
    record("gpu", torch.cuda.get_device_name())
    record("capability", ".".join(map(str, capability)))
    record("is_bf16_supported", torch.cuda.is_bf16_supported())
    record("auto_amp", str(expected).replace("torch.", ""))


@on_gpu
@pytest.mark.parametrize("amp,dtype", [("fp16", "float16"), ("bf16", "bfloat16")])
def test_mixed_precision_learns_with_fp32_master_weights(gpu_loaders, tmp_path, amp, dtype):
    h = run(gpu_loaders, "cuda", epochs=3, amp=amp, out_dir=tmp_path)
    assert h.train_loss.iloc[-1] < math.log(10) and h.val_acc.iloc[-1] > 0.4
    ckpt = torch.load(tmp_path / "last.pt", weights_only=True)
    assert ckpt["runtime"]["amp"] == dtype
    assert all(v.dtype == torch.float32 for v in ckpt["model"].values())  # fp32 master weights
    if amp == "fp16":
        assert ckpt["scaler"]["scale"] > 0  # the scaler was on, and its state is checkpointed
    else:
        assert ckpt["scaler"] == {}  # bf16 has fp32's range: no scaler


@on_gpu
def test_d2l_at_224_uses_the_cuda_defaults(synthetic, tmp_path, record):
    """Lesson 07's model and recipe at 224: auto amp, channels_last and fused SGD by default."""
    config = RunConfig.of(epochs=2, batch_size=64, limit=(512, 128))  # d2l at 224, augmented
    parts = splits(synthetic, config.data, 64, "cuda")
    model = build_model(config).cuda()
    h = fit(model, parts.train, parts.val, config, out_dir=tmp_path, report=QUIET)
    assert h.train_loss.notna().all() and all(math.isfinite(v) for v in h.train_loss)
    assert second_conv(model).weight.is_contiguous(memory_format=torch.channels_last)
    ckpt = torch.load(tmp_path / "last.pt", weights_only=True)
    assert ckpt["runtime"]["channels_last"] is True
    assert ckpt["runtime"]["amp"] == str(amp_dtype("cuda")).replace("torch.", "")
    assert ckpt["optimizer"]["param_groups"][0]["fused"] is True
    record("d2l_224_fit_images_per_s_batch64", float(h.images_per_s.iloc[-1]))


@on_gpu
def test_fused_sgd_matches_the_unfused_step():
    torch.manual_seed(0)
    a = alexnet("d2l", seed=0).cuda()
    b = copy.deepcopy(a)
    fused = make_optimizer(a, "sgd", lr=0.01)
    plain = make_optimizer(b, "sgd", lr=0.01, fused=False)
    assert fused.param_groups[0]["fused"] and not plain.param_groups[0]["fused"]
    x = torch.randn(8, 1, 224, 224, device="cuda")
    y = torch.randint(0, 10, (8,), device="cuda")
    with cudnn(benchmark=False, deterministic=True, allow_tf32=False):  # the same gradients
        for model, opt in ((a, fused), (b, plain)):
            model.eval()  # no dropout
            for _ in range(2):  # the second step uses the momentum buffers
                opt.zero_grad()
                nn.functional.cross_entropy(model(x), y).backward()
                opt.step()
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-4, atol=1e-5)


@on_gpu
def test_compiled_model_trains_and_saves_plain_weights(synthetic, tmp_path, record):
    pytest.importorskip("triton")
    if not (os.environ.get("CC") or shutil.which("gcc") or shutil.which("clang")):
        pytest.skip("torch.compile on CUDA needs a C compiler (Triton builds its launcher)")
    config = RunConfig.of(epochs=1, batch_size=32, compile=True, limit=(128, 64))
    loaders = splits(synthetic, config.data, 32, "cuda")[:2]  # train and validation
    start = time.perf_counter()
    h = fit(build_model(config).cuda(), *loaders, config, out_dir=tmp_path, report=QUIET)
    record("compile_first_epoch_s", round(time.perf_counter() - start, 1))
    assert math.isfinite(h.train_loss.iloc[0])
    ckpt = torch.load(tmp_path / "last.pt", weights_only=True)
    assert set(ckpt["model"]) == set(alexnet("d2l").state_dict())  # no "_orig_mod." prefixes
    assert ckpt["config"]["recipe"]["compile"] is True
    again = fit(build_model(config).cuda(), *loaders, config.replace(epochs=2),
                out_dir=tmp_path, resume="with-changes", report=QUIET)  # fmt: skip
    assert again.epoch.tolist() == [1, 2] and math.isfinite(again.train_loss.iloc[1])


@on_gpu
@pytest.mark.parametrize("gpu_amp", ["fp16", "auto"])
def test_resume_from_cpu_on_cuda_and_back(synthetic, tmp_path, gpu_amp):
    cpu, gpu = small_loaders(synthetic, "cpu"), small_loaders(synthetic, "cuda")
    first = run(cpu, "cpu", epochs=1, out_dir=tmp_path)  # epoch 1 on the CPU
    model = small_cnn()
    second = run(gpu, "cuda", epochs=2, amp=gpu_amp, out_dir=tmp_path, resume="with-changes",
                 model=model)  # fmt: skip
    assert second.epoch.tolist() == [1, 2] and second.val_acc.iloc[0] == first.val_acc.iloc[0]
    assert next(model.parameters()).device.type == "cuda"
    third = run(cpu, "cpu", epochs=3, out_dir=tmp_path, resume="with-changes")  # epoch 3: CPU
    assert third.epoch.tolist() == [1, 2, 3]
    assert third.train_loss.iloc[-1] < math.log(10) and third.val_acc.iloc[-1] > 0.4
    ckpt = torch.load(tmp_path / "last.pt", weights_only=True)
    assert ckpt["runtime"]["device"] == "cpu" and "cuda" in ckpt["rng"]
    on_cuda, info = load_checkpoint(tmp_path / "last.pt", device="cuda", model=small_cnn())
    assert next(on_cuda.parameters()).device.type == "cuda" and info["epoch"] == 3


@on_gpu
def test_checkpoint_written_on_cuda_loads_on_the_cpu(synthetic, tmp_path):
    config = RunConfig.of(epochs=1, lr=0.01, batch_size=32, schedule="constant",
                          label_smoothing=0.0, augment=False, limit=(64, 32))  # fmt: skip
    loaders = splits(synthetic, config.data, 32, "cuda")[:2]  # train and validation
    fit(build_model(config).cuda(), *loaders, config, out_dir=tmp_path, report=QUIET)
    model, info = load_checkpoint(tmp_path, device="cpu")  # rebuilt by variant name
    assert next(model.parameters()).device.type == "cpu" and info["variant"] == "d2l"
    assert model(torch.zeros(1, 1, 224, 224)).shape == (1, 10)


@on_gpu
def test_peak_memory_matches_lesson_03_estimate(record):
    """Lesson 03's cell: ``measure_cuda_training_memory`` next to ``training_memory``."""
    shape, batch = (1, 224, 224), 128
    estimate = int(
        training_memory(meta_model("d2l").to_empty(device="cpu"), shape, batch).bytes.sum()
    )
    with cudnn(benchmark=False):  # as in lesson 03's fresh kernel
        gc.collect()
        torch.cuda.empty_cache()
        before = torch.cuda.memory_allocated()  # what earlier tests still hold
        peak = measure_cuda_training_memory(alexnet("d2l", seed=0), shape, batch) - before
    ratio = peak / estimate
    record("memory_estimate_mib", round(estimate / 2**20, 1))
    record("memory_measured_mib", round(peak / 2**20, 1))
    record("memory_ratio", round(ratio, 3))
    low, high = MEMORY_MARGIN
    assert low <= ratio <= high, (
        f"measured {peak / 2**20:,.0f} MiB, estimate {estimate / 2**20:,.0f} MiB: ratio "
        f"{ratio:.2f} is outside [{low}, {high}]"
    )


@on_gpu
def test_predict_on_cuda_matches_the_cpu(synthetic):
    image = load_split(synthetic, False)[0][0].numpy()
    model = alexnet("d2l", seed=0).eval()
    on_cuda = copy.deepcopy(model).cuda()
    with cudnn(allow_tf32=False):  # compare fp32 with fp32
        got = dict(predict(on_cuda, image, k=10, mean=0.29, std=0.35))
    expected = dict(predict(model, image, k=10, mean=0.29, std=0.35))
    assert set(got) == set(expected)
    for name, prob in expected.items():
        assert got[name] == pytest.approx(prob, abs=1e-4), name
    assert next(on_cuda.parameters()).device.type == "cuda"  # predict did not move the model


@on_gpu
def test_predictions_on_a_cuda_loader(synthetic):
    model = alexnet("d2l", seed=0).cuda()
    test = splits(synthetic, DataConfig(limit=(8, 100)), 50, "cuda").test
    p = predictions(model, test)
    assert len(p) == 100 and 0 <= p.accuracy <= 1
    assert p.probs.sum(1).cpu().numpy() == pytest.approx(np.ones(100), abs=1e-4)


@on_gpu
def test_export_a_model_that_lives_on_cuda(tmp_path):
    model = alexnet("d2l", seed=0).cuda().eval()
    example = export.example_input(model)
    assert example.device.type == "cuda"
    batch = export.example_input(model, batch=3, seed=5).cpu()
    traced = export.to_torchscript(model, tmp_path / "cuda_traced.pt", example)  # traced on CUDA
    assert export.check_export(model, traced, batch)["match"]
    if export.onnx_available():
        onnx_file = export.to_onnx(model.cuda(), tmp_path / "cuda.onnx", example)
        assert export.check_export(model, onnx_file, batch)["match"]
    table = export.export_all(model, tmp_path / "all", batch)
    assert bool(table.loc["TorchScript", "match"])
    if export.onnx_available():
        assert bool(table.loc["ONNX", "match"])
    assert next(model.parameters()).device.type == "cuda"  # exporting did not move it
    half = alexnet("d2l", seed=0).cuda().to(torch.bfloat16)
    table = export.export_all(half, tmp_path / "bf16", batch)  # its exact float32 copy
    assert bool(table.loc["TorchScript", "match"])
    assert next(half.parameters()).dtype == torch.bfloat16 and next(half.parameters()).is_cuda
