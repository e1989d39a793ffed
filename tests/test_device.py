"""The device half of the proof chain, on the emulated STM32 (QEMU netduinoplus2) over its TCP serial port:
validate bit-exactly against the host reference, TFLM's golden vectors on the board, deterministic profiling,
the MLPerf Tiny ASCII protocol driving the IC model, and faults that keep the results gathered before them."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

from edgesdk.boards import get_board
from edgesdk.commands.cli import main
from edgesdk.commands.device import connect, profile, validate
from edgesdk.commands.export import export
from edgesdk.errors import TransportError, ValidationError
from edgesdk.profiling.report import read_results
from edgesdk.reference import Reference
from edgesdk.transport import Emulator, MLPerfClient

pytestmark = [
    pytest.mark.emulator,
    pytest.mark.skipif(
        not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
        reason="QEMU and arm-none-eabi-gcc are needed (scripts/setup.sh installs them)",
    ),
]


@pytest.mark.parametrize("which", ["ic", "ad"])
def test_validate_on_emulated_board_is_bit_exact(which: str, ic_graph, ad_graph, tmp_path: Path) -> None:
    graph = ic_graph if which == "ic" else ad_graph
    summary = validate(graph, None, count=20, out_dir=tmp_path)
    assert summary.board == "netduinoplus2"
    assert (summary.count, summary.exact, summary.max_abs_diff) == (20, 20, 0)
    records = read_results(tmp_path / "results.jsonl")
    assert [r["input"] for r in records] == list(range(20))
    assert all(r["exact"] for r in records)
    assert json.loads((tmp_path / "validate.json").read_text())["passed"] is True


def test_tflm_golden_input_gives_tflm_golden_output_on_the_board(
    ic_graph, ic_golden, ad_graph, ad_golden, tmp_path: Path
) -> None:
    for graph, golden in ((ic_graph, ic_golden), (ad_graph, ad_golden)):
        built = export(graph, None, tmp_path / graph.name, build=True)
        with connect(built.board, built.elf) as client:
            out, count = client.infer(golden["input"].astype(np.int8))
        np.testing.assert_array_equal(out, golden["output"].astype(np.int8).ravel())
        assert count > 0


def test_profile_is_deterministic_and_layers_add_up(ic_graph, tmp_path: Path) -> None:
    first = profile(ic_graph, None, runs=2, out_dir=tmp_path / "a")
    second = profile(ic_graph, None, runs=2, out_dir=tmp_path / "b")
    assert first["unit"] == "instructions (emulated)"
    runs = first["runs"] + second["runs"]
    assert len(set(runs)) == 1 and runs[0] > 1_000_000  # identical instruction counts, run after run
    assert [r["count"] for r in first["layers"]] == [r["count"] for r in second["layers"]]
    assert first["layer_sum"]["ok"] and first["layer_sum"]["gap_fraction"] < 0.01
    png = tmp_path / "a" / "layer_latency.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (tmp_path / "a" / "report.md").read_text(encoding="utf-8")
    assert "layer_latency.png" in report and "conv2d_7" in report


def test_mlperf_tiny_ascii_protocol_runs_the_ic_model(ic_graph, tmp_path: Path) -> None:
    built = export(ic_graph, None, tmp_path / "p", build=True, mlperf_model="ic01")
    x = np.random.default_rng(7).integers(-128, 128, size=(1, 32, 32, 3), dtype=np.int8)
    expected = Reference(ic_graph).run(x).ravel()
    out_q = ic_graph.tensors[ic_graph.outputs[0]].quant
    with Emulator.for_board(built.board, built.elf, banner_end=None) as emu:
        client = MLPerfClient(emu.transport, timeout=20.0)
        banner = client.read_banner()
        assert banner[0] == "m-timestamp-mode-performance"
        assert banner[1].startswith("m-lap-us-") and banner[2] == "m-init-done"
        assert client.name()
        assert client.profile()[1] == "ic01"
        t0 = client.timestamp()
        client.load((x.astype(np.int16) + 128).astype(np.uint8).tobytes())  # ic01 sends uint8 pixels
        result = client.infer(3, 1)
        assert result.end_us > result.start_us >= t0
        # the board prints dequantized scores with 3 decimals; a step of the output (1/256) is wider than that,
        # so quantizing the printout again recovers the board's int8 output exactly
        back = np.round(np.asarray(result.results) / out_q.s + out_q.zp).astype(np.int64)
        np.testing.assert_array_equal(back, expected.astype(np.int64))
        assert out_q.s > 0.002
        assert client.results() == result.results
        assert any("infer" in line for line in client.help())


def test_emulator_killed_mid_validation_keeps_earlier_results(ad_graph, tmp_path: Path, monkeypatch) -> None:
    import edgesdk.commands.device as device

    real_connect = device.connect
    killed = {}

    class KillingClient:
        def __init__(self, client, emu_pid_getter):
            self._c, self._pid, self.n = client, emu_pid_getter, 0

        def __getattr__(self, name):
            return getattr(self._c, name)

        def infer(self, x):
            self.n += 1
            if self.n == 4:  # the board dies after three good answers
                os.kill(self._pid(), signal.SIGKILL)
                killed["yes"] = True
            return self._c.infer(x)

    import contextlib

    @contextlib.contextmanager
    def connect_and_kill(board, elf, port=None, **kw):
        with Emulator.for_board(board, elf) as emu:
            from edgesdk.transport import DeviceClient

            yield KillingClient(DeviceClient(emu.transport, timeout=2.0, retries=1), lambda: emu.pid)

    monkeypatch.setattr(device, "connect", connect_and_kill)
    with pytest.raises(TransportError):
        validate(ad_graph, None, count=10, out_dir=tmp_path)
    monkeypatch.setattr(device, "connect", real_connect)
    assert killed
    records = read_results(tmp_path / "results.jsonl")
    assert [r["input"] for r in records] == [0, 1, 2]
    assert all(r["exact"] for r in records)


def test_validate_cli_reports_and_exits_nonzero_on_a_wrong_reference(
    ad_model: Path, tmp_path: Path, capsys
) -> None:
    # The board computes TFLM's double rounding; a reference with single rounding disagrees on AD (TOOLCHAIN.md),
    # so a wrong output is never accepted: the command says how many differ and exits with ValidationError's code.
    code = main(["validate", str(ad_model), "-n", "3", "-o", str(tmp_path), "--rounding", "single"])
    captured = capsys.readouterr()
    assert code == ValidationError.exit_code
    assert "0/3 outputs bit-exact" in captured.out
    assert "differ from the reference" in captured.err and "Traceback" not in captured.err


def test_real_board_without_port_is_one_sentence(ad_graph, tmp_path: Path) -> None:
    from edgesdk.errors import BoardError

    built = export(ad_graph, "host", tmp_path / "h", build=True)
    with pytest.raises(BoardError, match="give its serial port with --port"):
        with connect(get_board("nucleo-f446re"), built.elf):
            pass
