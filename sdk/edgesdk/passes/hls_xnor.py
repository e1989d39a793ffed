"""FPGA folding of the XNOR-popcount units (pipeline ``"hls"``): how many output rows (PE) and input words
(SIMD) each XNOR dense or conv layer computes per cycle.

The units fold like FINN's matrix-vector unit (Umuroglu et al., "FINN", FPGA 2017): PE output rows in parallel,
SIMD words of 32 input bits per cycle, so a layer takes ``(MH / PE) * (MW / SIMD)`` cycles per matrix-vector
product, PE dividing the MH rows and SIMD the MW packed words. By default the pass takes the largest divisors up
to :data:`MAX_PE` rows and :data:`MAX_SIMD_WORDS` words (:func:`default_folding`); ``PassContext.options
["xnor_folding"][layer] = (PE, SIMD words)`` sets a layer's folding (refused with one sentence when it does not
divide). Binary ops run only in the XNOR units: ``--no-kernel LAYER=xnor`` (or forcing ``dense``) on one is
refused. The decision goes into ``node.attrs["kernel"] = "xnor"``, ``node.attrs["xnor_folding"]`` (what the HLS
converter builds) and ``node.attrs["kernel_report"]`` in the shape every kernel pass uses.
"""

from __future__ import annotations

import fnmatch

from edgesdk.errors import EdgeSDKError, UnsupportedOpError
from edgesdk.ir import graph as ir
from edgesdk.passes import Pass, PassContext, register
from edgesdk.passes._report import kernel_report
from edgesdk.reference.binary import WORD, words_for

KERNEL = "xnor"
#: the XNOR ops whose unit folds (the binarize and unpack units around them do not)
FOLDED_OPS = ("EDGESDK_XNOR_FULLY_CONNECTED", "EDGESDK_XNOR_CONV_2D")
#: the largest PE and SIMD (in words) picked by default
MAX_PE = 8
MAX_SIMD_WORDS = 4


def _largest_divisor(n: int, limit: int) -> int:
    return max(d for d in range(1, min(n, limit) + 1) if n % d == 0)


def default_folding(rows: int, words: int) -> tuple[int, int]:
    """(PE, SIMD in words): the largest divisors of the rows and words up to MAX_PE and MAX_SIMD_WORDS."""
    return _largest_divisor(rows, MAX_PE), _largest_divisor(words, MAX_SIMD_WORDS)


def matrix(node: ir.Node) -> tuple[int, int]:
    """(MH rows, MW packed words per row) of an XNOR dense or conv layer."""
    if node.op == "EDGESDK_XNOR_CONV_2D":
        kh, kw = node.kernel
        return int(node.out_channels), kh * kw * words_for(int(node.in_channels))
    return int(node.out_features), words_for(int(node.in_features))


def _refused(node: ir.Node, ctx: PassContext) -> str | None:
    """The option that would take a binary layer out of the XNOR unit, which nothing else computes."""
    forced = ctx.forced(node)
    if forced in ("dense", "direct"):
        return f"--kernel {forced}"
    for pattern, kernels in ctx.forbid.items():
        if KERNEL in kernels and fnmatch.fnmatchcase(node.name, pattern):
            return f"--no-kernel '{pattern}={KERNEL}'"
    return None


@register("hls")
class HlsXnorFolding(Pass):
    """Annotate every XNOR dense and conv layer with its PE/SIMD folding."""

    name = "hls_xnor"

    def match(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        return node.op in FOLDED_OPS and "xnor_folding" not in node.attrs

    def transform(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        refused = _refused(node, ctx)
        if refused:
            raise UnsupportedOpError(
                f"layer {node.name}: {refused} cannot be honoured: op {node.op} runs only in the XNOR unit on "
                "the FPGA"
            )
        rows, words = matrix(node)
        given = (ctx.options.get("xnor_folding") or {}).get(node.name)
        if given is not None:
            pe, simd = (int(v) for v in given)
            if pe < 1 or simd < 1 or rows % pe or words % simd:
                raise EdgeSDKError(
                    f"HLS layer {node.name}: PE={pe} must divide {rows} rows and SIMD={simd} must divide "
                    f"{words} packed words"
                )
            why = f"folding given: PE {pe} of {rows} rows, SIMD {simd} of {words} words"
        else:
            pe, simd = default_folding(rows, words)
            why = (
                f"PE {pe} of {rows} rows, SIMD {simd} of {words} words: the largest divisors up to {MAX_PE} rows "
                f"and {MAX_SIMD_WORDS} words (FINN's folding)"
            )
        cycles = (rows // pe) * (words // simd)
        cand = {
            KERNEL: {"bytes": rows * words * 4, "cycles": cycles, "popcount_bits_per_cycle": pe * simd * WORD}
        }
        node.attrs["kernel"] = KERNEL
        node.attrs["xnor_folding"] = (pe, simd)
        node.attrs["kernel_report"] = kernel_report(
            cand, KERNEL, f"{why}; {cycles} cycles per matrix-vector product", pe=pe, simd_words=simd
        )
        return True
