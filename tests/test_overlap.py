"""Outputs that trail their inputs in the same bytes (``edgesdk.compiler.overlap``, ``passes/overlap.py``, the planner).

The declared walk of a kernel (``writes_behind`` in the kernel table) gives the largest output-over-input shift;
a replay of that walk checks the formula byte by byte; a chain of layers planned below the whole-tensor bound
runs bit for bit like the reference on the host under ASan/UBSan (the planner's choice and every candidate
overlap at once) and on the emulated Cortex-M4.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgesdk.compiler import overlap
from edgesdk.compiler.planner import Buffer, Overlap, PlanError, check_no_overlap, place, plan
from edgesdk.passes import PassContext, run_pipeline
from hostbuild import generate_and_build, random_inputs, reference_outputs, run_host
from test_c_kernels import _B
from test_dsp_kernels import _conv_node, _dw_node

EMULATED = shutil.which("qemu-system-arm") is not None and shutil.which("arm-none-eabi-gcc") is not None


def _replay(geo: dict[str, int], block: int, shift: int) -> bool:
    """Walk the output in blocks of ``block`` pixels (every block re-reads all its windows after each write, the
    worst case the declaration allows) with the output ``shift`` bytes after the input; False if a read finds a
    byte the output already wrote."""
    k = 3
    in_bytes = geo["in_h"] * geo["in_w"] * geo["in_c"]
    clobbered = np.zeros(in_bytes + geo["out_h"] * geo["out_w"] * geo["out_c"] + abs(shift) + 1, bool)
    base = abs(shift)  # input at base, output at base + shift

    def reads_ok(p: int) -> bool:
        oy, ox = divmod(p, geo["out_w"])
        for ky in range(k):
            iy = oy * geo["s_h"] - geo["pad_top"] + ky
            if not 0 <= iy < geo["in_h"]:
                continue
            for kx in range(k):
                ix = ox * geo["s_w"] - geo["pad_left"] + kx
                if 0 <= ix < geo["in_w"]:
                    at = base + (iy * geo["in_w"] + ix) * geo["in_c"]
                    if clobbered[at : at + geo["in_c"]].any():
                        return False
        return True

    n = geo["out_h"] * geo["out_w"]
    for start in range(0, n, block):
        pixels = range(start, min(start + block, n))
        for q in pixels:
            if not all(reads_ok(p) for p in pixels):
                return False
            at = base + shift + q * geo["out_c"]
            clobbered[at : at + geo["out_c"]] = True
    return True


@pytest.mark.parametrize(
    ("h", "w", "cin", "cout", "s", "pad", "block"),
    [(6, 5, 8, 16, 1, 1, 1), (6, 5, 8, 16, 1, 1, 2), (7, 7, 3, 8, 2, 0, 2), (5, 9, 16, 4, 1, 1, 2),
     (9, 4, 4, 4, 2, 1, 1), (4, 6, 1, 33, 1, 1, 2)],
)  # fmt: skip
def test_declared_shift_is_safe(h: int, w: int, cin: int, cout: int, s: int, pad: int, block: int) -> None:
    oh, ow = (h + s - 1) // s, (w + s - 1) // s
    geo = dict(
        in_h=h, in_w=w, in_c=cin, out_h=oh, out_w=ow, out_c=cout, s_h=s, s_w=s, pad_top=pad, pad_left=pad
    )
    shift = overlap.max_shift(geo, block)
    assert shift >= -oh * ow * cout
    assert _replay(geo, block, shift)  # safe at the declared shift
    # a block larger than declared is not safe at that shift (so the declaration must say the kernel's block)
    if block == 1 and cin >= cout:
        assert not _replay(geo, 4, shift)


def test_one_by_one_expanding_pair_needs_the_larger_tensor_and_a_pixel() -> None:
    geo = dict(in_h=48, in_w=48, in_c=8, out_h=48, out_w=48, out_c=16, s_h=1, s_w=1, pad_top=0, pad_left=0)
    assert overlap.max_shift(geo, 1) == 8 * (48 * 48 - 1) - 16 * 48 * 48  # lo(last) - end(last)
    x = Buffer("x", 8 * 48 * 48, 0, 1)
    y = Buffer("y", 16 * 48 * 48, 1, 2)
    o = Overlap(layer="pw", x="x", y="y", max_shift=overlap.max_shift(geo, 1))
    arena = place([x, y], 16, [o])
    assert arena == 16 * 48 * 48 + 16  # 36,880 B instead of 55,296 B
    check_no_overlap([x, y], arena, [o])
    with pytest.raises(PlanError):
        check_no_overlap([x, y], arena)  # without the declaration it is an overlap


def _chain(name: str):
    """3x3 conv 4 -> 8 (on the model input), 1x1 8 -> 16, depthwise 3x3, 1x1 16 -> 16, 3x3 stride-2 conv
    16 -> 8, 1x1 8 -> 4: odd sizes, every walk the kernels declare."""
    b = _B(name)
    shape = (1, 11, 9, 4)
    x = b.act("x", shape)
    nodes = []
    cur = x
    for step in (("c", 8, 3, 1), ("c", 16, 1, 1), ("dw",), ("c", 16, 1, 1), ("c", 8, 3, 2), ("c", 4, 1, 1)):
        if step[0] == "dw":
            node, cur, shape = _dw_node(b, f"dw{len(nodes)}", cur, shape, 1, 1, 1, "SAME")
        else:
            node, cur, shape = _conv_node(
                b, f"c{len(nodes)}", cur, shape, step[1], step[2], step[3], 1, "SAME"
            )
        nodes.append(node)
    return b.done([x], [cur], *nodes)


def test_chain_below_the_whole_tensor_bound_is_bit_exact_on_host(tmp_path: Path) -> None:
    graph = run_pipeline(_chain("ovl"), "default", PassContext())
    assert any(overlap.ATTR in n.attrs for n in graph.nodes)
    p = plan(graph)
    p.check_no_overlap()
    assert p.overlaps and p.arena_bytes < p.lower_bound
    # deterministic byte counts: the planner's figures for this chain (portable kernels' declarations)
    assert (p.arena_bytes, p.lower_bound) == (1904, 3168)
    assert p.to_dict()["overlaps"][0]["bytes_saved"] > 0
    xs = random_inputs(11 * 9 * 4, 6, seed=3)
    want = reference_outputs(graph, xs)
    _, exe = generate_and_build(graph, tmp_path / "chosen", sanitize=True, plan=p)
    np.testing.assert_array_equal(run_host(exe, xs, want.shape[1]), want)
    # every candidate overlap at once, each output as far down as its kernel allows
    from edgesdk.compiler.planner import lifetimes, lower_bound, overlap_candidates

    buffers = lifetimes(graph)
    cands = overlap_candidates(graph, buffers)
    assert len(cands) >= 4
    arena = place(buffers, 16, cands)
    check_no_overlap(buffers, arena, cands)
    forced = type(p)(
        buffers=buffers, arena_bytes=arena, lower_bound=lower_bound(buffers),
        offsets={m: b.offset for b in buffers for m in b.tensors}, aliases=p.aliases, overlaps=cands,
    )  # fmt: skip
    _, exe = generate_and_build(graph, tmp_path / "all", sanitize=True, plan=forced)
    np.testing.assert_array_equal(run_host(exe, xs, want.shape[1]), want)


def _lowered_and_validated_on_m4(graph, tmp_path: Path):
    """The graph after the M4's passes, after checking it bit for bit on the emulated Cortex-M4."""
    from edgesdk.boards import get_board
    from edgesdk.commands.device import validate
    from edgesdk.commands.export import board_pass_context

    board = get_board("mps2-an386")
    summary = validate(graph, board, count=3, out_dir=tmp_path / "v")
    assert summary.count == 3 and summary.exact == 3, summary.to_dict()
    return run_pipeline(graph, "default", board_pass_context(board, None, "balanced"))


