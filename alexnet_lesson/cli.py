"""The command line: ``python -m alexnet_lesson {info,train} …``."""

from __future__ import annotations

import argparse
import platform
import sys

import torch

from alexnet_lesson import __version__, data, env
from alexnet_lesson.models import variants
from alexnet_lesson.train import add_train_command, amp_dtype


def info(args: argparse.Namespace) -> int:
    """Print versions, the device, GPU memory, the data's status and the model variants.

    Example:
        >>> info(build_parser().parse_args(["info", "--device", "cpu"]))  # doctest: +SKIP
        0
    """
    import torchvision

    print(f"alexnet_lesson {__version__}")
    print(f"python      {platform.python_version()} ({sys.executable})")
    print(f"torch       {torch.__version__}   torchvision {torchvision.__version__}")
    dev = env.pick_device(args.device)
    print(f"device      {dev.type}: {env.device_name(dev)}")
    if dev.type == "cuda":
        free, total = torch.cuda.mem_get_info(dev)
        print(f"GPU memory  {total / 2**30:.1f} GiB total, {free / 2**30:.1f} GiB free")
        print(f"mixed prec. {amp_dtype(dev)} (amp='auto': bf16 where native, else fp16)")
    print(f"mode        {'smoke' if env.is_smoke() else 'full'} (${env.SMOKE_VAR})")
    root = data.data_dir(args.data)
    print(f"data folder {root}")
    try:
        files = data.open_fashion_mnist(root, download=False)
        print(f"data        {files.describe()}")
    except (data.DataUnavailableError, FileNotFoundError):
        print("data        not found here; `python -m alexnet_lesson download` fetches it")
    except data.IDXFormatError as exc:
        print(f"data        BROKEN: {exc}")
    print("variants")
    for row in variants():
        print(f"  {row['variant']:<12} {row['input']:<10} {row['classes']:>5} classes  "
              f"accepts {row['accepts']:<18} {row['description']}")  # fmt: skip
    return 0


def download(args: argparse.Namespace) -> int:
    """Download Fashion-MNIST into the data folder (or say clearly why it cannot).

    Example:
        >>> download(build_parser().parse_args(["download"]))  # doctest: +SKIP
        0
    """

    try:
        files = data.open_fashion_mnist(args.data, download=True, timeout=args.timeout)
    except data.DataUnavailableError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(files.describe(), "in", files.root)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand.

    Example:
        >>> build_parser().parse_args(["info"]).command
        'info'
    """
    parser = argparse.ArgumentParser(
        prog="python -m alexnet_lesson",
        description="AlexNet lesson helpers: environment check, data download, training.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{info,download,train}")
    p = sub.add_parser("info", help="versions, device, GPU memory, data status, model variants")
    p.add_argument("--device", help="force a device (cpu, cuda, mps)")
    p.add_argument("--data", help="data folder (default: $ALEXNET_LESSON_DATA or ~/.cache/...)")
    p.set_defaults(func=info)
    p = sub.add_parser("download", help="download Fashion-MNIST into the data folder")
    p.add_argument("--data", help="data folder (default: $ALEXNET_LESSON_DATA or ~/.cache/...)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the server")
    p.set_defaults(func=download)

    add_train_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m alexnet_lesson``.

    Example:
        >>> main(["info"])  # doctest: +SKIP
        0
    """
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
