"""Depthwise-convolution kernel variants against the reference, bit for bit, over the issue's edges.

One joined kernel table (one sanitized host build per variant) over channels 1, 3, 4, 15, 16, 17, 31, 32, 33, 64,
odd spatial sizes, stride 2, dilation, SAME/VALID, depth multipliers 1/2/3, with and without bias: the Cortex-M
DSP kernel (``firmware/kernels/cortex-m-dsp/ed_dwconv.c``: 3x3 interior unrolled, border and other shapes through
the general loop) on the host with ``ed_simd.h``'s portable SIMD definitions under ASan/UBSan, and a few shapes on
the emulated Cortex-M4 (QEMU mps2-an386) where the real SXTAB16/SMLABB run.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgesdk.ir import graph as ir
from edgesdk.reference.params import op_params
from hostbuild import GCC, generate_and_build, random_inputs, reference_outputs, run_host
from kerneltable import join
from test_c_kernels import _B, dwconv
from test_dsp_kernels import _conv_node, _dw_node

TARGET = "cortex-m-dsp"
EMULATED = shutil.which("qemu-system-arm") is not None and shutil.which("arm-none-eabi-gcc") is not None

#: channels -> (h, w, depth multiplier, kernel, stride, padding, dilation, activation, bias)
DW_EDGES = {
    1: (7, 9, 1, 3, 1, "SAME", 1, "NONE", True),
    3: (9, 7, 2, 3, 2, "VALID", 1, "RELU", True),
    4: (7, 5, 1, 3, 1, "SAME", 1, "RELU6", True),
    15: (6, 9, 1, 3, 2, "SAME", 1, "NONE", True),
    16: (9, 11, 1, 3, 1, "VALID", 1, "NONE", True),
    17: (5, 7, 3, 3, 1, "SAME", 1, "RELU", True),
    31: (7, 7, 1, 3, 1, "SAME", 2, "NONE", True),
    32: (8, 9, 1, 3, 2, "SAME", 1, "RELU6", True),
    33: (5, 5, 1, 3, 1, "SAME", 1, "NONE", False),
    64: (6, 7, 1, 3, 1, "SAME", 1, "NONE", True),
}


def dw_cases() -> dict[str, ir.Graph]:
    cases = {}
    for c, (h, w, m, k, s, pad, d, act, bias) in DW_EDGES.items():
        name = f"dw_{h}x{w}_c{c}_m{m}_k{k}_s{s}_{pad.lower()}_d{d}_{act.lower()}" + (
            "" if bias else "_nobias"
        )
        cases[name] = dwconv(h, w, c, m, k, s, pad, d=d, act=act, bias=bias)(name)
    # the 3x3 stride-2 SAME interior on an odd size, and a 5x5 kernel (general loop only)
    cases["dw_11x9_c16_m1_k3_s2_same"] = dwconv(11, 9, 16, 1, 3, 2, "SAME")("dw_11x9_c16_m1_k3_s2_same")
    cases["dw_7x7_c8_m1_k5_s1_same"] = dwconv(7, 7, 8, 1, 5, 1, "SAME")("dw_7x7_c8_m1_k5_s1_same")
    for h, w, c, s, pad, m in (
        # a one-pixel interior (all pixels one by one), a 4-row stride-2 input, an input of 2 rows (general loop)
        (3, 3, 8, 1, "SAME", 1),
        (4, 6, 17, 2, "SAME", 1),
        (2, 5, 4, 1, "SAME", 1),
        # tiny inputs (1x1, 2x2: the general loop; 3x3: every pixel a border pixel of the 3x3 path) and channel
        # counts that leave a tail of 1, 2 or 3 after the groups of four, strides 1 and 2, SAME and VALID, and a
        # depth multiplier of 2 with a tail (the general loop)
        (1, 1, 5, 1, "SAME", 1),
        (2, 2, 6, 1, "SAME", 1),
        (2, 2, 7, 2, "SAME", 1),
        (3, 3, 7, 1, "VALID", 1),
        (3, 3, 6, 2, "SAME", 1),
        (3, 4, 2, 1, "SAME", 1),
        (5, 3, 9, 2, "VALID", 1),
        (4, 4, 10, 2, "SAME", 1),
        (3, 3, 5, 1, "SAME", 2),
        # vertical pairs of the 3x3 path: one pair in a one-column output, pairs in columns that are all border
        # columns, one pair between border rows, and two pairs and an odd row in two columns
        (4, 3, 8, 1, "VALID", 1),
        (8, 3, 12, 1, "SAME", 1),
        (4, 5, 4, 1, "SAME", 1),
        (7, 4, 8, 1, "VALID", 1),
    ):
        name = f"dw_{h}x{w}_c{c}_m{m}_k3_s{s}_{pad.lower()}"
        cases[name] = dwconv(h, w, c, m, 3, s, pad)(name)
    return cases


def _fast_path(graph: ir.Graph, node: ir.Node | None = None) -> bool:
    """Whether the DSP kernel's unrolled 3x3 path runs this layer (see ed_dw3x3_fast_ok)."""
    node = node or graph.nodes[0]
    p = op_params(graph, node)
    shift = np.atleast_1d(p["output_shift"])
    return (
        p["depth_multiplier"] == 1
        and p["filter_h"] == 3
        and p["dilation_h"] == 1
        and p["in_h"] >= 3
        and p["in_w"] >= 3
        and len(node.inputs) > 2
        and bool(node.inputs[2])
        and shift.size > 1
        and bool((shift < 0).all() and (shift >= -22).all())
    )


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
def test_dsp_dwconv_table_on_host_under_sanitizers(tmp_path: Path) -> None:
    cases = dw_cases()
    assert sum(_fast_path(g) for g in cases.values()) >= 6  # the unrolled interior path is exercised
    graph, _ = join("dwtable", cases)
    project, exe = generate_and_build(graph, tmp_path, sanitize=True, target=TARGET)
    x = random_inputs(project.input_size, 10, seed=11)
    np.testing.assert_array_equal(run_host(exe, x, project.output_size), reference_outputs(graph, x))


