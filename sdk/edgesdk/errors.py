"""edgesdk's own exceptions. Each carries one clear sentence naming what went wrong and where.

The CLI turns them into that sentence on stderr and a non-zero exit code (``exit_code``), never a traceback.
"""

from __future__ import annotations


class EdgeSDKError(Exception):
    """Base of every error a user can meet. A subclass gives its exit code in its class line
    (``class BoardError(EdgeSDKError, exit_code=5)``); one without keeps its base's."""

    exit_code = 1

    def __init_subclass__(cls, exit_code: int | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if exit_code is not None:
            cls.exit_code = exit_code


class ModelFormatError(EdgeSDKError, exit_code=2):
    """The model file is missing, truncated, corrupt or of another format."""


class UnsupportedOpError(EdgeSDKError, exit_code=3):
    """An operator (or an option of one) that edgesdk does not support."""


class CalibrationError(EdgeSDKError, exit_code=4):
    """Calibration data is missing or does not fit the model."""


class BoardError(EdgeSDKError, exit_code=5):
    """Unknown board, bad board file, or a model that does not fit a board."""


class BuildError(EdgeSDKError, exit_code=6):
    """The generated project failed to compile or link."""


class TransportError(EdgeSDKError, exit_code=7):
    """Talking to a board failed: timeout, broken link, corrupt frames beyond retry."""


class TransportTimeout(TransportError):
    """No (complete) answer from the board in time."""


class ValidationError(EdgeSDKError, exit_code=8):
    """Outputs on the device differ from the host reference."""


class CompressError(EdgeSDKError, exit_code=9):
    """``compress``: missing or unfitting training data, an unknown method or a combination that cannot work."""


def describe_os_error(exc: OSError) -> str:
    """An OSError as the tail of one sentence: ``somefile/out: not a directory``."""
    what = exc.strerror or str(exc) or type(exc).__name__
    what = what[0].lower() + what[1:]
    where = str(exc.filename) if exc.filename is not None else ""
    if exc.filename2 is not None:
        where = f"{where} -> {exc.filename2}"
    return f"{where}: {what}" if where else what
