"""Core-coupled RAM (CCM): where the arena and the stack go when a board's main RAM is too small.

STM32F405/407 (netduinoplus2) have 64 KiB of CCM RAM at 0x10000000 beside the 128 KiB of main SRAM: the core
reaches it at full speed, but DMA cannot, and code cannot run from it. (QEMU 7.2's netduinoplus2 does not map
0x10000000 and has those 64 KiB as more SRAM at 0x20020000 instead; its board file says so.) Neither matters for the arena (the
model's activations, touched only by the core) or the stack, so when the estimate says main RAM is too small,
export moves the stack there (smallest change), else the arena, else both — whichever first makes everything
fit — and says so in the report. When the model fits main RAM, nothing moves.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edgesdk.boards import Board
from edgesdk.errors import BoardError, BuildError


@dataclass(frozen=True)
class Placement:
    """Which of the arena and the stack sit in CCM, with the bytes each memory then holds (estimate)."""

    arena_in_ccm: bool = False
    stack_in_ccm: bool = False
    ram_bytes: int = 0
    ccm_bytes: int = 0
    why: str = ""

    @property
    def used(self) -> bool:
        return self.arena_in_ccm or self.stack_in_ccm

    def to_dict(self) -> dict[str, Any]:
        return {
            "arena": "ccm" if self.arena_in_ccm else "ram",
            "stack": "ccm" if self.stack_in_ccm else "ram",
            "ccm_used": self.ccm_bytes,
            "why": self.why,
        }


def place(board: Board, ram_estimate: int, arena: int, stack: int) -> Placement:
    """Choose the placement for an estimated RAM need of ``ram_estimate`` bytes (arena and stack included)."""
    ram, ccm = board.memory.ram_bytes, board.memory.ccm_bytes
    if board.is_host or ram_estimate <= ram or ccm <= 0:
        return Placement(ram_bytes=ram_estimate)
    for arena_in, stack_in in ((False, True), (True, False), (True, True)):
        in_ccm = arena * arena_in + stack * stack_in
        if ram_estimate - in_ccm <= ram and in_ccm <= ccm:
            what = " and ".join(w for w, moved in (("arena", arena_in), ("stack", stack_in)) if moved)
            why = (
                f"main RAM ({ram:,} B) is too small for {ram_estimate:,} B: the {what} ({in_ccm:,} B) "
                f"goes to CCM RAM ({ccm:,} B at 0x{board.memory.ccm_origin:08X})"
            )
            return Placement(arena_in, stack_in, ram_estimate - in_ccm, in_ccm, why)
    return Placement(ram_bytes=ram_estimate)  # does not fit either way: check_fits says so with RAM's figures


_SECTION = re.compile(r"^\.ccm\s+(\d+)\s+", re.M)


def ccm_section_bytes(elf: Path) -> int:
    """Size of the built image's ``.ccm`` section (``arm-none-eabi-size -A``), 0 when it has none."""
    try:
        out = subprocess.run(
            ["arm-none-eabi-size", "-A", str(elf)], check=True, capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise BuildError(f"arm-none-eabi-size -A failed on {elf}: {exc}") from None
    m = _SECTION.search(out)
    return int(m.group(1)) if m else 0


def split_measured(size: Any, elf: Path, board: Board, placement: Placement) -> Any:
    """A measured :class:`MemoryUse` with the ``.ccm`` section taken out of RAM and checked against CCM."""
    if not placement.used:
        return size
    in_ccm = ccm_section_bytes(elf)
    if in_ccm + (board.stack_bytes if placement.stack_in_ccm else 0) > board.memory.ccm_bytes:
        raise BoardError(
            f"board {board.name}: {in_ccm:,} B of arena and {board.stack_bytes if placement.stack_in_ccm else 0:,} B "
            f"of stack do not fit its {board.memory.ccm_bytes:,} B of CCM RAM"
        )
    stack = board.stack_bytes if placement.stack_in_ccm else 0  # the stack reserved in CCM is not main RAM
    return replace(size, ram=size.ram - in_ccm - stack, detail={**size.detail, "ccm": in_ccm})
