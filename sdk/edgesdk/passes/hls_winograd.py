"""FPGA kernel selection (pipeline ``"hls"``): the Winograd F(2x2,3x3) unit or the direct convolution unit for
each 3x3 stride-1 CONV_2D of an hls4ml design.

Winograd (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016) computes a 2x2 output
tile from a 4x4 input tile with 16 multiplications per channel pair instead of 36. In the hls4ml units the cost
is not the MCU's (instructions) but cycles and multipliers (:func:`unit_costs`, the figures the analytical
estimate of ``edgesdk synth`` uses too):

- direct unit: one output element per cycle, every tap of every input channel in parallel:
  ``out_h * out_w * out_c`` cycles, ``9 * in_c`` multipliers, int8 weights;
- Winograd unit: per 2x2 tile, the 4x4 input tile of one channel per cycle (load), its transform per cycle, then
  one output channel per cycle: ``tiles * (2 * in_c + out_c)`` cycles, ``16 * in_c`` multipliers, int16
  transformed weights (16 per channel pair).

The Winograd unit always needs 16/9 as many multipliers (DSP blocks) and 3.6x the weight bits, so
``--optimize balanced`` (the default) and ``size`` keep the direct unit; ``speed`` takes Winograd where its
cycles are fewer. A user forces it per layer (``--kernel conv1=winograd``, ``--kernel '*=winograd'``) or forbids
it (``--no-kernel '*=winograd'``). The decision goes into ``node.attrs["kernel"]`` (``"winograd"`` or
``"dense"``) and ``node.attrs["kernel_report"]`` in the shape every kernel pass uses
(:func:`edgesdk.passes._report.kernel_report`), candidates in cycles, multipliers and weight bytes.
"""

from __future__ import annotations

from typing import Any

from edgesdk.ir import graph as ir
from edgesdk.numerics.winograd import F2x2_3x3, applicable, int_ranges
from edgesdk.passes import Pass, PassContext, register
from edgesdk.passes._report import BASELINE, kernel_report
from edgesdk.reference.params import op_params

KERNEL = "winograd"
SPEC = F2x2_3x3
#: Multiplications per 2x2 output tile and (input, output) channel pair: Winograd vs direct 3x3.
MULTS_WINOGRAD = SPEC.a * SPEC.a
MULTS_DIRECT = 9 * SPEC.m * SPEC.m


def tiles(out_h: int, out_w: int) -> int:
    """2x2 output tiles covering an ``out_h`` x ``out_w`` output (partial tiles on odd edges)."""
    return (-(-out_h // SPEC.m)) * (-(-out_w // SPEC.m))


def direct_unit(out_h: int, out_w: int, out_c: int, taps: int, weights: int) -> dict[str, int]:
    """Cycles, multipliers and weight bits of the direct (depthwise) convolution unit: one output element per
    cycle, its ``taps`` products in parallel; ``weights`` int8 weights."""
    return {
        "cycles": out_h * out_w * out_c,
        "multipliers": taps,
        "macs": out_h * out_w * out_c * taps,
        "weight_bits": weights * 8,
    }


def winograd_unit(out_h: int, out_w: int, in_c: int, out_c: int) -> dict[str, int]:
    """Cycles, multipliers and weight bits of the Winograd F(2x2,3x3) unit (see the module docstring)."""
    n = tiles(out_h, out_w)
    return {
        "cycles": n * (2 * in_c + out_c),
        "multipliers": MULTS_WINOGRAD * in_c,
        "weight_bits": SPEC.a * SPEC.a * out_c * in_c * 16,
        "tiles": n,
    }


def unit_costs(out_h: int, out_w: int, in_c: int, out_c: int) -> dict[str, dict[str, int]]:
    """The candidates of a 3x3 stride-1 convolution: ``dense`` (direct unit) and ``winograd``, each with its
    ``bytes`` of weights, ``cycles`` and ``multipliers``."""
    d = direct_unit(out_h, out_w, out_c, 9 * in_c, 9 * in_c * out_c)
    w = winograd_unit(out_h, out_w, in_c, out_c)
    return {
        name: {"bytes": u["weight_bits"] // 8, "cycles": u["cycles"], "multipliers": u["multipliers"]}
        for name, u in ((BASELINE, d), (KERNEL, w))
    }


def eligible(graph: ir.Graph, node: ir.Node) -> dict[str, Any] | None:
    """The reference parameters of a CONV_2D the Winograd unit computes exactly (3x3, stride 1, undilated, int8,
    its 4x accumulator within int32), else None."""
    if node.op != "CONV_2D" or len(node.inputs) < 2 or graph.tensor(node.inputs[1]).data is None:
        return None
    if graph.tensor(node.outputs[0]).dtype != "int8" or graph.tensor(node.inputs[0]).dtype != "int8":
        return None
    p = op_params(graph, node)
    if not applicable(p):
        return None
    in_c = int(graph.tensor(node.inputs[1]).shape[3])
    if not int_ranges(SPEC, in_c).get("exact_in_int32", True):
        return None
    return p | {"in_c": in_c}


@register("hls")
class HlsWinogradSelection(Pass):
    """Annotate every int8 CONV_2D with the FPGA unit that computes it: ``winograd`` or ``dense``."""

    name = "hls_winograd"

    def match(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        return node.op == "CONV_2D" and "kernel" not in node.attrs

    def transform(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        p = eligible(graph, node)
        if p is None:
            if ctx.forced(node) == KERNEL:  # forced on a layer the unit cannot compute: say so, keep direct
                node.attrs["kernel"] = BASELINE
                node.attrs["kernel_report"] = {
                    "candidates": {},
                    "why": "forced Winograd F(2x2,3x3) needs a 3x3 stride-1 undilated int8 convolution: direct unit",
                    "format": "int8",
                    "weight_bytes": int(graph.tensor(node.inputs[1]).nbytes) if len(node.inputs) > 1 else 0,
                    "other_bytes": 0,
                }
            return False
        cand = unit_costs(int(p["out_h"]), int(p["out_w"]), p["in_c"], int(p["out_c"]))
        d, w = cand[BASELINE], cand[KERNEL]
        forced = ctx.forced(node)
        if forced == KERNEL:
            choose, why = KERNEL, "forced (--kernel)"
        elif forced is not None or not ctx.allowed(node, KERNEL):
            choose, why = BASELINE, "Winograd forbidden (--kernel/--no-kernel): direct unit"
        elif ctx.optimize == "speed" and w["cycles"] < d["cycles"]:
            choose, why = (
                KERNEL,
                f"--optimize speed: est. {w['cycles']:,} cycles instead of {d['cycles']:,} for "
                f"{w['multipliers'] - d['multipliers']} more multipliers",
            )
        else:
            choose, why = (
                BASELINE,
                f"--optimize {ctx.optimize}: direct unit, {d['multipliers']} multipliers and {d['bytes']:,} B of "
                f"weights against Winograd's {w['multipliers']} and {w['bytes']:,} B (est. cycles "
                f"{d['cycles']:,} direct, {w['cycles']:,} Winograd)",
            )
        node.attrs["kernel"] = choose
        node.attrs["kernel_report"] = kernel_report(
            cand, choose, why, estimated_speedup=round(d["cycles"] / max(1, w["cycles"]), 2)
        )
        return choose == KERNEL