def dw_chain(name: str) -> ir.Graph:
    """One input, one output: depthwise 3x3 over 16 channels (stride 1 SAME, stride 2 SAME on an odd size), 17
    (VALID, the channel tail), 64 (SAME), then a depth multiplier of 2; 1x1 convolutions change the width."""
    b = _B(name)
    shape = (1, 13, 11, 16)
    x = b.act("x", shape)
    nodes, cur = [], x
    for k, step in enumerate([("dw", 1, 1, "SAME"), ("dw", 1, 2, "SAME"), ("conv", 17), ("dw", 1, 1, "VALID"),
                              ("conv", 64), ("dw", 1, 1, "SAME"), ("dw", 2, 1, "SAME")]):  # fmt: skip
        if step[0] == "dw":
            node, cur, shape = _dw_node(b, f"dw{k}", cur, shape, step[1], step[2], 1, step[3])
        else:
            node, cur, shape = _conv_node(b, f"pw{k}", cur, shape, step[1], 1, 1, 1, "SAME")
        nodes.append(node)
    return b.done([x], [cur], *nodes)


@pytest.mark.emulator
@pytest.mark.skipif(not EMULATED, reason="needs qemu-system-arm and arm-none-eabi-gcc")
def test_dsp_dwconv_on_emulated_cortex_m4(tmp_path: Path) -> None:
    from edgesdk.boards import get_board
    from edgesdk.commands.device import validate

    graph = dw_chain("dwchain")
    assert sum(_fast_path(graph, n) for n in graph.nodes if n.op == "DEPTHWISE_CONV_2D") >= 3
    for n in graph.nodes:  # the in-place kernel on the board too (stride 2 SAME, VALID, stride 1 SAME)
        if n.name in ("dw1", "dw3", "dw5"):
            n.attrs["kernel"] = "inplace"
            n.attrs["inplace_rows"] = {"dw1": 1, "dw3": 3, "dw5": 2}[n.name]  # output rows per kernel call
    summary = validate(graph, get_board("mps2-an386"), count=3, out_dir=tmp_path / "v")
    assert summary.count == 3 and summary.exact == 3, summary.to_dict()


@pytest.mark.emulator
@pytest.mark.skipif(not EMULATED, reason="needs qemu-system-arm and arm-none-eabi-gcc")
def test_dsp_band_path_assembly_in_place_on_emulated_cortex_m4(tmp_path: Path) -> None:
    """The band path's Thumb-2 on the board, written in place by the kernel itself: stride 1 and 2 with odd and
    even widths, SAME and VALID, channel tails of 1 to 3, a transposed tall map, a 3x3 map, the full int8 range
    and ReLU6 (clamped after the rows, four channels a word and the tail byte by byte); bit-exact."""
    from edgesdk.boards import get_board
    from edgesdk.commands.device import validate
    from edgesdk.compiler import dw_inplace
    from edgesdk.passes import PassContext, run_pipeline

    shapes = [(25, 5, 14, 1, "SAME", "NONE"), (7, 9, 13, 2, "SAME", "NONE"), (8, 10, 8, 2, "SAME", "NONE"),
              (9, 11, 16, 1, "VALID", "NONE"), (6, 6, 7, 1, "SAME", "NONE"), (3, 3, 12, 1, "SAME", "NONE"),
              (9, 7, 5, 2, "VALID", "NONE"), (6, 7, 10, 1, "SAME", "RELU6"), (7, 6, 9, 2, "SAME", "RELU6")]  # fmt: skip
    cases = {
        f"dw_{h}x{w}_c{c}_s{s}_{pad}_{act}".lower(): dwconv(h, w, c, 1, 3, s, pad, act=act)(
            f"dw{h}x{w}c{c}s{s}"
        )
        for h, w, c, s, pad, act in shapes
    }
    ctx = PassContext(core="cortex-m4", force={"*": "inplace"})
    for name, graph in cases.items():  # the device harness runs a model of one input and one output
        lowered = run_pipeline(graph, "default", ctx)
        assert lowered.nodes[0].attrs.get(dw_inplace.SELF_ATTR), name
        summary = validate(graph, get_board("mps2-an386"), count=2, out_dir=tmp_path / name, pass_ctx=ctx)
        assert summary.count == 2 and summary.exact == 2, (name, summary.to_dict())


#: Band-path edges of the Thumb-2 row (four output columns a step, then at most one pair and one single column)
#: and of the fill's four-column step: (h, w, channels, stride, padding, activation). Output widths 4k..4k+3 at
#: strides 1 and 2, channels 4 to 20 (groups of four, one to five), odd heights, the widest rows the band holds
#: (61 columns at stride 1, 30 at stride 2), tall maps that run transposed (25x5, 17x3: 17 and 25 columns in the
#: band's orientation), wide and flat maps, VALID, ReLU and ReLU6.
BAND_EDGES = [
    (7, 8, 4, 1, "SAME", "NONE"), (5, 9, 8, 1, "SAME", "RELU"), (6, 10, 12, 1, "SAME", "NONE"),
    (9, 11, 16, 1, "SAME", "RELU6"), (13, 7, 20, 1, "SAME", "NONE"), (3, 61, 4, 1, "SAME", "NONE"),
    (4, 40, 8, 1, "VALID", "NONE"), (25, 5, 8, 1, "SAME", "NONE"), (17, 3, 12, 1, "SAME", "RELU6"),
    (9, 16, 4, 2, "SAME", "NONE"), (11, 18, 8, 2, "SAME", "NONE"), (8, 20, 12, 2, "SAME", "RELU6"),
    (15, 22, 16, 2, "SAME", "NONE"), (7, 15, 20, 2, "SAME", "NONE"), (5, 60, 4, 2, "SAME", "NONE"),
    (17, 13, 8, 2, "VALID", "RELU"),
]  # fmt: skip


