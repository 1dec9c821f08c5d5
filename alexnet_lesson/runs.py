"""The run folder (lesson 07): what a training run writes, and the rules that keep it safe.

A run folder belongs to one run. :func:`claim` takes it for one process (a lock file names the
process that holds it) and refuses a folder that already holds another run unless the caller
resumes it; :func:`clear` is the explicit way to replace one. Every file goes in atomically
(:func:`write_atomic`: a temporary file in the same folder, then a rename), so a crash never
leaves half a checkpoint or a truncated CSV. What a resume may change is decided by
:func:`alexnet_lesson.config.differences`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl

    msvcrt = None
except ImportError:  # Windows
    import msvcrt

    fcntl = None

__all__ = [
    "BOARD_DIR",
    "LOCK_NAME",
    "RUN_FILES",
    "RunFolderError",
    "claim",
    "clear",
    "existing_run",
    "strict_json",
    "write_atomic",
]

RUN_FILES = ("last.pt", "best.pt", "history.csv", "metrics.json", "curves.png")
"""What a run writes into its folder (the CLI writes the last two, after at least one epoch)."""
BOARD_DIR = "tensorboard"
_HELD: dict[Path, int] = {}  # the folders this process holds, and how many claims deep
LOCK_NAME = ".lock"


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

    A process that already holds ``out`` may claim it again inside (nothing more is checked
    then). The lock is an operating-system lock on ``out/.lock`` (``flock``; ``msvcrt.locking`` on
    Windows), so it ends with the process that holds it, however that process ends; the file
    says who holds it.

    Example:
        >>> import tempfile
        >>> with claim(Path(tempfile.mkdtemp()) / "run") as folder:
        ...     (folder / LOCK_NAME).is_file()
        True
    """
    out = Path(out)
    key = out.resolve()
    if key in _HELD:  # this process holds it already (the CLI clears a run, then fit trains)
        _HELD[key] += 1
        try:
            yield out
        finally:
            _HELD[key] -= 1
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = _take_lock(out)
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
        _HELD[key] = 1
        yield out
    finally:
        _HELD.pop(key, None)
        (out / LOCK_NAME).unlink(missing_ok=True)  # still ours: we hold its lock
        os.close(fd)


def _take_lock(out: Path) -> int:
    """Lock ``out/.lock`` and write who holds it; return the open file descriptor."""
    lock = out / LOCK_NAME
    for _ in range(5):
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            os.close(fd)
            raise RunFolderError(_held(out, lock, _read_lock(lock)))
        if lock.exists() and os.fstat(fd).st_ino == os.stat(lock).st_ino:
            me = {"pid": os.getpid(), "host": socket.gethostname(),
                  "since": time.strftime("%Y-%m-%d %H:%M:%S")}  # fmt: skip
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps(me).encode())
            os.fsync(fd)
            return fd
        os.close(fd)  # released and removed between our open and our lock: try again
    raise RunFolderError(f"could not take the lock {lock}; try again")


def _try_lock(fd: int) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:  # Windows
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _held(out: Path, lock: Path, holder: dict | None) -> str:
    who = (
        f"process {holder.get('pid')} on {holder.get('host')} (since {holder.get('since')})"
        if holder
        else "another process"
    )
    return (
        f"{out} is in use by {who}; wait for it to finish, or choose another --out. (If no "
        f"process uses it, e.g. a disconnected notebook on a shared drive, delete {lock}.)"
    )


def _read_lock(lock: Path) -> dict | None:
    try:
        return json.loads(lock.read_text())
    except (OSError, ValueError):
        return None


def clear(out: str | os.PathLike) -> list[str]:
    """Delete the run files in ``out`` and its TensorBoard folder (the explicit way to replace a
    run); return their names. Hold the folder (:func:`claim`) while calling it.

    Example:
        >>> clear("/nonexistent")
        []
    """
    out = Path(out)
    found = existing_run(out)
    for name in found:
        (out / name).unlink()
    if (out / BOARD_DIR).is_dir():
        shutil.rmtree(out / BOARD_DIR)
        found.append(BOARD_DIR + "/")
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
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())  # on disk before the rename, so an OS crash cannot tear it
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
