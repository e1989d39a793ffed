"""Every bad input a user can hand to edgesdk ends in one sentence in an edgesdk exception, and through
the CLI in that sentence on stderr, a non-zero exit code and no traceback."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edgesdk.commands import cli
from edgesdk.compiler.model import load_calibration, load_model
from edgesdk.errors import CalibrationError, EdgeSDKError, ModelFormatError, UnsupportedOpError
from edgesdk.frontends.keras import quantize_keras
from edgesdk.frontends.tflite import read_tflite


def _one_sentence(msg: str) -> None:
    assert msg and "\n" not in msg and "Traceback" not in msg
    assert msg.count(". ") == 0, f"more than one sentence: {msg}"


def _cli_fails(capsys: pytest.CaptureFixture[str], argv: list[str], exc_type: type[EdgeSDKError]) -> str:
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == exc_type.exit_code != 0
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("edgesdk ")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bad")


def _write(d: Path, name: str, data: bytes) -> Path:
    p = d / name
    p.write_bytes(data)
    return p


# --- files that are not (whole) TFLite models ---------------------------------------------------------------
def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "nope.tflite"
    with pytest.raises(ModelFormatError, match="does not exist") as ei:
        read_tflite(p)
    _one_sentence(str(ei.value))
    assert str(p) in _cli_fails(capsys, ["inspect", str(p)], ModelFormatError)


@pytest.mark.parametrize("keep", [0, 5, 100, 5000, 50_000, 98_000])
def test_truncated_file(
    keep: int, ic_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = _write(tmp_path, "cut.tflite", ic_model.read_bytes()[:keep])
    with pytest.raises(ModelFormatError) as ei:
        read_tflite(p)
    msg = str(ei.value)
    _one_sentence(msg)
    assert str(p) in msg
    assert ("truncated" in msg or "empty" in msg) and str(keep) in msg  # the size is named
    _cli_fails(capsys, ["inspect", str(p)], ModelFormatError)


def test_every_truncation_is_caught(ad_model: Path) -> None:
    data = ad_model.read_bytes()
    for keep in range(0, len(data), 997):
        with pytest.raises(ModelFormatError):
            read_tflite(data[:keep])


def test_random_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(1)
    p = _write(tmp_path, "random.tflite", rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ModelFormatError, match="is not a TFLite model: bytes 4..8") as ei:
        read_tflite(p)
    _one_sentence(str(ei.value))
    _cli_fails(capsys, ["inspect", str(p)], ModelFormatError)


def test_corrupted_model_never_leaks_a_parser_exception(ic_model: Path) -> None:
    """Random bytes behind a valid identifier, and a real model with bytes flipped: only our errors."""
    rng = np.random.default_rng(7)
    data = ic_model.read_bytes()
    for _ in range(60):
        blob = bytearray(rng.integers(0, 256, 2048, dtype=np.uint8).tobytes())
        blob[4:8] = b"TFL3"
        with pytest.raises(ModelFormatError):
            read_tflite(bytes(blob))
        flipped = bytearray(data)
        for pos in rng.integers(8, len(data), 8):
            flipped[pos] = rng.integers(0, 256)
        try:
            read_tflite(bytes(flipped))  # flipping weight bytes leaves a valid model
        except EdgeSDKError:
            pass


def _zip_bytes(d: Path) -> bytes:
    z = d / "m.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("config.json", "{}")
    return z.read_bytes()


@pytest.mark.parametrize(
    ("name", "make", "what"),
    [
        ("image.tflite", lambda d: b"\x89PNG\r\n\x1a\n" + bytes(64), "PNG"),
        ("model.tflite", _zip_bytes, "ZIP"),
        ("model.onnx", lambda d: b"\x08\x07\x12\x07pytorch\x1a\x032.0" + bytes(32), "ONNX"),
        ("model.json", lambda d: json.dumps({"layers": []}).encode(), "JSON"),
    ],
)
def test_other_format(
    name: str, make: object, what: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = _write(tmp_path, name, make(tmp_path))  # type: ignore[operator]
    with pytest.raises(ModelFormatError, match="is not a TFLite model") as ei:
        read_tflite(p)
    assert what in str(ei.value)
    _one_sentence(str(ei.value))
    line = _cli_fails(capsys, ["inspect", str(p)], ModelFormatError)
    # The CLI reads a .onnx file as ONNX (these bytes are not a valid one), anything else as TFLite.
    assert ("not an ONNX model" if name.endswith(".onnx") else "not a TFLite model") in line


def test_folder_that_is_not_a_saved_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(EdgeSDKError):
        load_model(tmp_path, calib=np.zeros((1, 4), np.float32))
    _cli_fails(capsys, ["inspect", str(tmp_path), "--calib", str(tmp_path)], ModelFormatError)


# --- models edgesdk cannot take ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def unsupported_models(bad_dir: Path) -> dict[str, Path]:
    """Real int8 models with an op edgesdk does not support (TANH, TRANSPOSE), converted for real.

    The op sits inside the graph: a graph output's tensor is named by the exporter
    (``StatefulPartitionedCall:0``), not by the layer, so there the layer is named after its op."""
    import keras

    out = {}
    inp = keras.Input((4, 6, 3), batch_size=1)
    x = keras.layers.Conv2D(4, 3, padding="same", name="features")(inp)
    x = keras.layers.Activation("tanh", name="squash")(x)
    m = keras.Model(inp, keras.layers.Conv2D(2, 1, name="head")(x))
    out["tanh"] = _write(
        bad_dir, "tanh.tflite", quantize_keras(m, np.random.default_rng(0).normal(size=(8, 4, 6, 3)))
    )
    inp = keras.Input((4, 6, 3), batch_size=1)
    x = keras.layers.Conv2D(4, 3, padding="same", name="features")(inp)
    x = keras.layers.Permute((2, 1, 3), name="swap_hw")(x)
    m = keras.Model(inp, keras.layers.Conv2D(2, 1, name="head")(x))
    out["transpose"] = _write(
        bad_dir, "transpose.tflite", quantize_keras(m, np.random.default_rng(0).normal(size=(8, 4, 6, 3)))
    )
    return out


@pytest.mark.parametrize(
    ("case", "op", "layer"), [("tanh", "TANH", "squash"), ("transpose", "TRANSPOSE", "swap_hw")]
)
def test_unsupported_op(
    case: str, op: str, layer: str, unsupported_models: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = unsupported_models[case]
    with pytest.raises(UnsupportedOpError) as ei:
        read_tflite(path)
    msg = str(ei.value)
    _one_sentence(msg)
    assert msg.startswith("layer ") and msg.endswith(f": op {op} is not supported")
    assert layer in msg.split(":")[0]  # the Keras layer's name
    line = _cli_fails(capsys, ["inspect", str(path)], UnsupportedOpError)
    assert f"op {op} is not supported" in line


def test_float_model_without_calibration(mlperf_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = mlperf_dir / "ad01_fp32.tflite"
    for call in (lambda: read_tflite(path), lambda: load_model(path)):
        with pytest.raises(CalibrationError, match="is a float model") as ei:
            call()
        _one_sentence(str(ei.value))
        assert "--calib" in str(ei.value)
    line = _cli_fails(capsys, ["inspect", str(path)], CalibrationError)
    assert "float model" in line


def test_keras_model_without_calibration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import keras

    inp = keras.Input((8,), batch_size=1)
    m = keras.Model(inp, keras.layers.Dense(2)(inp))
    p = tmp_path / "m.keras"
    m.save(p)
    with pytest.raises(CalibrationError, match="float model"):
        load_model(m)
    _cli_fails(capsys, ["inspect", str(p)], CalibrationError)


@pytest.fixture(scope="module")
def dynamic_batch_model(bad_dir: Path) -> Path:
    """A None-batch Keras model converted directly (not through edgesdk, which would fix the batch)."""
    import keras
    import tensorflow as tf

    inp = keras.Input((4, 4, 2))
    x = keras.layers.Flatten()(inp)
    m = keras.Model(inp, keras.layers.Dense(3)(x))
    conv = tf.lite.TFLiteConverter.from_keras_model(m)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    data = np.random.default_rng(0).normal(size=(8, 1, 4, 4, 2)).astype(np.float32)
    conv.representative_dataset = lambda: ([d] for d in data)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return _write(bad_dir, "dynamic.tflite", conv.convert())


def test_dynamic_batch(dynamic_batch_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ModelFormatError) as ei:
        read_tflite(dynamic_batch_model)
    msg = str(ei.value)
    assert msg.startswith("input ") and "has a dynamic batch dimension" in msg and "batch_size=1" in msg
    _one_sentence(msg)
    line = _cli_fails(capsys, ["inspect", str(dynamic_batch_model)], ModelFormatError)
    assert "dynamic batch dimension" in line


def test_int16_activations(bad_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import keras
    import tensorflow as tf

    inp = keras.Input((8,), batch_size=1)
    m = keras.Model(inp, keras.layers.Dense(4, activation="relu", name="hidden")(inp))
    conv = tf.lite.TFLiteConverter.from_keras_model(m)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    data = np.random.default_rng(0).normal(size=(8, 1, 8)).astype(np.float32)
    conv.representative_dataset = lambda: ([d] for d in data)
    conv.target_spec.supported_ops = [
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
    ]
    conv.inference_input_type = tf.int16
    conv.inference_output_type = tf.int16
    p = _write(bad_dir, "int16.tflite", conv.convert())
    with pytest.raises(UnsupportedOpError, match="int16 activations") as ei:
        read_tflite(p)
    _one_sentence(str(ei.value))
    _cli_fails(capsys, ["inspect", str(p)], UnsupportedOpError)


# --- calibration data -------------------------------------------------------------------------------------
def test_bad_calibration(tmp_path: Path, mlperf_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(CalibrationError, match=r"has shape \(10, 7\), which does not fit"):
        load_calibration(np.zeros((10, 7), np.float32), (1, 640))
    with pytest.raises(CalibrationError, match="NaN"):
        load_calibration(np.full((2, 640), np.nan, np.float32), (1, 640))
    with pytest.raises(CalibrationError, match="does not exist"):
        load_calibration(tmp_path / "none.npy", (1, 640))
    with pytest.raises(CalibrationError, match="holds no .npy or .bin"):
        load_calibration(tmp_path, (1, 640))
    (tmp_path / "odd.bin").write_bytes(b"\x00" * 7)
    with pytest.raises(CalibrationError, match="not a whole number of float32"):
        load_calibration(tmp_path / "odd.bin", (1, 640))
    bad = tmp_path / "wrong.npy"
    np.save(bad, np.zeros((3, 5), np.float32))
    line = _cli_fails(
        capsys, ["inspect", str(mlperf_dir / "ad01_fp32.tflite"), "--calib", str(bad)], CalibrationError
    )
    assert "does not fit" in line


def test_batched_model_input_refused_by_the_harness() -> None:
    """A model whose input has a batch above 1 is refused in one sentence before anything is built or sent
    (the device harness runs one sample at a time)."""
    import test_c_kernels as kernels
    from edgesdk.compiler.data import make_inputs

    graph = kernels.fc(8, 4, batches=2)("batched")
    with pytest.raises(EdgeSDKError, match=r"batch of 2 .*one sample at a time"):
        make_inputs(graph, None, 3)
