"""A failed link names its cause in the linker's own words and keeps the project and its build.log."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from edgesdk.boards import get_board
from edgesdk.commands.export import build_failure_cause, estimate_memory, export
from edgesdk.compiler.planner import plan
from edgesdk.errors import BuildError


def test_cause_is_the_linkers_first_error() -> None:
    log = (
        "arm-none-eabi-gcc ... -o build/firmware.elf\n"
        "/usr/bin/ld: build/firmware.elf section `.bss' will not fit in region `RAM'\n"
        "/usr/bin/ld: region `RAM' overflowed by 1234 bytes\n"
        "collect2: error: ld returned 1 exit status\nmake: *** [firmware.elf] Error 1\n"
    )
    assert build_failure_cause(log) == "will not fit in region `RAM'"
    log2 = "x.o: in function `f':\nx.c:(.text+0x8): relocation truncated to fit: R_ARM_THM_CALL against `g'\n"
    assert build_failure_cause(log2) == "relocation truncated to fit: R_ARM_THM_CALL against `g'"
    assert build_failure_cause("collect2: error: ld returned 1 exit status\n") != ""


def test_link_that_overflows_ram_says_so_and_keeps_the_log(ad_graph, tmp_path: Path) -> None:
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed")
    real = get_board("netduinoplus2")
    need = estimate_memory(ad_graph, plan(ad_graph), real).ram  # without a compiler: arena, buffers, stack
    # A board whose RAM passes that estimate but not the real link: the export's own check is the compiled
    # objects' (exact), so the estimate given here is the coarse one, as on a machine without the compiler.
    small = dataclasses.replace(real, memory=dataclasses.replace(real.memory, ram_bytes=need + 64))
    out = tmp_path / "p"
    with pytest.raises(BuildError) as info:
        _export_with_coarse_estimate(ad_graph, small, out)
    msg = str(info.value)
    assert "collect2" not in msg and "ld returned" not in msg
    assert "RAM" in msg and ("overflowed" in msg or "will not fit" in msg or "do not fit" in msg), msg
    assert str(out) in msg
    log = (out / "build.log").read_text(encoding="utf-8")
    assert "arm-none-eabi-gcc" in log and "RAM" in log
    # the kept folder is recognised as an earlier export: the next export may replace it
    ok = export(ad_graph, real, out, build=False)
    assert (ok.out_dir / "report.json").is_file() and not (out / "build.log").exists()


def _export_with_coarse_estimate(graph, board, out: Path):
    """``export(build=True)`` whose pre-build fit check uses the no-compiler estimate (the board's compiler is
    not found by the estimate, the build still uses it)."""
    from edgesdk.compiler import footprint

    real = footprint.compiler_available
    footprint.compiler_available = lambda cc: False  # type: ignore[assignment]
    try:
        return export(graph, board, out, build=True)
    finally:
        footprint.compiler_available = real  # type: ignore[assignment]
