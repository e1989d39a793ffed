"""Links to boards: one byte-transport contract, its implementations, and the two protocols spoken over them.

- :class:`Transport` (open/close, ``read_exact(n, timeout)`` raising TransportTimeout, ``write``),
  :class:`SerialTransport` (pyserial: device paths and URLs such as ``socket://``), :class:`Emulator` /
  :class:`EmulatorTransport` (QEMU with a loopback TCP serial port), :class:`ProcessTransport` (the harness built
  for the host), :class:`LoggingTransport` (hex log of both directions).
- :class:`DeviceClient`: edgesdk's binary protocol (framing, CRC, resync and bounded retries).
- :class:`MLPerfClient`: the MLPerf Tiny performance-mode ASCII protocol.
"""

from edgesdk.transport.base import LoggingTransport, Transport, WrappingTransport
from edgesdk.transport.emulator import Emulator, EmulatorTransport
from edgesdk.transport.mlperf import InferResult, MLPerfClient, MLPerfError
from edgesdk.transport.process import ProcessTransport
from edgesdk.transport.protocol import DeviceClient, DeviceInfo, DeviceRefused, LinkStats
from edgesdk.transport.serial_port import SerialTransport

__all__ = [
    "DeviceClient",
    "DeviceInfo",
    "DeviceRefused",
    "Emulator",
    "EmulatorTransport",
    "InferResult",
    "LinkStats",
    "LoggingTransport",
    "MLPerfClient",
    "MLPerfError",
    "ProcessTransport",
    "SerialTransport",
    "Transport",
    "WrappingTransport",
]
