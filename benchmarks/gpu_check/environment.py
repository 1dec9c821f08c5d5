"""Versions, the device, the data, and whether every tool the steps use imports; as JSON."""

import importlib
import importlib.metadata as md
import json
import platform
import shutil
import subprocess
import sys

out, mode = sys.argv[1], sys.argv[2]
info = {
    "python": platform.python_version(),
    "executable": sys.executable,
    "platform": platform.platform(),
    "mode": mode,
}
versions, missing = {}, []
for module, dist in [
    ("torch", "torch"),
    ("torchvision", "torchvision"),
    ("numpy", "numpy"),
    ("pandas", "pandas"),
    ("matplotlib", "matplotlib"),
    ("pytest", "pytest"),
    ("nbclient", "nbclient"),
    ("nbformat", "nbformat"),
    ("ipykernel", "ipykernel"),
    ("jupyter_client", "jupyter_client"),
    ("IPython", "ipython"),
    ("ipywidgets", "ipywidgets"),
    ("torchinfo", "torchinfo"),
    ("d2l", "d2l"),
    ("onnx", "onnx"),
    ("onnxruntime", "onnxruntime"),
    ("onnxscript", "onnxscript"),
    ("nbconvert", "nbconvert"),
    ("alexnet_lesson", "alexnet-lesson"),
]:
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
info["versions"] = versions
optional = {"nbconvert", "onnx", "onnxruntime", "onnxscript"}
info["missing"] = missing
info["missing_required"] = [m for m in missing if m.split(" ")[0] not in optional]

import torch  # noqa: E402

cuda = torch.cuda.is_available()
info["cuda_available"] = cuda
info["torch_cuda"] = torch.version.cuda
info["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
if cuda:
    props = torch.cuda.get_device_properties(0)
    info["gpu"] = {
        "name": props.name,
        "capability": f"{props.major}.{props.minor}",
        "memory_gib": round(props.total_memory / 2**30, 1),
        "count": torch.cuda.device_count(),
        "is_bf16_supported": torch.cuda.is_bf16_supported(),
    }
    from alexnet_lesson.train import amp_dtype

    info["gpu"]["auto_amp"] = str(amp_dtype("cuda")).replace("torch.", "")
if shutil.which("nvidia-smi"):
    q = ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]
    smi = subprocess.run(q, capture_output=True, text=True)
    info["nvidia_smi"] = smi.stdout.strip() or smi.stderr.strip()
from alexnet_lesson import data  # noqa: E402

files = data.open_fashion_mnist(fallback="synthetic", timeout=2.0)
info["data"] = {
    "root": str(files.root),
    "kind": files.kind,
    "n_train": files.n_train,
    "n_test": files.n_test,
    "describe": files.describe(),
}
with open(out, "w") as f:
    json.dump(info, f, indent=2)
    f.write("\n")
print(json.dumps({k: info[k] for k in ("python", "cuda_available", "torch_cuda")}))
print("gpu:", info.get("gpu"), "| nvidia-smi:", info.get("nvidia_smi"))
print("versions:", {k: v for k, v in versions.items() if not k.endswith("_from")})
print("data:", info["data"]["describe"], "at", info["data"]["root"])
if info["missing_required"]:
    print("MISSING:", "; ".join(info["missing_required"]))
if mode == "gpu" and not cuda:
    print("NO CUDA GPU visible to torch: the GPU steps will fail or skip")
if info["missing_required"] or (mode == "gpu" and not cuda):
    sys.exit(1)
