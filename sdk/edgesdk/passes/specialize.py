"""Kernel selection: the shared direct DSP convolution or a copy specialised for the layer, under a code budget.

A specialised layer instantiates the Cortex-M DSP convolution body (``firmware/kernels/cortex-m-dsp/ed_conv_dsp.h``) with
its own constant parameters (``backends/c/specialize.py``): GCC folds every shape, offset and clamp and unrolls
the constant-length filter-row dot products, which removes most of the fixed cost per output and the loop
overhead per MAC - worth most where a layer has few MACs per output (1x1 convolutions, the 3-channel first
layer) - at the price of one copy of the body per layer. Code is the binding constraint (the issue caps each
MLPerf Tiny model at 12 KB of kernel code), so the pass:

1. estimates, for every CONV_2D no other pass claimed (kernel unset or ``"direct"``), the executed instructions
   of both kernels and the code bytes of the specialised copy, from linear models fitted to per-layer counts on
   the emulated Cortex-M4 (QEMU mps2-an386, arm-none-eabi-gcc 12 -O2; ``benchmarks/specialize.py`` measures
   them again and prints model and measurement side by side);
2. estimates the model's kernel code without specialisation (``BASE_CODE`` per kernel the layers use);
3. specialises layers greedily, the greatest saving per code byte first, while the estimated total stays
   within ``CODE_BUDGET`` (``PassContext.options["kernel_code_budget"]`` overrides it) and the saving is at
   least ``MIN_SAVING`` of the layer's instructions. ``--optimize balanced`` (the default) has no fixed code
   budget: like its weight copies, a code copy is taken where it saves at least ``BALANCED_INSNS_PER_BYTE``
   instructions per byte (``passes/_int16.py``). When every CONV_2D of the model is specialised the shared
   ``ed_conv_s8`` is no longer linked, and its bytes are given back.

Only on cores with the DSP kernels and with ``--optimize speed`` or ``balanced``; ``--optimize size`` and other cores keep the
shared kernel. ``--kernel LAYER=specialized`` forces a copy (any core, outside the budget), ``--no-kernel
LAYER=specialized`` (or forcing ``dense``/``direct``) forbids it. The decision, both candidates and the budget
go into ``node.attrs["kernel_report"]``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from edgesdk.compiler import kernels as kernel_table
from edgesdk.ir import graph as ir
from edgesdk.passes import BUILTIN_PASS_MODULES, Pass, PassContext, register
from edgesdk.passes._int16 import balanced_refusal, int8_conv
from edgesdk.passes._report import BASELINE, candidate, kernel_report

# This pass revisits what the kernel passes before it chose: register those first even when this module is
# imported on its own (the pipeline runs passes in registration order).
for _module in BUILTIN_PASS_MODULES[: BUILTIN_PASS_MODULES.index("specialize")]:
    importlib.import_module(f"edgesdk.passes.{_module}")

KERNEL = "specialized"
#: The specialised copy with its weights also pre-extended to int16 (``backends/c/specialize.py``).
KERNEL16 = "specialized16"
#: Kernel code per MLPerf Tiny model (``ed_*`` and ``<model>_*`` functions), bytes.
CODE_BUDGET = 12 * 1024
#: Kept free of the budget for the code estimates' error (IC: estimated 11,904 B, measured 11,936 B).
CODE_MARGIN = 256
#: A copy must save at least this fraction of the layer's instructions.
MIN_SAVING = 0.05

#: A choice of one of these kernel passes (Winograd; im2col and 1x1-as-FC with int16 weights) is revisited when
#: the specialised direct kernel is estimated this much faster than that pass's own estimate (its report's
#: candidate): e.g. a 1x1 convolution over few input channels, where the FC kernel's per-pixel cost dominates.
REVISITED = ("winograd", "im2col_w16", "pointwise_w16", "im2col_s8", "pointwise_s8")
WINOGRAD_MARGIN = 0.9

#: Code bytes (Cortex-M4, -O2; arm-none-eabi-nm on the IC and AD builds) of the kernels a layer links, by
#: (op, kernel attr): the kernel table's ``code_bytes``. Unknown kernels count ``BASE_CODE_DEFAULT``.
BASE_CODE: dict[tuple[str, str], int] = kernel_table.code_bytes()
BASE_CODE_DEFAULT = 600
#: Kernels instantiated per layer (their body inlined into ``<model>_invoke``): bytes per layer (KWS and VWW
#: replicas: ~280 B per 1x1-as-FC or im2col layer).
PER_LAYER_CODE: dict[str, int] = kernel_table.per_layer_code()
#: The out-of-line border path and general requantization (``ed_conv_single``, ``ed_mbqm_slow``) that the
#: shared kernel and every specialised layer share.
CONV_BODY_CODE = 1062
#: ``<model>_init`` and ``<model>_invoke``: fixed and per layer.
INVOKE_CODE = (60, 50)


@dataclass(frozen=True)
class ConvShape:
    in_h: int
    in_w: int
    in_c: int
    out_h: int
    out_w: int
    out_c: int
    k_h: int
    k_w: int
    stride: int
    dilation: int
    macs: int  # valid taps x in_c x out_c summed over the output pixels (padding taps excluded)
    interior: int  # output pixels whose window is inside the image in x (the blocked pair path)

    @property
    def outputs(self) -> int:
        return self.out_h * self.out_w * self.out_c

    @property
    def filter_row(self) -> int:
        return self.k_w * self.in_c


# Linear models of executed instructions on the emulated Cortex-M4 (mps2-an386, arm-none-eabi-gcc 12 -O2),
# fitted to convolutions run with each kernel (benchmarks/specialize.py --all): per MAC in whole words of the
# filter row, per MAC of the filter row's scalar tail (filter_row % 4), per output value and per output value and
# kernel row. The shared kernel: least squares on the IC model's direct layers. The specialised copies:
# non-negative least squares, relative error, on 24 layers of IC and of the KWS and VWW replicas (3x3, 10x4,
# 1x1; 1 to 256 input channels), within 22 % (the 1-channel 10x4 KWS layer is the worst).
SHARED_COST = (1.78, 8.0, 51.8, 8.5)
SPECIALIZED_COST = (1.40, 1.40, 0.0, 14.8)


def _instructions(s: ConvShape, cost: tuple[float, float, float, float]) -> int:
    tail = (s.filter_row % 4) / s.filter_row
    return int(
        cost[0] * s.macs * (1 - tail)
        + cost[1] * s.macs * tail
        + cost[2] * s.outputs
        + cost[3] * s.outputs * s.k_h
    )


def shared_instructions(s: ConvShape) -> int:
    """Executed instructions of the shared ``ed_conv_s8`` (DSP) for the layer."""
    return _instructions(s, SHARED_COST)


def specialized_instructions(s: ConvShape) -> int:
    """Executed instructions of the layer's specialised copy."""
    return _instructions(s, SPECIALIZED_COST)


