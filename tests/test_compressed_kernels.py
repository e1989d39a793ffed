"""Compressed-weight kernels (sparse, codebook, pattern) against the reference, bit for bit, under ASan/UBSan.

Each row builds a tiny graph whose int8 weights carry the structure a compression method leaves (zeros,
few distinct values per channel, 3x3 kernels inside 4-tap patterns), forces the kernel variant through the
pass context (so the row tests that kernel even where the cost model would pick another), generates C,
builds it with -Werror and the sanitizers (all rows as one model, one build: ``tests/kerneltable.py``) and
compares with ``edgesdk.reference`` with ``assert_array_equal``. Shapes cross byte and word edges of the
packed formats: 1, 31, 32, 33, 63, 64 channels, odd inputs, gaps longer than a delta field.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import test_c_kernels as kernels
from edgesdk.ir import graph as ir
from edgesdk.ir import weightformats as wf
from edgesdk.passes import PassContext, kernel_decisions, run_pipeline
from hostbuild import GCC
from kerneltable import KernelTable, run_joined
from test_c_kernels import _B

pytestmark = pytest.mark.skipif(GCC is None, reason="needs host gcc")
N_INPUTS = 16


def _sparse(
    rng: np.random.Generator, shape: tuple[int, ...], density: float, levels: int | None
) -> np.ndarray:
    """int8 weights with the given density; nonzeros from ``levels`` values per output channel if set."""
    w = rng.integers(-127, 128, shape)
    if levels is not None:
        rows = w.reshape(shape[0], -1)
        for r in range(shape[0]):
            table = rng.choice(np.setdiff1d(np.arange(-127, 128), [0]), levels, replace=False)
            rows[r] = table[rng.integers(0, levels, rows.shape[1])]
        w = rows.reshape(shape)
    w[rng.random(shape) >= density] = 0
    return w.astype(np.int8)


def fc(n_in: int, n_out: int, density: float, levels: int | None, act: str = "NONE", batches: int = 1):
    def data(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        return _sparse(rng, shape, density, levels)

    return kernels.fc(n_in, n_out, per_channel=True, act=act, batches=batches, data=data)


def conv(h, wd, cin, cout, k, s, padding, levels, d=1, act="NONE", pattern=False, bias=True, density=1.0):
    def data(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        w = _sparse(rng, shape, density, levels)
        return _patterned(rng, w) if pattern else w

    return kernels.conv(h, wd, cin, cout, k, s, padding, d=d, act=act, bias=bias, data=data)


_PATTERNS = [(0, 1, 3, 4), (1, 4, 5, 7), (4, 5, 7, 8), (0, 4, 8, 2), (1, 3, 4, 5)]


def _patterned(rng: np.random.Generator, w: np.ndarray) -> np.ndarray:
    """Keep 4 taps of each 3x3 kernel from a few patterns; drop ~40 % of kernels; some with fewer taps."""
    out = np.zeros_like(w)
    flat_in = w.reshape(w.shape[0], 9, w.shape[3])
    flat_out = out.reshape(w.shape[0], 9, w.shape[3])
    for oc in range(w.shape[0]):
        for ic in range(w.shape[3]):
            if rng.random() < 0.4:
                continue
            taps = list(_PATTERNS[int(rng.integers(0, len(_PATTERNS)))])
            if rng.random() < 0.2:
                taps = taps[:2]
            flat_out[oc, taps, ic] = flat_in[oc, taps, ic]
    return flat_out.reshape(w.shape)


def _planes_data(kind: str, one: bool = False):
    """Ternary {-a, 0, b} or binary {-a, b} int8 weights per output channel (a, b drawn per channel; ``one``: 127
    in every channel, as ``compress`` writes them)."""

    def data(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        rows = np.empty((shape[0], int(np.prod(shape[1:]))), dtype=np.int64)
        for r in range(shape[0]):
            a, b = (127, 127) if one or r % 3 == 0 else (int(rng.integers(1, 129)), int(rng.integers(1, 128)))
            vals = [-a, 0, b] if kind == "ternary" else [-a, b]
            rows[r] = rng.choice(vals, rows.shape[1])
        return rows.reshape(shape).astype(np.int8)

    return data


def planes_fc(n_in: int, n_out: int, kind: str, batches: int = 1):
    return kernels.fc(n_in, n_out, per_channel=True, batches=batches, data=_planes_data(kind))


def planes_conv(h, wd, cin, cout, k, s, padding, kind: str, act="NONE", one: bool = False):
    return kernels.conv(h, wd, cin, cout, k, s, padding, act=act, data=_planes_data(kind, one))


#: Weights decoded per call into a RAM scratch, then the int8 kernel (``passes/decoded.py``,
#: ``firmware/kernels/ed_decode.c``): case -> the format its data is made for (the size probe decides the stored
#: format; ``test_decoded_rows_cover_every_format`` checks every format is reached). Convolutions run the
#: direct kernel on int8 rows, fully-connected layers the int16 FC kernel on the blocked int16 layout.
DECODED: dict[str, tuple[Callable[[str], ir.Graph], str]] = {
    "decoded_ternary_fc_64_1": (planes_fc(64, 1, "ternary"), "ternary"),
    "decoded_ternary_fc_31_33": (planes_fc(31, 33, "ternary"), "ternary"),
    "decoded_ternary_fc_64_63_batches2": (planes_fc(64, 63, "ternary", batches=2), "ternary"),
    "decoded_binary_fc_33_32": (planes_fc(33, 32, "binary"), "binary"),
    "decoded_binary_fc_63_64": (planes_fc(63, 64, "binary"), "binary"),
    "decoded_ternary_conv_6x6_c32_c33": (planes_conv(6, 6, 32, 33, 3, 1, "SAME", "ternary"), "ternary"),
    "decoded_ternary_conv_5x5_c63_c31_k1": (planes_conv(5, 5, 63, 31, 1, 1, "VALID", "ternary"), "ternary"),
    "decoded_binary_conv_7x7_c1_c64_s2": (planes_conv(7, 7, 1, 64, 3, 2, "SAME", "binary"), "binary"),
    "decoded_binary_conv_5x5_c33_c1_relu": (
        planes_conv(5, 5, 33, 1, 3, 1, "SAME", "binary", act="RELU"),
        "binary",
    ),
    "decoded_codebook_fc_129_31_4bit": (fc(129, 31, 1.0, 16), "codebook"),
    "decoded_codebook_fc_63_32_2bit": (fc(63, 32, 1.0, 4), "codebook"),
    "decoded_codebook_conv_8x8_c33_c32_1bit": (conv(8, 8, 33, 32, 3, 1, "SAME", 2), "codebook"),
    "decoded_codebook_conv_5x5_c31_c64_4bit": (conv(5, 5, 31, 64, 3, 1, "VALID", 16), "codebook"),
    "decoded_sparse_fc_600_32_fillers": (fc(600, 32, 0.01, None), "sparse"),
    "decoded_sparse_cb_fc_256_33_2bit": (fc(256, 33, 0.1, 3), "sparse_codebook"),
    "decoded_sparse_cb_fc_128_32_3bit_batches2": (fc(128, 32, 0.2, 7, batches=2), "sparse_codebook"),
    "decoded_sparse_conv_6x6_c64_c63_k5": (
        conv(6, 6, 64, 63, 5, 1, "VALID", None, density=0.2, bias=False),
        "sparse",
    ),
}

# (graph builder, forced kernel)
CASES: dict[str, tuple[Callable[[str], ir.Graph], str]] = {
    "sparse_fc_1_1": (fc(1, 1, 1.0, None), "sparse"),
    "sparse_fc_31_33_d10": (fc(31, 33, 0.1, None, act="RELU"), "sparse"),
    "sparse_fc_64_63_d30": (fc(64, 63, 0.3, None), "sparse"),
    "sparse_fc_600_32_d01_fillers": (fc(600, 32, 0.01, None), "sparse"),
    "sparse_fc_600_31_d60_int16_counts": (fc(600, 31, 0.6, None), "sparse"),
    "sparse_fc_33_64_batches3": (fc(33, 64, 0.2, None, batches=3), "sparse"),
    "sparse_cb_fc_64_32_4bit": (fc(64, 32, 0.1, 15), "sparse_codebook"),
    "sparse_cb_fc_300_31_2bit_fillers": (fc(300, 31, 0.05, 3), "sparse_codebook"),
    "sparse_cb_fc_63_33_1bit": (fc(63, 33, 0.5, 1), "sparse_codebook"),
    "codebook_fc_1_1": (fc(1, 1, 1.0, 1), "codebook"),
    "codebook_fc_33_31_4bit": (fc(33, 31, 1.0, 16), "codebook"),
    "codebook_fc_31_64_2bit_relu6": (fc(31, 64, 0.7, 3, act="RELU6"), "codebook"),
    "codebook_fc_63_32_1bit": (fc(63, 32, 1.0, 2), "codebook"),
    "codebook_conv_7x7_c1_c3_4bit": (conv(7, 7, 1, 3, 3, 1, "SAME", 16), "codebook"),
    "codebook_conv_8x8_c33_c32_s2_2bit": (conv(8, 8, 33, 32, 3, 2, "SAME", 4), "codebook"),
    "codebook_conv_5x5_c31_c33_k1_1bit": (conv(5, 5, 31, 33, 1, 1, "VALID", 2), "codebook"),
    "codebook_conv_9x7_c3_c8_dil2_relu": (conv(9, 7, 3, 8, 3, 1, "SAME", 7, d=2, act="RELU"), "codebook"),
    "sparse_conv_7x7_c1_c3_d50": (conv(7, 7, 1, 3, 3, 1, "SAME", None, density=0.5), "sparse"),
    "sparse_conv_8x8_c33_c32_s2_d10_relu": (
        conv(8, 8, 33, 32, 3, 2, "SAME", None, act="RELU", density=0.1),
        "sparse",
    ),
    "sparse_conv_9x7_c31_c8_dil2_d05_fillers": (
        conv(9, 7, 31, 8, 3, 1, "SAME", None, d=2, density=0.005),
        "sparse",
    ),
    "sparse_conv_6x6_c64_c63_k5_valid_d20": (
        conv(6, 6, 64, 63, 5, 1, "VALID", None, density=0.2, bias=False),
        "sparse",
    ),
    "sparse_conv_5x5_c32_c1_k1_d30": (conv(5, 5, 32, 1, 1, 1, "VALID", None, density=0.3), "sparse"),
    "pattern_conv_7x7_c1_c8": (conv(7, 7, 1, 8, 3, 1, "SAME", None, pattern=True), "pattern"),
    "pattern_conv_8x8_c32_c33_relu": (
        conv(8, 8, 32, 33, 3, 1, "SAME", None, act="RELU", pattern=True),
        "pattern",
    ),
    "pattern_conv_9x9_c33_c31_s2_valid": (conv(9, 9, 33, 31, 3, 2, "VALID", None, pattern=True), "pattern"),
    "pattern_conv_6x6_c63_c64_nobias": (
        conv(6, 6, 63, 64, 3, 1, "SAME", None, pattern=True, bias=False),
        "pattern",
    ),
    "pattern_conv_9x7_c3_c8_dil2": (conv(9, 7, 3, 8, 3, 1, "SAME", None, d=2, pattern=True), "pattern"),
}

CASES.update({case: (build, "decoded") for case, (build, _) in DECODED.items()})


@pytest.fixture(scope="session")
def compressed_table(tmp_path_factory: pytest.TempPathFactory) -> KernelTable:
    """Every case in one model, each layer's kernel forced, one sanitized build."""
    graphs = {case: build(case) for case, (build, _) in CASES.items()}
    ctx = PassContext(force={case: kernel for case, (_, kernel) in CASES.items()})
    return run_joined(
        "compressed_table", graphs, tmp_path_factory.mktemp("compressed"), ctx=ctx, n_inputs=N_INPUTS
    )


