"""Shared by the speed passes whose kernel stores a layer's weights as int16 (1x1 as FC, im2col): the
decision between that kernel and the direct int8 convolution, and the report it leaves.

The int16 kernels trade twice the weights' flash for fewer instructions, so they follow one rule: forced or
forbidden by the user first; ``--optimize size`` keeps int8; speed takes the int16 kernel where the board's
flash is known, the model's constants (with every int16 copy chosen so far) stay within half of it, and the
estimate says it pays by ``min_speedup``.
"""

from __future__ import annotations

from typing import Any

from edgesdk import kernels as kernel_table
from edgesdk.ir import graph as ir
from edgesdk.passes import PassContext

#: Kernels that store a layer's weights as int16 (their int8 weights' bytes again): the kernel table's rows
#: with the encoding "int16".
INT16_KERNELS = kernel_table.names_with_encoding("int16")


def int8_conv(graph: ir.Graph, node: ir.Node) -> tuple[ir.Tensor, ir.Tensor, ir.Tensor] | None:
    """(input, weights, output) of a CONV_2D with constant int8 weights and int8 input and output, else None."""
    if node.op != "CONV_2D" or len(node.inputs) < 2:
        return None
    x, w, out = graph.tensor(node.inputs[0]), graph.tensor(node.inputs[1]), graph.tensor(node.outputs[0])
    if w.data is None or (w.dtype, x.dtype, out.dtype) != ("int8", "int8", "int8"):
        return None
    return x, w, out


def doubled_bytes(graph: ir.Graph) -> int:
    """Bytes the int16 weights already chosen add to the model's constants."""
    return sum(
        graph.tensor(n.inputs[1]).nbytes for n in graph.nodes if n.attrs.get("kernel") in INT16_KERNELS
    )


def decide(
    graph: ir.Graph,
    node: ir.Node,
    ctx: PassContext,
    kernel: str,
    cand: dict[str, dict[str, Any]],
    what: str,
    min_speedup: float = 1.0,
) -> bool:
    """Choose between ``cand["direct"]`` and ``cand[kernel]`` (``instructions``, ``weight_bytes``) by the rule
    above; ``what`` describes the int16 kernel in the reason. Writes ``node.attrs["kernel_report"]`` and, when
    chosen, ``kernel`` and ``specialize``; returns whether the kernel was chosen."""
    w = graph.tensor(node.inputs[1])
    direct, fast = cand["direct"]["instructions"], cand[kernel]["instructions"]
    flash = int(ctx.options.get("flash_bytes", 0) or 0)
    need = sum(t.nbytes for t in graph.tensors.values() if t.data is not None) + doubled_bytes(graph)
    need += cand[kernel]["weight_bytes"] - w.nbytes
    if ctx.forced(node) == kernel:
        choose, why = True, "forced by the user"
    elif not ctx.allowed(node, kernel):
        choose, why = False, f"{what} forbidden by the user"
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
    elif direct < min_speedup * fast:
        choose, why = False, f"est. {direct} instructions direct vs {fast} with {what}: does not pay"
    else:
        choose, why = (
            True,
            f"--optimize speed: {what}, est. {direct / fast:.2f}x fewer instructions for "
            f"{cand[kernel]['weight_bytes'] - w.nbytes} more bytes of weights",
        )
    node.attrs["kernel_report"] = {
        "format": "int16" if choose else "int8",
        "weight_bytes": cand[kernel if choose else "direct"]["weight_bytes"],
        "candidates": cand,
        "why": why,
    }
    if choose:
        node.attrs["kernel"] = kernel
        node.attrs["specialize"] = True
    return choose