def _band_case(h: int, w: int, c: int, s: int, pad: str, act: str) -> tuple[str, ir.Graph]:
    name = f"band_{h}x{w}_c{c}_s{s}_{pad}_{act}".lower()
    return name, dwconv(h, w, c, 1, 3, s, pad, act=act)(name)


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
def test_dsp_band_path_edges_on_host_under_sanitizers(tmp_path: Path) -> None:
    """The band path's edges (BAND_EDGES) in one sanitized host build (the kernel's C with ed_simd.h's portable
    SIMD): bit-exact, and every case takes the band path."""
    from edgesdk.compiler import dw_inplace

    cases = dict(_band_case(*e) for e in BAND_EDGES)
    for name, g in cases.items():
        assert dw_inplace.band_path_shape(op_params(g, g.nodes[0])) and _fast_path(g), name
    graph, _ = join("bandedges", cases)
    project, exe = generate_and_build(graph, tmp_path, sanitize=True, target=TARGET)
    x = random_inputs(project.input_size, 6, seed=5)
    np.testing.assert_array_equal(run_host(exe, x, project.output_size), reference_outputs(graph, x))


@pytest.mark.emulator
@pytest.mark.skipif(not EMULATED, reason="needs qemu-system-arm and arm-none-eabi-gcc")
@pytest.mark.parametrize(
    "edge", BAND_EDGES, ids=lambda e: "x".join(map(str, e[:3])) + f"_s{e[3]}_{e[4]}_{e[5]}"
)
def test_dsp_band_path_edges_on_emulated_cortex_m4(edge, tmp_path: Path) -> None:
    """The band path's Thumb-2 (row and fill) on the board at its edges, written in place by the kernel itself;
    bit-exact."""
    from edgesdk.boards import get_board
    from edgesdk.commands.device import validate
    from edgesdk.compiler import dw_inplace
    from edgesdk.passes import PassContext, run_pipeline

    name, graph = _band_case(*edge)
    ctx = PassContext(core="cortex-m4", force={"*": "inplace"})
    assert run_pipeline(graph, "default", ctx).nodes[0].attrs.get(dw_inplace.SELF_ATTR), name
    summary = validate(graph, get_board("mps2-an386"), count=2, out_dir=tmp_path / name, pass_ctx=ctx)
    assert summary.count == 2 and summary.exact == 2, (name, summary.to_dict())


# ---------------------------------------------------------------------------------------------------------------
# In-place depthwise: the planner aliases output and input, counts the scratch; the C writes over its input
# ---------------------------------------------------------------------------------------------------------------


def _pw_dw_pw(
    name: str, h: int, w: int, c: int, s: int, padding: str, reuse: bool = False, cin: int = 4
) -> ir.Graph:
    """1x1 conv 4 -> c channels, depthwise 3x3 (the peak of live bytes), 1x1 conv back to 4 (``reuse``: the
    depthwise input is also added to later, so it does not die at the depthwise layer)."""
    b = _B(name)
    shape = (1, h, w, cin)
    x = b.act("x", shape)
    n0, t0, shape0 = _conv_node(b, "pw0", x, shape, c, 1, 1, 1, "SAME")
    n1, t1, shape1 = _dw_node(b, "dw", t0, shape0, 1, s, 1, padding)
    n2, t2, _ = _conv_node(b, "pw1", t1, shape1, c if reuse else 4, 1, 1, 1, "SAME")
    nodes = [n0, n1, n2]
    if reuse:
        y = b.act("sum", (1, h, w, c), 0.3)
        nodes.append(ir.Add(name="add", inputs=[t0, t2], outputs=[y]))
        t2 = y
    return b.done([x], [t2], *nodes)


@pytest.mark.parametrize(
    ("s", "padding", "slots"), [(1, "SAME", 2), (2, "SAME", 1), (1, "VALID", 1), (2, "VALID", 1)]
)
def test_planner_aliases_inplace_depthwise_and_counts_scratch(s: int, padding: str, slots: int) -> None:
    from edgesdk.compiler import dw_inplace
    from edgesdk.compiler.planner import plan
    from edgesdk.passes import PassContext, run_pipeline

    g = _pw_dw_pw("pdp", 9, 10, 16, s, padding)
    before = plan(g)
    lowered = run_pipeline(g, "default", PassContext(force={"dw": "inplace"}, options={"inplace_rows": 1}))
    dw = next(n for n in lowered.nodes if n.op == "DEPTHWISE_CONV_2D")
    assert dw.attrs["kernel"] == "inplace" and "dies here" in dw.attrs["kernel_report"]["why"]
    cands = dw.attrs["kernel_report"]["candidates"]
    assert cands["inplace"]["instructions"] > cands["dense"]["instructions"] > 0  # the price is stated
    after = plan(lowered)
    after.check_no_overlap()
    assert after.offsets[dw.inputs[0]] == after.offsets[dw.outputs[0]]
    sched = dw_inplace.node_schedule(lowered, dw)
    assert sched.slots == slots
    out_row = lowered.tensor(dw.outputs[0]).shape[2] * 16
    scratch = [b for b in after.buffers if b.name == dw_inplace.scratch_name(dw)]
    assert [b.size for b in scratch] == ([slots * out_row] if slots else [])
    # the bytes live at the depthwise step: max(input, output) + scratch instead of input + output
    step = lowered.nodes.index(dw)
    live = sum(b.size for b in after.buffers if b.first <= step <= b.last)
    x, y = lowered.tensor(dw.inputs[0]).nbytes, lowered.tensor(dw.outputs[0]).nbytes
    assert live == x + slots * out_row
    x0, y1 = x // 16 * 4, y // 16 * 4  # the 4-channel graph input and output
    assert before.lower_bound == max(x0 + x, x + y, y + y1)
    assert after.lower_bound == max(x0 + x, x + slots * out_row, y + y1)
    if s == 1:  # there the depthwise layer was the peak: the arena shrinks
        assert after.arena_bytes < before.arena_bytes


