"""Kernel selection (``--optimize balanced``, the default): compressed weights in flash, int8 speed on DSP cores.

On a Cortex-M4/M7 the SMLAD int8 kernels (and the int16-weight FC / 1x1 / im2col bodies of ``--optimize speed``)
run faster than any kernel that reads ternary/binary bit-planes, codebook codes or sparse entries directly, so
a speed export stores a compressed model as int8 (or int16) and a size export runs it slower. This pass keeps
both: for a CONV_2D or FULLY_CONNECTED layer whose weights have the structure ``--optimize size`` would store
(the packed, codebook and sparse passes' own choice, run here as a probe with ``optimize="size"``), the layer
keeps the int8 kernel the speed passes chose for it and its weights are decoded into a RAM scratch once per call
(``kernel = "decoded"``, ``backends/c/decoded.py``, ``firmware/kernels/ed_decode.c``). A convolution reuses each
weight over all its output pixels, so the decode costs a small fraction of the layer; a fully-connected layer at
batch 1 uses each weight once, so there the decode costs about as much as the layer itself.

The rule is by data and cost models, over the whole model: every compressed candidate (decoded, or the native
compressed kernel where its estimate is lower) costs some instructions over the int8 layer; candidates are taken
cheapest per byte saved first while their total stays within ``BUDGET`` of the model's estimated instructions
(``PassContext.options["decode_budget"]`` overrides it). The rest keep int8 weights, and their report says why.
Every decision lists the candidates' bytes and instructions in ``node.attrs["kernel_report"]``.
"""

from __future__ import annotations

import copy
import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgesdk.ir import graph as ir
from edgesdk.ir import weightformats as wf
from edgesdk.passes import BUILTIN_PASS_MODULES, Pass, PassContext, register
from edgesdk.passes._int16 import INT16_KERNELS  # balanced keeps their int8 weights, the copy made in RAM
from edgesdk.passes._report import BASELINE, candidate, kernel_report
from edgesdk.passes._select import weight

# The probe re-runs the compressed-weight passes; register them (and the int8 passes) first.
for _module in BUILTIN_PASS_MODULES[: BUILTIN_PASS_MODULES.index("decoded")]:
    importlib.import_module(f"edgesdk.passes.{_module}")

KERNEL = "decoded"
#: Share of the model's estimated instructions the compressed layers may add in total (the goal is at most
#: 2 % measured; the margin absorbs the estimates' error).
BUDGET = 0.015
#: The compressed formats the decoder reads (the size probe's kernel names).
FORMATS = ("ternary", "binary", "codebook", "sparse", "sparse_codebook")
#: Decode cost on the emulated Cortex-M4 (mps2-an386, arm-none-eabi-gcc 12 -O2; ``benchmarks/compressed_kernels.py``
#: measures the layers): instructions per weight of each format into int8 rows, per stored entry of the sparse
#: formats, per row, per weight for the int16 blocked layout on top, and per call.
DECODE_PER_WEIGHT = {
    "ternary": 2.5,
    "binary": 2.5,
    "codebook": 4.0,
    "sparse": 1.0,
    "sparse_codebook": 1.0,
    "int8": 0.5,
}
DECODE_PER_ENTRY = 7.0
DECODE_PER_ROW = 25.0
DECODE_W16_PER_WEIGHT = 4.8
#: The whole layer widened at once for im2col (KWS replica's first layer, 64 x 40 int8 weights: +22,920
#: instructions measured, of which the widening ~7.8 per weight: the im2col body also runs slower on RAM weights).
DECODE_W16_LAYER_PER_WEIGHT = 7.8
DECODE_PER_CALL = 60.0
#: Rows of the int8 FC kernel's layout ("fc8": ``pointwise_s8``, ``im2col_s8``): ternary/binary rows of whole words
#: go straight into place through a table of the 256 words two plane nibbles stand for (built per call), instead
#: of the per-weight cost above; other rows go through a row buffer, then word by word into place, at this much
#: more per weight.
DECODE_FC8_TABLE_PER_CALL = 2300.0
DECODE_FC8_TABLE_PER_WEIGHT = 1.7
DECODE_FC8_MOVE_PER_WEIGHT = 1.0
#: Sparse entries go straight into place in the zeroed layer (rows of whole words): per weight zeroed, per entry
#: and per row.
DECODE_FC8_SPARSE = {"weight": 0.4, "entry": 9.0, "row": 20.0}
#: The int16 FC body run block by block on decoded weights (1x1 convolutions, fully-connected layers) saves this
#: much per block of four rows and batch row (pixel) against the same body on flash weights: its four outputs'
#: requantization parameters stay in registers over the pixels. Fitted on the KWS replica's 64 -> 64 1x1 layers
#: on 25 x 5 pixels (int16 flash weights 854,400 instructions; ternary decoded block by block 863,200, int8
#: widened 852,280) and a lone ternary one (863,400 both ways).
BLOCK_PIXEL_SAVING = 12.0
#: The same on other cores where GCC schedules the two bodies differently: on the emulated Cortex-M7 (mps2-an500)
#: the KWS layers ran 904,280 (int8 widened) and 915,200 (ternary) block by block against 884,800 on flash weights.
BLOCK_PIXEL_SAVING_BY_CORE = {"cortex-m7": 1.0}


