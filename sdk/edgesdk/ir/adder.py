"""IR op of AdderNet's L1 convolution, which no TFLite op expresses.

``EDGESDK_ADDER_CONV_2D`` (Chen et al. 2020, "AdderNet: Do We Really Need Multiplications in Deep Learning?"):
``y[o] = -Σ_{taps, c} |x - w[o]|`` over the kernel window, padded taps reading a real zero.

Integer form. The weights live in the input's units: with input quantization ``(s_x, zp_x)`` a weight's real
value is ``s_x · q_w``, so ``|x - w| = s_x · |(q_x - zp_x) - q_w|`` and the whole sum is an exact integer
(``q_w`` is int16: trained weights may lie outside the input's int8 range). Per output channel, one
accumulator unit is worth ``acc_scale[o]`` real units (``s_x`` times the layer's per-channel output scale);
the int32 ``bias`` is in accumulator units. The output is requantized exactly like CONV_2D:
``clamp(MBQM(acc + bias, M[o], shift[o]) + zp_y)`` with ``M[o] = acc_scale[o] / s_y``.

Inputs: x (int8 NHWC), weights (int16 OHWI, per-tensor quant = the input scale), bias (int32, optional).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from edgesdk.ir.graph import NODE_TYPES, Node


@dataclass
class AdderConv2D(Node):
    op: ClassVar[str] = "EDGESDK_ADDER_CONV_2D"
    stride: tuple[int, int] = (1, 1)
    padding: str = "SAME"
    activation: str = "NONE"
    acc_scale: tuple[float, ...] = ()


NODE_TYPES[AdderConv2D.op] = AdderConv2D

__all__ = ["AdderConv2D"]
