"""Memory: a depthwise conv whose input dies at it writes its output over that input (``kernel = "inplace"``).

A depthwise layer with depth multiplier 1 reads, for output row ``oy``, only input rows from
``oy * stride - pad_top`` on, so its output can be produced in the input's own bytes with a ring of one or two
output rows of scratch (``edgesdk.compiler.dw_inplace``; the approach of in-place depthwise in memory-lean inference
engines, e.g. MCUNet's TinyEngine, Lin et al., NeurIPS 2020). The layer then needs ``max(input, output) +
scratch`` bytes of arena instead of ``input + output``. Eligible: a layer whose input no other layer reads and
that is neither a graph output nor the model's input (left intact unless the user forces ``--kernel
LAYER=inplace``). The planner aliases the two tensors and counts the scratch; the C backend calls
``ed_dwconv_inplace_s8`` (the core's depthwise kernel row by row, so results are bit-exact).

The price is a call per output row and the copy of the rows that pass through the scratch (a few per cent of
the layer's instructions), so the pass keeps only the layers that lower the arena: it asks the planner
(``edgesdk.compiler.planner``, the same one the export uses) for the arena with every eligible layer in place, then
drops, one at a time, each layer whose removal does not make the arena grow. A layer the user forces stays in
place; ``--kernel LAYER=dense`` keeps one regular.
"""

from __future__ import annotations

from edgesdk.compiler import dw_inplace
from edgesdk.ir import graph as ir
from edgesdk.passes import Pass, PassContext, register
from edgesdk.passes._report import BASELINE, candidate, kernel_report

KERNEL = dw_inplace.KERNEL


#: Estimated instructions of the regular kernel: on DSP cores the band path's cost model
#: (``edgesdk.passes.winograd_dw.direct_cost``, times ``GENERAL_PATH_FACTOR`` off that path), elsewhere per output
#: (portable C). The in-place kernel's extra cost: none where the DSP kernel writes in place itself
#: (``SELF_ATTR``); otherwise per staged row copied (per word), per kernel call, and per kernel call and channel
#: (each call builds the channel groups' weights and requantization again and refills two band rows).
PER_OUTPUT = {"portable": 240}
PER_WORD_COPIED, PER_CALL = 4, 60
PER_CALL_CHANNEL = {"dsp": 200, "portable": 6}
#: Output rows per call the pass tries (more rows: fewer calls, more scratch), and the instructions a byte of
#: arena must save to be spent (``--optimize balanced``'s rule for a flash copy, 32 per byte).
ROWS_CHOICES, INSN_PER_BYTE = (2, 4), 32


def estimate(graph: ir.Graph, node: ir.Node, sched: dw_inplace.InplaceSchedule, dsp: bool) -> dict[str, int]:
    """Estimated instructions of the layer with the regular and with the in-place kernel."""
    from edgesdk.passes import winograd_dw
    from edgesdk.reference.params import op_params

    y = graph.tensor(node.outputs[0])
    out_h, c = y.shape[1], y.shape[3]
    if dsp:
        p = op_params(graph, node)
        regular = winograd_dw.direct_cost(
            p["in_h"], p["in_w"], p["out_h"], p["out_w"], c, p["stride_h"], p["stride_w"]
        )
        if not (dw_inplace.band_path_shape(p) and winograd_dw.direct_fast_path(graph, node)):
            regular = int(regular * winograd_dw.GENERAL_PATH_FACTOR)
    else:
        regular = y.size * PER_OUTPUT["portable"]
    if sched.slots == 0 and node.attrs.get(dw_inplace.SELF_ATTR):
        return {BASELINE: int(regular), KERNEL: int(regular + PER_CALL)}
    direct = set(sched.direct)
    staged = out_h - len(direct)
    extra = staged * (sched.row_bytes // 4) * PER_WORD_COPIED + _calls(out_h, sched.rows) * (
        PER_CALL + PER_CALL_CHANNEL["dsp" if dsp else "portable"] * c
    )
    return {BASELINE: int(regular), KERNEL: int(regular + extra)}


