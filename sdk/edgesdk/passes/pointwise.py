"""Kernel selection: a 1x1 stride-1 CONV_2D run by the int16-weight fully-connected kernel on a DSP core.

In NHWC a pointwise convolution is a fully-connected layer applied to every pixel: the pixels are the FC's
batches, the (O, 1, 1, I) filters its (O, I) weights. The FC kernel (``ed_fc_w16_body.h``) shares each input
word among four output channels, loads the int16 weights two words per LDRD and is instantiated per layer with
constant parameters: measured on the emulated Cortex-M4 (QEMU mps2-an386) a 64 -> 64 pointwise layer on 25 x 5
pixels takes 1,365,440 instructions with the direct DSP convolution and ~1.2 per MAC this way. The weights
double in flash (int16), so ``--optimize size`` keeps the direct kernel, and speed takes it where the model's
constants stay within half of the board's flash (as for fully-connected layers, ``passes/fc_weights16.py``).
The decision and both candidates go into ``node.attrs["kernel_report"]``.
"""

from __future__ import annotations

from edgesdk.ir import graph as ir
from edgesdk.passes import Pass, PassContext, register
from edgesdk.passes.fc_weights16 import SPECIALIZED_CODE_BYTES

KERNEL = "pointwise_w16"
#: Instructions per MAC and per output of the direct DSP convolution on a 1x1 layer and of the FC kernel
#: (QEMU mps2-an386: KWS-shaped 64 -> 64 on 25 x 5, VWW-shaped 8 -> 16 on 48 x 48).
DIRECT_PER_MAC, DIRECT_PER_OUTPUT = 1.65, 65
FC_PER_MAC, FC_PER_OUTPUT = 1.2, 35


def _eligible(graph: ir.Graph, node: ir.Node) -> bool:
    if node.op != "CONV_2D" or len(node.inputs) < 2:
        return False
    w = graph.tensor(node.inputs[1])
    x = graph.tensor(node.inputs[0])
    out = graph.tensor(node.outputs[0])
    return (
        w.data is not None
        and w.dtype == "int8"
        and x.dtype == "int8"
        and out.dtype == "int8"
        and tuple(w.shape[1:3]) == (1, 1)
        and w.shape[3] == x.shape[3]
        and tuple(getattr(node, "stride", (1, 1))) == (1, 1)
        and tuple(x.shape[1:3]) == tuple(out.shape[1:3])
    )


def _doubled_bytes(graph: ir.Graph) -> int:
    """Bytes the int16 weights already chosen add to the model's constants."""
    return sum(
        graph.tensor(n.inputs[1]).nbytes for n in graph.nodes if n.attrs.get("kernel") in (KERNEL, "w16")
    )


@register("default")
class PointwiseAsFc(Pass):
    """Annotate 1x1 stride-1 convolutions with ``kernel = "pointwise_w16"`` for speed where the flash allows."""

    name = "pointwise"

    def match(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        return ctx.dsp and "kernel" not in node.attrs and _eligible(graph, node)

    def transform(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        w = graph.tensor(node.inputs[1])
        out = graph.tensor(node.outputs[0])
        macs = int(out.size) * int(w.shape[3])
        cand = {
            "direct": {
                "instructions": int(macs * DIRECT_PER_MAC + out.size * DIRECT_PER_OUTPUT),
                "weight_bytes": int(w.nbytes),
            },
            KERNEL: {
                "instructions": int(macs * FC_PER_MAC + out.size * FC_PER_OUTPUT),
                "weight_bytes": int(-(-w.shape[0] // 4) * 4 * w.shape[3] * 2),
                "code_bytes": SPECIALIZED_CODE_BYTES,
            },
        }
        flash = int(ctx.options.get("flash_bytes", 0) or 0)
        need = sum(t.nbytes for t in graph.tensors.values() if t.data is not None) + _doubled_bytes(graph)
        need += cand[KERNEL]["weight_bytes"] - w.nbytes
        forced = ctx.forced(node)
        if forced == KERNEL:
            choose, why = True, "forced by the user"
        elif not ctx.allowed(node, KERNEL):
            choose, why = False, "the pointwise FC kernel is forbidden by the user"
        elif ctx.optimize == "size":
            choose, why = False, f"--optimize size: int8 weights {w.nbytes} B kept (direct convolution)"
        elif not flash:
            choose, why = (
                False,
                "the board's flash is not known (PassContext.options['flash_bytes']): direct kept",
            )
        elif need > flash // 2:
            choose, why = (
                False,
                f"int16 weights would bring the model's constants to {need} B, over half of the board's "
                f"{flash} B of flash",
            )
        elif cand[KERNEL]["instructions"] >= cand["direct"]["instructions"]:
            choose, why = False, "the direct convolution is estimated no slower"
        else:
            choose, why = (
                True,
                f"--optimize speed: 1x1 stride-1 convolution as a fully-connected layer over "
                f"{out.size // out.shape[-1]} pixels, est. "
                f"{cand['direct']['instructions'] / cand[KERNEL]['instructions']:.2f}x fewer instructions for "
                f"{cand[KERNEL]['weight_bytes'] - w.nbytes} more bytes of weights",
            )
        node.attrs["kernel_report"] = {
            "format": "int16" if choose else "int8",
            "weight_bytes": cand[KERNEL if choose else "direct"]["weight_bytes"],
            "candidates": cand,
            "why": why,
        }
        if choose:
            node.attrs["kernel"] = KERNEL
            node.attrs["specialize"] = True
            return True
        return False
