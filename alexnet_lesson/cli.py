"""The command line: ``python -m alexnet_lesson {info,download,train,predict,export} …``.

``predict IMAGE… --run DIR`` classifies image files with a trained run; ``export --run DIR --to
DIR`` writes it as TorchScript and ONNX files and checks that they compute what the model does.

``torchrun --nproc-per-node N -m alexnet_lesson train …`` trains with DistributedDataParallel
(lesson 09): N processes, each with its share of every batch (``--batch-size`` is per process),
rank 0 alone writing the run folder and printing; with N = 1 it is the plain command."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Iterable
from contextlib import nullcontext
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from alexnet_lesson import __version__, config, data, distributed, env, runs
from alexnet_lesson.config import RunConfig
from alexnet_lesson.models import VARIANTS, variants
from alexnet_lesson.report import Report, tensorboard_available
from alexnet_lesson.runs import RunFolderError
from alexnet_lesson.schedule import ADAMW_LR
from alexnet_lesson.shapes import format_ranges
from alexnet_lesson.train import amp_dtype, build_model, final_test, fit

__all__ = [
    "add_train_command",
    "build_parser",
    "download",
    "export",
    "info",
    "main",
    "predict",
    "train",
]


def info(args: argparse.Namespace) -> int:
    """Print versions, the device, GPU memory, the data's status and the model variants.

    Example:
        >>> info(build_parser().parse_args(["info", "--device", "cpu"]))  # doctest: +SKIP
        0
    """
    dev = env.pick_device(args.device)
    report = env.versions_and_device(dev)
    v, about = report["versions"], report["device"]
    print(f"alexnet_lesson {__version__}")
    print(f"python      {report['python']} ({report['executable']})")
    print(f"torch       {v['torch']}   torchvision {v['torchvision']}")
    print(f"device      {about['type']}: {about['name']}")
    if dev.type == "cuda":
        total, free = about["memory_gib"], about["memory_free_gib"]
        print(f"GPU memory  {total:.1f} GiB total, {free:.1f} GiB free")
        print(f"mixed prec. {amp_dtype(dev)} (amp='auto': bf16 where native, else fp16)")
    print(f"mode        {'smoke' if env.is_smoke() else 'full'} (${env.SMOKE_VAR})")
    root = data.data_dir(args.data)
    print(f"data folder {env.shown_path(root)}")
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


# --------------------------------------------------------------------------- train


def _device(text: str) -> str:
    """An argparse type: a device torch knows and this machine has."""
    try:
        env.pick_device(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _positive_int(text: str) -> int:
    """An argparse type for counts such as ``--limit``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an int") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def add_train_command(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``train``: data and run flags, then one flag per setting of the run's
    configuration (:func:`alexnet_lesson.config.add_flags`).

    Example:
        >>> p = argparse.ArgumentParser(); sub = p.add_subparsers(dest="command")
        >>> _ = add_train_command(sub)
        >>> p.parse_args(["train", "--epochs", "2"]).epochs
        2
    """
    p = sub.add_parser(
        "train",
        allow_abbrev=False,  # a shortened --repl must not pass for --replace
        help="train an AlexNet variant on Fashion-MNIST (history CSV, curves, checkpoints, metrics)",
        description="Train an AlexNet variant on Fashion-MNIST with alexnet_lesson.train.fit.",
        usage="python -m alexnet_lesson train [options]  (--help lists them)",
    )
    p.add_argument("--limit", type=_positive_int, nargs=2, metavar=("N_TRAIN", "N_TEST"))
    p.add_argument("--data", help="data folder (default: $ALEXNET_LESSON_DATA or ~/.cache/...)")
    p.add_argument("--synthetic", action="store_true", help="use synthetic data if none is found")
    p.add_argument("--out", help="run folder (default: <runs dir>/<variant>)")
    p.add_argument("--resume", action="store_true", help="continue the run in OUT (its last.pt)")
    p.add_argument(
        "--change-recipe",
        action="store_true",
        help="with --resume: accept configuration changes (more epochs, a new --lr, …)",
    )
    p.add_argument("--replace", action="store_true", help="delete the run in OUT and start anew")
    p.add_argument(
        "--tensorboard",
        action="store_true",
        help="also log to OUT/tensorboard (needs: pip install tensorboard)",
    )
    p.add_argument("--smoke", action="store_true", help="tiny run: 256+128 images, one epoch, "
                   "unless --limit or --epochs say otherwise")  # fmt: skip
    p.add_argument("--device", type=_device, help="force a device (cpu, cuda, cuda:N, mps)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    config.add_flags(p, skip=("channels", "num_classes"))
    p.set_defaults(func=train, _parser=p)
    return p


def _config(args: argparse.Namespace) -> RunConfig:
    """The configuration the flags ask for. Unset flags keep the defaults, except: the input
    size and channels are the variant's own, ``--smoke`` means 256 + 128 images and one epoch,
    and AdamW's default learning rate is 3e-4. A size the variant cannot take is a flag error."""
    variant = VARIANTS[args.variant or "d2l"]
    channels = args.in_channels or variant.in_channels
    base = RunConfig.of(variant=args.variant or "d2l", in_channels=channels, channels=channels,
                        size=variant.input_size)  # fmt: skip
    if args.smoke:
        base = base.replace(epochs=1, limit=(256, 128))
    if args.limit:
        base = base.replace(limit=tuple(args.limit))
    if args.optimizer == "adamw" and args.lr is None:
        base = base.replace(lr=ADAMW_LR)
    try:
        run = config.from_flags(args, base).replace(channels=channels)
    except ValueError as exc:
        args._parser.error(str(exc))
    ok = build_model(run.replace(init="pytorch")).accepted_sizes()
    if not any(lo <= run.data.size <= hi for lo, hi in ok):
        args._parser.error(
            f"argument --size: {run.model.variant} cannot take {run.data.size}×{run.data.size} "
            f"inputs; it accepts {format_ranges(ok)}"
        )
    return run


