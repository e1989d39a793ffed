"""``edgesdk synth`` for a whole network in Verilog on a board without a vendor HLS flow (the iCEBreaker's
iCE40 UP5K): estimate and refuse what cannot fit, simulate against the reference, synthesize, place and route,
write the bitstream and the report (``report.json``/``report.md``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgesdk.boards import FpgaBoard
from edgesdk.ir import graph as ir

log = logging.getLogger(__name__)


def board_power(fb: FpgaBoard) -> dict[str, float]:
    """The ``[power]`` figures of the board file (datasheet values), empty when it has none."""
    from edgesdk.boards import _read_toml

    data = _read_toml(fb.path, str(fb.path))
    return {k: float(v) for k, v in data.get("power", {}).items() if isinstance(v, (int, float))}


def family_of(fb: FpgaBoard) -> str:
    """The FPGA family of a board's part ("ice40" or "ecp5"): which cells, block RAMs and tools apply."""
    return "ecp5" if fb.part.lower().startswith("lfe5") else "ice40"


def estimate_fit(
    graph: ir.Graph, fb: FpgaBoard, say: Callable[[str], None], enforce_fit: bool = True, parallel: int = 1
) -> dict[str, Any]:
    """The estimate of ``graph``'s Verilog network (:func:`~edgesdk.backends.rtl.network.estimate_network`) with
    a MAC array of ``parallel`` lanes (0: the largest power of two up to
    :data:`~edgesdk.backends.rtl.network.MAX_PARALLEL` whose estimate fits ``fb``'s block RAM and DSP blocks,
    else 1); with ``enforce_fit``, BoardError (exit 5) when it needs more EBR or DSP blocks than ``fb`` has."""
    from edgesdk.backends.fit import check_fit
    from edgesdk.backends.fit import fit_table as _fit_table
    from edgesdk.backends.rtl.network import MAX_PARALLEL, estimate_network, network_verilog

    family = family_of(fb)
    bram = "bram_4k" if family == "ice40" else "bram_18k"
    tries = [parallel] if parallel else [1 << i for i in range(MAX_PARALLEL.bit_length() - 1, -1, -1)]
    for p in tries:
        est = estimate_network(network_verilog(graph, parallel=p), family)
        fit = _fit_table({bram: est["total_bram"], "dsp": est["total_dsp"]}, fb)
        est["fit"] = {k: v for k, v in fit.items() if k in (bram, "dsp")}
        est["parallel"] = p
        if all(r["need"] <= r["capacity"] for r in est["fit"].values()):
            break
    say(
        f"estimate of the Verilog network (MAC arrays of {est['parallel']} lane"
        f"{'s' if est['parallel'] > 1 else ''}): {est['total_bram']} {est['bram_kind']}, {est['total_dsp']} DSP "
        "blocks, "
        f"{est['compute_cycles']:,} cycles per inference"
    )
    if enforce_fit:
        check_fit(est["fit"], fb, f"the Verilog network of {graph.name}")
    return est


