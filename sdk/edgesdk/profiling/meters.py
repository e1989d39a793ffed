"""Power-meter drivers: ST's LPM01A (X-NUCLEO-LPM01A "PowerShield") over its ASCII serial protocol, and Nordic's
PPK2 through the ``ppk2-api`` package.

Common interface: ``meter.start()`` begins an acquisition, ``meter.stop()`` ends it and returns :class:`Samples`
(current in A or power in W, with timestamps), :func:`energy_j` integrates them. :func:`open_meter` opens one by
kind and port.

**LPM01A protocol** (ST UM2269 "Getting started with PowerShield firmware"; the command table is also kept in the
MLPerf Tiny energy runner, ``mlcommons/tiny`` ``benchmark/runner/power_manager``). UART 3 686 400 baud, 8N1. The
host sends one command per line ending in ``\\n``; the PowerShield echoes a prompt ``PowerShield > `` and answers
``ack <command>`` or ``error <command>`` followed by ``Error detail: <why>``. The set-up used here is
``htc`` (host takes control), ``format ascii_dec``, ``volt 3300m``, ``freq 1k``, ``acqtime 0`` (until ``stop``),
``trigsrc sw``, ``output current``; ``pwr on`` powers the target. After ``start`` it streams one sample per line,
in ``ascii_dec`` as a 4-digit mantissa and a signed 2-digit power of ten (``6409-07`` = 640.9 uA), interleaved with
metadata lines (``TimeStamp: 12s 345ms, buff 3%``); ``stop`` ends the stream with ``Acquisition completed``; ``hrc``
hands control back. Samples are evenly spaced at the set frequency, so sample ``i`` is at ``i / freq``.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from edgesdk.errors import EdgeSDKError

log = logging.getLogger(__name__)

LPM01A_BAUD = 3_686_400
PPK2_RATE_HZ = 100_000  # the PPK2 streams 100 000 samples per second
PROMPT = "PowerShield > "
_SAMPLE = re.compile(r"(\d{4})([+-]\d{2})")
_DATA_LINE = re.compile(r"(?:\d{4}[+-]\d{2}\s*)+")
_FREQS = {"100k", "50k", "20k", "10k", "5k", "2k", "1k", "500", "200", "100", "50", "20", "10", "5", "2", "1"}


class MeterError(EdgeSDKError):
    """A power meter is missing, does not answer, or refuses a command."""


class SerialLike(Protocol):
    """What the LPM01A driver needs of a port: pyserial's ``Serial`` (with a read timeout) fits."""

    def write(self, data: bytes) -> int | None: ...

    def readline(self) -> bytes: ...

    def close(self) -> None: ...


@dataclass
class Samples:
    """One acquisition: ``values`` (A for ``quantity='current'``, W for ``'power'``) at times ``t_s`` (seconds from
    the start), sampled every ``period_s`` (0 when the spacing is irregular), at supply ``voltage_v``."""

    t_s: np.ndarray
    values: np.ndarray
    quantity: str
    voltage_v: float
    period_s: float = 0.0

    def __len__(self) -> int:
        return int(self.values.size)

    def power_w(self) -> np.ndarray:
        return self.values * self.voltage_v if self.quantity == "current" else self.values

    def to_dict(self) -> dict[str, Any]:
        """A summary for reports (not the samples themselves)."""
        p = self.power_w()
        return {
            "quantity": self.quantity,
            "samples": len(self),
            "duration_s": float(len(self) * self.period_s)
            if self.period_s
            else float(np.ptp(self.t_s) if len(self) else 0),
            "voltage_v": self.voltage_v,
            "mean_power_w": float(p.mean()) if len(self) else 0.0,
            "energy_j": energy_j(self),
        }


def energy_j(samples: Samples, t0: float | None = None, t1: float | None = None) -> float:
    """Energy in joules over the acquisition, or over the window ``[t0, t1)`` seconds.

    Evenly spaced samples (``period_s`` > 0) are each taken to hold for one period (the meters average over it):
    ``E = sum(P_i) * period``. Irregular samples are integrated with the trapezoid rule.
    """
    p = samples.power_w()
    t = samples.t_s
    if t0 is not None or t1 is not None:
        keep = np.ones(p.shape, dtype=bool)
        if t0 is not None:
            keep &= t >= t0
        if t1 is not None:
            keep &= t < t1
        p, t = p[keep], t[keep]
    if p.size == 0:
        return 0.0
    if samples.period_s > 0:
        return float(p.sum() * samples.period_s)
    if p.size < 2:
        return 0.0
    return float(np.sum((p[1:] + p[:-1]) * np.diff(t)) / 2)


