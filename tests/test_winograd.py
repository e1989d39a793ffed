"""Integer-exact Winograd (``edgesdk.numerics.winograd``) equals direct convolution (``reference.kernels.conv2d``) bit
for bit: accumulators and requantized int8 outputs, odd and non-square inputs, SAME and VALID padding, channel
counts across word edges, nonzero zero points and extreme inputs; both F(2x2,3x3) and F(4x4,3x3)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from edgesdk.numerics import winograd as wg
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


# ---------------------------------------------------------------------------------------------------------------
# The generated C Winograd kernel (templates/c/winograd_conv.c.j2) on the host under ASan/UBSan
# ---------------------------------------------------------------------------------------------------------------

C_CASES = {
    "wino_7x5_c3_c16_same": (7, 5, 3, 16, "SAME", "NONE"),
    "wino_9x9_c16_c17_valid_relu": (9, 9, 16, 17, "VALID", "RELU"),
    "wino_6x11_c17_c15_same": (6, 11, 17, 15, "SAME", "NONE"),
    "wino_8x8_c32_c33_same_relu6": (8, 8, 32, 33, "SAME", "RELU6"),
    "wino_1x1_c1_c1_same": (1, 1, 1, 1, "SAME", "NONE"),
    "wino_5x4_c64_c4_valid": (5, 4, 64, 4, "VALID", "NONE"),
    "wino_5x7_c6_c8_same": (5, 7, 6, 8, "SAME", "RELU"),  # a group of four channels and a pair left over
    "wino_6x6_c4_c31_same": (6, 6, 4, 31, "SAME", "NONE"),
    "wino_7x7_c15_c32_valid": (7, 7, 15, 32, "VALID", "RELU"),
    "wino_5x9_c31_c3_same": (5, 9, 31, 3, "SAME", "RELU6"),
    "wino_4x5_c33_c64_same": (4, 5, 33, 64, "SAME", "NONE"),
}


def winograd_graph(case: str):
    from test_c_kernels import conv

    h, w, cin, cout, padding, act = C_CASES[case]
    g = conv(h, w, cin, cout, 3, 1, padding, act=act)(case)
    g.nodes[0].attrs["kernel"] = "winograd"
    return g


@pytest.mark.parametrize("case", list(C_CASES))
def test_generated_winograd_c_bit_exact(case: str, tmp_path) -> None:
    from hostbuild import GCC, generate_and_build, random_inputs, reference_outputs, run_host

    if GCC is None:
        pytest.skip("needs host gcc")
    graph = winograd_graph(case)
    project, exe = generate_and_build(graph, tmp_path, sanitize=True)
    src = (project.out_dir / f"{project.model_name}.c").read_text()
    assert "_winograd(&" in src and "winograd_weights" in src
    x = random_inputs(project.input_size, 12, seed=len(case))
    np.testing.assert_array_equal(run_host(exe, x, project.output_size), reference_outputs(graph, x))


# ---------------------------------------------------------------------------------------------------------------
# The selection pass and the Winograd kernel against direct convolution on the emulated Cortex-M4
# ---------------------------------------------------------------------------------------------------------------


def _conv_graph(name: str, h: int, cin: int, cout: int, stride: int = 1):
    from test_c_kernels import conv

    return conv(h, h, cin, cout, 3, stride, "SAME")(name)


def test_pass_chooses_winograd_by_cost_and_reports_why():
    from edgesdk.passes import PassContext, kernel_decisions, run_pipeline

    g = _conv_graph("sel", 16, 16, 16)
    mb4 = {"flash_bytes": 4 << 20}
    speed = run_pipeline(g, "default", PassContext(core="cortex-m4", options=mb4))
    node = speed.nodes[0]
    assert node.attrs["kernel"] == "winograd"
    rep = node.attrs["kernel_report"]
    assert rep["candidates"]["winograd"]["weight_bytes"] > rep["candidates"]["direct"]["weight_bytes"]
    assert rep["candidates"]["winograd"]["instructions"] < rep["candidates"]["direct"]["instructions"]
    assert "fewer instructions" in rep["why"] and kernel_decisions(speed)[0]["kernel"] == "winograd"
    assert "kernel" not in g.nodes[0].attrs  # the caller's graph is untouched
    size = run_pipeline(g, "default", PassContext(core="cortex-m4", optimize="size", options=mb4)).nodes[0]
    assert "kernel" not in size.attrs and "--optimize size" in size.attrs["kernel_report"]["why"]
    forbidden = run_pipeline(
        g, "default", PassContext(core="cortex-m4", forbid={"*": {"winograd"}}, options=mb4)
    )
    assert forbidden.nodes[0].attrs.get("kernel") != "winograd"
    for options in ({}, {"flash_bytes": 8192}):  # flash unknown, or too small for 3.6x the weights
        kept = run_pipeline(g, "default", PassContext(core="cortex-m4", options=options)).nodes[0]
        rep = kept.attrs["kernel_report"]  # direct kept (the specialize pass may then specialise it)
        assert kept.attrs.get("kernel") != "winograd" and "flash" in rep.get("earlier", rep["why"])
    strided = run_pipeline(
        _conv_graph("s2", 16, 16, 16, stride=2), "default", PassContext(core="cortex-m4", options=mb4)
    )
    assert "winograd" not in strided.nodes[0].attrs.get("kernel_report", {}).get("candidates", {})


@pytest.mark.emulator
@pytest.mark.skipif(
    not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
    reason="needs QEMU and arm gcc",
)
def test_winograd_layer_beats_direct_conv_on_emulated_cortex_m4(tmp_path):
    """16x16x16 -> 16 3x3 SAME: the Winograd layer runs in >= 1.5x fewer instructions than the Cortex-M DSP
    direct convolution of the same shape, and both equal the reference bit for bit on the board."""
    from edgesdk.commands.device import connect, make_inputs
    from edgesdk.commands.export import export
    from edgesdk.passes import PassContext
    from edgesdk.reference import Reference

    g = _conv_graph("wino_vs_direct", 16, 16, 16)
    x = make_inputs(g, None, 4)
    want = Reference(g).run_batch(x).reshape(len(x), -1).astype(np.int8)
    counts = {}
    for kernel, ctx in (
        ("direct", PassContext(core="cortex-m4", forbid={"*": {"winograd", "specialized"}})),
        ("winograd", PassContext(core="cortex-m4", force={"*": "winograd"})),
    ):
        built = export(g, "mps2-an386", tmp_path / kernel, build=True, pass_ctx=ctx)
        assert (built.graph.nodes[0].attrs.get("kernel") == "winograd") == (kernel == "winograd")
        with connect(built.board, built.elf) as client:
            for i in range(len(x)):
                got, _ = client.infer(x[i])
                np.testing.assert_array_equal(got, want[i])
            client.load_input(x[0])
            client.run(1)
            counts[kernel] = client.layer_counts()[0]
    print(counts)
    assert counts["direct"] >= 1.5 * counts["winograd"], counts


def test_export_optimize_speed_or_size_states_the_trade(tmp_path):
    """``export(optimize=...)``: speed picks Winograd and size keeps the direct kernel; the report says why with
    both candidates' bytes; anything else is one clear error."""
    import json

    from edgesdk.commands.export import export
    from edgesdk.errors import EdgeSDKError

    g = _conv_graph("opt", 16, 16, 16)
    rows = {}
    for mode in ("speed", "size"):
        res = export(g, "mps2-an386", tmp_path / mode, optimize=mode)
        report = json.loads((res.out_dir / "report.json").read_text())
        (row,) = report["optimization"]
        rows[mode] = row
        assert row["candidates"]["winograd"]["weight_bytes"] == 16 * 16 * 16 * 2
        assert row["candidates"]["direct"]["weight_bytes"] == 9 * 16 * 16
    assert rows["speed"]["kernel"] == "winograd" and rows["size"]["kernel"] == "default"
    assert "--optimize size" in rows["size"]["why"] and "more bytes of weights" in rows["speed"]["why"]
    with pytest.raises(EdgeSDKError, match="optimize"):
        export(g, "mps2-an386", tmp_path / "bad", optimize="fast")
