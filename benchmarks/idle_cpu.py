"""Benchmark: host CPU an idle emulated board costs while it waits for the host (QEMU, firmware at rest).

Starts the firmware of an exported project in QEMU as ``edgesdk flash`` does, connects, lets it sit idle and
reads QEMU's user + system CPU time from ``/proc/<pid>/stat`` before and after the idle window. The firmware
sleeps in ``wfi`` until its UART receives a byte; a busy-polling firmware shows up as ~one core.
Writes ``benchmarks/results/idle_cpu.json``.

    python benchmarks/idle_cpu.py path/to/firmware.elf [--board netduinoplus2] [--seconds 5] [--label after]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/<pid>/stat (fields 14 and 15, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(elf: Path, board_name: str, seconds: float) -> dict[str, float]:
    from edgesdk.boards import get_board
    from edgesdk.transport import Emulator

    board = get_board(board_name)
    with Emulator.for_board(board, elf) as emu:
        assert emu.pid is not None
        time.sleep(1.0)  # boot settles
        c0, t0 = cpu_seconds(emu.pid), time.monotonic()
        time.sleep(seconds)
        c1, t1 = cpu_seconds(emu.pid), time.monotonic()
    return {
        "cpu_s": round(c1 - c0, 3),
        "wall_s": round(t1 - t0, 3),
        "core_pct": round(100 * (c1 - c0) / (t1 - t0), 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("elf", type=Path)
    ap.add_argument("--board", default="netduinoplus2")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--label", default="current")
    args = ap.parse_args()
    figures = measure(args.elf, args.board, args.seconds)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "idle_cpu.json"
    data = json.loads(out.read_text()) if out.is_file() else {}
    data[f"{args.board}/{args.label}"] = figures
    out.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(f"{args.board} ({args.label}): idle QEMU used {figures['core_pct']} % of a core", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
