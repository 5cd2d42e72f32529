"""The one progress helper: rich bars and timed stages, always on stderr.

Every long loop in gazebench and its built-in plugins reports through :func:`progress`, so
output on stdout stays machine-readable (``--json``) and a bar never appears in a pipe's data.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")

#: a function that shows one line of progress text (the runner's ``log``)
Log = Callable[[str], Any]


def stderr_log(message: str) -> None:
    """The default :data:`Log`: one line on stderr."""
    print(message, file=sys.stderr)


@contextmanager
def progress(total: int, text: str, enabled: bool = True) -> Iterator[Callable[..., None]]:
    """A rich progress bar on stderr; yields ``advance(n=1, **fields)``, fields shown beside it.

    Silent when ``enabled`` is false (tests, nested work) or ``total`` is not positive. The bar
    is transient: it leaves the terminal as it found it.
    """
    if not enabled or total <= 0:
        yield lambda n=1, **kw: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    cols = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"))
    with Progress(*cols, console=Console(stderr=True), transient=True) as prog:
        task = prog.add_task(text, total=total, info="")

        def advance(n: int = 1, **fields: Any) -> None:
            prog.update(task, advance=n, info=" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                                       for k, v in fields.items()))

        yield advance


def track(items: Iterable[T], total: int, text: str, enabled: bool = True) -> Iterator[T]:
    """Iterate ``items`` under a :func:`progress` bar of ``total`` steps."""
    with progress(total, text, enabled) as advance:
        for item in items:
            yield item
            advance()


@contextmanager
def stage(log: Log, text: str) -> Iterator[dict[str, float]]:
    """Log ``text ...``, run the block, log how long it took; yields a dict that gets ``seconds``."""
    out: dict[str, float] = {}
    log(f"{text} ...")
    t0 = time.perf_counter()
    yield out
    out["seconds"] = time.perf_counter() - t0
    log(f"{text}: done in {out['seconds']:.1f} s")


__all__ = ["Log", "progress", "stage", "stderr_log", "track"]
