"""Process hygiene: child processes (QEMU, the host harness) die with edgesdk, and SIGTERM/SIGHUP end a
command the way Ctrl-C does.

Children are started in their own process group (so a terminal's Ctrl-C reaches only edgesdk, which then
stops them in order) and, on Linux, with a parent-death signal (``prctl(PR_SET_PDEATHSIG, SIGKILL)``), so that
even a SIGKILL of edgesdk, which runs no cleanup, takes QEMU and its TCP port with it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG = 1


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: unwinds like Ctrl-C (``with`` blocks stop emulators, temp folders go)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _libc_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _libc_prctl()


def _die_with_parent(parent_pid: int) -> None:
    """Runs in the child between fork and exec: ask the kernel for SIGKILL when the parent exits."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)


def child_popen_kwargs() -> dict[str, Any]:
    """Keyword arguments for ``subprocess.Popen`` so the child runs in its own process group and dies with us."""
    parent = os.getpid()
    return {"start_new_session": True, "preexec_fn": lambda: _die_with_parent(parent)}


@contextlib.contextmanager
def terminate_like_interrupt(signums: tuple[int, ...] = (signal.SIGTERM, signal.SIGHUP)) -> Iterator[None]:
    """Within the block, SIGTERM/SIGHUP raise :class:`Terminated` (a ``KeyboardInterrupt``) in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: Any) -> None:
        raise Terminated(signum)

    previous = {}
    for s in signums:
        with contextlib.suppress(ValueError, OSError):
            previous[s] = signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


LOCK_NAME = ".edgesdk.lock"


@contextlib.contextmanager
def folder_lock(folder: Path, command: str) -> Iterator[Path]:
    """Hold an exclusive lock on an output folder for the whole of ``command``.

    Two runs writing one folder would interleave their ``results.jsonl`` lines; the second one is refused
    at once with a sentence instead. The lock is ``fcntl.flock`` on ``<folder>/.edgesdk.lock``: the kernel
    drops it when the process ends, however it ends, so a killed run never leaves the folder locked.
    """
    import fcntl

    from edgesdk.errors import EdgeSDKError

    try:
        folder.mkdir(parents=True, exist_ok=True)
        fh = open(folder / LOCK_NAME, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole block
    except OSError as exc:
        raise EdgeSDKError(f"cannot use {folder} as the output folder of {command}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise EdgeSDKError(
                f"output folder {folder} is in use by another edgesdk run ({holder}); "
                "wait for it to finish or choose another -o"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"edgesdk {command}, pid {os.getpid()}\n")
        fh.flush()
        yield folder
    finally:
        fh.close()
