"""Versions, the device, the data, and whether every tool the steps use imports; as JSON.

    environment.py OUT MODE

The versions and the device come from :func:`alexnet_lesson.env.versions_and_device`; this adds
every tool the check's steps import (and where from), ``nvidia-smi``'s view and the data.
"""

import importlib
import importlib.metadata as md
import json
import shutil
import subprocess
import sys

from alexnet_lesson import data, env
from alexnet_lesson.train import amp_dtype

TOOLS = {  # module: distribution
    "torch": "torch",
    "torchvision": "torchvision",
    "numpy": "numpy",
    "pandas": "pandas",
    "matplotlib": "matplotlib",
    "pytest": "pytest",
    "nbclient": "nbclient",
    "nbformat": "nbformat",
    "ipykernel": "ipykernel",
    "jupyter_client": "jupyter_client",
    "IPython": "ipython",
    "ipywidgets": "ipywidgets",
    "torchinfo": "torchinfo",
    "d2l": "d2l",
    "onnx": "onnx",
    "onnxruntime": "onnxruntime",
    "onnxscript": "onnxscript",
    "nbconvert": "nbconvert",
    "alexnet_lesson": "alexnet-lesson",
}
OPTIONAL = {"nbconvert", "onnx", "onnxruntime", "onnxscript"}


def tool_versions() -> tuple[dict, list[str]]:
    """Each tool's version and where it was imported from; the ones that do not import."""
    versions, missing = {}, []
    for module, dist in TOOLS.items():
        try:
            mod = importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001
            versions[dist] = None
            missing.append(f"{module} ({type(exc).__name__}: {exc})")
            continue
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            versions[dist] = getattr(mod, "__version__", "importable")
        versions[dist + "_from"] = getattr(mod, "__file__", None)
    return versions, missing


def gather(mode: str) -> dict:
    """Everything environment.json holds (docs/gpu-check.md lists the fields)."""
    report = env.versions_and_device()
    info = {k: report[k] for k in ("python", "executable", "platform")} | {"mode": mode}
    info["versions"], info["missing"] = tool_versions()
    info["missing_required"] = [m for m in info["missing"] if m.split(" ")[0] not in OPTIONAL]
    info["cuda_available"] = report["cuda_available"]
    info["torch_cuda"], info["cudnn"] = report["cuda"], report["cudnn"]
    if report["device"]["type"] == "cuda":
        gpu = {k: v for k, v in report["device"].items() if k != "type"}
        info["gpu"] = gpu | {"auto_amp": str(amp_dtype("cuda")).replace("torch.", "")}
    if shutil.which("nvidia-smi"):
        q = ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]
        smi = subprocess.run(q, capture_output=True, text=True)
        info["nvidia_smi"] = smi.stdout.strip() or smi.stderr.strip()
    files = data.open_fashion_mnist(fallback="synthetic", timeout=2.0)
    info["data"] = {
        "root": str(files.root),
        "kind": files.kind,
        "n_train": files.n_train,
        "n_test": files.n_test,
        "describe": files.describe(),
    }
    return info


def main(out: str, mode: str) -> int:
    info = gather(mode)
    with open(out, "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    print(json.dumps({k: info[k] for k in ("python", "cuda_available", "torch_cuda")}))
    print("gpu:", info.get("gpu"), "| nvidia-smi:", info.get("nvidia_smi"))
    versions = {k: v for k, v in info["versions"].items() if not k.endswith("_from")}
    print("versions:", versions)
    print("data:", info["data"]["describe"], "at", info["data"]["root"])
    if info["missing_required"]:
        print("MISSING:", "; ".join(info["missing_required"]))
    cuda = info["cuda_available"]
    if mode == "gpu" and not cuda:
        print("NO CUDA GPU visible to torch: the GPU steps will fail or skip")
    return 1 if info["missing_required"] or (mode == "gpu" and not cuda) else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