@pytest.mark.parametrize("case", list(CASES))
def test_compressed_kernel_bit_exact(case: str, compressed_table: KernelTable) -> None:
    _, kernel = CASES[case]
    decisions = compressed_table.decisions(case)
    assert [d["kernel"] for d in decisions] == [kernel], decisions
    if case in DECODED:  # stored as the size export (the bytes compress reports) stores them
        size = kernel_decisions(run_pipeline(CASES[case][0](case), "default", PassContext(optimize="size")))
        assert decisions[0]["format"] == size[0]["kernel"], (decisions, size)
        assert decisions[0]["weight_bytes"] == size[0]["weight_bytes"]
    got, want = compressed_table.outputs(case)
    np.testing.assert_array_equal(got, want)


def test_decoded_rows_cover_every_format(compressed_table: KernelTable) -> None:
    """The decoded rows of the table reach each format the decoder reads."""
    from edgesdk.passes.decoded import FORMATS

    formats = {compressed_table.decisions(case)[0]["format"] for case in DECODED}
    assert formats == set(FORMATS), formats


def test_formats_round_trip() -> None:
    rng = np.random.default_rng(0)
    w = _sparse(rng, (33, 300), 0.03, 3)
    for bits in (0, 2, 4):
        sp = wf.sparse_encode(w, bits)
        assert sp is not None
        np.testing.assert_array_equal(wf.sparse_decode(sp, w.shape), w)
    assert wf.sparse_encode(w, 2) is not None and wf.sparse_encode(w, 2).fillers > 0
    cb = wf.codebook_encode(w)
    assert cb is not None and cb.bits == 2
    np.testing.assert_array_equal(wf.codebook_decode(cb, w.shape), w)
    # Channels whose values fit one table share it: 64 channels drawn from 3 value sets -> 3 tables.
    sets = np.array([[0, -5, 9, 40], [0, 7, 8, -90], [1, 2, 3, 4]])
    shared = sets[rng.integers(0, 3, 64)][:, rng.integers(0, 4, 100)].astype(np.int8)
    cb = wf.codebook_encode(shared)
    assert cb is not None and cb.table.shape == (3, 4)
    np.testing.assert_array_equal(wf.codebook_decode(cb, shared.shape), shared)
    wc = _patterned(rng, rng.integers(-127, 128, (5, 3, 3, 7)).astype(np.int8))
    pt = wf.pattern_encode(wc)
    assert pt is not None
    np.testing.assert_array_equal(wf.pattern_decode(pt, wc.shape), wc)
    assert wf.codebook_encode(rng.integers(-127, 128, (4, 64)).astype(np.int8)) is None