def train(args: argparse.Namespace) -> int:
    """Run ``python -m alexnet_lesson train …``: history CSV, curves PNG, checkpoints, metrics JSON.

    Exit status: 0 done, 1 a problem the message explains (nothing was changed), 2 a bad flag,
    3 stopped at a NaN or infinite loss, 130 interrupted (the message says how to resume).
    Under ``torchrun`` with several processes, every process runs this with DDP.

    Example:
        >>> train(build_parser().parse_args(["train", "--smoke"]))  # doctest: +SKIP
        0
    """
    several = env.distributed_env().world_size > 1
    device = distributed.device_for_rank(args.device)
    with distributed.process_group(device) if several else nullcontext():
        return _train(args, device)


def _train(args: argparse.Namespace, device: torch.device) -> int:
    """The steps of ``train`` in one process (of one or several), on this process's device."""
    say = distributed.say
    run = _config(args)
    model = build_model(run).to(device)
    out = Path(args.out) if args.out else env.cache_dir("runs") / run.model.variant
    try:
        report = _report(args, out)
        _check_folder(out, args)
        parts = _splits(args, run, device)
        say(f"training {run.model.variant} at {run.data.size}×{run.data.size} on "
            f"{device}: {parts.description}")  # fmt: skip
        if distributed.world_size() > 1:
            say(f"{distributed.world_size()} processes (DistributedDataParallel), "
                f"{run.recipe.batch_size} images each per step")  # fmt: skip
        say(f"run folder: {env.shown_path(out)}")
        before = _files_in(out)
        with distributed.main_holds(
            runs.claim(out, resume=True) if args.replace else nullcontext()
        ):
            if args.replace:  # only now that the data has been read: under the lock fit keeps
                distributed.main_only(
                    lambda: say(
                        f"replaced the run in {env.shown_path(out)}: {', '.join(runs.clear(out))}"
                    )
                )
            history = fit(
                model, parts.train, parts.val, run, out_dir=out, report=report,
                resume="with-changes" if args.change_recipe else args.resume,
            )  # fmt: skip
        tested = _test_once(out, model, parts.test, history)
    except (RunFolderError, data.DataUnavailableError, data.IDXFormatError, ImportError) as exc:
        say(f"error: {exc}", file=sys.stderr)
        return 1
    if distributed.is_main():
        _write_results(out, history, run, parts.description, tested)
        changed = [n for n, v in _files_in(out).items() if before.get(n) != v]
        say(f"wrote in {env.shown_path(out)}: {', '.join(changed) or 'nothing'}")
    return _exit_status(history, args)


def _check_folder(out: Path, args: argparse.Namespace) -> None:
    """Fail fast, changing nothing, on a folder that cannot be used (rank 0 checks)."""

    def check() -> None:
        with runs.claim(out, resume=args.resume or args.replace):
            pass

    distributed.main_only(check)


