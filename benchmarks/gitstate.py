"""The commit a benchmark measured, for its results file's header (run as ``python benchmarks/<name>.py``, this
folder is on ``sys.path``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def commit() -> str:
    """The short commit of the checkout measured, ``+changes`` when its tracked files other than the results
    differ from it."""
    git = ["git", "-C", str(REPO)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=30)
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "-uno", "--", ".", ":!benchmarks/results"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return (head.stdout.strip() or "unknown") + ("+changes" if dirty.stdout.strip() else "")
