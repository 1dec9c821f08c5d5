"""Training throughput: the d2l recipe against ours, same model, same batch size, one run.

(a) **d2l**: torchvision ``FashionMNIST`` → PIL ``Resize(224)`` → ``ToTensor`` in DataLoader worker
    processes, and a ``d2l.train_ch6``-style fp32 step that reads the accuracy back to the host
    after every step (``d2l.accuracy`` calls ``float()``).
(b) **ours**: :class:`alexnet_lesson.data.DeviceLoader` (resize, augment, normalise on the device)
    and :func:`alexnet_lesson.train.fit`'s step with ``RunConfig()``'s settings (a fused optimizer;
    precision (``--amp``) and memory layout as :mod:`alexnet_lesson.train` picks them for the
    device; metrics kept on the device). The JSON records the precision and layout used.

Modes:

* ``--mode train`` (default): training images/s of (a) and (b), their ratio, peak memory.
* ``--mode data``: the data pipeline alone, batches/s at 224 (PIL loader vs device path).
* ``--mode accuracy``: time-to-accuracy: both recipes train for ``--epochs`` on the same training
  images (``--limit`` to a subset; 10 % held out for validation, as in the lessons), with the
  validation accuracy and elapsed time after every epoch and the test accuracy once, at the end.
  ``--only ours`` and ``--set NAME=VALUE`` (any setting of :class:`alexnet_lesson.config.RunConfig`,
  e.g. ``--set lr=0.04``; ``--no-augment``) search ours one factor at a time.

``--json PATH`` also writes the results as JSON (train mode: images/s of each, the ratio, peak
memory, the GPU, versions and settings); ``benchmarks/gpu_check.sh`` reads it.

Examples::

    python benchmarks/train_throughput.py --mode data --device cpu
    python benchmarks/train_throughput.py --mode train --device cuda --json throughput.json
    python benchmarks/train_throughput.py --mode accuracy --epochs 2 --limit 1024 1000

This is a script, not a test: the numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch
from torch import nn

try:
    from d2l import torch as d2l
except ImportError:  # d2l_accuracy runs d2l.accuracy's code itself
    d2l = None

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alexnet_lesson import data, env  # noqa: E402
from alexnet_lesson.config import Recipe, RunConfig  # noqa: E402
from alexnet_lesson.models import VARIANTS, alexnet, init_xavier  # noqa: E402
from alexnet_lesson.report import Report  # noqa: E402
from alexnet_lesson.train import amp_dtype, build_model, fit, loss_and_accuracy  # noqa: E402

TARGET_RATIO = 10.0
"""What ours must reach on a GPU: at least this many times d2l's training images/s."""


def versions(report: dict) -> str:
    """One line of :func:`alexnet_lesson.env.versions_and_device`'s versions."""
    v = report["versions"]
    return (
        f"python {report['python']}, torch {v['torch']}, torchvision {v['torchvision']}, "
        f"d2l {v['d2l'] or 'not installed'}"
        + (f", CUDA {report['cuda']}, cuDNN {report['cudnn']}" if report["cuda_available"] else "")
    )


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_mib(device: torch.device) -> float:
    """Peak memory in MiB since :func:`reset_peak`, as :func:`peak_measures` says."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def peak_measures(device: torch.device) -> str:
    """What :func:`peak_mib` measures on ``device``."""
    if device.type == "cuda":
        return "torch.cuda.max_memory_allocated"
    return "process peak RSS (both paths together; workers not counted)"


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def d2l_accuracy(y_hat: torch.Tensor, y: torch.Tensor) -> float:
    """d2l.accuracy when d2l is installed (it syncs: float(...)), else the same code."""
    if d2l is not None:
        return d2l.accuracy(y_hat, y)
    return float((y_hat.argmax(axis=1).type(y.dtype) == y).type(y.dtype).sum())


def d2l_steps(model, opt, loader, device, steps):
    """train_ch6's inner loop: fp32, plain SGD, a host sync per step. Returns (images, seconds)."""
    loss_fn = nn.CrossEntropyLoss()
    model.to(device).train()
    n, it = 0, iter(loader)
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        try:
            x, y = next(it)
        except StopIteration:
            it = iter(loader)
            x, y = next(it)
        opt.zero_grad()
        x, y = x.to(device), y.to(device)
        y_hat = model(x)
        loss = loss_fn(y_hat, y)
        loss.backward()
        opt.step()
        with torch.no_grad():
            _ = (float(loss) * x.shape[0], d2l_accuracy(y_hat, y), x.shape[0])
        n += x.shape[0]
    sync(device)
    return n, time.perf_counter() - start


