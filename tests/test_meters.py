"""Power-meter drivers against a simulated LPM01A that speaks the PowerShield ASCII protocol over a real loopback
TCP socket and a real pty pair; PPK2 absence gives one clear sentence."""

from __future__ import annotations

import importlib.util
import os
import socket
import threading
from collections.abc import Callable

import numpy as np
import pytest
import serial

from edgesdk.errors import EdgeSDKError
from edgesdk.profiling.meters import LPM01A, MeterError, Samples, energy_j, open_meter, parse_ascii_dec

N_SAMPLES = 500  # 250 at 5 mA and 250 at 15 mA
KNOWN = {"htc", "hrc", "format ascii_dec", "freq 1k", "acqtime 0", "trigsrc sw", "output current", "pwr on"}


class PowerShieldSim:
    """Answers like a PowerShield: ``PowerShield > ack <cmd>``, errors with a detail line, a sample stream
    after ``start`` (with TimeStamp lines mixed in) and ``Acquisition completed`` after ``stop``."""

    def __init__(
        self, recv: Callable[[], bytes], send: Callable[[bytes], None], silent: bool = False
    ) -> None:
        self.recv, self.send, self.silent = recv, send, silent
        self.commands: list[str] = []

    def _line(self, text: str) -> None:
        self.send(text.encode("ascii") + b"\r\n")

    def run(self) -> None:
        buf = b""
        while True:
            try:
                chunk = self.recv()
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                cmd = raw.decode().strip()
                self.commands.append(cmd)
                if self.silent:
                    continue
                self.handle(cmd)

    def handle(self, cmd: str) -> None:
        if cmd in KNOWN:
            self._line(f"PowerShield > ack {cmd}")
        elif cmd.startswith("volt "):
            mv = int(cmd[5:].rstrip("m"))
            if 1800 <= mv <= 3300:
                self._line(f"PowerShield > ack {cmd}")
            else:
                self._line(f"PowerShield > error {cmd}")
                self._line("PowerShield > Error detail: argument out of range")
        elif cmd == "start":
            self._line("PowerShield > ack start")
            for i in range(N_SAMPLES):
                if i % 100 == 0:
                    self._line(f"TimeStamp: 0s {i}ms, buff 0%")
                self._line("5000-06" if i < N_SAMPLES // 2 else "1500-05")
        elif cmd == "stop":
            self._line("PowerShield > Acquisition completed")
        else:
            self._line(f"PowerShield > error {cmd}")
            self._line("PowerShield > Error detail: unknown command")


@pytest.fixture
def tcp_sim():
    """A simulated LPM01A on 127.0.0.1 (one connection); yields (url, sim)."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(10)
    sims: list[PowerShieldSim] = []
    conns: list[socket.socket] = []

    def serve(silent: bool) -> None:
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        conns.append(conn)
        sim = PowerShieldSim(lambda: conn.recv(4096), conn.sendall, silent=silent)
        sims.append(sim)
        sim.run()

    def start(silent: bool = False) -> str:
        threading.Thread(target=serve, args=(silent,), daemon=True).start()
        return f"socket://127.0.0.1:{srv.getsockname()[1]}"

    yield start, sims
    for c in conns:
        c.close()
    srv.close()


def test_parse_ascii_dec() -> None:
    assert parse_ascii_dec("6409-07") == pytest.approx([640.9e-6])
    assert parse_ascii_dec("1500-05 2000+00") == pytest.approx([0.015, 2000.0])
    assert parse_ascii_dec("TimeStamp: 1s 2ms") == []


def test_lpm01a_over_tcp(tcp_sim) -> None:
    start, sims = tcp_sim
    meter = open_meter("lpm01a", start(), timeout_s=5.0)
    with meter:
        meter.start()
        samples = meter.stop()
    sim = sims[0]
    assert sim.commands[:8] == [
        "htc",
        "format ascii_dec",
        "volt 3300m",
        "freq 1k",
        "acqtime 0",
        "trigsrc sw",
        "output current",
        "pwr on",
    ]
    assert sim.commands[-3:] == ["start", "stop", "hrc"]
    assert len(samples) == N_SAMPLES
    assert samples.quantity == "current" and samples.voltage_v == 3.3
    assert samples.t_s[1] == pytest.approx(1e-3)
    assert samples.values[0] == pytest.approx(5e-3) and samples.values[-1] == pytest.approx(15e-3)
    # 250 ms at 5 mA + 250 ms at 15 mA, at 3.3 V: 3.3 * (0.005 + 0.015) * 0.25 = 16.5 mJ
    assert energy_j(samples) == pytest.approx(0.0165)
    # only the first 100 ms: 3.3 V * 5 mA * 0.1 s
    assert energy_j(samples, 0.0, 0.1) == pytest.approx(1.65e-3)


def test_lpm01a_over_pty() -> None:
    master, slave = os.openpty()
    port = serial.Serial(os.ttyname(slave), timeout=0.05)
    sim = PowerShieldSim(lambda: os.read(master, 4096), lambda b: os.write(master, b))
    t = threading.Thread(target=sim.run, daemon=True)
    t.start()
    try:
        meter = LPM01A(port, voltage_mv=1800, freq="1k", timeout_s=5.0)
        meter.start()
        samples = meter.stop()
        meter.close()
        assert len(samples) == N_SAMPLES
        assert energy_j(samples) == pytest.approx(1.8 * 0.02 * 0.25)
        assert "volt 1800m" in sim.commands
    finally:
        os.close(slave)
        os.close(master)
        t.join(timeout=2)


def test_lpm01a_error_reply_is_one_sentence(tcp_sim) -> None:
    start, _ = tcp_sim
    meter = open_meter("lpm01a", start(), timeout_s=5.0)
    try:
        with pytest.raises(MeterError, match=r"LPM01A refused 'bogus': unknown command"):
            meter.command("bogus")
    finally:
        meter.close()


def test_lpm01a_silent_device_times_out(tcp_sim) -> None:
    start, _ = tcp_sim
    with pytest.raises(MeterError, match=r"did not answer 'htc' within 0.3 s"):
        open_meter("lpm01a", start(silent=True), timeout_s=0.3)


def test_lpm01a_bad_settings_refused_before_talking() -> None:
    with pytest.raises(MeterError, match="outside 1800..3300 mV"):
        LPM01A(serial.serial_for_url("loop://", timeout=0.05), voltage_mv=5000)
    with pytest.raises(MeterError, match="sampling frequency"):
        LPM01A(serial.serial_for_url("loop://", timeout=0.05), freq="3k")


def test_lpm01a_unreachable_port() -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    with pytest.raises(MeterError, match="cannot be opened"):
        open_meter("lpm01a", f"socket://127.0.0.1:{free}")


@pytest.mark.skipif(importlib.util.find_spec("ppk2_api") is not None, reason="ppk2-api is installed here")
def test_ppk2_absent_gives_clear_error() -> None:
    with pytest.raises(EdgeSDKError, match=r"needs the ppk2-api package, which is not installed"):
        open_meter("ppk2", None)


def test_unknown_meter() -> None:
    with pytest.raises(MeterError, match="meter 'joulescope' is unknown; known meters: lpm01a, ppk2"):
        open_meter("joulescope", "/dev/null")


def test_energy_hand_computed() -> None:
    # Evenly spaced: each sample holds one period. 3 samples of 1 W for 0.5 s each = 1.5 J.
    s = Samples(np.array([0.0, 0.5, 1.0]), np.array([1.0, 1.0, 1.0]), "power", 0.0, period_s=0.5)
    assert energy_j(s) == pytest.approx(1.5)
    # Irregular: trapezoid. 0 W at t=0 to 2 W at t=1, then 2 W until t=3: 1 + 4 = 5 J.
    s = Samples(np.array([0.0, 1.0, 3.0]), np.array([0.0, 2.0, 2.0]), "power", 0.0)
    assert energy_j(s) == pytest.approx(5.0)
    # Current at 2 V: 0.5 A * 2 V * 4 samples * 0.25 s = 1 J.
    s = Samples(np.arange(4) * 0.25, np.full(4, 0.5), "current", 2.0, period_s=0.25)
    assert energy_j(s) == pytest.approx(1.0)
    assert s.to_dict()["mean_power_w"] == pytest.approx(1.0)
