"""A failed link names its cause in the linker's own words and keeps the project and its build.log."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from edgesdk.boards import get_board
from edgesdk.errors import BuildError
from edgesdk.export import build_failure_cause, estimate_memory, export
from edgesdk.planner import plan


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
    need = estimate_memory(ad_graph, plan(ad_graph), real).ram
    # A board whose RAM passes the estimate but not the real link (the harness needs more than estimated).
    small = dataclasses.replace(real, memory=dataclasses.replace(real.memory, ram_bytes=need + 64))
    out = tmp_path / "p"
    with pytest.raises(BuildError) as info:
        export(ad_graph, small, out, build=True)
    msg = str(info.value)
    assert "collect2" not in msg and "ld returned" not in msg
    assert "RAM" in msg and ("overflowed" in msg or "will not fit" in msg or "do not fit" in msg), msg
    assert str(out) in msg
    log = (out / "build.log").read_text(encoding="utf-8")
    assert "arm-none-eabi-gcc" in log and "RAM" in log
    # the kept folder is recognised as an earlier export: the next export may replace it
    ok = export(ad_graph, real, out, build=False)
    assert (ok.out_dir / "report.json").is_file() and not (out / "build.log").exists()