def specialized16_instructions(s: ConvShape) -> int:
    """Executed instructions of the copy with int16 weights (ed_conv_dot_2x2_w16, C): the weights need no SXTB16,
    but the int8 copy's fixed-sequence step (ed_conv_dsp.h) is as fast: measured 1.5 % fewer instructions on a
    16-channel 1x1 layer, none elsewhere. So the pass does not pick it (under ``MIN_SAVING``); it stays a kernel
    a user can force."""
    gain = 0.035 if s.k_h == s.k_w == 1 and s.filter_row <= 16 else 0.0
    return int(specialized_instructions(s) - gain * s.macs)


def specialized_code(s: ConvShape) -> int:
    """Code bytes of the layer's specialised copy (fitted to the IC layers: 624-760 B): the 2x2 block with its
    unrolled dot product and four requantizations, plus the kernel-row loop and window when k_h > 1, the tap loop
    when dilated."""
    return 620 + 140 * (s.k_h > 1) + 100 * (s.dilation > 1)


def conv_shape(graph: ir.Graph, node: ir.Node) -> ConvShape | None:
    """The shape facts of a CONV_2D the specialised kernel can run (int8, constant int8 weights, no groups)."""
    ops = int8_conv(graph, node)
    if ops is None:
        return None
    x, w, out = ops
    if len(x.shape) != 4 or w.shape[3] != x.shape[3]:
        return None
    from edgesdk.passes._select import conv_taps, interior_pixels
    from edgesdk.reference.params import op_params

    p = op_params(graph, node)
    taps, _ = conv_taps(graph, node)
    inside, _ = interior_pixels(graph, node)
    return ConvShape(
        in_h=p["in_h"], in_w=p["in_w"], in_c=p["in_c"], out_h=p["out_h"], out_w=p["out_w"], out_c=p["out_c"],
        k_h=p["filter_h"], k_w=p["filter_w"], stride=max(p["stride_h"], p["stride_w"]),
        dilation=max(p["dilation_h"], p["dilation_w"]), macs=taps * p["in_c"] * p["out_c"], interior=inside,
    )  # fmt: skip


