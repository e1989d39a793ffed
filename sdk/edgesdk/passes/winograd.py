"""Kernel selection: Winograd F(2x2,3x3) or direct convolution for each 3x3 stride-1 CONV_2D.

Winograd (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016) trades 36 multiplies
per 2x2 output tile and channel pair for 16 plus additions in the input and output transforms; the transformed
weights are int16 and 16/9 as many, i.e. 3.6x the int8 weights' flash. The pass estimates both kernels'
executed instructions with a cost model fitted to the IC model's layers on the emulated Cortex-M4 (QEMU
mps2-an386, -O2: direct DSP convolution 1.6 + 8 / in_channels instructions per MAC plus ~30 per output; the
Winograd kernel per 2x2 tile 39 per input channel, 16.3 per input x output channel, 236 per output channel;
within 1 % of the measured counts of IC's four Winograd shapes) and picks Winograd when it saves at least ``MIN_SPEEDUP`` of the layer's instructions - unless the export optimizes for
size, where the smaller weights win, or the model's constants would then exceed half of the board's flash
(``PassContext.options["flash_bytes"]``, set by ``export``; unknown flash keeps the direct kernel). The decision and both candidates go into ``node.attrs["kernel_report"]``.
"""

from __future__ import annotations

from typing import Any

from edgesdk.ir import graph as ir
from edgesdk.numerics.winograd import F2x2_3x3, int_ranges
from edgesdk.passes import PassContext, register
from edgesdk.passes._int16 import ShapeRulePass, flash_rule, int8_conv
from edgesdk.passes._scalar_cost import SCALAR_PACKED_CONV_COST, SCALAR_PACKED_TAPS

KERNEL = "winograd"
MIN_SPEEDUP = 1.2


def estimate(
    out_h: int, out_w: int, cin: int, cout: int, dsp: bool, packed: bool = False
) -> dict[str, dict[str, int]]:
    """Estimated executed instructions and constant bytes of the direct and the Winograd kernel; ``dsp`` for
    the Cortex-M DSP kernels (SMLAD), ``packed`` for the scalar convolution with two channels a multiply-accumulate
    (``PassContext.scalar_packed``, its windows of up to ``SCALAR_PACKED_TAPS`` taps; on the Cortex-M3 it measured
    1.4-1.6x faster than this Winograd kernel on IC's 16- and 32-channel layers), else the portable ones."""
    if packed and 9 * cin <= SCALAR_PACKED_TAPS:
        direct = out_h * out_w * cout * (9 * cin * SCALAR_PACKED_CONV_COST[0] + SCALAR_PACKED_CONV_COST[1])
    else:
        per_mac = (1.6 + 8.0 / cin) if dsp else 6.0
        direct = out_h * out_w * cout * (9 * cin * per_mac + 30)
    tiles = -(-out_h // 2) * -(-out_w // 2)
    cp = cin + (cin & 1)
    product = 16.3 if dsp else 65.0
    wino = tiles * (39 * cp + product * cp * cout + 236 * cout)
    return {
        "direct": {"instructions": int(direct), "weight_bytes": 9 * cin * cout},
        KERNEL: {
            "instructions": int(wino),
            "weight_bytes": 16 * cp * (-(-cout // 8) * 8) * 2,
            "scratch_bytes": 32 * cp,
        },
    }


def _eligible(graph: ir.Graph, node: ir.Node) -> dict[str, Any] | None:
    ops = int8_conv(graph, node)
    if ops is None:
        return None
    x, w, out = ops
    if tuple(w.shape[1:3]) != (3, 3) or w.shape[3] != x.shape[3]:
        return None
    if tuple(getattr(node, "stride", (1, 1))) != (1, 1) or tuple(getattr(node, "dilation", (1, 1))) != (1, 1):
        return None
    if not int_ranges(F2x2_3x3, x.shape[3])["exact_in_int32"]:
        return None  # 4 * acc could leave int32: the kernel's wrapping arithmetic would no longer be exact
    return {"out_h": out.shape[1], "out_w": out.shape[2], "cin": x.shape[3], "cout": out.shape[3]}


def _const_bytes(graph: ir.Graph) -> int:
    return sum(t.nbytes for t in graph.tensors.values() if t.data is not None)


def _extra_bytes(graph: ir.Graph, node: ir.Node) -> int:
    """Flash Winograd adds to a layer: its int16 transformed weights minus the int8 weights they replace."""
    w = graph.tensor(node.inputs[1])
    cin = w.shape[3]
    return 16 * (cin + (cin & 1)) * (-(-w.shape[0] // 8) * 8) * 2 - w.nbytes  # blocks of 8 output channels


@register("default")
class WinogradSelection(ShapeRulePass):
    """Annotate 3x3 stride-1 int8 convolutions with ``kernel = "winograd"`` where the cost model says it pays."""

    name = "winograd"

    shape = staticmethod(_eligible)

    def transform(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        shape = self.matched_shape(graph, node)
        cand = estimate(
            shape["out_h"], shape["out_w"], shape["cin"], shape["cout"], ctx.dsp, ctx.scalar_packed
        )
        speedup = cand["direct"]["instructions"] / max(1, cand[KERNEL]["instructions"])
        need = _const_bytes(graph) + sum(
            _extra_bytes(graph, n) for n in graph.nodes if n is node or n.attrs.get("kernel") == KERNEL
        )
        rule = flash_rule(
            ctx, node, KERNEL, need, forbidden="Winograd", weights="Winograd weights",
            size_why=f"--optimize size: direct weights take {cand['direct']['weight_bytes']} B, Winograd's "
            f"{cand[KERNEL]['weight_bytes']} B (est. {speedup:.2f}x fewer instructions given up)",
        )  # fmt: skip
        if rule is not None:
            choose, why = rule
        elif speedup >= MIN_SPEEDUP:
            choose, why = (
                True,
                (
                    f"3x3 stride 1: est. {speedup:.2f}x fewer instructions (16 instead of 36 multiplies per tile) "
                    f"for {cand[KERNEL]['weight_bytes'] - cand['direct']['weight_bytes']} more bytes of weights"
                ),
            )
        else:
            choose, why = False, f"est. speedup {speedup:.2f}x below {MIN_SPEEDUP}x: transforms do not pay"
        node.attrs["kernel_report"] = {
            "format": "winograd-int16" if choose else "int8",
            "weight_bytes": cand[KERNEL if choose else "direct"]["weight_bytes"],
            "candidates": cand,
            "why": why,
            "estimated_speedup": round(speedup, 2),
        }
        if choose:
            node.attrs["kernel"] = KERNEL
            return True
        return False
