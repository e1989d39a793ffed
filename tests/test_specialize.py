"""Per-layer specialised DSP convolutions (``kernel = "specialized"``): the kernel table against the reference
on the host under ASan/UBSan and on the emulated Cortex-M4, the band interface, and the pass's choice under
the kernel-code budget."""

from __future__ import annotations

import re
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from edgesdk.passes import PassContext, run_pipeline
from edgesdk.passes.specialize import CODE_BUDGET, KERNEL, KERNEL16
from hostbuild import CFLAGS, GCC, SANITIZE, generate_and_build, random_inputs, reference_outputs
from kerneltable import run_joined
from test_c_kernels import conv

# The edges: channels 1, 3, 4, 15, 16, 17, 31, 32, 33, 64; odd sizes; stride 2; dilation; SAME/VALID;
# 1x1 (matrix product); a per-channel layer whose requantization needs the general path (shift >= 0).
CASES = {
    "c3_16_k3_s1_same": conv(9, 11, 3, 16, 3, 1, "SAME"),
    "c1_4_k3_s1_valid": conv(7, 5, 1, 4, 3, 1, "VALID"),
    "c4_15_k3_s2_same_relu": conv(9, 7, 4, 15, 3, 2, "SAME", act="RELU"),
    "c15_17_k3_s2_valid": conv(11, 9, 15, 17, 3, 2, "VALID"),
    "c16_32_k3_s2_same": conv(8, 8, 16, 32, 3, 2, "SAME"),
    "c17_31_k3_dil2_same": conv(9, 9, 17, 31, 3, 1, "SAME", d=2),
    "c31_33_k3_s1_valid": conv(5, 7, 31, 33, 3, 1, "VALID"),
    "c32_64_k3_s2_same": conv(7, 7, 32, 64, 3, 2, "SAME"),
    "c33_1_k1_s1_same": conv(5, 3, 33, 1, 1, 1, "SAME", bias=False),
    "c16_32_k1_s2_same": conv(8, 8, 16, 32, 1, 2, "SAME"),
    "c64_3_k1_s2_valid_relu6": conv(7, 5, 64, 3, 1, 2, "VALID", act="RELU6"),
    "c3_17_k5_s2_dil1_same": conv(13, 11, 3, 17, 5, 2, "SAME"),
}


def _tiny_output_scale(build):
    """The case with its output scale shrunk so the requantization multiplier exceeds 1 (shift >= 0)."""

    def wrapped(name: str):
        g = build(name)
        y = g.tensor(g.outputs[0])
        y.quant.scale = np.asarray(y.quant.scale) * 1e-3
        return g

    return wrapped


CASES["c16_15_k3_s1_same_shift_pos"] = _tiny_output_scale(conv(6, 5, 16, 15, 3, 1, "SAME"))

# int16 weights (ed_conv_dot_2x2_w16) on a third of the cases, int8 on the rest
W16 = ["c3_16_k3_s1_same", "c4_15_k3_s2_same_relu", "c17_31_k3_dil2_same", "c33_1_k1_s1_same"]
FORCE = PassContext(core="cortex-m4", force={**dict.fromkeys(W16, KERNEL16), "*": KERNEL})


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
def test_specialized_kernel_table_on_host_under_sanitizers(tmp_path: Path) -> None:
    table = run_joined("spec", {k: v(k) for k, v in CASES.items()}, tmp_path, ctx=FORCE, n_inputs=10)
    src = (table.project.out_dir / f"{table.project.model_name}.c").read_text()
    for case in CASES:
        assert [d["kernel"] for d in table.decisions(case)] == [KERNEL16 if case in W16 else KERNEL], case
        got, want = table.outputs(case)
        np.testing.assert_array_equal(got, want, err_msg=case)
    # one copy of the math: each layer is one call of the shared body with its constant struct
    assert src.count("ed_conv_dsp_rows(&") == len(CASES)
    assert "ed_conv_s8(" not in src
    assert "oy_begin, oy_end, 0, NULL);" in src  # the shift >= 0 case: general requantization
    assert "oy_begin, oy_end, 1, NULL);" in src
    assert src.count("_weights16[") == len(W16)


_HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include "MODEL_C"

/* Layer outputs computed in bands of rows through the band function equal the whole layer, bit for bit. */
int main(void)
{
    static int8_t in[IN_SIZE], full[OUT_SIZE];
    uint32_t seed = 12345u;
    int32_t i, k, j, fails = 0;
    const int32_t row = OUT_SIZE / OUT_H;
    for (i = 0; i < IN_SIZE; ++i) {
        seed = seed * 1103515245u + 12345u;
        in[i] = (int8_t)(seed >> 24);
    }
    MODEL_init();
    if (MODEL_invoke(in, full) != 0) {
        return 2;
    }
    for (k = 0; k <= OUT_H; ++k) {
        for (j = k; j <= OUT_H; ++j) { /* three bands [0,k) [k,j) [j,OUT_H), each in its own exact buffer */
            const int32_t cut[4] = {0, k, j, OUT_H};
            int32_t b;
            for (b = 0; b < 3; ++b) {
                const int32_t n = (cut[b + 1] - cut[b]) * row;
                int8_t *band = (int8_t *)malloc(n > 0 ? (size_t)n : 1u);
                BAND(PREFIX_TENSOR(PREFIX_INPUT_OFFSET), band, cut[b], cut[b + 1]);
                fails += memcmp(band, full + cut[b] * row, (size_t)n) != 0;
                free(band);
            }
        }
    }
    printf("%d\n", (int)fails);
    return fails != 0;
}
"""


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
@pytest.mark.parametrize("case", ["c3_16_k3_s1_same", "c15_17_k3_s2_valid", "c16_32_k1_s2_same"])
def test_band_split_is_bit_exact(case: str, tmp_path: Path) -> None:
    """``<model>_<layer>_rows(input, output, oy_begin, oy_end)`` over every split into three bands, under
    ASan/UBSan (each band in a buffer of exactly its size), equals the whole layer; the layer equals the
    reference."""
    graph = CASES[case](case)
    graph.nodes[0].attrs["kernel"] = KERNEL16 if case in W16 else KERNEL
    project, exe = generate_and_build(graph, tmp_path, sanitize=True)
    x = random_inputs(project.input_size, 4, seed=zlib.crc32(case.encode()))
    from hostbuild import run_host

    np.testing.assert_array_equal(run_host(exe, x, project.output_size), reference_outputs(graph, x))
    model_c = project.out_dir / f"{project.model_name}.c"
    src = model_c.read_text()
    band = re.search(r"static void (\w+_rows)\(const int8_t \*input, int8_t \*output, int32_t oy_begin", src)
    prefix = re.search(r"#define (\w+)_INPUT_OFFSET ", src)
    assert band and prefix
    out_h = graph.tensor(graph.outputs[0]).shape[1]
    harness = tmp_path / "band_main.c"
    harness.write_text(
        _HARNESS.replace("MODEL_C", str(model_c))
        .replace("MODEL_", f"{project.model_name}_")
        .replace("PREFIX_", f"{prefix.group(1)}_")
        .replace("BAND", band.group(1))
        .replace("IN_SIZE", str(project.input_size))
        .replace("OUT_SIZE", str(project.output_size))
        .replace("OUT_H", str(out_h))
    )
    kernels = [str(s) for s in project.sources if s.parent.name == "edgesdk"]
    exe = tmp_path / "band"
    subprocess.run(
        [
            GCC,
            *CFLAGS,
            *SANITIZE,
            *(f"-I{d}" for d in project.include_dirs),
            "-o",
            str(exe),
            str(harness),
            *kernels,
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    run = subprocess.run([str(exe)], check=False, timeout=120, capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.strip() == "0", run.stdout + run.stderr


def test_pass_chooses_under_the_code_budget(ic_graph) -> None:
    """On a DSP core with --optimize speed the IC model's direct convolutions get specialised copies within the
    12 KB budget, greatest saving per byte first;
    a smaller budget takes fewer; size, a core without DSP, --no-kernel keep the shared kernel; --kernel forces
    (also over a Winograd choice)."""
    flash = {"flash_bytes": 4 << 20}

    def run(**kw):
        kw.setdefault("options", {}).update(flash)
        g = run_pipeline(ic_graph, "default", PassContext(**kw))
        return {n.name: n.attrs.get("kernel") for n in g.nodes if n.op == "CONV_2D"}, {
            n.name: n.attrs.get("kernel_report", {}) for n in g.nodes if n.op == "CONV_2D"
        }

    ks, reps = run(core="cortex-m4")
    spec = {n for n, k in ks.items() if k in (KERNEL, KERNEL16)}
    # conv2d_7's Winograd weights (+93,448 B for 17 instructions a byte) do not fit speed's 64 KB copy budget, and
    # conv2d's save under 5 % (passes/balanced_copies.py): they go back to specialised copies, whose code that
    # budget prices
    assert spec == {"conv2d", "conv2d_3", "conv2d_5", "conv2d_6", "conv2d_7", "conv2d_8"}
    assert (
        "over the 65536 B copy budget" in reps["conv2d_7"]["why"] and reps["conv2d_7"]["priced_code"] == 760
    )
    assert "under 5%" in reps["conv2d"]["why"] and reps["conv2d"]["priced_code"] == 760
    # int16 weights do not pay next to the int8 fixed-sequence step: the pass keeps int8 (users may force them)
    assert KERNEL16 not in ks.values()
    assert sum(k == "winograd" for k in ks.values()) == 3
    # with no copy budget every Winograd copy stays and the code budget chooses four copies
    ks, reps = run(core="cortex-m4", options={"speed_copy_budget": -1})
    spec = {n for n, k in ks.items() if k in (KERNEL, KERNEL16)}
    assert spec == {"conv2d_3", "conv2d_5", "conv2d_6", "conv2d_8"}
    assert sum(k == "winograd" for k in ks.values()) == 5
    for n in spec:
        r = reps[n]
        assert r["candidates"][KERNEL]["instructions"] < r["candidates"]["dense"]["instructions"]
        assert r["candidates"][KERNEL16]["bytes"] == 3 * r["candidates"][KERNEL]["bytes"]
        assert 0 < r["est_kernel_code"] <= CODE_BUDGET and r["candidates"][KERNEL]["code_bytes"] > 0
    # Winograd kept on the 3x3 stride-1 layers (a copy would not beat it by 10 %), with the reason beside its
    # report
    assert "below 10%" in reps["conv2d_1"]["specialize_why"] and reps["conv2d"]["specialize_why"]

    # a budget with room for ~one copy: the best saving per byte first, the rest say why not
    ks, reps = run(core="cortex-m4", options={"kernel_code_budget": 12000})  # ~11 KB without copies
    spec_small = {n for n, k in ks.items() if k in (KERNEL, KERNEL16)}
    # the most instructions saved per byte of code; conv2d and conv2d_7 as the copy budget gave them back, outside
    # this budget
    assert spec_small == {"conv2d", "conv2d_3", "conv2d_7"}
    assert any("over the" in r.get("why", "") for r in reps.values())
    assert all(r["est_kernel_code"] <= 12000 for r in reps.values() if "est_kernel_code" in r)

    assert not {KERNEL, KERNEL16} & set(run(core="cortex-m4", optimize="size")[0].values())
    assert not {KERNEL, KERNEL16} & set(run(core="cortex-m3")[0].values())
    ks, _ = run(core="cortex-m4", forbid={"*": {KERNEL16}})
    assert KERNEL16 not in ks.values() and list(ks.values()).count(KERNEL) == 6
    ks, reps = run(core="cortex-m4", forbid={"conv2d_5": {KERNEL}})
    assert ks["conv2d_5"] is None and "forbidden" in reps["conv2d_5"]["why"]
    ks, _ = run(core="cortex-m3", force={"conv2d_8": KERNEL})
    assert ks["conv2d_8"] == KERNEL and list(ks.values()).count(KERNEL) == 1
    ks, _ = run(core="cortex-m4", force={"conv2d": KERNEL})
    assert ks["conv2d"] == KERNEL


EMULATED = shutil.which("qemu-system-arm") is not None and shutil.which("arm-none-eabi-gcc") is not None


@pytest.mark.emulator
@pytest.mark.skipif(not EMULATED, reason="needs qemu-system-arm and arm-none-eabi-gcc")
def test_specialized_kernels_on_emulated_cortex_m4(tmp_path: Path) -> None:
    """A sample of the table (3-channel first layer, stride 2, 1x1 stride 2, dilation, int8 and int16 weights,
    general requantization) with the real SXTAB16/SMLAD/SMMULR/SSAT (and the fixed-sequence step, which the host
    build does not have) on the emulated Cortex-M4, bit-exact with the reference."""
    from edgesdk.boards import get_board
    from edgesdk.commands.device import validate
    from test_c_kernels import _B
    from test_dsp_kernels import _conv_node

    b = _B("spec_chain")
    shape = (1, 13, 11, 3)
    x = b.act("x", shape)
    nodes, cur = [], x
    for k, (cout, ksz, s, d, pad) in enumerate(
        [
            (16, 3, 1, 1, "SAME"),  # 3 channels: the fixed-sequence step and the scalar tail
            (17, 3, 2, 1, "VALID"),  # odd filter count: the C step for the last pair
            (32, 3, 1, 2, "SAME"),  # dilated
            (32, 1, 2, 1, "SAME"),  # 1x1 stride 2, int16 weights
            (16, 3, 1, 2, "SAME"),  # dilated, int16 weights
            (15, 3, 1, 1, "SAME"),  # shift >= 0: the general requantization
        ]
    ):
        node, cur, shape = _conv_node(
            b, f"conv{k}", cur, shape, cout, ksz, s, d, pad, "RELU" if k % 2 else "NONE"
        )
        nodes.append(node)
    graph = b.done([x], [cur], *nodes)
    y = graph.tensor(cur)
    y.quant.scale = np.asarray(y.quant.scale) * 1e-3  # the last layer needs the general requantization
    board = get_board("mps2-an386")
    ctx = PassContext(core=board.core, force={"conv3": KERNEL16, "conv4": KERNEL16, "*": KERNEL})
    summary = validate(graph, board, count=4, out_dir=tmp_path / "v", pass_ctx=ctx)
    assert summary.count == 4 and summary.exact == 4, summary.to_dict()
    src = "".join(f.read_text() for f in (tmp_path / "v").rglob("spec_chain.c"))
    assert src.count("ed_conv_dsp_rows(&") == 6 and "oy_begin, oy_end, 0, " in src and "_weights16[" in src


def test_pass_revisits_a_pointwise_choice_it_beats() -> None:
    """A 1x1 convolution over 6 channels (rows the int8 FC kernel's six-pixel path does not take): the 1x1-as-FC
    pass claims it, the specialised copy is estimated >= 10 % faster (the FC kernel's per-pixel cost dominates at
    few channels), so it takes the layer; the other pass's candidate stays in the report. Forcing the FC kernel
    keeps it. Over 8 channels the six-pixel path is estimated faster and keeps the layer."""
    graph = conv(16, 16, 6, 16, 1, 1, "SAME")("pw")
    ctx = {"core": "cortex-m4", "options": {"flash_bytes": 4 << 20}}
    node = run_pipeline(graph, "default", PassContext(**ctx)).nodes[0]
    rep = node.attrs["kernel_report"]
    assert node.attrs["kernel"] == KERNEL and "pointwise_s8" in rep["candidates"]
    assert (
        rep["candidates"][KERNEL]["instructions"] <= 0.9 * rep["candidates"]["pointwise_s8"]["instructions"]
    )
    assert "fewer instructions than pointwise_s8" in rep["why"]
    eight = run_pipeline(conv(16, 16, 8, 16, 1, 1, "SAME")("pw"), "default", PassContext(**ctx)).nodes[0]
    assert eight.attrs["kernel"] == "pointwise_s8"
    forced = run_pipeline(graph, "default", PassContext(**ctx, force={"conv": "pointwise_w16"})).nodes[0]
    assert forced.attrs["kernel"] == "pointwise_w16"
