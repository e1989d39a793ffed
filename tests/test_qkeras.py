"""Models trained elsewhere with QKeras (qkeras-v3) ternary / binary weight quantizers export like edgesdk's own.

A tiny QKeras CNN is trained once per session on scikit-learn's digits (2 epochs): an int8-like first conv
(``quantized_bits``), a ternary conv (``ternary(alpha="auto")``, per-channel α), a binary dense layer
(``binary()``, which QKeras gives per-channel power-of-two scales), an int8-like last layer. What is checked:

- the plain model edgesdk rebuilds computes what the QKeras model computes (its own forward pass);
- the real TFLite converter writes the ternary / binary layers as per-channel {-127, 0, 127} / {-127, 127}, the
  packed kernels are chosen (``report.json["kernels"]``), the generated C equals the reference bit for bit under
  ASan/UBSan, and the ``.tflite`` equals ai-edge-litert's BUILTIN_REF kernels;
- ``compress --method int8`` takes the saved QKeras model; binary activations and other quantized activations
  are refused in one sentence.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
qkeras = pytest.importorskip("qkeras")
if not hasattr(qkeras, "QDense"):  # hgq2's qkeras shim
    pytest.skip("the installed qkeras is not qkeras-v3", allow_module_level=True)

from edgesdk.compiler.model import load_model  # noqa: E402
from edgesdk.errors import ModelFormatError, UnsupportedOpError  # noqa: E402
from edgesdk.frontends.qkeras import plain_model, prepare_load  # noqa: E402
from edgesdk.reference import Reference  # noqa: E402
from hostbuild import GCC, generate_and_build, random_inputs, reference_outputs, run_host  # noqa: E402
from test_compress import _litert_outputs  # noqa: E402


@pytest.fixture(scope="session")
def qdigits(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32).reshape(-1, 8, 8, 1)
    y = d.target.astype(np.int64)
    idx = np.random.default_rng(1).permutation(len(x))
    tr, va = idx[:1400], idx[1400:]
    root = tmp_path_factory.mktemp("qkeras")
    np.savez(root / "train.npz", x=x[tr], y=y[tr])
    np.savez(root / "val.npz", x=x[va], y=y[va])
    return {"root": root, "x": x, "y": y, "tr": tr, "va": va}


@pytest.fixture(scope="session")
def qmodel(qdigits: dict) -> Path:
    from qkeras import QActivation, QConv2D, QDense, binary, quantized_bits, ternary

    keras.utils.set_random_seed(0)
    m = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            QConv2D(16, 3, padding="same", kernel_quantizer=quantized_bits(8, 0, alpha=1), name="c1"),
            QActivation("relu", name="a1"),
            QConv2D(33, 3, strides=2, padding="same", kernel_quantizer=ternary(alpha="auto"), name="c2"),
            QActivation("relu", name="a2"),
            keras.layers.Flatten(name="flat"),
            QDense(40, kernel_quantizer=binary(), activation="relu", name="d1"),
            QDense(10, kernel_quantizer=quantized_bits(8, 0, alpha=1), name="d2"),
            keras.layers.Activation("softmax", name="prob"),
        ],
        name="qk",
    )
    m.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    m.fit(qdigits["x"][qdigits["tr"]], qdigits["y"][qdigits["tr"]], epochs=2, batch_size=32, verbose=0)
    path = qdigits["root"] / "qk.keras"
    m.save(path)
    return path


@pytest.fixture(scope="session")
def qgraph(qmodel: Path, qdigits: dict):
    return load_model(qmodel, calib=qdigits["x"][qdigits["tr"][:200]])


def test_plain_model_computes_what_qkeras_computes(qmodel: Path, qdigits: dict) -> None:
    prepare_load(qmodel)
    m = keras.models.load_model(qmodel, compile=False)
    plain = plain_model(m)
    assert not any(type(la).__module__.startswith("qkeras") for la in plain.layers)
    assert [type(la).__name__ for la in plain.layers] == [
        "Conv2D", "Activation", "Conv2D", "Activation", "Flatten", "Dense", "Dense", "Activation",
    ]  # fmt: skip
    xv = qdigits["x"][qdigits["va"]]
    # float forward passes of the same values through the same ops: equal up to float32 summation order
    np.testing.assert_allclose(plain.predict(xv, verbose=0), m.predict(xv, verbose=0), rtol=1e-4, atol=1e-6)
    k = plain.get_layer("c2").get_weights()[0]
    for c in range(k.shape[-1]):
        assert len(np.unique(np.abs(k[..., c]))) <= 2  # α·{-1, 0, 1}
    k = plain.get_layer("d1").get_weights()[0]
    a = np.abs(k).max(axis=0)
    np.testing.assert_array_equal(np.abs(k), np.broadcast_to(a, k.shape))  # α·{-1, 1}
    np.testing.assert_array_equal(np.log2(a), np.round(np.log2(a)))  # binary() -> power-of-two scales


def test_converter_writes_planes_and_packed_kernels_run(qgraph, tmp_path: Path) -> None:
    g = qgraph
    weights = {n.name: g.tensor(n.inputs[1]).data for n in g.nodes if n.op in ("CONV_2D", "FULLY_CONNECTED")}
    c1, c2, d1, d2 = weights.values()
    assert set(np.unique(c2).tolist()) == {-127, 0, 127}
    assert all(set(np.unique(row).tolist()) <= {-127, 0, 127} for row in c2)
    assert set(np.unique(d1).tolist()) == {-127, 127}
    assert len(np.unique(c1)) > 3 and len(np.unique(d2)) > 3

    from edgesdk.commands.export import export

    report = export(g, "mps2-an386", tmp_path / "proj", optimize="size").report
    kernels = {k["kernel"] for k in report["kernels"]}
    assert {"ternary", "binary"} <= kernels, report["kernels"]
    saved = json.loads((tmp_path / "proj" / "report.json").read_text())
    assert {k["kernel"] for k in saved["kernels"]} == kernels

    xs = random_inputs(g.tensor(g.inputs[0]).size, 40, seed=8)
    if GCC is None:
        pytest.skip("needs host gcc")
    from edgesdk.passes import PassContext, run_pipeline

    decided = run_pipeline(g, "default", PassContext(core="cortex-m3"))  # no DSP: packed beats int8
    assert {n.attrs.get("kernel") for n in decided.nodes} >= {"ternary", "binary"}
    project, exe = generate_and_build(decided, tmp_path, sanitize=True)
    np.testing.assert_array_equal(run_host(exe, xs, project.output_size), reference_outputs(g, xs))


def test_tflite_equals_litert_builtin_ref(qmodel: Path, qdigits: dict, tmp_path: Path) -> None:
    from edgesdk.frontends.keras import quantize_keras
    from edgesdk.frontends.tflite import read_tflite

    data = quantize_keras(qmodel, qdigits["x"][qdigits["tr"][:200]])
    path = tmp_path / "qk.tflite"
    path.write_bytes(data)
    g = read_tflite(path)
    xs = random_inputs(g.tensor(g.inputs[0]).size, 40, seed=9)
    ref = Reference(g, rounding="single").run_batch(xs).reshape(len(xs), -1)
    np.testing.assert_array_equal(_litert_outputs(str(path), xs), ref)


def test_compress_int8_takes_the_qkeras_model(qmodel: Path, qdigits: dict) -> None:
    from edgesdk.compress import compress

    root = qdigits["root"]
    r = compress(
        qmodel, "int8", root / "train.npz", root / "val.npz", out=root / "qk_int8.tflite", progress=False
    )
    # The packed planes are what the --optimize size export stores.
    assert [la["size_format"] for la in r.layers] == ["int8", "ternary", "binary", "int8"]
    assert r.weight_bytes_size_export < r.weight_bytes_int8
    assert r.accuracy_compressed >= r.accuracy_float - 0.02


@pytest.mark.parametrize(
    "act,match",
    [
        ("binary", r"binary\(\) gives binary activations, .* edgesdk compress --method xnor "),
        ("binary_tanh", r"binary_tanh gives binary activations"),
        ("quantized_relu(4)", r"quantized_relu\(4,0\) is a quantized activation"),
    ],
)
def test_quantized_activations_refused(act: str, match: str, tmp_path: Path) -> None:
    from qkeras import QActivation, QDense, ternary

    m = keras.Sequential(
        [keras.Input((64,)), QDense(16, kernel_quantizer=ternary(), name="d"), QActivation(act, name="act"),
         QDense(10, name="out")],
        name="qact",
    )  # fmt: skip
    path = tmp_path / "qact.keras"
    m.save(path)
    calib = np.random.default_rng(0).random((8, 64), dtype=np.float32)
    with pytest.raises(UnsupportedOpError, match=r"^layer act of qact\.keras: QActivation " + match):
        load_model(path, calib=calib)


def test_missing_qkeras_is_one_sentence(qmodel: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "qkeras", None)  # what a machine without qkeras-v3 sees
    with pytest.raises(
        ModelFormatError, match=r"uses QKeras layers; install qkeras-v3 with pip install --no-deps"
    ):
        prepare_load(qmodel)
