"""The cost models of the kernels of cores without SIMD (``firmware/kernels/scalar/``: Cortex-M0/M0+/M3,
RV32IMC), read by the kernel choice (``passes/_select.py``) and by the Winograd pass's direct estimate; a module of
their own so that neither imports the other."""

from __future__ import annotations

#: The kernels of cores without SIMD (``firmware/kernels/scalar/``): instructions per MAC (valid taps) and per
#: output value, one least-squares fit to every int8 conv layer of the four MLPerf Tiny models on the
#: emulated Cortex-M3 (mps2-an385) and RV32IMC (qemu-riscv32). Conv totals: M3 +1.6 %, RV32 -1.6 % of the measured
#: counts. Layers with one to three input channels run up to 2x the estimate (their requantization outweighs their
#: few MACs). FC: the dense case (no input at the zero point), fitted per core on seven layers of 10 to 640 inputs
#: and outputs: RV32 3.11 per MAC and 33 per output (LB, MUL, ADD), M3 2.28 and 32 (LDRSB, MLA); the figure is
#: their geometric mean, RV32 -15 %, M3 +16 % on the large layers. Inputs at the zero point after a ReLU are
#: skipped (about half of AD's: its nine layers after the first run 20 to 35 % under the estimate on its real input).
SCALAR_COST = {
    "FULLY_CONNECTED": (2.65, 33.0),
    "CONV_2D": (3.0, 45.0),
}
#: The cost of the scalar convolution that packs two channels into one 64-bit multiply-accumulate (SMLAL, Thumb-2) on
#: ``passes.SCALAR_PACKED_CORES``, fitted the same way to the 24 direct int8 convolutions of IC, KWS and VWW on the emulated Cortex-M3
#: (their total -1.4 %; single layers -26 % (VWW's 3x3-pixel layers: each packed block serves few pixels) to +18 %;
#: KWS's first layer, one input channel and half its pixels on the border, runs 2.3x its estimate).
SCALAR_PACKED_CONV_COST = (1.55, 32.0)
#: Taps (k_h * k_w * in_c) of the largest window the packed convolution takes (ED_CONV_PACKED_TAPS in
#: ``firmware/kernels/scalar/ed_conv.c``: the low channel's sum must stay within +-2^23); larger ones run unpacked.
SCALAR_PACKED_TAPS = 511
