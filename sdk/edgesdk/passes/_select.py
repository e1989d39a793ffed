"""Shared by the compressed-weight kernel passes: the instruction estimates and the choice between candidates.

The estimates are linear models of executed instructions on a Cortex-M4 at -O2 (per product and per output),
fitted to counts measured on the emulated mps2-an386 board (``benchmarks/pruning.py`` prints both, so a drift
is visible). They only have to rank candidates; the export report shows them next to the bytes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgesdk.ir import graph as ir
from edgesdk.passes import Pass, PassContext
from edgesdk.passes._report import BASELINE, candidate, kernel_report
from edgesdk.passes._scalar_cost import SCALAR_COST, SCALAR_PACKED_CONV_COST, SCALAR_PACKED_TAPS

# Instructions per multiply-accumulate (or stored entry) and per output value of each kernel, fitted to
# per-layer counts on the emulated mps2-an386 (Cortex-M4, arm-none-eabi-gcc 12 -O2): e.g. a 512x512 layer
# took 1.87 M instructions dense, 0.222 M sparse at 10 % density, 0.333 M sparse-coded (4-bit deltas).
COST = {
    "dense_fc": (7.1, 30.0),  # ed_fc_s8: per weight, per output
    "dense_conv": (7.6, 60.0),  # ed_conv_s8: per valid tap x in_c, per output value
    "sparse_conv": (
        12.0,
        60.0,
    ),  # ed_conv_sparse_s8, window inside the image: per entry and pixel, per output
    "sparse_conv_border": (
        36.0,
        0.0,
    ),  # the same on border pixels (taps decoded and tested): per entry and pixel
    "sparse": (7.7, 40.0),  # ed_fc_sparse_s8 (int8 values): per entry, per output
    "sparse_codebook": (9.6, 40.0),  # ed_fc_sparse_s8 (coded entries)
    "codebook_fc4": (6.1, 30.0),  # ed_fc_codebook_s8, 4-bit codes (two per byte, input offset folded)
    "codebook_fc": (12.2, 30.0),  # 1- or 2-bit codes
    "codebook_conv": (15.0, 60.0),  # ed_conv_codebook_s8
    "pattern": (0.0, 40.0),  # generated pattern conv: per output value; per kept kernel below
}
#: Generated pattern conv, per kept kernel and pixel: inside the image (constant offsets) and on the border.
PATTERN_PER_KERNEL = (20.0, 65.0)
#: The kernels the sparse, codebook and pattern passes choose between.
MINE = (BASELINE, "sparse", "sparse_codebook", "codebook", "pattern")


def estimate(kind: str, macs: float, outputs: float, extra: float = 0.0) -> int:
    per_mac, per_out = COST[kind]
    return int(round(per_mac * macs + per_out * outputs + extra))


def conv_taps(graph: ir.Graph, node: ir.Node) -> tuple[int, int]:
    """(valid kernel taps summed over output pixels, output pixels) of a CONV_2D, padding taps excluded."""
    from edgesdk.reference.params import op_params

    p = op_params(graph, node)
    total = 0
    for oy in range(p["out_h"]):
        iy0 = oy * p["stride_h"] - p["pad_h"]
        ky = sum(1 for k in range(p["filter_h"]) if 0 <= iy0 + k * p["dilation_h"] < p["in_h"])
        for ox in range(p["out_w"]):
            ix0 = ox * p["stride_w"] - p["pad_w"]
            kx = sum(1 for k in range(p["filter_w"]) if 0 <= ix0 + k * p["dilation_w"] < p["in_w"])
            total += ky * kx
    return total, p["out_h"] * p["out_w"]


def interior_pixels(graph: ir.Graph, node: ir.Node) -> tuple[int, int]:
    """(output pixels whose whole kernel window lies inside the image, all output pixels) of a CONV_2D."""
    from edgesdk.reference.params import op_params

    p = op_params(graph, node)

    def inside(n_out: int, stride: int, pad: int, k: int, dil: int, size: int) -> int:
        return sum(
            1 for o in range(n_out) if 0 <= o * stride - pad and o * stride - pad + (k - 1) * dil < size
        )

    rows = inside(p["out_h"], p["stride_h"], p["pad_h"], p["filter_h"], p["dilation_h"], p["in_h"])
    cols = inside(p["out_w"], p["stride_w"], p["pad_w"], p["filter_w"], p["dilation_w"], p["in_w"])
    return rows * cols, p["out_h"] * p["out_w"]


def dense_per_mac(op: str, in_c: int, dsp: bool, scalar: bool = False, packed: bool = False) -> float:
    """Instructions per MAC of the int8 kernel: portable (``COST``), the scalar kernels (``SCALAR_COST``; the
    convolution of ``SCALAR_PACKED_CORES`` with ``packed``), or the Cortex-M DSP kernels (SMLAD; fitted on the
    emulated Cortex-M4 with the MLPerf Tiny models: FC 1.75, conv 1.6 + 8 / in_channels)."""
    if dsp:
        return 1.75 if op == "FULLY_CONNECTED" else 1.6 + 8.0 / max(1, in_c)
    if scalar and packed and op != "FULLY_CONNECTED":
        return SCALAR_PACKED_CONV_COST[0]
    if scalar:
        return SCALAR_COST["FULLY_CONNECTED" if op == "FULLY_CONNECTED" else "CONV_2D"][0]
    return COST["dense_fc" if op == "FULLY_CONNECTED" else "dense_conv"][0]


def dense_per_output(op: str, scalar: bool = False, packed: bool = False) -> float:
    """Instructions per output value of the int8 kernel (requantization and loop overhead)."""
    if scalar and packed and op != "FULLY_CONNECTED":
        return SCALAR_PACKED_CONV_COST[1]
    if scalar:
        return SCALAR_COST["FULLY_CONNECTED" if op == "FULLY_CONNECTED" else "CONV_2D"][1]
    return COST["dense_fc" if op == "FULLY_CONNECTED" else "dense_conv"][1]


def fast_int8(ctx: Any) -> bool:
    """Whether int8 layers get the speed kernels (a speed export on a DSP core whose flash is known, the
    condition of the Winograd, int16-weight FC, 1x1-as-FC and im2col passes): what a compressed kernel competes
    with."""
    return bool(ctx.dsp and ctx.optimize != "size" and ctx.options.get("flash_bytes"))


def dense_fc_candidate(
    w: np.ndarray, batches: int, dsp: bool = False, fast: bool = False, scalar: bool = False
) -> dict[str, int]:
    """The int8 kernel's candidate for a fully-connected layer; ``fast``: the export optimizes for speed on a
    DSP core, where the int8 layer runs the int16-weight FC kernel (see :func:`fastest_int8`); ``scalar``: the
    core runs the scalar kernels."""
    out = w.shape[0]
    per_mac = dense_per_mac("FULLY_CONNECTED", w.shape[1], dsp, scalar)
    insn = (
        per_mac * w.size * batches + dense_per_output("FULLY_CONNECTED", scalar and not dsp) * out * batches
    )
    if fast:
        from edgesdk.passes import fc_weights16

        insn = min(insn, fc_weights16.estimate(w.size * batches, out * batches))
    return candidate(w.size, int(round(insn)))


def dense_conv_candidate(
    graph: ir.Graph,
    node: ir.Node,
    w: np.ndarray,
    dsp: bool = False,
    fast: bool = False,
    scalar: bool = False,
    packed: bool = False,
) -> dict[str, int]:
    """The int8 kernel's candidate for a convolution; ``fast`` and ``scalar`` as for :func:`dense_fc_candidate`;
    ``packed``: the core packs two channels a multiply-accumulate (``PassContext.scalar_packed``)."""
    taps, pixels = conv_taps(graph, node)
    out_c, in_c = w.shape[0], w.shape[3]
    packed = packed and w[0].size <= SCALAR_PACKED_TAPS
    per_mac = dense_per_mac("CONV_2D", in_c, dsp, scalar, packed)
    insn = (
        per_mac * taps * in_c * out_c
        + dense_per_output("CONV_2D", scalar and not dsp, packed) * pixels * out_c
    )
    if fast:
        insn = fastest_int8(graph, node, insn)
    return candidate(w.size, int(round(insn)))


def fastest_int8(graph: ir.Graph, node: ir.Node, direct: float) -> float:
    """The fewest estimated instructions of the int8 kernels a speed export may give a CONV_2D on a DSP core
    (direct, Winograd, 1x1 as FC, im2col; each pass's own cost model): the baseline a compressed kernel has to
    beat for speed, so a ternary or pruned layer does not lose Winograd to a slower packed kernel."""
    from edgesdk.passes import im2col, pointwise
    from edgesdk.passes import winograd as wg
    from edgesdk.reference.params import op_params

    p = op_params(graph, node)
    best = direct
    out_px, cin, cout = p["out_h"] * p["out_w"], p["in_c"], p["out_c"]
    if wg._eligible(graph, node) is not None:
        best = min(best, wg.estimate(p["out_h"], p["out_w"], cin, cout, True)[wg.KERNEL]["instructions"])
    if pointwise._eligible(graph, node):
        best = min(best, pointwise.estimate(out_px, cin, cout)[pointwise.KERNEL])
    if im2col._eligible(graph, node):
        k = p["filter_h"] * p["filter_w"] * cin
        best = min(best, im2col.estimate(out_px, cin, cout, k)[im2col.KERNEL])
    return best


def weight(graph: ir.Graph, node: ir.Node) -> np.ndarray | None:
    """The node's constant int8 weights (input 1) with zero point 0, else None."""
    if len(node.inputs) < 2 or not node.inputs[1]:
        return None
    t = graph.tensor(node.inputs[1])
    if t.dtype != "int8" or t.data is None:
        return None
    if t.quant is not None and np.any(t.quant.zero_point != 0):
        return None
    return np.asarray(t.data)


def matrix_layer(graph: ir.Graph, node: ir.Node) -> bool:
    """A FULLY_CONNECTED, or a CONV_2D whose 4-D weights have the input's channels, with constant int8 weights
    (zero point 0): the layers whose weight rows the sparse and codebook formats store."""
    if node.op == "CONV_2D":
        t = graph.tensor(node.inputs[1]) if len(node.inputs) > 1 else None
        if t is None or len(t.shape) != 4 or t.shape[3] != graph.tensor(node.inputs[0]).shape[-1]:
            return False
    elif node.op != "FULLY_CONNECTED":
        return False
    return weight(graph, node) is not None


class MatrixWeightsPass(Pass):
    """A pass over the layers whose weight rows the sparse and codebook formats store (:func:`matrix_layer`)."""

    def match(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        return matrix_layer(graph, node)

    @staticmethod
    def matched_weight(graph: ir.Graph, node: ir.Node) -> np.ndarray:
        """The constant int8 weights of a layer :meth:`match` accepted."""
        w = weight(graph, node)
        assert w is not None
        return w


def offer(
    node: ir.Node, ctx: Any, candidates: dict[str, dict[str, Any]], info: dict[str, Any] | None = None
) -> None:
    """Add ``candidates`` (name -> :func:`~edgesdk.passes._report.candidate`; must include the baseline
    ``"dense"``) to the node's report and (re)choose its kernel: with ``ctx.optimize == "speed"`` the fewest
    estimated instructions, ties broken by bytes; with ``"size"`` the fewest bytes, ties broken by
    instructions. Forced/forbidden kernels are respected (``ctx.allowed``). Nothing is recorded unless a
    compressed candidate is forced, or stores fewer bytes than the dense kernel, or runs fewer instructions."""
    if node.attrs.get("kernel") not in (None, *MINE):
        return  # another pass (e.g. packed ternary/binary weights) already chose this layer's kernel
    report = node.attrs.get("kernel_report", {})
    if not report.get("candidates") or not set(report["candidates"]) <= set(MINE):
        report = {}  # a report of another pass's candidates (which lost): start this one afresh
    merged = dict(report.get("candidates", {}))
    merged.update(candidates)
    dense = merged[BASELINE]
    forced = ctx.forced(node)
    if forced not in merged and not any(
        k != BASELINE and (c["bytes"] < dense["bytes"] or c["instructions"] < dense["instructions"])
        for k, c in merged.items()
    ):
        return
    allowed = {k: c for k, c in merged.items() if ctx.allowed(node, k) or k == BASELINE}
    if forced is not None and forced in merged:
        allowed = {forced: merged[forced]}
    if ctx.optimize == "size":
        key = lambda k: (allowed[k]["bytes"], allowed[k]["instructions"])  # noqa: E731
        goal = "fewest bytes"
    else:
        key = lambda k: (allowed[k]["instructions"], allowed[k]["bytes"])  # noqa: E731
        goal = "fewest estimated instructions"
    best = min(allowed, key=key)
    c = allowed[best]
    why = f"{goal} ({ctx.optimize}): {c['bytes']} bytes, ~{c['instructions']} instructions"
    if best != BASELINE:
        why += f" vs dense int8 {dense['bytes']} bytes, ~{dense['instructions']} instructions"
    if forced is not None and forced in merged:
        why = f"forced by the user; {why}"
    facts = {k: v for k, v in report.items() if k not in _REPORT_KEYS}
    facts.update(info or {})
    node.attrs["kernel_report"] = kernel_report(merged, best, why, **facts)
    if best == BASELINE and forced != BASELINE:
        # The int8 layer is left to the int8 kernel passes (Winograd, 1x1 as FC, im2col, ...).
        node.attrs.pop("kernel", None)
    else:
        node.attrs["kernel"] = best


#: Keys :func:`kernel_report` writes itself (the rest of an earlier report are facts to keep).
_REPORT_KEYS = ("candidates", "why", "format", "weight_bytes", "other_bytes")
