"""Annotate AdderNet layers (``EDGESDK_ADDER_CONV_2D``) with their kernel and storage for the reports.

There is one kernel for this op (``ed_adder.c``), so the pass only records it: int16 weights (2 bytes each),
no multiplications in the accumulation (``adds`` = subtract-and-absolute steps), one requantization per output.
"""

from __future__ import annotations

from edgesdk.ir import graph as ir
from edgesdk.ir.adder import AdderConv2D
from edgesdk.passes import Pass, PassContext, register
from edgesdk.passes._report import candidate, kernel_report


@register("default")
class AdderPass(Pass):
    name = "adder"

    def match(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        return isinstance(node, AdderConv2D) and "kernel" not in node.attrs

    def transform(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        w = graph.tensor(node.inputs[1])
        out = graph.tensor(node.outputs[0])
        adds = out.size * (w.size // w.shape[0])
        node.attrs["kernel"] = "adder"
        node.attrs["weight_tensor"] = node.inputs[1]
        node.attrs["kernel_report"] = kernel_report(
            {"adder": candidate(w.nbytes, adds * 4)},
            "adder",
            "AdderNet L1 convolution: the only kernel for this op (sums of absolute differences)",
            macs=0,
            adds=int(adds),
        )
        return True
