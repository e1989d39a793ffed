"""Integer-exact Winograd (``edgesdk.winograd``) equals direct convolution (``reference.kernels.conv2d``) bit
for bit: accumulators and requantized int8 outputs, odd and non-square inputs, SAME and VALID padding, channel
counts across word edges, nonzero zero points and extreme inputs; both F(2x2,3x3) and F(4x4,3x3)."""

from __future__ import annotations

import numpy as np
import pytest

from edgesdk import winograd as wg
from edgesdk.reference import kernels
from edgesdk.reference.params import compute_padding_height_width


def _params(h, w, cin, cout, padding, rng, act=(-128, 127)):
    geo = compute_padding_height_width((1, 1), (1, 1), (h, w), (3, 3), padding)
    return {
        "stride_h": 1, "stride_w": 1, "dilation_h": 1, "dilation_w": 1, "filter_h": 3, "filter_w": 3,
        "in_h": h, "in_w": w, "in_c": cin, "out_c": cout, **geo,
        "input_offset": int(rng.integers(-128, 128)),
        "output_offset": int(rng.integers(-20, 20)),
        "output_multiplier": rng.integers(1 << 30, (1 << 31) - 1, cout).astype(np.int32),
        "output_shift": rng.integers(-12, -6, cout).astype(np.int32),
        "activation_min": act[0], "activation_max": act[1],
    }  # fmt: skip


CASES = [
    (1, 1, 1, 1, "SAME"),
    (5, 7, 3, 4, "SAME"),
    (7, 5, 16, 17, "VALID"),
    (9, 9, 17, 16, "SAME"),
    (6, 11, 31, 33, "VALID"),
    (8, 8, 32, 32, "SAME"),
    (3, 3, 64, 3, "VALID"),
    (4, 13, 33, 15, "SAME"),
]


@pytest.mark.parametrize("spec", [wg.F2x2_3x3, wg.F4x4_3x3], ids=lambda s: s.name)
@pytest.mark.parametrize("h,w,cin,cout,padding", CASES)
def test_winograd_equals_direct_conv(spec, h, w, cin, cout, padding):
    rng = np.random.default_rng(h * 1000 + w * 100 + cin * 10 + cout + spec.m)
    p = _params(h, w, cin, cout, padding, rng)
    wt = rng.integers(-127, 128, (cout, 3, 3, cin)).astype(np.int8)
    wt[0, :, :, 0] = -127  # one extreme filter
    bias = rng.integers(-5000, 5000, cout).astype(np.int32)
    x = rng.integers(-128, 128, (4, h, w, cin)).astype(np.int8)
    x[0] = 127
    x[1] = -128
    # accumulators: the reference conv with unit requantization and no clamp gives acc directly when small;
    # compare instead against an explicit im2col accumulator built from the reference's own tap helper.
    ref_p = dict(p)
    direct = kernels.conv2d(None, None, ref_p, [x, wt, bias], "double")  # type: ignore[arg-type]
    ours = wg.winograd_conv2d(x, wt, bias, p, spec)
    np.testing.assert_array_equal(ours, direct)
    acc = wg.winograd_conv2d_acc(
        x, wt, p["input_offset"], p["pad_h"], p["pad_w"], p["out_h"], p["out_w"], spec
    )
    xs = x.astype(np.int64) + p["input_offset"]
    _, taps = kernels._window_taps(xs, p, 0, 3, 3)
    cols = np.stack(taps, axis=3).reshape(x.shape[0], p["out_h"], p["out_w"], -1)
    direct_acc = cols @ wt.reshape(cout, -1).astype(np.int64).T
    np.testing.assert_array_equal(acc, direct_acc)


def test_transform_identities():
    """U' = divisor * U for the float G (so the integer scaling is the textbook transform), and the ranges of
    F(2x2,3x3) fit int16 operands with an exact int32 result for any channel count a Cortex-M meets."""
    rng = np.random.default_rng(0)
    g = rng.integers(-127, 128, (2, 3, 3, 5))
    g_float = wg.F2x2_3x3.G / 2.0
    u = wg.transform_weights(g, wg.F2x2_3x3)
    u_float = np.einsum("ak,oklc,bl->aboc", g_float, g.astype(np.float64), g_float)
    np.testing.assert_array_equal(u, np.rint(u_float * 4).astype(np.int64))
    r = wg.int_ranges(wg.F2x2_3x3, in_channels=256)
    assert r["U_bits"] <= 16 and r["V_bits"] <= 16 and r["exact_in_int32"] == 1
    r4 = wg.int_ranges(wg.F4x4_3x3, in_channels=16)
    assert r4["U_bits"] > 16 and r4["V_bits"] <= 16
    assert not wg.applicable({**dict.fromkeys(("filter_h", "filter_w"), 3), "stride_h": 2, "stride_w": 1,
                              "dilation_h": 1, "dilation_w": 1})  # fmt: skip
    m = wg.multiplies(wg.F2x2_3x3, 32, 32, 16, 16)
    assert m["direct"] / m["winograd"] == 2.25
