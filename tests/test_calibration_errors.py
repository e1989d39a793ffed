"""Calibration problems are calibration errors (exit 4) with a sentence about the data; a dynamic-range
("hybrid") quantized model is refused with a sentence saying what kind of model it is."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from edgesdk.commands.cli import main
from edgesdk.compiler.model import load_calibration, load_model
from edgesdk.errors import CalibrationError, UnsupportedOpError


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (np.zeros((4, 640), np.float32), "is all zeros"),
        (np.full((4, 640), 3.0, np.float32), "holds one value (3)"),
        (
            np.full((4, 640), 1e30, np.float32) * np.arange(1, 5, dtype=np.float32)[:, None],
            "values up to 4e+30",
        ),
    ],
)
def test_bad_calibration_data_is_a_calibration_error(
    data: np.ndarray, words: str, mlperf_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(
        CalibrationError, match=words.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")
    ):
        load_calibration(data, (1, 640))
    path = tmp_path / "calib.npy"
    np.save(path, data)
    assert main(["inspect", str(mlperf_dir / "ad01_fp32.tflite"), "--calib", str(path)]) == 4
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1 and f"calibration data {path}" in err


@pytest.fixture(scope="module")
def hybrid_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dynamic-range quantized model made by the real TFLiteConverter (Optimize.DEFAULT, no dataset)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(1)
    inp = keras.Input((32,), batch_size=1)
    model = keras.Model(inp, keras.layers.Dense(4)(keras.layers.Dense(64, activation="relu")(inp)))
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    path = tmp_path_factory.mktemp("hybrid") / "hybrid.tflite"
    path.write_bytes(conv.convert())
    return path


def test_hybrid_model_is_named_and_refused(
    hybrid_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ai_edge_litert import schema_py_generated as s

    m = s.ModelT.InitFromPackedBuf(hybrid_model.read_bytes(), 0)
    types = {int(t.type) for t in m.subgraphs[0].tensors}
    assert s.TensorType.INT8 in types and s.TensorType.FLOAT32 in types  # really a hybrid model
    calib = tmp_path / "c.npy"
    np.save(calib, np.random.default_rng(0).normal(size=(8, 32)).astype(np.float32))
    for args in ([], ["--calib", str(calib)]):
        assert main(["inspect", str(hybrid_model), *args]) == UnsupportedOpError.exit_code
        err = capsys.readouterr().err
        assert "dynamic-range (hybrid) quantized model" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(UnsupportedOpError, match="int8 weights with float activations"):
        load_model(hybrid_model, calib=calib)