def base_code(graph: ir.Graph, kernels: dict[str, str]) -> int:
    """Estimated kernel code of the model with the given kernel per layer (name -> kernel attr; "" = default)."""
    used = {
        (n.op, "" if kernels.get(n.name, "") in ("", "direct", KERNEL) else kernels[n.name])
        for n in graph.nodes
    }
    used.discard(("CONV_2D", ""))
    if any(n.op == "CONV_2D" and kernels.get(n.name, "") in ("", "direct") for n in graph.nodes):
        used.add(("CONV_2D", ""))
    total = sum(
        BASE_CODE.get(key, 0 if key[1] in PER_LAYER_CODE else BASE_CODE.get((key[0], ""), BASE_CODE_DEFAULT))
        for key in used
    )
    total += sum(PER_LAYER_CODE.get(kernels.get(n.name, ""), 0) for n in graph.nodes)
    if any(n.op == "CONV_2D" and kernels.get(n.name, "") in ("", "direct", KERNEL) for n in graph.nodes):
        total += CONV_BODY_CODE
    return total + INVOKE_CODE[0] + INVOKE_CODE[1] * len(graph.nodes)


def _claimed_estimate(node: ir.Node) -> tuple[str, int] | None:
    """(kernel, estimated instructions) of a layer one of the ``REVISITED`` passes chose, else None."""
    kernel = node.attrs.get("kernel")
    if kernel not in REVISITED:
        return None
    cand = node.attrs.get("kernel_report", {}).get("candidates", {}).get(kernel, {})
    return (str(kernel), int(cand["instructions"])) if "instructions" in cand else None


def _gain16(c: dict[str, dict[str, Any]]) -> int:
    return int(c[KERNEL]["instructions"] - c[KERNEL16]["instructions"])


def _candidates(
    shapes: dict[str, ConvShape], nodes: dict[str, ir.Node], claimed: dict[str, tuple[str, int] | None]
) -> dict[str, dict[str, dict[str, Any]]]:
    """Per layer: the shared kernel, a copy, a copy with int16 weights, and the kernel another pass claimed."""
    cands: dict[str, dict[str, dict[str, Any]]] = {}
    for name, s in shapes.items():
        w = s.out_c * s.k_h * s.k_w * s.in_c
        cands[name] = {
            BASELINE: candidate(w, shared_instructions(s)),
            KERNEL: {**candidate(w, specialized_instructions(s)), "code_bytes": specialized_code(s)},
        }
        cands[name][KERNEL16] = {
            **candidate(3 * w, specialized16_instructions(s)),
            "code_bytes": specialized_code(s),
        }
        if claimed[name] is not None:
            other, instr = claimed[name]  # type: ignore[misc]
            rep = nodes[name].attrs["kernel_report"]
            cands[name][other] = candidate(
                rep.get("weight_bytes", rep["candidates"][other].get("bytes", w)), instr
            )
    return cands


