"""Kernel selection: int8 weights or weights pre-extended to int16 for each FULLY_CONNECTED on a DSP core.

With int16 weights the Cortex-M kernel loads two weights per word already in SMLAD's halfword order and skips the
two SXTB16 per four weights: measured on the emulated Cortex-M4 about 1.5 instead of 1.75 instructions per MAC,
for twice the weights' flash. So this is the clearest case of ``--optimize speed`` and ``size`` disagreeing:
speed takes int16 weights where the board's flash allows (the model's constants with every such layer doubled
stay within half of the flash, the rest left for code and data; ``PassContext.options["flash_bytes"]``, which
``export`` sets, and int8 when it is unknown), size keeps int8. The decision and both
candidates go into ``node.attrs["kernel_report"]``.

A layer given int16 weights is also specialised (``node.attrs["specialize"]``): the kernel body
(``ed_fc_w16_body.h``) is instantiated in the generated source with the layer's constant parameters, so the
per-output stage loses its run-time branches and reloads — on AD 399,800 -> 352,240 instructions for ~190 B of
code per layer (QEMU mps2-an386).
"""

from __future__ import annotations

import numpy as np

from edgesdk.compiler import kernels as kernel_table
from edgesdk.ir import graph as ir
from edgesdk.passes import PassContext, register
from edgesdk.passes._int16 import Int16WeightsPass, flash_rule

KERNEL = "w16"
#: Instructions per MAC of the int8-weight and int16-weight kernels, and per output (requantization), measured
#: on the AD model's layers (QEMU mps2-an386).
INSN_PER_MAC = {"int8": 1.75, KERNEL: 1.2}
INSN_PER_OUTPUT = 25
#: The int8-weight kernel on a DSP core where rows are a multiple of 4 inputs up to ``EXT_MAX_K`` long (the input
#: row extended once, two LDRD per four rows' four weights, ``cortex-m-dsp/ed_fc.c``): per MAC and per output,
#: fitted on AD's 640 -> 128 and 128 -> 640 layers (104,080 and 112,520 measured, QEMU mps2-an386).
EXT_PER_MAC, EXT_PER_OUTPUT, EXT_MAX_K = 1.245, 16.5, 768
#: Bytes of code one per-layer instance of the int16-weight body adds (AD's ten layers: 3,012 vs 1,132 B).
SPECIALIZED_CODE_BYTES = 190


#: How the DSP int8 FC kernel requantizes a layer (``ed_fc_ext_ok`` in ``cortex-m-dsp/ed_fc.c``): "fast" (right
#: shifts of 1 to 22: every extended-input path), "one" (a per-tensor shift of 0: the one-row path only), "slow"
#: (other shifts, a bias of 2^29 or more, a weight offset: the general output stage).
REQUANT_PATHS = ("fast", "one", "slow")


def requant_path(graph: ir.Graph, node: ir.Node) -> str:
    """Which of :data:`REQUANT_PATHS` the int8 FC kernel takes for ``node`` (an FC or a 1x1 / im2col convolution),
    from its requantization shifts, bias and weight offset -- channels of all-zero weights outside the fast
    requantization given a small bias and shift -1, as the C backend does (``generator.constant_rows_requant``)."""
    from edgesdk.reference.params import op_params

    try:
        p = op_params(graph, node)
    except (KeyError, ValueError, TypeError):
        return "fast"
    w = graph.tensor(node.inputs[1])
    out = int(w.shape[0])
    shifts = np.broadcast_to(np.asarray(p["output_shift"], dtype=np.int64).reshape(-1), (out,)).copy()
    b = graph.tensor(node.inputs[2]).data if len(node.inputs) > 2 and node.inputs[2] else None
    bias = np.zeros(out, np.int64) if b is None else np.asarray(b, np.int64).reshape(-1).copy()
    if int(p.get("filter_offset", 0)) != 0:
        return "slow"
    per_tensor = np.asarray(p["output_shift"]).size == 1 or not p.get("per_channel", True)
    dead = np.zeros(out, bool) if w.data is None else ~np.asarray(w.data).reshape(out, -1).any(axis=1)
    fast = (shifts >= -22) & (shifts <= (0 if per_tensor else -1)) & (np.abs(bias) < 1 << 29)
    if np.any(dead & ~fast):  # rewritten: a small bias and shift -1, per channel
        shifts, bias, per_tensor = np.where(dead, -1, shifts), np.where(dead, 0, bias), False
    if np.abs(bias).max(initial=0) >= 1 << 29:
        return "slow"
    if np.all((shifts >= -22) & (shifts <= -1)):
        return "fast"
    return "one" if per_tensor and np.all(shifts == 0) else "slow"


