"""The progress bar of long work (the search's fits and emulator runs, verify's targets, the report, the bench):
one line on stderr, redrawn in place, drawn only when both stdout and stderr are terminals, so CI logs, pipes and
redirected output stay exactly as they were."""
from __future__ import annotations

import sys
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")


def on_terminal() -> bool:
    return all(stream is not None and stream.isatty() for stream in (sys.stdout, sys.stderr))


class ProgressBar:
    """`label [#####.....] done/total  item` on stderr (a plain count where the total is unknown), for work
    stepped by hand: start() a phase, step() as each piece ends, finish() at the end. enabled: draw it at all
    (None: when on_terminal())."""

    WIDTH = 30  # characters of the bar, and of the label column before it

    def __init__(self, enabled: bool | None = None):
        self.enabled = on_terminal() if enabled is None else enabled
        self.label, self.total, self.done, self.item = "", None, 0, ""
        self.drawn_width = 0  # of the line on screen (0: no line open)

    def start(self, label: str, total: int | None = None) -> None:
        self.finish()
        self.label, self.total, self.done, self.item = label, total, 0, ""
        self._draw()

    def working_on(self, item: str) -> None:
        """Name the piece in progress (shown after the count)."""
        self.item = item
        self._draw()

    def step(self) -> None:
        self.done += 1
        self._draw()

    def finish(self) -> None:
        if self.drawn_width:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.drawn_width = 0

    def _draw(self) -> None:
        if not self.enabled:
            return
        if self.total:
            filled = self.WIDTH * self.done // self.total
            line = f"{self.label:<{self.WIDTH}} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {self.done}/{self.total}"
        else:
            line = f"{self.label:<{self.WIDTH}} {self.done}"
        line += f"  {self.item}" if self.item else ""
        # spaces over what a longer line before it left on screen
        sys.stderr.write("\r" + line.ljust(self.drawn_width))
        sys.stderr.flush()
        self.drawn_width = max(len(line), 1)


def progress(items: Iterable[T], label: str, length: int | None = None,
             describe: Callable[[T], str] | None = None) -> Iterator[T]:
    """Yield `items` unchanged; on a terminal, a ProgressBar counts them (`length` when `items` is a generator)
    and names the one in progress (`describe`). The bar is finished before anything raised in the loop shows."""
    bar = ProgressBar()
    if not bar.enabled:
        yield from items
        return
    bar.start(label, length if length is not None else len(items) if hasattr(items, "__len__") else None)
    try:
        for item in items:
            if describe is not None:
                bar.working_on(describe(item))
            yield item
            bar.step()
    finally:
        bar.finish()