def _user_verdicts(
    nodes: dict[str, ir.Node], shapes: dict[str, ConvShape], ctx: PassContext
) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """(layers given a copy and why, layers refused one and why, layers left to the cost model): the user's
    force and forbid first, then the core (no DSP kernels) and the goal (``--optimize size``)."""
    chosen: dict[str, str] = {}
    reason: dict[str, str] = {}
    for name, node in nodes.items():
        forced = ctx.forced(node)
        if forced in (KERNEL, KERNEL16):
            chosen[name] = "forced by the user"
        elif forced is not None:
            reason[name] = f"kernel {forced!r} forced by the user"
        elif not ctx.allowed(node, KERNEL):
            reason[name] = "specialisation forbidden by the user"
    free = [n for n in shapes if n not in chosen and n not in reason]
    if not ctx.dsp:
        reason.update(dict.fromkeys(free, "no DSP kernels on this core: the shared kernel is kept"))
        free = []
    elif ctx.optimize == "size":
        reason.update(dict.fromkeys(free, "--optimize size: one shared kernel serves every layer"))
        free = []
    return chosen, reason, free


def _with_int16(
    graph: ir.Graph,
    ctx: PassContext,
    picked: set[str],
    nodes: dict[str, ir.Node],
    cands: dict[str, dict[str, dict[str, Any]]],
    chosen: dict[str, str],
    evaluate: bool,
) -> dict[str, str]:
    """The kernel of each picked layer: where flash allows (the model's constants stay within half the board's
    flash, as for Winograd), the copies whose hot path gains most from int16 weights (short filter rows) also
    carry them (``chosen`` gets the reason)."""
    final = dict.fromkeys(picked, KERNEL)
    for name in picked:
        if ctx.forced(nodes[name]) == KERNEL16:
            final[name] = KERNEL16
    flash = int(ctx.options.get("flash_bytes", 0) or 0)
    constants = sum(t.nbytes for t in graph.tensors.values() if t.data is not None)
    if evaluate and flash:
        for name in sorted(picked, key=lambda n: -_gain16(cands[n]) / max(1, cands[n][KERNEL16]["bytes"])):
            c = cands[name]
            extra = c[KERNEL16]["bytes"] - c[KERNEL]["bytes"]
            if ctx.forced(nodes[name]) is not None or not ctx.allowed(nodes[name], KERNEL16):
                continue
            if _gain16(c) < MIN_SAVING * c[KERNEL]["instructions"] or constants + extra > flash // 2:
                continue
            constants += extra
            final[name] = KERNEL16
            chosen[name] += f"; int16 weights (+{extra} B of flash) save est. {_gain16(c)} more instructions"
    return final


