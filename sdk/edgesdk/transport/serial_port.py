"""A pyserial link: a device path (``/dev/ttyACM0``, ``COM3``) or any pyserial URL (``socket://127.0.0.1:PORT``,
``rfc2217://``, ``loop://``) through :func:`serial.serial_for_url`."""

from __future__ import annotations

import serial

from edgesdk.errors import TransportError
from edgesdk.transport.base import Transport


class SerialTransport(Transport):
    """The board's UART through pyserial, 8N1 at ``baudrate`` (ignored by socket URLs)."""

    def __init__(self, port: str, baudrate: int = 115200) -> None:
        super().__init__(f"serial port {port}")
        self.port = port
        self.baudrate = baudrate
        self._ser: serial.SerialBase | None = None

    def _open(self) -> None:
        try:
            self._ser = serial.serial_for_url(
                self.port, baudrate=self.baudrate, timeout=0.1, write_timeout=10.0
            )
        except (serial.SerialException, ValueError, OSError) as exc:
            raise TransportError(f"cannot open the serial port {self.port}: {exc}") from exc

    def _close(self) -> None:
        if self._ser is not None:
            self._ser.close()
            self._ser = None

    def _read_some(self, max_bytes: int, timeout: float) -> bytes:
        assert self._ser is not None
        try:
            self._ser.timeout = max(timeout, 0.0)
            first = self._ser.read(1)
            if not first:
                return b""
            waiting = self._ser.in_waiting
            return first + (self._ser.read(min(waiting, max_bytes - 1)) if waiting and max_bytes > 1 else b"")
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"the serial link {self.port} broke: {exc}") from exc

    def _write(self, data: bytes) -> None:
        assert self._ser is not None
        try:
            self._ser.write(data)
            self._ser.flush()
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"the serial link {self.port} broke while writing: {exc}") from exc