def test_inplace_pass_keeps_only_layers_that_lower_the_arena() -> None:
    """4 -> 16 channels then depthwise: the depthwise layer is the peak and goes in place; 16 -> 16 channels then
    a stride-2 depthwise: the 1x1 conv is the peak, in place would only cost instructions, so the regular kernel
    stays (and the report says so)."""
    from edgesdk.passes import PassContext, run_pipeline

    for s, cin, want in ((1, 4, True), (2, 16, False)):
        g = _pw_dw_pw(f"pick{s}", 9, 10, 16, s, "SAME", cin=cin)
        lowered = run_pipeline(g, "default", PassContext())
        dw = next(n for n in lowered.nodes if n.op == "DEPTHWISE_CONV_2D")
        assert (dw.attrs.get("kernel") == "inplace") is want
        if want:
            arena = dw.attrs["kernel_report"]["arena_bytes"]
            assert arena["in_place"] < arena["regular"]
        else:
            assert "would not lower the arena" in dw.attrs["kernel_report"]["why"]
        forbidden = run_pipeline(
            _pw_dw_pw("f", 9, 10, 16, s, "SAME"), "default", PassContext(forbid={"*": {"inplace"}})
        )
        assert not any(n.attrs.get("kernel") for n in forbidden.nodes)


def test_planner_keeps_depthwise_input_that_is_read_later() -> None:
    from edgesdk.compiler.planner import plan
    from edgesdk.passes import PassContext, run_pipeline

    lowered = run_pipeline(_pw_dw_pw("pdpr", 7, 7, 8, 1, "SAME", reuse=True), "default", PassContext())
    dw = next(n for n in lowered.nodes if n.op == "DEPTHWISE_CONV_2D")
    assert dw.attrs.get("kernel") != "inplace"
    # even if forced, the planner does not alias an input that is read after the layer
    dw.attrs["kernel"] = "inplace"
    p = plan(lowered)
    p.check_no_overlap()
    assert p.offsets[dw.inputs[0]] != p.offsets[dw.outputs[0]]


def test_inplace_schedule_never_overwrites_an_input_row_still_read() -> None:
    """Replay the schedule byte-ownership by row: every input row a later output row reads is intact."""
    from edgesdk.compiler.dw_inplace import schedule

    for (h, w, c, s, pad, k_eff, same), rows in itertools.product(
        [(9, 10, 16, 1, 1, 3, 1), (11, 9, 4, 2, 0, 3, 1), (12, 12, 8, 2, 1, 3, 1), (9, 9, 3, 1, 0, 3, 0),
         (7, 7, 31, 1, 2, 5, 1), (8, 5, 2, 2, 0, 3, 0)],
        (1, 2, 3, 4),
    ):  # fmt: skip
        oh = (h + s - 1) // s if same else (h - k_eff + s) // s
        ow = (w + s - 1) // s if same else (w - k_eff + s) // s
        sched = schedule(h, w, c, oh, ow, c, s, pad, rows)
        assert sched.rows == rows and sched.slots % rows == 0
        row_in, row_out = w * c, ow * c
        clobbered = np.zeros(h * row_in, bool)
        pending: list[int] = []
        for oy in range(0, oh, rows):  # a call computes a group of rows: all its reads before any write
            group = range(oy, min(oy + rows, oh))
            for r in group:
                lo, hi = max(0, r * s - pad), min(h - 1, r * s - pad + k_eff - 1)
                assert not clobbered[lo * row_in : (hi + 1) * row_in].any(), (h, w, c, s, rows, r)
            if oy in sched.direct:
                assert not pending and all(r in sched.direct for r in group)
                clobbered[oy * row_out : group[-1] * row_out + row_out] = True
            else:
                pending.extend(group)
                assert len(pending) <= sched.slots
            nlo = max(0, (group[-1] + 1) * s - pad) if group[-1] + 1 < oh else h
            while pending and ((pending[0] + 1) * row_out - 1) // row_in < nlo:
                j = pending.pop(0)
                clobbered[j * row_out : (j + 1) * row_out] = True
        assert not pending


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
@pytest.mark.parametrize(("target", "rows"), [(None, 1), (TARGET, 1), (None, 3), (TARGET, 2)])
def test_inplace_dwconv_table_on_host_under_sanitizers(target, rows: int, tmp_path: Path) -> None:
    """Every depthwise edge case with depth multiplier 1, chosen in place (each input dies at its layer), with the
    portable and the DSP kernel underneath, one or more output rows per kernel call, bit-exact; the generated code
    really calls the in-place kernel."""
    from edgesdk.passes import PassContext, run_pipeline

    cases = {n: g for n, g in dw_cases().items() if g.nodes[0].depth_multiplier == 1}
    graph, _ = join("dwinplace", cases)
    assert not any(n.attrs.get("kernel") for n in run_pipeline(graph, "default", PassContext()).nodes)
    ctx = PassContext(force={"*": "inplace"}, options={"inplace_rows": rows})  # inputs of the model
    lowered = run_pipeline(graph, "default", ctx)
    assert all(n.attrs.get("kernel") == "inplace" for n in lowered.nodes)
    project, exe = generate_and_build(lowered, tmp_path, sanitize=True, target=target)
    src = (project.out_dir / f"{project.model_name}.c").read_text()
    assert src.count("ed_dwconv_inplace_s8(p, output,") == len(cases)
    assert src.count(f", {rows});") >= len(cases)
    x = random_inputs(project.input_size, 8, seed=5)
    np.testing.assert_array_equal(run_host(exe, x, project.output_size), reference_outputs(graph, x))


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
def test_dsp_kernel_writes_in_place_itself_on_host_under_sanitizers(tmp_path: Path) -> None:
    """On a DSP core the layers the band path takes (3x3 stride 1 and 2, SAME and VALID, channel tails, the
    transposed tall maps) are written in place by the kernel itself: one call, no scratch, bit-exact; the others
    keep the ring of scratch rows."""
    from edgesdk.compiler import dw_inplace
    from edgesdk.passes import PassContext, run_pipeline

    cases = {n: g for n, g in dw_cases().items() if g.nodes[0].depth_multiplier == 1}
    cases["dw_25x5_c12_m1_k3_s1_same"] = dwconv(25, 5, 12, 1, 3, 1, "SAME")("dw_25x5_c12_m1_k3_s1_same")
    graph, _ = join("dwself", cases)
    lowered = run_pipeline(graph, "default", PassContext(core="cortex-m4", force={"*": "inplace"}))
    selfs = [n for n in lowered.nodes if n.attrs.get(dw_inplace.SELF_ATTR)]
    assert len(selfs) >= 8 and any(n.name.startswith("dw_25x5") for n in selfs)
    assert all(dw_inplace.node_schedule(lowered, n).slots == 0 for n in selfs)
    assert all(
        dw_inplace.node_schedule(lowered, n).slots > 0
        for n in lowered.nodes
        if not n.attrs.get(dw_inplace.SELF_ATTR)
    )
    project, exe = generate_and_build(lowered, tmp_path, sanitize=True, target=TARGET)
    src = (project.out_dir / f"{project.model_name}.c").read_text()
    assert src.count("ed_dwconv_inplace_s8(p, output, NULL, 0,") == len(selfs)
    x = random_inputs(project.input_size, 8, seed=5)
    np.testing.assert_array_equal(run_host(exe, x, project.output_size), reference_outputs(graph, x))