@register("default")
class SpecializeConv(Pass):
    """Annotate direct int8 CONV_2D layers with ``kernel = "specialized"`` where it pays within the budget."""

    name = "specialize"

    def match(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        if node.op != "CONV_2D":
            return False
        kernel = node.attrs.get("kernel")
        if kernel not in (None, "direct") and not (kernel in REVISITED and ctx.forced(node) != kernel):
            return False
        return conv_shape(graph, node) is not None

    def transform(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:  # pragma: no cover
        raise NotImplementedError("SpecializeConv decides for the whole graph in run()")

    def run(self, graph: ir.Graph, ctx: PassContext) -> bool:
        evaluate = ctx.dsp and ctx.optimize != "size"
        shapes = {
            n.name: s
            for n in graph.nodes
            if self.match(graph, n, ctx)
            and (
                evaluate or ctx.forced(n) in (KERNEL, KERNEL16)
            )  # else other passes' reports stay as they are
            and (s := conv_shape(graph, n))
        }
        if not shapes:
            return False
        nodes = {n.name: n for n in graph.nodes if n.name in shapes}
        claimed = {name: _claimed_estimate(n) for name, n in nodes.items()}
        cands = _candidates(shapes, nodes, claimed)
        budget = int(ctx.options.get("kernel_code_budget", CODE_BUDGET))
        current = {n.name: str(n.attrs.get("kernel", "") or "") for n in graph.nodes}

        def reference(name: str) -> tuple[str, int]:
            """The kernel the layer runs without a copy, and its estimated instructions."""
            if claimed[name] is not None:
                return claimed[name]  # type: ignore[return-value]
            return BASELINE, cands[name][BASELINE]["instructions"]

        def saving(name: str) -> int:
            return reference(name)[1] - cands[name][KERNEL]["instructions"]

        def total_code(picked: set[str]) -> int:
            kernels = {**current, **dict.fromkeys(picked, KERNEL)}
            return base_code(graph, kernels) + sum(cands[n][KERNEL]["code_bytes"] for n in picked)

        chosen, reason, free = _user_verdicts(nodes, shapes, ctx)

        picked = set(chosen)
        for name in sorted(free, key=lambda n: -saving(n) / cands[n][KERNEL]["code_bytes"]):
            c = cands[name]
            ref_kernel, ref_instr = reference(name)
            need = (1 - WINOGRAD_MARGIN) if ref_kernel in REVISITED else MIN_SAVING
            if saving(name) < need * ref_instr:
                reason[name] = (
                    f"est. saving of a copy {saving(name)} instructions is below {need:.0%} of the "
                    f"{ref_kernel} kernel's {ref_instr}"
                )
                continue
            code = total_code(picked | {name})
            # balanced (the default) has no fixed code budget: a copy is taken where it pays by the rule every
            # copy of balanced follows (instructions saved per byte added, passes/_int16.py)
            over = code > budget - CODE_MARGIN
            if (
                over
                and balanced_refusal(ctx, saving(name), c[KERNEL]["code_bytes"]) is None
                and ctx.optimize == "balanced"
            ):
                over = False
            if over:
                reason[name] = (
                    f"a copy ({c[KERNEL]['code_bytes']} B of code) would bring the model's kernel code to "
                    f"~{code} B, over the {budget} B budget less {CODE_MARGIN} B for the estimate's error"
                )
                continue
            picked.add(name)
            chosen[name] = (
                f"est. {saving(name)} fewer instructions than {ref_kernel} "
                f"({ref_instr / max(1, c[KERNEL]['instructions']):.2f}x) for ~{c[KERNEL]['code_bytes']} B of code "
                f"({saving(name) / c[KERNEL]['code_bytes']:.0f} per byte)"
            )
        # Greedy can stop short where specialising every remaining direct layer frees ed_conv_s8: try that too.
        rest = {
            n
            for n in free
            if n not in picked and reference(n)[0] == BASELINE and saving(n) >= MIN_SAVING * reference(n)[1]
        }
        if rest and total_code(picked | rest) <= budget - CODE_MARGIN:
            for name in rest:
                picked.add(name)
                c = cands[name]
                chosen[name] = (
                    f"est. {saving(name)} fewer instructions ({c[KERNEL]['code_bytes']} B of code): with every "
                    f"direct layer specialised the shared ed_conv_s8 is not linked"
                )
        code = total_code(picked)

        final = _with_int16(graph, ctx, picked, nodes, cands, chosen, evaluate)

        changed = False
        for name, node in nodes.items():
            kernel = final.get(name) or reference(name)[0]
            why = chosen.get(name) or reason.get(name, "")
            info: dict[str, Any] = {"code_budget": budget, "est_kernel_code": code, "macs": shapes[name].macs}
            earlier = node.attrs.get("kernel_report")
            if earlier and earlier.get("why"):
                info["earlier"] = earlier["why"]
            if kernel in REVISITED:
                # the other pass's kernel stays, and its report, with this pass's candidates and reason beside it
                report = dict(earlier or {})
                report["candidates"] = {
                    **report.get("candidates", {}),
                    KERNEL: cands[name][KERNEL],
                    KERNEL16: cands[name][KERNEL16],
                }
                report["specialize_why"] = why
            else:
                report = kernel_report(cands[name], kernel, why, **info)
            node.attrs["kernel_report"] = report
            if kernel in (KERNEL, KERNEL16):
                node.attrs["kernel"] = kernel
                changed = True
        return changed
