"""Weight layouts of the Cortex-M DSP kernels (``firmware/kernels/cortex-m-dsp/``), written at export.

A per-target kernel may read its constant weights in an order that suits its inner loop; the generator asks
:func:`weight_layout` for the target's reordering of each op's weights and writes the reordered array (same
bytes, same count, so flash is unchanged). The kernel's C file documents the layout it expects.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

DSP_TARGET = "cortex-m-dsp"


def fc_weights_dsp(w: np.ndarray) -> np.ndarray:
    """FULLY_CONNECTED (out, in) weights for the DSP ``ed_fc_s8``: rows in blocks of four, the four rows'
    weights interleaved four inputs at a time, then each row's ``in % 4`` tail; the ``out % 4`` last rows
    row-major. Returns a flat array of the same length."""
    w = np.asarray(w).reshape(w.shape[0], -1)
    out, n = w.shape
    n4 = n & ~3
    parts = []
    for o in range(0, out - out % 4, 4):
        block = w[o : o + 4]
        body = block[:, :n4].reshape(4, n4 // 4, 4).transpose(1, 0, 2).reshape(-1)
        parts += [body, block[:, n4:].reshape(-1)]
    parts.append(w[out - out % 4 :].reshape(-1))
    return np.concatenate(parts)


#: (kernel target, op) -> reordering of the op's constant weights for that target's kernel.
WEIGHT_LAYOUTS: dict[tuple[str, str], Callable[[np.ndarray], np.ndarray]] = {
    (DSP_TARGET, "FULLY_CONNECTED"): fc_weights_dsp,
}


def weight_layout(target: str | None, op: str) -> Callable[[np.ndarray], np.ndarray] | None:
    """The weight reordering ``target``'s kernel for ``op`` expects, or None for the portable layout: the layout
    of the most specific folder of the target's chain that has a kernel for the op (``helium`` reads the DSP
    FULLY_CONNECTED kernel and its layout)."""
    from edgesdk import kernels
    from edgesdk.resources import firmware_dir

    for folder in kernels.kernel_target_chain(target):
        if (folder, op) in WEIGHT_LAYOUTS:
            return WEIGHT_LAYOUTS[(folder, op)]
        name = kernels.op_sources().get(op)
        if name and (firmware_dir() / "kernels" / folder / name).is_file():
            return None  # this folder's own kernel reads the portable layout
    return None
