"""A recipe search, one factor at a time: run folders in, one CSV row per run out.

Each run is a ``python -m alexnet_lesson train`` run folder that differs from the baseline in
one recipe setting (or in ``--no-augment``, or ``--seed``). This script reads each folder's
``last.pt`` (its :class:`~alexnet_lesson.config.RunConfig`) and ``history.csv`` and writes what
changed, the validation accuracy after every epoch and the wall time, with the device and the
date. The choice between runs is made on validation accuracy;
the test set is not read here. Lesson 07 runs the same
kind of search in miniature (a small CNN at 28×28, several seeds).

    python -m alexnet_lesson train --epochs 4 --out runs/search/base
    python -m alexnet_lesson train --epochs 4 --out runs/search/bs64 --batch-size 64
    python benchmarks/recipe_search.py runs/search/* --out runs/search.csv
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alexnet_lesson.config import Recipe, RunConfig  # noqa: E402

IGNORED = ("epochs", "amp", "channels_last", "compile", "steps_per_epoch")
"""Settings that do not define the recipe being compared."""


def saved_settings(ckpt: dict) -> tuple[dict, bool | None, int]:
    """The recipe (a dict), the augmentation and the seed a checkpoint was trained with."""
    if "config" in ckpt:  # format 3: the whole configuration
        run = RunConfig.from_dict(ckpt["config"])
        return run.recipe.as_dict(), run.data.augment, run.seed
    recipe = dict(ckpt["recipe"])  # format 2: the recipe held the seed
    return recipe, ckpt.get("augment"), int(recipe.pop("seed", 0))


def row(folder: Path) -> dict:
    """One run folder → its changes from ``Recipe()`` and its validation accuracy per epoch."""
    ckpt = torch.load(folder / "last.pt", map_location="cpu", weights_only=True)
    history = pd.read_csv(folder / "history.csv")
    history = history.rename(columns={"test_acc": "val_acc"})  # written before the split existed
    recipe, augment, seed = saved_settings(ckpt)
    base = Recipe().as_dict()
    changes = [f"{k}={v}" for k, v in recipe.items() if k not in IGNORED and base.get(k) != v]
    if augment is False:
        changes.append("augment=False")
    if seed != 0:
        changes.append(f"seed={seed}")
    stamp = datetime.datetime.fromtimestamp((folder / "last.pt").stat().st_mtime, datetime.UTC)
    return {
        "run": folder.name,
        "change": ", ".join(changes) or "none (baseline)",
        "epochs": int(ckpt["epoch"]),
        **{
            f"val_acc_{int(e)}": round(float(a), 4)
            for e, a in zip(history.epoch, history.val_acc, strict=True)
        },
        "minutes": round(float(history.seconds.sum()) / 60, 1),
        "device": ckpt.get("runtime", {}).get("device", "?"),
        "finished_utc": stamp.strftime("%Y-%m-%d %H:%M"),
        "data": ckpt.get("data", ""),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    missing = [str(f) for f in args.folders if not (f / "last.pt").is_file()]
    if missing:
        print(f"no finished run (last.pt) in: {', '.join(missing)}", file=sys.stderr)
        return 1
    table = pd.DataFrame([row(f) for f in args.folders])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table.drop(columns=["data"]).to_string(index=False))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
