"""A progress bar for long work (emulator runs, training loops, report generation): drawn on stderr only when
both stdout and stderr are terminals, so CI logs, pipes and redirected output stay exactly as they were."""
from __future__ import annotations

import sys
from typing import Callable, Iterable, Iterator, TypeVar

import click

T = TypeVar("T")


def on_terminal() -> bool:
    return all(stream is not None and stream.isatty() for stream in (sys.stdout, sys.stderr))


def progress(items: Iterable[T], label: str, length: int | None = None,
             describe: Callable[[T], str] | None = None) -> Iterator[T]:
    """Yield `items` unchanged; on a terminal, a bar on stderr counts them (`length` when `items` is a generator)
    and names the one in progress (`describe`). The bar is finished before anything raised in the loop shows."""
    if not on_terminal():
        yield from items
        return
    show = None if describe is None else (lambda item: None if item is None else describe(item))
    with click.progressbar(items, length=length, label=label, file=sys.stderr, show_pos=True,
                           item_show_func=show) as bar:
        yield from bar
