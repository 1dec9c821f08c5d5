"""Export a trained model for use without this package: TorchScript and ONNX, each checked.

* TorchScript (:func:`to_torchscript`): ``torch.jit.trace`` records the forward pass once and
  saves a file that ``torch.jit.load`` runs without the model's Python code (PyTorch 2.x marks
  TorchScript as deprecated in favour of ``torch.export``, but it still works and is widely used).
* ONNX (:func:`to_onnx`): ``torch.onnx.export`` writes the graph in the open ONNX format, which
  ONNX Runtime (and many other runtimes) execute without PyTorch. It needs the optional extra
  ``pip install "alexnet-lesson[export]"`` (onnx, onnxruntime, onnxscript); without it these
  functions raise :class:`ExportUnavailable`, whose message starts with "skipped:".

:func:`check_export` runs the exported file on a batch and compares its outputs with PyTorch's;
:func:`export_all` does both formats and returns one table row per format (a "skipped" row where
the extra is missing).
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from alexnet_lesson.env import eval_mode, model_device

__all__ = [
    "ATOL",
    "RTOL",
    "SKIP_MESSAGE",
    "check_export",
    "example_input",
    "export_all",
    "ExportUnavailable",
    "onnx_available",
    "portable",
    "to_onnx",
    "to_torchscript",
]

ATOL = 1e-4
"""Outputs (logits) of an exported model may differ from PyTorch's by at most ATOL + RTOL·|x|."""
RTOL = 1e-4
SKIP_MESSAGE = 'skipped: install alexnet-lesson[export] (pip install "alexnet-lesson[export]")'


class ExportUnavailable(ImportError):
    """ONNX export or ONNX Runtime is not installed (the optional ``[export]`` extra)."""


def onnx_available() -> bool:
    """True when onnx, onnxruntime and onnxscript are all importable.

    Example:
        >>> isinstance(onnx_available(), bool)
        True
    """
    return all(
        importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime", "onnxscript")
    )


def _require_onnx() -> None:
    if not onnx_available():
        missing = [
            m for m in ("onnx", "onnxruntime", "onnxscript") if importlib.util.find_spec(m) is None
        ]
        raise ExportUnavailable(f"{SKIP_MESSAGE}; missing: {', '.join(missing)}")


def example_input(
    model: nn.Module,
    batch: int = 2,
    seed: int = 0,
    size: int | None = None,
    channels: int | None = None,
) -> torch.Tensor:
    """A random batch of the shape ``model`` takes (N×C×size×size), on the model's device.

    ``size`` and ``channels`` default to the model's ``input_size`` and ``in_channels`` (what
    every :func:`alexnet_lesson.models.alexnet` model has).

    Example:
        >>> tiny = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(72, 3))
        >>> tuple(example_input(tiny, size=8, channels=1).shape)
        (2, 1, 8, 8)
    """
    size = int(size or getattr(model, "input_size", 224))
    channels = int(channels or getattr(model, "in_channels", 3))
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, channels, size, size, generator=g).to(model_device(model))


def portable(model: nn.Module) -> nn.Module:
    """A float32 CPU copy of ``model`` in eval mode; the model itself is not moved or converted
    (bf16 and fp16 weights convert to float32 exactly).

    Example:
        >>> half = nn.Linear(2, 2).to(torch.bfloat16)
        >>> portable(half).weight.dtype, half.weight.dtype
        (torch.float32, torch.bfloat16)
    """
    return copy.deepcopy(model).to(device="cpu", dtype=torch.float32).eval()


