"""The Cortex-M DSP kernel variants (``firmware/kernels/cortex-m-dsp/``) against the reference, bit for bit.

On the host the very same kernel sources compile with ``ed_simd.h``'s portable definitions of the SIMD
instructions and run the kernel table (the portable kernels' cases plus the word and tile edges 4, 15, 16, 17
channels) under ASan/UBSan. On the emulated Cortex-M4 (QEMU mps2-an386) the real SXTB16/SMLAD run a sample of
the table, batched as chains of layers into two firmware builds.
"""

from __future__ import annotations

import shutil
import zlib
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from edgesdk.ir import graph as ir
from hostbuild import GCC, generate_and_build, random_inputs, reference_outputs, run_host
from test_c_kernels import _B, CASES, conv, dwconv, fc, pool

TARGET = "cortex-m-dsp"
KERNEL_DIR = Path(__file__).resolve().parent.parent / "firmware" / "kernels" / TARGET

EXTRA = {
    "conv_7x5_c4_c15_k3_s1_same": conv(7, 5, 4, 15, 3, 1, "SAME"),
    "conv_6x9_c15_c16_k3_s1_valid": conv(6, 9, 15, 16, 3, 1, "VALID"),
    "conv_5x5_c16_c17_k3_s2_same_relu": conv(5, 5, 16, 17, 3, 2, "SAME", act="RELU"),
    "conv_9x9_c17_c4_k3_dil2_valid": conv(9, 9, 17, 4, 3, 1, "VALID", d=2),
    "conv_3x8_c64_c16_k1_s2_same": conv(3, 8, 64, 16, 1, 2, "SAME"),
    "conv_8x8_c31_c32_k3_s1_same": conv(8, 8, 31, 32, 3, 1, "SAME"),
    "dw_7x5_c4_m1_k3_s1_same": dwconv(7, 5, 4, 1, 3, 1, "SAME"),
    "dw_6x9_c15_m1_k3_s2_valid": dwconv(6, 9, 15, 1, 3, 2, "VALID"),
    "dw_5x5_c16_m2_k3_s1_same_relu": dwconv(5, 5, 16, 2, 3, 1, "SAME", act="RELU"),
    "dw_9x9_c17_m1_k3_dil2_same": dwconv(9, 9, 17, 1, 3, 1, "SAME", d=2),
    "fc_4_15": fc(4, 15),
    "fc_16_17_per_channel": fc(16, 17, per_channel=True),
    "fc_15_16_relu": fc(15, 16, act="RELU"),
    "fc_17_4_batches2": fc(17, 4, batches=2),
    # aligned rows (in_depth % 4 == 0): eight inputs per step, then four; the per-tensor output stage hoisted
    "fc_8_5": fc(8, 5),
    "fc_12_9_relu6": fc(12, 9, act="RELU6"),
    "fc_44_33_per_channel": fc(44, 33, per_channel=True),
    "fc_24_7_batches3_relu": fc(24, 7, act="RELU", batches=3),
    # the extended-input paths: six rows per pass then one at a time (13 = 2 x 6 + 1), an odd group count, rows
    # not a multiple of 4; the longest row one input row takes (768) and one past it (the word loop)
    "fc_20_10_batches13_per_channel": fc(20, 10, per_channel=True, batches=13),
    "fc_128_6_batches6_relu6": fc(128, 6, act="RELU6", batches=6),
    "fc_768_5_relu": fc(768, 5, act="RELU"),
    "fc_772_4": fc(772, 4),
    "avgpool_8x8_c16_f8_s8_valid": pool("avg", 8, 8, 16, 8, 8, "VALID"),
    "avgpool_7x5_c17_f3_s2_same_relu": pool("avg", 7, 5, 17, 3, 2, "SAME", act="RELU"),
    "avgpool_17x17_c4_f17_s1_valid": pool("avg", 17, 17, 4, 17, 1, "VALID"),  # 289 taps: the scalar sums
    "maxpool_7x5_c4_f3_s2_same": pool("max", 7, 5, 4, 3, 2, "SAME"),
    "maxpool_6x6_c17_f2_s2_valid_relu6": pool("max", 6, 6, 17, 2, 2, "VALID", act="RELU6"),
}