def _files_in(out: Path) -> dict[str, tuple[int, int]]:
    """Each run file's identity (inode, modification time): atomic writes change the inode."""
    names = [*runs.RUN_FILES, runs.BOARD_DIR]
    found = {n: out / n for n in names if (out / n).exists()}
    return {n: (p.stat().st_ino, p.stat().st_mtime_ns) for n, p in found.items()}


def _splits(args: argparse.Namespace, run: RunConfig, device: torch.device) -> data.Splits:
    files = distributed.main_first(  # rank 0 downloads; the others then find the files
        lambda: data.open_fashion_mnist(
            args.data, download=True, fallback="synthetic" if args.synthetic else "error"
        )
    )
    shard = data.Shard(distributed.rank(), distributed.world_size())
    return data.splits(files, run.data, run.recipe.batch_size, device, shard)


def _report(args: argparse.Namespace, out: Path) -> Report:
    board = out / "tensorboard" if args.tensorboard else None
    if board is not None and not tensorboard_available():
        raise ImportError("--tensorboard needs the tensorboard package: pip install tensorboard")
    return Report(progress=not args.no_progress, tensorboard=board)


def _exit_status(history: pd.DataFrame, args: argparse.Namespace) -> int:
    stopped = history.attrs.get("stopped")
    if stopped == "interrupted":
        again = [a for a in args._argv if a not in ("--replace", "--resume")] + ["--resume"]
        distributed.say(f"to continue: python -m alexnet_lesson {shlex.join(again)}")
        return 130
    return 3 if stopped == "nan" else 0


def _test_once(out: Path, model: nn.Module, test: Iterable, history: pd.DataFrame) -> dict | None:
    """After a run that finished: best.pt (chosen on validation) on the test set, said once."""
    if history.attrs.get("stopped"):
        return None
    # Decided in rank 0 and shared: the others wait until rank 0, which wrote best.pt, has looked.
    if not distributed.main_first(lambda: (out / "best.pt").is_file()):
        return None
    tested = final_test(model, test, out)
    distributed.say(f"test set, read once: best.pt (epoch {tested['epoch']}, validation accuracy "
                    f"{tested['val_acc']:.3f}) has test accuracy {tested['test_acc']:.3f}")  # fmt: skip
    return tested


def _write_results(
    out: Path, history: pd.DataFrame, run: RunConfig, data_text: str, tested: dict | None
) -> None:
    """``curves.png`` and ``metrics.json`` (strict JSON) beside the checkpoints, atomically; no
    files when no epoch finished (the folder then holds no run, and a retry may use it)."""
    if not len(history):
        return
    import matplotlib.pyplot as plt

    from alexnet_lesson.plots import plot_history

    fig = plot_history(history)
    runs.write_atomic(out / "curves.png", lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)
    last = history.iloc[-1].to_dict()
    metrics = {
        "variant": run.model.variant,
        "size": run.data.size,
        "data": data_text,
        "epochs_done": len(history),
        "stopped": history.attrs.get("stopped"),
        "final": {k: float(v) for k, v in last.items()},
        "best_val_acc": float(history.val_acc.max()),
        "test_of_best": tested,
        "total_seconds": float(history.seconds.sum()),
        "config": run.as_dict(),
        "config_changes": history.attrs.get("config_changes", []),
        "processes": distributed.world_size(),
    }
    text = json.dumps(runs.strict_json(metrics), indent=2, allow_nan=False) + "\n"
    runs.write_atomic(out / "metrics.json", lambda tmp: tmp.write_text(text))


# --------------------------------------------------------------------------- predict, export


