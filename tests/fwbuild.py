"""Builds the device harness around the hand-written test model (tests/data/fw_tiny_model.c) for a board,
through firmware/edgesdk.mk and templates/firmware/linker.ld.j2, as an exported project does."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from edgesdk.boards import get_board
from edgesdk.commands.export import render_linker_script as export_linker_script
from edgesdk.util.resources import firmware_dir

TINY_MODEL = Path(__file__).resolve().parent / "data" / "fw_tiny_model.c"
TINY_IN, TINY_OUT = 1500, 750
TINY_OUT_SCALE, TINY_OUT_ZP = 0.25, 1


def tiny_reference(x: np.ndarray) -> np.ndarray:
    """What fw_tiny_model.c computes: sat8(sat8(x + 5) pairwise summed)."""
    t = np.clip(x.astype(np.int32) + 5, -128, 127)
    return np.clip(t[0::2] + t[1::2], -128, 127).astype(np.int8)


def render_linker_script(board_name: str, out: Path) -> Path:
    return export_linker_script(get_board(board_name), out)


def build_tiny(board_name: str, out_dir: Path, extra_cflags: str = "", mlperf_model: str = "ad01") -> Path:
    """firmware.elf of the harness + tiny model for ``board_name``; raises CalledProcessError on failure."""
    board = get_board(board_name)
    out_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "make", "-s", "-f", str(firmware_dir() / "edgesdk.mk"), "edgesdk_firmware",
        f"BOARD_FAMILY={board.family}", f"BUILD_DIR={out_dir}", f"MODEL_SRCS={TINY_MODEL}",
        f"BOARD_NAME={board.name}", f"CLOCK_HZ={board.clock_hz}", f"MLPERF_MODEL={mlperf_model}",
        f"EMULATED={1 if board.emulated else 0}", "PROFILE=1",
        f"ICOUNT_SHIFT={board.emulator.icount_shift if board.emulator else 0}",
    ]  # fmt: skip
    cflags = " ".join(board.build.cflags) + " " + extra_cflags
    if board.family == "host":
        args += [f"CC={board.build.cc or 'gcc'}", f"CFLAGS={cflags}"]
    else:
        ld = render_linker_script(board_name, out_dir / "linker.ld")
        args += [
            f"CC={board.build.cc}", f"CFLAGS={cflags}", f"LDFLAGS={' '.join(board.build.ldflags)}",
            f"LINKER_SCRIPT={ld}", f"UART_BASE=0x{board.uart.base:08X}", f"UART_BAUD={board.uart.baud}",
        ]  # fmt: skip
    subprocess.run(args, check=True, timeout=120, capture_output=True, text=True)
    return out_dir / "firmware.elf"
