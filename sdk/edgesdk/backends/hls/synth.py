"""``edgesdk synth``: write the hls4ml project, C-simulate it against ``reference/``, synthesize when a vendor
HLS tool is installed, and report.

C-simulation compiles the hls4ml project with the host g++ (hls4ml's ``compile()``, bundled ``ap_types``) and
runs it on the inputs with every layer traced; each traced layer is compared with the reference interpreter's
tensor bit for bit, so a mismatch names the first differing layer. Synthesis runs the tool hls4ml's own build
would run (``vitis-run --mode hls``, ``vitis_hls`` or ``vivado_hls`` on ``build_prj.tcl``) and its
``*_csynth.xml`` report is parsed (latency, initiation interval, LUT/FF/DSP/BRAM). Without a tool, the report
carries an analytical estimate instead and one sentence saying why synthesis was skipped.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import logging
import math
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.backends.fit import FIT_RESOURCES, check_fit
from edgesdk.backends.fit import fit_table as _fit_table
from edgesdk.boards import FpgaBoard, get_fpga_board
from edgesdk.errors import BuildError
from edgesdk.escape import safe_file_stem
from edgesdk.ir import graph as ir
from edgesdk.procutil import folder_lock
from edgesdk.progress import progress
from edgesdk.reference.binary import WORD

log = logging.getLogger(__name__)

#: vendor tools in the order they are tried: (executable, hls4ml backend)
VENDOR_TOOLS = (("vitis-run", "Vitis"), ("vitis_hls", "Vitis"), ("vivado_hls", "Vivado"))
SYNTH_TIMEOUT_S = 6 * 3600
#: block RAM kinds by board resource key: (key, name, bits per block)
BRAM_BLOCKS = (("bram_18k", "BRAM_18K", 18 * 1024), ("bram_4k", "EBR (4 Kib)", 4 * 1024))
DEFAULT_COUNT = 4


@dataclass
class SynthResult:
    """What ``synth`` did: C-simulation against the reference, the estimate, and synthesis when it ran.

    ``bit_exact`` is True only when every traced layer of every input equals the reference (and, on an
    open-source-only board, every XNOR layer's Verilog simulation too); ``report`` is ``report.json``.
    """

    out_dir: Path
    board: FpgaBoard
    bit_exact: bool
    inputs: int
    mismatches: list[dict[str, Any]]
    first_mismatch_layer: str | None
    estimate: dict[str, Any]
    synthesis: dict[str, Any] | None
    skipped_reason: str | None
    report: dict[str, Any] = field(default_factory=dict)


# --- vendor tools ------------------------------------------------------------------------------------------------


def find_vendor_tool() -> tuple[str, str] | None:
    """(executable path, hls4ml backend) of the first vendor HLS tool on PATH, or None."""
    for exe, backend in VENDOR_TOOLS:
        path = shutil.which(exe)
        if path:
            return path, backend
    return None


def run_synthesis(project_dir: Path, exe: str, timeout: float = SYNTH_TIMEOUT_S) -> Path:
    """Run C synthesis of the hls4ml project in ``project_dir`` with ``exe``; return the csynth.xml it wrote."""
    name = Path(exe).name
    opts = {
        "reset": 0,
        "csim": 0,
        "synth": 1,
        "cosim": 0,
        "validation": 0,
        "export": 0,
        "vsynth": 0,
        "fifo_opt": 0,
    }
    (project_dir / "build_opt.tcl").write_text(
        "array set opt {\n" + "".join(f"    {k} {v}\n" for k, v in opts.items()) + "}\n", encoding="utf-8"
    )
    if name == "vitis-run":
        cmd = [exe, "--tcl", "build_prj.tcl", "--mode", "hls"]
    else:
        cmd = [exe, "-f", "build_prj.tcl", " ".join(f"{k}={v}" for k, v in opts.items())]
    log.info("synthesizing with %s in %s", " ".join(cmd), project_dir)
    try:
        with open(project_dir / "synth.log", "w", encoding="utf-8") as logf:
            subprocess.run(
                cmd, cwd=project_dir, check=True, timeout=timeout, stdout=logf, stderr=subprocess.STDOUT
            )
    except subprocess.CalledProcessError as exc:
        raise BuildError(
            f"synthesis with {name} failed (exit {exc.returncode}); see {project_dir / 'synth.log'}"
        ) from None
    except subprocess.TimeoutExpired:
        raise BuildError(f"synthesis with {name} did not finish within {timeout:.0f} s") from None
    reports = sorted(project_dir.glob("**/syn/report/*_csynth.xml"))
    if not reports:
        raise BuildError(f"synthesis with {name} wrote no csynth.xml report under {project_dir}")
    top = [r for r in reports if r.parent.parent.parent.name.startswith("solution")]
    return (top or reports)[0]


def _num(root: ET.Element, path: str) -> float | None:
    node = root.find(path)
    if node is None or node.text is None:
        return None
    text = node.text.strip()
    try:
        return float(text)
    except ValueError:
        return None


def parse_csynth_report(path: Path) -> dict[str, Any]:
    """Latency, initiation interval, clock and LUT/FF/DSP/BRAM from a Vivado/Vitis HLS ``*_csynth.xml``."""
    try:
        text = path.read_text(encoding="utf-8")
        root = ET.fromstring(re.sub(r'\sxmlns="[^"]+"', "", text, count=1))
    except (OSError, ET.ParseError) as exc:
        raise BuildError(f"synthesis report {path} cannot be read: {exc}") from None
    lat = "PerformanceEstimates/SummaryOfOverallLatency/"

    def as_int(v: float | None) -> int | None:
        return None if v is None else int(v)

    res: dict[str, int | None] = {}
    avail: dict[str, int | None] = {}
    for key, tags in (
        ("lut", ("LUT",)),
        ("ff", ("FF",)),
        ("dsp", ("DSP", "DSP48E")),
        ("bram_18k", ("BRAM_18K",)),
    ):
        for tag in tags:
            v = _num(root, f"AreaEstimates/Resources/{tag}")
            if v is not None:
                res[key] = int(v)
                avail[key] = as_int(_num(root, f"AreaEstimates/AvailableResources/{tag}"))
                break
    top = root.find("UserAssignments/TopModelName")
    return {
        "report": str(path),
        "top": top.text if top is not None else None,
        "target_clock_ns": _num(root, "UserAssignments/TargetClockPeriod"),
        "estimated_clock_ns": _num(root, "PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod"),
        "latency_best_cycles": as_int(_num(root, lat + "Best-caseLatency")),
        "latency_worst_cycles": as_int(_num(root, lat + "Worst-caseLatency")),
        "interval_min_cycles": as_int(_num(root, lat + "Interval-min")),
        "interval_max_cycles": as_int(_num(root, lat + "Interval-max")),
        "resources": res,
        "available": avail,
    }


# --- estimate ----------------------------------------------------------------------------------------------------

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


# --- C-simulation ------------------------------------------------------------------------------------------------


def csim_compare(
    graph: ir.Graph, hls_model: Any, plan: Any, data: np.ndarray, rounding: str = "double"
) -> tuple[list[dict[str, Any]], str | None]:
    """Run the compiled hls4ml model on ``data`` with every layer traced, compare each traced layer with the
    reference bit for bit. Returns (mismatches, first differing IR layer)."""
    from edgesdk.reference import Reference

    ref = Reference(graph, rounding=rounding)
    mismatches: list[dict[str, Any]] = []
    first_layer: str | None = None
    order = {t.name: i for i, t in enumerate(graph.activation_tensors())}
    out_name = graph.outputs[0]
    n = len(data)
    expected = ref.run_batch_all(data)
    # hls4ml's trace() (re)compiles the project with tracing on, then runs every sample through it
    try:
        with contextlib.redirect_stdout(_LogWriter()):
            y, trace = hls_model.trace(data.reshape(n, -1).astype(np.float64))
    except Exception as exc:  # hls4ml raises a bare Exception when g++ fails
        raise BuildError(f"C-simulation build of {hls_model.config.get_output_dir()} failed: {exc}") from None
    y = np.asarray(y[0] if isinstance(y, list) else y).reshape(n, -1).astype(np.int64)
    for i in progress(range(n), total=n, desc="C-simulation compare"):
        bad: list[tuple[int, str, str]] = []
        for layer, tensor in plan.traced.items():
            if layer == plan.input_layer or layer not in trace:
                continue
            want_raw = expected[tensor][i]
            if tensor in getattr(plan, "packed", ()):  # bytes in the IR, uint32 words in the design
                want_raw = np.ascontiguousarray(want_raw, dtype=np.int8).view("<u4")
            want = want_raw.reshape(-1).astype(np.int64)
            got = np.asarray(trace[layer][i]).reshape(-1)
            if got.size != want.size or not np.array_equal(got.astype(np.int64), want):
                bad.append((order.get(tensor, 1 << 30), plan.node_of.get(layer, layer), tensor))
        want_out = expected[out_name][i].reshape(-1).astype(np.int64)
        out_equal = y[i].size == want_out.size and np.array_equal(y[i], want_out)
        if bad or not out_equal:
            bad.sort()
            layer_name = bad[0][1] if bad else graph.nodes[-1].name
            mismatches.append(
                {
                    "input": i,
                    "output_equal": bool(out_equal),
                    "first_layer": layer_name,
                    "max_abs_diff": int(np.max(np.abs(y[i] - want_out)))
                    if y[i].size == want_out.size
                    else None,
                    "layers": [b[1] for b in bad],
                }
            )
            if first_layer is None:
                first_layer = layer_name
    return mismatches, first_layer


class _LogWriter(io.StringIO):
    """hls4ml prints progress on stdout; send it to the log instead (the CLI owns stdout)."""

    def write(self, text: str) -> int:
        if text.strip():
            log.info("hls4ml: %s", text.strip())
        return len(text)


# --- reports -----------------------------------------------------------------------------------------------------


def _markdown(report: dict[str, Any]) -> str:
    csim = report["csim"]
    lines = [
        f"# {report['model']} on {report['board']['name']} ({report['board']['part']})",
        "",
        f"hls4ml project: `{report['project']}` (backend {report['hls_backend']}, io_parallel, "
        f"clock {report['board']['clock_hz'] / 1e6:g} MHz)",
        "",
        "## C-simulation against the reference",
        "",
        f"- inputs: {csim['inputs']}",
        f"- bit-exact: **{'yes' if csim['bit_exact'] else 'no'}**",
    ]
    if csim["mismatches"]:
        lines.append(f"- first differing layer: `{csim['first_mismatch_layer']}`")
        lines.append(f"- inputs with differences: {len(csim['mismatches'])}")
    est = report["estimate"]
    lines += [
        "",
        "## Analytical estimate",
        "",
        f"| layer | kind | cycles | multipliers | LUT | FF | DSP | weight {est['bram_kind']} | notes |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in est["layers"]:
        lines.append(
            f"| {row['layer']} | {row['kind']} | {row.get('cycles', '')} | {row.get('multipliers', '')} | "
            f"{row['lut']:,} | {row['ff']:,} | {row['dsp']:,} | {row['bram']} | {row.get('note', '')} |"
        )
    t = est["totals"]
    lines.append(
        f"| **total** | | {est['total_cycles']:,} | | {t['lut']:,} | {t['ff']:,} | {t['dsp']:,} | "
        f"{est['total_weight_bram']} | |"
    )
    lines += [
        "",
        f"Total: {est['total_cycles']:,} cycles"
        + (f" ({est['latency_us']:.1f} us at {est['clock_hz'] / 1e6:g} MHz)" if est["latency_us"] else "")
        + f", {est['total_weight_bram']} {est['bram_kind']} for weights"
        + (f" of {est['available_bram']}" if est["available_bram"] else "")
        + ". The estimate counts the multipliers, XNOR units and weight memories, not requantization or glue.",
        "",
        *_fit_markdown(est["fit"], f"Estimate against {report['board']['name']}"),
    ]
    if report.get("plots"):
        lines += ["", f"![estimated cycles per layer]({report['plots']['estimate_cycles']})"]
    lines += [
        "",
        "## Synthesis",
        "",
    ]
    syn = report.get("synthesis")
    if syn:
        r = syn["resources"]
        lines += [
            f"- tool: {syn['tool']}; report `{syn['report']}`",
            f"- latency: {syn['latency_best_cycles']}-{syn['latency_worst_cycles']} cycles, "
            f"II {syn['interval_min_cycles']}-{syn['interval_max_cycles']}",
            f"- clock: target {syn['target_clock_ns']} ns, estimated {syn['estimated_clock_ns']} ns",
            "- resources: " + ", ".join(f"{k.upper()} {v}" for k, v in r.items()),
        ]
    else:
        lines.append(report["synthesis_skipped"])
    if syn:
        lines += ["", *_fit_markdown(syn.get("fit", {}), f"Synthesis against {report['board']['name']}")]
    rtl = report.get("rtl")
    if rtl:
        lines += [
            "",
            "## Open-source path: XNOR layers in Verilog (Icarus Verilog, yosys, nextpnr-ice40)",
            "",
            "| layer | MH x MW | PE | SIMD | cycles | RTL == reference | LUT4 | DFF | Fmax MHz |",
            "|---|---|---:|---:|---:|---|---:|---:|---:|",
        ]
        for row in rtl["layers"]:
            ice = row.get("ice40", {})
            lines.append(
                f"| {row['layer']} | {row['mh']} x {row['mw']} | {row['pe']} | {row['simd']} | "
                f"{row['cycles_per_vector']} | {'yes' if row['rtl_equals_reference'] else 'NO'} | "
                f"{ice.get('lut4', '')} | {ice.get('dff', '')} | {ice.get('fmax_mhz', '')} |"
            )
        if rtl.get("fit"):
            lines += ["", *_fit_markdown(rtl["fit"], "The Verilog layers together (yosys cells summed)")]
    return "\n".join(lines) + "\n"


def _fit_markdown(fit: dict[str, dict[str, Any]], title: str) -> list[str]:
    """A fit table: per board resource the need, the capacity and the use in %."""
    if not fit:
        return []
    names = dict(FIT_RESOURCES)
    lines = [f"{title}:", "", "| resource | need | capacity | use |", "|---|---:|---:|---:|"]
    for key, row in fit.items():
        pct = f"{row['use_pct']:.1f} %" if row["use_pct"] is not None else ""
        lines.append(f"| {names.get(key, key)} | {row['need']:,} | {row['capacity']:,} | {pct} |")
    return lines


def _html(markdown: str, report: dict[str, Any]) -> str:
    body = html.escape(markdown)
    img = ""
    if report.get("plots"):
        img = f"<img src='{html.escape(report['plots']['estimate_cycles'])}' alt='estimated cycles per layer'>\n"
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'><title>edgesdk synth</title></head>\n"
        f"<body><pre>{body}</pre>\n{img}</body></html>\n"
    )


# --- the command -------------------------------------------------------------------------------------------------


def synth(
    graph: ir.Graph,
    board: str | FpgaBoard = "pynq-z2",
    out_dir: str | Path | None = None,
    *,
    inputs: Any = None,
    count: int | None = None,
    run_vendor: bool = True,
    hls_graph: ir.Graph | None = None,
    winograd: bool = False,
    place_and_route: bool = True,
    xnor_folding: dict[str, tuple[int, int]] | None = None,
    on_progress: Callable[[str], None] | None = None,
    enforce_fit: bool = True,
    network: bool | None = None,
    parallel: int = 1,
) -> SynthResult:
    """Write the hls4ml project of ``graph`` for ``board``, C-simulate and compare with the reference,
    synthesize if a vendor tool is on PATH, and write ``report.json``/``report.md``/``report.html``.

    ``hls_graph`` (default ``graph``) is the graph the design is built from, e.g. one whose layers passes
    annotated with other kernels; the C-simulation is always compared with the reference of ``graph``.
    ``winograd=True`` computes every 3x3 stride-1 convolution in the Winograd F(2x2,3x3) unit;
    ``xnor_folding[layer] = (PE, SIMD words)`` folds an XNOR layer (default: the largest divisors up to 8 and 4).

    The whole network's estimate (:func:`analytical_estimate`) is compared with the board's resources first: a
    design that cannot fit is refused (BoardError, exit 5) before anything is written or simulated; so are the
    figures of a vendor synthesis and the summed yosys figures of the Verilog layers when they exceed the board.
    ``on_progress`` receives one line per stage (and per Verilog layer). ``enforce_fit=False`` C-simulates
    (and reports the fit of) a design too big for the board, e.g. to check the arithmetic of a large model.

    A board without a vendor HLS flow (``hls_backend = ""``: the iCE40 of the iCEBreaker) takes the
    open-source path instead: every XNOR dense layer becomes Verilog, simulated with Icarus Verilog on the
    reference's vectors and (``place_and_route``) synthesized with yosys and placed with nextpnr-ice40.
    There, a network whose every layer has a Verilog implementation (:mod:`edgesdk.backends.rtl`) is built whole
    instead (``network=None`` decides so, ``False`` keeps the per-layer path): simulated against the reference,
    placed and routed, and written as a bitstream (:func:`edgesdk.backends.rtl.synth.rtl_synth`), with a MAC
    array of ``parallel`` output channels at once in its int8 layers (0: the largest that fits the board).
    """
    from edgesdk.backends.hls.convert import graph_to_layer_list

    fb = board if isinstance(board, FpgaBoard) else get_fpga_board(board)
    say = on_progress or (lambda line: log.info("%s", line))
    out = Path(out_dir) if out_dir is not None else Path(f"{safe_file_stem(graph.name)}-{fb.name}-hls")
    tool = find_vendor_tool() if run_vendor and fb.hls_backend else None
    backend = tool[1] if tool else (fb.hls_backend or "Vitis")
    design_graph = hls_graph if hls_graph is not None else graph
    if not fb.hls_backend and network is not False:
        from edgesdk.backends.rtl.network import supports

        if network or supports(design_graph):
            return _verilog_network(
                graph, design_graph, fb, out, inputs, count, place_and_route, say, enforce_fit, parallel
            )
    say(f"planning the design of {graph.name} for {fb.name} ({fb.part})")
    plan = graph_to_layer_list(
        hls_graph if hls_graph is not None else graph,
        output_dir=out / "hls4ml_prj",
        project_name="edgesdk_" + re.sub(r"[^0-9A-Za-z_]", "_", graph.name)[:40],
        backend=backend,
        part=fb.part,
        clock_period_ns=fb.clock_period_ns,
        winograd=winograd,
        xnor_folding=xnor_folding,
    )
    estimate = analytical_estimate(plan.units, fb)
    if enforce_fit:
        check_fit(estimate["fit"], fb, f"the estimated design of {graph.name}")
    say(
        "estimate (need/capacity): "
        + ", ".join(f"{k} {r['need']:,}/{r['capacity']:,}" for k, r in estimate["fit"].items())
    )
    with folder_lock(out, "synth"):
        return _synth(
            graph,
            fb,
            out,
            inputs,
            count,
            run_vendor,
            tool,
            backend,
            plan,
            estimate,
            hls_graph,
            place_and_route,
            say,
            enforce_fit,
        )


def _verilog_network(
    graph: ir.Graph,
    design_graph: ir.Graph,
    fb: FpgaBoard,
    out: Path,
    inputs: Any,
    count: int | None,
    place_and_route: bool,
    say: Callable[[str], None],
    enforce_fit: bool,
    parallel: int = 1,
) -> SynthResult:
    """The whole network ``design_graph`` in Verilog (see :func:`synth`), simulated against its reference on the
    inputs made for ``graph``."""
    from edgesdk.backends.rtl.synth import estimate_fit, rtl_synth
    from edgesdk.device import make_inputs

    say(f"the whole network of {graph.name} in Verilog for {fb.name} ({fb.part})")
    est = estimate_fit(design_graph, fb, say, enforce_fit, parallel)  # refused before anything is written
    data = make_inputs(graph, inputs, count, random_count=DEFAULT_COUNT)
    with folder_lock(out, "synth"):
        report = rtl_synth(
            design_graph,
            fb,
            out,
            data,
            place_and_route=place_and_route,
            say=say,
            enforce_fit=enforce_fit,
            estimate=est,
        )
    rtl = report["rtl_network"]
    return SynthResult(
        out_dir=out,
        board=fb,
        bit_exact=bool(rtl["bit_exact"]),
        inputs=int(len(data)),
        mismatches=[],
        first_mismatch_layer=None,
        estimate=report["estimate"],
        synthesis=None,
        skipped_reason=f"the board's {fb.vendor} part {fb.part} has no vendor HLS flow; the whole network took "
        "the open-source Verilog path.",
        report=report,
    )


def _synth(
    graph: ir.Graph,
    fb: FpgaBoard,
    out: Path,
    inputs: Any,
    count: int | None,
    run_vendor: bool,
    tool: tuple[str, str] | None,
    backend: str,
    plan: Any,
    estimate: dict[str, Any],
    hls_graph: ir.Graph | None,
    place_and_route: bool,
    say: Callable[[str], None],
    enforce_fit: bool,
) -> SynthResult:
    from edgesdk.backends.hls.convert import model_from_plan
    from edgesdk.device import make_inputs

    vendor_flow = bool(fb.hls_backend)
    project = out / "hls4ml_prj"
    say(f"writing the hls4ml project {project} ({len(plan.layer_list)} layers)")
    hls_model, _ = model_from_plan(plan)
    data = make_inputs(graph, inputs, count, random_count=DEFAULT_COUNT)
    say(f"C-simulation: compiling the project with the host g++ and running {len(data)} inputs")
    mismatches, first = csim_compare(graph, hls_model, plan, data)
    say(f"C-simulation: {len(data) - len(mismatches)}/{len(data)} inputs bit-exact with the reference")
    synthesis = None
    skipped: str | None = None
    design_graph = hls_graph if hls_graph is not None else graph
    rtl_report: dict[str, Any] | None = None
    if tool:
        say(f"synthesizing with {Path(tool[0]).name}")
        xml_path = run_synthesis(project, tool[0])
        synthesis = {"tool": Path(tool[0]).name, **parse_csynth_report(xml_path)}
        synthesis["fit"] = synthesis_fit(synthesis, fb)
    elif not vendor_flow:
        from edgesdk.backends.hls.rtl import open_source_flow

        rtl_report = open_source_flow(
            graph, design_graph, plan, data, out / "rtl", fb.part, pnr=place_and_route, on_progress=say
        )
        rtl_report["fit"] = rtl_fit(rtl_report["layers"], fb)
        n_rtl = len(rtl_report["layers"])
        skipped = (
            f"HLS synthesis was skipped because the board's {fb.vendor} part {fb.part} has no vendor HLS flow; "
            + (
                f"the XNOR layers took the open-source path ({n_rtl} in Verilog)."
                if n_rtl
                else "the model has no XNOR layer for the open-source Verilog path."
            )
        )
    else:
        names = ", ".join(e for e, _ in VENDOR_TOOLS)
        skipped = (
            f"Synthesis was skipped because no vendor HLS tool ({names}) is on PATH; the figures above are an "
            "analytical estimate."
            if run_vendor
            else "Synthesis was skipped because it was not asked for; the figures above are an analytical estimate."
        )
    report: dict[str, Any] = {
        "model": graph.name,
        "source": graph.source,
        "sha256": graph.sha256,
        "board": fb.to_dict(),
        "project": str(project),
        "hls_backend": backend,
        "csim": {
            "bit_exact": not mismatches,
            "inputs": int(len(data)),
            "mismatches": mismatches,
            "first_mismatch_layer": first,
        },
        "estimate": estimate,
    }
    if rtl_report is not None:
        report["rtl"] = rtl_report
    if synthesis is not None:
        report["synthesis"] = synthesis
    else:
        report["synthesis_skipped"] = skipped
    if estimate["layers"]:
        from edgesdk.profiling.plots import plot_layer_latency

        plot_layer_latency(
            [{"name": u["layer"], "op": u["kind"], "cycles": u.get("cycles", 0)} for u in estimate["layers"]],
            out / "estimate_cycles.png",
            unit="estimated cycles",
            clock_hz=fb.clock_hz,
            title=f"{graph.name} on {fb.name}: estimated cycles per layer",
        )
        report["plots"] = {"estimate_cycles": "estimate_cycles.png"}
    (out / "report.json").write_text(json.dumps(report, indent=2, default=_json_default), encoding="utf-8")
    md = _markdown(report)
    (out / "report.md").write_text(md, encoding="utf-8")
    (out / "report.html").write_text(_html(md, report), encoding="utf-8")
    if synthesis is not None and enforce_fit:
        check_fit(synthesis["fit"], fb, f"the synthesized design of {graph.name} (report in {out})")
    if rtl_report is not None and enforce_fit:
        check_fit(
            rtl_report["fit"], fb, f"the Verilog layers of {graph.name} placed together (report in {out})"
        )
    return SynthResult(
        out_dir=out,
        board=fb,
        bit_exact=not mismatches and (rtl_report is None or rtl_report["bit_exact"]),
        inputs=int(len(data)),
        mismatches=mismatches,
        first_mismatch_layer=first,
        estimate=estimate,
        synthesis=synthesis,
        skipped_reason=skipped,
        report=report,
    )


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


__all__ = [
    "SynthResult",
    "analytical_estimate",
    "check_fit",
    "csim_compare",
    "find_vendor_tool",
    "parse_csynth_report",
    "run_synthesis",
    "synth",
]
