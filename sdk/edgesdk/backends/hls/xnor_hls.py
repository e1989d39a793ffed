"""Binary-activation layers of the HLS backend: binarize, XNOR-popcount dense and conv, unpack.

The IR ops (``edgesdk.ir.binary``) carry packed bits as int8 bytes (little-endian ``uint32`` words); in the HLS
design those tensors are arrays of ``ap_uint<32>`` words, one word per 32 channels of a pixel. The XNOR units
fold like FINN's matrix-vector unit (Umuroglu et al., "FINN", FPGA 2017): PE output rows in parallel, SIMD input
bits (a multiple of 32: whole words) per cycle, so a layer takes (MH / PE) * (MW / SIMD) cycles per
matrix-vector product, MH rows and MW input bits padded to whole words. BatchNorm + sign are folded into one
integer threshold per channel, the comparison flipped where the BatchNorm scale is negative
(``edgesdk.reference.binary.fold_threshold``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgesdk.backends.hls.config_keys import conv_geometry
from edgesdk.errors import UnsupportedOpError
from edgesdk.ir import graph as ir
from edgesdk.passes.hls_xnor import default_folding
from edgesdk.reference.binary import WORD, words_for

#: IR ops of binary activations the HLS backend takes
BINARY_OPS = (
    "EDGESDK_BINARIZE",
    "EDGESDK_XNOR_FULLY_CONNECTED",
    "EDGESDK_XNOR_CONV_2D",
    "EDGESDK_UNPACK_BITS",
)
#: ops whose output is a packed-bits tensor
PACKED_OUTPUT_OPS = BINARY_OPS[:3]


def xnor_dense_fields(
    n_in: int, n_out: int, words: np.ndarray, folding: tuple[int, int] | None
) -> dict[str, Any]:
    """The fields of an ``EdgeXnorDense`` (after its class, name and inputs): sizes, folding (default:
    :func:`edgesdk.passes.hls_xnor.default_folding`) and the packed weights ``words`` (n_out x words in)."""
    wi = words_for(n_in)
    pe, simd = folding or default_folding(n_out, wi)
    return {
        "n_in": n_in,
        "n_out": n_out,
        "n_words_in": wi,
        "n_words_out": words_for(n_out),
        "pe": pe,
        "simd": simd,
        "weight_data": words.reshape(n_out, wi),
    }


def xnor_conv_fields(
    in_shape: tuple[int, int, int],
    cout: int,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: str,
    pad_value: int,
    words: np.ndarray,
    folding: tuple[int, int] | None,
) -> dict[str, Any]:
    """The fields of an ``EdgeXnorConv`` (after its class, name and inputs): the conv geometry of an
    ``in_shape`` (h, w, in channels) input, padding value, words per pixel, folding (default:
    :func:`edgesdk.passes.hls_xnor.default_folding`) and the packed weights ``words``."""
    from edgesdk.reference.xnor import conv_pads

    h, wd, cin = in_shape
    (kh, kw), (sh, sw) = kernel, stride
    oh, pt, _ = conv_pads(h, kh, sh, padding)
    ow, pl, _ = conv_pads(wd, kw, sw, padding)
    wi = words_for(cin)
    pe, simd = folding or default_folding(cout, kh * kw * wi)
    return {
        **conv_geometry((h, wd, cin, oh, ow, cout), (kh, kw, sh, sw), (pt, pl)),
        "pad_value": int(pad_value),
        "n_words_in": wi,
        "n_words_out": words_for(cout),
        "pe": pe,
        "simd": simd,
        "weight_data": words.reshape(cout, kh * kw * wi),
    }


def _thresholds(node: Any) -> dict[str, np.ndarray]:
    thr = np.asarray(node.threshold, dtype=np.int64)
    if thr.size and (thr.min() < -(1 << 31) or thr.max() >= (1 << 31)):
        raise UnsupportedOpError(f"layer {node.name}: thresholds do not fit 32 bits")
    return {"threshold_data": thr, "flip_data": np.asarray(node.flip, dtype=np.int64)}


def _words(data: np.ndarray) -> np.ndarray:
    return np.asarray(data).astype(np.int64) & 0xFFFFFFFF


def _pix(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape[1:-1], dtype=np.int64)) if len(shape) > 2 else 1


def binary_layer(
    graph: ir.Graph, node: ir.Node, name: str, src: str, folding: tuple[int, int] | None = None
) -> dict[str, Any]:
    """The hls4ml layer dict of one binary-activation IR node."""
    x = graph.tensor(node.inputs[0])
    out = graph.tensor(node.outputs[0])
    if node.op == "EDGESDK_BINARIZE":
        c = int(node.channels)
        words = words_for(c)
        return {
            "class_name": "EdgeBinarize",
            "name": name,
            "inputs": [src],
            "n_pix": _pix(x.shape),
            "n_chan": c,
            "n_words": words,
            "out_shape": [*out.shape[1:-1], words],
            **_thresholds(node),
        }
    if node.op == "EDGESDK_UNPACK_BITS":
        c = int(node.channels)
        return {
            "class_name": "EdgeUnpack",
            "name": name,
            "inputs": [src],
            "n_pix": _pix(x.shape),
            "n_chan": c,
            "n_words": words_for(c),
            "high": int(node.high),
            "low": int(node.low),
            "out_shape": list(out.shape[1:]),
        }
    w = _words(graph.tensor(node.inputs[1]).data)
    head = {"name": name, "inputs": [src]}
    if node.op == "EDGESDK_XNOR_FULLY_CONNECTED":
        n_in, n_out = int(node.in_features), int(node.out_features)
        if x.size // (4 * words_for(n_in)) != 1:
            raise UnsupportedOpError(
                f"layer {node.name}: XNOR FULLY_CONNECTED over several rows is not supported"
            )
        fields = xnor_dense_fields(n_in, n_out, w, folding)
        return {"class_name": "EdgeXnorDense", **head, **fields, **_thresholds(node)}
    if node.op == "EDGESDK_XNOR_CONV_2D":
        _, h, wd, _ = x.shape
        cin, cout = int(node.in_channels), int(node.out_channels)
        fields = xnor_conv_fields(
            (h, wd, cin), cout, node.kernel, node.stride, node.padding, node.pad_value, w, folding
        )
        return {"class_name": "EdgeXnorConv", **head, **fields, **_thresholds(node)}
    raise UnsupportedOpError(f"layer {node.name}: op {node.op} is not a binary-activation op")


def estimate(layer: dict[str, Any]) -> dict[str, Any]:
    """FINN's folded cycle count (MH / PE) * (MW / SIMD) per matrix-vector product, and the weight bits."""
    if layer["class_name"] not in ("EdgeXnorDense", "EdgeXnorConv"):
        return {}
    conv = layer["class_name"] == "EdgeXnorConv"
    mh = layer["out_c"] if conv else layer["n_out"]
    mw_words = layer["n_words_in"] * (layer["filter_h"] * layer["filter_w"] if conv else 1)
    pe, simd_bits = layer["pe"], layer["simd"] * WORD
    mw = mw_words * WORD
    per_vector = (mh // pe) * (mw // simd_bits)
    pixels = layer["out_h"] * layer["out_w"] if conv else 1
    return {
        "mh": mh,
        "mw": mw,
        "pe": pe,
        "simd": simd_bits,
        "conv": conv,
        "pixels": pixels,
        "cycles_per_vector": per_vector,
        "cycles": per_vector * pixels,
        "multipliers": 0,
        "popcount_bits_per_cycle": pe * simd_bits,
        "weight_bits": mh * mw,
        "note": f"(MH/PE)*(MW/SIMD) = ({mh}/{pe})*({mw}/{simd_bits})"
        + (f" x {pixels} pixels" if conv else ""),
    }
