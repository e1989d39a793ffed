"""Find ternary / binary weights in an int8 graph and pick the packed kernels (``ed_packed.c``) where they pay.

A CONV_2D or FULLY_CONNECTED layer whose int8 weights take, per output channel, only the values {-a, 0, b}
(ternary; TWN writes {-127, 0, 127}) or {-a, b} (binary; BWN writes {-127, 127}) is stored as bit-planes and run
with additions only (:mod:`edgesdk.reference.binary` has the packing). The result is the int8 kernel's exactly,
so the choice is a pure cost decision: the pass estimates bytes and executed instructions of the int8 and the
packed kernel (an instruction model of the portable C on a Cortex-M4 at -O2, fitted to emulator counts, see
``benchmarks/compression.py``) and picks the faster one (``optimize="speed"``) or the smaller
(``optimize="size"``), unless the user forces or forbids a kernel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgesdk.compiler.weight_encoding import (
    packed_encoding,
    planes_arrays,
    pointwise_as_fc,
    store,
    uses_codes,
)
from edgesdk.ir import graph as ir
from edgesdk.ir.weightformats import WeightPlanes, code_rows, weight_planes
from edgesdk.passes import Pass, PassContext, fc_weights16, register
from edgesdk.passes._report import BASELINE, candidate, kernel_report
from edgesdk.passes._select import dense_per_mac, fast_int8, fastest_int8

#: Executed instructions (Cortex-M4, -O2, portable C) per unit of work, read off emulator counts of
#: ed_fc.c / ed_conv.c / ed_packed.c (QEMU mps2-an386) and the generated assembly.
COST = {
    "int8_mac": 8.2,  # one int8 multiply-accumulate in ed_fc.c / ed_conv.c
    "set_bit": 8.0,  # conv: one set bit of a plane (rbit, clz, load, add, clear, branch)
    "word_fc": 36.0,  # FC: one plane word (8 nibble lookups in the subset-sum tables)
    "group_fc": 30.0,  # FC: building one 4-input subset-sum table (per 32 output channels)
    "word_conv": 14.0,  # conv: one plane word at one tap (bit extraction)
    "channel": 30.0,  # requantization and loop overhead per output value
}
#: The conv table path's estimate against emulator counts (mps2-an386): 3x3 32->32 on 16x16 binary 6,693,040
#: measured / 3,895,296 estimated, ternary 9,479,200 / 6,328,320; the digits CNN's binary 3x3 layer 793,400 /
#: 459,264. The per-word costs above were fitted on FC layers; a conv also gathers its window per pixel.
CONV_TABLE_SCALE = {"binary": 1.72, "ternary": 1.50}
#: The DSP codes kernel for FC rows with one magnitude (``ed_fc_codes.c``, chosen by the C backend on DSP
#: targets): instructions per MAC and per output value on the scale of the int8 DSP FC's model (1.75 per MAC,
#: 30 per output). Measured on the emulated Cortex-M4 (mps2-an386), the digits MLP's 64 -> 48 and 48 -> 32
#: layers: int8 7,760 / 4,320 (fit 1.80 per MAC, 42.5 per output), ternary 7,840 / 4,480 (1.59, 57.5), binary
#: 8,240 / 4,720 (1.64, 62.5); the bit-plane kernel ran 16,360 / 10,320 (ternary) and 12,400 / 7,720 (binary).
CODES_FC = {"ternary": 1.75 * 1.59 / 1.80, "binary": 1.75 * 1.64 / 1.80, "output": 30.0 + 17.5}
#: Largest conv receptive field (bytes) the packed conv kernel gathers for its table path (ED_CONV_WINDOW).
CONV_WINDOW = 1152


def _shape_info(graph: ir.Graph, node: ir.Node) -> tuple[int, int, int] | None:
    """(output positions, taps per word run, words per tap) — how often each plane word is visited."""
    w = graph.tensors[node.inputs[1]]
    out = graph.tensors[node.outputs[0]]
    if node.op == "FULLY_CONNECTED":
        rows = out.size // w.shape[0]
        return rows, 1, 1
    # CONV_2D: every output pixel visits kh*kw taps of ceil(in_c/32) words each.
    pixels = out.shape[1] * out.shape[2]
    taps = w.shape[1] * w.shape[2]
    return pixels, taps, (w.shape[3] + 31) // 32


def _pointwise(graph: ir.Graph, node: ir.Node) -> bool:
    from edgesdk.reference.params import op_params

    return node.op == "CONV_2D" and pointwise_as_fc(op_params(graph, node))


def estimate(
    graph: ir.Graph, node: ir.Node, planes: WeightPlanes, dsp: bool = False, fast: bool = False
) -> dict[str, dict[str, Any]]:
    """Bytes and estimated instructions of the int8 kernel (``"dense"``; the Cortex-M DSP one with ``dsp``)
    and of the packed one."""
    w = graph.tensors[node.inputs[1]]
    info = _shape_info(graph, node)
    assert info is not None
    positions, taps, words_per_tap = info
    o = planes.rows
    macs = positions * o * planes.row_bits
    nonzero = planes.rows * planes.row_bits - planes.zeros
    ones = int(sum(bin(int(v)).count("1") for v in planes.pos.reshape(-1)))
    set_bits = ones if planes.kind == "binary" else nonzero
    n_planes = 1 if planes.kind == "binary" else 2
    if node.op == "FULLY_CONNECTED" or planes.row_bits <= CONV_WINDOW:
        # Table kernel (a conv gathers its receptive field per pixel first, ~3 instructions per byte).
        tables = COST["group_fc"] * 8 * planes.words * ((o + 31) // 32) * positions
        packed = COST["word_fc"] * n_planes * o * planes.words * positions + tables
        if node.op == "CONV_2D":
            packed += 3 * planes.row_bits * positions
            packed *= CONV_TABLE_SCALE[planes.kind]
    else:
        word_cost = COST["word_conv"] * n_planes * o * taps * words_per_tap * positions
        packed = COST["set_bit"] * set_bits * positions + word_cost
    extra = planes.row_bits * positions * 3 if planes.kind == "binary" else 0  # the window / row sum
    packed += extra + COST["channel"] * o * positions
    if dsp and (node.op == "FULLY_CONNECTED" or _pointwise(graph, node)) and code_rows(planes) is not None:
        packed = CODES_FC[planes.kind] * macs + CODES_FC["output"] * o * positions  # ed_fc_codes.c
    per_mac = dense_per_mac(node.op, planes.row_bits // max(1, taps), dsp) if dsp else COST["int8_mac"]
    int8 = per_mac * macs + COST["channel"] * o * positions
    if fast:  # the int8 layer would get the speed kernels (Winograd, int16-weight FC, ...)
        if node.op == "CONV_2D":
            int8 = fastest_int8(graph, node, int8)
        else:
            int8 = min(int8, fc_weights16.estimate(macs, o * positions))
    # A packed conv also stores its bias with the input offset folded in (int32 per channel).
    folded_bias = 4 * planes.rows if node.op == "CONV_2D" else 0
    return {
        BASELINE: candidate(w.nbytes, int(int8)),
        planes.kind: candidate(planes_arrays(planes).nbytes, int(packed), other_bytes=folded_bias),
    }


@register("default")
class PackedWeights(Pass):
    """Annotate ternary/binary CONV_2D and FULLY_CONNECTED layers with the packed kernel when it wins (and store its encoding)."""

    name = "packed_weights"

    def match(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        if node.op not in ("CONV_2D", "FULLY_CONNECTED") or "kernel" in node.attrs:
            return False
        if len(node.inputs) < 2 or not node.inputs[1]:
            return False
        w = graph.tensors[node.inputs[1]]
        x = graph.tensors[node.inputs[0]]
        if w.data is None or w.dtype != "int8" or x.dtype != "int8":
            return False
        if w.quant is not None and np.any(w.quant.zero_point != 0):
            return False
        if node.op == "CONV_2D":
            conv: Any = node
            if tuple(conv.dilation) != (1, 1) or w.shape[3] != x.shape[3]:
                return False
        return True

    def transform(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        w = graph.tensors[node.inputs[1]]
        planes = weight_planes(w.data.reshape(w.shape[0], -1))  # type: ignore[union-attr]
        if planes is None:
            return False
        cands = estimate(graph, node, planes, ctx.dsp, fast_int8(ctx))
        kind = planes.kind
        key = "bytes" if ctx.optimize == "size" else "instructions"
        wins = cands[kind][key] < cands[BASELINE][key]
        if ctx.forced(node) == kind:
            wins, why = True, f"{kind} forced by the user"
        elif not ctx.allowed(node, kind):
            return False
        elif wins:
            why = (
                f"weights are {kind} per channel; the packed kernel gives the int8 result exactly with "
                f"{cands[kind]['bytes']:,} instead of {cands[BASELINE]['bytes']:,} weight bytes and "
                f"~{cands[kind]['instructions']:,} instead of ~{cands[BASELINE]['instructions']:,} instructions"
            )
        else:
            why = f"weights are {kind}, but the int8 kernel is estimated cheaper ({key})"
        if not wins:
            # No kernel is set: the sparse and codebook passes may still choose one for this layer.
            node.attrs["kernel_report"] = kernel_report(cands, BASELINE, why)
            return False
        node.attrs["kernel"] = kind
        store(node, packed_encoding(planes, uses_codes(graph, node, ctx.target)), ctx.target)
        sparsity = planes.zeros / max(1, planes.rows * planes.row_bits)
        node.attrs["kernel_report"] = kernel_report(cands, kind, why, sparsity=sparsity)
        return True