class Meter(ABC):
    """A power meter: ``start()``, then ``stop()`` returns the samples. Usable as a context manager."""

    kind = ""

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> Samples: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the meter (default: nothing)."""

    def __enter__(self) -> Meter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_ascii_dec(line: str) -> list[float]:
    """The samples on one ``ascii_dec`` data line, in the unit the meter reports (A): ``6409-07`` -> 6.409e-4."""
    return [int(m) * 10.0 ** int(e) for m, e in _SAMPLE.findall(line)]


class LPM01A(Meter):
    """ST X-NUCLEO-LPM01A over its ASCII protocol, on any ``port`` with write/readline/close (a pyserial port
    opened with a short read timeout, a ``socket://`` URL, a pty...).

    A reader thread sorts the incoming lines into samples and messages, so the stream is drained while the host is
    busy driving the board under test.
    """

    kind = "lpm01a"

    def __init__(
        self,
        port: SerialLike,
        *,
        voltage_mv: int = 3300,
        freq: str = "1k",
        timeout_s: float = 3.0,
        power_on: bool = True,
        configure: bool = True,
    ) -> None:
        if freq not in _FREQS:
            raise MeterError(f"LPM01A: sampling frequency {freq!r} is not one of {', '.join(sorted(_FREQS))}")
        if not 1800 <= voltage_mv <= 3300:
            raise MeterError(f"LPM01A: supply voltage {voltage_mv} mV is outside 1800..3300 mV")
        self.port = port
        self.voltage_v = voltage_mv / 1000
        self.freq = freq
        self.freq_hz = float(freq[:-1]) * 1000 if freq.endswith("k") else float(freq)
        self.timeout_s = timeout_s
        self._messages: queue.Queue[str] = queue.Queue()
        self._values: list[float] = []
        self._lock = threading.Lock()
        self._acquiring = False
        self._running = True
        self._reader = threading.Thread(target=self._read_loop, name="lpm01a-reader", daemon=True)
        self._reader.start()
        if configure:
            try:
                self.configure(voltage_mv, power_on)
            except BaseException:
                self._running = False  # the caller owns the port and closes it; the reader ends with it
                raise

    # -- line handling -------------------------------------------------------------------------------------------
    def _read_loop(self) -> None:
        while self._running:
            try:
                raw = self.port.readline()
            except Exception as exc:  # the port closed or broke: tell the waiting command
                if self._running:
                    self._messages.put(f"\x00port error: {exc}")
                return
            if not raw:
                continue
            line = raw.decode("ascii", errors="replace").replace("\x00", "").strip()
            if line.startswith(PROMPT.strip()):
                line = line[len(PROMPT.strip()) :].strip()
            if not line:
                continue
            if self._acquiring and _DATA_LINE.fullmatch(line):
                with self._lock:
                    self._values.extend(parse_ascii_dec(line))
            elif line.startswith("TimeStamp"):
                log.debug("LPM01A %s", line)
            else:
                log.debug("LPM01A <- %s", line)
                self._messages.put(line)

    def _wait(self, pred: Any, what: str) -> str:
        deadline = time.monotonic() + self.timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise MeterError(f"LPM01A did not answer {what!r} within {self.timeout_s:g} s")
            try:
                line = self._messages.get(timeout=left)
            except queue.Empty:
                continue
            if line.startswith("\x00port error"):
                raise MeterError(f"LPM01A: the serial link failed while waiting for {what!r} ({line[12:]})")
            if pred(line):
                return line
            log.debug("LPM01A: ignored %r while waiting for %r", line, what)

    def command(self, cmd: str) -> None:
        """Send one command and wait for its ``ack``; an ``error`` raises :class:`MeterError` with the detail."""
        while not self._messages.empty():
            self._messages.get_nowait()
        log.debug("LPM01A -> %s", cmd)
        self.port.write(cmd.encode("ascii") + b"\n")
        reply = self._wait(
            lambda s: s.startswith(("ack", "error")) and s.split(" ", 1)[-1].strip() == cmd, cmd
        )
        if reply.startswith("error"):
            try:
                detail = self._wait(lambda s: s.startswith("Error detail"), "error detail")
                detail = detail.split(":", 1)[-1].strip()
            except MeterError:
                detail = "no detail"
            raise MeterError(f"LPM01A refused {cmd!r}: {detail}")

    def configure(self, voltage_mv: int = 3300, power_on: bool = True) -> None:
        """Take control and set the acquisition: ASCII decimal current samples at ``freq``, until ``stop``."""
        for cmd in (
            "htc",
            "format ascii_dec",
            f"volt {voltage_mv}m",
            f"freq {self.freq}",
            "acqtime 0",
            "trigsrc sw",
            "output current",
        ):
            self.command(cmd)
        if power_on:
            self.command("pwr on")

    # -- acquisition ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            self._values = []
        self._acquiring = True
        try:
            self.command("start")
        except MeterError:
            self._acquiring = False
            raise

    def stop(self) -> Samples:
        self.port.write(b"stop\n")
        try:
            self._wait(lambda s: "Acquisition completed" in s, "stop")
        finally:
            self._acquiring = False
        with self._lock:
            values = np.asarray(self._values, dtype=np.float64)
            self._values = []
        period = 1.0 / self.freq_hz
        log.info("LPM01A: %d samples at %s Hz", values.size, self.freq)
        return Samples(
            t_s=np.arange(values.size) * period,
            values=values,
            quantity="current",
            voltage_v=self.voltage_v,
            period_s=period,
        )

    def close(self) -> None:
        """Hand control back (``hrc``), stop the reader and close the port."""
        if not self._running:
            return
        try:
            self.command("hrc")
        except MeterError as exc:
            log.warning("LPM01A: %s", exc)
        finally:
            self._running = False
            self._reader.join(timeout=2.0)
            self.port.close()


class PPK2(Meter):
    """Nordic Power Profiler Kit II in source-meter mode, through the ``ppk2-api`` package (imported lazily)."""

    kind = "ppk2"

    def __init__(self, port: str | None = None, voltage_mv: int = 3300) -> None:
        try:
            from ppk2_api.ppk2_api import PPK2_API  # type: ignore[import-not-found]
        except ImportError:
            raise MeterError(
                "the PPK2 meter needs the ppk2-api package, which is not installed (pip install ppk2-api)"
            ) from None
        if port is None:
            found = PPK2_API.list_devices()
            if not found:
                raise MeterError(
                    "no Nordic PPK2 is attached (ppk2-api found none); plug it in or name its port"
                )
            port = found[0][0] if isinstance(found[0], (tuple, list)) else found[0]
        try:
            self._api = PPK2_API(port, timeout=1, write_timeout=1)
            self._api.get_modifiers()
            self._api.use_source_meter()
            self._api.set_source_voltage(voltage_mv)
        except Exception as exc:  # serial errors, a device that is not a PPK2
            raise MeterError(f"the Nordic PPK2 at {port} cannot be opened: {exc}") from None
        self.voltage_v = voltage_mv / 1000
        self._chunks: list[np.ndarray] = []
        self._running = False
        self._thread: threading.Thread | None = None

    def _poll(self) -> None:
        while self._running:
            data = self._api.get_data()
            if data:
                got = self._api.get_samples(data)
                samples = (
                    got[0] if isinstance(got, tuple) else got
                )  # newer ppk2-api returns (samples, digital)
                self._chunks.append(np.asarray(samples, dtype=np.float64) * 1e-6)  # uA -> A
            time.sleep(0.001)

    def start(self) -> None:
        self._chunks = []
        self._api.toggle_DUT_power("ON")
        self._api.start_measuring()
        self._running = True
        self._thread = threading.Thread(target=self._poll, name="ppk2-reader", daemon=True)
        self._thread.start()

    def stop(self) -> Samples:
        self._running = False
        if self._thread:
            self._thread.join(timeout=2.0)
        self._api.stop_measuring()
        values = np.concatenate(self._chunks) if self._chunks else np.zeros(0)
        period = 1.0 / PPK2_RATE_HZ
        return Samples(np.arange(values.size) * period, values, "current", self.voltage_v, period)

    def close(self) -> None:
        try:
            self._api.toggle_DUT_power("OFF")
        except Exception as exc:  # best effort on the way out
            log.warning("PPK2: %s", exc)


METERS = ("lpm01a", "ppk2")


def open_meter(kind: str, port: str | None = None, **options: Any) -> Meter:
    """Open a meter: ``lpm01a`` on a serial device or pyserial URL (``socket://host:port``), or ``ppk2``."""
    k = kind.strip().lower()
    if k == "lpm01a":
        if not port:
            raise MeterError("the LPM01A meter needs a serial port (--meter-port)")
        import serial

        try:
            ser = serial.serial_for_url(port, baudrate=LPM01A_BAUD, timeout=0.05, write_timeout=2)
        except (serial.SerialException, ValueError) as exc:
            raise MeterError(f"the LPM01A at {port} cannot be opened: {exc}") from None
        try:
            return LPM01A(ser, **options)
        except BaseException:
            ser.close()
            raise
    if k == "ppk2":
        return PPK2(port, **options)
    raise MeterError(f"meter {kind!r} is unknown; known meters: {', '.join(METERS)}")
