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

``--optimize speed`` keeps every copy (its report states each trade); a kernel forced by the user stays.
"""

from __future__ import annotations

from typing import Any

from edgesdk.ir import graph as ir
from edgesdk.passes import Pass, PassContext, register
from edgesdk.passes._int16 import balanced_refusal
from edgesdk.passes._report import candidate

#: Kernels that store a layer's weights in flash in a larger form.
COPIES = ("w16", "pointwise_w16", "im2col_w16", "winograd", "specialized16")


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


@register("default")
class BalancedCopies(Pass):
    """Turn flash copies that buy too few instructions per byte back into int8 kernels (balanced only)."""

    name = "balanced_copies"

    def match(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        kernel = node.attrs.get("kernel")
        return ctx.optimize == "balanced" and kernel in COPIES and ctx.forced(node) != kernel

    def transform(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        kernel = str(node.attrs["kernel"])
        report = dict(node.attrs.get("kernel_report", {}))
        copy = report.get("candidates", {}).get(kernel)
        alt = int8_alternative(graph, node, ctx)
        if copy is None or alt is None or not copy.get("instructions"):
            return False
        name, instructions = alt
        int8_bytes = int(graph.tensor(node.inputs[1]).nbytes)
        refusal = balanced_refusal(ctx, instructions - int(copy["instructions"]), _bytes(copy) - int8_bytes)
        if refusal is None:
            return False
        report["candidates"] = {**report.get("candidates", {}), name: candidate(int8_bytes, instructions)}
        why = f"{refusal}: {name} kernel (est. {instructions} instructions, {int8_bytes} B)"
        if report.get("why"):
            why += f" (the earlier choice: {report['why']})"
        report["why"] = why
        report["format"] = "int8"
        report["weight_bytes"] = int8_bytes
        report.pop("specialized", None)
        node.attrs["kernel_report"] = report
        node.attrs.pop("specialize", None)
        if name in ("specialized", "pointwise_s8"):
            node.attrs["kernel"] = name
        else:
            node.attrs.pop("kernel", None)
        return True
