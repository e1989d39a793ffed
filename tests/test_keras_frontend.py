"""Float models (Keras, SavedModel, float .tflite) + calibration data -> int8 IR in one call, and the int8
model still computes what the float model does (checked by running both in the real interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter, OpResolverType

import modelgen
from edgesdk.commands import cli
from edgesdk.compiler.model import load_calibration, load_model
from edgesdk.frontends.keras import load_keras, quantize_keras


def _run(model: bytes | Path, x: np.ndarray) -> np.ndarray:
    """Run a .tflite on float input ``x`` (batch 1), quantizing/dequantizing at int8 edges."""
    kw = {"model_content": model} if isinstance(model, bytes) else {"model_path": str(model)}
    it = Interpreter(**kw, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    if i["dtype"] == np.int8:
        s, z = i["quantization"]
        x = np.clip(np.round(x / s) + z, -128, 127).astype(np.int8)
    it.set_tensor(i["index"], x.reshape(i["shape"]).astype(i["dtype"]))
    it.invoke()
    y = it.get_tensor(o["index"])
    if o["dtype"] == np.int8:
        s, z = o["quantization"]
        y = (y.astype(np.float32) - z) * s
    return y


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path, Path, np.ndarray]:
    """A float Keras model saved as .keras, and its calibration data saved as .npy."""
    d = tmp_path_factory.mktemp("keras")
    model = modelgen.build_keras_model("tiny_classifier")
    calib = modelgen.calibration_data("tiny_classifier", (1, 11, 11, 3), n=24)
    path = d / "classifier.keras"
    model.save(path)
    npy = d / "calib.npy"
    np.save(npy, calib)
    return model, path, npy, calib


OPS = ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED", "SOFTMAX"]


def test_keras_file_and_npy_to_int8_ir(classifier: tuple) -> None:
    model, path, npy, calib = classifier
    g = load_model(path, calib=npy)
    assert [n.op for n in g.nodes] == OPS
    assert g.name == "classifier" and g.source == str(path) and len(g.sha256) == 64
    assert g.tensors[g.inputs[0]].dtype == "int8" and g.tensors[g.outputs[0]].dtype == "int8"
    assert g.tensors[g.inputs[0]].shape == (1, 11, 11, 3)
    w = g.tensors[g.nodes[0].inputs[1]]
    assert w.dtype == "int8" and w.quant.per_channel and w.quant.axis == 0


def test_int8_model_tracks_the_float_model(classifier: tuple) -> None:
    model, _, _, calib = classifier
    q = quantize_keras(model, calib)
    for x in calib[:4]:
        want = np.asarray(model(x[None], training=False))
        got = _run(q, x[None])
        assert np.abs(got - want).max() < 0.05  # softmax probabilities, int8 output step 1/256
        assert got.argmax() == want.argmax() or np.sort(want.ravel())[-2] > want.max() - 0.05


def test_cli_inspect_keras_with_calibration(classifier: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    _, path, npy, _ = classifier
    assert cli.main(["inspect", str(path), "--calib", str(npy), "--json"]) == 0
    out = capsys.readouterr().out
    summary = json.loads(out)
    assert [layer["op"] for layer in summary["layers"]] == OPS
    assert summary["totals"]["macs"] > 0


def test_in_memory_model_with_dynamic_batch_is_fixed_to_one() -> None:
    """A None batch would give SHAPE/STRIDED_SLICE/PACK ops; edgesdk converts it at batch 1."""
    import keras

    inp = keras.Input((5, 5, 2))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    x = keras.layers.Flatten()(x)
    m = keras.Model(inp, keras.layers.Dense(3)(x), name="dyn")
    calib = np.random.default_rng(0).normal(size=(16, 5, 5, 2)).astype(np.float32)
    g = load_keras(m, calib)
    assert [n.op for n in g.nodes] == ["CONV_2D", "RESHAPE", "FULLY_CONNECTED"]
    assert g.tensors[g.inputs[0]].shape == (1, 5, 5, 2) and g.name == "dyn"


def test_saved_model_folder(tmp_path: Path) -> None:
    model = modelgen.build_keras_model("dense_flatten")
    model.export(tmp_path / "sm", verbose=False)
    calib = modelgen.calibration_data("dense_flatten", (1, 4, 4, 3))
    g = load_model(tmp_path / "sm", calib=calib)
    assert [n.op for n in g.nodes] == ["RESHAPE", "FULLY_CONNECTED", "FULLY_CONNECTED"]
    assert g.tensors[g.inputs[0]].shape == (1, 4, 4, 3)


def test_float_tflite_ad_with_sample_folder(mlperf_dir: Path) -> None:
    """ad01_fp32 + the AD sample clip (a folder of raw float32 .bin) -> int8, close to the float model."""
    fp32 = mlperf_dir / "ad01_fp32.tflite"
    g = load_model(fp32, calib=mlperf_dir / "ad01_sample")
    assert [n.op for n in g.nodes] == ["FULLY_CONNECTED"] * 10
    assert g.tensors[g.inputs[0]].dtype == "int8" and g.source == str(fp32)
    samples = load_calibration(mlperf_dir / "ad01_sample", (1, 640))
    assert samples.shape == (40, 640)
    q = quantize_keras(fp32, mlperf_dir / "ad01_sample")
    for x in samples[:3]:
        want = _run(fp32, x[None])
        got = _run(q, x[None])
        rel = np.linalg.norm(got - want) / np.linalg.norm(want)
        assert rel < 0.1, rel


def test_float_tflite_ic(mlperf_dir: Path, ic_model: Path) -> None:
    calib = np.random.default_rng(3).uniform(0, 1, (16, 32, 32, 3)).astype(np.float32)
    g = load_model(mlperf_dir / "pretrainedResnet.tflite", calib=calib)
    ref = load_model(ic_model)
    assert [n.op for n in g.nodes] == [n.op for n in ref.nodes]
    assert [g.tensors[n.outputs[0]].shape for n in g.nodes] == [
        ref.tensors[n.outputs[0]].shape for n in ref.nodes
    ]


def test_calibration_formats(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 4, 4, 3)).astype(np.float32)
    np.savez(tmp_path / "c.npz", x=a)
    np.testing.assert_array_equal(load_calibration(tmp_path / "c.npz", (1, 4, 4, 3)), a)
    folder = tmp_path / "samples"
    folder.mkdir()
    np.save(folder / "a.npy", a[:2])
    a[2:].astype("<f4").tofile(folder / "b.bin")
    np.testing.assert_array_equal(load_calibration(folder, (1, 4, 4, 3)), a)
    np.testing.assert_array_equal(load_calibration(a[0], (1, 4, 4, 3)), a[:1])  # one sample, no batch
    assert load_calibration(a.astype(np.float64), [None, 4, 4, 3]).dtype == np.float32


def test_tensorflow_is_not_imported_for_int8_models(ic_model: Path) -> None:
    code = (
        "import sys\n"
        "from edgesdk.compiler.model import load_model\n"
        "from edgesdk.commands.inspection import summarize\n"
        "import edgesdk.commands.cli\n"
        f"summarize(load_model({str(ic_model)!r}))\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
