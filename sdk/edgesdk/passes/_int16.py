"""Shared by the speed passes whose kernel stores a layer's weights as int16 (1x1 as FC, im2col): the
decision between that kernel and the direct int8 convolution, and the report it leaves.

The int16 kernels trade twice the weights' flash for fewer instructions, so they follow one rule: forced or
forbidden by the user first; ``--optimize size`` keeps int8; speed takes the int16 kernel where the board's
flash is known, the model's constants (with every int16 copy chosen so far) stay within half of it, and the
estimate says it pays by ``min_speedup``. ``--optimize balanced`` (the default) chooses as speed does, then keeps
only the flash copies that buy at least ``BALANCED_INSNS_PER_BYTE`` instructions per byte they add
(``passes/balanced_copies.py``, after the decoded-weights pass has moved what it can into RAM).
"""

from __future__ import annotations

from typing import Any

from edgesdk.compiler import kernels as kernel_table
from edgesdk.ir import graph as ir
from edgesdk.passes import Pass, PassContext

#: Kernels that store a layer's weights as int16 (their int8 weights' bytes again): the kernel table's rows
#: with the encoding "int16".
INT16_KERNELS = kernel_table.names_with_encoding("int16")


class Int16WeightsPass(Pass):
    """A speed pass whose kernel stores a layer's weights as int16: it looks at the layers of a core with the DSP
    kernels that no pass chose a kernel for yet and that :meth:`eligible` accepts."""

    def eligible(self, graph: ir.Graph, node: ir.Node) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def match(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        return ctx.dsp and "kernel" not in node.attrs and self.eligible(graph, node)

    @staticmethod
    def weights_and_output(graph: ir.Graph, node: ir.Node) -> tuple[ir.Tensor, ir.Tensor]:
        """The layer's weights (input 1) and output tensors."""
        return graph.tensor(node.inputs[1]), graph.tensor(node.outputs[0])


class ShapeRulePass(Pass):
    """A pass for the layers no pass chose a kernel for yet whose shape rule (:meth:`shape`) accepts them: it
    returns the shape figures the pass's cost model needs, None where the kernel cannot run the layer."""

    def shape(self, graph: ir.Graph, node: ir.Node) -> dict[str, Any] | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def match(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        return "kernel" not in node.attrs and self.shape(graph, node) is not None

    def matched_shape(self, graph: ir.Graph, node: ir.Node) -> dict[str, Any]:
        """The shape figures of a layer :meth:`match` accepted."""
        shape = self.shape(graph, node)
        assert shape is not None
        return shape


#: ``--optimize balanced`` stores a layer's weights in a larger form (int16 copies, Winograd's transformed
#: weights) only where the estimate saves at least this many executed instructions per inference for each byte
#: of flash the copy adds: a weight reused over many outputs (a convolution over a large image) pays, a
#: fully-connected weight used once per inference (~0.55 instructions per byte) never does. On the MLPerf Tiny
#: models this keeps IC's Winograd layers up to 32 channels and the 1x1 layers of the high-resolution stages,
#: and keeps AD's and IC's images below TFLM + CMSIS-NN's.
BALANCED_INSNS_PER_BYTE = 32.0


def balanced_refusal(ctx: PassContext, saved: float, extra: int) -> str | None:
    """Why ``--optimize balanced`` keeps the int8 weights instead of a copy that adds ``extra`` bytes of flash and
    saves an estimated ``saved`` instructions per inference; None where it takes it (or the goal is not balanced).
    ``PassContext.options["balanced_insns_per_byte"]`` overrides the threshold (a negative one keeps every copy)."""
    if ctx.optimize != "balanced" or extra <= 0:
        return None
    per_byte = saved / extra
    least = float(ctx.options.get("balanced_insns_per_byte", BALANCED_INSNS_PER_BYTE))
    if per_byte >= least:
        return None
    return (
        f"--optimize balanced: int8 weights kept in flash; the copy would add {extra} B for est. {int(saved)} "
        f"fewer instructions ({per_byte:.1f} per byte, under {least:g})"
    )


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


def flash_rule(
    ctx: PassContext,
    node: ir.Node,
    kernel: str,
    need: int,
    *,
    forbidden: str,
    size_why: str,
    weights: str,
    kept: str = "direct",
) -> tuple[bool, str] | None:
    """The rules every kernel that trades flash for speed follows before its cost (int16 weights, Winograd's
    transformed weights): forced or forbidden by the user; ``--optimize size`` keeps the int8 kernel
    (``size_why``); no choice where the board's flash is unknown; none where the model's constants (``need``
    bytes with this kernel) would pass half of it. (chosen, why), or None when the estimate decides."""
    flash = int(ctx.options.get("flash_bytes", 0) or 0)
    if ctx.forced(node) == kernel:
        return True, "forced by the user"
    if not ctx.allowed(node, kernel):
        return False, f"{forbidden} forbidden by the user"
    if ctx.optimize == "size":
        return False, size_why
    if not flash:
        return False, f"the board's flash is not known (PassContext.options['flash_bytes']): {kept} kept"
    if need > flash // 2:
        return False, (
            f"{weights} would bring the model's constants to {need} B, over half of the board's {flash} B of flash"
        )
    return None


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
    need = sum(t.nbytes for t in graph.tensors.values() if t.data is not None) + doubled_bytes(graph)
    need += cand[kernel]["weight_bytes"] - w.nbytes
    rule = flash_rule(
        ctx, node, kernel, need, forbidden=what, weights="int16 weights",
        size_why=f"--optimize size: int8 weights {w.nbytes} B kept (direct convolution)",
    )  # fmt: skip
    if rule is not None:
        choose, why = rule
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


def size_int8(
    node: ir.Node,
    ctx: PassContext,
    kernel: str,
    chosen: bool,
    cand: dict[str, Any],
    direct: int,
    what: str,
    min_speedup: float = 1.0,
) -> bool:
    """After :func:`decide`: the int8-weight form ``kernel`` of the same idea (``cand``: its ``instructions``,
    ``weight_bytes``...), added to the report's candidates and taken where the user forces it, or where
    ``--optimize size`` kept the int8 weights and it is estimated ``min_speedup`` faster than the direct kernel
    (``direct`` instructions): the same bytes, fewer instructions. ``what`` describes it in the reason. Returns
    whether the node's kernel was set (by either)."""
    rep = node.attrs["kernel_report"]
    rep["candidates"][kernel] = cand
    forced = ctx.forced(node) == kernel
    if not forced and (
        chosen
        or ctx.optimize != "size"
        or not ctx.allowed(node, kernel)
        or cand["instructions"] * min_speedup >= direct
    ):
        return chosen
    node.attrs["kernel"] = kernel
    rep["format"], rep["weight_bytes"] = "int8", cand["weight_bytes"]
    rep["why"] = (
        "forced by the user"
        if forced
        else f"{rep['why']}; {what} instead: the same {cand['weight_bytes']} B of weights, "
        f"est. {cand['instructions']} instead of {direct} instructions"
    )
    return True


def prefer_int8(node: ir.Node, ctx: PassContext, kernel: str, cand: dict[str, Any], what: str) -> bool:
    """After :func:`decide`: take the int8-weight kernel ``kernel`` (``cand``: its ``instructions``,
    ``weight_bytes``) for every goal where it is estimated no slower than the kernel :func:`decide` chose (or the
    direct one): the int8 weights' bytes and fewer instructions leave nothing to trade. Not where the user forces
    another kernel or forbids it. ``what`` describes it in the reason; returns whether it was taken."""
    rep = node.attrs["kernel_report"]
    rep["candidates"][kernel] = cand
    if not ctx.allowed(node, kernel) or ctx.forced(node) not in (None, kernel):
        return False
    current = node.attrs.get("kernel") or "direct"
    best = rep["candidates"].get(current, {}).get("instructions")
    if ctx.forced(node) != kernel and (best is None or cand["instructions"] > best):
        return False
    node.attrs["kernel"] = kernel
    node.attrs.pop("specialize", None)
    rep["format"], rep["weight_bytes"] = "int8", cand["weight_bytes"]
    rep["why"] = (
        "forced by the user"
        if ctx.forced(node) == kernel
        else f"{what}: the int8 weights' {cand['weight_bytes']} B, est. {cand['instructions']} instructions "
        f"against {best} with {current}"
    )
    return True
