"""Energy estimates, checked against figures computed by hand."""

from __future__ import annotations

import pytest

from edgesdk.boards import get_board
from edgesdk.profiling.energy import (
    ACTIVE_POWER,
    EnergyModelError,
    LayerStats,
    OpEnergyModel,
    active_power,
    estimate_energy,
    op_energy,
)


def test_horowitz_per_layer() -> None:
    # 1e6 int8 MACs at 0.2 + 0.1 pJ = 0.3 uJ; 4000 weight bytes at 5/4 pJ = 5 nJ; 2000 + 1000 activation bytes
    # at 1.25 pJ = 3.75 nJ.
    layer = LayerStats(
        "conv1", "CONV_2D", macs=1_000_000, weight_bytes=4000, act_read_bytes=2000, act_write_bytes=1000
    )
    mac, weight, act = op_energy(layer)
    assert mac == pytest.approx(0.3)
    assert weight == pytest.approx(0.005)
    assert act == pytest.approx(0.00375)


def test_custom_op_model() -> None:
    # Weights off-chip in DRAM: 640 pJ per 32-bit word = 160 pJ per byte; 1000 bytes -> 0.16 uJ.
    model = OpEnergyModel(weight_pj_per_byte=160.0)
    _, weight, _ = op_energy(LayerStats("fc", weight_bytes=1000), model)
    assert weight == pytest.approx(0.16)


def test_board_model_nucleo_f446re() -> None:
    board = get_board("nucleo-f446re")  # STM32F446RE at 180 MHz: 38 mA x 3.3 V = 125.4 mW
    layers = [
        LayerStats("a", macs=100, count=90_000),  # 0.5 ms at 180 MHz
        LayerStats("b", macs=200, count=180_000),  # 1 ms
    ]
    rep = estimate_energy(layers, latency_s=0.002, board=board)
    assert rep.power_mw == pytest.approx(125.4)
    assert rep.board_model_uj == pytest.approx(125.4e-3 * 0.002 * 1e6)  # 250.8 uJ
    assert rep.layers[0].board_model_uj == pytest.approx(62.7)
    assert rep.layers[1].board_model_uj == pytest.approx(125.4)
    assert rep.ops_model_uj == pytest.approx(300 * 0.3e-6)
    assert "STM32F446" in rep.power_source
    d = rep.to_dict()
    assert d["layers"][1]["name"] == "b"


def test_clock_scaling_and_override() -> None:
    point = active_power("STM32F405RG")
    assert point.power_mw == pytest.approx(132.0)
    assert point.power_mw_at(84_000_000) == pytest.approx(66.0)  # half the clock, half the dynamic power
    rep = estimate_energy([], 1.0, "STM32F405RG", clock_hz=84_000_000)
    assert rep.board_model_uj == pytest.approx(66.0e3)
    assert any("scaled linearly" in n for n in rep.notes)
    rep = estimate_energy([{"name": "x", "macs": 10}], 0.5, None, power_mw=10.0)
    assert rep.board_model_uj == pytest.approx(5000.0)
    assert rep.power_source == "given by the user"


def test_emulated_board_is_labelled() -> None:
    rep = estimate_energy([LayerStats("a", count=168_000)], 0.001, get_board("netduinoplus2"))
    assert rep.layers[0].board_model_uj == pytest.approx(132.0)  # 132 mW for 1 ms
    assert any("instruction" in n for n in rep.notes)


def test_unknown_mcu() -> None:
    with pytest.raises(EnergyModelError, match="no active-power figure is known for MCU 'AN386'"):
        active_power("AN386")
    rep = estimate_energy([LayerStats("a", macs=1)], 0.001, get_board("mps2-an386"))
    assert rep.board_model_uj is None
    assert any("board model skipped" in n for n in rep.notes)


#: STM32 MCUs with no datasheet run-mode figure in ACTIVE_POWER: their board files' [power] gives the figure.
NO_FIGURE_YET = {"STM32U585AI", "STM32H7A3ZI"}


def test_every_stm32_board_has_a_figure() -> None:
    from edgesdk.boards import all_boards

    for board in all_boards().values():
        if board.mcu in NO_FIGURE_YET:
            with pytest.raises(
                EnergyModelError, match=f"no active-power figure is known for MCU '{board.mcu}'"
            ):
                active_power(board.mcu)
            assert board.power is not None and active_power(board).source == board.power.source
        elif board.mcu.startswith("STM32"):
            assert active_power(board).mcu
    assert set(ACTIVE_POWER) >= {"STM32F405", "STM32F446", "STM32L4R5", "STM32H743"}


def _energy_check():
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "energy_check.py"
    spec = importlib.util.spec_from_file_location("bench_energy_check", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_board_power_within_15_percent_of_mlperf_tiny() -> None:
    """Each MLPerf Tiny board's file records the published energy / latency (mean over IC, KWS, VWW, AD, same board
    and clock) as it follows from the published table, and its active-power figure, scaled to that clock, stays
    within 15 % of it; the estimate of a whole inference uses that figure."""
    from edgesdk.boards import all_boards, get_board

    check = _energy_check()
    assert set(check.PUBLISHED) == {"nucleo-l4r5zi", "nucleo-h7a3zi", "b-u585i-iot02a"}
    for name, (_system, clock, _supply, rows) in check.PUBLISHED.items():
        power = get_board(name).power
        assert power is not None and power.mlperf_clock_hz == clock and len(rows) == 4
        assert power.mlperf_mw == pytest.approx(check.published_mw(name), abs=0.05)  # recorded to 0.1 mW
        assert "MLPerf Tiny v1.0" in power.mlperf_source
    for board in all_boards().values():
        if board.power is None or not board.power.mlperf_mw:
            continue
        ours = active_power(board).power_mw_at(board.power.mlperf_clock_hz)
        assert abs(ours - board.power.mlperf_mw) <= 0.15 * board.power.mlperf_mw, board.name
    l4 = get_board("nucleo-l4r5zi")
    rep = estimate_energy([], latency_s=0.1, board=l4)
    assert rep.power_mw == pytest.approx(49.5) and rep.board_model_uj == pytest.approx(4950.0)
    assert "DS12023" in rep.power_source


def test_a_bad_power_figure_is_one_sentence(tmp_path) -> None:
    from edgesdk.boards import get_board, parse_board
    from edgesdk.errors import BoardError

    text = get_board("nucleo-l4r5zi").path.read_text(encoding="utf-8")
    bad = tmp_path / "l4.toml"
    for old, new, message in (
        ("active_mw = 49.5", "active_mw = -1", r"power.active_mw = -1 is not a power in mW above 0"),
        ("active_mw = 49.5", 'active_mw = "50"', r"power.active_mw = '50' has the wrong type"),
        ("mlperf_clock_hz = 120000000\n", "", r"power.mlperf_mw = 44.8 needs mlperf_clock_hz"),
        ("mlperf_mw = 44.8", "mlperf_mw = 44.8\nvolts = 3", r"power.volts is not a board field"),
    ):
        assert old in text
        bad.write_text(text.replace(old, new, 1), encoding="utf-8")
        with pytest.raises(BoardError, match=r"^board file .*l4.toml: " + message):
            parse_board(bad)


def test_negative_latency_refused() -> None:
    with pytest.raises(ValueError):
        estimate_energy([], -1.0)
