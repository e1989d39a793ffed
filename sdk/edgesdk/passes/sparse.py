"""Unstructured sparsity runs with the sparse kernel where it pays (FULLY_CONNECTED and CONV_2D).

Pruned weights (``compress --method prune=…``) stay zeros in the int8 ``.tflite``. This pass counts the
bytes of the dense int8 layer and of the relative-index sparse formats of :mod:`edgesdk.ir.weightformats`
(int8 values, or for FULLY_CONNECTED per-row codebook codes when the rows hold few distinct values: Deep
Compression's pruning + sharing), estimates the instructions of each kernel, and picks one per layer
(``node.attrs["kernel"]`` = ``"sparse"`` / ``"sparse_codebook"`` / ``"dense"``) with the candidates and the
reason in ``node.attrs["kernel_report"]`` (the shape of :mod:`edgesdk.passes._report`). The result is
bit-identical to the dense kernel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgesdk.compiler.weight_encoding import Encoding, sparse_arrays, store
from edgesdk.ir import graph as ir
from edgesdk.ir import weightformats as wf
from edgesdk.passes import PassContext, register
from edgesdk.passes._report import BASELINE, candidate
from edgesdk.passes._select import (
    MatrixWeightsPass,
    dense_conv_candidate,
    dense_fc_candidate,
    estimate,
    fast_int8,
    interior_pixels,
    offer,
)


@register("default")
class SparseWeights(MatrixWeightsPass):
    name = "sparse"

    def transform(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        w = self.matched_weight(graph, node)
        rows = w.reshape(w.shape[0], -1)
        nnz = int(np.count_nonzero(rows))
        if nnz * 2 > rows.size and ctx.forced(node) not in ("sparse", "sparse_codebook"):
            return False  # more than half dense: no sparse format can win
        out = rows.shape[0]
        info: dict = {"density": round(nnz / rows.size, 4)}
        sp = wf.sparse_encode(rows, 0)
        encoded: dict[str, Encoding] = {}
        if sp is not None:
            encoded["sparse"] = sparse_arrays(sp)
        before = node.attrs.get("kernel")
        if node.op == "CONV_2D":
            inner, pixels = interior_pixels(graph, node)
            if tuple(getattr(node, "dilation", (1, 1)))[1] != 1:
                inner = 0  # the fast path needs contiguous kernel rows
            cands = {
                BASELINE: dense_conv_candidate(
                    graph, node, w, ctx.dsp, fast_int8(ctx), scalar=ctx.scalar, packed=ctx.scalar_packed
                )
            }
            if sp is not None:
                n = sp.entries.size
                border = estimate("sparse_conv_border", (pixels - inner) * n, 0)
                cands["sparse"] = candidate(
                    encoded["sparse"].nbytes, estimate("sparse_conv", inner * n, pixels * out, border)
                )
            offer(node, ctx, cands, info)
            return _chosen(node, before, encoded, ctx.target)
        batches = max(1, graph.tensor(node.inputs[0]).size // rows.shape[1])
        cands = {BASELINE: dense_fc_candidate(rows, batches, ctx.dsp, fast_int8(ctx), scalar=ctx.scalar)}
        if sp is not None:
            cands["sparse"] = candidate(
                encoded["sparse"].nbytes, estimate("sparse", sp.entries.size * batches, out * batches)
            )
        bits = wf.bits_for(wf.max_distinct(rows))
        if bits is not None:
            spc = wf.sparse_encode(rows, bits)
            if spc is not None:
                encoded["sparse_codebook"] = sparse_arrays(spc)
                cands["sparse_codebook"] = candidate(
                    encoded["sparse_codebook"].nbytes,
                    estimate("sparse_codebook", spc.entries.size * batches, out * batches),
                )
                info["code_bits"] = bits
        offer(node, ctx, cands, info)
        return _chosen(node, before, encoded, ctx.target)


def _chosen(node: ir.Node, before: Any, encoded: dict[str, Encoding], target: str | None) -> bool:
    """Store the encoding of the kernel :func:`offer` chose, if it is one of ``encoded``; whether it changed."""
    kernel = node.attrs.get("kernel")
    if kernel in encoded:
        store(node, encoded[kernel], target)
    return kernel != before