def to_torchscript(model: nn.Module, path: str | os.PathLike, example: torch.Tensor) -> Path:
    """Trace ``model`` (in eval mode) on ``example`` with ``torch.jit.trace`` and save it to ``path``.

    The file runs with ``torch.jit.load(path)`` alone. Tracing records the operations for this
    input shape's layers; other batch sizes work, as nothing in AlexNet depends on the batch size.

    Example:
        >>> tiny = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(72, 3))
        >>> to_torchscript(tiny, Path(tempfile.mkdtemp()) / "tiny.pt", torch.zeros(2, 1, 8, 8)).name
        'tiny.pt'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with eval_mode(model), warnings.catch_warnings(), torch.no_grad():
        # "torch.jit.trace is deprecated": a FutureWarning, a DeprecationWarning in torch 2.11
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(model, example)
        traced.save(str(path))
    return path


def to_onnx(
    model: nn.Module, path: str | os.PathLike, example: torch.Tensor, dynamic_batch: bool = True
) -> Path:
    """Export ``model`` (in eval mode) to one ONNX file at ``path`` with ``torch.onnx.export``.

    The input is called ``image`` and the output ``logits``; with ``dynamic_batch`` the batch
    size is left free. Raises :class:`ExportUnavailable` without the ``[export]`` extra.

    Example:
        >>> tiny = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(72, 3))
        >>> to_onnx(tiny, Path(tempfile.mkdtemp()) / "tiny.onnx", torch.zeros(2, 1, 8, 8)).name  # doctest: +SKIP
        'tiny.onnx'
    """
    _require_onnx()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    shapes = ({0: torch.export.Dim("batch")},) if dynamic_batch else None
    with eval_mode(model), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=["image"],
            output_names=["logits"],
            dynamic_shapes=shapes,
            external_data=False,  # one file (fine below ONNX's 2 GB limit)
            verbose=False,
        )
    return path


def _run_exported(path: Path, x: torch.Tensor) -> np.ndarray:
    if path.suffix == ".onnx":
        _require_onnx()
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return session.run(None, {name: x.detach().cpu().numpy()})[0]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", FutureWarning)  # "torch.jit.load is deprecated"
        warnings.simplefilter("ignore", DeprecationWarning)  # the same, in torch 2.11
        loaded = torch.jit.load(str(path), map_location="cpu")
        return loaded(x.detach().cpu()).numpy()


def check_export(
    model: nn.Module,
    path: str | os.PathLike,
    batch: torch.Tensor,
    atol: float = ATOL,
    rtol: float = RTOL,
) -> dict:
    """Run the exported file (TorchScript ``.pt`` or ``.onnx``) on ``batch`` and compare with PyTorch.

    Both run on the CPU in float32 (PyTorch's side on :func:`portable`'s copy). Returns a dict: format, file, MB (file size in 10⁶ bytes),
    max_abs_diff (largest difference of any logit), atol, rtol, match (every logit within
    ``atol + rtol·|pytorch|``, as ``numpy.allclose``), same_top1 (same predicted classes).

    Example:
        >>> tiny = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(72, 3))
        >>> x = torch.randn(4, 1, 8, 8)
        >>> check_export(tiny, to_torchscript(tiny, Path(tempfile.mkdtemp()) / "tiny.pt", x[:2]), x)["match"]
        True
    """
    path = Path(path)
    with torch.no_grad():
        expected = portable(model)(batch.cpu().float()).numpy()
    got = _run_exported(path, batch)
    if got.shape != expected.shape:
        raise AssertionError(f"exported output shape {got.shape} != PyTorch's {expected.shape}")
    return {
        "format": "ONNX" if path.suffix == ".onnx" else "TorchScript",
        "file": path.name,
        "MB": path.stat().st_size / 1e6,
        "max_abs_diff": float(np.abs(got - expected).max()),
        "atol": atol,
        "rtol": rtol,
        "match": bool(np.allclose(got, expected, atol=atol, rtol=rtol)),
        "same_top1": bool((got.argmax(1) == expected.argmax(1)).all()),
    }


def export_all(
    model: nn.Module,
    folder: str | os.PathLike,
    batch: torch.Tensor | None = None,
    name: str = "alexnet",
) -> pd.DataFrame:
    """Export to TorchScript and ONNX in ``folder`` and check each on ``batch``; one row per format.

    The caller's model stays where it is, in its dtype: what is exported is its float32 CPU copy
    (:func:`portable`), so a bf16 or fp16 model exports too. The files are traced with a random
    batch of 2 and checked on ``batch`` (default: a random
    batch of 4 from :func:`example_input`), so a check batch of another size also tests that the
    batch size is free. Without the
    ``[export]`` extra the ONNX row says "skipped: install alexnet-lesson[export]".

    Example:
        >>> from alexnet_lesson.models import alexnet
        >>> table = export_all(alexnet("d2l"), "/tmp/exports")  # doctest: +SKIP
        >>> table.index.tolist()  # doctest: +SKIP
        ['TorchScript', 'ONNX']
    """
    folder = Path(folder)
    model = portable(model)
    batch = example_input(model, batch=4) if batch is None else batch.cpu().float()
    g = torch.Generator().manual_seed(1)
    trace_input = torch.randn(
        2, *batch.shape[1:], generator=g
    )  # traced at 2, checked at len(batch)
    rows = [check_export(model, to_torchscript(model, folder / f"{name}.pt", trace_input), batch)]
    try:
        rows.append(
            check_export(model, to_onnx(model, folder / f"{name}.onnx", trace_input), batch)
        )
    except ExportUnavailable as exc:
        rows.append({"format": "ONNX", "file": str(exc)})
    return pd.DataFrame(rows).set_index("format")
