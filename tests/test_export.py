"""edgesdk export: cross-builds for every STM32 board, memory figures, arena vs lower bound, determinism, refusal."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgesdk.boards import all_boards, get_board
from edgesdk.commands.cli import main
from edgesdk.commands.export import export, measure_size
from edgesdk.errors import BoardError
from edgesdk.frontends.tflite import read_tflite

ARM = shutil.which("arm-none-eabi-gcc") is not None
STM32_BOARDS = sorted(n for n, b in all_boards().items() if b.family.startswith("stm32"))


def test_arena_within_5_percent_of_lower_bound(ic_graph, ad_graph, tmp_path: Path) -> None:
    for graph in (ic_graph, ad_graph):
        result = export(graph, "host", tmp_path / graph.name)
        result.plan.check_no_overlap()
        assert result.plan.arena_bytes <= 1.05 * result.plan.lower_bound, graph.name
        report = (tmp_path / graph.name / "report.json").read_text(encoding="utf-8")
        assert f'"arena_bytes": {result.plan.arena_bytes}' in report
    # TFLM needs 54,996 (IC) and 2,580 (AD) bytes of arena for these models (TOOLCHAIN.md).
    assert export(ic_graph, "host", tmp_path / "ic2").plan.arena_bytes < 54_996
    assert export(ad_graph, "host", tmp_path / "ad2").plan.arena_bytes < 2_580


@pytest.mark.skipif(not ARM, reason="arm-none-eabi-gcc is not installed (scripts/setup.sh installs it)")
@pytest.mark.parametrize("board_name", STM32_BOARDS)
def test_cross_builds_for_each_stm32_board_and_report_agrees_with_size(
    board_name: str, ic_graph, tmp_path: Path
) -> None:
    board = get_board(board_name)
    result = export(ic_graph, board, tmp_path / "p", build=True)
    elf = tmp_path / "p" / "build" / "firmware.elf"
    assert result.elf == elf and elf.is_file()
    out = subprocess.run(["arm-none-eabi-size", str(elf)], check=True, capture_output=True, text=True).stdout
    text, data, bss = (int(v) for v in out.splitlines()[1].split()[:3])
    assert result.size is not None
    assert (result.size.flash, result.size.ram) == (text + data, data + bss + board.stack_bytes)
    assert result.size.flash <= board.memory.flash_bytes and result.size.ram <= board.memory.ram_bytes
    # the weights are in flash (text), the arena in RAM (bss)
    assert text > result.estimate.detail["weights"]
    assert bss > result.plan.arena_bytes
    # the estimate made before building is the build's figure within 2 %
    assert abs(result.estimate.flash - result.size.flash) <= 0.02 * result.size.flash
    # arm-none-eabi-size reads the same figures as the report
    assert measure_size(elf, board).to_dict() == result.size.to_dict()


def test_two_exports_are_byte_identical(ic_graph, tmp_path: Path) -> None:
    a = export(ic_graph, "netduinoplus2", tmp_path / "a").out_dir
    b = export(ic_graph, "netduinoplus2", tmp_path / "b").out_dir
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    _, mismatch, errors = filecmp.cmpfiles(a, b, [str(p) for p in files_a], shallow=False)
    assert mismatch == [] and errors == []


def _too_big_tflite(tmp_path: Path) -> Path:
    """A real int8 model with ~600 KB of weights: more than nucleo-f446re's 512 KB of flash."""
    import keras

    from edgesdk.frontends.keras import quantize_keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((1024,), batch_size=1)
    model = keras.Model(inp, keras.layers.Dense(600)(inp))
    path = tmp_path / "big.tflite"
    path.write_bytes(
        quantize_keras(model, np.random.default_rng(0).normal(size=(8, 1024)).astype(np.float32))
    )
    return path


def test_too_big_model_is_refused_with_figures_and_no_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _too_big_tflite(tmp_path)
    out = tmp_path / "big-f446"
    with pytest.raises(BoardError, match=r"does not fit board nucleo-f446re: it needs [\d,]+ bytes of flash"):
        export(read_tflite(model), "nucleo-f446re", out)
    assert not out.exists()
    code = main(["export", str(model), "--board", "stm32", "-o", str(out), "--build"])
    err = capsys.readouterr().err
    assert code == BoardError.exit_code
    assert "524,288" in err and "Traceback" not in err
    assert len([ln for ln in err.splitlines() if "error:" in ln]) == 1
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary folder left


def test_output_folder_that_is_not_an_export_is_left_alone(ic_graph, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(Exception, match="not empty and holds no earlier edgesdk export"):
        export(ic_graph, "host", out)
    assert (out / "notes.txt").read_text(encoding="utf-8") == "keep me"


@pytest.mark.skipif(not (ARM and shutil.which("cmake")), reason="arm-none-eabi-gcc and cmake are needed")
@pytest.mark.parametrize("board_name", ["host", "netduinoplus2"])
def test_cmake_builds_the_same_project(board_name: str, ad_graph, tmp_path: Path) -> None:
    result = export(ad_graph, board_name, tmp_path / "p", build=True)
    cfg = ["cmake", "-S", str(result.out_dir), "-B", str(tmp_path / "cm")]
    if not result.board.is_host:
        cfg.append("-DCMAKE_TOOLCHAIN_FILE=arm-none-eabi.cmake")
    subprocess.run(cfg, check=True, capture_output=True, timeout=120)
    subprocess.run(["cmake", "--build", str(tmp_path / "cm")], check=True, capture_output=True, timeout=300)
    elf = tmp_path / "cm" / "firmware.elf"
    assert elf.is_file()
    # the same sources and flags: flash and RAM as the Makefile build up to link order and alignment padding
    cm = measure_size(elf, result.board)
    assert abs(cm.flash - result.size.flash) <= 64 and abs(cm.ram - result.size.ram) <= 64