def base_config(args, **settings) -> RunConfig:
    """``RunConfig()`` for ``args.variant`` at ``args.size`` (with the variant's channels),
    changed by ``settings`` (flat names)."""
    channels = VARIANTS[args.variant].in_channels
    return RunConfig.of(
        variant=args.variant, in_channels=channels, channels=channels, size=args.size,
        batch_size=args.batch_size, **settings,
    )  # fmt: skip


def ours_steps(model, loader, config, steps):
    """fit's step on the DeviceLoader (one short fit of ``config``, one epoch of ``steps``
    steps), on the model's device. Returns (images, seconds)."""
    config = config.replace(epochs=1, steps_per_epoch=steps)
    h = fit(model, loader, None, config, report=Report(progress=False))
    n = min(steps, len(loader)) * loader.batch_size
    return n, n / float(h.images_per_s.iloc[0])


def channels_last_weights(model: nn.Module) -> bool:
    """Whether the model's convolution weights are laid out channels-last (as fit left them)."""
    convs = [p for p in model.parameters() if p.dim() == 4 and p.shape[1] > 1]
    return bool(convs) and all(
        p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous() for p in convs
    )


def timed_rounds(args, paths: dict, device) -> dict:
    """``args.rounds`` rounds of each path in turn, so that a change in the machine's load hits
    both. Returns per path: [images, seconds, peak MiB]."""
    totals = {key: [0, 0.0, 0.0] for key in paths}
    for _ in range(args.rounds):
        for key, run in paths.items():
            reset_peak(device)
            n, sec = run(args.steps)
            totals[key][0] += n
            totals[key][1] += sec
            totals[key][2] = max(totals[key][2], peak_mib(device))
    return totals


def mode_train(args, files, device) -> dict:
    """Both paths in alternating rounds: images/s of each, the ratio, peak memory."""
    started = time.perf_counter()
    size, bs = args.size, args.batch_size
    loader_a = data.classic_loader(files, True, bs, size, num_workers=args.workers)
    # our recipe at a constant learning rate, on all the training images (augmented)
    config = base_config(args, schedule="constant", amp=args.amp, compile=args.compile,
                         val_share=0)  # fmt: skip
    loader_b = data.splits(files, config.data, bs, device).train
    model_a, model_b = alexnet(args.variant, seed=0), build_model(config).to(device)
    opt_a = torch.optim.SGD(model_a.to(device).parameters(), lr=0.01)
    paths = {
        "d2l": lambda steps: d2l_steps(model_a, opt_a, loader_a, device, steps),
        "ours": lambda steps: ours_steps(model_b, loader_b, config, steps),
    }
    print(f"model {args.variant} at {size}×{size}, batch {bs}; {args.rounds} alternating rounds "
          f"of {args.steps} timed steps per path, after {args.warmup} warm-up step(s) each")  # fmt: skip
    warm = time.perf_counter()
    for run in paths.values():  # workers start, caches warm; cuDNN autotunes, compile compiles
        run(args.warmup)
    warmup_s = time.perf_counter() - warm
    totals = timed_rounds(args, paths, device)
    a, b = (totals[k][0] / totals[k][1] for k in paths)
    print(f"(a) d2l recipe (PIL loader, {args.workers} workers, fp32, sync per step): "
          f"{a:8.1f} images/s   peak {totals['d2l'][2]:,.0f} MiB")  # fmt: skip
    print(f"(b) ours (DeviceLoader, fit's step):                    "
          f"{b:8.1f} images/s   peak {totals['ours'][2]:,.0f} MiB")  # fmt: skip
    print(f"peak memory: {peak_measures(device)}")
    print(f"ratio ours / d2l: {b / a:.2f}×")
    dtype = amp_dtype(device, args.amp)
    results = {
        key: {"images_per_s": n / sec, "images": n, "seconds": sec, "peak_mib": peak}
        for key, (n, sec, peak) in totals.items()
    }
    results["d2l"]["recipe"] = (
        f"PIL Resize DataLoader, {args.workers} workers, fp32, SGD, sync per step"
    )
    results["ours"] |= {
        "amp": str(dtype).replace("torch.", "") if dtype else "off",
        "channels_last": channels_last_weights(model_b),
        "compile": bool(args.compile),
        "recipe": "DeviceLoader and fit's step (fused SGD, RunConfig() at a constant lr)",
    }
    settings = ("variant", "size", "batch_size", "steps", "rounds")
    return {
        **{key: getattr(args, key) for key in settings},
        "warmup_steps": args.warmup,
        **results,
        "ratio": b / a,
        "target_ratio": TARGET_RATIO,
        "meets_target_ratio": b / a >= TARGET_RATIO,
        "warmup_s": warmup_s,
        "wall_s": time.perf_counter() - started,
        "peak_memory_measures": peak_measures(device),
    }


