"""Weight layouts of the Cortex-M DSP kernels (``firmware/kernels/cortex-m-dsp/``), written at export.

A per-target kernel may read its constant weights in an order that suits its inner loop (same bytes, same count,
so flash is unchanged); the kernel's C file documents the layout it expects. The orders are encodings like any
other: :mod:`edgesdk.compiler.weight_encoding` (``weight_layout``) picks the target's, :mod:`edgesdk.ir.weightformats` computes
it, and the generator writes the array the node's encoding carries. Re-exported here for the backend.
"""

from __future__ import annotations

from edgesdk.compiler.weight_encoding import DSP_TARGET, WEIGHT_LAYOUTS, weight_layout
from edgesdk.ir.weightformats import fc_weights_dsp

__all__ = ["DSP_TARGET", "WEIGHT_LAYOUTS", "fc_weights_dsp", "weight_layout"]
