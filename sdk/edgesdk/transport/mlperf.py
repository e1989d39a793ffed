"""A client for the MLPerf Tiny (EEMBC) performance-mode ASCII protocol the harness also speaks.

It talks to the device as the MLCommons runner does (commands end with ``%``, every reply ends with a line
``m-ready``) and parses the replies strictly, so the tests can check every line the device sends.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from edgesdk.errors import TransportError
from edgesdk.transport.base import Transport
from edgesdk.util.escape import terminal_text

log = logging.getLogger(__name__)

READY = "m-ready"
MAX_LINES = 1000  # lines of one reply (the longest, a db load's, has a few)
MAX_LINE_BYTES = 1 << 16  # an m-results line of a 4 K-output model fits
_LAP = re.compile(r"^m-lap-us-(\d+)$")


class MLPerfError(TransportError):
    """The device answered an MLPerf command with an error line (``e-[...]``) or an unexpected reply."""


@dataclass(frozen=True)
class InferResult:
    """The reply to ``infer N W``."""

    lines: list[str]
    iterations: int
    warmup: int
    start_us: int
    end_us: int
    results: list[float]

    @property
    def us_per_inference(self) -> float:
        return (self.end_us - self.start_us) / self.iterations


class MLPerfClient:
    """Drives a harness through the MLPerf Tiny ASCII protocol over any transport."""

    def __init__(self, transport: Transport, timeout: float = 10.0) -> None:
        self.transport = transport
        self.timeout = timeout

    def read_lines_until_ready(self, timeout: float | None = None) -> list[str]:
        """Lines received up to (not including) the next ``m-ready``."""
        lines: list[str] = []
        timeout = self.timeout if timeout is None else timeout
        while True:  # each line within ``timeout``; a device that talks on without m-ready is given up on
            if len(lines) >= MAX_LINES:
                raise MLPerfError(f"{self.transport.name}: no {READY} line after {MAX_LINES} other lines")
            raw = self.transport.read_until(b"\n", timeout, max_bytes=MAX_LINE_BYTES)
            line = terminal_text(raw.strip(), MAX_LINE_BYTES)
            if not line:
                continue
            if line == READY:
                return lines
            lines.append(line)

    def read_banner(self, timeout: float | None = None) -> list[str]:
        """The boot banner: m-timestamp-mode-performance, m-lap-us-T, m-init-done (m-ready consumed)."""
        return self.read_lines_until_ready(timeout)

    def command(self, text: str, timeout: float | None = None, check: bool = True) -> list[str]:
        """Send ``text%`` and return the reply lines before ``m-ready``; MLPerfError on an ``e-`` line."""
        if "%" in text:
            raise ValueError("an MLPerf command cannot contain '%'")
        self.transport.write(text.encode("ascii") + b"%")
        lines = self.read_lines_until_ready(timeout)
        log.debug("%s%% -> %s", text, lines)
        if check:
            errors = [line for line in lines if line.startswith("e-")]
            if errors:
                raise MLPerfError(f"{self.transport.name}: '{text}' failed: {errors[0]}")
        return lines

    @staticmethod
    def _one(lines: list[str], pattern: str, what: str) -> re.Match[str]:
        for line in lines:
            m = re.fullmatch(pattern, line)
            if m:
                return m
        raise MLPerfError(f"no {what} line in the reply {lines}")

    def name(self) -> str:
        return self._one(self.command("name"), r"m-name-dut-\[(.*)\]", "m-name-dut").group(1)

    def profile(self) -> tuple[str, str]:
        """(firmware profile string, model: ic01/ad01/kws01/vww01)."""
        lines = self.command("profile")
        return (
            self._one(lines, r"m-profile-\[(.*)\]", "m-profile").group(1),
            self._one(lines, r"m-model-\[(.*)\]", "m-model").group(1),
        )

    def timestamp(self) -> int:
        return int(self._one(self.command("timestamp"), r"m-lap-us-(\d+)", "m-lap-us").group(1))

    def help(self) -> list[str]:
        return self.command("help")

    def load(self, data: bytes, chunk: int = 64) -> None:
        """``db load N`` then ``db <hex>`` lines of ``chunk`` bytes; checks m-[Expecting N bytes] and m-load-done."""
        lines = self.command(f"db load {len(data)}")
        if lines != [f"m-[Expecting {len(data)} bytes]"]:
            raise MLPerfError(f"unexpected reply to 'db load {len(data)}': {lines}")
        for off in range(0, len(data), chunk):
            lines = self.command("db " + data[off : off + chunk].hex())
            last = off + chunk >= len(data)
            if lines != (["m-load-done"] if last else []):
                raise MLPerfError(f"unexpected reply to a db line at offset {off}: {lines}")

    @staticmethod
    def parse_results(lines: list[str]) -> list[float]:
        m = MLPerfClient._one(lines, r"m-results-\[(.*)\]", "m-results")
        return [float(v) for v in m.group(1).split(",")] if m.group(1) else []

    def results(self) -> list[float]:
        return self.parse_results(self.command("results"))

    def infer(self, n: int = 1, warmup: int = 0, timeout: float | None = None) -> InferResult:
        """``infer N W``: checks the whole reply sequence and returns the timestamps and dequantized results."""
        lines = self.command(f"infer {n} {warmup}", timeout=timeout)
        expected_head = [f"m-warmup-start-{warmup}", "m-warmup-done", f"m-infer-start-{n}"]
        if lines[:3] != expected_head or len(lines) != 7:
            raise MLPerfError(f"unexpected reply to 'infer {n} {warmup}': {lines}")
        laps = [_LAP.match(line) for line in lines[3:5]]
        if not all(laps) or lines[5] != "m-infer-done":
            raise MLPerfError(f"unexpected reply to 'infer {n} {warmup}': {lines}")
        start, end = (int(m.group(1)) for m in laps if m)
        return InferResult(lines, n, warmup, start, end, self.parse_results(lines[6:]))
