"""Recognise Shift layers: a depthwise convolution whose every kernel is one-hot runs as memory moves.

A Shift layer (Wu et al. 2018, "Shift: A Zero FLOP, Zero Parameter Alternative to Spatial Convolutions")
moves each channel by a fixed spatial offset; in Keras it is a DepthwiseConv2D whose per-channel kernels have
exactly one non-zero tap (see :class:`edgesdk.layers.Shift`). After int8 conversion each output value
depends on one input value only: ``out = clamp(MBQM((x + in_off) * w_c + bias_c) + out_off)`` when the tap
falls inside the input, and the constant ``clamp(MBQM(bias_c) + out_off)`` when it falls in the padding. So
the whole layer, requantization included, is a gather plus a 256-entry lookup table per channel: zero
multiply-accumulates, and bit-identical to the int8 depthwise kernel by construction.

The pass annotates such a node with ``attrs["kernel"] = "shift"`` when it is allowed and when it pays off
for the context's goal (``optimize="speed"``: fewer instructions; ``"size"``: only if the table is not
larger than the dense weights), with the bytes and estimated instructions of both candidates.
"""

from __future__ import annotations

from edgesdk.compiler.weight_encoding import one_hot_taps
from edgesdk.ir import graph as ir
from edgesdk.passes import Pass, PassContext, register
from edgesdk.passes._report import BASELINE, candidate, kernel_report

#: Estimated instructions per output element on a Cortex-M4: dense int8 depthwise per tap (load x, load w,
#: multiply-accumulate, loop), plus its requantization; the shift kernel's gather + bounds check + lookup.
_DENSE_PER_TAP = 5
_REQUANT = 20
_SHIFT_PER_OUTPUT = 12


def shift_costs(graph: ir.Graph, node: ir.DepthwiseConv2D) -> dict[str, dict[str, int]]:
    """Bytes of constants and estimated instructions per inference of the dense and the shift kernel.

    Both candidates count every constant of the layer (the dense kernel's weights, bias, multipliers and
    shifts; the shift kernel's lookup tables, padding values and taps), since the tables replace them all."""
    w = graph.tensor(node.inputs[1])
    out = graph.tensor(node.outputs[0])
    _, kh, kw, c = w.shape
    outputs = out.size
    dense_bytes = kh * kw * c + 4 * c + 8 * c  # weights, bias, multiplier and shift
    shift_bytes = 256 * c + c + 2 * 2 * c + 4 * c  # tables, padding values, tap rows/cols, tap offsets
    return {
        BASELINE: candidate(dense_bytes, outputs * (kh * kw * _DENSE_PER_TAP + _REQUANT)),
        "shift": candidate(shift_bytes, outputs * _SHIFT_PER_OUTPUT),
    }


@register("default")
class ShiftPass(Pass):
    """Pick the ``shift`` kernel for a depthwise convolution with one-hot int8 kernels."""

    name = "shift"

    def match(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        if not isinstance(node, ir.DepthwiseConv2D) or "kernel" in node.attrs:
            return False
        w = graph.tensor(node.inputs[1])
        x = graph.tensor(node.inputs[0])
        if w.data is None or w.dtype != "int8" or x.dtype != "int8":
            return False
        return one_hot_taps(w.data) is not None

    def transform(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        assert isinstance(node, ir.DepthwiseConv2D)
        costs = shift_costs(graph, node)
        if not ctx.allowed(node, "shift"):
            why = "shift kernel forbidden (or another kernel forced) for this layer"
            chosen = None
        elif ctx.optimize == "size" and costs["shift"]["bytes"] > costs[BASELINE]["bytes"]:
            why = "one-hot depthwise kernels, but the lookup tables are larger than the dense weights"
            chosen = None
        else:
            why = "every depthwise kernel is one-hot: a gather and a lookup table, no multiply-accumulate"
            chosen = "shift"
        if chosen is None:
            # The dense kernel keeps its weight tensor (bias, multipliers and shifts are listed apart).
            w = graph.tensor(node.inputs[1])
            node.attrs["kernel_report"] = kernel_report(costs, BASELINE, why, weight_bytes=w.nbytes)
            return False
        node.attrs["kernel"] = chosen
        # Storage as edgesdk.numerics.weights reports it: the tables and tap offsets replace the weights.
        node.attrs["kernel_report"] = kernel_report(costs, chosen, why, macs=0)
        return True
