"""The analytical estimate of an hls4ml design (no tool needed) and the fit of a design against an FPGA board:
per layer cycles, multipliers, LUT/FF/DSP and weight block RAM, summed for the network."""

from __future__ import annotations

import math
from typing import Any

from edgesdk.backends.fit import fit_table as _fit_table
from edgesdk.boards import FpgaBoard
from edgesdk.reference.binary import WORD

#: block RAM kinds by board resource key: (key, name, bits per block)
BRAM_BLOCKS = (("bram_18k", "BRAM_18K", 18 * 1024), ("bram_4k", "EBR (4 Kib)", 4 * 1024))

#: one int8 multiplier takes one DSP block (DSP48 on Xilinx parts, SB_MAC16 on the iCE40) plus the 32-bit adder
#: and register of its accumulation in the fabric
LUT_PER_MULTIPLIER = 32
FF_PER_MULTIPLIER = 32
#: XNOR unit (FINN's MVAU), weights in block RAM (counted apart): LUTs = 250 + 4 per popcount bit per cycle
#: (XNOR, adder tree, thresholds per PE), FFs = 220 + 1 per 2 popcount bits; a fit to yosys's synth_ice40 figures
#: of the Verilog units at 32 to 512 popcount bits (benchmarks/results/xnor_ice40.json, xnor_conv_ice40.json)
XNOR_LUT_BASE = 250
XNOR_LUT_PER_POPCOUNT_BIT = 4
XNOR_FF_BASE = 220
XNOR_FF_PER_POPCOUNT_BIT = 0.5


def _unit_resources(u: dict[str, Any], dsp_share: int | None, verilog: bool) -> dict[str, Any]:
    """LUT/FF/DSP of one unit. ``dsp_share`` (open-source-only boards) folds its multipliers onto that many DSPs;
    ``verilog``: the XNOR conv is the Verilog window walker, one 32-bit word per PE and cycle."""
    row: dict[str, Any] = {}
    if u["kind"] == "xnor":
        bits = int(u["popcount_bits_per_cycle"])
        if verilog and u.get("conv") and u["simd"] != WORD:
            bits = int(u["pe"]) * WORD
            row["cycles"] = (int(u["mh"]) // int(u["pe"])) * (int(u["mw"]) // WORD) * int(u["pixels"])
            row["note"] = f"{u['note']}; Verilog window walker at SIMD {WORD}: {row['cycles']} cycles"
        lut = XNOR_LUT_BASE + XNOR_LUT_PER_POPCOUNT_BIT * bits
        ff = XNOR_FF_BASE + XNOR_FF_PER_POPCOUNT_BIT * bits
        return row | {"lut": math.ceil(lut), "ff": math.ceil(ff), "dsp": 0}
    mult = int(u.get("multipliers", 0))
    if dsp_share is not None and mult > dsp_share:
        macs = int(u.get("macs", mult))
        row["cycles"] = math.ceil(macs / dsp_share)
        row["note"] = f"{mult} multipliers folded onto {dsp_share} DSP blocks: {row['cycles']} cycles"
        mult = dsp_share
    return row | {"lut": LUT_PER_MULTIPLIER * mult, "ff": FF_PER_MULTIPLIER * mult, "dsp": mult}


def analytical_estimate(units: list[dict[str, Any]], board: FpgaBoard) -> dict[str, Any]:
    """Per-layer figures from the layer shapes alone (no tool): cycles, multipliers, LUT/FF/DSP and weight BRAM,
    summed for the whole network (every layer is its own unit of a dataflow design) and set against the board.

    - XNOR layers (FINN folding): cycles = (MH / PE) * (MW / SIMD) per input;
    - Winograd F(2x2,3x3): 16 multiplications per 4x4 tile and channel pair against 36 for direct 3x3 on the
      same 2x2 outputs (Lavin & Gray, 2016);
    - convolutions: one output element per cycle (the channel loop is pipelined at II=1), every tap and input
      channel of that element in parallel;
    - weight storage: ceil(bits / block) block RAMs per layer (BRAM_18K on Xilinx parts, 4 Kib EBR on iCE40);
    - LUT/FF/DSP: one DSP block and a 32-bit accumulator per int8 multiplier, the XNOR units by a fit to yosys
      (constants above). Requantization, pooling and the glue between layers are not counted.

    On a board without a vendor HLS flow (the iCE40) the int8 layers are generated for the board, so their
    multipliers are folded onto an equal share of its DSP blocks and an XNOR conv is the Verilog window walker
    (the notes say so); on a vendor flow the
    hls4ml project fixes the parallelism and the estimate keeps it. ``fit`` has, per resource of the board,
    ``need``, ``capacity`` and ``use_pct``.
    """
    block_key, block_name, block_bits = next(
        (b for b in BRAM_BLOCKS if b[0] in board.resources), BRAM_BLOCKS[0]
    )
    mult_units = [u for u in units if u["kind"] != "xnor" and int(u.get("multipliers", 0))]
    dsp_share = None
    if not board.hls_backend and mult_units and "dsp" in board.resources:
        dsp_share = max(1, board.resources["dsp"] // len(mult_units))
    layers = []
    total_cycles = 0
    totals = {"lut": 0, "ff": 0, "dsp": 0, "bram": 0}
    for u in units:
        row = dict(u)
        bits = int(u.get("weight_bits", 0))
        row["bram"] = math.ceil(bits / block_bits) if bits else 0
        row.update(_unit_resources(u, dsp_share, not board.hls_backend))
        for key in totals:
            totals[key] += int(row[key])
        total_cycles += int(row.get("cycles", 0))
        layers.append(row)
    need = {"lut": totals["lut"], "ff": totals["ff"], "dsp": totals["dsp"], block_key: totals["bram"]}
    fit = _fit_table(need, board)
    avail = board.resources.get(block_key)
    return {
        "layers": layers,
        "total_cycles": total_cycles,
        "bram_kind": block_name,
        "total_weight_bram": totals["bram"],
        "available_bram": avail,
        "totals": {k: totals[k] for k in ("lut", "ff", "dsp")} | {block_key: totals["bram"]},
        "fit": fit,
        "clock_hz": board.clock_hz,
        "latency_us": total_cycles / board.clock_hz * 1e6 if total_cycles else None,
    }


def synthesis_fit(synthesis: dict[str, Any], board: FpgaBoard) -> dict[str, dict[str, Any]]:
    """The fit table of a vendor synthesis report (its LUT/FF/DSP/BRAM_18K against the board)."""
    return _fit_table({k: v for k, v in synthesis["resources"].items() if v is not None}, board)


#: yosys synth_ice40 cell types by board resource key
ICE40_CELLS = {
    "lut": ("SB_LUT4",),
    "dsp": ("SB_MAC16",),
    "bram_4k": ("SB_RAM40_4K",),
    "spram_256k": ("SB_SPRAM256KA",),
}


def rtl_fit(rows: list[dict[str, Any]], board: FpgaBoard) -> dict[str, Any]:
    """The Verilog layers are synthesized one at a time; on the board they sit side by side, so their yosys
    cells are summed over the layers and set against the board (empty without place and route)."""
    placed = [row["ice40"]["cells"] for row in rows if row.get("ice40")]
    if not placed:
        return {}
    need = {key: sum(c.get(t, 0) for c in placed for t in types) for key, types in ICE40_CELLS.items()}
    need["ff"] = sum(v for c in placed for t, v in c.items() if t.startswith("SB_DFF"))
    return _fit_table(need, board)