def pruned_dw(h: int, w: int, c: int, huge: bool = True):
    """A 3x3 depthwise layer with every third channel pruned to all-zero weights whose bias is about -1e9 (as
    BatchNorm folding leaves a pruned channel: its weight scale is tiny), or the same with a small bias."""

    def data(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        wt = rng.integers(-127, 128, shape).astype(np.int8)
        wt[..., ::3] = 0
        return wt

    def build(name: str) -> ir.Graph:
        g = dwconv(h, w, c, 1, 3, 1, "SAME", act="RELU", data=data)(name)
        b = g.tensor(g.nodes[0].inputs[2])
        bias = np.asarray(b.data).copy()
        if huge:
            bias[::3] = -1_000_000_000 - np.arange(bias[::3].size, dtype=np.int32)
        b.data = bias.astype(np.int32)
        return g

    return build


EXTRA.update({f"dw_pruned_huge_bias_8x6_c{c}": pruned_dw(8, 6, c) for c in (1, 31, 32, 33, 63, 64)})


def huge_bias_fc(n_in: int, n_out: int):
    """A fully-connected layer whose every other output has a bias of about +-1e9: accumulators beyond 2^30 take
    the general requantization in the fast output stage."""

    def build(name: str) -> ir.Graph:
        g = fc(n_in, n_out)(name)
        b = g.tensor(g.nodes[0].inputs[2])
        bias = np.asarray(b.data).astype(np.int64)
        bias[::2] = np.where(np.arange(bias[::2].size) % 2 == 0, 1, -1) * (
            1_100_000_000 + np.arange(bias[::2].size)
        )
        b.data = bias.astype(np.int32)
        return g

    return build


EXTRA.update({"fc_16_9_huge_bias": huge_bias_fc(16, 9), "fc_20_8_huge_bias": huge_bias_fc(20, 8)})


def shift0_fc(n_in: int, n_out: int, per_channel: bool = False, batches: int = 1):
    """A fully-connected layer whose requantization shift is 0 (effective scales in [0.5, 1): TFLite's multiplier
    alone, no rounding divide) -- per channel, shifts of 0 and below mixed -- on sparse small weights and a small
    bias, so that most outputs stay inside the int8 range."""

    def data(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        return ((rng.random(shape) < 0.04) * rng.choice([-1, 1], shape)).astype(np.int8)

    def build(name: str) -> ir.Graph:
        g = fc(n_in, n_out, per_channel=per_channel, batches=batches, data=data)(name)
        node = g.nodes[0]
        x, w, y, b = (g.tensor(t) for t in (*node.inputs[:2], node.outputs[0], node.inputs[2]))
        y.quant = ir.QuantParams(
            float(x.quant.scale[0]) * float(w.quant.scale.max()) / 0.6, y.quant.zero_point
        )
        b.data = (np.asarray(b.data) // 60).astype(np.int32)
        return g

    return build


def pruned_fc(n_in: int, n_out: int, batches: int = 1):
    """A per-channel fully-connected layer whose every third output row is pruned as BatchNorm folding leaves it:
    all-zero weights, a tiny weight scale (a shift below -22) and a bias of about +-2^30 -- outside the int8 FC
    kernel's fast requantization unless the C backend rewrites those rows' constant outputs."""

    def data(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        wt = rng.integers(-127, 128, shape).astype(np.int8)
        wt[::3] = 0
        return wt

    def build(name: str) -> ir.Graph:
        g = fc(n_in, n_out, per_channel=True, batches=batches, data=data)(name)
        node = g.nodes[0]
        w, b = g.tensor(node.inputs[1]), g.tensor(node.inputs[2])
        scale = np.asarray(w.quant.scale).copy()
        scale[::3] = 1e-9
        w.quant = ir.QuantParams(scale, w.quant.zero_point, w.quant.axis)
        bias = np.asarray(b.data).astype(np.int64)
        bias[::3] = np.where(np.arange(bias[::3].size) % 2 == 0, 1, -1) * (
            1_073_741_824 - np.arange(bias[::3].size)
        )
        b.data = bias.astype(np.int32)
        return g

    return build


EXTRA.update(
    {"fc_64_33_pruned_rows": pruned_fc(64, 33), "fc_32_17_batches7_pruned_rows": pruned_fc(32, 17, 7)}
)


#: shifts of 0 in the int8 FC kernel: per tensor through the one-row extended path (one row; six rows, whose shift
#: of 0 sends every row there; the out % 4 last rows), per channel through the general output stage
SHIFT0 = {
    "fc_64_32_shift0": shift0_fc(64, 32),
    "fc_44_33_shift0_per_channel": shift0_fc(44, 33, per_channel=True),
    "fc_16_10_batches7_shift0_per_channel": shift0_fc(16, 10, per_channel=True, batches=7),
    "fc_24_7_batches6_shift0": shift0_fc(24, 7, batches=6),
}
EXTRA.update(SHIFT0)


def _overridden(case: str) -> bool:
    prefix = case.split("_")[0]
    files = {
        "conv": "ed_conv.c",
        "dw": "ed_dwconv.c",
        "fc": "ed_fc.c",
        "add": "ed_elementwise.c",
        "mul": "ed_elementwise.c",
        "avgpool": "ed_pool.c",
        "maxpool": "ed_pool.c",
    }
    return prefix in files and (KERNEL_DIR / files[prefix]).is_file()


TABLE = {k: v for k, v in {**CASES, **EXTRA}.items() if _overridden(k) or k in EXTRA}


@pytest.mark.parametrize("case", list(SHIFT0))
def test_shift0_cases_have_shift_0_and_unsaturated_outputs(case: str) -> None:
    """The shift-0 rows do what they are meant to: a shift of 0 (per channel, right shifts too), most outputs not
    clamped."""
    from edgesdk.reference.params import op_params

    graph = SHIFT0[case](case)
    shifts = set(np.atleast_1d(op_params(graph, graph.nodes[0])["output_shift"]).tolist())
    assert 0 in shifts and (len(shifts) > 1) == ("per_channel" in case), shifts
    y = reference_outputs(graph, random_inputs(graph.tensor(graph.inputs[0]).size, 4, seed=1))
    assert np.mean((y > -128) & (y < 127)) > 0.5


def test_fc_cost_model_knows_the_kernels_requantization_paths() -> None:
    """The FC cost models price the path ``ed_fc_s8`` takes: a per-tensor shift of 0 the one-row extended path (not
    six rows per pass), a per-channel one or a huge live bias the general output stage, pruned rows with a huge
    bias the fast paths (the C backend rewrites their constant outputs)."""
    from edgesdk.passes import fc_weights16, pointwise

    cases = {
        "fc_64_32_shift0": "one",
        "fc_44_33_shift0_per_channel": "slow",
        "fc_64_33_pruned_rows": "fast",
        "fc_16_9_huge_bias": "slow",
        "fc_44_33_per_channel": "fast",
    }
    for case, path in cases.items():
        g = EXTRA[case](case)
        assert fc_weights16.requant_path(g, g.nodes[0]) == path, case
    assert (
        fc_weights16.estimate(64 * 32, 32, "int8", 64, "cortex-m4", "one")
        == fc_weights16.estimate(64 * 32, 32, "int8", 64, "cortex-m4")
        < fc_weights16.estimate(64 * 32, 32, "int8", 64, "cortex-m4", "slow")
    )
    fast, one = (pointwise.fc8_instructions(60, 64, 64, "cortex-m4", r) for r in ("fast", "one"))
    assert fast < one < pointwise.fc8_instructions(60, 64, 64, "cortex-m4", "slow")


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
@pytest.mark.parametrize("case", list(TABLE))
def test_dsp_kernel_on_host_under_sanitizers(case: str, tmp_path: Path) -> None:
    graph = TABLE[case](case)
    project, exe = generate_and_build(graph, tmp_path, sanitize=True, target=TARGET)
    x = random_inputs(project.input_size, 12, seed=zlib.crc32(case.encode()))
    np.testing.assert_array_equal(run_host(exe, x, project.output_size), reference_outputs(graph, x))


# ---------------------------------------------------------------------------------------------------------------
# The real DSP instructions on the emulated Cortex-M4: a sample of the table as two chains of layers
# ---------------------------------------------------------------------------------------------------------------

EMULATED = shutil.which("qemu-system-arm") is not None and shutil.which("arm-none-eabi-gcc") is not None


def _conv_node(b: _B, name: str, x: str, shape, cout, k, s, d, padding, act="NONE"):
    _, h, w, cin = shape
    eff = (k - 1) * d + 1
    oh = (h + s - 1) // s if padding == "SAME" else (h - eff + s) // s
    ow = (w + s - 1) // s if padding == "SAME" else (w - eff + s) // s
    y = b.act(f"{name}_out", (1, oh, ow, cout), float(b.rng.uniform(0.2, 0.6)))
    node = ir.Conv2D(
        name=name,
        inputs=[x, b.weights(f"{name}_w", (cout, k, k, cin), 0), b.bias(f"{name}_b", cout)],
        outputs=[y],
        stride=(s, s),
        dilation=(d, d),
        padding=padding,
        activation=act,
    )
    return node, y, (1, oh, ow, cout)


def _dw_node(b: _B, name: str, x: str, shape, m, s, d, padding):
    _, h, w, c = shape
    eff = 2 * d + 1
    oh = (h + s - 1) // s if padding == "SAME" else (h - eff + s) // s
    ow = (w + s - 1) // s if padding == "SAME" else (w - eff + s) // s
    y = b.act(f"{name}_out", (1, oh, ow, c * m), float(b.rng.uniform(0.05, 0.2)))
    node = ir.DepthwiseConv2D(
        name=name,
        inputs=[x, b.weights(f"{name}_w", (1, 3, 3, c * m), 3), b.bias(f"{name}_b", c * m)],
        outputs=[y],
        stride=(s, s),
        dilation=(d, d),
        padding=padding,
        depth_multiplier=m,
        activation="NONE",
    )
    return node, y, (1, oh, ow, c * m)


def conv_chain(name: str) -> ir.Graph:
    """Convolutions over 3, 17, 16, 33, 4 and 64 channels: odd sizes, stride 2, dilation, SAME/VALID, 1x1;
    depthwise with 17 channels (dilation 2), 16 (stride 2) and a depth multiplier of 2."""
    b = _B(name)
    shape = (1, 15, 13, 3)
    x = b.act("x", shape)
    nodes, cur = [], x
    for k, (cout, ksz, s, d, pad) in enumerate(
        [
            (17, 3, 1, 1, "SAME"),
            (16, 3, 2, 1, "SAME"),
            (33, 1, 1, 1, "VALID"),
            (4, 3, 1, 2, "SAME"),
            (64, 3, 1, 1, "VALID"),
            (15, 1, 1, 1, "SAME"),
        ]  # fmt: skip
    ):
        node, cur, shape = _conv_node(
            b, f"conv{k}", cur, shape, cout, ksz, s, d, pad, "RELU" if k % 2 else "NONE"
        )
        nodes.append(node)
        if k == 0:
            for j, (m, st, d, pad) in enumerate([(1, 1, 2, "SAME"), (1, 2, 1, "VALID")]):
                node, cur, shape = _dw_node(b, f"dw{k}_{j}", cur, shape, m, st, d, pad)
                nodes.append(node)
                if j == 0:  # back to 16 channels for the next depthwise
                    node, cur, shape = _conv_node(b, "conv0b", cur, shape, 16, 1, 1, 1, "SAME")
                    nodes.append(node)
        if k == 2:
            node, cur, shape = _dw_node(b, "dw2", cur, shape, 2, 1, 1, "SAME")
            nodes.append(node)
    for node in nodes[
        :3
    ]:  # keep the direct DSP kernel on these 3x3 stride-1 layers (the pass picks the rest)
        if node.op == "CONV_2D":
            node.attrs["kernel"] = "direct"
    return b.done([x], [cur], *nodes)


def fc_add_chain(name: str) -> ir.Graph:
    """Fully connected 33 -> 64 -> 44 -> 64 -> 31 -> 17 (per-tensor and per-channel; int8 weights on unaligned
    rows, on aligned rows by eight and four inputs, and int16 weights), then a same-shape ADD of two FCs."""
    b = _B(name)
    x = b.act("x", (1, 33))
    nodes, cur, n = [], x, 33
    # (outputs, per-channel, int8 kernel kept): the others get int16 weights from --optimize speed's pass
    layers = [(64, False, True), (44, False, True), (64, True, True), (31, True, False), (17, False, True)]
    for k, (m, per_channel, int8) in enumerate(layers):
        y = b.act(f"fc{k}_out", (1, m), float(b.rng.uniform(0.2, 0.6)))
        w = b.weights(f"fc{k}_w", (m, n), 0, per_channel)
        nodes.append(ir.FullyConnected(name=f"fc{k}", inputs=[cur, w, b.bias(f"fc{k}_b", m)], outputs=[y]))
        if int8:
            nodes[-1].attrs["kernel"] = "int8"
        cur, n = y, m
    z = b.act("z", (1, 17), float(b.rng.uniform(0.2, 0.6)))
    w = b.weights("fcz_w", (17, 17), 0)
    nodes.append(ir.FullyConnected(name="fcz", inputs=[cur, w, b.bias("fcz_b", 17)], outputs=[z]))
    out = b.act("sum", (1, 17), 0.5)
    nodes.append(ir.Add(name="add", inputs=[cur, z], outputs=[out]))
    return b.done([x], [out], *nodes)


def shift0_chain(name: str) -> ir.Graph:
    """Fully connected 64 -> 32 (per tensor) -> 20 (per channel), with requantization shifts of 0 -- the int8 FC
    kernel's one-row extended path without the rounding divide, and its general output stage -- then 20 -> 17
    with pruned rows (all-zero weights, a bias of ~2^30, shifts below -22)."""
    b = _B(name)
    x = b.act("x", (1, 64))
    nodes, cur, n = [], x, 64
    for k, (m, build) in enumerate(
        [(32, shift0_fc), (20, partial(shift0_fc, per_channel=True)), (17, pruned_fc)]
    ):
        g = build(n, m)(f"{name}{k}")
        src = g.nodes[0]
        w, bias, y = (g.tensor(t) for t in (src.inputs[1], src.inputs[2], src.outputs[0]))
        x_in = g.tensor(src.inputs[0])
        scale = float(b.g.tensor(cur).quant.scale[0]) / float(
            x_in.quant.scale[0]
        )  # the same effective scales
        for t, new in ((w, f"fc{k}_w"), (bias, f"fc{k}_b")):
            b.g.add_tensor(ir.Tensor(new, t.shape, t.dtype, t.quant, data=t.data))
        out = b.act(f"fc{k}_out", (1, m), float(y.quant.scale[0]) * scale, int(y.quant.zero_point[0]))
        nodes.append(ir.FullyConnected(name=f"fc{k}", inputs=[cur, f"fc{k}_w", f"fc{k}_b"], outputs=[out]))
        nodes[-1].attrs["kernel"] = "int8"
        cur, n = out, m
    return b.done([x], [cur], *nodes)


@pytest.mark.emulator
@pytest.mark.skipif(not EMULATED, reason="needs qemu-system-arm and arm-none-eabi-gcc")
@pytest.mark.parametrize(
    "chain", [conv_chain, fc_add_chain, shift0_chain], ids=["conv_chain", "fc_add_chain", "shift0_chain"]
)
def test_dsp_kernels_on_emulated_cortex_m4(chain, tmp_path: Path) -> None:
    from edgesdk.boards import get_board
    from edgesdk.commands.device import validate
    from edgesdk.passes import PassContext

    board = get_board("mps2-an386")
    assert board.kernel_target == TARGET
    graph = chain(chain.__name__)
    # --optimize speed: the int16-weight FC kernel too (balanced keeps these small layers' int8 weights)
    summary = validate(graph, board, count=8, out_dir=tmp_path / "v", pass_ctx=PassContext(optimize="speed"))
    assert summary.count == 8 and summary.exact == 8, summary.to_dict()
    # the chain also runs bit-exactly on the host with the portable SIMD definitions
    project, exe = generate_and_build(graph, tmp_path / "host", target=TARGET)
    x = random_inputs(project.input_size, 8, seed=3)
    np.testing.assert_array_equal(run_host(exe, x, project.output_size), reference_outputs(graph, x))


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
def test_shared_models_with_dsp_and_winograd_kernels_on_host_under_sanitizers(
    ic_graph, ad_graph, tmp_path: Path
) -> None:
    """IC and AD exactly as exported for a Cortex-M4 (the default pipeline picks Winograd for IC's 3x3 stride-1
    convolutions; the DSP conv, FC and ADD run the rest) on the host under ASan/UBSan, against the reference."""
    from edgesdk.passes import PassContext, run_pipeline

    for name, graph in (("ic", ic_graph), ("ad", ad_graph)):
        # every copy kept (no speed copy budget, passes/balanced_copies.py): Winograd and int16 weights run too
        lowered = run_pipeline(
            graph,
            "default",
            PassContext(core="cortex-m4", options={"flash_bytes": 4 << 20, "speed_copy_budget": -1}),
        )
        if name == "ic":
            assert sum(n.attrs.get("kernel") == "winograd" for n in lowered.nodes) == 5
            # the other convolutions get specialised copies (passes/specialize.py)
            assert sum(str(n.attrs.get("kernel")).startswith("specialized") for n in lowered.nodes) == 4
        project, exe = generate_and_build(lowered, tmp_path / name, sanitize=True, target=TARGET)
        x = random_inputs(project.input_size, 3, seed=7)
        np.testing.assert_array_equal(run_host(exe, x, project.output_size), reference_outputs(graph, x))


W16_CASES = ["fc_1_1", "fc_31_33_relu", "fc_64_63_per_channel", "fc_3_32_batches3", "fc_16_17_per_channel"]


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("specialize", [False, True], ids=["shared", "per_layer"])
def test_fc_int16_weights_variant_on_host_under_sanitizers(
    rounding: str, specialize: bool, tmp_path: Path
) -> None:
    """``kernel = "w16"`` (weights pre-extended to int16 at export) over the FC rows of the table, both roundings,
    as the shared kernel and as the body instantiated per layer with its constant parameters."""
    for case in W16_CASES:
        graph = TABLE[case](case)
        graph.nodes[0].attrs.update(kernel="w16", specialize=specialize)
        project, exe = generate_and_build(graph, tmp_path / case, sanitize=True, rounding=rounding)
        source = (project.out_dir / f"{project.model_name}.c").read_text()
        assert ("ed_fc_w16_s8(&" in source) != specialize
        assert ("ed_fc_w16_body(p, input, output)" in source) == specialize
        x = random_inputs(project.input_size, 8, seed=zlib.crc32(case.encode()))
        np.testing.assert_array_equal(
            run_host(exe, x, project.output_size), reference_outputs(graph, x, rounding=rounding)
        )


def test_fc_int16_weights_pass_trades_flash_for_speed(ad_graph) -> None:
    """Speed takes int16 weights on a DSP core with room in flash; size, a small flash or a core without DSP
    keep int8; every decision states both candidates."""
    from edgesdk.passes import PassContext, run_pipeline

    def kernels(**kw):
        g = run_pipeline(ad_graph, "default", PassContext(**kw))
        return [n.attrs.get("kernel") for n in g.nodes], g.nodes[0].attrs.get("kernel_report", {})

    # (other passes may claim a layer first, e.g. a codebook kernel: every layer left is the pass's; no speed
    # copy budget, which gives these layers back to the int8 FC kernel, estimated no slower)
    ks, rep = kernels(core="cortex-m4", options={"flash_bytes": 4 << 20, "speed_copy_budget": -1})
    assert ks.count("w16") >= 9 and None not in ks
    ks_budget, _ = kernels(core="cortex-m4", options={"flash_bytes": 4 << 20})
    assert "w16" not in ks_budget
    assert rep["candidates"]["w16"]["weight_bytes"] == 2 * 640 * 128 and rep["format"] == "int16"
    ks, rep = kernels(core="cortex-m4", optimize="size", options={"flash_bytes": 4 << 20})
    assert "w16" not in ks and "--optimize size" in rep["why"]
    ks, rep = kernels(core="cortex-m4", options={"flash_bytes": 1 << 20})  # 534 KB of constants > 512 KB
    assert "w16" not in ks and "half of the board" in rep["why"]
    ks, rep = kernels(core="cortex-m4")  # flash unknown
    assert "w16" not in ks and "not known" in rep["why"]
    assert "w16" not in kernels(core="cortex-m3", options={"flash_bytes": 4 << 20})[0]


@pytest.mark.emulator
@pytest.mark.skipif(not EMULATED, reason="needs qemu-system-arm and arm-none-eabi-gcc")
def test_pruned_depthwise_keeps_the_fast_path_on_emulated_cortex_m4(tmp_path: Path) -> None:
    """Pruned channels' huge biases are rewritten to constants (generator.constant_channels): the layer runs the
    fast 3x3 path, as many instructions as with small biases, bit-exact; the cost model says the same."""
    from edgesdk.boards import get_board
    from edgesdk.commands.device import connect, make_inputs, validate
    from edgesdk.commands.export import export
    from edgesdk.passes import winograd_dw

    board = get_board("mps2-an386")
    counts = {}
    for huge in (True, False):
        graph = pruned_dw(25, 5, 64, huge)(f"pruned_dw_{int(huge)}")
        node = graph.nodes[0]
        assert winograd_dw.direct_fast_path(graph, node)
        built = export(graph, board, tmp_path / f"p{int(huge)}", build=True)
        with connect(built.board, built.elf) as client:
            client.load_input(make_inputs(graph, None, 1, seed=0)[0])
            (counts[huge],) = client.run(1)
        summary = validate(graph, board, count=4, out_dir=tmp_path / f"v{int(huge)}")
        assert summary.exact == summary.count == 4, summary.to_dict()
    assert counts[True] <= counts[False] * 1.01, counts
    # a channel with weights and a huge bias cannot be rewritten: the estimate then counts the general path
    graph = pruned_dw(25, 5, 64)("unpruned_huge")
    b = graph.tensor(graph.nodes[0].inputs[2])
    b.data = np.full(b.shape, -1_000_000_000, dtype=np.int32)
    assert not winograd_dw.direct_fast_path(graph, graph.nodes[0])
    fast, slow = (winograd_dw.estimate(25, 5, 64, True, f)["direct"] for f in (True, False))
    assert slow > 1.5 * fast
