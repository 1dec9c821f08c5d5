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
    python benchmarks/recipe_search.py --decide runs/search.csv

``--decide`` applies the rules of ``benchmarks/recipe_search.md``, fixed before the search ran,
to such a table: :func:`screen` picks the candidate from the seed-0 runs, :func:`confirm` judges
it against today's recipe over the seeds both ran.
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

MARGIN = 0.01
"""How much a screened level must beat the baseline's validation accuracy by to be chosen."""


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
    stamp = datetime.datetime.fromtimestamp((folder / "last.pt").stat().st_mtime, datetime.UTC)
    return {
        "run": folder.name,
        "change": ", ".join(sorted(changes)) or "none",  # the order --decide uses
        "seed": seed,
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


def final_accuracy(table: pd.DataFrame) -> pd.Series:
    """Each run's validation accuracy after its last epoch (the ``val_acc_N`` of its row)."""
    return table.apply(lambda r: r[f"val_acc_{int(r.epochs)}"], axis=1)


def screen(table: pd.DataFrame, margin: float = MARGIN) -> tuple[pd.DataFrame, list[str]]:
    """The screen (seed 0): each changed setting against the baseline, and the candidate's
    changes, each one the best level of its setting if it beats the baseline by ``margin``.

    Example:
        >>> t = pd.DataFrame({"change": ["none", "lr=0.04", "lr=0.01", "augment=False"],
        ...                   "seed": 0, "epochs": 4, "val_acc_4": [0.80, 0.82, 0.79, 0.805]})
        >>> screen(t)[1]
        ['lr=0.04']
    """
    runs = table[table.seed == 0].assign(val_acc=final_accuracy(table[table.seed == 0]))
    base = float(runs.loc[runs.change == "none", "val_acc"].iloc[0])
    arms = runs[runs.change != "none"].assign(setting=lambda t: t.change.str.split("=").str[0])
    arms = arms.assign(minus_base=arms.val_acc - base)
    best = arms.sort_values("val_acc", ascending=False).groupby("setting").head(1)
    chosen = best[best.minus_base >= margin].change.tolist()
    return arms[["setting", "change", "val_acc", "minus_base"]].reset_index(drop=True), chosen


def confirm(table: pd.DataFrame, candidate: str) -> tuple[pd.DataFrame, bool]:
    """Candidate (its ``change`` text) against today's recipe, paired by seed: adopted if its mean
    is higher and it wins at least 2 of the seeds both ran.

    Example:
        >>> t = pd.DataFrame({"change": ["none", "lr=0.04"] * 3, "seed": [0, 0, 1, 1, 2, 2],
        ...                   "epochs": 4, "val_acc_4": [0.80, 0.82, 0.81, 0.80, 0.79, 0.80]})
        >>> confirm(t, "lr=0.04")[1]
        True
    """
    acc = table.assign(val_acc=final_accuracy(table))
    pairs = acc.pivot_table(index="seed", columns="change", values="val_acc")[["none", candidate]]
    pairs = pairs.dropna().assign(difference=lambda t: t[candidate] - t["none"])
    wins = int((pairs.difference > 0).sum())
    return pairs, bool(pairs.difference.mean() > 0 and wins >= 2)


def decide(table: pd.DataFrame) -> str:
    """The verdict lines of both rules for a search table, computed from it."""
    arms, chosen = screen(table)
    lines = [arms.round(4).to_string(index=False)]
    candidate = ", ".join(sorted(chosen))  # the change text of a run with all of them
    lines.append("screen: candidate = " + (candidate or "today's recipe"))
    seeds = sorted(set(table.seed[table.change == "none"]))
    if chosen and len(set(table.seed[table.change == candidate]) & set(seeds)) >= 3:
        pairs, adopted = confirm(table, candidate)
        lines.append(pairs.round(4).to_string())
        verdict = "the candidate becomes Recipe()" if adopted else "today's Recipe() stays"
        lines.append(f"confirmation over seeds {list(pairs.index)}: {verdict}")
    elif chosen:
        lines.append("confirmation: not yet run at 3 seeds")
    else:
        lines.append(f"today's Recipe() stays; its seeds so far: {seeds}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="*", type=Path)
    p.add_argument("--out", type=Path)
    p.add_argument("--decide", type=Path, metavar="CSV", help="apply the rules to a table")
    args = p.parse_args(argv)
    if args.decide:
        print(decide(pd.read_csv(args.decide)))
        return 0
    if not args.folders or not args.out:
        p.error("give run folders and --out CSV, or --decide CSV")
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
