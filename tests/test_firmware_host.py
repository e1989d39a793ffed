"""The device harness built for the host target, driven over stdin/stdout through both protocols, with the
link faults the host client must survive; and the harness's input side fuzzed under ASan/UBSan."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgesdk.errors import TransportError, TransportTimeout
from edgesdk.transport import (
    DeviceClient,
    DeviceRefused,
    LoggingTransport,
    MLPerfClient,
    MLPerfError,
    ProcessTransport,
    WrappingTransport,
)
from edgesdk.transport.protocol import CMD_ECHO, encode_frame, read_frame
from edgesdk.util.resources import firmware_dir
from fwbuild import TINY_IN, TINY_MODEL, TINY_OUT, TINY_OUT_SCALE, TINY_OUT_ZP, build_tiny, tiny_reference


@pytest.fixture(scope="module")
def host_fw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny("host", tmp_path_factory.mktemp("fw_host"))


@pytest.fixture()
def link(host_fw: Path):
    with ProcessTransport([host_fw]) as t:
        yield t


def _x(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, TINY_IN).astype(np.int8)


class FlipOnce(WrappingTransport):
    """Flips one bit of the ``nth`` byte in one direction, once: a corrupted frame in transit."""

    def __init__(self, inner, direction: str, nth: int) -> None:
        super().__init__(inner)
        self.direction, self.nth, self.seen, self.flipped = direction, nth, 0, False

    def _flip(self, data: bytes) -> bytes:
        if self.flipped or self.seen + len(data) <= self.nth:
            self.seen += len(data)
            return data
        buf = bytearray(data)
        buf[self.nth - self.seen] ^= 0x10
        self.flipped, self.seen = True, self.seen + len(data)
        return bytes(buf)

    def on_write(self, data: bytes) -> bytes:
        return self._flip(data) if self.direction == "write" else data

    def on_read(self, data: bytes) -> bytes:
        return self._flip(data) if self.direction == "read" else data


def test_binary_protocol_on_host(link) -> None:
    client = DeviceClient(LoggingTransport(link))
    client.transport.open()
    info = client.info()
    assert (info.model_name, info.board_name, info.mlperf_model) == ("fw_tiny", "host", "ad01")
    assert (info.input_size, info.output_size, info.num_layers, info.arena_bytes) == (
        TINY_IN,
        TINY_OUT,
        2,
        1500,
    )
    assert (info.input_scale, info.input_zero_point, info.output_scale, info.output_zero_point) == (
        0.5, -3, TINY_OUT_SCALE, TINY_OUT_ZP,
    )  # fmt: skip
    assert info.timer_unit == "nanoseconds" and info.profile and info.problem is None
    assert len(info.model_sha256) == 64
    assert client.layer_names() == ["add5", "pairsum"]
    for seed in range(3):  # input needs two LOAD_INPUT frames (1500 > 1020)
        x = _x(seed)
        out, count = client.infer(x)
        np.testing.assert_array_equal(out, tiny_reference(x))
        assert count > 0
    counts = client.run(130)  # more than one RUN frame (100 per frame)
    assert len(counts) == 130 and all(c > 0 for c in counts)
    layers = client.layer_counts()
    assert len(layers) == 2 and all(c > 0 for c in layers)
    assert client.echo(bytes(range(256)) * 3) == bytes(range(256)) * 3
    client.reset()
    np.testing.assert_array_equal(client.read_output(), np.zeros(TINY_OUT, np.int8))
    with pytest.raises(DeviceRefused, match="LAYER_COUNTS: there is nothing measured"):
        client.layer_counts()
    assert client.stats.retries == 0 and client.stats.naks == 0


def test_device_refuses_bad_arguments(link) -> None:
    client = DeviceClient(link)
    with pytest.raises(DeviceRefused, match="LOAD_INPUT: an argument is out of range"):
        client.transact(0x03, (1490).to_bytes(4, "little") + bytes(20))  # past the end of the input
    with pytest.raises(DeviceRefused, match="RUN: an argument is out of range"):
        client.transact(0x04, (101).to_bytes(2, "little"))
    with pytest.raises(DeviceRefused, match="the command is unknown"):
        client.transact(0x42)
    with pytest.raises(ValueError, match="takes 1500 input bytes"):
        client.load_input(bytes(10))
    # a frame of another protocol version is answered, not silently obeyed
    link.write(encode_frame(CMD_ECHO, 9, b"hi", version=2))
    reply = read_frame(link, 2.0)
    assert (reply.cmd, reply.seq, reply.payload) == (CMD_ECHO | 0x80, 9, bytes([2, 1]))


def test_garbage_before_a_frame_is_skipped(link) -> None:
    client = DeviceClient(link)
    rng = np.random.default_rng(7)
    garbage = rng.integers(0, 256, 5000).astype(np.uint8).tobytes().replace(b"%", b"")
    link.write(garbage + b"\xa5\xa5\x5a")  # ends inside a fake header, resolved by the resync
    x = _x(1)
    client.timeout = 1.0
    out, _ = client.infer(x)
    np.testing.assert_array_equal(out, tiny_reference(x))


@pytest.mark.parametrize("direction", ["write", "read"])
def test_corrupted_frame_is_retried_never_accepted(link, direction: str) -> None:
    flip = FlipOnce(link, direction, nth=300)  # a payload byte of the first LOAD_INPUT (or its reply stream)
    client = DeviceClient(flip)
    flip.open()
    client.info()
    x = _x(2)
    out, _ = client.infer(x)
    np.testing.assert_array_equal(out, tiny_reference(x))
    assert flip.flipped
    if direction == "write":
        assert client.stats.naks == 1 and client.stats.retries == 1
    else:
        assert client.stats.corrupt_replies + client.stats.timeouts >= 1 and client.stats.retries >= 1


def test_timeout_then_recovery(link) -> None:
    client = DeviceClient(link, timeout=0.3, retries=1)
    client.info()
    os.kill(link.pid, signal.SIGSTOP)  # our own harness process stops answering
    try:
        with pytest.raises(TransportTimeout, match="no answer to INFO after 2 attempts"):
            client.info(refresh=True)
    finally:
        os.kill(link.pid, signal.SIGCONT)
    client.timeout = 2.0
    assert client.info(refresh=True).model_name == "fw_tiny"  # the zero-byte flush resynchronised the link


def test_process_exit_is_a_clear_error(host_fw: Path) -> None:
    t = ProcessTransport([host_fw])
    t.open()
    client = DeviceClient(t)
    client.info()
    t.proc.kill()
    with pytest.raises(TransportError, match=r"harness process firmware.elf \(pid \d+\) exited with code -9"):
        client.run(1)
    t.close()


def test_mlperf_protocol_on_host(host_fw: Path) -> None:
    with ProcessTransport([host_fw]) as t:
        m = MLPerfClient(t)
        banner = m.read_banner()
        assert banner[0] == "m-timestamp-mode-performance" and banner[-1] == "m-init-done"
        assert banner[1].startswith("m-lap-us-")
        assert m.name() == "host"
        assert m.profile() == ("edgesdk-harness 0.1.0", "ad01")
        assert any(line.startswith("infer N") for line in m.help())
        t0 = m.timestamp()
        assert m.timestamp() >= t0
        with pytest.raises(MLPerfError, match="Input db has 0 bytes, expected 1500"):
            m.infer(1, 0)
        with pytest.raises(MLPerfError, match="Unknown command: bogus"):
            m.command("bogus")
        with pytest.raises(MLPerfError, match="exceeds maximum of 1500"):
            m.command("db load 5000")
        x = _x(3)
        m.load(x.view(np.uint8).tobytes())  # ad01: bytes are the int8 input as is
        r = m.infer(3, 2)
        expected = (tiny_reference(x).astype(np.float32) - TINY_OUT_ZP) * np.float32(TINY_OUT_SCALE)
        assert len(r.results) == TINY_OUT
        np.testing.assert_allclose(r.results, expected, atol=0.0005)
        assert r.end_us >= r.start_us
        assert m.results() == r.results


def test_fuzz_harness_under_sanitizers(tmp_path: Path) -> None:
    fw = firmware_dir()
    exe = tmp_path / "fw_fuzz"
    subprocess.run(
        [
            "gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", "-g",
            "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
            "-DEDGESDK_PROFILE", "-DEDGESDK_MLPERF_MODEL=\"ad01\"",
            f"-I{fw / 'include'}", f"-I{fw / 'harness'}",
            *(str(fw / "harness" / f) for f in ("edgesdk_harness.c", "edgesdk_mlperf.c", "edgesdk_proto.c")),
            str(TINY_MODEL), str(TINY_MODEL.parent / "fw_fuzz.c"), "-o", str(exe),
        ],
        check=True, timeout=120,
    )  # fmt: skip
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1", UBSAN_OPTIONS="halt_on_error=1")
    for seed in (1, 2):
        res = subprocess.run(
            [str(exe), "150000", str(seed)], capture_output=True, text=True, timeout=60, env=env, check=False
        )
        assert res.returncode == 0, res.stdout + res.stderr
        frames, bad, naks = (int(f.split("=")[1]) for f in res.stdout.split())
        assert bad == 0 and frames > 10000 and naks > 1000, res.stdout
