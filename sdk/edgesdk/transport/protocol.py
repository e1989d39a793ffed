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

A device is not trusted to tell the truth. Every loop is bounded (by the attempts and a deadline per attempt, so
a device that floods bytes or stale frames is given up on as surely as a silent one); every reply is checked
against the request (its version byte, its size, the counts and bytes it was asked for); the INFO record is
checked field by field (sizes within the protocol's, ``max_run`` and ``max_payload`` that let a command make
progress, a SHA-256 hex model hash); and every string from the device is cleaned
(:func:`edgesdk.util.escape.terminal_text`) before anything can print it. A lie is one sentence, a TransportError.

Timeouts (the defaults; ``DeviceClient`` takes others, and the CLI reads ``EDGESDK_DEVICE_TIMEOUT``,
``EDGESDK_DEVICE_RETRIES`` and ``EDGESDK_RUN_TIMEOUT``): each attempt of a command waits
:data:`COMMAND_TIMEOUT_S` for its reply, a RUN of ``k`` inferences ``COMMAND_TIMEOUT_S + k *``
:data:`RUN_TIMEOUT_PER_INFERENCE_S`; after :data:`RETRIES` further attempts the command fails. Each failed
attempt also flushes the link for at most :data:`RESYNC_LIMIT_S`.
"""

from __future__ import annotations

import binascii
import logging
import re
import struct
import time
from dataclasses import dataclass, field

import numpy as np

from edgesdk.errors import TransportError, TransportTimeout
from edgesdk.transport.base import Transport
from edgesdk.util.escape import terminal_text

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

#: Seconds one attempt of a command waits for its reply.
COMMAND_TIMEOUT_S = 5.0
#: Attempts after the first (on a NAK, a corrupt reply or a timeout); every command is idempotent.
RETRIES = 4
#: Seconds per inference a RUN may take on top of COMMAND_TIMEOUT_S.
RUN_TIMEOUT_PER_INFERENCE_S = 10.0
#: Seconds a failed attempt spends at most dropping what is in flight before the next one.
RESYNC_LIMIT_S = 2.0
#: Smallest max_payload a device may report: room for a command's own header (LOAD_INPUT's u32 offset) and data.
MIN_PAYLOAD = 16
#: Most inferences one RUN reply can carry (status, u16 count, a u64 count each, within MAX_PAYLOAD).
MAX_RUN = (MAX_PAYLOAD - 3) // 8
#: Layer counts asked for per LAYER_COUNTS frame (the firmware's EDGESDK_MAX_COUNTS).
COUNTS_PER_FRAME = 100
#: Largest input or output tensor a device may report (bounds the LOAD_INPUT and READ_OUTPUT loops).
MAX_TENSOR_BYTES = 1 << 24
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")

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
        # read_exact returns bytes already received without looking at the clock: a device that floods bytes
        # without a sync pair would hold this loop forever, so the deadline is checked here too.
        if time.monotonic() >= deadline:
            raise TransportTimeout(f"{transport.name}: no frame within {timeout:.2f} s")
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
    def decode(cls, data: bytes, where: str = "the device") -> DeviceInfo:
        """Decode an INFO record and check it (:meth:`check`); TransportError names the field that lies."""
        fixed = struct.Struct("<BBBBIIIfifiIIHHII")
        if len(data) < fixed.size:
            raise TransportError(f"{where}: its INFO record is {len(data)} bytes, shorter than {fixed.size}")
        (ver, unit, flags, _res, clock, isz, osz, isc, izp, osc, ozp, arena, nl, mp, mr, mi, mo) = (
            fixed.unpack_from(data)
        )
        pos = fixed.size
        strings: list[str] = []
        for i in range(6):
            if pos >= len(data) or pos + 1 + data[pos] > len(data):
                raise TransportError(f"{where}: its INFO record is truncated in string {i + 1} of 6")
            n = data[pos]
            strings.append(terminal_text(data[pos + 1 : pos + 1 + n]))
            pos += 1 + n
        info = cls(
            ver, TIMER_UNITS.get(unit, f"unit{unit}"), bool(flags & 1), clock, isz, osz, isc, izp, osc, ozp,
            arena, nl, mp, mr, mi, mo, strings[0], strings[1], strings[2], strings[3], strings[4],
            strings[5] or None,
        )  # fmt: skip
        info.check(where)
        return info

    def check(self, where: str = "the device") -> None:
        """Refuse an INFO record no real harness sends: each field the client relies on, in range."""

        def bad(what: str, value: object, why: str) -> TransportError:
            return TransportError(f"{where} reports {what} = {value}, {why}")

        if self.protocol_version != VERSION:
            raise bad("protocol version", self.protocol_version, f"but the host speaks version {VERSION}")
        if not MIN_PAYLOAD <= self.max_payload <= MAX_PAYLOAD:
            raise bad("max_payload", self.max_payload, f"outside the protocol's {MIN_PAYLOAD}..{MAX_PAYLOAD}")
        most = min(MAX_RUN, (self.max_payload - 3) // 8)
        if not 1 <= self.max_run <= most:
            raise bad(
                "max_run", self.max_run, f"outside 1..{most} (what a RUN reply of its max_payload holds)"
            )
        if self.clock_hz <= 0:
            raise bad("clock_hz", self.clock_hz, "but a clock runs at more than 0 Hz")
        # A harness that says why it cannot run its model (input larger than its buffer...) reports sizes that
        # do not fit: its problem is the sentence the caller shows, so the sizes are checked only without one.
        sizes = (
            ("input_size", self.input_size, min(self.max_input_bytes, MAX_TENSOR_BYTES)),
            ("output_size", self.output_size, min(self.max_output_bytes, MAX_TENSOR_BYTES)),
        )
        for key, size, cap in [] if self.problem else sizes:
            if not 1 <= size <= cap:
                raise bad(key, size, f"outside 1..{cap} (its own buffer, at most {MAX_TENSOR_BYTES})")
        if self.num_layers > 0xFFFF:
            raise bad("num_layers", self.num_layers, "more than a layer index (u16) can name")
        if not _SHA256_HEX.fullmatch(self.model_sha256):
            shown = repr(self.model_sha256) if self.model_sha256 else "nothing"
            raise bad(
                "a model hash", shown, "not the 64 hex digits of a SHA-256, so the model it runs is unknown"
            )


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

    ``timeout`` bounds each attempt of a short command; ``retries`` bounds the attempts after the first;
    ``run_timeout`` is the time per inference a RUN may take on top of ``timeout``.
    """

    def __init__(
        self,
        transport: Transport,
        timeout: float = COMMAND_TIMEOUT_S,
        retries: int = RETRIES,
        run_timeout: float = RUN_TIMEOUT_PER_INFERENCE_S,
    ) -> None:
        self.transport = transport
        self.timeout = timeout
        self.retries = retries
        self.run_timeout = run_timeout
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
        self.stats.bytes_flushed += self.transport.discard_input(
            quiet=0.1, limit=min(RESYNC_LIMIT_S, self.timeout)
        )

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
                while True:  # stale replies are skipped until the attempt's deadline, never longer
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TransportTimeout(
                            f"{self.transport.name}: no reply to {name} within {timeout:.2f} s"
                        )
                    try:
                        reply = read_frame(self.transport, left)
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
                    if reply.version != VERSION:
                        raise TransportError(
                            f"{self.transport.name} answered {name} in protocol version {reply.version}; "
                            f"the host speaks version {VERSION}"
                        )
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
            self._info = DeviceInfo.decode(self.transact(CMD_INFO), self.transport.name)
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
            terminal_text(self.transact(CMD_LAYER_NAME, struct.pack("<H", i))) for i in range(info.num_layers)
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

    def run(self, n: int = 1, timeout_per_inference: float | None = None) -> list[int]:
        """Run ``n`` inferences on the loaded input; the per-inference counts in ``info().timer_unit``."""
        if n < 1:
            raise ValueError("run() needs n >= 1")
        info = self.info()
        per = self.run_timeout if timeout_per_inference is None else timeout_per_inference
        counts: list[int] = []
        while len(counts) < n:  # max_run >= 1 (checked in the INFO record): every pass makes progress
            k = min(n - len(counts), info.max_run)
            reply = self.transact(CMD_RUN, struct.pack("<H", k), timeout=self.timeout + k * per)
            counts.extend(self._counts("RUN", reply, k, "inferences"))
        return counts

    def _counts(self, name: str, reply: bytes, k: int, what: str) -> tuple[int, ...]:
        """The ``k`` u64 counts of a RUN or LAYER_COUNTS reply (u16 count, then the counts), checked."""
        got = struct.unpack_from("<H", reply)[0] if len(reply) >= 2 else None
        if got != k or len(reply) != 2 + 8 * k:
            raise TransportError(
                f"{self.transport.name}: {name} answered {len(reply)} bytes"
                + (f" and {got} counts" if got is not None else "")
                + f" for {k} {what} (expected {2 + 8 * k} bytes)"
            )
        return struct.unpack_from(f"<{k}Q", reply, 2)

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
            k = min(info.num_layers - len(counts), COUNTS_PER_FRAME)
            reply = self.transact(CMD_LAYER_COUNTS, struct.pack("<HH", len(counts), k))
            counts.extend(self._counts("LAYER_COUNTS", reply, k, "layers"))
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