@dataclass
class _Choice:
    """One way to store a layer's weights in fewer bytes than its int8 speed kernel does."""

    node: ir.Node
    fmt: str
    inner: str
    int8: dict[str, Any]  # candidate of the int8 kernel the layer runs now
    compressed: dict[str, Any]  # this way's candidate
    kernel: str  # KERNEL, the native compressed kernel or BASELINE (the int8 kernel on int8 weights)
    report: dict[str, Any]  # the size probe's candidates
    base: str = ""  # the kernel of ``int8``: the speed kernel, or the int8 kernel balanced would run instead
    default: bool = False  # what the layer runs unless a compressed way is taken (int8 widened in RAM)

    @property
    def delta(self) -> int:
        """Estimated instructions over the baseline (negative: faster)."""
        return int(self.compressed["instructions"] - self.int8["instructions"])

    @property
    def extra(self) -> int:
        return max(0, self.delta)

    @property
    def saved(self) -> int:
        return self.int8["bytes"] - self.compressed["bytes"]


def decode_instructions(
    fmt: str, rows: int, cols: int, layout: str, entries: int = 0, batches: int = 1, core: str = ""
) -> int:
    """Estimated instructions a decoded layer runs beyond its int8 kernel: one ``ed_decode_weights`` call, or
    (layout "w16blocks") the block decodes less the block-by-block body's saving over ``batches`` pixels; into
    the int8 FC kernel's rows ("fc8") ternary/binary rows of whole words through the word table, sparse entries
    straight into place."""
    n = rows * cols
    if layout == "fc8" and fmt in ("ternary", "binary") and cols % 4 == 0:
        return int(round(DECODE_PER_CALL + DECODE_FC8_TABLE_PER_CALL + DECODE_FC8_TABLE_PER_WEIGHT * n))
    if layout == "fc8" and fmt.startswith("sparse"):  # rows padded to whole words on the DSP cores
        sp = DECODE_FC8_SPARSE
        return int(round(DECODE_PER_CALL + sp["weight"] * n + sp["entry"] * entries + sp["row"] * rows))
    insn = DECODE_PER_CALL + DECODE_PER_WEIGHT[fmt] * n + DECODE_PER_ROW * rows
    if fmt.startswith("sparse"):
        insn += DECODE_PER_ENTRY * entries
    if layout == "fc8":
        insn += DECODE_FC8_MOVE_PER_WEIGHT * n
    elif layout != "int8":
        per = DECODE_W16_PER_WEIGHT if layout == "w16blocks" else DECODE_W16_LAYER_PER_WEIGHT
        insn += per * (-(-rows // 4) * 4) * cols
    if layout == "w16blocks":
        saving = BLOCK_PIXEL_SAVING_BY_CORE.get(core, BLOCK_PIXEL_SAVING)
        insn -= saving * (-(-rows // 4)) * batches
    return int(round(insn))


def model_instructions(graph: ir.Graph) -> int:
    """The model's instructions on a DSP core as the budget's base: per layer the estimate of the kernel the
    earlier passes chose (its ``kernel_report``), else a deliberately low one -- 1.2 per MAC of a conv or FC
    layer, 1.5 per depthwise MAC -- plus 5 per output value of every layer."""
    total = 0.0
    for node in graph.nodes:
        out = graph.tensor(node.outputs[0]) if node.outputs else None
        if out is None:
            continue
        total += 5.0 * out.size
        if node.op not in ("CONV_2D", "FULLY_CONNECTED", "DEPTHWISE_CONV_2D") or len(node.inputs) < 2:
            continue
        w = graph.tensor(node.inputs[1])
        chosen = _int8_candidate(node, w)["instructions"] if "kernel_report" in node.attrs else 0
        if chosen:
            total += chosen
        else:
            if node.op == "DEPTHWISE_CONV_2D":
                total += 1.5 * out.size * w.shape[1] * w.shape[2]
            else:
                total += 1.2 * out.size * (w.size // w.shape[0])
    return int(total)


def _batches(graph: ir.Graph, node: ir.Node) -> int:
    """Rows the layer's FC body runs per call: a fully-connected layer's batches, a 1x1 convolution's pixels."""
    x, w = graph.tensor(node.inputs[0]), graph.tensor(node.inputs[1])
    return max(1, x.size // (w.size // w.shape[0]))


def _int8_candidate(node: ir.Node, w: ir.Tensor) -> dict[str, Any]:
    """Bytes and estimated instructions of the int8 kernel the speed passes gave the layer (their report)."""
    rep = node.attrs.get("kernel_report", {})
    cands = rep.get("candidates", {})
    kernel = node.attrs.get("kernel") or next(
        (k for k in ("direct", "int8", BASELINE, "shared") if k in cands), None
    )
    c = cands.get(kernel or "", {})
    instructions = c.get("instructions")
    nbytes = c.get("bytes", c.get("weight_bytes", w.nbytes))
    if instructions is None:
        instructions = 0  # no estimate: only the decode's own cost counts
    return candidate(int(nbytes), int(instructions))


def _probe(graph: ir.Graph, node: ir.Node, ctx: PassContext) -> ir.Node | None:
    """The node as the size export would choose its kernel (a copy; the graph is not changed)."""
    from edgesdk.passes import codebook, packed_weights, sparse

    probe = copy.copy(node)
    probe.attrs = {}
    size = PassContext(core=ctx.core, optimize="size", options=dict(ctx.options))
    for cls in (packed_weights.PackedWeights, sparse.SparseWeights, codebook.CodebookWeights):
        p = cls()
        if p.match(graph, probe, size):
            p.transform(graph, probe, size)
    return probe if probe.attrs.get("kernel") in FORMATS else None


def _balanced_baseline(
    graph: ir.Graph, node: ir.Node, ctx: PassContext, copy: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    """What the layer runs if this pass stores nothing smaller: its speed kernel (candidate ``copy``), unless that
    kernel keeps a flash copy of the weights that ``passes/balanced_copies.py`` refuses in a balanced export --
    then the int8-weight kernel that pass gives it instead."""
    from edgesdk.passes import balanced_copies
    from edgesdk.passes._int16 import balanced_refusal

    current = node.attrs.get("kernel") or BASELINE
    if ctx.optimize != "balanced" or current not in balanced_copies.COPIES or not copy["instructions"]:
        return copy, current
    alt = balanced_copies.int8_alternative(graph, node, ctx)
    nbytes = int(graph.tensor(node.inputs[1]).nbytes)
    if alt is None or balanced_refusal(ctx, alt[1] - copy["instructions"], copy["bytes"] - nbytes) is None:
        return copy, current
    return candidate(nbytes, int(alt[1])), "int8" if alt[0] == "int8" else alt[0]


def select(ways: dict[str, list[_Choice]], budget: float, forced: set[str]) -> tuple[dict[str, _Choice], int]:
    """At most one way per layer, over the whole model: forced layers take their fastest decoded way; then, step
    by step, the move (from a layer's way so far to one storing fewer bytes, or as many and running faster) with
    the fewest extra instructions per byte saved, while the model's total extra stays within ``budget``. Returns
    the ways and the total."""
    chosen: dict[str, _Choice] = {}
    spent = 0
    for name in sorted(forced):
        own = [c for c in ways[name] if c.kernel == KERNEL] or ways[name]
        chosen[name] = min(own, key=lambda c: (c.extra, c.compressed["bytes"]))
        spent += chosen[name].extra
    for name, found in ways.items():
        default = [c for c in found if c.default]
        if name not in forced and default:
            chosen[name] = default[0]  # taken whatever the budget: it costs nothing over the baseline
    while True:
        best: tuple[tuple[float, int, str], str, _Choice, int] | None = None
        for name, found in ways.items():
            if name in forced:
                continue
            now = chosen.get(name)
            delta0 = now.delta if now else 0
            bytes0 = now.compressed["bytes"] if now else found[0].int8["bytes"]
            for c in found:
                saved, step = bytes0 - c.compressed["bytes"], c.delta - delta0
                if saved < 0 or (saved == 0 and step >= 0) or (step > 0 and spent + step > budget):
                    continue  # larger, no better, or beyond the budget
                key = (step / saved if saved else -float("inf"), c.delta, name)
                if best is None or key < best[0]:
                    best = (key, name, c, step)
        if best is None:
            return chosen, spent
        _, name, c, step = best
        chosen[name] = c
        spent += step


@register("default")
class DecodedWeights(Pass):
    """Choose, over the whole model, which compressed layers keep their compressed form (see the module doc)."""

    name = "decoded"

    def match(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:  # pragma: no cover - run()
        return False

    def transform(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:  # pragma: no cover
        return False

    def run(self, graph: ir.Graph, ctx: PassContext) -> bool:
        everywhere = ctx.optimize == "balanced" and ctx.dsp
        if not everywhere and not any(ctx.forced(n) == KERNEL for n in graph.nodes):
            return False  # elsewhere only where the user forces it (any core: the decode is portable C)
        ways = {
            n.name: found
            for n in graph.nodes
            if (everywhere or ctx.forced(n) == KERNEL) and (found := self._ways(graph, n, ctx))
        }
        if not ways:
            return False
        total = model_instructions(graph)
        budget = float(ctx.options.get("decode_budget", BUDGET)) * total
        forced = {name for name, found in ways.items() if ctx.forced(found[0].node) == KERNEL}
        chosen, spent = select(ways, budget, forced)
        for name, found in ways.items():
            self._record(found, chosen.get(name), spent, budget, total)
        return True

    def _ways(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> list[_Choice]:
        """Every way to store the layer's weights in fewer bytes than its int8 speed kernel: each compressed
        format the size probe found (decoded into the layer's kernel, or into the specialised direct conv instead
        of Winograd, whose transformed weights cannot be decoded from the compressed form cheaply; or run by the
        format's native kernel), and, for int8 weights the speed kernel widens to int16, int8 weights (widened
        per call, or the int8 kernel itself) -- a compressed layer is never stored larger than its int8 twin's."""
        if node.op not in ("CONV_2D", "FULLY_CONNECTED") or "fused_into" in node.attrs:
            return []
        current = node.attrs.get("kernel") or ""
        if current not in wf.DECODE_LAYOUTS and current not in ("winograd", "im2col_x16"):
            return []  # a compressed kernel the earlier passes chose, ...: left as it is
        w = graph.tensor(node.inputs[1])
        int8 = _int8_candidate(node, w)
        probe = _probe(graph, node, ctx)
        report: dict[str, Any] = dict(probe.attrs["kernel_report"]["candidates"]) if probe is not None else {}
        formats = [f for f in FORMATS if f in report]
        if current in INT16_KERNELS and weight(graph, node) is not None:
            formats.append("int8")  # int8 weights the speed kernel would store as int16: the copy made in RAM
            report.setdefault("int8", candidate(w.nbytes, 0))
        rows, cols = int(w.shape[0]), int(w.size // w.shape[0])
        inner, base = current, int8["instructions"]
        if current == "winograd":
            from edgesdk.passes import specialize

            shape = specialize.conv_shape(graph, node)
            inner = "specialized"
            base = specialize.specialized_instructions(shape) if shape is not None else 0
        elif current == "im2col_x16":
            # its int8 weights in its own column order (widened on the stack per call): decoded for the int8 FC
            # kernel's im2col instead, as before it (the im2col pass's candidate), or the specialised conv where the
            # im2col_x16 revisited Winograd
            cands = node.attrs.get("kernel_report", {}).get("candidates", {})
            if "im2col_s8" in cands:
                inner, base = "im2col_s8", int(cands["im2col_s8"]["instructions"])
            else:
                from edgesdk.passes import specialize

                shape = specialize.conv_shape(graph, node)
                inner = "specialized"
                base = specialize.specialized_instructions(shape) if shape is not None else 0
        elif node.op == "FULLY_CONNECTED" and current == "":
            inner = "w16"  # the int16 FC kernel reads the decoded weights (the int8 DSP FC's layout differs)
        inners = [(inner, base)] if base else []
        baseline, label = _balanced_baseline(graph, node, ctx, int8)
        if label == "specialized" and inner != "specialized":
            inners.append((label, baseline["instructions"]))  # balanced drops the copy: also decode for that
        plain = node.attrs.get("kernel_report", {}).get("candidates", {})
        plain = plain.get("int8" if node.op == "FULLY_CONNECTED" else "direct", {})
        ways: list[_Choice] = []
        for fmt in formats:
            stored = report[fmt]
            entries = int(np.count_nonzero(np.asarray(w.data))) if fmt.startswith("sparse") else 0
            for into, into_base in inners:  # the speed kernel's copy made in RAM, or the int8 kernel's rows
                if fmt == "int8" and wf.DECODE_LAYOUTS[into] == "int8":
                    continue  # int8 rows decoded into int8 rows: nothing gained
                layout = wf.DECODE_LAYOUTS[into]
                decoded = candidate(
                    stored["bytes"],
                    into_base
                    + decode_instructions(fmt, rows, cols, layout, entries, _batches(graph, node), ctx.core),
                    stored.get("other_bytes"),
                )
                decoded["scratch_bytes"] = wf.decode_scratch_bytes(rows, cols, layout)
                ways.append(_Choice(node, fmt, into, int8, decoded, KERNEL, report))
            if fmt != "int8" and "instructions" in stored:
                ways.append(_Choice(node, fmt, "", int8, stored, fmt, report))  # the native compressed kernel
            if fmt == "int8" and "instructions" in plain:
                int8_kernel = candidate(w.nbytes, int(plain["instructions"]))
                ways.append(_Choice(node, fmt, "", int8, int8_kernel, BASELINE, report))
        free = [  # int8 weights widened per call into the speed kernel at no estimated cost over its flash copy
            c for c in ways if c.fmt == "int8" and c.kernel == KERNEL and c.inner == current and c.delta <= 0
        ]
        if label != (current or BASELINE) and free and ctx.allowed(node, KERNEL):
            # balanced drops the flash copy, but the copy made in RAM costs nothing over it: that is what the
            # layer runs without compression (the int8 kernel balanced would give it is estimated no faster
            # than it measured: KWS's 1x1 layers ran 930,560 specialised, 852,280 widened in RAM)
            free[0].default = True
            baseline, label = free[0].compressed, KERNEL
            ways = [
                c for c in ways if c.kernel != KERNEL or c.inner == current
            ]  # decoded for that kernel only
        for c in ways:
            c.int8, c.base = baseline, label
        return [
            c
            for c in ways
            if ctx.allowed(node, c.kernel)
            and (
                c.default
                or c.compressed["bytes"] < baseline["bytes"]
                or c.compressed["instructions"] < baseline["instructions"]
            )
            and c.compressed["bytes"] <= baseline["bytes"]
        ]

    @staticmethod
    def _record(ways: list[_Choice], chosen: _Choice | None, spent: int, budget: float, total: int) -> None:
        take = chosen is not None
        c = chosen or min(ways, key=lambda w: (w.extra / max(1, w.saved), w.extra, -w.saved))
        node = c.node
        current = (
            c.base
        )  # the int8 kernel the layer runs without this pass: the speed kernel, or balanced's int8
        mine = "int8" if c.kernel == BASELINE else c.kernel
        cands = {k: v for k, v in c.report.items() if k not in (BASELINE, "int8")}
        for way in sorted(
            ways, key=lambda w: -w.compressed["instructions"]
        ):  # the fastest of each kernel kept
            cands["int8" if way.kernel == BASELINE else way.kernel] = way.compressed
        own = node.attrs.get("kernel") or BASELINE  # the speed kernel's own candidate stays (balanced_copies)
        earlier = node.attrs.get("kernel_report", {}).get("candidates", {})
        if own in earlier and own not in cands:
            cands[own] = earlier[own]
        cands.update({current: c.int8, mine: c.compressed})
        name = {KERNEL: f"{c.fmt} weights decoded per call", BASELINE: "the int8 kernel on int8 weights"}.get(
            c.kernel, f"the {c.fmt} kernel"
        )
        earlier_format = node.attrs.get("kernel_report", {}).get("format", "int8")
        if take:
            why = (
                f"balanced: {c.fmt} weights stored ({c.compressed['bytes']:,} B instead of {c.int8['bytes']:,} B), "
                f"run as {name} at ~{c.extra:,} instructions over {current}; the model's compressed layers add "
                f"~{spent:,} of its ~{total:,} (budget {budget:,.0f})"
            )
            node.attrs["kernel"] = c.kernel
            if c.kernel == BASELINE:
                for key in ("kernel", "specialize"):
                    node.attrs.pop(key, None)
            if c.kernel == KERNEL:
                node.attrs["decoded"] = {"format": c.fmt, "inner": c.inner}
                if c.inner in ("w16", "pointwise_w16", "im2col_w16"):
                    node.attrs["specialize"] = True
            chosen = mine
        else:
            why = (
                f"balanced: {c.fmt} weights would save {c.saved:,} B but {name} costs ~{c.extra:,} instructions "
                f"over {current}, beyond the budget of {budget:,.0f} ({budget / max(1, total):.1%} of the "
                f"model's ~{total:,}): {current} kept with its {c.int8['bytes']:,} B of weights"
            )
            chosen = current
        facts = {"decode_extra_instructions": c.extra}
        if c.kernel == KERNEL and take:
            facts["inner_kernel"] = c.inner or "direct"
            facts["scratch_bytes"] = c.compressed.get("scratch_bytes", 0)
        report = kernel_report(cands, chosen, why, **facts)
        report["format"] = c.fmt if take else earlier_format  # the weights' storage (weights.layer_weights)
        node.attrs["kernel_report"] = report