def rtl_synth(
    graph: ir.Graph,
    fb: FpgaBoard,
    out: Path,
    data: Any,
    *,
    place_and_route: bool = True,
    say: Callable[[str], None] | None = None,
    enforce_fit: bool = True,
    estimate: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole network ``graph`` in Verilog for ``fb``: refused (BoardError, exit 5) before anything is written
    when the estimate needs more block RAM or DSP blocks than the board has, and after yosys when its cells do;
    otherwise simulated on ``data`` (int8 inputs) and, with ``place_and_route``, placed, routed and packed into
    ``out/rtl/pnr/<top>.bin``. Returns the report (also written as ``report.json`` and ``report.md``)."""
    from edgesdk.backends.fit import check_fit
    from edgesdk.backends.fit import fit_table as _fit_table
    from edgesdk.backends.rtl.flow import energy_estimate, whole_network

    say = say or (lambda line: log.info("%s", line))
    est = estimate if estimate is not None else estimate_fit(graph, fb, say, enforce_fit)
    out.mkdir(parents=True, exist_ok=True)
    family = family_of(fb)
    rtl = whole_network(
        graph,
        data,
        out / "rtl",
        family=family,
        pnr=place_and_route,
        on_progress=say,
        parallel=int(est.get("parallel", 1)),
    )
    fig = rtl["yosys"]
    rtl["fit"] = _fit_table(
        {
            "lut": fig["lut4"],
            "ff": fig["dff"],
            "dsp": fig["dsp"],
            "bram_4k" if family == "ice40" else "bram_18k": fig["ebr"],
            "spram_256k": fig["spram"],
        },
        fb,
    )
    cycles = int(rtl["compute_cycles"] or est["compute_cycles"])
    pnr = rtl.get("pnr") or {}
    fmax = pnr.get("fmax_mhz")
    clock = min(fb.clock_hz, fmax * 1e6) if fmax else fb.clock_hz
    rtl["clock_hz"] = clock
    rtl["inferences_per_s"] = round(clock / (cycles + rtl["io_cycles"]), 1)
    rtl["latency_us"] = round(cycles / clock * 1e6, 2)
    power = board_power(fb)
    if power:
        cells = pnr.get("placed", {}).get("ICESTORM_LC", {}).get("used", fig["lut4"])
        rtl["energy"] = energy_estimate(power, clock, cycles + rtl["io_cycles"], cells)
    report = {
        "model": graph.name,
        "source": graph.source,
        "sha256": graph.sha256,
        "board": fb.to_dict(),
        "flow": "verilog-network",
        "estimate": est,
        "rtl_network": rtl,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    (out / "report.md").write_text(_markdown(report), encoding="utf-8")
    if enforce_fit:
        check_fit(rtl["fit"], fb, f"the synthesized Verilog network of {graph.name} (report in {out})")
    return report


def _markdown(report: dict[str, Any]) -> str:
    rtl, b = report["rtl_network"], report["board"]
    fig, pnr = rtl["yosys"], rtl.get("pnr") or {}
    lines = [
        f"# {report['model']} on {b['name']} ({b['part']}): the whole network in Verilog",
        "",
        f"Verilog: `{rtl['verilog']}` (top `{rtl['top']}`)",
        "",
        f"## Simulation against the reference ({rtl['simulator']})",
        "",
        f"- inputs: {rtl['inputs']}; bit-exact: **{rtl['bit_exact_count']}/{rtl['inputs']}**",
        f"- compared tensor: `{rtl['compared_tensor']}`"
        + (
            f" (the trailing softmax `{rtl['host_softmax']}` runs on the host)" if rtl["host_softmax"] else ""
        ),
        f"- cycles per inference: {rtl['compute_cycles']:,} compute + {rtl['io_cycles']} streaming the input "
        "and output bytes",
        "",
        "## Per layer: estimate against the Verilog",
        "",
        "| layer | kind | cycles (estimate) | cycles (simulated) | block RAM (estimate) | block RAM (yosys) | LUT4 | DFF "
        "| DSP |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rtl["layers"]:
        y = r["yosys"]
        lines.append(
            f"| {r['layer']} | {r['kind']} | {r['estimate_cycles']:,} | {r['simulated_cycles']:,} | "
            f"{r['estimate_bram']} | {y['ebr']} | {y['lut4']:,} | {y['dff']:,} | {y['dsp']} |"
        )
    for name, y in rtl.get("shared_units", {}).items():
        lines.append(
            f"| ({name}, shared by the int8 layers, one of {y.get('units', 1)}) | unit | | | | {y['ebr']} | "
            f"{y['lut4']:,} | {y['dff']:,} | "
            f"{y['dsp']} |"
        )
    lines += [
        "",
        f"## The whole design (yosys, nextpnr-{rtl['family']})",
        "",
        f"- LUT4 {fig['lut4']:,}, DFF {fig['dff']:,}, block RAM {fig['ebr']}, SPRAM {fig['spram']}, "
        f"DSP {fig['dsp']}",
    ]
    if pnr:
        lines += [
            f"- Fmax {pnr['fmax_mhz']} MHz after routing; bitstream `{pnr['bitstream']}` "
            f"({pnr['bitstream_bytes']:,} bytes)",
        ]
    lines += [
        f"- at {rtl['clock_hz'] / 1e6:g} MHz: {rtl['latency_us']:,} us per inference, "
        f"{rtl['inferences_per_s']:,} inferences/s",
    ]
    if rtl.get("energy"):
        e = rtl["energy"]
        lines.append(
            f"- energy estimate (board power figures): {e['total_mw']} mW, {e['uj_per_inference']} uJ per inference"
        )
    fit = rtl.get("fit") or {}
    if fit:
        lines += ["", "| resource | need | capacity | use |", "|---|---:|---:|---:|"]
        for k, r in fit.items():
            lines.append(f"| {k} | {r['need']:,} | {r['capacity']:,} | {r['use_pct']} % |")
    return "\n".join(lines) + "\n"


__all__ = ["board_power", "estimate_fit", "family_of", "rtl_synth"]