# ---------------------------------------------------------------------------------------------------------------
# The DSP kernel's small-map path (cortex-m-dsp/ed_dw_map.h) and its neighbours on the other paths
# ---------------------------------------------------------------------------------------------------------------

#: (h, w, channels, depth multiplier, stride, padding, activation): maps of 1x1 to 14x14, stride 1 and 2 (outputs
#: of even and odd width: the Thumb-2's four variants), SAME and VALID, channels 4, 8, 12, 36, 128, 256 and tails
#: of 1 to 3 after the groups of four, ReLU6 (clamped after the passes); the path's limits (14x14 stride 1: 16
#: padded rows of 8 words; 13x13 stride 2) and one past them (the band path), one-column outputs (the table path
#: or the general loop), inputs under 3x3 and depth multipliers (the general loop).
SMALL_MAPS = [
    (1, 1, 4, 1, 1, "SAME", "NONE"),
    (2, 2, 8, 1, 1, "SAME", "NONE"),
    (2, 2, 12, 1, 2, "SAME", "NONE"),
    (3, 3, 256, 1, 1, "SAME", "NONE"),
    (3, 3, 36, 1, 2, "SAME", "RELU6"),
    (3, 3, 5, 1, 1, "VALID", "NONE"),
    (5, 5, 12, 1, 1, "SAME", "RELU6"),
    (5, 5, 36, 1, 2, "VALID", "NONE"),
    (6, 6, 128, 1, 1, "SAME", "NONE"),
    (6, 6, 128, 1, 2, "SAME", "NONE"),
    (6, 6, 8, 2, 1, "SAME", "NONE"),
    (7, 7, 36, 1, 1, "SAME", "NONE"),
    (7, 7, 8, 1, 2, "SAME", "RELU6"),
    (7, 5, 7, 1, 1, "VALID", "NONE"),
    (4, 6, 9, 1, 1, "SAME", "RELU6"),
    (9, 9, 6, 1, 2, "SAME", "NONE"),
    (12, 12, 36, 1, 2, "SAME", "NONE"),
    (12, 12, 12, 1, 1, "SAME", "NONE"),
    (13, 13, 6, 1, 2, "SAME", "NONE"),
    (14, 14, 4, 1, 1, "SAME", "NONE"),
    (15, 15, 4, 1, 1, "SAME", "NONE"),
    (16, 16, 12, 1, 2, "SAME", "NONE"),
    (5, 3, 8, 1, 2, "SAME", "NONE"),
]


def small_map_cases() -> dict[str, ir.Graph]:
    cases = {}
    for h, w, c, m, s, pad, act in SMALL_MAPS:
        name = f"dw_{h}x{w}_c{c}_m{m}_s{s}_{pad}_{act}".lower()
        cases[name] = dwconv(h, w, c, m, 3, s, pad, act=act)(name)
    return cases


def _small_map_path(p: dict) -> bool:
    from edgesdk.passes.winograd_dw import map_path

    return map_path(p["in_h"], p["in_w"], p["out_h"], p["out_w"], p["in_c"], p["stride_h"], p["stride_w"])


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
@pytest.mark.parametrize("in_place", [False, True], ids=["regular", "in_place"])
def test_dsp_small_map_dwconv_on_host_under_sanitizers(in_place: bool, tmp_path: Path) -> None:
    """The small-map path on the host (the portable forms of its SIMD), bit-exact, as a regular layer and written
    over its input by the kernel itself (one call, no scratch rows)."""
    from edgesdk.compiler import dw_inplace
    from edgesdk.passes import PassContext, run_pipeline

    cases = small_map_cases()
    graph, _ = join("dwsmall", cases)
    on_path = [n for n in graph.nodes if _fast_path(graph, n) and _small_map_path(op_params(graph, n))]
    assert len(on_path) >= 14
    if in_place:
        ctx = PassContext(core="cortex-m4", force={"*": "inplace"})
        graph = run_pipeline(graph, "default", ctx)
        selfs = {n.name for n in graph.nodes if n.attrs.get(dw_inplace.SELF_ATTR)}
        assert {n.name for n in on_path} <= selfs
    project, exe = generate_and_build(graph, tmp_path, sanitize=True, target=TARGET)
    x = random_inputs(project.input_size, 8, seed=23)
    np.testing.assert_array_equal(run_host(exe, x, project.output_size), reference_outputs(graph, x))


