"""What a model costs: per-layer shapes, parameters, MACs, weight and activation bytes, and the peak live
activation memory (the lower bound of any arena that runs the layers in this order).

Counting rules (stated here because every tool counts a little differently):

- MACs are the multiply-accumulates of CONV_2D (``out_h*out_w*out_c * kh*kw*in_c``), DEPTHWISE_CONV_2D
  (``out_h*out_w*out_c * kh*kw``), FULLY_CONNECTED (``rows * out * in``) and MUL (one per output
  element). Pooling, ADD, softmax, reshapes and (de)quantization count 0: they do no multiply-accumulate
  with weights, and this is how the MLPerf Tiny figures (IC 12.5 M MACs) are counted.
- Params are the elements of a layer's constant inputs that carry learned values (weights, biases, a
  constant operand of ADD/MUL), not the int32 shape/axes/paddings operands of RESHAPE, MEAN and PAD.
  Weight bytes are those tensors' bytes as stored (int8 weights, int32 biases); quantization scales are
  not counted.
- Activation memory: a tensor is live from the step that produces it (graph inputs: from the first
  step) to the last step that reads it (graph outputs: to the last step). At each step the live bytes
  are summed; the peak over steps is the arena lower bound for this execution order.
- A RESHAPE output aliases its input by default (``alias_reshape=True``): a reshape of a contiguous
  NHWC tensor moves no data, so a backend can give both names one buffer, which then lives from the
  input's first to the output's last use. With ``alias_reshape=False`` the output is a separate buffer,
  as in TFLite Micro's planner.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgesdk.compiler.planner import lifetimes
from edgesdk.ir.graph import Graph, Node

#: Ops whose constant inputs are structure (shapes, axes, paddings), not learned parameters.
_STRUCTURAL_CONSTS = {"RESHAPE": (1,), "MEAN": (1,), "PAD": (1, 2), "PADV2": (1, 2)}


def layer_macs(graph: Graph, node: Node) -> int:
    t = graph.tensors
    if not node.outputs:
        return 0
    out = t[node.outputs[0]].shape
    if node.op == "CONV_2D":
        w = t[node.inputs[1]].shape  # O H W I
        return int(np.prod(out, dtype=np.int64)) * w[1] * w[2] * w[3]
    if node.op == "DEPTHWISE_CONV_2D":
        w = t[node.inputs[1]].shape  # 1 H W C*M
        return int(np.prod(out, dtype=np.int64)) * w[1] * w[2]
    if node.op == "FULLY_CONNECTED":
        w = t[node.inputs[1]].shape  # out x in
        rows = int(np.prod(out, dtype=np.int64)) // w[0]
        return rows * w[0] * w[1]
    if node.op == "MUL":
        return int(np.prod(out, dtype=np.int64))
    return 0


def _param_tensors(graph: Graph, node: Node) -> list[str]:
    skip = _STRUCTURAL_CONSTS.get(node.op, ())
    return [
        name for i, name in enumerate(node.inputs) if name and graph.tensors[name].is_const and i not in skip
    ]


def live_intervals(graph: Graph, *, alias_reshape: bool = True) -> dict[str, tuple[int, int, int]]:
    """``{buffer: (first_step, last_step, bytes)}`` for every activation buffer (see the module docstring).

    Steps are node positions; graph inputs start at step 0 and graph outputs end at the last step. The
    lifetimes are the planner's, without in-place reuse, so this bound holds for any kernel.
    """
    return {
        b.name: (b.first, b.last, b.size)
        for b in lifetimes(graph, alias_reshape=alias_reshape, inplace=False)
    }


def peak_memory(graph: Graph, *, alias_reshape: bool = True) -> tuple[int, list[int]]:
    """(peak live activation bytes, live bytes at each step)."""
    spans = live_intervals(graph, alias_reshape=alias_reshape)
    steps = max(len(graph.nodes), 1)
    live = [0] * steps
    for a, b, n in spans.values():
        for s in range(a, b + 1):
            live[s] += n
    return (max(live) if live else 0), live


def _shape(shape: tuple[int, ...]) -> list[int]:
    return [int(d) for d in shape]


def summarize(graph: Graph, *, alias_reshape: bool = True) -> dict[str, Any]:
    """A JSON-ready summary of ``graph``: one entry per layer and the totals (rules in the module doc)."""
    t = graph.tensors
    peak, live = peak_memory(graph, alias_reshape=alias_reshape)
    layers: list[dict[str, Any]] = []
    for step, node in enumerate(graph.nodes):
        params = _param_tensors(graph, node)
        act_in = [n for n in node.inputs if n and not t[n].is_const]
        layers.append(
            {
                "name": node.name,
                "op": node.op,
                "input_shapes": [_shape(t[n].shape) for n in act_in],
                "output_shapes": [_shape(t[n].shape) for n in node.outputs],
                "params": int(sum(t[n].size for n in params)),
                "macs": int(layer_macs(graph, node)),
                "weight_bytes": int(sum(t[n].nbytes for n in params)),
                "activation_bytes": int(sum(t[n].nbytes for n in node.outputs)),
                "live_bytes": int(live[step]) if step < len(live) else 0,
            }
        )
    peak_step = int(np.argmax(live)) if graph.nodes else 0
    acts = graph.activation_tensors()
    return {
        "model": graph.name,
        "source": graph.source,
        "sha256": graph.sha256,
        "inputs": [{"name": n, "shape": _shape(t[n].shape), "dtype": t[n].dtype} for n in graph.inputs],
        "outputs": [{"name": n, "shape": _shape(t[n].shape), "dtype": t[n].dtype} for n in graph.outputs],
        "layers": layers,
        "totals": {
            "layers": len(layers),
            "params": int(sum(layer["params"] for layer in layers)),
            "macs": int(sum(layer["macs"] for layer in layers)),
            "weight_bytes": int(sum(layer["weight_bytes"] for layer in layers)),
            "activation_bytes": int(sum(a.nbytes for a in acts)),
            "peak_activation_bytes": int(peak),
            "peak_layer": graph.nodes[peak_step].name if graph.nodes else "",
        },
        "memory_model": "live from producer to last consumer; "
        + ("reshape aliases its input" if alias_reshape else "reshape output is its own buffer"),
    }


def _fmt_shape(shapes: list[list[int]]) -> str:
    return ", ".join("x".join(str(d) for d in s) for s in shapes) or "-"


def _si(n: int) -> str:
    if n >= 10_000_000:
        return f"{n / 1e6:.1f}M"
    if n >= 10_000:
        return f"{n / 1e3:.1f}k"
    return str(n)


def format_summary(summary: dict[str, Any]) -> str:
    """An aligned text table of :func:`summarize`'s result, then the totals."""
    head = ("#", "layer", "op", "input", "output", "params", "MACs", "weights B", "act B", "live B")
    rows = [head]
    for i, layer in enumerate(summary["layers"]):
        rows.append(
            (
                str(i),
                layer["name"],
                layer["op"],
                _fmt_shape(layer["input_shapes"]),
                _fmt_shape(layer["output_shapes"]),
                f"{layer['params']:,}",
                f"{layer['macs']:,}",
                f"{layer['weight_bytes']:,}",
                f"{layer['activation_bytes']:,}",
                f"{layer['live_bytes']:,}",
            )
        )
    numeric = {0, 5, 6, 7, 8, 9}
    widths = [max(len(r[c]) for r in rows) for c in range(len(head))]

    def line(r: tuple[str, ...]) -> str:
        cells = [r[c].rjust(widths[c]) if c in numeric else r[c].ljust(widths[c]) for c in range(len(r))]
        return "  ".join(cells).rstrip()

    tot = summary["totals"]
    ins = ", ".join(f"{d['name']} {'x'.join(map(str, d['shape']))} {d['dtype']}" for d in summary["inputs"])
    outs = ", ".join(f"{d['name']} {'x'.join(map(str, d['shape']))} {d['dtype']}" for d in summary["outputs"])
    out = [
        f"model {summary['model']}" + (f" (sha256:{summary['sha256'][:12]})" if summary.get("sha256") else "")
    ]
    out.append(f"inputs:  {ins}")
    out.append(f"outputs: {outs}")
    out.append("")
    out.append(line(head))
    out.append("  ".join("-" * w for w in widths))
    out.extend(line(r) for r in rows[1:])
    out.append("")
    out.append(
        f"{tot['layers']} layers, {tot['params']:,} params, {tot['macs']:,} MACs ({_si(tot['macs'])}), "
        f"{tot['weight_bytes']:,} weight bytes as read (int8 tensors)"
    )
    out.append(
        f"peak live activations of the layers as read: {tot['peak_activation_bytes']:,} bytes at layer "
        f"{tot['peak_layer']} ({summary['memory_model']}; no fusion or in-place kernels)"
    )
    t = summary.get("export")
    if t:
        total = lambda used, of: f"{used:,}" + (f"/{of:,}" if of else "")  # noqa: E731
        out.append(
            f"export for {t['board']} (--optimize {t['optimize']}): arena {t['arena_bytes']:,} bytes after the "
            f"passes (planner's lower bound {t['arena_lower_bound']:,}), flash {total(t['flash'], t['flash_total'])} "
            f"bytes (weights {t['weights']:,} + code {t['code']:,}), RAM {total(t['ram'], t['ram_total'])} bytes "
            f"(with {t['stack_reserved']:,} of stack reserved)"
            + (f", stack ~{t['stack_estimate']:,} bytes deepest call chain" if "stack_estimate" in t else "")
        )
        if not t["fits"]:
            out.append(f"does not fit: {t['does_not_fit']}")
    return "\n".join(out)


__all__ = ["format_summary", "live_intervals", "peak_memory", "summarize"]
