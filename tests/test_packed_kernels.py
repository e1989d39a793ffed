"""The packed ternary / binary kernels (``ed_packed.c``) against the reference, over shapes that cross word edges.

One table of cases (channel counts 1, 31, 32, 33, 63, 64, 65; odd spatial sizes; stride 1 and 2; SAME and VALID;
kernel 1, 3 and 5; symmetric {-127,0,127} and per-channel asymmetric {-a,0,b} weights; an all-zero channel; a
nonzero input zero point). All cases are independent sub-graphs of ONE generated model, so the table costs one
compile: host gcc with -Werror under AddressSanitizer and UndefinedBehaviorSanitizer. The packed kernels must
give the int8 reference's outputs bit for bit; the pass must have chosen them (forced per layer), and the
reported weight bytes must be the bit-planes'.
"""

from __future__ import annotations

import shutil
import zlib

import numpy as np
import pytest

from edgesdk.ir import graph as ir
from edgesdk.passes import PassContext
from edgesdk.reference.binary import code_rows, pack_bits, unpack_bits, weight_planes
from hostbuild import GCC
from kerneltable import KernelTable, run_table

pytestmark = pytest.mark.skipif(GCC is None, reason="needs host gcc")
N_INPUTS = 24
CHANNELS = (1, 31, 32, 33, 63, 64, 65)


def _out_hw(size: int, k: int, s: int, padding: str) -> int:
    return (size + s - 1) // s if padding == "SAME" else (size - k + s) // s


def _case_list() -> list[tuple[str, dict]]:
    cases = []
    for kind in ("ternary", "binary"):
        for i, c in enumerate(CHANNELS):
            cases.append((f"fc_{kind}_in{c}", dict(op="fc", kind=kind, n_in=c, n_out=(5, 33, 2)[i % 3])))
        for i, c in enumerate(CHANNELS):
            k, s, pad = ((3, 1, "SAME"), (3, 2, "VALID"), (1, 1, "VALID"), (5, 2, "SAME"))[i % 4]
            h, w = ((5, 7), (7, 5), (9, 9), (3, 5))[i % 4]
            cases.append(
                (
                    f"conv_{kind}_{h}x{w}_c{c}_k{k}_s{s}_{pad.lower()}",
                    dict(op="conv", kind=kind, h=h, w=w, cin=c, cout=(3, 4, 2)[i % 3], k=k, s=s, pad=pad),
                )
            )
    # Receptive fields above the gathered window (1152 bytes): the set-bit conv path.
    for kind in ("ternary", "binary"):
        cases.append(
            (
                f"conv_{kind}_5x5_c65_k5_s1_same_setbits",
                dict(op="conv", kind=kind, h=5, w=5, cin=65, cout=3, k=5, s=1, pad="SAME"),
            )
        )
    # Inputs past one 128-input table chunk, outputs past one 32-channel tile, batches.
    cases.append(("fc_ternary_in129_out40", dict(op="fc", kind="ternary", n_in=129, n_out=40)))
    cases.append(("fc_binary_in300_out65", dict(op="fc", kind="binary", n_in=300, n_out=65)))
    cases.append(("fc_ternary_asym_zero_row", dict(op="fc", kind="ternary", n_in=40, n_out=6, asym=True)))
    cases.append(("fc_binary_asym", dict(op="fc", kind="binary", n_in=33, n_out=4, asym=True)))
    # One magnitude a row, different per row (the codes kernel's per-row scale); past one 256-input chunk.
    cases.append(
        ("fc_ternary_rowmag_in70_out9", dict(op="fc", kind="ternary", n_in=70, n_out=9, rowmag=True))
    )
    cases.append(
        ("fc_binary_rowmag_in257_out33", dict(op="fc", kind="binary", n_in=257, n_out=33, rowmag=True))
    )
    for kind, cin, cout in (
        ("ternary", 33, 9),
        ("binary", 70, 6),
    ):  # 1x1: the codes FC over the pixels on DSP
        spec = dict(op="conv", kind=kind, h=5, w=3, cin=cin, cout=cout, k=1, s=1, pad="SAME", rowmag=True)
        cases.append((f"conv_{kind}_rowmag_5x3_c{cin}_k1", spec))
    cases.append(
        (
            "conv_ternary_asym_7x7_c33_k3_s2_same",
            dict(op="conv", kind="ternary", h=7, w=7, cin=33, cout=3, k=3, s=2, pad="SAME", asym=True),
        )
    )
    return cases


CASES = _case_list()


