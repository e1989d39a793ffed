"""QEMU as a board: start ``qemu-system-arm`` with the firmware image and a loopback TCP serial port, connect,
wait for the harness banner, and stop it cleanly.

QEMU is started with ``-serial tcp:127.0.0.1:PORT,server=on,wait=on,nodelay=on`` (``wait=on`` holds the guest
until we connect, so the banner is never lost; ``nodelay=on`` cuts a round trip from ~40 ms to ~2 ms) and
``-icount shift=0`` so that SysTick counts executed instructions deterministically (see TOOLCHAIN.md). The
process is ended by its own PID (terminate, then kill after a grace period) on ``stop()``, on leaving the
``with`` block, and by a finalizer if the object is dropped, so a failing test leaves no QEMU behind. QEMU runs
in its own process group with a parent-death signal (:mod:`edgesdk.util.procutil`): it dies with its parent.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from edgesdk.errors import BoardError, TransportError, TransportTimeout
from edgesdk.transport.base import Transport
from edgesdk.transport.serial_port import SerialTransport
from edgesdk.util.escape import terminal_text
from edgesdk.util.procutil import child_popen_kwargs

log = logging.getLogger(__name__)

BANNER_END = b"m-ready\r\n"


def _field(obj: Any, *path: str, default: Any = None) -> Any:
    """Read board.emulator.machine whether the board is a dataclass, an object or a dict."""
    for key in path:
        if obj is None:
            return default
        obj = obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)
    return default if obj is None else obj


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (QEMU binds it next; start() retries on a clash)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop_process(proc: subprocess.Popen[bytes], grace: float) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5.0)


class EmulatorTransport(Transport):
    """The TCP serial link to a running :class:`Emulator`; a broken link is reported as the emulator's exit."""

    def __init__(self, emulator: Emulator, serial: SerialTransport) -> None:
        super().__init__(f"emulated {emulator.machine}")
        self.emulator = emulator
        self.serial = serial

    def _open(self) -> None:
        self.serial.open()

    def _close(self) -> None:
        self.serial.close()

    def _explain(self, exc: TransportError, doing: str) -> TransportError:
        code = self.emulator.wait_exit(0.5)
        if code is not None:
            return TransportError(
                f"the emulator ({self.emulator.machine}, pid {self.emulator.pid}) exited with code {code} "
                f"while {doing}"
            )
        return exc

    def _read_some(self, max_bytes: int, timeout: float) -> bytes:
        try:
            return self.serial._read_some(max_bytes, timeout)
        except TransportError as exc:
            raise self._explain(exc, "reading") from exc

    def _write(self, data: bytes) -> None:
        try:
            self.serial._write(data)
        except TransportError as exc:
            raise self._explain(exc, "writing") from exc


