"""Kernel selection (``--optimize balanced``, the default): int8 weights in flash unless a larger copy pays.

The speed passes before this one (Winograd, int16-weight FC / 1x1 / im2col, the specialised convolution with
int16 weights) store a layer's weights in a larger form wherever the board's flash allows; a balanced export
starts from the same choices, and the decoded-weights pass (``passes/decoded.py``) already moves some of those
copies into RAM. This pass then looks at every flash copy left and keeps it only where its estimate saves at
least ``BALANCED_INSNS_PER_BYTE`` executed instructions per inference for each byte it adds
(:func:`edgesdk.passes._int16.balanced_refusal`): a weight reused over many output pixels pays, a
fully-connected weight used once per inference never does. The others go back to an int8-weight kernel (the
int8 FC kernel; for a convolution the specialised direct convolution, priced by ``passes/specialize.py``'s cost
model, or for a 1x1 layer the int8 FC kernel over its pixels), with the reason and the candidate in ``node.attrs["kernel_report"]``. On the MLPerf Tiny models (emulated Cortex-M4)
this brings the default export's images below TFLM + CMSIS-NN's: AD 550 KB -> 288 KB, IC 240 KB -> 147 KB.

``--optimize speed`` keeps every copy balanced keeps, then the others best saving per byte first while the
copies together add at most ``SPEED_COPY_BUDGET`` bytes to the image (their weights' extra bytes net of the code
of the int8 kernel each replaces), and only those estimated to save at least ``MIN_SAVING`` of their alternative's
instructions (the cost models' error); the rest go back to their int8 alternative as under balanced. Why a budget,
and why 64 KB: TFLM + CMSIS-NN's image less the model's ``.tflite`` file is 99.5-148 KB on the four MLPerf Tiny
models on mps2-an386 (its interpreter and kernels: IC 200,492 - 98,496, AD 376,540 - 276,976, KWS replica 153,352
- 47,056, VWW replica 459,852 - 311,864 B), while edgesdk's image with int8 weights is at most ~28 KB over the
``.tflite`` (kernel code 14.5-27.8 KB, ``benchmarks/results/speed.json``; the int8 weights and parameters are no
larger than the ``.tflite`` that holds them); so 64 KB of copies keep a speed image under TFLM + CMSIS-NN's
(28 + 64 < 99.5 KB) for any model whose balanced copies fit in the budget, and the copies balanced keeps keep
speed's instructions at or below balanced's. The code an int8 alternative adds (a specialised copy, the int8 FC
kernel when no other layer links it) is priced here, in the same decision, so the export's kernel-code budget for
``--optimize speed`` (``passes/specialize.py``'s ``CODE_BUDGET``, ``commands/export.py``) does not count it a
second time: the report's ``priced_code`` is that code, per layer. Measured (mps2-an386): IC 13.27 M instructions
in 239,600 B -> 14.76 M in 158,180 B (balanced 14.79 M), AD 346 K in 550,768 B -> 360,090 in 298,736 B (=
balanced). A kernel forced by the user stays, under every goal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgesdk.compiler import kernels as kernel_table
from edgesdk.ir import graph as ir
from edgesdk.passes import Pass, PassContext, register
from edgesdk.passes._int16 import BALANCED_INSNS_PER_BYTE, balanced_refusal
from edgesdk.passes._report import candidate

#: Kernels that store a layer's weights in flash in a larger form.
COPIES = ("w16", "pointwise_w16", "im2col_w16", "winograd", "specialized16")
#: ``--optimize speed``: the flash the copies may add over the int8 weights, bytes (see the module's docstring;
#: ``PassContext.options["speed_copy_budget"]`` overrides it; a negative one keeps every copy the speed passes
#: chose). Copies balanced keeps are kept beyond it.
SPEED_COPY_BUDGET = 64 * 1024
#: ``--optimize speed``: a copy balanced would not keep is kept only where its estimate saves at least this
#: fraction of its int8 alternative's instructions (the cost models' error: IC's first layer, 3 input channels,
#: est. 3.6 % fewer instructions with Winograd, measured 11.5 % more than the specialised convolution).
MIN_SAVING = 0.05


def _bytes(c: dict[str, Any]) -> int:
    return int(c.get("weight_bytes", c.get("bytes", 0)))


def int8_alternative(graph: ir.Graph, node: ir.Node, ctx: PassContext) -> tuple[str, int] | None:
    """The int8-weight kernel a copy would go back to and its estimated instructions (the cost models of the
    passes that price it): the int8 FC kernel for a fully-connected layer; for a convolution on a DSP core the
    specialised direct convolution where it is allowed and estimated faster than the shared one, else the shared
    direct convolution (as the copy's own pass priced it where its report has it), or for a 1x1 layer the int8 FC
    kernel over its pixels (``pointwise_s8``), whichever is estimated fewest."""
    from edgesdk.passes import fc_weights16, pointwise, specialize

    if node.op == "FULLY_CONNECTED":
        w, out = graph.tensor(node.inputs[1]), graph.tensor(node.outputs[0])
        macs = int(w.size) * (out.size // int(w.shape[0]))
        requant = fc_weights16.requant_path(graph, node)
        return "int8", fc_weights16.estimate(
            macs, out.size, "int8", int(w.size // w.shape[0]), ctx.core, requant
        )
    shape = specialize.conv_shape(graph, node)
    if shape is None:
        return None
    direct = node.attrs.get("kernel_report", {}).get("candidates", {}).get("direct", {}).get("instructions")
    options = [("direct", int(direct) if direct else specialize.shared_instructions(shape))]
    if ctx.dsp and ctx.allowed(node, specialize.KERNEL):
        options.append((specialize.KERNEL, specialize.specialized_instructions(shape)))
    if ctx.dsp and ctx.allowed(node, pointwise.KERNEL8) and pointwise._eligible(graph, node):
        w, out = graph.tensor(node.inputs[1]), graph.tensor(node.outputs[0])
        est = pointwise.estimate(out.size // int(w.shape[0]), int(w.shape[3]), int(w.shape[0]), ctx.core)
        options.append((pointwise.KERNEL8, est[pointwise.KERNEL8]))
    return min(options, key=lambda kc: kc[1])


def _alternative_code(graph: ir.Graph, node: ir.Node, kernel: str) -> int:
    """Code bytes a layer's own kernel adds to the image (a specialised copy, a per-layer FC body); the shared
    kernels' code is counted once per model (:func:`edgesdk.passes.specialize.base_code`)."""
    from edgesdk.passes import specialize

    if kernel in (specialize.KERNEL, specialize.KERNEL16):
        shape = specialize.conv_shape(graph, node)
        return specialize.specialized_code(shape) if shape is not None else 0
    return int(specialize.PER_LAYER_CODE.get(kernel, 0))


@dataclass
class _Trade:
    """A flash copy against its int8 alternative: the alternative, and the instructions the copy saves for the
    bytes it adds to the image (its weights' extra bytes and its code, less the alternative's code);
    ``alternative_code`` is the layer's own code the alternative adds over the copy's (a specialised copy in place
    of Winograd: its body; in place of ``specialized16``: nothing)."""

    node: ir.Node
    kernel: str
    alternative: str
    instructions: int
    int8_bytes: int
    saved: int
    extra: int
    alternative_code: int
    weight_extra: int  # the weights' extra bytes alone: balanced's price of the copy
    least: float = BALANCED_INSNS_PER_BYTE  # balanced's instructions per byte

    @property
    def balanced_keeps(self) -> bool:
        """Whether ``--optimize balanced`` keeps the copy (its rule, its price)."""
        return self.saved > 0 and self.saved >= self.least * self.weight_extra

    @property
    def per_byte(self) -> float:
        return self.saved / self.extra if self.extra > 0 else float("inf")


def _trade(graph: ir.Graph, node: ir.Node, ctx: PassContext) -> _Trade | None:
    kernel = str(node.attrs["kernel"])
    copy = node.attrs.get("kernel_report", {}).get("candidates", {}).get(kernel)
    alt = int8_alternative(graph, node, ctx)
    if copy is None or alt is None or not copy.get("instructions"):
        return None
    name, instructions = alt
    int8_bytes = int(graph.tensor(node.inputs[1]).nbytes)
    code = _alternative_code(graph, node, name) - _alternative_code(graph, node, kernel)
    weight_extra = extra = _bytes(copy) - int8_bytes
    if ctx.optimize == "speed":  # the image's bytes: the code of both kernels in the same account
        extra -= code
    saved = instructions - int(copy["instructions"])
    least = float(ctx.options.get("balanced_insns_per_byte", BALANCED_INSNS_PER_BYTE))
    return _Trade(
        node, kernel, name, instructions, int8_bytes, saved, extra, max(0, code), weight_extra, least
    )


def _revert(graph: ir.Graph, t: _Trade, refusal: str) -> None:
    """Run the layer with its int8 alternative; the report keeps the copy as a candidate and says why."""
    node = t.node
    report = dict(node.attrs.get("kernel_report", {}))
    report["candidates"] = {
        **report.get("candidates", {}),
        t.alternative: candidate(t.int8_bytes, t.instructions),
    }
    why = f"{refusal}: {t.alternative} kernel (est. {t.instructions} instructions, {t.int8_bytes} B)"
    if report.get("why"):
        why += f" (the earlier choice: {report['why']})"
    report["why"] = why
    report["format"] = "int8"
    report["weight_bytes"] = t.int8_bytes
    report.pop("specialized", None)
    node.attrs["kernel_report"] = report
    node.attrs.pop("specialize", None)
    if t.alternative in ("specialized", "pointwise_s8"):
        node.attrs["kernel"] = t.alternative
    else:
        node.attrs.pop("kernel", None)


def _within_speed_budget(graph: ir.Graph, ctx: PassContext) -> bool:
    """``--optimize speed``: keep the copies balanced keeps, then the others best saving per byte first within
    ``SPEED_COPY_BUDGET``; the rest go back to their int8 alternative. Each report says why, with the trade's
    bytes and instructions; a reverted layer's report carries the code its alternative adds (``priced_code``),
    which the export's kernel-code budget leaves to this one."""
    from edgesdk.passes import specialize

    budget = int(ctx.options.get("speed_copy_budget", SPEED_COPY_BUDGET))
    if budget < 0:  # no budget: every copy the speed passes chose stays
        return False
    trades = [
        t
        for n in graph.nodes
        if n.attrs.get("kernel") in COPIES
        and ctx.forced(n) != n.attrs["kernel"]
        and (t := _trade(graph, n, ctx)) is not None
    ]
    if not trades:
        return False
    before = {n.name: str(n.attrs.get("kernel", "") or "") for n in graph.nodes}
    used = 0
    reverted: list[_Trade] = []
    # balanced's copies first (kept beyond the budget: speed is never slower than balanced), then the best per byte
    for t in sorted(trades, key=lambda t: (not t.balanced_keeps, -t.per_byte, t.node.name)):
        trade = f"{t.extra} B for est. {t.saved} fewer instructions than {t.alternative} ({t.per_byte:.1f} per byte)"
        small = t.saved < MIN_SAVING * t.instructions
        if t.balanced_keeps or (t.saved > 0 and not small and used + max(0, t.extra) <= budget):
            used += max(0, t.extra)
            rule = (
                f"at least {t.least:g} per byte of its weights, as balanced keeps it"
                if t.balanced_keeps
                else f"within the {budget} B copy budget ({used} B used)"
            )
            rep = t.node.attrs["kernel_report"]
            rep["why"] = f"{rep.get('why', '')}; --optimize speed: copy kept, it adds {trade}: {rule}".lstrip(
                "; "
            )
            continue
        if t.saved <= 0:
            refusal = (
                f"--optimize speed: int8 weights kept in flash; the copy would add {t.extra} B and est. "
                f"{-t.saved} more instructions than {t.alternative}"
            )
        elif small:
            refusal = (
                f"--optimize speed: int8 weights kept in flash; the copy would add {trade}, under "
                f"{MIN_SAVING:.0%} of the {t.alternative} kernel's (within its cost model's error)"
            )
        else:
            refusal = (
                f"--optimize speed: int8 weights kept in flash; the copy would add {trade}, over the {budget} B "
                f"copy budget ({used} B taken by copies that save more per byte)"
            )
        reverted.append(t)
        _revert(graph, t, refusal)
    # the code the alternatives add: their own (specialised copies) and the shared kernels each links anew
    kernels = dict(before)
    for t in sorted(reverted, key=lambda t: graph.nodes.index(t.node)):
        after = {**kernels, t.node.name: str(t.node.attrs.get("kernel", "") or "")}
        if t.alternative in ("int8", "pointwise_s8"):  # the int8 FC kernel's functions, once per image
            shared = 0 if _links(graph, kernels, FC_SOURCE) else specialize.BASE_CODE[("FULLY_CONNECTED", "")]
        else:
            shared = max(0, specialize.base_code(graph, after) - specialize.base_code(graph, kernels))
        kernels = after
        t.node.attrs["kernel_report"]["priced_code"] = t.alternative_code + shared
    return bool(reverted)


#: The int8 FC kernel's source: the FC layers' int8 kernel and the 1x1 / im2col convolutions run as FC link it.
FC_SOURCE = "ed_fc.c"


def _links(graph: ir.Graph, kernels: dict[str, str], source: str) -> bool:
    """Whether a layer of ``graph`` with these kernels (name -> kernel attr) compiles the firmware ``source``."""
    for n in graph.nodes:
        row = kernel_table.find(n.op, kernels.get(n.name, ""))
        if row is not None and source in (row.op_sources.get(n.op), *row.sources):
            return True
    return False


@register("default")
class BalancedCopies(Pass):
    """Turn flash copies that buy too few instructions per byte (balanced), or that do not fit the copy budget
    (speed), back into int8 kernels."""

    name = "balanced_copies"

    def match(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        kernel = node.attrs.get("kernel")
        return ctx.optimize == "balanced" and kernel in COPIES and ctx.forced(node) != kernel

    def transform(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        t = _trade(graph, node, ctx)
        if t is None:
            return False
        refusal = balanced_refusal(ctx, t.saved, t.extra)
        if refusal is None:
            return False
        _revert(graph, t, refusal)
        return True

    def run(self, graph: ir.Graph, ctx: PassContext) -> bool:
        if ctx.optimize == "speed":
            return _within_speed_budget(graph, ctx)
        return super().run(graph, ctx)
