"""edgesdk's own exceptions. Each carries one clear sentence naming what went wrong and where.

The CLI turns them into that sentence on stderr and a non-zero exit code (``exit_code``), never a traceback.
"""

from __future__ import annotations


class EdgeSDKError(Exception):
    """Base of every error a user can meet."""

    exit_code = 1


class ModelFormatError(EdgeSDKError):
    """The model file is missing, truncated, corrupt or of another format."""

    exit_code = 2


class UnsupportedOpError(EdgeSDKError):
    """An operator (or an option of one) that edgesdk does not support."""

    exit_code = 3


class CalibrationError(EdgeSDKError):
    """Calibration data is missing or does not fit the model."""

    exit_code = 4


class BoardError(EdgeSDKError):
    """Unknown board, bad board file, or a model that does not fit a board."""

    exit_code = 5


class BuildError(EdgeSDKError):
    """The generated project failed to compile or link."""

    exit_code = 6


class TransportError(EdgeSDKError):
    """Talking to a board failed: timeout, broken link, corrupt frames beyond retry."""

    exit_code = 7


class TransportTimeout(TransportError):
    """No (complete) answer from the board in time."""


class ValidationError(EdgeSDKError):
    """Outputs on the device differ from the host reference."""

    exit_code = 8


class CompressError(EdgeSDKError):
    """``compress``: missing or unfitting training data, an unknown method or a combination that cannot work."""

    exit_code = 9


def describe_os_error(exc: OSError) -> str:
    """An OSError as the tail of one sentence: ``somefile/out: not a directory``."""
    what = exc.strerror or str(exc) or type(exc).__name__
    what = what[0].lower() + what[1:]
    where = str(exc.filename) if exc.filename is not None else ""
    if exc.filename2 is not None:
        where = f"{where} -> {exc.filename2}"
    return f"{where}: {what}" if where else what
