"""The run folder (lesson 07): what a training run writes, and the rules that keep it safe.

A run folder belongs to one run. :func:`claim` takes it for one process (a lock file names the
process that holds it) and refuses a folder that already holds another run unless the caller
resumes it; :func:`clear` is the explicit way to replace one. Every file goes in atomically
(:func:`write_atomic`: a temporary file in the same folder, then a rename), so a crash never
leaves half a checkpoint or a truncated CSV. :func:`recipe_changes` lists what a resume would
change, sorted into what cannot work and what a learner may mean.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "LOCK_NAME",
    "RUN_FILES",
    "STATE_SETTINGS",
    "RunFolderError",
    "claim",
    "clear",
    "existing_run",
    "recipe_changes",
    "strict_json",
    "write_atomic",
]

RUN_FILES = ("last.pt", "best.pt", "history.csv", "metrics.json", "curves.png")
"""What a run writes into its folder (the CLI writes the last two)."""
LOCK_NAME = ".lock"
STATE_SETTINGS = ("optimizer",)
"""Recipe settings the saved state depends on: SGD's momentum buffers mean nothing to AdamW and
the other way round, so resuming with another optimizer cannot work. (The memory layout can
change: ``fit`` lays the restored state out like the weights it belongs to.)"""


class RunFolderError(RuntimeError):
    """A run folder cannot be used as asked; the message says what to do instead."""


def existing_run(out: str | os.PathLike) -> list[str]:
    """The run files already in ``out`` (empty when there is no run there).

    Example:
        >>> existing_run("/nonexistent")
        []
    """
    out = Path(out)
    return [name for name in RUN_FILES if (out / name).is_file()]


@contextmanager
def claim(out: str | os.PathLike, resume: bool = False) -> Iterator[Path]:
    """Hold the run folder ``out`` for a ``with`` block: create it, check that it is writable,
    take its lock, and refuse a folder that holds another run unless ``resume``.

    Example:
        >>> import tempfile
        >>> with claim(Path(tempfile.mkdtemp()) / "run") as folder:
        ...     (folder / LOCK_NAME).is_file()
        True
    """
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = _take_lock(out)
    except OSError as exc:
        raise RunFolderError(
            f"cannot write to {out} ({exc.strerror or exc}): choose a folder you can write to "
            "(--out / out_dir=)"
        ) from None
    try:
        found = existing_run(out)
        if found and not resume:
            raise RunFolderError(
                f"{out} already holds a run ({', '.join(found)}); nothing was changed. Continue "
                "it with --resume (resume=True), choose another folder with --out (out_dir=), or "
                "replace it with --replace (alexnet_lesson.runs.clear)."
            )
        yield out
    finally:
        lock.unlink(missing_ok=True)


def _take_lock(out: Path) -> Path:
    """Create ``out/.lock`` exclusively; a lock left by a process that is gone is taken over."""
    lock = out / LOCK_NAME
    me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%H:%M:%S")}
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            holder = _read_lock(lock)
            if holder is not None and _alive(holder):
                raise RunFolderError(
                    f"{out} is in use by process {holder['pid']} on {holder['host']} (since "
                    f"{holder['since']}); wait for it to finish, or choose another --out"
                ) from None
            lock.unlink(missing_ok=True)  # left behind by a process that is gone
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        return lock
    raise RunFolderError(f"could not take the lock {lock}; remove it if no run is using {out}")


def _read_lock(lock: Path) -> dict | None:
    try:
        return json.loads(lock.read_text())
    except (OSError, ValueError):
        return None


def _alive(holder: dict) -> bool:
    """Whether the lock's process still runs (only checkable on this host: else assume so)."""
    if holder.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, KeyError, TypeError):
        return True
    return True


def clear(out: str | os.PathLike) -> list[str]:
    """Delete the run files in ``out`` (the explicit way to replace a run); return their names.

    Example:
        >>> clear("/nonexistent")
        []
    """
    out = Path(out)
    found = existing_run(out)
    for name in found:
        (out / name).unlink()
    return found


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``: a
    reader sees the old file or the new one, never half of one.

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "a.txt"
        >>> write_atomic(p, lambda tmp: tmp.write_text("done")).read_text()
        'done'
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def strict_json(value: object) -> object:
    """``value`` with every NaN or infinite float replaced by None, so that ``json.dumps``
    writes strict JSON (it would write ``NaN`` and ``Infinity``, which JSON does not have).

    Example:
        >>> json.dumps(strict_json({"loss": float("inf"), "acc": [0.5, float("nan")]}))
        '{"loss": null, "acc": [0.5, null]}'
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    return value


def recipe_changes(saved: dict, asked: dict) -> tuple[list[str], list[str]]:
    """What resuming a run saved with recipe ``saved`` under recipe ``asked`` would change, as
    two lists of lines: changes that cannot work (:data:`STATE_SETTINGS`) and changes a learner
    may mean (more epochs, a new learning rate, …).

    Example:
        >>> recipe_changes({"epochs": 3, "optimizer": "sgd"}, {"epochs": 5, "optimizer": "adamw"})
        (['optimizer: sgd → adamw'], ['epochs: 3 → 5'])
    """
    cannot, may = [], []
    for name in asked:
        if name in saved and saved[name] != asked[name]:
            line = f"{name}: {saved[name]} → {asked[name]}"
            (cannot if name in STATE_SETTINGS else may).append(line)
    return cannot, may
