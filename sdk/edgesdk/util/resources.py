"""One place that finds the data folders shipped with edgesdk (templates/, firmware/, hls/, boards/).

In a wheel they are copied to ``edgesdk/_data/<name>`` by ``setup.py``; in a checkout (or an
editable install) they are the folders at the top of the repository.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from edgesdk.errors import EdgeSDKError

_NAMES = ("templates", "firmware", "hls", "boards")
_PKG = Path(__file__).resolve().parents[1]


@cache
def data_dir(name: str) -> Path:
    """Return the folder ``name`` (one of templates, firmware, hls, boards)."""
    if name not in _NAMES:
        raise ValueError(f"unknown data folder {name!r}")
    for candidate in (_PKG / "_data" / name, _PKG.parent.parent / name):
        if candidate.is_dir():
            return candidate
    raise EdgeSDKError(
        f"the data folder {name!r} is missing from this edgesdk installation ({_PKG}); reinstall edgesdk"
    )


def templates_dir() -> Path:
    return data_dir("templates")


def firmware_dir() -> Path:
    return data_dir("firmware")


def hls_dir() -> Path:
    return data_dir("hls")


def boards_dir() -> Path:
    return data_dir("boards")
