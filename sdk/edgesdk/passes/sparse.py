"""Unstructured sparsity in FULLY_CONNECTED layers runs with the sparse kernel where it pays.

Pruned weights (``compress --method prune=…``) stay zeros in the int8 ``.tflite``. This pass counts the
bytes of the dense int8 layer and of the relative-index sparse formats of
:mod:`edgesdk.ir.weightformats` (int8 values, or per-row codebook codes when the rows hold few distinct
values: Deep Compression's pruning + sharing), estimates the instructions of each kernel, and picks one per
layer (``node.attrs["kernel"]`` = ``"sparse"`` / ``"sparse_codebook"`` / ``"dense"``) with the candidates
and the reason in ``node.attrs["kernel_report"]``. The result is bit-identical to the dense kernel.
"""

from __future__ import annotations

import numpy as np

from edgesdk.ir import graph as ir
from edgesdk.ir import weightformats as wf
from edgesdk.passes import Pass, PassContext, register
from edgesdk.passes._select import estimate, offer, weight


def dense_fc_candidate(w: np.ndarray, batches: int) -> dict[str, int]:
    out = w.shape[0]
    return {
        "bytes": int(w.size),
        "instructions": estimate("dense_fc", w.size * batches, out * batches),
    }


@register("default")
class SparseFullyConnected(Pass):
    name = "sparse"

    def match(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        return node.op == "FULLY_CONNECTED" and weight(graph, node) is not None

    def transform(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        w = weight(graph, node)
        assert w is not None
        w = w.reshape(w.shape[0], -1)
        nnz = int(np.count_nonzero(w))
        if nnz * 2 > w.size and ctx.forced(node) not in ("sparse", "sparse_codebook"):
            return False  # more than half dense: no sparse format can win
        out = w.shape[0]
        batches = max(1, graph.tensor(node.inputs[0]).size // w.shape[1])
        cands = {"dense": dense_fc_candidate(w, batches)}
        info: dict = {"density": round(nnz / w.size, 4)}
        sp = wf.sparse_encode(w, 0)
        if sp is not None:
            cands["sparse"] = {
                "bytes": sp.nbytes,
                "instructions": estimate("sparse", sp.entries.size * batches, out * batches),
            }
        bits = wf.bits_for(wf.max_distinct(w))
        if bits is not None:
            spc = wf.sparse_encode(w, bits)
            if spc is not None:
                cands["sparse_codebook"] = {
                    "bytes": spc.nbytes,
                    "instructions": estimate("sparse_codebook", spc.entries.size * batches, out * batches),
                }
                info["code_bits"] = bits
        before = node.attrs.get("kernel")
        offer(node, ctx, cands, info)
        return node.attrs.get("kernel") != before