def test_pass_picks_by_cost_and_reports_both_candidates() -> None:
    """A 90 %-sparse layer: the sparse kernel wins on bytes and instructions; a dense one is left alone."""
    sparse_graph = fc(256, 64, 0.1, None)("pick_sparse")
    decision = kernel_decisions(run_pipeline(sparse_graph, "default", PassContext()))
    assert len(decision) == 1 and decision[0]["kernel"] == "sparse"
    cands = decision[0]["candidates"]
    assert cands["sparse"]["bytes"] < 0.3 * cands["dense"]["bytes"] and decision[0]["format"] == "sparse"
    assert cands["sparse"]["instructions"] < cands["dense"]["instructions"]
    assert "fewest estimated instructions" in decision[0]["why"]
    dense_graph = fc(64, 32, 1.0, None)("keep_dense")
    assert kernel_decisions(run_pipeline(dense_graph, "default", PassContext())) == []
    # 4-bit codes (two per byte, offset folded) run faster than dense int8 on the M4: chosen for speed too.
    shared = fc(64, 32, 1.0, 16)("shared")
    assert kernel_decisions(run_pipeline(shared, "default", PassContext()))[0]["kernel"] == "codebook"
    # 2-bit codes are unpacked one by one: slower, so chosen only when optimizing for size.
    shared2 = fc(64, 32, 1.0, 4)("shared2")
    speed = run_pipeline(shared2, "default", PassContext()).nodes[0]
    size = kernel_decisions(run_pipeline(shared2, "default", PassContext(optimize="size")))
    # speed: the layer is left to the int8 kernel (no kernel set), the codebook pass's report says why
    assert "kernel" not in speed.attrs and speed.attrs["kernel_report"]["format"] == "int8"
    assert size[0]["kernel"] == "codebook"
    # 2-bit codes, one table index per row, and 32 tables of 4 values (random rows share no table).
    assert size[0]["weight_bytes"] == 32 * 64 // 4 + 32 + 32 * 4 and size[0]["format"] == "codebook"
    forbidden = run_pipeline(sparse_graph, "default", PassContext(forbid={"*": {"sparse"}})).nodes[0]
    assert (
        forbidden.attrs.get("kernel") != "sparse"
        and "sparse" in forbidden.attrs["kernel_report"]["candidates"]
    )