def mode_data(args, files, device) -> None:
    """Batches/s (wall clock) and the CPU time this process spends per batch.

    On a shared or small machine the wall-clock rate of a multi-process loader depends on how
    many cores it can grab, so the PIL loader is also run in-process (``num_workers=0``), where
    its full CPU cost per batch is visible.
    """
    size, bs = args.size, args.batch_size

    def rate(loader, to_device: bool) -> tuple[float, float]:
        it = iter(loader)
        for _ in range(args.warmup):  # start the workers, fill their queues
            next(it)
        sync(device)
        start, cpu, k = time.perf_counter(), time.process_time(), 0
        while k < args.steps:
            try:
                x, y = next(it)
            except StopIteration:
                it = iter(loader)
                continue
            if to_device:
                x = x.to(device)
            k += 1
        sync(device)
        wall = time.perf_counter() - start
        return k / wall, 1000 * (time.process_time() - cpu) / k

    loader_a = data.classic_loader(files, True, bs, size, num_workers=args.workers)
    a, _ = rate(loader_a, True)
    del loader_a
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a DataLoader worker (and no thread-pool spinning counted)
    a0, a0_cpu = rate(data.classic_loader(files, True, bs, size, num_workers=0), True)
    torch.set_num_threads(threads)
    loader_b = data.splits(files, base_config(args, val_share=0).data, bs, device).train
    b, b_cpu = rate(loader_b, False)
    print(
        f"data pipeline at {size}×{size}, batch {bs}, {args.steps} batches after {args.warmup} warm-up"
    )
    print(
        f"(a)  PIL Resize DataLoader, {args.workers} workers: {a:7.2f} batches/s ({a * bs:6.0f} images/s)"
    )
    print(
        f"(a0) PIL Resize DataLoader, in-process:  {a0:7.2f} batches/s, {a0_cpu:6.1f} CPU ms/batch"
    )
    print(f"(b)  DeviceLoader (shift/flip, resize):  {b:7.2f} batches/s, {b_cpu:6.1f} CPU ms/batch")
    print(f"ratio device / PIL with workers (wall): {b / a:.1f}×")
    print(
        f"ratio device / PIL in-process (wall):   {b / a0:.1f}×; CPU cost per batch: {a0_cpu / b_cpu:.1f}× less"
    )


def mode_accuracy(args, files, device) -> dict:
    """Both recipes, epoch by epoch, on the same training images: elapsed training time and
    validation accuracy after every epoch, the test accuracy once, after the last epoch."""
    bs = args.batch_size
    n_train, n_test = (min(a, b) for a, b in zip(args.limit or (files.n_train, files.n_test),
                                                 (files.n_train, files.n_test), strict=True))  # fmt: skip
    train_idx, val_idx = data.validation_indices(n_train)
    print(f"time-to-accuracy on {files.describe()}: {len(train_idx)} train / {len(val_idx)} "
          f"validation (held out of the first {n_train} training images) / {n_test} test images, "
          f"{args.epochs} epoch(s), batch {bs}, seed {args.seed}")  # fmt: skip
    result = {}
    if args.only in ("both", "d2l"):
        result["d2l"] = d2l_accuracy_run(args, files, device, (train_idx, val_idx), n_test)
    if args.only in ("both", "ours"):
        result["ours"] = ours_accuracy_run(args, files, device, n_train, n_test)
    return result


