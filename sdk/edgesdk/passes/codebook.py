"""Weight sharing runs from a codebook: few distinct int8 values per output channel, packed b-bit codes.

After ``compress --method share=4bit`` (k-means per layer) and int8 conversion, each output channel of a
layer holds at most 2^b distinct int8 values (per-channel scales map the shared centroids to a per-channel
set). This pass recognizes that in FULLY_CONNECTED and CONV_2D weights, counts the bytes of the codebook
format (:func:`edgesdk.ir.weightformats.codebook_encode`) against the dense int8 layer, estimates both
kernels' instructions and records the candidate (``"codebook"``) with the others in
``node.attrs["kernel_report"]``; the choice follows the pipeline's goal (speed or size). Bit-exact with the
int8 reference of the same weights.
"""

from __future__ import annotations

from edgesdk.compiler.weight_encoding import codebook_arrays, store
from edgesdk.ir import graph as ir
from edgesdk.ir import weightformats as wf
from edgesdk.passes import PassContext, register
from edgesdk.passes._report import BASELINE, candidate
from edgesdk.passes._select import (
    MatrixWeightsPass,
    conv_taps,
    dense_conv_candidate,
    dense_fc_candidate,
    estimate,
    fast_int8,
    offer,
)


@register("default")
class CodebookWeights(MatrixWeightsPass):
    name = "codebook"

    def transform(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        w = self.matched_weight(graph, node)
        distinct = wf.max_distinct(w)
        bits = wf.bits_for(distinct)
        if bits is None:
            return False
        cb = wf.codebook_encode(w)
        assert cb is not None
        encoded = codebook_arrays(cb)
        out = w.shape[0]
        if node.op == "FULLY_CONNECTED":
            batches = max(1, graph.tensor(node.inputs[0]).size // w.shape[1])
            dense = dense_fc_candidate(
                w.reshape(out, -1), batches, ctx.dsp, fast_int8(ctx), scalar=ctx.scalar
            )
            kind = "codebook_fc4" if bits == 4 else "codebook_fc"
            instr = estimate(kind, w.size * batches, out * batches)
        else:
            dense = dense_conv_candidate(
                graph, node, w, ctx.dsp, fast_int8(ctx), scalar=ctx.scalar, packed=ctx.scalar_packed
            )
            taps, pixels = conv_taps(graph, node)
            instr = estimate("codebook_conv", taps * w.shape[3] * out, pixels * out)
        if encoded.nbytes >= dense["bytes"] and ctx.forced(node) != "codebook":
            # A codebook as large as the weights is no sharing (a narrow row has few values anyway).
            return False
        before = node.attrs.get("kernel")
        offer(
            node,
            ctx,
            {BASELINE: dense, "codebook": candidate(encoded.nbytes, instr)},
            {"distinct_values": distinct, "codebook_bits": bits},
        )
        if node.attrs.get("kernel") == "codebook":
            store(node, encoded, ctx.target)
        return node.attrs.get("kernel") != before