@pytest.mark.emulator
@pytest.mark.skipif(not EMULATED, reason="needs qemu-system-arm and arm-none-eabi-gcc")
def test_chain_below_the_whole_tensor_bound_on_emulated_cortex_m4(tmp_path: Path) -> None:
    p = plan(_lowered_and_validated_on_m4(_chain("ovlm4"), tmp_path))
    assert p.overlaps and p.arena_bytes < p.lower_bound


# ---------------------------------------------------------------------------------------------------------------
# Band chains (passes/band_chain.py): a convolution's output kept as a few rows while the next one runs by bands
# ---------------------------------------------------------------------------------------------------------------


def _resnet_stages(name: str, h: int = 14, w: int = 10, c: int = 8):
    """Two ResNet-8-like stages at odd sizes: conv, [conv, conv + residual ADD], [3x3 stride-2 conv, conv] + 1x1
    stride-2 shortcut + ADD."""
    from edgesdk.ir import graph as ir

    b = _B(name)
    x = b.act("x", (1, h, w, 3))
    n0, x0, s0 = _conv_node(b, "stem", x, (1, h, w, 3), c, 3, 1, 1, "SAME", "RELU")
    n1, y1, s1 = _conv_node(b, "a1", x0, s0, c, 3, 1, 1, "SAME", "RELU")
    n2, y2, _ = _conv_node(b, "b1", y1, s1, c, 3, 1, 1, "SAME")
    x1 = b.act("sum1", s0)
    add1 = ir.Add(name="add1", inputs=[x0, y2], outputs=[x1], activation="RELU")
    n3, a2, s3 = _conv_node(b, "a2", x1, s0, 2 * c, 3, 2, 1, "SAME", "RELU")
    n4, b2, s4 = _conv_node(b, "b2", a2, s3, 2 * c, 3, 1, 1, "SAME")
    n5, c2, _ = _conv_node(b, "short2", x1, s0, 2 * c, 1, 2, 1, "SAME")
    out = b.act("sum2", s4)
    add2 = ir.Add(name="add2", inputs=[b2, c2], outputs=[out], activation="RELU")
    return b.done([x], [out], n0, n1, n2, add1, n3, n4, n5, add2)


