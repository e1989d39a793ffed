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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.boards import FpgaBoard, get_fpga_board
from edgesdk.errors import BuildError
from edgesdk.escape import safe_file_stem
from edgesdk.ir import graph as ir
from edgesdk.procutil import folder_lock
from edgesdk.progress import progress

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


def analytical_estimate(units: list[dict[str, Any]], board: FpgaBoard) -> dict[str, Any]:
    """Per-layer figures from the layer shapes alone (no tool): cycles, multipliers, weight BRAM.

    - XNOR layers (FINN folding): cycles = (MH / PE) * (MW / SIMD) per input;
    - Winograd F(2x2,3x3): 16 multiplications per 4x4 tile and channel pair against 36 for direct 3x3 on the
      same 2x2 outputs (Lavin & Gray, 2016);
    - convolutions: one output element per cycle (the channel loop is pipelined at II=1), every tap and input
      channel of that element in parallel;
    - weight storage: ceil(bits / block) block RAMs per layer (BRAM_18K on Xilinx parts, 4 Kib EBR on iCE40).
    """
    block_key, block_name, block_bits = next(
        (b for b in BRAM_BLOCKS if b[0] in board.resources), BRAM_BLOCKS[0]
    )
    layers = []
    total_cycles = 0
    total_bram = 0
    for u in units:
        row = dict(u)
        bits = int(u.get("weight_bits", 0))
        row["bram"] = math.ceil(bits / block_bits) if bits else 0
        total_bram += row["bram"]
        total_cycles += int(u.get("cycles", 0))
        layers.append(row)
    avail = board.resources.get(block_key)
    return {
        "layers": layers,
        "total_cycles": total_cycles,
        "bram_kind": block_name,
        "total_weight_bram": total_bram,
        "available_bram": avail,
        "clock_hz": board.clock_hz,
        "latency_us": total_cycles / board.clock_hz * 1e6 if total_cycles else None,
    }


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
        f"| layer | kind | cycles | multipliers | weight {est['bram_kind']} | notes |",
        "|---|---|---:|---:|---:|---|",
    ]
    for row in est["layers"]:
        lines.append(
            f"| {row['layer']} | {row['kind']} | {row.get('cycles', '')} | {row.get('multipliers', '')} | "
            f"{row['bram']} | {row.get('note', '')} |"
        )
    lines += [
        "",
        f"Total: {est['total_cycles']:,} cycles"
        + (f" ({est['latency_us']:.1f} us at {est['clock_hz'] / 1e6:g} MHz)" if est["latency_us"] else "")
        + f", {est['total_weight_bram']} {est['bram_kind']} for weights"
        + (f" of {est['available_bram']}" if est["available_bram"] else "")
        + ".",
        "",
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
    return "\n".join(lines) + "\n"


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
) -> SynthResult:
    """Write the hls4ml project of ``graph`` for ``board``, C-simulate and compare with the reference,
    synthesize if a vendor tool is on PATH, and write ``report.json``/``report.md``/``report.html``.

    ``hls_graph`` (default ``graph``) is the graph the design is built from, e.g. one whose layers passes
    annotated with other kernels; the C-simulation is always compared with the reference of ``graph``.
    ``winograd=True`` computes every 3x3 stride-1 convolution in the Winograd F(2x2,3x3) unit;
    ``xnor_folding[layer] = (PE, SIMD words)`` folds an XNOR layer (default: the largest divisors up to 8 and 4).

    A board without a vendor HLS flow (``hls_backend = ""``: the iCE40 of the iCEBreaker) takes the
    open-source path instead: every XNOR dense layer becomes Verilog, simulated with Icarus Verilog on the
    reference's vectors and (``place_and_route``) synthesized with yosys and placed with nextpnr-ice40.
    """
    fb = board if isinstance(board, FpgaBoard) else get_fpga_board(board)
    out = Path(out_dir) if out_dir is not None else Path(f"{safe_file_stem(graph.name)}-{fb.name}-hls")
    with folder_lock(out, "synth"):
        return _synth(
            graph, fb, out, inputs, count, run_vendor, hls_graph, winograd, place_and_route, xnor_folding
        )


def _synth(
    graph: ir.Graph,
    fb: FpgaBoard,
    out: Path,
    inputs: Any,
    count: int | None,
    run_vendor: bool,
    hls_graph: ir.Graph | None,
    winograd: bool,
    place_and_route: bool,
    xnor_folding: dict[str, tuple[int, int]] | None,
) -> SynthResult:
    from edgesdk.backends.hls.convert import build_hls_model
    from edgesdk.device import make_inputs

    vendor_flow = bool(fb.hls_backend)
    tool = find_vendor_tool() if run_vendor and vendor_flow else None
    backend = tool[1] if tool else (fb.hls_backend or "Vitis")
    project = out / "hls4ml_prj"
    hls_model, plan = build_hls_model(
        hls_graph if hls_graph is not None else graph,
        project,
        project_name="edgesdk_" + re.sub(r"[^0-9A-Za-z_]", "_", graph.name)[:40],
        backend=backend,
        part=fb.part,
        clock_period_ns=fb.clock_period_ns,
        winograd=winograd,
        xnor_folding=xnor_folding,
    )
    data = make_inputs(graph, inputs, count, random_count=DEFAULT_COUNT)
    log.info("compiling the hls4ml project for C-simulation (host g++) and running %d inputs", len(data))
    mismatches, first = csim_compare(graph, hls_model, plan, data)
    estimate = analytical_estimate(plan.units, fb)
    synthesis = None
    skipped: str | None = None
    design_graph = hls_graph if hls_graph is not None else graph
    rtl_report: dict[str, Any] | None = None
    if tool:
        xml_path = run_synthesis(project, tool[0])
        synthesis = {"tool": Path(tool[0]).name, **parse_csynth_report(xml_path)}
    elif not vendor_flow:
        from edgesdk.backends.hls.rtl import open_source_flow

        rtl_report = open_source_flow(
            graph, design_graph, plan, data, out / "rtl", fb.part, pnr=place_and_route
        )
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
        from edgesdk.profile.plots import plot_layer_latency

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
    "csim_compare",
    "find_vendor_tool",
    "parse_csynth_report",
    "run_synthesis",
    "synth",
]
