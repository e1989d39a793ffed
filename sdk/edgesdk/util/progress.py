"""Progress bars for the long steps (calibration, flashing, validation, profiling).

``progress(iterable, total, desc)`` wraps an iterable. It draws on stderr only when stderr is a terminal (so logs,
CI and pipes stay clean) unless forced with ``force=True`` or ``EDGESDK_PROGRESS=1``; ``EDGESDK_PROGRESS=0``
silences it everywhere. It uses tqdm when it is importable (it comes with ai-edge-litert), otherwise a plain
one-line counter redrawn with ``\\r``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")


def _enabled(force: bool | None, stream: TextIO) -> bool:
    env = os.environ.get("EDGESDK_PROGRESS", "").strip()
    if env == "0":
        return False
    if force or env == "1":
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _plain(iterable: Iterable[T], total: int | None, desc: str, stream: TextIO) -> Iterator[T]:
    start = time.monotonic()
    last = 0.0
    n = 0
    prefix = f"{desc}: " if desc else ""

    def draw(final: bool = False) -> None:
        elapsed = time.monotonic() - start
        of = f"/{total}" if total is not None else ""
        pct = f" {100 * n / total:3.0f}%" if total else ""
        stream.write(f"\r{prefix}{n}{of}{pct} [{elapsed:.1f} s]" + ("\n" if final else ""))
        stream.flush()

    try:
        for item in iterable:
            yield item
            n += 1
            now = time.monotonic()
            if now - last >= 0.1:
                last = now
                draw()
    finally:
        draw(final=True)


def progress(
    iterable: Iterable[T],
    total: int | None = None,
    desc: str = "",
    *,
    force: bool | None = None,
    unit: str = "it",
    stream: TextIO | None = None,
) -> Iterator[T]:
    """Yield the items of ``iterable`` while showing progress on ``stream`` (stderr) when enabled."""
    out = stream if stream is not None else sys.stderr
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    if not _enabled(force, out):
        yield from iterable
        return
    try:
        from tqdm import tqdm
    except ImportError:
        yield from _plain(iterable, total, desc, out)
        return
    with tqdm(iterable, total=total, desc=desc or None, unit=unit, file=out, leave=True) as bar:
        yield from bar