def _load_run(args: argparse.Namespace) -> tuple[nn.Module, dict] | None:
    """The run's best model, or None after one line on standard error saying what to pass."""
    from alexnet_lesson.checkpoint import load_checkpoint

    try:
        return load_checkpoint(args.run, device=env.pick_device(args.device))
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def predict(args: argparse.Namespace) -> int:
    """Classify image files with a trained run: per image, the top classes and probabilities,
    with the run's own preprocessing (its input size and normalisation; EXIF rotation honoured).
    Exit status 1 when any image could not be read.

    Example:
        >>> predict(build_parser().parse_args(["predict", "shoe.jpg", "--run", "nowhere"]))
        1
    """
    from alexnet_lesson.prediction import predict as classify

    loaded = _load_run(args)
    if loaded is None:
        return 1
    model, meta = loaded
    status = 0
    for image in args.images:
        try:
            top = classify(model, Path(image), k=args.top, info=meta)
        except (OSError, ValueError, TypeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
            continue
        print(f"{image}: " + ", ".join(f"{name} {p:.3f}" for name, p in top))
    return status


def export(args: argparse.Namespace) -> int:
    """Write the run's best model as TorchScript (``alexnet.pt``) and ONNX (``alexnet.onnx``) in
    ``--to`` and check each against the model on test images (random inputs where the data is
    missing). Files already there are kept unless ``--replace``. Exit status 1 when a format is
    missing or does not match.

    Example:
        >>> export(build_parser().parse_args(["export", "--run", "nowhere", "--to", "out"]))
        1
    """
    from alexnet_lesson import export as exporting

    to = Path(args.to)
    there = [n for n in ("alexnet.pt", "alexnet.onnx") if (to / n).exists()]
    if there and not args.replace:
        print(f"error: {env.shown_path(to)} already holds {', '.join(there)}; nothing was "
              "overwritten. Choose another --to, or pass --replace.", file=sys.stderr)  # fmt: skip
        return 1
    loaded = _load_run(args)
    if loaded is None:
        return 1
    model, meta = loaded
    batch, what = _check_batch(args, meta, model)
    to.mkdir(parents=True, exist_ok=True)
    table = exporting.export_all(model, to, batch)
    print(f"checked on {what}; files in {env.shown_path(to)}")
    print(table.to_string())
    matched = table["match"].eq(True) if "match" in table else pd.Series(False, table.index)
    failed = table.index[~matched].tolist()
    if failed:
        print(f"error: {' and '.join(failed)} missing or not equal to the model (the table above "
              "says why)", file=sys.stderr)  # fmt: skip
    return 1 if failed else 0


def _check_batch(args: argparse.Namespace, meta: dict, model: nn.Module) -> tuple:
    """Up to 16 test images, preprocessed as the run was; random inputs where there are none."""
    from alexnet_lesson.export import example_input

    try:
        files = data.open_fashion_mnist(args.data, download=False)
        images, _ = data.load_split(files, train=False)
    except (data.DataUnavailableError, FileNotFoundError, data.IDXFormatError):
        return example_input(model, batch=16), "16 random inputs (no test images found)"
    x = data.preprocess(images[:16], meta["size"], meta["mean"], meta["std"], meta["in_channels"])
    return x, f"the first {len(x)} test images ({files.describe()})"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand.

    Example:
        >>> build_parser().parse_args(["info"]).command
        'info'
    """
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="python -m alexnet_lesson",
        description="AlexNet lesson helpers: environment check, data download, training, "
        "prediction and export.",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="{info,download,train,predict,export}"
    )
    p = sub.add_parser("info", help="versions, device, GPU memory, data status, model variants")
    p.add_argument("--device", type=_device, help="force a device (cpu, cuda, cuda:N, mps)")
    p.add_argument("--data", help="data folder (default: $ALEXNET_LESSON_DATA or ~/.cache/...)")
    p.set_defaults(func=info)
    p = sub.add_parser("download", help="download Fashion-MNIST into the data folder")
    p.add_argument("--data", help="data folder (default: $ALEXNET_LESSON_DATA or ~/.cache/...)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the server")
    p.set_defaults(func=download)

    add_train_command(sub)
    p = sub.add_parser("predict", help="classify image files with a trained run")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG, JPEG, … files")
    p.add_argument("--run", required=True, help="a run folder (train's --out) or a .pt file")
    p.add_argument("--top", type=_positive_int, default=3, help="classes to show (default 3)")
    p.add_argument("--device", type=_device, help="force a device (cpu, cuda, cuda:N, mps)")
    p.set_defaults(func=predict)
    p = sub.add_parser("export", help="write a trained run as TorchScript and ONNX, checked")
    p.add_argument("--run", required=True, help="a run folder (train's --out) or a .pt file")
    p.add_argument("--to", required=True, help="the folder for alexnet.pt and alexnet.onnx")
    p.add_argument("--replace", action="store_true", help="overwrite files already in --to")
    p.add_argument("--data", help="data folder for the check images (default: the cache)")
    p.set_defaults(func=export, device="cpu")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m alexnet_lesson``.

    Example:
        >>> main(["info"])  # doctest: +SKIP
        0
    """
    args = build_parser().parse_args(argv)
    args._argv = list(sys.argv[1:] if argv is None else argv)
    return int(args.func(args) or 0)