def _chain(name: str) -> ir.Graph:
    """conv (pattern) -> conv (codebook) -> conv (sparse) -> flatten -> fc (sparse codebook) -> fc (codebook)
    -> fc (sparse): every compressed kernel in one model."""
    b = _B(name)
    rng = b.rng
    x = b.act("x", (1, 8, 8, 3))
    nodes: list[ir.Node] = []
    prev, c_in = x, 3
    for k, (c_out, data) in enumerate(
        [
            (8, lambda s: _patterned(rng, _sparse(rng, s, 1.0, None))),
            (8, lambda s: _sparse(rng, s, 1.0, 16)),
            (8, lambda s: _sparse(rng, s, 0.1, None)),
        ]
    ):
        y = b.act(f"c{k}", (1, 8, 8, c_out))
        w = b.weights(f"w{k}", (c_out, 3, 3, c_in), 0)
        b.g.tensor(w).data = data((c_out, 3, 3, c_in))
        nodes.append(
            ir.Conv2D(
                name=f"conv{k}", inputs=[prev, w, b.bias(f"b{k}", c_out)], outputs=[y], activation="RELU"
            )
        )
        prev, c_in = y, c_out
    flat = b.act("flat", (1, 512), b.g.tensor(prev).quant.s, b.g.tensor(prev).quant.zp)
    nodes.append(ir.Reshape(name="flatten", inputs=[prev], outputs=[flat], new_shape=(1, 512)))
    prev, n_in = flat, 512
    for k, (n_out, density, levels) in enumerate([(32, 0.1, 7), (16, 1.0, 16), (10, 0.2, None)]):
        y = b.act(f"f{k}", (1, n_out))
        w = b.weights(f"fw{k}", (n_out, n_in), 0)
        b.g.tensor(w).data = _sparse(rng, (n_out, n_in), density, levels)
        nodes.append(ir.FullyConnected(name=f"fc{k}", inputs=[prev, w, b.bias(f"fb{k}", n_out)], outputs=[y]))
        prev, n_in = y, n_out
    return b.done([x], [prev], *nodes)


CHAIN_KERNELS = {
    "conv0": "pattern",
    "conv1": "codebook",
    "conv2": "sparse",
    "fc0": "sparse_codebook",
    "fc1": "codebook",
    "fc2": "sparse",
}


@pytest.mark.emulator
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm is not installed")
def test_every_compressed_kernel_bit_exact_on_emulated_board(tmp_path: Path) -> None:
    from edgesdk.commands.device import validate

    graph = _chain("chain")
    ctx = PassContext(core="cortex-m4", force=CHAIN_KERNELS)
    decided = {d["layer"]: d["kernel"] for d in kernel_decisions(run_pipeline(graph, "default", ctx))}
    assert decided == CHAIN_KERNELS
    summary = validate(graph, "mps2-an386", count=8, out_dir=tmp_path / "v", pass_ctx=ctx)
    assert summary.exact == summary.count == 8


def test_export_report_names_kernel_and_why(tmp_path: Path) -> None:
    """report.json of an export lists, per compressed layer, the kernel, both candidates and the reason."""
    import json

    from edgesdk.commands.export import export

    graph = fc(256, 64, 0.1, None)("report_sparse")
    result = export(graph, "host", tmp_path / "p")
    rows = json.loads((tmp_path / "p" / "report.json").read_text())["kernels"]
    assert rows == result.report["kernels"] and len(rows) == 1
    row = rows[0]
    assert row["layer"] == "fc" and row["kernel"] == "sparse" and row["format"] == "sparse"
    assert set(row["candidates"]) >= {"dense", "sparse"}
    assert all({"bytes", "instructions"} <= set(c) for c in row["candidates"].values())
    assert str(row["candidates"]["sparse"]["bytes"]) in row["why"] and "dense int8" in row["why"]
    c_text = (tmp_path / "p" / "model" / "report_sparse.c").read_text()
    assert "ed_fc_sparse_s8(" in c_text and "report_sparse_fc_entries" in c_text


