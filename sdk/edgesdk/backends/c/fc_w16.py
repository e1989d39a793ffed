"""C lowering of a FULLY_CONNECTED annotated ``kernel = "w16"``: ``ed_fc_w16_s8`` (``firmware/kernels/ed_fc_w16.c``)
with the int8 weights (plus the weight offset) pre-extended to int16 at export in the kernel's blocked order.
Twice the flash of the int8 weights for fewer instructions; ``passes/fc_weights16.py`` decides per layer."""

from __future__ import annotations

import numpy as np

from edgesdk.backends.c.generator import KERNEL_SUBDIR, VARIANT_LOWER, _LayerBuilder
from edgesdk.errors import UnsupportedOpError

KERNEL = "w16"


def fc_weights_w16(w: np.ndarray, weights_offset: int = 0) -> np.ndarray:
    """(out, in) int8 weights -> the flat int16 layout of ``ed_fc_w16_params_t`` (edgesdk_kernels.h): rows in
    blocks of four (zero rows pad the last), per four inputs the pairs (w0, w2) of the four rows then (w1, w3),
    then each row's ``in % 4`` tail weights. The weight offset is added here, so the kernel never sees it."""
    w = np.asarray(w).astype(np.int64).reshape(w.shape[0], -1) + int(weights_offset)
    out, n = w.shape
    op, n4 = -(-out // 4) * 4, n & ~3
    full = np.zeros((op, n), dtype=np.int64)
    full[:out] = w
    parts = []
    for o in range(0, op, 4):
        blk = full[o : o + 4]
        g = blk[:, :n4].reshape(4, n4 // 4, 4)
        body = np.stack([g[:, :, [0, 2]], g[:, :, [1, 3]]])  # (even/odd, row, group, pair)
        parts += [body.transpose(2, 0, 1, 3).reshape(-1), blk[:, n4:].reshape(-1)]
    res = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    assert np.abs(res).max(initial=0) < 1 << 15
    return res


def lower_fc_w16(b: _LayerBuilder) -> None:
    """Emit the layer's int16 weights, bias and requantization arrays and its ``ed_fc_w16_params_t``."""
    p, node = b.p, b.node
    w = b.t(1)
    if w.dtype != "int8" or w.data is None:
        raise UnsupportedOpError(f"layer {node.name}: the int16-weight FC kernel needs constant int8 weights")
    b.act_input(0)
    weights = b.const_array("weights16", fc_weights_w16(w.data, p["filter_offset"]), "int16_t")
    bias = None
    if len(node.inputs) > 2 and node.inputs[2]:
        bt = b.t(2)
        if bt.data is None or bt.dtype != "int32":
            raise UnsupportedOpError(f"layer {node.name}: op {node.op} needs a constant int32 bias")
        bias = b.const_array("bias", bt.data.astype(np.int64), "int32_t")
    mult, shift, per_channel = b.requant_arrays(p["output_multiplier"], p["output_shift"])
    in_features = int(p["in_features"])
    b.ints(
        batches=b.t(0).size // in_features,
        in_depth=in_features,
        out_depth=p["out_features"],
        input_offset=p["input_offset"],
        output_offset=p["output_offset"],
        act_min=p["activation_min"],
        act_max=p["activation_max"],
        per_channel=per_channel,
    )
    b.fields.append(
        ("rounding", "ED_ROUNDING_SINGLE" if b.gen.rounding == "single" else "ED_ROUNDING_DOUBLE")
    )
    b.ptr_field("weights", weights)
    b.ptr_field("bias", bias)
    b.ptr_field("multiplier", mult)
    b.ptr_field("shift", shift)
    b.kernel, b.params_type = "ed_fc_w16_s8", "ed_fc_w16_params_t"
    b.kernel_files = ["ed_fc_w16.c"]
    if b.node.attrs.get("specialize"):
        fn = b.gen.ident(b.gen.model, b.cname, "fc")
        b.code = (
            f"/* {b.node.name}: the int16-weight FC body instantiated for this layer's constant parameters. */\n"
            f'#include "{KERNEL_SUBDIR}/ed_fc_w16_body.h"\n'
            f"ED_ALWAYS_INLINE static inline void {fn}(const ed_fc_w16_params_t *p, const int8_t *input,\n"
            "                                         int8_t *output)\n"
            "{\n"
            "    ed_fc_w16_body(p, input, output); /* inlined where p is the layer's static const parameters */\n"
            "}\n"
        )
        b.kernel = fn
        b.kernel_files = []


VARIANT_LOWER[("FULLY_CONNECTED", KERNEL)] = lower_fc_w16
