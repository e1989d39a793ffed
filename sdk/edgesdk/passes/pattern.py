"""Pattern-pruned 3x3 convolutions run with a kernel generated for the layer that computes only its taps.

``compress --method pattern=4`` leaves every 3x3 kernel of a CONV_2D either all zero (connectivity pruning)
or with its nonzeros inside one of a few 4-tap patterns (Niu et al., "PatDNN", ASPLOS 2020). This pass
recognizes that (:func:`edgesdk.ir.weightformats.pattern_encode`), estimates the instructions of the
generated kernel against the dense int8 kernel, and records ``node.attrs["kernel"] = "pattern"`` when it
wins. The C backend then emits one function per layer with each pattern's tap offsets as constants.
"""

from __future__ import annotations

from edgesdk.compiler.weight_encoding import pattern_arrays, store
from edgesdk.ir import graph as ir
from edgesdk.ir import weightformats as wf
from edgesdk.passes import Pass, PassContext, register
from edgesdk.passes._report import BASELINE, candidate
from edgesdk.passes._select import (
    PATTERN_PER_KERNEL,
    dense_conv_candidate,
    estimate,
    fast_int8,
    interior_pixels,
    offer,
    weight,
)

TAPS = 4


@register("default")
class PatternConv(Pass):
    name = "pattern"

    def match(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        if node.op != "CONV_2D" or len(node.inputs) < 2:
            return False
        t = graph.tensor(node.inputs[1])
        return (
            len(t.shape) == 4
            and t.shape[1:3] == (3, 3)
            and t.shape[3] == graph.tensor(node.inputs[0]).shape[-1]
            and weight(graph, node) is not None
        )

    def transform(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        w = weight(graph, node)
        assert w is not None
        pt = wf.pattern_encode(w, TAPS)
        if pt is None:
            return False
        encoded = pattern_arrays(pt)
        encoded.info["n_taps"] = TAPS
        out_c = w.shape[0]
        inner, pixels = interior_pixels(graph, node)
        kept = int(pt.kernel_ic.size)
        per_inner, per_border = PATTERN_PER_KERNEL
        instr = estimate(
            "pattern", 0, pixels * out_c, kept * (inner * per_inner + (pixels - inner) * per_border)
        )
        before = node.attrs.get("kernel")
        offer(
            node,
            ctx,
            {
                BASELINE: dense_conv_candidate(
                    graph, node, w, ctx.dsp, fast_int8(ctx), scalar=ctx.scalar, packed=ctx.scalar_packed
                ),
                "pattern": candidate(encoded.nbytes, instr, other_bytes=4 * out_c),
            },
            {"taps": TAPS, "patterns": len(pt.taps), "kernels_kept": kept, "kernels_total": pt.kernels_total},
        )
        if node.attrs.get("kernel") == "pattern":
            store(node, encoded, ctx.target)
        return node.attrs.get("kernel") != before