def _planes_case(h, wd, cin, cout, k, s, padding, kind: str, inner: str, one: bool = False):
    """A :data:`BALANCED` row of ternary/binary convolution weights decoded for ``inner``."""
    return planes_conv(h, wd, cin, cout, k, s, padding, kind, one=one), inner, kind


#: The default export on a DSP core (``--optimize balanced``): each layer keeps the int8 kernel a speed export
#: gives it and stores the weights the size export stores (compressed, or int8 where the speed kernel would store
#: int16), decoding them per call. case -> (graph builder, the kernel a speed export runs, the stored format).
BALANCED: dict[str, tuple[Callable[[str], ir.Graph], str, str]] = {
    # (1x1 rows not a multiple of 4: the int8 FC kernel's six-pixel path does not take them, so speed keeps the
    # int16 copies these cases decode for; a 7x7 window on 4 channels over 13 x 7 pixels into 16 outputs, where the
    # int16 im2col copy is estimated faster than the six-pixel path)
    "bal_first_conv_13x7_c4_c16_int8": (kernels.conv(13, 7, 4, 16, 7, 1, "SAME"), "im2col_w16", "int8"),
    "bal_first_conv_13x7_c4_c16_ternary": _planes_case(13, 7, 4, 16, 7, 1, "SAME", "ternary", "im2col_w16"),
    "bal_pw_5x5_c62_c63_ternary": _planes_case(5, 5, 62, 63, 1, 1, "VALID", "ternary", "pointwise_w16"),
    "bal_pw_8x8_c62_c33_binary": _planes_case(8, 8, 62, 33, 1, 1, "VALID", "binary", "pointwise_w16"),
    "bal_conv_6x6_c32_c33_s2_codebook": (conv(6, 6, 32, 33, 3, 2, "SAME", 16), "specialized", "codebook"),
    "bal_conv_9x9_c31_c16_s2_ternary": _planes_case(9, 9, 31, 16, 3, 2, "SAME", "ternary", "specialized"),
    "bal_fc_62_33_batches32_int8": (kernels.fc(62, 33, per_channel=True, batches=32), "w16", "int8"),
    # the int8 FC kernel's own rows (1x1 rows and windows of at most 128 bytes, a multiple of 4 or padded to one):
    # ternary/binary rows of whole words of one magnitude through the word table, of several straight into place,
    # sparse entries into the zeroed layer, the others through the row buffer; four-row blocks and the out % 4
    # last rows
    "bal_pw_6x5_c64_c33_ternary": _planes_case(
        6, 5, 64, 33, 1, 1, "VALID", "ternary", "pointwise_s8", one=True
    ),
    "bal_pw_7x6_c32_c31_binary": _planes_case(7, 6, 32, 31, 1, 1, "VALID", "binary", "pointwise_s8"),
    "bal_pw_6x6_c48_c18_codebook": (conv(6, 6, 48, 18, 1, 1, "VALID", 16), "pointwise_s8", "codebook"),
    "bal_pw_6x6_c64_c17_sparse": (
        conv(6, 6, 64, 17, 1, 1, "VALID", 7, density=0.3),  # 7 shared values: stored sparse, not coded
        "pointwise_s8",
        "sparse",
    ),
    "bal_pw_6x6_c128_c18_sparse": (
        conv(6, 6, 128, 18, 1, 1, "VALID", 3, density=0.1),
        "pointwise_s8",
        "sparse",
    ),
    "bal_first_conv_12x8_c1_c33_k3_binary": _planes_case(12, 8, 1, 33, 3, 2, "SAME", "binary", "im2col_s8"),
    "bal_first_conv_12x8_c4_c32_k3_ternary": _planes_case(
        12, 8, 4, 32, 3, 2, "SAME", "ternary", "im2col_s8", one=True
    ),
}


#: Cases whose speed export runs another kernel than the one the balanced export decodes for: few-channel layers
#: run by im2col_x16 (int8 weights in its own column order), whose compressed weights are decoded for im2col_s8.
SPEED_KERNEL = {"bal_first_conv_12x8_c1_c33_k3_binary": "im2col_x16"}


def _speed_kernel(case: str) -> str:
    # every copy the speed passes choose (no speed copy budget, passes/balanced_copies.py)
    ctx = PassContext(
        core="cortex-m4", optimize="speed", options={"flash_bytes": 1 << 20, "speed_copy_budget": -1}
    )
    return run_pipeline(BALANCED[case][0](case), "default", ctx).nodes[0].attrs.get("kernel", "")


