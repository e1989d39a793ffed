"""XNOR convolution unit on the iCE40 UP5K (iCEBreaker): area and Fmax over PE foldings.

A 3x3 SAME binary convolution on an odd 5x7 map of 40 channels (two words, the second partial) to 12
channels, random bits and weights, per-channel thresholds with some flipped and one constant channel (seed
11, as in ``tests/test_hls_rtl_conv.py``). Each folding is generated from ``hls/rtl/xnor_conv.v.j2``, checked
in Icarus Verilog against the reference's XNOR convolution on 8 maps, then synthesized with yosys
``synth_ice40`` and placed with nextpnr-ice40 (UP5K, SG48). Writes ``benchmarks/results/xnor_conv_ice40.json``.

    PYTHONPATH=sdk python3 benchmarks/xnor_conv_ice40.py
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

PES = (1, 2, 4)
H, W, C, OUT = 5, 7, 40, 12

log = logging.getLogger("xnor_conv_ice40")


def main() -> int:
    from edgesdk.backends.hls.rtl import synth_ice40
    from edgesdk.backends.hls.rtl_conv import simulate_conv, xnor_conv_verilog
    from edgesdk.ir.binary import XnorConv2D
    from edgesdk.reference.binary import pack_bits
    from edgesdk.reference.xnor import bytes_to_words, words_to_bytes, xnor_conv2d

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rng = np.random.default_rng(11)
    w = pack_bits(rng.random((OUT, 3, 3, C)) < 0.5)
    thr = rng.integers(-30, 31, OUT)
    flip = rng.random(OUT) < 0.3
    thr[0] = 1 << 30
    node = XnorConv2D(
        name="conv",
        inputs=["x", "w"],
        outputs=["y"],
        in_channels=C,
        out_channels=OUT,
        kernel=(3, 3),
        threshold=tuple(int(t) for t in thr),
        flip=tuple(bool(f) for f in flip),
    )
    maps = pack_bits(rng.random((8, H, W, C)) < 0.5)
    want = bytes_to_words(xnor_conv2d(None, node, {}, [words_to_bytes(maps), w.view(np.int32)], ""))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for pe in PES:
            design = xnor_conv_verilog(w, (H, W, C), thr, flip, kernel=(3, 3), pe=pe, module=f"xconv_pe{pe}")
            got, cycles = simulate_conv(design, maps, work / f"sim{pe}")
            fig = synth_ice40(design, work / f"pnr{pe}")
            row = {
                "pe": pe,
                "simd_bits": 32,
                "cycles_per_pixel": design.cycles,
                "cycles_per_map": max(cycles),
                "simulated_maps": len(maps),
                "rtl_equals_reference": bool(np.array_equal(got, want.reshape(got.shape))),
                "lut4": fig["lut4"],
                "dff": fig["dff"],
                "carry": fig["carry"],
                "bram_4k": fig["cells"].get("SB_RAM40_4K", 0),
                "yosys_cells": fig["yosys_cells"],
                "logic_cells_placed": fig["placed"].get("ICESTORM_LC", {}).get("used"),
                "logic_cells_available": fig["placed"].get("ICESTORM_LC", {}).get("available"),
                "fmax_mhz": fig["fmax_mhz"],
            }
            rows.append(row)
            log.info("%s", json.dumps(row))
    out = Path(__file__).resolve().parent / "results" / "xnor_conv_ice40.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "device": "iCE40 UP5K (SG48), yosys synth_ice40 + nextpnr-ice40",
                "layer": f"XNOR conv 3x3 SAME, {H}x{W}x{C} -> {H}x{W}x{OUT}, window walker, map in block RAM",
                "foldings": rows,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return 0 if all(r["rtl_equals_reference"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
