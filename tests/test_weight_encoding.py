"""Weights are encoded once, by the passes: the C backend writes the arrays the nodes carry, and one function
(:func:`edgesdk.compiler.weight_encoding.weight_bytes`) gives the weight bytes the report, ``layer_weights`` and the passes show,
equal to the sizes of the arrays in the written C."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

import test_c_kernels as kernels
from edgesdk.backends.c import generate_c
from edgesdk.compiler import weight_encoding as encodings
from edgesdk.ir import graph as ir
from edgesdk.ir import weightformats as wf
from edgesdk.numerics.weights import layer_weights
from edgesdk.passes import PassContext, run_pipeline
from test_compact_kernels import SHIFT_CASES
from test_compressed_kernels import CHAIN_KERNELS, _chain

_ARRAY = re.compile(r"static const (\w+) (\w+)\[(\d+)\] \w+_ALIGNED\(4\) = \{([^}]*)\};")
_SIZES = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "int32_t": 4, "uint32_t": 4}


def _written(model_c: Path) -> dict[str, tuple[str, np.ndarray]]:
    """Every constant array of a generated model source: name -> (C type, values)."""
    out = {}
    for ctype, name, length, init in _ARRAY.findall(model_c.read_text()):
        values = np.array([int(v.strip().rstrip("uUlL") or 0) for v in init.split(",")], dtype=np.int64)
        assert values.size == int(length)
        out[name] = (ctype, values)
    return out


def _one_magnitude_ternary(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Ternary rows {-a, 0, a} (one magnitude a row: the DSP codes FC stores them as base-3 codes)."""
    rows = np.empty((shape[0], int(np.prod(shape[1:]))), dtype=np.int64)
    for r in range(shape[0]):
        a = 127 if r % 2 else int(rng.integers(1, 128))
        rows[r] = rng.choice([-a, 0, a], rows.shape[1])
    return rows.reshape(shape).astype(np.int8)


def _models() -> list[tuple[ir.Graph, PassContext, str | None]]:
    """Every compressed kernel (pattern, codebook, sparse, sparse codebook; portable), the ternary codes FC of
    the Cortex-M DSP target (33 inputs: the codes take 9 bytes a row, the two bit-planes 16), the shift
    kernel's tables, and the DSP target's int8 FC order and int16 FC weights."""
    chain = run_pipeline(_chain("enc_chain"), "default", PassContext(force=CHAIN_KERNELS))
    codes_graph = kernels.fc(33, 31, per_channel=True, data=_one_magnitude_ternary)("enc_codes")
    dsp = PassContext(core="cortex-m4", optimize="size", force={"fc": "ternary"})
    shift = run_pipeline(SHIFT_CASES["shift_9x9_c3_m2_k3_s2_valid"]("enc_shift"), "default", PassContext())
    m4 = PassContext(core="cortex-m4", optimize="speed", options={"flash_bytes": 1 << 20})
    int8_fc = run_pipeline(
        kernels.fc(37, 9, per_channel=True)("enc_fc8"), "default", dataclasses.replace(m4, optimize="size")
    )
    w16_fc = run_pipeline(kernels.fc(37, 9, per_channel=True)("enc_fc16"), "default", m4)
    return [
        (chain, PassContext(), None),
        (run_pipeline(codes_graph, "default", dsp), dsp, dsp.target),
        (shift, PassContext(), None),
        (int8_fc, m4, m4.target),
        (w16_fc, m4, m4.target),
    ]


@pytest.fixture(scope="module")
def models() -> list[tuple[ir.Graph, PassContext, str | None]]:
    return _models()


def _fail(*_args, **_kwargs):
    raise AssertionError("the C backend encoded weights again")


def test_passes_store_one_encoding_per_weight_layer(models) -> None:
    """After the pipeline each weight layer carries the encoding of its chosen kernel, for the context's target."""
    chain, _, target = models[0]
    for node in chain.nodes:
        if node.op in ("CONV_2D", "FULLY_CONNECTED"):
            enc = node.attrs["encoding"]
            assert isinstance(enc, encodings.Encoding)
            assert enc.key == encodings.encoding_key(node, target)
            assert enc.kind == node.attrs["kernel"]
    codes, _, dsp = models[1]
    enc = codes.nodes[0].attrs["encoding"]
    assert enc.kind == "ternary" and enc.info["codes"] and "codes" in enc and "plane_pos" not in enc
    kinds = [
        (g.nodes[0].attrs.get("kernel", ""), g.nodes[0].attrs["encoding"].kind) for g, _, _ in models[2:]
    ]
    assert kinds == [("shift", "shift"), ("", "int8"), ("w16", "int16")]
    fc8 = models[3][0]
    w = np.asarray(fc8.tensor(fc8.nodes[0].inputs[1]).data)
    np.testing.assert_array_equal(fc8.nodes[0].attrs["encoding"]["weights"].values, wf.fc_weights_dsp(w))