@pytest.fixture(scope="session")
def balanced_table(tmp_path_factory: pytest.TempPathFactory) -> KernelTable:
    """The BALANCED cases as one model, kernels chosen as for a Cortex-M4 with the whole budget for decoding and
    every speed kernel's flash copy kept (so each inner kernel is decoded for), built for the host (the DSP
    kernels' portable SIMD definitions) under the sanitizers."""
    graphs = {case: build(case) for case, (build, _, _) in BALANCED.items()}
    options = {
        "flash_bytes": 1 << 20,
        "decode_budget": 1.0,
        "balanced_insns_per_byte": -1e9,
    }  # every copy kept
    ctx = PassContext(core="cortex-m4", optimize="balanced", options=options)
    return run_joined(
        "balanced_table",
        graphs,
        tmp_path_factory.mktemp("balanced"),
        ctx=ctx,
        n_inputs=N_INPUTS,
        target="cortex-m-dsp",  # the DSP kernels' layouts (the int8 FC kernel's rows)
    )


@pytest.mark.parametrize("case", list(BALANCED))
def test_balanced_decoded_kernel_bit_exact(case: str, balanced_table: KernelTable) -> None:
    _, inner, fmt = BALANCED[case]
    # the case exercises the inner kernel it is meant to
    assert _speed_kernel(case) == SPEED_KERNEL.get(case, inner)
    (decision,) = balanced_table.decisions(case)
    assert decision["kernel"] == "decoded" and decision["inner_kernel"] == inner, decision
    assert decision["format"] == fmt, decision
    got, want = balanced_table.outputs(case)
    np.testing.assert_array_equal(got, want)


EMULATED = shutil.which("qemu-system-arm") is not None and shutil.which("arm-none-eabi-gcc") is not None


def balanced_chain(name: str) -> ir.Graph:
    """One input, four layers as the default export runs them on a Cortex-M4: a first 7x7 conv on four channels
    into 14 with int8 weights (im2col, widened in RAM: estimated faster than the int8 FC kernel's six-pixel path
    there), an int8 1x1 14 -> 62, a binary 1x1 62 -> 33 (block by block through the int16 FC body: rows of 62 bytes
    are not the six-pixel path's) and a 3x3 stride-2 conv 33 -> 32 with 16 shared values (codebook, the specialised
    direct conv)."""
    from test_dsp_kernels import _conv_node

    b = _B(name)
    shape = (1, 13, 7, 4)
    x = b.act("x", shape)
    nodes, cur = [], x
    data = [None, None, _planes_data("binary"), lambda rng, sh: _sparse(rng, sh, 1.0, 16)]
    for k, (cout, ksz, st) in enumerate([(14, 7, 1), (62, 1, 1), (33, 1, 1), (32, 3, 2)]):
        node, cur, shape = _conv_node(b, f"conv{k}", cur, shape, cout, ksz, st, 1, "SAME", "RELU")
        if data[k] is not None:
            w = b.g.tensor(node.inputs[1])
            w.data = data[k](b.rng, w.shape)
        nodes.append(node)
    return b.done([x], [cur], *nodes)


@pytest.mark.emulator
@pytest.mark.skipif(not EMULATED, reason="needs qemu-system-arm and arm-none-eabi-gcc")
def test_balanced_decoded_kernels_on_emulated_cortex_m4(tmp_path: Path) -> None:
    """The decoded kernels on the emulated Cortex-M4 (the real SXTB16/SMLAD, the decode in RAM): every layer
    decoded, the board's outputs equal the reference bit for bit."""
    from edgesdk.commands.device import validate

    graph = balanced_chain("balanced_chain")
    options = {"decode_budget": 1.0, "flash_bytes": 4 << 20, "balanced_insns_per_byte": -1e9}
    decided = run_pipeline(
        graph, "default", PassContext(core="cortex-m4", optimize="balanced", options=options)
    )
    assert [n.attrs.get("kernel_report", {}).get("inner_kernel") for n in decided.nodes] == [
        "im2col_w16",
        None,  # int8 weights run as they are
        "pointwise_w16",
        "specialized",
    ]
    ctx = PassContext(optimize="balanced", options={"decode_budget": 1.0, "balanced_insns_per_byte": -1e9})
    summary = validate(graph, "mps2-an386", count=4, out_dir=tmp_path / "v", pass_ctx=ctx)
    assert summary.count == summary.exact == 4, summary.to_dict()


