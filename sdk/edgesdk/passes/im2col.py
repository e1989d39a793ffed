"""Kernel selection: im2col + the int16-weight fully-connected kernel for convolutions with few input channels.

A model's first layer sees 1 to 4 input channels (audio features, RGB): the direct Cortex-M DSP kernel extends
and multiplies four channels per word, so most of its lanes and its per-tap overhead are spent on padding —
measured on the emulated Cortex-M4 (QEMU mps2-an386) 7.0 instructions per MAC for KWS's 10x4 stride-2 layer on
one channel and 5.1 for VWW's 3x3 stride-2 layer on three. Gathering each output pixel's window into a column of
K = k_h * k_w * in_c bytes (im2col) turns the layer into a fully-connected product of K inputs by out_c filters,
which the FC kernel (``ed_fc_w16_body.h``, instantiated per layer) runs at ~1.2 instructions per MAC plus the
gather. The column buffer (K bytes) is static per layer, outside the arena. int16 weights double the layer's
flash, so ``--optimize size`` keeps the direct kernel; speed takes im2col where the estimate says it pays and the
model's constants stay within half of the board's flash. The decision and both candidates go into
``node.attrs["kernel_report"]``.
"""

from __future__ import annotations

from edgesdk.ir import graph as ir
from edgesdk.passes import PassContext, register
from edgesdk.passes._int16 import Int16WeightsPass, decide, int8_conv
from edgesdk.passes.fc_weights16 import SPECIALIZED_CODE_BYTES

KERNEL = "im2col_w16"
#: Largest column (bytes) the pass gives a layer; it is RAM outside the arena.
MAX_COLUMN = 512
#: Fewest-channels layers only: from 8 channels on the direct kernel's lanes are full.
MAX_IN_C = 4
MIN_SPEEDUP = 1.2


def estimate(out_px: int, cin: int, cout: int, k: int) -> dict[str, int]:
    """Estimated instructions of the direct DSP kernel and of im2col + FC for one layer (fitted on KWS's and
    VWW's first layers, mps2-an386): the direct kernel per MAC 1.6 + 16 / in_c plus ~30 per output; im2col
    ~3 per gathered byte + 20 per pixel, the FC 1.2 per MAC + 30 per output."""
    macs = out_px * cout * k
    direct = macs * (1.6 + 16.0 / cin) + out_px * cout * 30
    im2col = out_px * (3 * k + 20) + macs * 1.2 + out_px * cout * 30
    return {"direct": int(direct), KERNEL: int(im2col)}


def _eligible(graph: ir.Graph, node: ir.Node) -> bool:
    ops = int8_conv(graph, node)
    if ops is None:
        return False
    x, w, _ = ops
    return w.shape[3] == x.shape[3] <= MAX_IN_C and w.shape[1] * w.shape[2] * w.shape[3] <= MAX_COLUMN


@register("default")
class Im2colConv(Int16WeightsPass):
    """Annotate few-channel convolutions with ``kernel = "im2col_w16"`` for speed where it pays."""

    name = "im2col"

    def eligible(self, graph: ir.Graph, node: ir.Node) -> bool:
        return _eligible(graph, node)

    def transform(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        w = graph.tensor(node.inputs[1])
        out = graph.tensor(node.outputs[0])
        k = int(w.shape[1] * w.shape[2] * w.shape[3])
        cout = int(w.shape[0])
        est = estimate(out.size // cout, int(w.shape[3]), cout, k)
        cand = {
            "direct": {"instructions": est["direct"], "weight_bytes": int(w.nbytes)},
            KERNEL: {
                "instructions": est[KERNEL],
                "weight_bytes": int(-(-cout // 4) * 4 * k * 2),
                "scratch_bytes": k,
                "code_bytes": 2 * SPECIALIZED_CODE_BYTES,
            },
        }
        return decide(
            graph,
            node,
            ctx,
            KERNEL,
            cand,
            f"{w.shape[3]} input channel(s): im2col of {k}-byte windows (a {k}-byte column) + FC kernel",
            min_speedup=MIN_SPEEDUP,
        )