def extended(core: str, in_depth: int, requant: str = "fast") -> bool:
    """Whether the int8 FC kernel runs rows of ``in_depth`` inputs through its one-row extended-input path on
    ``core`` (the Cortex-M DSP kernel, rows of a multiple of 4 up to ``EXT_MAX_K`` inputs, a requantization
    ``requant`` of :data:`REQUANT_PATHS` it takes)."""
    return (
        kernel_table.CORE_TARGETS.get(core) == "cortex-m-dsp"
        and in_depth % 4 == 0
        and 0 < in_depth <= EXT_MAX_K
        and requant != "slow"
    )


def estimate(
    macs: int, outputs: int, kernel: str = KERNEL, in_depth: int = 0, core: str = "", requant: str = "fast"
) -> int:
    """Estimated instructions of a fully-connected layer (all batches) with int8 (``"int8"``) or int16 weights;
    ``in_depth`` and ``core`` given, the int8 kernel's extended-input path where it applies (``requant``:
    :func:`requant_path`)."""
    if kernel == "int8" and extended(core, in_depth, requant):
        return int(macs * EXT_PER_MAC + outputs * EXT_PER_OUTPUT)
    return int(macs * INSN_PER_MAC[kernel] + outputs * INSN_PER_OUTPUT)


def _eligible(graph: ir.Graph, node: ir.Node) -> bool:
    if node.op != "FULLY_CONNECTED" or len(node.inputs) < 2:
        return False
    w = graph.tensor(node.inputs[1])
    return w.data is not None and w.dtype == "int8" and graph.tensor(node.outputs[0]).dtype == "int8"


def _const_bytes(graph: ir.Graph) -> int:
    return sum(t.nbytes for t in graph.tensors.values() if t.data is not None)


@register("default")
class FcWeights16(Int16WeightsPass):
    """Annotate fully-connected layers with ``kernel = "w16"`` for speed where the flash allows."""

    name = "fc_weights16"

    eligible = staticmethod(_eligible)

    def transform(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        w, out = self.weights_and_output(graph, node)
        macs = int(w.size) * (out.size // w.shape[0])
        cand = {
            "int8": {
                "instructions": estimate(
                    macs, out.size, "int8", int(w.size // w.shape[0]), ctx.core, requant_path(graph, node)
                ),
                "weight_bytes": int(w.nbytes),
            },
            KERNEL: {
                "instructions": estimate(macs, out.size),
                "weight_bytes": int(-(-w.shape[0] // 4) * 4 * (w.size // w.shape[0]) * 2),
            },
        }
        extra = sum(
            graph.tensor(n.inputs[1]).nbytes
            for n in graph.nodes
            if _eligible(graph, n) and "kernel" not in n.attrs
        )
        done = sum(graph.tensor(n.inputs[1]).nbytes for n in graph.nodes if n.attrs.get("kernel") == KERNEL)
        need = _const_bytes(graph) + extra + done
        rule = flash_rule(
            ctx, node, KERNEL, need, forbidden="int16 weights", weights="int16 weights", kept="int8",
            size_why=f"--optimize size: int8 weights {cand['int8']['weight_bytes']} B instead of "
            f"{cand[KERNEL]['weight_bytes']} B (est. {cand['int8']['instructions']} instead of "
            f"{cand[KERNEL]['instructions']} instructions)",
        )  # fmt: skip
        if rule is not None:
            choose, why = rule
        else:
            choose, why = (
                True,
                (
                    f"--optimize speed: est. {cand['int8']['instructions'] / cand[KERNEL]['instructions']:.2f}x "
                    f"fewer instructions for {cand[KERNEL]['weight_bytes'] - cand['int8']['weight_bytes']} more "
                    "bytes of weights"
                ),
            )
        node.attrs["kernel_report"] = {
            "format": "int16" if choose else "int8",
            "specialized": choose,
            "weight_bytes": cand[KERNEL if choose else "int8"]["weight_bytes"],
            "candidates": cand,
            "why": why,
        }
        if choose:
            cand[KERNEL]["code_bytes"] = SPECIALIZED_CODE_BYTES
            node.attrs["kernel"] = KERNEL
            node.attrs["specialize"] = True
            return True
        return False
