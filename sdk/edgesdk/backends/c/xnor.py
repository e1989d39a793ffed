"""Lowerings of the binary-activation ops (:mod:`edgesdk.ir.binary`) to ``firmware/kernels/ed_xnor.c``."""

from __future__ import annotations

from typing import TypeVar

import numpy as np

from edgesdk.backends.c.generator import _LayerBuilder
from edgesdk.ir.binary import Binarize, UnpackBits, XnorConv2D, XnorFullyConnected
from edgesdk.reference.binary import words_for
from edgesdk.reference.xnor import conv_pads

_N = TypeVar("_N")

XNOR_KERNEL_FILE = "ed_xnor.c"


def _thresholds(b: _LayerBuilder, node: Binarize | XnorFullyConnected | XnorConv2D) -> None:
    b.ptr_field(
        "threshold", b.const_array("threshold", np.asarray(node.threshold, dtype=np.int64), "int32_t")
    )
    b.ptr_field("flip", b.const_array("flip", np.asarray(node.flip, dtype=np.int64), "uint8_t"))


def _weights(b: _LayerBuilder) -> None:
    b.ptr_field("weights", b.encoded_array("weights"))  # the bit words, as uint32


def _packed_layer(b: _LayerBuilder, op: type[_N]) -> _N:
    """The layer's node (of IR class ``op``), its input taken as the kernel's first argument."""
    node = b.node
    assert isinstance(node, op)
    b.act_input(0)
    return node


def _packed_kernel(b: _LayerBuilder, kernel: str, params_type: str) -> None:
    """The layer runs ``kernel`` of ``ed_xnor.c`` with a ``params_type`` parameter struct."""
    b.kernel, b.params_type, b.kernel_files = kernel, params_type, [XNOR_KERNEL_FILE]


def lower_binarize(b: _LayerBuilder) -> None:
    node = _packed_layer(b, Binarize)
    c = int(node.channels)
    b.ints(positions=b.t(0).size // c, channels=c, words=words_for(c))
    _thresholds(b, node)
    _packed_kernel(b, "ed_binarize_s8", "ed_binarize_params_t")


def lower_xnor_fc(b: _LayerBuilder) -> None:
    node = _packed_layer(b, XnorFullyConnected)
    k = int(node.in_features)
    batches = b.t(0).size // (4 * words_for(k))
    b.ints(
        batches=batches,
        in_bits=k,
        in_words=words_for(k),
        out_features=node.out_features,
        out_words=words_for(node.out_features),
    )
    _weights(b)
    _thresholds(b, node)
    _packed_kernel(b, "ed_xnor_fc", "ed_xnor_fc_params_t")


def lower_xnor_conv(b: _LayerBuilder) -> None:
    node = _packed_layer(b, XnorConv2D)
    x = b.t(0)
    h, w = x.shape[1], x.shape[2]
    kh, kw = node.kernel
    oh, pt, _ = conv_pads(h, kh, node.stride[0], node.padding)
    ow, pl, _ = conv_pads(w, kw, node.stride[1], node.padding)
    b.ints(
        in_h=h,
        in_w=w,
        in_c=node.in_channels,
        in_words=words_for(node.in_channels),
        out_h=oh,
        out_w=ow,
        out_c=node.out_channels,
        out_words=words_for(node.out_channels),
        k_h=kh,
        k_w=kw,
        stride_h=node.stride[0],
        stride_w=node.stride[1],
        pad_top=pt,
        pad_left=pl,
        pad_value=1 if node.pad_value > 0 else -1,
    )
    _weights(b)
    _thresholds(b, node)
    _packed_kernel(b, "ed_xnor_conv", "ed_xnor_conv_params_t")


def lower_unpack(b: _LayerBuilder) -> None:
    node = _packed_layer(b, UnpackBits)
    c = int(node.channels)
    b.ints(positions=b.out.size // c, channels=c, words=words_for(c), high=node.high, low=node.low)
    _packed_kernel(b, "ed_unpack_bits", "ed_unpack_bits_params_t")