def d2l_accuracy_run(args, files, device, indices, n_test) -> dict:
    """(a) d2l: train_ch6's recipe (Xavier init, SGD lr 0.01, constant, no augmentation)."""
    loaders = [
        data.classic_loader(
            files, True, args.batch_size, args.size, args.workers, indices=i, shuffle=shuffle
        )  # fmt: skip
        for i, shuffle in zip(indices, (True, False), strict=True)
    ]
    test = data.classic_loader(
        files, False, args.batch_size, args.size, args.workers, indices=range(n_test)
    )
    torch.manual_seed(args.seed)
    model = init_xavier(alexnet(args.variant, init="pytorch", seed=args.seed)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    elapsed = 0.0
    for epoch in range(1, args.epochs + 1):
        elapsed += d2l_steps(model, opt, loaders[0], device, len(loaders[0]))[1]  # one epoch
        loss, val_acc = loss_and_accuracy(model, loaders[1], amp="off", channels_last=False)
        print(f"(a) d2l  epoch {epoch}: {elapsed:7.1f} s training, "
              f"val loss {loss:.3f} acc {val_acc:.3f}", flush=True)  # fmt: skip
    _, acc = loss_and_accuracy(model, test, amp="off", channels_last=False)
    print(f"(a) d2l  after {args.epochs} epochs: test accuracy {acc:.3f} (read once)")
    return {"val_acc": val_acc, "test_acc": acc, "seconds": elapsed}


def ours_accuracy_run(args, files, device, n_train, n_test) -> dict:
    """(b) ours: the default configuration (changed by ``--set``) on the DeviceLoader, augmented."""
    config = base_config(args, epochs=args.epochs, seed=args.seed, augment=not args.no_augment,
                         limit=(n_train, n_test))  # fmt: skip
    config = config.replace(**dict(parse_setting(s) for s in args.set))
    recipe = config.recipe
    changed = {k: v for k, v in recipe.as_dict().items() if getattr(Recipe(), k) != v}
    print(
        f"(b) ours recipe: Recipe() with {changed or 'no changes'}; augment {config.data.augment}"
    )
    splits = data.splits(files, config.data, recipe.batch_size, device)
    model = build_model(config).to(device)
    elapsed, last = 0.0, {}

    def report(row: dict) -> None:
        nonlocal elapsed
        elapsed += row["seconds"]
        last.update(row)
        print(f"(b) ours epoch {row['epoch']}: {elapsed:7.1f} s (with eval), "
              f"val loss {row['val_loss']:.3f} acc {row['val_acc']:.3f}", flush=True)  # fmt: skip

    fit(model, splits.train, splits.val, config, report=Report(progress=False, callback=report))
    loss, acc = loss_and_accuracy(model, splits.test)
    print(f"(b) ours after {args.epochs} epochs: test accuracy {acc:.3f} (read once)")
    return {"val_acc": last.get("val_acc"), "test_acc": acc, "seconds": elapsed, "recipe": changed}


NONE_DEFAULTS = {"steps_per_epoch": int, "channels_last": bool}
"""The type of the settings whose default is None."""


def parse_setting(text: str) -> tuple[str, object]:
    """``"lr=0.04"`` → ``("lr", 0.04)``, typed like the setting's default in ``RunConfig()``."""
    name, _, value = text.partition("=")
    name = name.replace("-", "_")
    defaults = {key.rpartition(".")[2]: v for key, v in RunConfig().flat().items()}
    if not value or name not in defaults or name == "limit":
        raise SystemExit(f"--set wants NAME=VALUE with a RunConfig setting, got {text!r}")
    kind = NONE_DEFAULTS.get(name) or type(defaults[name])
    if kind is bool:
        return name, value.lower() in ("1", "true", "yes")
    return name, kind(value)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", choices=["train", "data", "accuracy"], default="train")
    p.add_argument("--device", help="cpu, cuda, mps (default: the best available)")
    p.add_argument("--variant", default="d2l")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument(
        "--steps",
        type=int,
        help="timed steps (train: 50 on CUDA, 20 elsewhere, 3 on a CPU) or batches (data: 100)",
    )
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds (train mode)")
    p.add_argument("--workers", type=int, default=4, help="PIL loader workers (d2l uses 4)")
    p.add_argument("--epochs", type=int, default=2, help="accuracy mode")
    p.add_argument("--limit", type=int, nargs=2, metavar=("N_TRAIN", "N_TEST"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--compile", action="store_true", help="torch.compile our model")
    p.add_argument(
        "--amp", choices=["auto", "off", "bf16", "fp16"], default="auto", help="ours (train mode)"
    )
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON (train mode)")
    p.add_argument("--data", help="data folder (default: $ALEXNET_LESSON_DATA or the cache)")
    p.add_argument("--only", choices=["both", "d2l", "ours"], default="both", help="accuracy mode")
    p.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE",
        help="accuracy mode: change one setting of ours (repeatable), e.g. --set lr=0.04",
    )  # fmt: skip
    p.add_argument("--no-augment", action="store_true", help="accuracy mode: ours without it")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = env.pick_device(args.device)
    if args.steps is None:  # a CPU training step at batch 128 and 224 px takes seconds
        cpu_train = device.type == "cpu" and args.mode == "train"
        cuda_train = device.type == "cuda" and args.mode == "train"  # ours: ~0.3 s for 50 steps
        args.steps = 100 if args.mode == "data" else 3 if cpu_train else 50 if cuda_train else 20
    files = data.open_fashion_mnist(args.data, fallback="synthetic")
    report = env.versions_and_device(device)
    print(f"device: {report['device']['name']}; {versions(report)}")
    print(f"data:   {files.describe()}")
    result = {"train": mode_train, "data": mode_data, "accuracy": mode_accuracy}[args.mode](
        args, files, device
    )
    if args.json:
        record = {
            "mode": args.mode,
            "device": report["device"],
            "versions": {"python": report["python"], **report["versions"]}
            | {"cuda": report["cuda"], "cudnn": report["cudnn"]},
            "data": {"kind": files.kind, "describe": files.describe(), "root": str(files.root)},
            **(result or {}),
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