def dscnn_like(name: str, compressed: bool = True, codebook_block: bool = False) -> ir.Graph:
    """A small DS-CNN shaped as KWS's body: a first 3x3 stride-2 convolution on one channel (int8 weights, as
    ``compress`` keeps the first layer) to 25 x 5 pixels of 64 channels, then blocks of a depthwise 3x3 and a 1x1
    64 -> 64 whose weights are ternary, binary (one magnitude, as ``compress`` writes them) and, with
    ``codebook_block``, 16 shared values and 80 % zeros; ``compressed=False``: the int8 twin (the same shapes,
    random int8)."""
    from test_dsp_kernels import _conv_node, _dw_node

    b = _B(name)
    shape = (1, 49, 10, 1)
    x = b.act("x", shape)
    node, cur, shape = _conv_node(b, "conv1", x, shape, 64, 3, 2, 1, "SAME", "RELU")
    nodes = [node]
    blocks = [_planes_data("ternary", one=True), _planes_data("binary", one=True)]
    if codebook_block:  # 16 shared values (a codebook), then a fifth of them left (sparse)
        blocks += [lambda rng, sh: _sparse(rng, sh, 1.0, 16), lambda rng, sh: _sparse(rng, sh, 0.2, None)]
    for k, data in enumerate(blocks):
        dw, cur, shape = _dw_node(b, f"dw{k}", cur, shape, 1, 1, 1, "SAME")
        pw, cur, shape = _conv_node(b, f"pw{k}", cur, shape, 64, 1, 1, 1, "VALID", "RELU")
        if compressed:
            w = b.g.tensor(pw.inputs[1])
            w.data = data(b.rng, w.shape)
        nodes += [dw, pw]
    return b.done([x], [cur], *nodes)


def test_default_export_of_a_compressed_ds_cnn_stores_the_compressed_bytes() -> None:
    """The default export (balanced) on a Cortex-M4 of a DS-CNN whose 1x1 layers are ternary and binary stores
    them as bit-planes (1,024 and 512 B instead of 4,096), decoded per call into the int8 FC kernel's rows over
    the pixels -- not as the int8 bytes the int8 FC kernel would otherwise read -- within the default budget; the
    size export stores them so too."""
    from edgesdk.numerics.weights import layer_weights

    ctx = PassContext(core="cortex-m4", optimize="balanced", options={"flash_bytes": 4 << 20})
    decided = run_pipeline(dscnn_like("dscnn"), "default", ctx)
    twin = run_pipeline(dscnn_like("dscnn8", compressed=False), "default", ctx)
    rows = {r["name"]: r for r in layer_weights(decided)}
    nodes, twins = ({n.name: n for n in g.nodes} for g in (decided, twin))
    for pw, fmt, nbytes in (("pw0", "ternary", 1024), ("pw1", "binary", 512)):
        rep = nodes[pw].attrs["kernel_report"]
        assert nodes[pw].attrs["kernel"] == "decoded", rep
        assert (rep["inner_kernel"], rep["format"], rows[pw]["weight_bytes"]) == ("pointwise_s8", fmt, nbytes)
        assert twins[pw].attrs["kernel"] == "pointwise_s8"
    # the first layer's 3x3 windows padded to 12 bytes (im2col_s8), the depthwise layers' 3x3 x 64
    assert sum(r["weight_bytes"] for r in rows.values()) == 64 * 12 + 2 * 576 + 1024 + 512
    assert sum(r["weight_bytes"] for r in layer_weights(twin)) == 64 * 12 + 2 * 576 + 2 * 4096
    # the size export (the figure compress reports) stores the same planes: not moved to a pointwise kernel's int8
    # or int16 weights for the arena
    size = run_pipeline(dscnn_like("dscnn_size"), "default", PassContext(core="cortex-m4", optimize="size"))
    assert {r["name"]: r["weight_bytes"] for r in layer_weights(size) if r["name"].startswith("pw")} == {
        "pw0": 1024,
        "pw1": 512,
    }


@pytest.mark.emulator
@pytest.mark.skipif(not EMULATED, reason="needs qemu-system-arm and arm-none-eabi-gcc")
def test_ds_cnn_decoded_into_the_int8_fc_kernel_on_emulated_cortex_m4(tmp_path: Path) -> None:
    """The DS-CNN's ternary, binary, 16-value and sparse 1x1 layers decoded into the int8 FC kernel's rows (the word
    table, the row buffer, entries into place) and run over the pixels on the emulated Cortex-M4: outputs equal the
    reference bit for bit."""
    from edgesdk.commands.device import validate

    graph = dscnn_like("dscnn_m4", codebook_block=True)
    options = {"decode_budget": 1.0, "flash_bytes": 4 << 20}
    decided = run_pipeline(
        graph, "default", PassContext(core="cortex-m4", optimize="balanced", options=options)
    )
    pws = [n.attrs["kernel_report"] for n in decided.nodes if n.name.startswith("pw")]
    assert [(r["inner_kernel"], r["format"]) for r in pws] == [
        ("pointwise_s8", "ternary"),
        ("pointwise_s8", "binary"),
        ("pointwise_s8", "codebook"),
        ("pointwise_s8", "sparse"),
    ], pws
    ctx = PassContext(optimize="balanced", options={"decode_budget": 1.0})
    summary = validate(graph, "mps2-an386", count=3, out_dir=tmp_path / "v", pass_ctx=ctx)
    assert summary.count == summary.exact == 3, summary.to_dict()


