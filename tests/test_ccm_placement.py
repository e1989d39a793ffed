"""netduinoplus2's 64 KiB of core-coupled RAM (issue 7, item 13): when main RAM is too small, export puts the
stack or the arena there, says so in the report, and the firmware runs bit-exactly on the emulated board."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest

from edgesdk.boards import get_board
from edgesdk.commands.device import validate
from edgesdk.commands.export import export
from edgesdk.compiler.ccm import place
from edgesdk.errors import BoardError


def _shrunk(ram_bytes: int):
    """netduinoplus2 told it has less main RAM (QEMU still has 128 KiB): a real model then needs the CCM."""
    b = get_board("netduinoplus2")
    return dataclasses.replace(
        b,
        name=f"netduinoplus2-{ram_bytes // 1024}k",
        memory=dataclasses.replace(b.memory, ram_bytes=ram_bytes),
    )


def test_board_data_and_placement_choice() -> None:
    b = get_board("netduinoplus2")
    assert (b.memory.ccm_origin, b.memory.ccm_bytes) == (0x20020000, 65536)  # where QEMU 7.2 has it
    assert not place(b, 100_000, 60_000, 8192).used  # fits main RAM: nothing moves
    small = _shrunk(64 * 1024)
    p = place(small, 70_000, 50_000, 8192)
    assert (p.stack_in_ccm, p.arena_in_ccm, p.ram_bytes, p.ccm_bytes) == (True, False, 70_000 - 8192, 8192)
    p = place(small, 100_000, 50_000, 8192)
    assert (p.stack_in_ccm, p.arena_in_ccm, p.ram_bytes) == (False, True, 50_000)
    assert p.why == (
        "main RAM (65,536 B) is too small for 100,000 B: the arena (50,000 B) goes to CCM RAM "
        "(65,536 B at 0x20020000)"
    )
    assert not place(small, 200_000, 100_000, 8192).used  # too big for both: check_fits refuses it


@pytest.mark.emulator
@pytest.mark.skipif(
    not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
    reason="QEMU and arm-none-eabi-gcc are needed",
)
def test_arena_in_ccm_runs_bit_exact_on_the_emulator(ic_graph, tmp_path: Path) -> None:
    board = _shrunk(32 * 1024)  # IC's arena alone (33,792 B with its residual ADDs fused) is larger than that
    with pytest.raises(BoardError, match="does not fit board netduinoplus2-32k"):
        export(
            ic_graph,
            dataclasses.replace(board, memory=dataclasses.replace(board.memory, ccm_bytes=0)),
            tmp_path / "x",
        )
    s = validate(ic_graph, board, count=3, out_dir=tmp_path / "v")
    assert (s.count, s.exact) == (3, 3)
    project = tmp_path / "v" / "project"
    report = (project / "report.md").read_text(encoding="utf-8")
    assert "goes to CCM RAM (65,536 B at 0x20020000)" in report and "the arena" in report
    nm = subprocess.run(
        ["arm-none-eabi-nm", str(project / "build" / "firmware.elf")],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    arena = [line for line in nm.splitlines() if line.endswith("_arena")]
    assert len(arena) == 1 and 0x20020000 <= int(arena[0].split()[0], 16) < 0x20030000
    assert "ARENA_IN_CCM" in (project / "Makefile").read_text()


@pytest.mark.emulator
@pytest.mark.skipif(
    not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
    reason="QEMU and arm-none-eabi-gcc are needed",
)
def test_stack_in_ccm_runs_bit_exact_on_the_emulator(ad_graph, tmp_path: Path) -> None:
    board = _shrunk(8 * 1024)  # AD needs ~12 KiB with its 8 KiB stack: moving the stack is enough
    s = validate(ad_graph, board, count=3, out_dir=tmp_path)
    assert (s.count, s.exact) == (3, 3)
    project = tmp_path / "project"
    assert "the stack (8,192 B) goes to CCM RAM" in (project / "report.md").read_text(encoding="utf-8")
    nm = subprocess.run(
        ["arm-none-eabi-nm", str(project / "build" / "firmware.elf")],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    estack = [line for line in nm.splitlines() if line.endswith(" _estack")]
    assert len(estack) == 1 and int(estack[0].split()[0], 16) == 0x20020000 + 65536
