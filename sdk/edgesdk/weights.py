"""Per-layer weight storage as the C backend keeps it: format, bytes, parameters, MACs or bit-ops.

"Weight bytes" are the bytes of a layer's weight (kernel) tensor as stored in flash with the kernel the passes
chose: 1 byte per weight for int8, two bit-planes (2 bits per weight) for ternary, one bit-plane for binary,
1 bit per weight for xnor. Biases and per-channel requantization arrays are the same for every format and are
listed separately (``other_bytes``). A kernel-selection pass that stores weights differently says so in
``node.attrs["kernel_report"]`` with the keys ``format`` (e.g. ``"ternary"``) and ``weight_bytes``.
"""

from __future__ import annotations

from typing import Any

from edgesdk.ir.graph import Graph, Node

WEIGHT_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def layer_weights(graph: Graph) -> list[dict[str, Any]]:
    """One row per layer that has weights: ``name, op, format, weight_bytes, other_bytes, params, macs``
    (and ``bitops`` for layers whose format counts bit operations instead of MACs)."""
    from edgesdk.inspect import _macs

    rows = []
    for node in graph.nodes:
        w = _weight_tensor(graph, node)
        if w is None:
            continue
        report = node.attrs.get("kernel_report", {}) if isinstance(node.attrs, dict) else {}
        fmt = str(report.get("format", node.attrs.get("format", "int8")))
        wt = graph.tensors[w]
        other = sum(
            graph.tensors[n].nbytes for n in node.inputs[2:] if n and graph.tensors[n].is_const
        ) + int(report.get("other_bytes", 0))
        row: dict[str, Any] = {
            "name": node.name,
            "op": node.op,
            "format": fmt,
            "weight_bytes": int(report.get("weight_bytes", wt.nbytes)),
            "other_bytes": int(other),
            "params": int(wt.size),
        }
        if "bitops" in report:
            row["bitops"] = int(report["bitops"])
        else:
            row["macs"] = int(report.get("macs", _macs(graph, node)))
        rows.append(row)
    return rows


def _weight_tensor(graph: Graph, node: Node) -> str | None:
    custom = node.attrs.get("weight_tensor") if isinstance(node.attrs, dict) else None
    if custom:
        return str(custom)
    if node.op in WEIGHT_OPS and len(node.inputs) > 1 and node.inputs[1]:
        t = graph.tensors[node.inputs[1]]
        return node.inputs[1] if t.is_const else None
    return None


def total_weight_bytes(graph: Graph) -> int:
    return sum(r["weight_bytes"] for r in layer_weights(graph))


__all__ = ["layer_weights", "total_weight_bytes"]