def _structured(
    rng: np.random.Generator, shape: tuple[int, ...], kind: str, asym: bool, rowmag: bool = False
) -> np.ndarray:
    rows = shape[0]
    k = int(np.prod(shape[1:]))
    vals = rng.integers(0, 3 if kind == "ternary" else 2, (rows, k))
    b = rng.integers(20, 128, rows) if asym or rowmag else np.full(rows, 127)
    a = rng.integers(20, 128, rows) if asym else b.copy()
    b[0] = a[0] = 127  # per-channel quantization maps the larger magnitude to 127
    if kind == "ternary":
        w = np.where(vals == 1, b[:, None], np.where(vals == 2, -a[:, None], 0))
        if asym:
            w[-1] = 0  # an all-zero channel
    else:
        w = np.where(vals == 1, b[:, None], -a[:, None])
    return w.reshape(shape).astype(np.int8)


def _add_case(g: ir.Graph, name: str, spec: dict, rng: np.random.Generator) -> ir.Node:
    def q(scale, zp=0, axis=None):
        return ir.QuantParams(np.asarray(scale, dtype=np.float64), zp, axis)

    def act(tname: str, shape: tuple[int, ...]) -> str:
        g.add_tensor(ir.Tensor(tname, shape, "int8", q(rng.uniform(0.01, 0.1), int(rng.integers(-20, 20)))))
        return tname

    asym = spec.get("asym", False)
    if spec["op"] == "fc":
        x = act(f"{name}_x", (1, spec["n_in"]))
        y = act(f"{name}_y", (1, spec["n_out"]))
        wshape: tuple[int, ...] = (spec["n_out"], spec["n_in"])
    else:
        oh, ow = (_out_hw(spec[d], spec["k"], spec["s"], spec["pad"]) for d in ("h", "w"))
        x = act(f"{name}_x", (1, spec["h"], spec["w"], spec["cin"]))
        y = act(f"{name}_y", (1, oh, ow, spec["cout"]))
        wshape = (spec["cout"], spec["k"], spec["k"], spec["cin"])
    o = wshape[0]
    scales = rng.uniform(0.0005, 0.003, o)
    g.add_tensor(
        ir.Tensor(
            f"{name}_w",
            wshape,
            "int8",
            q(scales, np.zeros(o, np.int64), 0),
            _structured(rng, wshape, spec["kind"], asym, spec.get("rowmag", False)),
        )
    )
    g.add_tensor(
        ir.Tensor(
            f"{name}_b",
            (o,),
            "int32",
            q(np.ones(o), np.zeros(o, np.int64), 0),
            rng.integers(-3000, 3000, o).astype(np.int32),
        )
    )
    inputs = [x, f"{name}_w", f"{name}_b"]
    if spec["op"] == "fc":
        node: ir.Node = ir.FullyConnected(name=name, inputs=inputs, outputs=[y])
    else:
        node = ir.Conv2D(
            name=name, inputs=inputs, outputs=[y], stride=(spec["s"], spec["s"]), padding=spec["pad"]
        )
    g.inputs.append(x)
    g.outputs.append(y)
    g.nodes.append(node)
    return node


def _table(
    name: str, cases: list[tuple[str, dict]], out_dir, seed: int, target: str | None = None
) -> KernelTable:
    """Build the cases into one graph, let the pass choose (forced per layer), compile under sanitizers, run."""
    g = ir.Graph(name=name)
    for case, spec in cases:
        _add_case(g, case, spec, np.random.default_rng(zlib.crc32(case.encode())))
    g.validate()
    return run_table(
        g,
        {case: [f"{case}_y"] for case, _ in cases},
        out_dir,
        ctx=PassContext(core="cortex-m4", force={case: spec["kind"] for case, spec in cases}),
        n_inputs=N_INPUTS,
        seed=seed,
        target=target,
    )


@pytest.fixture(scope="session")
def packed_table(tmp_path_factory: pytest.TempPathFactory) -> KernelTable:
    """Every case with the portable kernels."""
    return _table("packed_table", CASES, tmp_path_factory.mktemp("packed_table"), seed=8)


@pytest.mark.parametrize("case", [c for c, _ in CASES])
def test_packed_kernel_bit_exact(case: str, packed_table: KernelTable) -> None:
    node = next(n for n in packed_table.graph.nodes if n.name == case)
    spec = dict(CASES)[case]
    assert node.attrs["kernel"] == spec["kind"]
    assert node.attrs["kernel_report"]["format"] == spec["kind"]
    got, want = packed_table.outputs(case)
    np.testing.assert_array_equal(got, want)


#: The cases the codes kernel takes on DSP targets where rows have one magnitude: FC and 1x1 stride-1 conv.
FC_CASES = [(c, spec) for c, spec in CASES if spec["op"] == "fc" or (spec["k"], spec["s"]) == (1, 1)]


@pytest.fixture(scope="session")
def packed_codes_table(tmp_path_factory: pytest.TempPathFactory) -> KernelTable:
    """The FC cases built for the Cortex-M DSP kernel target (its SIMD operations as portable C on the host)."""
    return _table("packed_codes", FC_CASES, tmp_path_factory.mktemp("packed_codes"), 9, "cortex-m-dsp")