def kernel_writes_in_place(graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
    """Whether the core's depthwise kernel writes the layer over its input itself (the Cortex-M DSP kernel's band
    path, ``edgesdk.compiler.dw_inplace``'s module doc): one call, no scratch."""
    from edgesdk.passes.winograd_dw import direct_fast_path
    from edgesdk.reference.params import op_params

    return (
        ctx.target == "cortex-m-dsp"
        and dw_inplace.band_path_shape(op_params(graph, node))
        and direct_fast_path(graph, node)
    )


def _calls(out_h: int, rows: int) -> int:
    return -(-out_h // rows)


def _applies(graph: ir.Graph, node: ir.Node) -> bool:
    if not dw_inplace.eligible(graph, node):
        return False
    x = node.inputs[0]
    return x not in graph.outputs and [n is node for n in graph.consumers(x)] == [True]


@register("default")
class DepthwiseInplace(Pass):
    """Annotate depthwise convs whose input dies at them with ``kernel = "inplace"``."""

    name = "dw_inplace"

    def match(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        if "kernel" in node.attrs or not _applies(graph, node) or not ctx.allowed(node, KERNEL):
            return False
        return ctx.forced(node) == KERNEL or node.inputs[0] not in graph.inputs

    def run(self, graph: ir.Graph, ctx: PassContext) -> bool:
        """Choose the eligible layers that lower the arena (see the module docstring), then annotate them."""
        from edgesdk.compiler.planner import plan

        cands = [n for n in graph.nodes if self.match(graph, n, ctx)]
        if not cands:
            return False
        for n in cands:
            if kernel_writes_in_place(graph, n, ctx):
                n.attrs[dw_inplace.SELF_ATTR] = True

        def arena(chosen: list[ir.Node]) -> int:
            for n in cands:
                if any(n is m for m in chosen):
                    n.attrs["kernel"] = KERNEL
            try:
                return plan(graph).arena_bytes
            finally:
                for n in cands:
                    n.attrs.pop("kernel", None)

        none = arena([])
        chosen = list(cands)
        best = arena(chosen)
        for n in cands:
            if ctx.forced(n) == KERNEL:
                continue
            trial = [m for m in chosen if m is not n]
            a = arena(trial)
            if a <= best:
                chosen, best = trial, a
        rows = self._rows(graph, ctx, chosen, arena, best) if chosen else 1
        for n in cands:
            if any(n is m for m in chosen):
                n.attrs.setdefault(dw_inplace.ROWS_ATTR, rows)
                self.transform(graph, n, ctx)
                n.attrs["kernel_report"]["arena_bytes"] = {"regular": none, "in_place": best}
                continue
            n.attrs.pop(dw_inplace.SELF_ATTR, None)
            if "kernel_report" not in n.attrs:
                n.attrs["kernel_report"] = {
                    "why": f"in place would not lower the arena ({best} B): regular kernel"
                }
        return bool(chosen)

    @staticmethod
    def _rows(graph: ir.Graph, ctx: PassContext, chosen: list[ir.Node], arena, best: int) -> int:
        """Output rows per call for the in-place layers: ``options["inplace_rows"]``, else more rows while the
        calls they save are worth the scratch they add (``INSN_PER_BYTE``; ``--optimize size``: one row)."""
        if "inplace_rows" in ctx.options:
            return int(ctx.options["inplace_rows"])
        rows = 1
        if ctx.optimize == "size":
            return rows
        for r in ROWS_CHOICES:
            for n in chosen:
                n.attrs[dw_inplace.ROWS_ATTR] = r
            a = arena(chosen)
            saved = sum(
                (
                    _calls(graph.tensor(n.outputs[0]).shape[1], rows)
                    - _calls(graph.tensor(n.outputs[0]).shape[1], r)
                )
                * (
                    PER_CALL
                    + PER_CALL_CHANNEL["dsp" if ctx.dsp else "portable"] * graph.tensor(n.outputs[0]).shape[3]
                )
                for n in chosen
            )
            if a > best and saved < INSN_PER_BYTE * (a - best):
                break
            rows, best = r, a
        for n in chosen:
            n.attrs.pop(dw_inplace.ROWS_ATTR, None)
        return rows

    def transform(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        sched = dw_inplace.node_schedule(graph, node)
        x, y = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
        w = graph.tensor(node.inputs[1]).nbytes
        est = estimate(graph, node, sched, ctx.dsp)
        cands = {BASELINE: candidate(w, est[BASELINE]), KERNEL: candidate(w, est[KERNEL])}
        cands[BASELINE]["arena_bytes_at_layer"] = x.nbytes + y.nbytes
        cands[KERNEL]["arena_bytes_at_layer"] = max(x.nbytes, y.nbytes) + sched.scratch_bytes
        why = (
            f"the input dies here: output written over it with {sched.slots} row(s) of scratch "
            f"({sched.scratch_bytes} B), {x.nbytes + y.nbytes} -> {cands[KERNEL]['arena_bytes_at_layer']} B live, "
            f"for est. {est[KERNEL] - est[BASELINE]:,} more instructions"
        )
        prev = node.attrs.get(
            "kernel_report"
        )  # a speed pass that kept the direct kernel: keep its candidates
        if prev:
            cands = {**prev.get("candidates", {}), **cands}
            why = f"{why}; {prev.get('why', '')}"
        report = kernel_report(cands, KERNEL, why, scratch_bytes=sched.scratch_bytes)
        report["format"] = "int8"
        node.attrs["kernel"] = KERNEL
        node.attrs["kernel_report"] = report
        return True