def test_band_chains_lower_the_arena_and_are_bit_exact_on_host(tmp_path: Path) -> None:
    speed = run_pipeline(_resnet_stages("chains"), "default", PassContext(optimize="speed"))
    assert not any("band_chain" in n.attrs for n in speed.nodes)  # speed keeps its instructions
    graph = run_pipeline(_resnet_stages("chains"), "default", PassContext(optimize="balanced"))
    chained = {n.name: n.attrs["band_chain"] for n in graph.nodes if "band_chain" in n.attrs}
    assert set(chained) == {"b1", "b2"}, chained  # b1 fused with add1, b2 on its own
    assert chained["b1"]["conv"] == "a1" and chained["b2"]["conv"] == "a2"
    rep = next(n for n in graph.nodes if n.name == "b2").attrs["kernel_report"]
    assert (
        rep["arena_bytes"]["band_chain"] < rep["arena_bytes"]["whole"]
        and "nothing is computed twice" in rep["why"]
    )
    # the band buffers: rows of the chained output a band reads (3x3: band rows + 2 halo rows)
    assert chained["b1"]["scratch_bytes"] == 4 * 10 * 8 and chained["b2"]["scratch_bytes"] == 4 * 5 * 16
    p = plan(graph)
    p.check_no_overlap()
    assert p.arena_bytes == 2000 == rep["arena_bytes"]["band_chain"]
    xs = random_inputs(14 * 10 * 3, 6, seed=5)
    want = reference_outputs(graph, xs)
    _, exe = generate_and_build(graph, tmp_path / "c", sanitize=True, plan=p)
    np.testing.assert_array_equal(run_host(exe, xs, want.shape[1]), want)


@pytest.mark.emulator
@pytest.mark.skipif(not EMULATED, reason="needs qemu-system-arm and arm-none-eabi-gcc")
def test_band_chains_on_emulated_cortex_m4(tmp_path: Path) -> None:
    """On the M4 the chained layers run the Winograd and specialised DSP kernels (tiles of two rows); IC-sized,
    where both chained convolutions run Winograd."""
    lowered = _lowered_and_validated_on_m4(_resnet_stages("chainsm4", 32, 32, 16), tmp_path)
    assert {n.name for n in lowered.nodes if "band_chain" in n.attrs} == {"b1", "b2"}
    assert plan(lowered).arena_bytes == 26624  # IC's figure: ResNet-8 has these shapes
