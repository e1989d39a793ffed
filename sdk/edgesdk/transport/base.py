"""The one contract every link to a board follows, and a logging wrapper around any of them.

A :class:`Transport` moves bytes: ``open``/``close``, ``write``, and ``read_exact(n, timeout)`` that either
returns exactly ``n`` bytes or raises :class:`~edgesdk.errors.TransportTimeout`. A broken link (process gone,
socket closed, port unplugged) raises :class:`~edgesdk.errors.TransportError` with one sentence naming the link.
Concrete transports implement only ``_open``, ``_close``, ``_read_some`` and ``_write``; buffering of bytes
read ahead lives here, so every transport times out and resynchronises the same way.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from types import TracebackType

from edgesdk.errors import TransportError, TransportTimeout

log = logging.getLogger(__name__)

_READ_CHUNK = 4096


class Transport(ABC):
    """A byte link to a board (or to a harness process). Use as a context manager."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._pending = bytearray()
        self._is_open = False

    # --- what concrete transports implement ------------------------------------------------------------
    @abstractmethod
    def _open(self) -> None: ...

    @abstractmethod
    def _close(self) -> None: ...

    @abstractmethod
    def _read_some(self, max_bytes: int, timeout: float) -> bytes:
        """Return 1..max_bytes bytes, or b"" if none arrived within ``timeout``; raise TransportError if the
        link is gone."""

    @abstractmethod
    def _write(self, data: bytes) -> None: ...

    # --- the contract -------------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._is_open

    def open(self) -> None:
        """Open the link (idempotent)."""
        if not self._is_open:
            self._open()
            self._is_open = True

    def close(self) -> None:
        """Close the link (idempotent); never raises for an already broken link."""
        if self._is_open:
            self._is_open = False
            try:
                self._close()
            except OSError as exc:  # closing a dead link is not an error worth reporting
                log.debug("closing %s: %s", self.name, exc)

    def write(self, data: bytes) -> None:
        """Send all of ``data``."""
        self._require_open()
        self._write(bytes(data))

    def read_exact(self, n: int, timeout: float) -> bytes:
        """Return exactly ``n`` bytes, or raise TransportTimeout if they do not all arrive within ``timeout`` s.

        Bytes that did arrive before a timeout are kept for the next read, so nothing is lost or invented.
        """
        self._require_open()
        deadline = time.monotonic() + timeout
        while len(self._pending) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransportTimeout(
                    f"{self.name}: expected {n} byte(s) within {timeout:.2f} s, got {len(self._pending)}"
                )
            self._pending += self._read_some(_READ_CHUNK, remaining)
        out = bytes(self._pending[:n])
        del self._pending[:n]
        return out

    def read_until(self, terminator: bytes, timeout: float, max_bytes: int = 1 << 20) -> bytes:
        """Return everything up to and including ``terminator``; TransportTimeout if it does not come in time."""
        self._require_open()
        deadline = time.monotonic() + timeout
        while True:
            idx = self._pending.find(terminator)
            if idx >= 0:
                end = idx + len(terminator)
                out = bytes(self._pending[:end])
                del self._pending[:end]
                return out
            if len(self._pending) > max_bytes:
                raise TransportError(
                    f"{self.name}: no {terminator!r} in the first {max_bytes} bytes received"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransportTimeout(
                    f"{self.name}: no {terminator!r} within {timeout:.2f} s (received {len(self._pending)} bytes)"
                )
            self._pending += self._read_some(_READ_CHUNK, remaining)

    def pending(self) -> int:
        """Bytes received and not read yet (after a timed-out read: all the device said since)."""
        return len(self._pending)

    def discard_input(self, quiet: float = 0.05, limit: float = 1.0) -> int:
        """Drop everything received until the link has been silent for ``quiet`` s (at most ``limit`` s).

        Returns the number of bytes dropped; used to resynchronise after a timeout.
        """
        self._require_open()
        dropped = len(self._pending)
        self._pending.clear()
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            chunk = self._read_some(_READ_CHUNK, quiet)
            if not chunk:
                break
            dropped += len(chunk)
        return dropped

    def _require_open(self) -> None:
        if not self._is_open:
            raise TransportError(f"{self.name} is not open")

    def __enter__(self) -> Transport:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class WrappingTransport(Transport):
    """A transport that forwards to another one; subclasses observe or alter the bytes in transit."""

    def __init__(self, inner: Transport, name: str | None = None) -> None:
        super().__init__(name or inner.name)
        self.inner = inner

    def _open(self) -> None:
        self.inner.open()

    def _close(self) -> None:
        self.inner.close()

    def _read_some(self, max_bytes: int, timeout: float) -> bytes:
        if self.inner._pending:
            data = bytes(self.inner._pending[:max_bytes])
            del self.inner._pending[: len(data)]
            return self.on_read(data)
        return self.on_read(self.inner._read_some(max_bytes, timeout))

    def _write(self, data: bytes) -> None:
        self.inner._write(self.on_write(data))

    def on_read(self, data: bytes) -> bytes:
        """Bytes on their way from the board; returned (possibly altered) to the reader."""
        return data

    def on_write(self, data: bytes) -> bytes:
        """Bytes on their way to the board; returned (possibly altered) to the link."""
        return data


class LoggingTransport(WrappingTransport):
    """Logs every chunk in both directions (hex, at ``level``) on the ``edgesdk.transport`` logger."""

    def __init__(
        self, inner: Transport, level: int = logging.DEBUG, logger: logging.Logger | None = None
    ) -> None:
        super().__init__(inner)
        self.level = level
        self.logger = logger or log

    def on_read(self, data: bytes) -> bytes:
        if data:
            self.logger.log(self.level, "%s <- %d bytes %s", self.name, len(data), data.hex(" "))
        return data

    def on_write(self, data: bytes) -> bytes:
        self.logger.log(self.level, "%s -> %d bytes %s", self.name, len(data), data.hex(" "))
        return data
