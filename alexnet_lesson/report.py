"""How a training run reports (lesson 07): a progress bar, a line per epoch, live curves in a
notebook, TensorBoard scalars and a callback. Nothing here changes the numbers.

:class:`Report` is the settings (frozen data that :func:`alexnet_lesson.train.fit` takes); the
trainer opens it for one run (:meth:`Report.open`) and calls the resulting :class:`Reporter` at
the start of each epoch, every ``log_every`` steps and at the end of each epoch. Only one process
reports when several train together: the others get a reporter that says nothing. matplotlib and
IPython are imported only when a live plot is asked for, so the trainer does not need them.
"""

from __future__ import annotations

import importlib.util
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

__all__ = ["Report", "Reporter", "tensorboard_available"]


def tensorboard_available() -> bool:
    """Whether the optional ``tensorboard`` package is installed (``Report(tensorboard=…)``).

    Example:
        >>> tensorboard_available() in (True, False)
        True
    """
    return importlib.util.find_spec("tensorboard") is not None


@dataclass(frozen=True)
class Report:
    """How :func:`~alexnet_lesson.train.fit` reports.

    ``progress``: a tqdm bar per epoch and a line after it; ``live_plot``: curves redrawn after
    every epoch (in a notebook); ``tensorboard``: a folder for TensorBoard's event files (needs the
    optional ``tensorboard`` package; the history CSV stays the record); ``log_every``: steps
    between the bar's loss updates (each one a host sync); ``callback``: called with each epoch's
    history row (a dict).

    Example:
        >>> Report(progress=False).open(total_epochs=2, main=True).say("hello")
        hello
    """

    progress: bool = True
    live_plot: bool = False
    tensorboard: str | os.PathLike | None = None
    log_every: int = 10
    callback: Callable[[dict], None] | None = None

    def open(self, total_epochs: int, main: bool = True) -> Reporter:
        """The reporter of one run of ``total_epochs``; ``main=False`` (not rank 0): a silent one."""
        return Reporter(self, total_epochs, main)


class Reporter:
    """One run's reporting: what the trainer calls (see :class:`Report`)."""

    def __init__(self, report: Report, total_epochs: int, main: bool) -> None:
        self.settings, self.total_epochs, self.main = report, total_epochs, main
        self.bar: tqdm | None = None
        self.views: list = []
        if main and report.live_plot:
            self.views.append(_LivePlot())
        if main and report.tensorboard is not None:
            self.views.append(_TensorBoard(report.tensorboard))

    @property
    def log_every(self) -> int:
        return self.settings.log_every

    def say(self, text: str) -> None:
        """A line for the learner (rank 0 only)."""
        if self.main:
            print(text)

    def start_epoch(self, epoch: int, images: int | None) -> None:
        self.start = time.perf_counter()
        shown = self.main and self.settings.progress
        self.bar = tqdm(
            total=images, desc=f"epoch {epoch}/{self.total_epochs}", unit="img", leave=False,
            **({} if shown else {"disable": True}),  # else $TQDM_DISABLE may decide
        )  # fmt: skip

    def step(self, images: int) -> None:
        if self.bar is not None:
            self.bar.update(images)

    def running(self, loss: float, acc: float, seen: int) -> None:
        """The running loss and accuracy, every ``log_every`` steps."""
        if self.bar is not None and self.main and self.settings.progress:
            rate = seen / max(time.perf_counter() - self.start, 1e-9)
            self.bar.set_postfix(loss=f"{loss:.3f}", acc=f"{acc:.3f}", img_s=f"{rate:.0f}")

    def end_epoch(self, row: dict | None = None, history: pd.DataFrame | None = None) -> None:
        """Close the bar; with the epoch's ``row``: print it, redraw the views, call back."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if row is None or not self.main:
            return
        if self.settings.progress:
            print(_epoch_line(row))
        for view in self.views:
            view.update(history)
        if self.settings.callback is not None:
            self.settings.callback(dict(row))

    def replay(self, history: pd.DataFrame, finished: bool) -> None:
        """Show the epochs a resumed run read back from its checkpoint, as they were trained:
        their lines and the views' state after the last of them."""
        if history.empty or not self.main:
            return
        self.say(
            f"This run finished earlier: its {len(history)} epochs are read back from the checkpoint"
            " and none is trained again. As they were trained:"
            if finished
            else f"Epochs 1 to {len(history)}, read back from the checkpoint:"
        )
        if self.settings.progress:
            for row in history.to_dict("records"):
                print(_epoch_line(row))
        for view in self.views:
            view.update(history)

    def close(self) -> None:
        self.end_epoch()
        for view in self.views:
            view.close()


def _epoch_line(row: dict) -> str:
    return (
        f"epoch {row['epoch']}: train loss {row['train_loss']:.3f} acc {row['train_acc']:.3f}"
        f" | val loss {row['val_loss']:.3f} acc {row['val_acc']:.3f}"
        f" | lr {row['lr']:.3g} | {row['images_per_s']:.1f} img/s"
    )


class _LivePlot:
    """Curves redrawn in place in a notebook after every epoch (nothing outside IPython)."""

    def __init__(self) -> None:
        self.handle = None
        self.fig = None

    def update(self, history: pd.DataFrame) -> None:
        from IPython import get_ipython
        from IPython.display import display

        from alexnet_lesson.plots import plot_history  # matplotlib, only for a live plot

        if get_ipython() is None:
            return
        self.close()
        self.fig = plot_history(history)
        if self.handle is None:
            self.handle = display(self.fig, display_id=True)
        else:
            self.handle.update(self.fig)

    def close(self) -> None:
        if self.fig is not None:
            import matplotlib.pyplot as plt

            plt.close(self.fig)


class _TensorBoard:
    """Each epoch's row as TensorBoard scalars, under the run's folder."""

    def __init__(self, folder: str | os.PathLike) -> None:
        from torch.utils.tensorboard import SummaryWriter  # optional: tensorboard is an extra

        self.writer = SummaryWriter(str(Path(folder)))

    def update(self, history: pd.DataFrame) -> None:
        row = history.iloc[-1]
        for column in history.columns[1:]:
            if math.isfinite(row[column]):
                self.writer.add_scalar(column, float(row[column]), int(row["epoch"]))
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
