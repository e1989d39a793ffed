"""Memory: let a layer's output trail its input in the same bytes where its kernel walks in order.

A kernel that walks its output pixels in order and reads no input behind a known window can write its output
over the input it reads for the last time (:mod:`edgesdk.compiler.overlap`; the kernel table's ``writes_behind`` says per
kernel and kernel folder how it walks). This pass annotates every such layer with ``attrs["writes_behind"]`` (its
kernel's block on the board's kernel folder); the planner (:mod:`edgesdk.compiler.planner`) decides which of them it
places overlapping, keeping those that lower the arena.

Where the arena is then set by a kernel choice, the layer is moved: a layer whose weights are decoded into the
arena per call (``kernel = "decoded"``, chosen by ``--optimize balanced`` to keep int8 weights in flash) runs its
inner kernel on its stored int16 weights instead (no decode scratch; the weights take twice the flash, the
instructions drop), and a 1x1 stride-1 layer whose kernel cannot overlap (the decoded int16 FC body walks output
channel blocks outside pixels) runs ``pointwise_w16`` on a DSP core, else ``pointwise_s8`` (with ``--optimize
size`` only ``pointwise_s8``, and a layer of compressed weights is not moved: the flash is what size saves). All moves are made,
then each is undone whose return does not grow the arena, or, for a move to int16 weights (a second copy in
flash, which ``--optimize balanced`` avoided), does not grow it by at least the flash bytes the copy adds (evaluated with every eligible depthwise layer in place,
as ``passes/dw_inplace.py``, which runs next, may put them). The report of a moved layer says the arena before
and after.
"""

from __future__ import annotations

import copy
from typing import Any

from edgesdk.compiler import dw_inplace as dwi
from edgesdk.compiler import kernels as kernel_table
from edgesdk.compiler import overlap
from edgesdk.ir import graph as ir
from edgesdk.passes import Pass, PassContext, pointwise, register
from edgesdk.passes import dw_inplace as dw_pass

#: Kernels a 1x1 stride-1 layer may move to for the overlap, fastest first (``--optimize size``: int8 weights only).
POINTWISE_KERNELS = (pointwise.KERNEL, pointwise.KERNEL8)
#: Kernels of compressed weights (bit-planes or codes, codebook codes, sparse entries) that ``--optimize size``
#: keeps whatever the arena: a pointwise kernel would store the layer's int8 or int16 weights instead.
COMPRESSED_KERNELS = ("ternary", "binary", "codebook", "sparse", "sparse_codebook")


def _target(ctx: PassContext) -> str | None:
    return kernel_table.core_target(ctx.core) if ctx.core else None


def _eligible(graph: ir.Graph, node: ir.Node) -> bool:
    """A layer with one activation input that dies at it (not the model's input, not an output)."""
    if node.op not in ("CONV_2D", "FULLY_CONNECTED") or len(node.outputs) != 1:
        return False
    if "fused_into" in node.attrs or "band_chain" in node.attrs:  # run by bands: their walk is another
        return False
    if not node.inputs or not node.inputs[0] or graph.tensor(node.inputs[0]).is_const:
        return False
    x = node.inputs[0]
    return (
        x not in graph.inputs and x not in graph.outputs and [c is node for c in graph.consumers(x)] == [True]
    )


#: Kernels instantiated per layer with constant parameters (``attrs["specialize"]``), as their passes set it.
SPECIALIZED_INNER = ("w16", pointwise.KERNEL, "im2col_w16")


def _switch(graph: ir.Graph, node: ir.Node, kernel: str) -> None:
    """Run the layer with ``kernel`` ("" the dense one) on its stored weights, as the pass choosing it sets it."""
    for key in ("decoded", "specialize"):
        node.attrs.pop(key, None)
    if kernel:
        node.attrs["kernel"] = kernel
    else:
        node.attrs.pop("kernel", None)
    if kernel in SPECIALIZED_INNER:
        node.attrs["specialize"] = True