def test_balanced_budget_keeps_costly_layers_int8_and_says_why() -> None:
    """By data and cost: a ternary 1x1 layer over many pixels is decoded (its decode is a fraction of the layer);
    the same weights in a batch-1 FC cost more to decode than the budget allows and stay int16 in a model of
    nothing else, with the reason and both candidates in the report; a zero budget decodes nothing."""
    options = {"flash_bytes": 1 << 20}
    ctx = PassContext(core="cortex-m4", optimize="balanced", options=options)
    # (62 input channels: rows the int8 FC kernel's six-pixel path does not take)
    pw = run_pipeline(planes_conv(12, 12, 62, 64, 1, 1, "VALID", "ternary")("pw"), "default", ctx).nodes[0]
    assert pw.attrs["kernel"] == "decoded" and pw.attrs["kernel_report"]["format"] == "ternary"
    rep = pw.attrs["kernel_report"]
    # balanced drops the 1x1 layer's int16 flash copy, but int8 weights widened per call into the same kernel cost
    # nothing over it: that is the layer's baseline, and the ternary weights are decoded for the same kernel
    assert rep["inner_kernel"] == "pointwise_w16", rep
    assert rep["candidates"]["decoded"]["bytes"] < 62 * 64 / 3
    fc_node = run_pipeline(planes_fc(256, 64, "ternary")("fc"), "default", ctx).nodes[0]
    assert fc_node.attrs.get("kernel") != "decoded"
    why = fc_node.attrs["kernel_report"]["why"]
    assert "beyond the budget" in why and "int8 kept" in why, why  # balanced: no int16 copy of an FC
    # int8 weights of a batch-1 FC: the int8 kernel itself costs less than widening them per call, but more
    # than the budget of a model of nothing else; with the whole model as budget it is taken. Balanced keeps no
    # int16 flash copy that buys under 32 instructions per byte (passes/balanced_copies.py): int8 either way
    fc8 = run_pipeline(kernels.fc(64, 33, per_channel=True)("fc8"), "default", ctx).nodes[0]
    assert "kernel" not in fc8.attrs and fc8.attrs["kernel_report"]["format"] == "int8"
    assert "per byte, under 32" in fc8.attrs["kernel_report"]["why"]
    whole = PassContext(core="cortex-m4", optimize="balanced", options={**options, "decode_budget": 1.0})
    fc8 = run_pipeline(kernels.fc(64, 33, per_channel=True)("fc8"), "default", whole).nodes[0]
    assert "kernel" not in fc8.attrs and fc8.attrs["kernel_report"]["format"] == "int8"
    # a zero budget stores no ternary weights: the int8 weights widened per call, the layer's free baseline
    zero = PassContext(core="cortex-m4", optimize="balanced", options={**options, "decode_budget": 0.0})
    pw0 = run_pipeline(planes_conv(12, 12, 62, 64, 1, 1, "VALID", "ternary")("pw0"), "default", zero).nodes[0]
    assert pw0.attrs["kernel_report"]["format"] == "int8", pw0.attrs["kernel_report"]
    assert (
        pw0.attrs.get("kernel") == "decoded" and pw0.attrs["kernel_report"]["inner_kernel"] == "pointwise_w16"
    )
    # the speed passes' choice (no speed copy budget, which would run the specialised convolution estimated faster)
    speed = PassContext(core="cortex-m4", optimize="speed", options={**options, "speed_copy_budget": -1})
    assert (
        run_pipeline(planes_conv(12, 12, 62, 64, 1, 1, "VALID", "ternary")("pws"), "default", speed)
        .nodes[0]
        .attrs.get("kernel")
        == "pointwise_w16"
    )
    # with 64 input channels the int8 FC kernel's six-pixel path beats the int16 copy: no copy to widen into
    pw64 = run_pipeline(planes_conv(12, 12, 64, 64, 1, 1, "VALID", "ternary")("pw64"), "default", zero).nodes[
        0
    ]
    assert pw64.attrs.get("kernel") == "pointwise_s8" and pw64.attrs["kernel_report"]["format"] == "int8"


def test_balanced_compressed_layer_never_stored_larger_than_its_int8_twin() -> None:
    """A batch-1 ternary FC whose ternary kernel costs more than the budget but whose int8 kernel fits stores its
    weights as int8, as the int8 twin of the layer does -- not as the int16 copy of the speed kernel."""
    from edgesdk.passes import decoded

    options = {"flash_bytes": 1 << 20}
    probe = PassContext(core="cortex-m4", optimize="balanced", options={**options, "decode_budget": 1.0})
    graph = planes_fc(256, 64, "ternary")("fct")
    cands = run_pipeline(graph, "default", probe).nodes[0].attrs["kernel_report"]["candidates"]
    int8_extra = cands["int8"]["instructions"] - cands["w16"]["instructions"]
    assert (
        min(v["instructions"] for k, v in cands.items() if k not in ("int8", "w16"))
        > cands["int8"]["instructions"]
    )
    budget = (int8_extra + 1) / decoded.model_instructions(planes_fc(256, 64, "ternary")("fct"))
    ctx = PassContext(core="cortex-m4", optimize="balanced", options={**options, "decode_budget": budget})
    fc = run_pipeline(planes_fc(256, 64, "ternary")("fct"), "default", ctx).nodes[0]
    twin = run_pipeline(kernels.fc(256, 64, per_channel=True)("fc8"), "default", ctx).nodes[0]
    for node in (fc, twin):
        rep = node.attrs["kernel_report"]
        assert "kernel" not in node.attrs and rep["format"] == "int8", rep
        assert rep["weight_bytes"] == 256 * 64, rep