def test_small_map_path_choice_follows_the_cost_models() -> None:
    """The kernel takes the small-map path where the map fits and, on a stride-2 map the table path takes, where
    the two fitted models say it is cheaper (ed_dw_map_ok, mirrored by winograd_dw.map_path; the kernel's models in
    tenths of an instruction equal the Python ones); over every shape it takes (SAME and VALID, strides 1 and 2, 4 to
    256 channels) the models price it below the band path with 36 or more channels (on smaller layers the band's
    model, fitted on large ones, has no per-layer term; measured there the small-map path wins too:
    3x3x4 1,885 against 2,388, 6x6x4 4,225 against 5,118, 3x4x64 VALID 13,575 against 18,412)."""
    import re

    from edgesdk.passes import winograd_dw

    header = (Path(__file__).resolve().parents[1] / "firmware/kernels/cortex-m-dsp/ed_dw_map.h").read_text()
    c_map = [int(v) for v in re.search(r"#define ED_DW_MAP_COST10 ([\d, ]+)", header).group(1).split(",")]
    c_table = [int(v) for v in re.search(r"#define ED_DW_TABLE_COST10 ([\d, ]+)", header).group(1).split(",")]
    mc, tc = winograd_dw.MAP_COST, winograd_dw.COST
    assert c_map == [round(10 * mc[k]) for k in ("quad_s2", "pair_s2", "single", "channel_row", "quad_row",
                                                 "fill_row", "fill_word", "group", "layer")]  # fmt: skip
    assert c_table == [round(10 * tc[k]) for k in ("table_pixel_group", "table_run", "table_group",
                                                   "table_tail_output")]  # fmt: skip
    taken = table = 0
    for s in (1, 2):
        for h in range(3, 17):
            for w in range(3, 17):
                for pad in ("SAME", "VALID"):
                    oh = -(-h // s) if pad == "SAME" else (h - 3) // s + 1
                    ow = -(-w // s) if pad == "SAME" else (w - 3) // s + 1
                    for c in (4, 12, 36, 128, 256):
                        args = (h, w, oh, ow, c, s, s)
                        if not winograd_dw.map_path(*args):
                            table += (
                                s == 2 and ow >= 2 and oh <= winograd_dw.TABLE_W and ow <= winograd_dw.TABLE_W
                            )
                            assert winograd_dw.direct_cost(*args) == winograd_dw.band_cost(*args)
                            continue
                        taken += 1
                        assert c < 36 or winograd_dw.map_cost(*args) < winograd_dw.band_cost(*args), args
    assert taken > 500 and table > 10


_MAP_OK_HARNESS = """
#include <stdio.h>
#include "ed_dwconv.c"
int main(void)
{
    static const int cs[] = {4, 5, 12, 19, 36, 128, 256};
    int s, h, w, v, k;
    for (s = 1; s <= 2; ++s) for (h = 3; h < 17; ++h) for (w = 3; w < 17; ++w) for (v = 0; v < 2; ++v)
    for (k = 0; k < 7; ++k) {
        ed_dwconv_params_t p = {0};
        const int oh = v ? (h - 3) / s + 1 : (h + s - 1) / s, ow = v ? (w - 3) / s + 1 : (w + s - 1) / s;
        p.in_h = h, p.in_w = w, p.in_c = p.out_c = cs[k], p.out_h = oh, p.out_w = ow, p.stride_h = p.stride_w = s;
        p.pad_top = v || (oh - 1) * s + 3 <= h ? 0 : ((oh - 1) * s + 3 - h) / 2;
        p.pad_left = v || (ow - 1) * s + 3 <= w ? 0 : ((ow - 1) * s + 3 - w) / 2;
        printf("%d %d %d %d %d %d %d\\n", h, w, oh, ow, cs[k], s, ed_dw_map_ok(&p));
    }
    return 0;
}
"""


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
def test_small_map_choice_in_the_kernel_equals_its_python_mirror(tmp_path: Path) -> None:
    """ed_dw_map_ok (compiled on the host) and winograd_dw.map_path choose the same path for every map of 3x3 to
    16x16, SAME and VALID, strides 1 and 2, channels 4 to 256 with and without a tail."""
    import subprocess

    from edgesdk.passes import winograd_dw

    kernels = Path(__file__).resolve().parents[1] / "firmware" / "kernels"
    (tmp_path / "h.c").write_text(_MAP_OK_HARNESS)
    exe = tmp_path / "h"
    subprocess.run([GCC, "-O1", "-w", f"-I{kernels / 'cortex-m-dsp'}", f"-I{kernels}", str(tmp_path / "h.c"), "-o",
                    str(exe)], check=True, timeout=120)  # fmt: skip
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True, timeout=60).stdout.split(
        "\n"
    )
    rows = [[int(v) for v in line.split()] for line in out if line]
    assert len(rows) == 2 * 14 * 14 * 2 * 7
    for h, w, oh, ow, c, s, ok in rows:
        assert winograd_dw.map_path(h, w, oh, ow, c, s, s) == bool(ok), (h, w, oh, ow, c, s)


@pytest.mark.emulator
@pytest.mark.skipif(not EMULATED, reason="needs qemu-system-arm and arm-none-eabi-gcc")
@pytest.mark.parametrize(
    ("h", "w", "c", "s", "pad", "act"),
    [
        (6, 6, 12, 1, "SAME", "NONE"),
        (3, 3, 13, 1, "SAME", "RELU6"),
        (7, 7, 8, 1, "SAME", "NONE"),
        (12, 12, 9, 2, "SAME", "RELU6"),
        (7, 7, 6, 2, "SAME", "NONE"),
        (11, 11, 38, 2, "VALID", "NONE"),
        (14, 14, 4, 1, "SAME", "NONE"),
        (4, 4, 4, 1, "SAME", "NONE"),
        (5, 5, 7, 1, "SAME", "RELU6"),
        (9, 8, 5, 1, "VALID", "NONE"),
        (13, 13, 6, 2, "SAME", "NONE"),
    ],  # fmt: skip
)
def test_dsp_small_map_assembly_in_place_on_emulated_cortex_m4(h, w, c, s, pad, act, tmp_path: Path) -> None:
    """The small-map path's Thumb-2 on the board (stride 1 and 2, outputs of even and odd width: by pairs on maps two
    or three wide, else four columns a step then a pair and a single column where the row has them; channel tails,
    ReLU6, the largest map), written in place by the kernel itself; bit-exact."""
    from edgesdk.boards import get_board
    from edgesdk.commands.device import validate
    from edgesdk.compiler import dw_inplace
    from edgesdk.passes import PassContext, run_pipeline

    graph = dwconv(h, w, c, 1, 3, s, pad, act=act)(f"dwm{h}x{w}c{c}s{s}")
    assert _small_map_path(op_params(graph, graph.nodes[0]))
    ctx = PassContext(core="cortex-m4", force={"*": "inplace"})
    assert run_pipeline(graph, "default", ctx).nodes[0].attrs.get(dw_inplace.SELF_ATTR)
    summary = validate(graph, get_board("mps2-an386"), count=2, out_dir=tmp_path / "v", pass_ctx=ctx)
    assert summary.count == 2 and summary.exact == 2, summary.to_dict()


# ---------------------------------------------------------------------------------------------------------------
# Winograd F(2x2,3x3) depthwise (kernel "winograd_dw")
# ---------------------------------------------------------------------------------------------------------------

WDW_CHANNELS = (1, 3, 4, 15, 16, 17, 31, 32, 33, 64)


def wdw_cases() -> dict[str, ir.Graph]:
    """3x3 stride-1 depthwise over every edge channel count, odd sizes (partial tiles), SAME and VALID."""
    cases = {}
    for k, c in enumerate(WDW_CHANNELS):
        h, w = (5, 7) if k % 2 else (7, 4)
        pad = "VALID" if k % 3 == 2 else "SAME"
        act = ("NONE", "RELU", "RELU6")[k % 3]
        name = f"wdw_{h}x{w}_c{c}_{pad.lower()}_{act.lower()}"
        cases[name] = dwconv(h, w, c, 1, 3, 1, pad, act=act, bias=c != 33)(name)
    return cases


def _direct_dw_acc(x: np.ndarray, w: np.ndarray, offset: int, pad_h: int, pad_w: int, oh: int, ow: int):
    n, h, wd, c = x.shape
    d = np.zeros((n, oh + 2, ow + 2, c), np.int64)
    src = x.astype(np.int64) + offset
    rows, cols = min(h, oh + 2 - pad_h), min(wd, ow + 2 - pad_w)
    d[:, pad_h : pad_h + rows, pad_w : pad_w + cols] = src[:, :rows, :cols]
    return sum(d[:, i : i + oh, j : j + ow] * w[0, i, j].astype(np.int64) for i in range(3) for j in range(3))


def test_winograd_depthwise_accumulators_equal_direct() -> None:
    from edgesdk.numerics import winograd as wg

    rng = np.random.default_rng(4)
    for h, wd, c, pad_h, pad_w, oh, ow in [
        (5, 7, 3, 1, 1, 5, 7),
        (6, 6, 16, 0, 0, 4, 4),
        (1, 1, 2, 1, 1, 1, 1),
    ]:
        x = rng.integers(-128, 128, (2, h, wd, c)).astype(np.int8)
        w = rng.integers(-128, 128, (1, 3, 3, c)).astype(np.int8)
        w[0, 0, 0, 0] = -128
        offset = int(rng.integers(-128, 128))
        got = wg.winograd_conv2d_acc(x, w, offset, pad_h, pad_w, oh, ow, depthwise=True)
        np.testing.assert_array_equal(got, _direct_dw_acc(x, w, offset, pad_h, pad_w, oh, ow))
    r = wg.int_ranges(wg.F2x2_3x3, in_channels=1)
    assert r["U"] == 1152 and r["V"] == 1020 and r["exact_in_int32"]
    assert wg.weight_ranges(wg.F2x2_3x3, np.full((1, 3, 3, 4), -128, np.int8))["acc"] == 255 * 9 * 128


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
@pytest.mark.parametrize("target", [None, TARGET], ids=["portable", "dsp"])
def test_winograd_dw_table_on_host_under_sanitizers(target, tmp_path: Path) -> None:
    from edgesdk.passes import PassContext, run_pipeline

    cases = wdw_cases()
    graph, _ = join("wdwtable", cases)
    lowered = run_pipeline(graph, "default", PassContext(force={"*": "winograd_dw"}))
    assert all(n.attrs.get("kernel") == "winograd_dw" for n in lowered.nodes)
    project, exe = generate_and_build(lowered, tmp_path, sanitize=True, target=target)
    assert (project.out_dir / f"{project.model_name}.c").read_text().count("ed_winograd_dw_s8(&") == len(
        cases
    )
    x = random_inputs(project.input_size, 8, seed=9)
    np.testing.assert_array_equal(run_host(exe, x, project.output_size), reference_outputs(graph, x))


def test_winograd_dw_pass_keeps_direct_on_the_m4_and_obeys_the_user() -> None:
    from edgesdk.passes import PassContext, run_pipeline, winograd_dw

    g = dwconv(24, 24, 32, 1, 3, 1, "SAME")("mnv1_block")
    dsp = run_pipeline(g, "default", PassContext(core="cortex-m4"))
    rep = dsp.nodes[0].attrs["kernel_report"]
    assert dsp.nodes[0].attrs.get("kernel") != "winograd_dw"
    assert rep["candidates"]["winograd_dw"]["instructions"] > rep["candidates"]["dense"]["instructions"]
    assert "transforms cost more" in rep["why"]
    forced = run_pipeline(g, "default", PassContext(core="cortex-m4", force={"dw": "winograd_dw"}))
    assert forced.nodes[0].attrs["kernel"] == "winograd_dw"
    assert forced.nodes[0].attrs["kernel_report"]["weight_bytes"] == 32 * 32
    for other in (
        dwconv(9, 9, 8, 1, 3, 2, "SAME"),
        dwconv(9, 9, 8, 2, 3, 1, "SAME"),
        dwconv(9, 9, 8, 1, 3, 1, "SAME", d=2),
    ):
        ng = run_pipeline(other("o"), "default", PassContext(force={"*": "winograd_dw"}))
        assert (
            ng.nodes[0].attrs.get("kernel") != "winograd_dw"
        )  # stride 2, multiplier 2, dilation: not eligible
    # the fitted models reproduce measured counts within 10 %: the direct kernel on a 24x24x32 layer alone (358,772
    # instructions on the emulated Cortex-M4; its band path), Winograd in benchmarks/results/winograd_dw.md
    est = winograd_dw.estimate(24, 24, 32, dsp=True)
    assert abs(est["direct"] - 358_772) < 35_877 and abs(est["winograd_dw"] - 1_597_360) < 159_736
    # and on the KWS-shaped layer, which runs transposed (172,393 measured alone), and stride 2 (242,041 alone)
    assert abs(winograd_dw.direct_cost(25, 5, 25, 5, 64) - 172_393) < 17_239
    assert abs(winograd_dw.direct_cost(48, 48, 24, 24, 16, 2, 2) - 242_041) < 24_204
    # and on small maps, which take the small-map path (measured alone, benchmarks/results/dw_small_maps.md: 3x3x256
    # 86,509; 6x6x128 110,301; 12x12x64 179,741; stride 2 12x12x64 -> 6x6 74,561; 6x6x128 -> 3x3 54,241)
    for args, measured in (
        ((3, 3, 3, 3, 256), 86_509),
        ((6, 6, 6, 6, 128), 110_301),
        ((12, 12, 12, 12, 64), 179_741),
        ((12, 12, 6, 6, 64, 2, 2), 74_561),
        ((6, 6, 3, 3, 128, 2, 2), 54_241),
    ):
        assert winograd_dw.map_path(*args)
        assert abs(winograd_dw.direct_cost(*args) - measured) < measured // 20
    # the table path's model (stride-2 maps one column wide now; the shapes it was measured on before the small-map
    # path took them: 96,666; 64,746; 47,697 with a tail)
    assert abs(winograd_dw.band_cost(12, 12, 6, 6, 64, 2, 2) - 96_666) < 9_667
    assert abs(winograd_dw.band_cost(6, 6, 3, 3, 128, 2, 2) - 64_746) < 6_475
    assert abs(winograd_dw.band_cost(12, 12, 6, 6, 19, 2, 2) - 47_697) < 4_770


@pytest.mark.emulator
@pytest.mark.skipif(not EMULATED, reason="needs qemu-system-arm and arm-none-eabi-gcc")
def test_winograd_dw_on_emulated_cortex_m4(tmp_path: Path) -> None:
    from edgesdk.boards import get_board
    from edgesdk.commands.device import validate

    graph = dw_chain("wdwchain")
    picked = [
        n
        for n in graph.nodes
        if n.op == "DEPTHWISE_CONV_2D" and n.stride == (1, 1) and n.depth_multiplier == 1
    ]
    for n in picked:
        n.attrs["kernel"] = "winograd_dw"
    assert len(picked) == 3  # 16 channels SAME, 17 VALID (the tail), 64 SAME
    summary = validate(graph, get_board("mps2-an386"), count=3, out_dir=tmp_path / "v")
    assert summary.count == 3 and summary.exact == 3, summary.to_dict()


def test_f4x4_row_scaled_spec_is_exact_and_fits_int16_weights() -> None:
    """The row-scaled F(4x4,3x3) of benchmarks/winograd_f4x4.py: the same accumulators as F(2x2,3x3) (and so
    as direct convolution), |U'| <= 6272 (int16) where the uniform scaling needs 18 bits."""
    from edgesdk.numerics import winograd as wg

    rng = np.random.default_rng(7)
    x = rng.integers(-128, 128, (1, 9, 7, 5)).astype(np.int8)
    w = rng.integers(-128, 128, (3, 3, 3, 5)).astype(np.int8)
    w[0, 2, 2, 0] = -128
    args = (x, w, 7, 1, 1, 9, 7)
    np.testing.assert_array_equal(
        wg.winograd_conv2d_acc(*args, spec=wg.F4x4_3x3_ROWSCALED),
        wg.winograd_conv2d_acc(*args, spec=wg.F2x2_3x3),
    )
    assert wg.int_ranges(wg.F4x4_3x3_ROWSCALED, 1)["U_bits"] <= 16 < wg.int_ranges(wg.F4x4_3x3, 1)["U_bits"]
    assert np.abs(wg.transform_weights(w, wg.F4x4_3x3_ROWSCALED)).max() <= 6272
    # depthwise: exact in int32 for any int8 layer; a 64-channel conv at full-scale weights is not
    assert wg.weight_ranges(wg.F4x4_3x3, np.full((1, 3, 3, 8), 127, np.int8))["exact_in_int32"]
    assert not wg.weight_ranges(wg.F4x4_3x3, np.full((4, 3, 3, 64), 127, np.int8))["exact_in_int32"]
    assert wg.transform_ops(wg.F2x2_3x3) == {"input": 32, "output": 24, "products": 16}