def _move(graph: ir.Graph, node: ir.Node, ctx: PassContext, target: str | None, eligible: bool) -> str | None:
    """The kernel ``node`` may move to (see the module docstring), or None."""
    if ctx.forced(node) is not None:
        return None
    kernel = node.attrs.get("kernel", "")
    if kernel == "decoded" and "decoded" in node.attrs:
        inner = node.attrs["decoded"].get("inner", "")
        if node.attrs["decoded"].get("format") == "int8" and ctx.allowed(node, inner or kernel_table.DENSE):
            return inner
    if (
        not eligible
        or overlap.declared_block(node, target) is not None
        or not pointwise._eligible(graph, node)
    ):
        return None
    if ctx.optimize == "size" and kernel in COMPRESSED_KERNELS:
        return None  # the int8 / int16 weights of the pointwise kernels would undo the compression
    for k in POINTWISE_KERNELS:
        if (
            (k != pointwise.KERNEL or (ctx.dsp and ctx.optimize != "size"))
            and ctx.allowed(node, k)
            and kernel_table.writes_behind(node.op, k, target)
        ):
            return k
    return None


@register("default")
class OverlapPass(Pass):
    """Annotate layers whose kernel lets the output trail the input; move 1x1 layers where that pays."""

    name = "overlap"

    def run(self, graph: ir.Graph, ctx: PassContext) -> bool:
        from edgesdk.compiler.planner import keep_lowering, plan

        target = _target(ctx)
        layers = [n for n in graph.nodes if _eligible(graph, n)]
        moves: list[tuple[ir.Node, str, dict[str, Any]]] = []
        for n in graph.nodes:
            k = _move(graph, n, ctx, target, any(n is m for m in layers))
            if k is not None:
                moves.append((n, k, copy.deepcopy(n.attrs)))
        dws = [n for n in graph.nodes if "kernel" not in n.attrs and dw_pass._applies(graph, n)]
        dws = [n for n in dws if ctx.allowed(n, dwi.KERNEL) and n.inputs[0] not in graph.inputs]

        def annotate() -> None:
            for n in layers:
                block = overlap.declared_block(n, target)
                if block is None:
                    n.attrs.pop(overlap.ATTR, None)
                else:
                    n.attrs[overlap.ATTR] = block

        def arena(active: list[tuple[ir.Node, str, dict[str, Any]]]) -> int:
            for n, k, saved in moves:
                n.attrs.clear()
                n.attrs.update(copy.deepcopy(saved))
                if any(m is n for m, _, _ in active):
                    _switch(graph, n, k)
            annotate()
            for n in dws:
                n.attrs["kernel"] = dwi.KERNEL
            try:
                return plan(graph).arena_bytes
            finally:
                for n in dws:
                    n.attrs.pop("kernel", None)

        before = arena([]) if moves else 0
        chosen, best = keep_lowering(moves, arena)
        for m in list(chosen):  # balanced stored int8 weights to save flash: a copy must save as much RAM
            n, k = m[0], m[1]
            if k not in SPECIALIZED_INNER:
                continue
            trial = [c for c in chosen if c is not m]
            a = arena(trial)
            if a - best < graph.tensor(n.inputs[1]).nbytes:
                chosen, best = trial, a
        arena(chosen)  # leaves the chosen moves applied and every layer annotated
        for n, k, saved in chosen:
            self._report(graph, n, k, saved, before, best)
        return bool(chosen) or any(overlap.ATTR in n.attrs for n in layers)

    @staticmethod
    def _report(
        graph: ir.Graph, node: ir.Node, kernel: str, saved: dict[str, Any], before: int, after: int
    ) -> None:
        prev = saved.get("kernel", "") or kernel_table.DENSE
        old = saved.get("kernel_report", {})
        if prev == "decoded":
            why = (
                f"the int8 weights decoded per call need {old.get('scratch_bytes', 0):,} B of arena at this layer: "
                f"{kernel or kernel_table.DENSE} on the stored weights instead"
            )
        else:
            why = (
                f"the {prev} kernel cannot write its output over its input (it walks output channel blocks over "
                f"all pixels); {kernel} walks pixel by pixel, so the output may trail the input"
            )
        node.attrs["kernel_report"] = {
            **old,
            "format": "int16" if kernel in SPECIALIZED_INNER else "int8",
            "arena_bytes": {"before": before, "after": after},
            "why": f"memory: {why} (arena {before:,} -> {after:,} B)"
            + (f"; before: {old['why']}" if old.get("why") else ""),
        }
