"""The host side of edgesdk's binary protocol (the device side is ``firmware/harness/edgesdk_proto.[ch]``).

Frame, both directions, little-endian::

    A5 5A | ver | cmd | seq | len (u16) | payload (len <= 1024) | CRC-16/CCITT-FALSE over ver..payload (u16)

A reply carries ``cmd | 0x80`` and the request's ``seq``; its payload starts with a status byte. A frame the
device could not read (bad CRC, impossible length) is answered with a NAK (cmd 0xFF). The client hunts for the
sync pair (so text of the MLPerf protocol and garbage are skipped), checks every CRC, matches ``seq``, and
retries a request - every command is idempotent - on a NAK, a corrupt reply or a timeout, up to a bound. On a
timeout it first sends a frame's worth of zero bytes, which completes any frame the device is stuck in (its
CRC then fails and the device hunts again), and drops whatever is in flight. A corrupt frame is never
accepted: the caller gets a valid answer or a TransportError.
"""

from __future__ import annotations

import binascii
import logging
import struct
import time
from dataclasses import dataclass, field

import numpy as np

from edgesdk.errors import TransportError, TransportTimeout
from edgesdk.transport.base import Transport

log = logging.getLogger(__name__)

SYNC = b"\xa5\x5a"
VERSION = 1
HEADER = 7
MAX_PAYLOAD = 1024

CMD_INFO = 0x01
CMD_LAYER_NAME = 0x02
CMD_LOAD_INPUT = 0x03
CMD_RUN = 0x04
CMD_READ_OUTPUT = 0x05
CMD_LAYER_COUNTS = 0x06
CMD_RESET = 0x07
CMD_ECHO = 0x08
CMD_STACK = 0x09
CMD_REPLY = 0x80
CMD_NAK = 0xFF

ST_OK = 0
STATUS_TEXT = {
    1: "the frame's CRC was wrong",
    2: "the protocol version is not supported",
    3: "the command is unknown",
    4: "an argument is out of range",
    5: "the model returned an error",
    6: "the frame was too long",
    7: "there is nothing measured yet (or the firmware was built without EDGESDK_PROFILE)",
}
COMMAND_NAMES = {
    CMD_INFO: "INFO",
    CMD_LAYER_NAME: "LAYER_NAME",
    CMD_LOAD_INPUT: "LOAD_INPUT",
    CMD_RUN: "RUN",
    CMD_READ_OUTPUT: "READ_OUTPUT",
    CMD_LAYER_COUNTS: "LAYER_COUNTS",
    CMD_RESET: "RESET",
    CMD_ECHO: "ECHO",
    CMD_STACK: "STACK",
}
TIMER_UNITS = {0: "cycles", 1: "instructions", 2: "nanoseconds"}


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF), the same as the firmware's ``edgesdk_crc16``."""
    return binascii.crc_hqx(data, crc)


