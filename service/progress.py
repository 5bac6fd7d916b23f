"""Progress and end-of-run summaries for `clo` commands and the benchmarks, with rich.

Progress goes to stderr, so what a command prints on stdout (its figures) stays the same from
run to run. On a terminal: a live bar with percentage, count, rate and time remaining; when it
is not a terminal (a log file, CI, a pipe): a plain line every ten seconds and one at the end,
no control characters. Summaries are tables of label and figure on stdout.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

PLAIN_LINE_EVERY_S = 10.0


# Not on a terminal, lines are as long as they need to be (rich would cut them at 80).
PLAIN_WIDTH = 400


def _console(file: IO[str]) -> Console:
    found = Console(file=file, highlight=False, soft_wrap=True)
    if not found.is_terminal:
        found = Console(file=file, highlight=False, soft_wrap=True, width=PLAIN_WIDTH)
    return found


def console(file: IO[str] | None = None) -> Console:
    """A console on stdout (or `file`), resolved when called so a test's capture is used."""
    return _console(file or sys.stdout)


def progress_console() -> Console:
    return _console(sys.stderr)


class Tracker:
    """Where a long step is: `update(done, count)`; `done` against the total (bytes, events,
    steps), `count` the things worth naming (events so far)."""

    def __init__(self, out: Console, description: str, total: float, unit: str) -> None:
        self.out = out
        self.description = description
        self.total = max(total, 1)
        self.unit = unit
        self.started = time.perf_counter()
        self.last_line = self.started
        self.count = 0
        self.done = 0.0
        self._progress: Progress | None = None
        self._task = None
        if out.is_terminal:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[count]:>12,} {task.fields[unit]}"),
                TextColumn("{task.fields[rate]:>10,.0f}/s"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=out,
                transient=False,
            )
            self._task = self._progress.add_task(
                description, total=self.total, count=0, unit=unit, rate=0.0
            )

    def rate(self) -> float:
        return self.count / max(time.perf_counter() - self.started, 1e-9)

    def update(self, done: float, count: int) -> None:
        self.done, self.count = done, count
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=done, count=count, rate=self.rate())
            return
        now = time.perf_counter()
        if now - self.last_line >= PLAIN_LINE_EVERY_S:
            self.last_line = now
            self._plain_line()

    def _plain_line(self) -> None:
        share = min(self.done / self.total, 1.0)
        self.out.print(
            f"{self.description}: {share:.0%}, {self.count:,} {self.unit}, "
            f"{self.rate():,.0f}/s, {time.perf_counter() - self.started:.1f} s",
            markup=False,
        )

    def __enter__(self) -> Tracker:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
        else:
            self._plain_line()


@contextmanager
def tracked(
    description: str, total: float, *, unit: str = "events", out: Console | None = None
) -> Iterator[Tracker]:
    with Tracker(out or progress_console(), description, total, unit) as tracker:
        yield tracker


def summary(
    rows: Iterable[tuple[str, object]], *, title: str | None = None, out: Console | None = None
) -> None:
    """Label and figure per row (ints with thousands separators)."""
    table = Table(
        title=title,
        title_justify="left",
        box=None if not (out or console()).is_terminal else box.SIMPLE,
        show_header=False,
        pad_edge=False,
    )
    table.add_column("what", no_wrap=True)
    # Left-aligned: some figures carry a note, and right-aligning to it would push the plain
    # numbers far from their labels.
    table.add_column("figure", no_wrap=True)
    for label, value in rows:
        table.add_row(label, f"{value:,}" if isinstance(value, int) else str(value))
    (out or console()).print(table)
