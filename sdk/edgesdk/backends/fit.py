"""Whether an FPGA design fits its board: the one comparison of a design's resource needs (an estimate, a
vendor synthesis report, yosys cells) with the board's resources, used by the hls4ml and the RTL roads."""

from __future__ import annotations

from typing import Any

from edgesdk.boards import FpgaBoard
from edgesdk.errors import BoardError

#: board resource keys an estimate is compared with, in the order a refusal names them: (key, name of one unit)
FIT_RESOURCES = (
    ("lut", "LUTs"),
    ("ff", "flip-flops"),
    ("dsp", "DSP blocks"),
    ("bram_18k", "BRAM_18K blocks"),
    ("bram_4k", "EBR (4 Kib) blocks"),
    ("spram_256k", "SPRAM (256 Kib) blocks"),
    ("uram", "URAM blocks"),
)


def fit_table(need: dict[str, int], board: FpgaBoard) -> dict[str, dict[str, Any]]:
    """Per resource the board lists: the design's ``need``, the board's ``capacity`` and ``use_pct``."""
    fit = {}
    for key, _ in FIT_RESOURCES:
        cap = board.resources.get(key)
        if cap is not None:
            n = int(need.get(key, 0))
            fit[key] = {"need": n, "capacity": cap, "use_pct": round(100 * n / cap, 1) if cap else None}
    return fit


def check_fit(fit: dict[str, dict[str, Any]], board: FpgaBoard, what: str) -> None:
    """Refuse (BoardError, exit 5) a design whose ``fit`` table needs more of a resource than ``board`` has,
    in one sentence naming every such resource with its need and the capacity."""
    names = dict(FIT_RESOURCES)
    over = [
        f"{row['need']:,} of its {row['capacity']:,} {names.get(key, key)}"
        for key, row in fit.items()
        if row["need"] > row["capacity"]
    ]
    if over:
        raise BoardError(
            f"{what} does not fit board {board.name} ({board.part}): it needs " + " and ".join(over)
        )