def encode_frame(cmd: int, seq: int, payload: bytes = b"", version: int = VERSION) -> bytes:
    """One frame, ready to write."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds the protocol's {MAX_PAYLOAD}")
    body = struct.pack("<BBBH", version, cmd, seq & 0xFF, len(payload)) + bytes(payload)
    return SYNC + body + struct.pack("<H", crc16(body))


@dataclass(frozen=True)
class Frame:
    version: int
    cmd: int
    seq: int
    payload: bytes


class CorruptFrame(Exception):
    """A frame whose CRC or length is wrong (internal: triggers a retry)."""


def read_frame(transport: Transport, timeout: float) -> Frame:
    """Read the next frame: skip bytes until the sync pair, then check length and CRC.

    Raises CorruptFrame for a frame that fails its checks and TransportTimeout if none completes in time.
    """
    deadline = time.monotonic() + timeout

    def left() -> float:
        return max(deadline - time.monotonic(), 0.0)

    prev = -1
    while True:
        b = transport.read_exact(1, left())[0]
        if prev == SYNC[0] and b == SYNC[1]:
            break
        prev = b
    head = transport.read_exact(5, left())
    version, cmd, seq, length = struct.unpack("<BBBH", head)
    if length > MAX_PAYLOAD:
        raise CorruptFrame(f"frame length {length} exceeds {MAX_PAYLOAD}")
    rest = transport.read_exact(length + 2, left())
    payload, (crc,) = rest[:length], struct.unpack("<H", rest[length:])
    if crc16(head + payload) != crc:
        raise CorruptFrame(f"bad CRC in a frame of {length} bytes (cmd 0x{cmd:02x}, seq {seq})")
    return Frame(version, cmd, seq, payload)


class DeviceRefused(TransportError):
    """The device understood the request and refused it (bad argument, model error, ...)."""

    def __init__(self, message: str, status: int, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class DeviceInfo:
    """What the harness reports about itself and its model (the INFO command)."""

    protocol_version: int
    timer_unit: str  # cycles (DWT) / instructions (emulator: SysTick under -icount) / nanoseconds (host)
    profile: bool  # per-layer counts available
    clock_hz: int
    input_size: int
    output_size: int
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    arena_bytes: int
    num_layers: int
    max_payload: int
    max_run: int
    max_input_bytes: int
    max_output_bytes: int
    model_name: str
    model_sha256: str
    board_name: str
    firmware_version: str
    mlperf_model: str
    problem: str | None  # why the harness cannot run this model (buffers too small, init failed), or None

    def counts_to_us(self, counts: float) -> float:
        """Counts in ``timer_unit`` as microseconds at the board clock (instructions: assuming one per cycle)."""
        if self.timer_unit == "nanoseconds":
            return counts / 1000.0
        return counts * 1e6 / self.clock_hz

    @classmethod
    def decode(cls, data: bytes) -> DeviceInfo:
        fixed = struct.Struct("<BBBBIIIfifiIIHHII")
        if len(data) < fixed.size:
            raise TransportError(f"the device's INFO record is {len(data)} bytes, shorter than {fixed.size}")
        (ver, unit, flags, _res, clock, isz, osz, isc, izp, osc, ozp, arena, nl, mp, mr, mi, mo) = (
            fixed.unpack_from(data)
        )
        pos = fixed.size
        strings: list[str] = []
        for _ in range(6):
            if pos >= len(data):
                raise TransportError("the device's INFO record is truncated")
            n = data[pos]
            strings.append(data[pos + 1 : pos + 1 + n].decode("utf-8", "replace"))
            pos += 1 + n
        return cls(
            ver, TIMER_UNITS.get(unit, f"unit{unit}"), bool(flags & 1), clock, isz, osz, isc, izp, osc, ozp,
            arena, nl, mp, mr, mi, mo, strings[0], strings[1], strings[2], strings[3], strings[4],
            strings[5] or None,
        )  # fmt: skip


@dataclass
class LinkStats:
    """What the client had to do to get valid answers (tests assert on these; reports may show them)."""

    requests: int = 0
    retries: int = 0
    naks: int = 0
    corrupt_replies: int = 0
    timeouts: int = 0
    stale_replies: int = 0
    bytes_flushed: int = field(default=0)


class DeviceClient:
    """Speaks edgesdk's binary protocol to a harness over any :class:`Transport`.

    ``timeout`` bounds each attempt of a short command; ``retries`` bounds the attempts after the first.
    """

    def __init__(self, transport: Transport, timeout: float = 3.0, retries: int = 4) -> None:
        self.transport = transport
        self.timeout = timeout
        self.retries = retries
        self.stats = LinkStats()
        self._seq = 0
        self._info: DeviceInfo | None = None

    # --- request/response -----------------------------------------------------------------------------
    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFF
        return self._seq

    def _resync(self) -> None:
        """Complete any frame the device is stuck in (zeros) and drop what is in flight."""
        self.transport.write(bytes(HEADER + MAX_PAYLOAD + 2))
        self.stats.bytes_flushed += self.transport.discard_input(quiet=0.1, limit=2.0)

    def transact(self, cmd: int, payload: bytes = b"", timeout: float | None = None) -> bytes:
        """Send one request and return the reply's payload after the status byte (status OK guaranteed)."""
        name = COMMAND_NAMES.get(cmd, f"0x{cmd:02x}")
        timeout = self.timeout if timeout is None else timeout
        seq = self._next_seq()
        frame = encode_frame(cmd, seq, payload)
        self.stats.requests += 1
        problems: list[str] = []
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats.retries += 1
                log.info(
                    "%s: retrying %s (attempt %d): %s", self.transport.name, name, attempt + 1, problems[-1]
                )
            self.transport.write(frame)
            deadline = time.monotonic() + timeout
            try:
                while True:
                    try:
                        reply = read_frame(self.transport, max(deadline - time.monotonic(), 0.0))
                    except CorruptFrame as exc:
                        self.stats.corrupt_replies += 1
                        raise _Retry(f"corrupt reply: {exc}") from None
                    if reply.cmd == CMD_NAK:
                        if reply.seq == seq:
                            self.stats.naks += 1
                            raise _Retry("the device NAKed the request (it arrived corrupted)")
                        self.stats.stale_replies += 1
                        continue
                    if reply.seq != seq or reply.cmd != (cmd | CMD_REPLY):
                        self.stats.stale_replies += 1
                        continue
                    return self._check(name, reply)
            except _Retry as exc:
                problems.append(str(exc))
            except TransportTimeout:
                self.stats.timeouts += 1
                problems.append(f"no reply within {timeout:.2f} s")
                self._resync()
        if problems and all(p.startswith("no reply") for p in problems):
            raise TransportTimeout(
                f"{self.transport.name}: no answer to {name} after {self.retries + 1} attempts of {timeout:.2f} s"
            )
        raise TransportError(
            f"{self.transport.name}: no valid answer to {name} after {self.retries + 1} attempts "
            f"(last problem: {problems[-1]})"
        )

    def _check(self, name: str, reply: Frame) -> bytes:
        if not reply.payload:
            raise TransportError(f"{self.transport.name}: the reply to {name} has no status byte")
        status = reply.payload[0]
        if status == ST_OK:
            return reply.payload[1:]
        code = None
        if status == 5 and len(reply.payload) >= 5:
            (code,) = struct.unpack_from("<i", reply.payload, 1)
        text = STATUS_TEXT.get(status, f"status {status}")
        extra = f" (code {code})" if code is not None else ""
        if status == 2 and len(reply.payload) >= 2:
            extra = f" (device speaks version {reply.payload[1]}, host {VERSION})"
        raise DeviceRefused(f"{self.transport.name} refused {name}: {text}{extra}", status, code)

    # --- commands -------------------------------------------------------------------------------------
    def info(self, refresh: bool = False) -> DeviceInfo:
        """Model, board, clock, timer unit, sizes and quantization as the device reports them (cached)."""
        if self._info is None or refresh:
            self._info = DeviceInfo.decode(self.transact(CMD_INFO))
        return self._info

    def echo(self, data: bytes) -> bytes:
        """Round-trip ``data`` through the device (link test)."""
        got = self.transact(CMD_ECHO, bytes(data))
        if got != bytes(data):
            raise TransportError(f"{self.transport.name}: ECHO returned different bytes")
        return got

    def layer_names(self) -> list[str]:
        info = self.info()
        return [
            self.transact(CMD_LAYER_NAME, struct.pack("<H", i)).decode("utf-8", "replace")
            for i in range(info.num_layers)
        ]

    def load_input(self, data: bytes | np.ndarray) -> None:
        """Upload one input tensor (int8, exactly the model's input size), in chunks that fit a frame."""
        info = self.info()
        raw = (
            np.ascontiguousarray(data).view(np.uint8).tobytes()
            if isinstance(data, np.ndarray)
            else bytes(data)
        )
        if len(raw) != info.input_size:
            raise ValueError(f"model {info.model_name} takes {info.input_size} input bytes, got {len(raw)}")
        chunk = info.max_payload - 4
        for off in range(0, len(raw), chunk):
            self.transact(CMD_LOAD_INPUT, struct.pack("<I", off) + raw[off : off + chunk])

    def run(self, n: int = 1, timeout_per_inference: float = 10.0) -> list[int]:
        """Run ``n`` inferences on the loaded input; the per-inference counts in ``info().timer_unit``."""
        if n < 1:
            raise ValueError("run() needs n >= 1")
        info = self.info()
        counts: list[int] = []
        while len(counts) < n:
            k = min(n - len(counts), info.max_run)
            reply = self.transact(
                CMD_RUN, struct.pack("<H", k), timeout=self.timeout + k * timeout_per_inference
            )
            (got,) = struct.unpack_from("<H", reply)
            if got != k or len(reply) != 2 + 8 * k:
                raise TransportError(f"{self.transport.name}: RUN answered {got} counts for {k} inferences")
            counts.extend(struct.unpack_from(f"<{k}Q", reply, 2))
        return counts

    def read_output(self) -> np.ndarray:
        """The output tensor of the last inference, int8."""
        info = self.info()
        out = bytearray()
        chunk = info.max_payload - 1
        for off in range(0, info.output_size, chunk):
            k = min(chunk, info.output_size - off)
            part = self.transact(CMD_READ_OUTPUT, struct.pack("<IH", off, k))
            if len(part) != k:
                raise TransportError(
                    f"{self.transport.name}: READ_OUTPUT returned {len(part)} bytes, asked {k}"
                )
            out += part
        return np.frombuffer(bytes(out), dtype=np.int8).copy()

    def layer_counts(self) -> list[int]:
        """Per-layer counts of the last inference (same unit as run()); needs a firmware built with profiling."""
        info = self.info()
        counts: list[int] = []
        while len(counts) < info.num_layers:
            k = min(info.num_layers - len(counts), 100)
            reply = self.transact(CMD_LAYER_COUNTS, struct.pack("<HH", len(counts), k))
            (got,) = struct.unpack_from("<H", reply)
            if got != k or len(reply) != 2 + 8 * k:
                raise TransportError(
                    f"{self.transport.name}: LAYER_COUNTS answered {got} counts for {k} layers"
                )
            counts.extend(struct.unpack_from(f"<{k}Q", reply, 2))
        return counts

    def stack_used(self) -> int | None:
        """Bytes of stack the firmware has used since reset, measured by painting (the Cortex-M reset path fills
        the stack with a pattern; the deepest word overwritten is the high-water mark); None where the firmware
        does not paint (the host) or predates the command."""
        try:
            reply = self.transact(CMD_STACK)
        except DeviceRefused as exc:
            if exc.status in (3, 7):  # unknown command, no data
                return None
            raise
        if len(reply) != 4:
            raise TransportError(f"{self.transport.name}: STACK answered {len(reply)} bytes instead of 4")
        (used,) = struct.unpack("<I", reply)
        return int(used)

    def reset(self) -> None:
        """Re-initialise the model and clear the harness's buffers and counts."""
        self.transact(CMD_RESET)

    def infer(self, data: bytes | np.ndarray) -> tuple[np.ndarray, int]:
        """Load one input, run it once, and return (output, count)."""
        self.load_input(data)
        (count,) = self.run(1)
        return self.read_output(), count


class _Retry(Exception):
    pass
