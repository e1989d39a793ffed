"""IR ops for binary activations (XNOR networks), which int8 TFLite ops cannot express.

A binary activation tensor holds ±1 values packed as bits (1 = +1), 32 per little-endian ``uint32`` word, one
row of words per pixel (NHWC: the channels of one pixel) or per sample (flat); bits past the channel count are
zero. In the IR such a tensor has dtype ``int8`` and the word bytes as its last dimension (``4 * ceil(C/32)``),
so the arena planner, the C backend and the device protocol see plain bytes. Packed weights are ``int32``
constants (the same bits as ``uint32``). The math lives in :mod:`edgesdk.reference.binary`.

- ``EDGESDK_BINARIZE``: int8 (..., C) -> bits: bit c = ``x_c >= threshold_c`` (``x_c <= threshold_c`` where
  ``flip_c``): BatchNorm + sign after an int8 layer, folded on the int8 values.
- ``EDGESDK_XNOR_FULLY_CONNECTED``: bits (N, words(K)) x weights (O, words(K)) -> bits (N, words(O)); the ±1 dot
  ``K - 2 * popcount(a XOR w)`` compared per channel with an integer threshold (BatchNorm + sign folded).
- ``EDGESDK_XNOR_CONV_2D``: bits NHWC x weights (O, KH, KW, words(C)) -> bits NHWC, stride, SAME/VALID; padded
  taps read ``pad_value`` (+1 or -1, what the training padded with) in every channel.
- ``EDGESDK_UNPACK_BITS``: bits -> int8 (..., C): ``high`` for +1, ``low`` for -1 (the quantized ±1 of the next
  int8 layer's input).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from edgesdk.ir.graph import NODE_TYPES, Node


@dataclass
class Binarize(Node):
    op: ClassVar[str] = "EDGESDK_BINARIZE"
    channels: int = 0
    threshold: tuple[int, ...] = ()
    flip: tuple[bool, ...] = ()


@dataclass
class XnorFullyConnected(Node):
    op: ClassVar[str] = "EDGESDK_XNOR_FULLY_CONNECTED"
    # inputs: bits (N, 4*words(K)), weights int32 (O, words(K))
    in_features: int = 0
    out_features: int = 0
    threshold: tuple[int, ...] = ()
    flip: tuple[bool, ...] = ()


@dataclass
class XnorConv2D(Node):
    op: ClassVar[str] = "EDGESDK_XNOR_CONV_2D"
    # inputs: bits (N, H, W, 4*words(C)), weights int32 (O, KH, KW, words(C))
    in_channels: int = 0
    out_channels: int = 0
    kernel: tuple[int, int] = (3, 3)
    stride: tuple[int, int] = (1, 1)
    padding: str = "SAME"
    pad_value: int = 1
    threshold: tuple[int, ...] = ()
    flip: tuple[bool, ...] = ()


@dataclass
class UnpackBits(Node):
    op: ClassVar[str] = "EDGESDK_UNPACK_BITS"
    channels: int = 0
    high: int = 127
    low: int = -127


BINARY_OPS = (Binarize, XnorFullyConnected, XnorConv2D, UnpackBits)
for _cls in BINARY_OPS:
    NODE_TYPES[_cls.op] = _cls

__all__ = ["BINARY_OPS", "Binarize", "UnpackBits", "XnorConv2D", "XnorFullyConnected"]
