"""``edgesdk synth``: the FPGA road, beside ``export``. It runs the same steps in the same order: a graph from the
frontends (``model.load_model``), the ``"hls"`` pass pipeline (:mod:`edgesdk.passes.hls_winograd`: the Winograd or
the direct unit per convolution; :mod:`edgesdk.passes.hls_xnor`: the PE/SIMD folding of every XNOR layer; forced or
forbidden with ``--kernel``/``--no-kernel`` as on the MCU), then the hls4ml backend (:mod:`edgesdk.backends.hls`):
the project written, C-simulated against ``reference/`` layer by layer (:mod:`~edgesdk.backends.hls.csim`),
synthesized when a vendor HLS tool is installed (:mod:`~edgesdk.backends.hls.vendor`), else estimated
(:mod:`~edgesdk.backends.hls.estimate`), and reported (``report.json``/``report.md``/``report.html``, the pass
decisions included as the export report lists them). Without a tool, the report carries the analytical estimate
and one sentence saying why synthesis was skipped. Inputs come from :mod:`edgesdk.compiler.data`, as for ``validate``.
"""

from __future__ import annotations

import dataclasses
import html
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.backends.fit import FIT_RESOURCES, check_fit
from edgesdk.backends.hls.csim import csim_compare
from edgesdk.backends.hls.estimate import analytical_estimate, rtl_fit, synthesis_fit
from edgesdk.backends.hls.vendor import VENDOR_TOOLS, find_vendor_tool, parse_csynth_report, run_synthesis
from edgesdk.boards import FpgaBoard, get_fpga_board
from edgesdk.compiler import kernels as kernel_table
from edgesdk.compiler.data import make_inputs
from edgesdk.ir import graph as ir
from edgesdk.passes import PassContext, check_kernel_names, kernel_decisions, run_pipeline
from edgesdk.util.escape import safe_file_stem
from edgesdk.util.procutil import folder_lock

log = logging.getLogger(__name__)

#: The pass pipeline of the FPGA road.
PIPELINE = "hls"
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
    lines += _kernels_markdown(report.get("kernels", []))
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


def _kernels_markdown(rows: list[dict[str, Any]]) -> list[str]:
    """The decisions of the ``"hls"`` pass pipeline, one row per layer (as the export report lists the MCU's)."""
    if not rows:
        return []
    lines = [
        "",
        "## Kernel choices (the hls pass pipeline)",
        "",
        "| layer | op | unit | why |",
        "|---|---|---|---|",
    ]
    for row in rows:
        lines.append(f"| {row['layer']} | {row['op']} | {row['kernel']} | {row.get('why', '')} |")
    return lines


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


def hls_context(
    pass_ctx: PassContext | None = None,
    *,
    winograd: bool = False,
    xnor_folding: dict[str, tuple[int, int]] | None = None,
) -> PassContext:
    """The :class:`PassContext` of the ``"hls"`` pipeline: the user's ``--optimize``/``--kernel``/``--no-kernel``
    (``pass_ctx``), every eligible convolution forced to Winograd with ``winograd`` (``--winograd``, the same as
    ``--kernel '*=winograd'``) and the XNOR layers' folding ``xnor_folding[layer] = (PE, SIMD words)``.

    A kernel name the kernel table does not know is refused with the known ones (as on the MCU, the FPGA's
    ``xnor`` included); a known kernel the FPGA has no unit for (``--kernel fc1=sparse``) is refused naming the
    ones it has."""
    ctx = dataclasses.replace(pass_ctx) if pass_ctx is not None else PassContext(optimize="balanced")
    ctx.force, ctx.forbid = dict(ctx.force), {k: set(v) for k, v in ctx.forbid.items()}
    if winograd:
        ctx.force.setdefault("*", "winograd")
    fpga = kernel_table.fpga_names()  # dense (the direct units) and the rows with an fpga_chosen_by
    ctx.options = {
        **ctx.options,
        "xnor_folding": dict(xnor_folding or {}),
        "known_kernels": fpga,
        "road": "FPGA",
    }
    check_kernel_names(ctx)
    return ctx


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
    pass_ctx: PassContext | None = None,
) -> SynthResult:
    """Run the ``"hls"`` pass pipeline on ``graph``, write the hls4ml project of the result for ``board``,
    C-simulate it and compare with the reference, synthesize if a vendor tool is on PATH, and write
    ``report.json``/``report.md``/``report.html``.

    ``hls_graph`` (default ``graph``) is the graph the design is built from (after the pipeline), e.g. one whose
    layers compute the same function differently; the C-simulation is always compared with the reference of
    ``graph``. ``pass_ctx`` carries ``--optimize``/``--kernel``/``--no-kernel`` (:func:`hls_context`);
    ``winograd=True`` forces every 3x3 stride-1 convolution into the Winograd F(2x2,3x3) unit;
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
    ctx = hls_context(pass_ctx, winograd=winograd, xnor_folding=xnor_folding)
    design_graph = hls_graph if hls_graph is not None else graph
    if not fb.hls_backend and network is not False:
        from edgesdk.backends.rtl.network import supports

        if network or supports(design_graph):
            return _verilog_network(
                graph, design_graph, fb, out, inputs, count, place_and_route, say, enforce_fit, parallel
            )
    say(f"planning the design of {graph.name} for {fb.name} ({fb.part})")
    design_graph = run_pipeline(design_graph, PIPELINE, ctx)
    plan = graph_to_layer_list(
        design_graph,
        output_dir=out / "hls4ml_prj",
        project_name="edgesdk_" + re.sub(r"[^0-9A-Za-z_]", "_", graph.name)[:40],
        backend=backend,
        part=fb.part,
        clock_period_ns=fb.clock_period_ns,
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
            design_graph,
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
    design_graph: ir.Graph,
    place_and_route: bool,
    say: Callable[[str], None],
    enforce_fit: bool,
) -> SynthResult:
    """Write, C-simulate, synthesize (or estimate) and report the planned design (see :func:`synth`)."""
    from edgesdk.backends.hls.convert import model_from_plan

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
        "kernels": kernel_decisions(design_graph),
    }
    if rtl_report is not None:
        report["rtl"] = rtl_report
    if synthesis is not None:
        report["synthesis"] = synthesis
    else:
        report["synthesis_skipped"] = skipped
    _write_reports(report, out, fb)
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


def _write_reports(report: dict[str, Any], out: Path, fb: FpgaBoard) -> None:
    """The plot of the estimated cycles per layer, ``report.json``, ``report.md`` and ``report.html``."""
    estimate = report["estimate"]
    if estimate["layers"]:
        from edgesdk.profiling.plots import plot_layer_latency

        plot_layer_latency(
            [{"name": u["layer"], "op": u["kind"], "cycles": u.get("cycles", 0)} for u in estimate["layers"]],
            out / "estimate_cycles.png",
            unit="estimated cycles",
            clock_hz=fb.clock_hz,
            title=f"{report['model']} on {fb.name}: estimated cycles per layer",
        )
        report["plots"] = {"estimate_cycles": "estimate_cycles.png"}
    (out / "report.json").write_text(json.dumps(report, indent=2, default=_json_default), encoding="utf-8")
    md = _markdown(report)
    (out / "report.md").write_text(md, encoding="utf-8")
    (out / "report.html").write_text(_html(md, report), encoding="utf-8")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


__all__ = ["DEFAULT_COUNT", "SynthResult", "hls_context", "synth"]