@pytest.mark.parametrize("case", [c for c, _ in FC_CASES])
def test_packed_fc_codes_kernel_bit_exact(case: str, packed_codes_table: KernelTable) -> None:
    """On DSP cores a ternary/binary FC with one magnitude a row runs the codes kernel (ed_fc_codes.c); rows
    with two magnitudes keep the bit-plane one. Both equal the reference bit for bit."""
    spec = dict(FC_CASES)[case]
    c_text = (packed_codes_table.out_dir / "packed_codes.c").read_text()
    assert (f"{case}_codes" in c_text) == (not spec.get("asym", False))
    got, want = packed_codes_table.outputs(case)
    np.testing.assert_array_equal(got, want)


def test_code_rows_round_trip() -> None:
    """Codes hold the planes' weights: ternary four a byte in base 3, binary one bit each, least significant
    first; rows with two magnitudes have no codes."""
    rng = np.random.default_rng(3)
    for kind, k in (("ternary", 7), ("ternary", 33), ("binary", 9), ("binary", 64)):
        t = rng.integers(-1 if kind == "ternary" else 0, 2, (5, k))
        if kind == "binary":
            t = 2 * t - 1
        mag = rng.integers(1, 128, (5, 1))
        planes = weight_planes((t * mag).astype(np.int8), allow_binary=kind == "binary")
        assert planes is not None and planes.kind == kind
        found = code_rows(planes)
        assert found is not None and found[0].dtype == np.uint8
        codes, mags = found
        np.testing.assert_array_equal(mags, mag[:, 0])
        if kind == "ternary":
            assert codes.max() <= 80
            got = (codes[:, :, None] // np.array([1, 3, 9, 27]) % 3 - 1).reshape(5, -1)[:, :k]
        else:
            got = 2 * np.unpackbits(codes, axis=1, bitorder="little")[:, :k].astype(np.int64) - 1
        np.testing.assert_array_equal(got, t)
    assert code_rows(weight_planes(np.array([[127, 0, -90]], dtype=np.int8))) is None  # type: ignore[arg-type]


def test_packing_round_trip_and_tails() -> None:
    rng = np.random.default_rng(0)
    for k in CHANNELS:
        bits = rng.integers(0, 2, (3, k)).astype(bool)
        words = pack_bits(bits)
        assert words.shape == (3, (k + 31) // 32) and words.dtype == np.uint32
        np.testing.assert_array_equal(unpack_bits(words, k), bits)
        tail = k % 32
        if tail:
            assert np.all(words[:, -1] >> np.uint32(tail) == 0), "bits past the row must be zero"


def test_pass_leaves_other_weights_int8() -> None:
    w = np.array([[127, 0, -127], [127, 5, -127]], dtype=np.int8)
    assert weight_planes(w) is None
    p = weight_planes(np.array([[127, -127, 127], [-90, 127, 127]], dtype=np.int8))
    assert p is not None and p.kind == "binary" and p.symmetric is None
    np.testing.assert_array_equal(p.wneg, [127, 90])
    t = weight_planes(np.array([[127, 0, -127, 0] * 16], dtype=np.int8))
    assert t is not None and t.kind == "ternary" and t.symmetric == 127 and t.stored_bytes == 2 * 2 * 4


@pytest.mark.emulator
@pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="needs qemu-system-arm and arm-none-eabi-gcc",
)
@pytest.mark.parametrize("kind,op", [("ternary", "fc"), ("binary", "fc"), ("ternary", "conv")])
def test_fc_codes_kernel_on_emulated_cortex_m4(tmp_path, kind: str, op: str) -> None:
    """The codes kernel with the real SMLAD on the emulated Cortex-M4 (FC 70 -> 9 / 257 -> 33; a 1x1 conv
    33 -> 9 on 5 x 3 pixels): the board's outputs equal the reference."""
    import test_c_kernels as kernels
    from edgesdk.commands.device import validate

    def data(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        return _structured(rng, shape, kind, asym=False, rowmag=True)

    if op == "fc":
        n_in, n_out = (70, 9) if kind == "ternary" else (257, 33)
        graph = kernels.fc(n_in, n_out, per_channel=True, data=data)(f"codes_{kind}")
    else:
        graph = kernels.conv(5, 3, 33, 9, 1, 1, "SAME", data=data)(f"codes_{kind}_{op}")
    ctx = PassContext(force={graph.nodes[0].name: kind})
    summary = validate(graph, "mps2-an386", count=3, out_dir=tmp_path / "v", pass_ctx=ctx)
    assert summary.count == summary.exact == 3, summary.to_dict()
    c_text = "".join(f.read_text() for f in (tmp_path / "v").rglob("*.c"))
    assert f"ed_fc_{kind}_codes_s8(" in c_text