class Emulator:
    """One QEMU instance running one firmware image. ``with Emulator(...) as emu: emu.transport ...``."""

    def __init__(
        self,
        image: str | os.PathLike[str],
        machine: str,
        *,
        icount_shift: int | None = 0,
        qemu: str = "qemu-system-arm",
        boot_timeout: float = 60.0,
        banner_end: bytes | None = BANNER_END,
        extra_args: Sequence[str] = (),
        stop_grace: float = 3.0,
    ) -> None:
        self.image = Path(image)
        self.machine = machine
        self.icount_shift = icount_shift
        self.qemu = qemu
        self.boot_timeout = boot_timeout
        self.banner_end = banner_end
        self.extra_args = list(extra_args)
        self.stop_grace = stop_grace
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.banner = ""
        self._transport: EmulatorTransport | None = None
        self._stderr: tempfile._TemporaryFileWrapper[bytes] | None = None
        self._finalizer: weakref.finalize | None = None

    @classmethod
    def for_board(cls, board: Any, image: str | os.PathLike[str], **kwargs: Any) -> Emulator:
        """An emulator for an emulated board (``[emulator] machine, icount_shift`` of its board file)."""
        machine = _field(board, "emulator", "machine")
        name = _field(board, "name", default="?")
        if not machine:
            raise BoardError(
                f"board {name} is not an emulated board: its board file has no [emulator] machine"
            )
        kwargs.setdefault("icount_shift", _field(board, "emulator", "icount_shift", default=0))
        kwargs.setdefault("qemu", _field(board, "emulator", "qemu", default="qemu-system-arm"))
        bios = _field(board, "emulator", "bios", default="")
        if bios:
            kwargs.setdefault("extra_args", ("-bios", bios))
        return cls(image, machine, **kwargs)

    def command(self, port: int) -> list[str]:
        """The QEMU command line for a given serial port."""
        cmd = [
            self.qemu, "-M", self.machine, "-nographic", "-monitor", "none",
            "-kernel", str(self.image),
            "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on",
            "-semihosting-config", "enable=on,target=native",
        ]  # fmt: skip
        if self.icount_shift is not None:
            cmd += ["-icount", f"shift={self.icount_shift}"]
        return cmd + self.extra_args

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def transport(self) -> EmulatorTransport:
        if self._transport is None:
            raise TransportError(f"the emulator ({self.machine}) is not running")
        return self._transport

    def stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        with open(self._stderr.name, "rb") as fh:
            return fh.read().decode(errors="replace")

    def wait_exit(self, timeout: float) -> int | None:
        """The exit code if QEMU ends within ``timeout`` s, else None."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def start(self) -> EmulatorTransport:
        """Start QEMU, connect to its serial port and wait for the banner; returns the open transport."""
        if not self.image.is_file():
            raise BoardError(f"the firmware image {self.image} does not exist")
        last: Exception | None = None
        silent = 0
        for _attempt in range(3):
            try:
                return self._start_once()
            except _PortClash as exc:  # another process took the port between our probe and QEMU's bind
                last = exc
                self.stop()
            except _SilentBoot as exc:
                # not one byte in the whole boot time: QEMU starved of CPU on a loaded host (seen under
                # parallel builds), not the firmware, which prints its first banner line at once -- one more boot
                silent += 1
                if silent > 1:
                    raise TransportTimeout(str(exc)) from None
                log.warning(
                    "%s: no output within %.0f s; starting it once more", self.machine, self.boot_timeout
                )
                last = exc
        raise TransportError(f"could not start the emulator ({self.machine}): {last}")

    def _start_once(self) -> EmulatorTransport:
        self.port = free_loopback_port()
        cmd = self.command(self.port)
        log.info("starting %s", " ".join(cmd))
        self._stderr = tempfile.NamedTemporaryFile(prefix="edgesdk-qemu-", suffix=".stderr")
        try:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=self._stderr,
                stderr=self._stderr,
                **child_popen_kwargs(),
            )
        except FileNotFoundError as exc:
            raise BoardError(
                f"{self.qemu} is not installed; the emulated board {self.machine} needs it "
                "(apt-get install qemu-system-arm qemu-system-misc)"
            ) from exc
        self._finalizer = weakref.finalize(self, _stop_process, self.proc, self.stop_grace)
        deadline = time.monotonic() + self.boot_timeout
        serial = SerialTransport(f"socket://127.0.0.1:{self.port}")
        while True:
            code = self.proc.poll()
            if code is not None:
                err = self.stderr_text().strip()
                if "Address already in use" in err or "Failed to bind" in err:
                    raise _PortClash(err)
                raise TransportError(
                    f"the emulator ({self.machine}) exited with code {code} before its serial port opened: "
                    f"{err.splitlines()[-1] if err else 'no message'}"
                )
            try:
                serial.open()
                break
            except TransportError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise TransportError(
                        f"the emulator ({self.machine}) did not open its serial port 127.0.0.1:{self.port} "
                        f"within {self.boot_timeout:.0f} s"
                    ) from None
                time.sleep(0.02)
        self._transport = EmulatorTransport(self, serial)
        self._transport.open()
        if self.banner_end:
            remaining = max(deadline - time.monotonic(), 1.0)
            try:
                self.banner = self._transport.read_until(self.banner_end, remaining).decode(
                    "ascii", "replace"
                )
            except TransportError as exc:
                silent = isinstance(exc, TransportTimeout) and self._transport.pending() == 0
                self.stop()
                if silent:
                    raise _SilentBoot(str(exc)) from None
                raise
            shown = terminal_text(self.banner.strip().replace("\r\n", " | "), 1000)
            log.info("%s booted: %s", self.machine, shown)
        return self._transport

    def stop(self) -> int | None:
        """Close the link and end QEMU (terminate, kill after the grace period). Returns its exit code."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        code = None
        if self.proc is not None:
            _stop_process(self.proc, self.stop_grace)
            code = self.proc.returncode
            if self._finalizer is not None:
                self._finalizer.detach()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        return code

    def kill(self) -> None:
        """Kill QEMU at once (SIGKILL), as a crash would; the link then reports the emulator's exit."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class _PortClash(TransportError):
    """QEMU could not bind the loopback port we picked."""


class _SilentBoot(TransportError):
    """Not one byte from the emulated board within its boot time."""