def test_backend_writes_the_nodes_arrays_without_encoding_again(
    models, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every encoder made to fail, the backend still writes each layer's weights: the arrays of the node's
    encoding, value for value and type for type."""
    for name in (
        "weight_planes",
        "code_rows",
        "interleave_rows4",
        "sparse_encode",
        "codebook_encode",
        "pattern_encode",
        "fc_weights_dsp",
        "fc_weights_w16",
    ):
        monkeypatch.setattr(wf, name, _fail)
    monkeypatch.setattr(encodings, "encode_node", _fail)
    for k, (graph, _, target) in enumerate(models):
        project = generate_c(graph, tmp_path / str(k), target=target)
        written = _written(tmp_path / str(k) / f"{project.model_name}.c")
        for node in graph.nodes:
            enc = node.attrs.get("encoding")
            if enc is None:
                continue
            for what, arr in enc.arrays.items():
                ctype, values = written[f"{project.model_name}_{node.name}_{what}"]
                assert ctype == arr.ctype
                np.testing.assert_array_equal(values, arr.values)


def test_one_weight_byte_count_agrees_with_the_written_file(models, tmp_path: Path) -> None:
    """``weight_encoding.weight_bytes`` = the bytes of the layer's weight arrays in the generated C = the export
    report's figures (``layer_weights`` and the kernel report); the layer's flash adds its bias and
    requantization arrays."""
    for k, (graph, _, target) in enumerate(models):
        project = generate_c(graph, tmp_path / str(k), target=target)
        written = _written(tmp_path / str(k) / f"{project.model_name}.c")
        rows = {r["name"]: r for r in layer_weights(graph, project.layer_flash, target)}
        for node in graph.nodes:
            nbytes = encodings.weight_bytes(graph, node, target)
            if nbytes is None:
                continue
            prefix = f"{project.model_name}_{node.name}_"
            in_file = {n: _SIZES[c] * v.size for n, (c, v) in written.items() if n.startswith(prefix)}
            weights = sum(in_file[prefix + what] for what in node.attrs["encoding"].arrays)
            assert nbytes == weights == rows[node.name]["weight_bytes"]
            assert node.attrs["kernel_report"]["weight_bytes"] == nbytes
            assert project.layer_flash[node.name] == sum(in_file.values())
    codes = models[1][0].nodes[0]
    planes = wf.weight_planes(codes_w := np.asarray(models[1][0].tensor(codes.inputs[1]).data))
    assert planes is not None and codes_w.shape == (31, 33)
    assert encodings.weight_bytes(models[1][0], codes, models[1][2]) == 31 * 9 + 31 * 2 < planes.stored_bytes


def test_a_graph_without_passes_is_encoded_by_the_same_function(tmp_path: Path) -> None:
    """A hand-annotated graph (no pipeline run) gets its encoding from ``encode_node`` at lowering, not stored."""
    graph = _chain("enc_bare")
    for node in graph.nodes:
        if node.name in CHAIN_KERNELS:
            node.attrs["kernel"] = CHAIN_KERNELS[node.name]
    generate_c(graph, tmp_path)
    assert not any("encoding" in n.attrs for n in graph.nodes)
    piped = run_pipeline(_chain("enc_bare"), "default", PassContext(force=CHAIN_KERNELS))
    for a, b in zip(graph.nodes, piped.nodes, strict=True):
        enc = encodings.node_encoding(graph, a, None)
        if enc is not None:
            assert enc.nbytes == b.attrs["encoding"].nbytes
            for what, arr in enc.arrays.items():
                np.testing.assert_array_equal(arr.values, b.attrs["encoding"][what].values)


@pytest.mark.parametrize("out", [1, 3, 4, 7, 8, 12, 16, 29, 33])
def test_scalar_fc_layout_is_blocks_of_rows_column_by_column(out: int) -> None:
    """``fc_weights_scalar``: blocks of 16 rows, then one of 8 and one of 4 where that many are left, each block
    column by column (weight (o, i) of a block of b rows from row r0 at ``start + i * b + o - r0``), the last
    ``out % 4`` rows row-major; the scalar target's FC encoding is that order."""
    n = 5
    w = np.arange(out * n, dtype=np.int64).reshape(out, n)
    want, o = [], 0
    for size in [16] * (out // 16) + [8, 4]:
        if out - o >= size:
            want += [int(w[o + r, i]) for i in range(n) for r in range(size)]
            o += size
    want += [int(v) for v in w[o:].reshape(-1)]
    np.testing.assert_array_equal(wf.fc_weights_scalar(w), want)
    graph = kernels.fc(n, out)(f"fc_{n}_{out}")
    wt = np.asarray(graph.tensor(graph.nodes[0].inputs[1]).data)
    enc = encodings.encode_node(graph, graph.nodes[0], encodings.SCALAR_TARGET)
    np.testing.assert_array_equal(enc["weights"].values, wf.fc_weights_scalar(wt))
