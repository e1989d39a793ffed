"""Per-layer weight storage as the C backend keeps it: format, bytes, parameters, MACs or bit-ops.

"Weight bytes" are the bytes of a layer's weights as stored in flash with the kernel the passes chose: the
arrays of the node's encoding (:func:`edgesdk.compiler.weight_encoding.weight_bytes`, the one count of weight bytes): 1 byte per
weight for int8, two bit-planes (2 bits per weight) for ternary, one bit-plane for binary, 1 bit per weight for
xnor, int16 copies at 2 bytes... Biases and per-channel requantization arrays are listed separately
(``other_bytes``). A kernel-selection pass names the format in ``node.attrs["kernel_report"]`` (``format``, e.g.
``"ternary"``, and ``other_bytes``, built by :func:`edgesdk.passes._report.kernel_report`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgesdk.compiler.weight_encoding import weight_bytes
from edgesdk.ir.graph import Graph, Node

WEIGHT_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
XNOR_OPS = ("EDGESDK_XNOR_FULLY_CONNECTED", "EDGESDK_XNOR_CONV_2D")


def layer_weights(
    graph: Graph, layer_bytes: dict[str, int] | None = None, target: str | None = "cortex-m-dsp"
) -> list[dict[str, Any]]:
    """One row per layer that has weights: ``name, op, format, weight_bytes, other_bytes, params, macs``
    (and ``bitops`` for layers whose format counts bit operations instead of MACs), and ``flash_bytes``: every
    constant array the C backend emits for the layer with its chosen kernel (weights in that kernel's encoding,
    biases, requantization), the figure export's flash estimate sums (``layer_bytes``, lowered here for
    ``target`` when not given; left out where the C backend cannot lower the graph)."""
    from edgesdk.commands.inspection import layer_macs
    from edgesdk.errors import UnsupportedOpError

    if layer_bytes is None:
        from edgesdk.backends.c.generator import constant_bytes

        try:
            layer_bytes = constant_bytes(graph, target=target)
        except UnsupportedOpError:
            layer_bytes = {}
    rows = []
    for node in graph.nodes:
        w = _weight_tensor(graph, node)
        if w is None:
            continue
        report = node.attrs.get("kernel_report", {}) if isinstance(node.attrs, dict) else {}
        if node.op in XNOR_OPS:
            report = {"format": "xnor", "bitops": _bitops(graph, node), **report}
        fmt = str(report.get("format", node.attrs.get("format", "int8")))
        wt = graph.tensors[w]
        stored = weight_bytes(graph, node, target)
        other = sum(
            graph.tensors[n].nbytes for n in node.inputs[2:] if n and graph.tensors[n].is_const
        ) + int(report.get("other_bytes", 0))
        if node.op in XNOR_OPS:
            other += 5 * len(node.threshold)  # int32 threshold + uint8 flip per channel
        row: dict[str, Any] = {
            "name": node.name,
            "op": node.op,
            "format": fmt,
            "weight_bytes": int(stored if stored is not None else report.get("weight_bytes", wt.nbytes)),
            "other_bytes": int(other),
            "params": int(_params(graph, node, wt)),
        }
        if node.name in layer_bytes:
            row["flash_bytes"] = int(layer_bytes[node.name])
        if "bitops" in report:
            row["bitops"] = int(report["bitops"])
        else:
            row["macs"] = int(report.get("macs", layer_macs(graph, node)))
        rows.append(row)
    return rows


def _params(graph: Graph, node: Any, wt: Any) -> int:
    """Weights of the layer (an XNOR layer's weights are bits, 32 to an int32 word)."""
    if node.op == "EDGESDK_XNOR_CONV_2D":
        return node.out_channels * node.kernel[0] * node.kernel[1] * node.in_channels
    if node.op == "EDGESDK_XNOR_FULLY_CONNECTED":
        return node.out_features * node.in_features
    return int(wt.size)


def _bitops(graph: Graph, node: Any) -> int:
    """XNOR + popcount bit operations: one per weight bit and output position."""
    out = graph.tensors[node.outputs[0]]
    w = graph.tensors[node.inputs[1]]
    positions = int(np.prod(out.shape[:-1]))
    if node.op == "EDGESDK_XNOR_CONV_2D":
        k = node.kernel[0] * node.kernel[1] * node.in_channels
        return positions * node.out_channels * k
    return positions * int(w.shape[0]) * int(node.in_features)


def _weight_tensor(graph: Graph, node: Node) -> str | None:
    custom = node.attrs.get("weight_tensor") if isinstance(node.attrs, dict) else None
    if custom:
        return str(custom)
    if node.op in XNOR_OPS:
        return node.inputs[1]
    if node.op in WEIGHT_OPS and len(node.inputs) > 1 and node.inputs[1]:
        t = graph.tensors[node.inputs[1]]
        return node.inputs[1] if t.is_const else None
    return None


def total_weight_bytes(graph: Graph) -> int:
    return sum(r["weight_bytes"] for r in layer_weights(graph))


__all__ = ["layer_weights", "total_weight_bytes"]
