"""Whole networks in Verilog for FPGAs without a vendor HLS flow (the iCE40 UP5K of the iCEBreaker).

:mod:`.network` turns the IR into one sequential Verilog design (a layer sequencer, int8 layers on the DSP
blocks, XNOR and ternary layers without multipliers, weights in block RAM) with the reference's integer math;
:mod:`.flow` simulates it against the reference, synthesizes, places and routes it and writes the bitstream.
"""

from edgesdk.backends.rtl.network import NetDesign, estimate_network, network_verilog, supports

__all__ = ["NetDesign", "estimate_network", "network_verilog", "supports"]
