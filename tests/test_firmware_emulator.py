"""The same harness on emulated Cortex-M4 boards (QEMU netduinoplus2 = STM32F405, mps2-an386) over a real
loopback TCP serial port: both protocols, deterministic instruction counts, and the link faults."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edgesdk.boards import get_board
from edgesdk.errors import BoardError, TransportError
from edgesdk.transport import DeviceClient, Emulator, MLPerfClient, WrappingTransport
from fwbuild import TINY_IN, TINY_OUT, TINY_OUT_SCALE, TINY_OUT_ZP, build_tiny, tiny_reference

pytestmark = [
    pytest.mark.emulator,
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm is not installed"),
]
log = logging.getLogger(__name__)
BOARDS = ["netduinoplus2", "mps2-an386"]


@pytest.fixture(scope="module", params=BOARDS)
def board_fw(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    name = request.param
    return name, build_tiny(name, tmp_path_factory.mktemp(f"fw_{name}"))


def _x(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, TINY_IN).astype(np.int8)


def test_binary_protocol_and_deterministic_counts(board_fw: tuple[str, Path]) -> None:
    name, elf = board_fw
    board = get_board(name)
    per_boot: list[tuple[list[int], list[int]]] = []
    for boot in range(2):
        with Emulator.for_board(board, elf) as emu:
            assert emu.banner.startswith("m-timestamp-mode-performance\r\nm-lap-us-")
            client = DeviceClient(emu.transport)
            info = client.info()
            assert (info.board_name, info.model_name, info.clock_hz) == (name, "fw_tiny", board.clock_hz)
            assert info.timer_unit == "instructions"  # QEMU has no DWT: SysTick under -icount, labelled so
            assert (info.input_size, info.output_size, info.num_layers) == (TINY_IN, TINY_OUT, 2)
            for seed in range(2):
                x = _x(seed)
                out, _ = client.infer(x)
                np.testing.assert_array_equal(out, tiny_reference(x))
            client.echo(b"x" * (300 * boot))  # different traffic before the runs on each boot
            t0 = time.perf_counter()
            for _ in range(20):
                client.echo(b"ping")
            log.info("%s: echo round trip %.2f ms", name, (time.perf_counter() - t0) / 20 * 1e3)
            counts = client.run(10)
            layers = client.layer_counts()
            per_boot.append((counts, layers))
            assert len(set(counts)) == 1, f"instruction counts differ between inferences: {counts}"
            # two loops over 1500 and 750 elements: a plausible instruction count, and the layers add up
            assert 5_000 < counts[0] < 200_000
            assert 0.9 * counts[0] <= sum(layers) <= counts[0]
            log.info("%s: %d instructions per inference, layers %s", name, counts[0], layers)
    assert per_boot[0] == per_boot[1], "instruction counts differ between two boots"


def test_mlperf_protocol_on_emulator(board_fw: tuple[str, Path]) -> None:
    name, elf = board_fw
    with Emulator.for_board(get_board(name), elf) as emu:
        assert emu.banner.splitlines()[0] == "m-timestamp-mode-performance"
        assert emu.banner.splitlines()[-2:] == ["m-init-done", "m-ready"]
        m = MLPerfClient(emu.transport)
        assert m.name() == name
        assert m.profile() == ("edgesdk-harness 0.1.0", "ad01")
        x = _x(5)
        m.load(x.view(np.uint8).tobytes())
        r = m.infer(4, 1)
        expected = (tiny_reference(x).astype(np.float32) - TINY_OUT_ZP) * np.float32(TINY_OUT_SCALE)
        np.testing.assert_allclose(r.results, expected, atol=0.0005)
        assert r.end_us > r.start_us


def test_garbage_and_corruption_on_emulator(board_fw: tuple[str, Path]) -> None:
    name, elf = board_fw

    class FlipWrite(WrappingTransport):
        armed = True

        def on_write(self, data: bytes) -> bytes:
            if self.armed and len(data) > 500:  # the first LOAD_INPUT frame: flip a payload byte
                self.armed = False
                return data[:400] + bytes([data[400] ^ 0x01]) + data[401:]
            return data

    with Emulator.for_board(get_board(name), elf) as emu:
        emu.transport.write(np.random.default_rng(1).integers(0, 256, 2000).astype(np.uint8).tobytes())
        flip = FlipWrite(emu.transport)
        flip.open()
        client = DeviceClient(flip, timeout=2.0)
        x = _x(9)
        out, _ = client.infer(x)
        np.testing.assert_array_equal(out, tiny_reference(x))
        assert not flip.armed and client.stats.naks >= 1


def test_emulator_killed_mid_run_is_a_clear_error(board_fw: tuple[str, Path]) -> None:
    name, elf = board_fw
    emu = Emulator.for_board(get_board(name), elf)
    emu.start()
    try:
        client = DeviceClient(emu.transport)
        client.load_input(_x(0))
        killer = threading.Timer(0.3, emu.kill)
        killer.start()
        with pytest.raises(TransportError, match=r"the emulator \(.*\) exited with code -9"):
            for _ in range(10_000):
                client.run(100)
        killer.join()
    finally:
        emu.stop()
    assert emu.proc is not None and emu.proc.poll() is not None


def test_emulator_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(BoardError, match="is not an emulated board"):
        Emulator.for_board(get_board("nucleo-f446re"), tmp_path / "x.elf")
    with pytest.raises(BoardError, match="does not exist"):
        Emulator.for_board(get_board("netduinoplus2"), tmp_path / "missing.elf").start()
    junk = tmp_path / "junk.elf"
    junk.write_bytes(b"not an elf")
    with pytest.raises(TransportError, match="exited with code"):
        Emulator.for_board(get_board("netduinoplus2"), junk).start()


def test_silent_board_is_started_once_more_then_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An image that never writes to its UART: after a whole boot time without one byte the emulator is started
    once more (a host starved of CPU can leave QEMU silent), then the timeout is reported in one sentence."""
    import subprocess

    from edgesdk.errors import TransportTimeout

    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("needs arm-none-eabi-gcc")
    src = tmp_path / "silent.S"
    src.write_text(
        ".syntax unified\n.thumb\n.text\n.word 0x20001000\n.word reset + 1\n.thumb_func\nreset: b reset\n"
    )
    elf = tmp_path / "silent.elf"
    subprocess.run(
        [
            "arm-none-eabi-gcc",
            "-mcpu=cortex-m4",
            "-mthumb",
            "-nostdlib",
            "-Wl,-Ttext=0",
            str(src),
            "-o",
            str(elf),
        ],
        check=True,
        timeout=60,
    )
    caplog.set_level(logging.WARNING, logger="edgesdk")
    with pytest.raises(TransportTimeout, match=r"no b'm-ready\\r\\n' within .* \(received 0 bytes\)"):
        with Emulator(elf, "mps2-an386", boot_timeout=2.0):
            pass
    assert sum("starting it once more" in r.getMessage() for r in caplog.records) == 1
