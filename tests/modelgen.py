"""Small random Keras 3 models, quantized to int8 by the real TFLite converter, for bit-exact tests.

Every case is seeded, so the same id gives the same float model, the same calibration data and (with the
same TensorFlow) the same int8 ``.tflite``. Conversions are cached on disk under a directory chosen by the
caller (the tests use a session tmp dir), so each case converts once per session::

    from modelgen import CASES, build_case
    path = build_case("conv_same_s1_relu", tmp_path_factory.getbasetemp() / "modelgen")

The set covers the shapes that break kernels: odd spatial sizes (7, 9, 11), stride 1 and 2, SAME and
VALID, 1/3/31/32/33 channels, depth multiplier 1 and >1, dilation, fused RELU/RELU6, pooling, residual
ADD, MUL, CONCATENATION, PAD, MEAN, FULLY_CONNECTED, SOFTMAX and LOGISTIC. Every model is built on
``keras.Input(shape, batch_size=1)`` (a static batch keeps SHAPE/PACK ops out of the converted graph).

TensorFlow is imported only when a case is actually built.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: Bump when a case's definition changes, so stale caches are not reused.
GENERATOR_VERSION = 1
#: Calibration samples per case (enough for stable ranges, small enough to convert fast).
CALIB_SAMPLES = 32


def _conv_same_s1_relu(k: Any) -> tuple[Any, Any]:
    inp = k.Input((9, 9, 3), batch_size=1)
    x = k.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    return inp, x


def _conv_valid_s2_relu6(k: Any) -> tuple[Any, Any]:
    inp = k.Input((11, 11, 1), batch_size=1)
    x = k.layers.Conv2D(31, 3, strides=2, padding="valid", activation="relu6")(inp)
    return inp, x


def _conv_same_s2_c32_c33(k: Any) -> tuple[Any, Any]:
    inp = k.Input((7, 7, 32), batch_size=1)
    x = k.layers.Conv2D(33, 3, strides=2, padding="same")(inp)
    return inp, x


def _conv_1x1_c33_c32_dilated(k: Any) -> tuple[Any, Any]:
    inp = k.Input((9, 9, 33), batch_size=1)
    x = k.layers.Conv2D(32, 1, activation="relu")(inp)
    x = k.layers.Conv2D(3, 3, dilation_rate=2, padding="same")(x)
    return inp, x


def _dw_m1_same_s1_relu(k: Any) -> tuple[Any, Any]:
    inp = k.Input((9, 9, 31), batch_size=1)
    x = k.layers.DepthwiseConv2D(3, padding="same", activation="relu")(inp)
    return inp, x


def _dw_m2_valid_s2(k: Any) -> tuple[Any, Any]:
    inp = k.Input((11, 11, 3), batch_size=1)
    x = k.layers.DepthwiseConv2D(3, strides=2, padding="valid", depth_multiplier=2)(inp)
    return inp, x


def _dw_m3_same_s2_c1_relu6(k: Any) -> tuple[Any, Any]:
    inp = k.Input((7, 7, 1), batch_size=1)
    x = k.layers.DepthwiseConv2D(5, strides=2, padding="same", depth_multiplier=3, activation="relu6")(inp)
    return inp, x


def _dense_flatten(k: Any) -> tuple[Any, Any]:
    inp = k.Input((4, 4, 3), batch_size=1)
    x = k.layers.Flatten()(inp)
    x = k.layers.Dense(33, activation="relu")(x)
    x = k.layers.Dense(10)(x)
    return inp, x


def _dense_1d_relu6_sigmoid(k: Any) -> tuple[Any, Any]:
    inp = k.Input((32,), batch_size=1)
    x = k.layers.Dense(31, activation="relu6")(inp)
    x = k.layers.Dense(1, activation="sigmoid")(x)
    return inp, x


def _avgpool(k: Any) -> tuple[Any, Any]:
    inp = k.Input((9, 9, 8), batch_size=1)
    x = k.layers.AveragePooling2D(2, strides=2, padding="valid")(inp)
    x = k.layers.AveragePooling2D(3, strides=1, padding="same")(x)
    return inp, x


def _maxpool(k: Any) -> tuple[Any, Any]:
    inp = k.Input((7, 7, 32), batch_size=1)
    x = k.layers.MaxPooling2D(2, strides=2, padding="same")(inp)
    x = k.layers.MaxPooling2D(3, strides=1, padding="valid")(x)
    return inp, x


def _residual_add(k: Any) -> tuple[Any, Any]:
    inp = k.Input((9, 9, 16), batch_size=1)
    x = k.layers.Conv2D(16, 3, padding="same", activation="relu")(inp)
    x = k.layers.Conv2D(16, 3, padding="same")(x)
    x = k.layers.Add()([x, inp])
    x = k.layers.Activation("relu")(x)
    return inp, x


def _mul(k: Any) -> tuple[Any, Any]:
    inp = k.Input((7, 7, 3), batch_size=1)
    a = k.layers.Conv2D(8, 1)(inp)
    b = k.layers.Conv2D(8, 3, padding="same")(inp)
    x = k.layers.Multiply()([a, b])
    return inp, x


def _concat(k: Any) -> tuple[Any, Any]:
    inp = k.Input((9, 9, 3), batch_size=1)
    a = k.layers.Conv2D(5, 1, activation="relu")(inp)
    b = k.layers.Conv2D(11, 3, padding="same")(inp)
    x = k.layers.Concatenate(axis=-1)([a, b, inp])
    return inp, x


def _zero_pad_conv(k: Any) -> tuple[Any, Any]:
    inp = k.Input((7, 7, 3), batch_size=1)
    x = k.layers.ZeroPadding2D(((1, 2), (2, 1)))(inp)
    x = k.layers.Conv2D(4, 3, strides=2, padding="valid", activation="relu")(x)
    return inp, x


def _tiny_classifier(k: Any) -> tuple[Any, Any]:
    inp = k.Input((11, 11, 3), batch_size=1)
    x = k.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(inp)
    y = k.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    y = k.layers.Conv2D(16, 1)(y)
    x = k.layers.Add()([x, y])
    x = k.layers.GlobalAveragePooling2D()(x)
    x = k.layers.Dense(10)(x)
    x = k.layers.Softmax()(x)
    return inp, x


_BUILDERS: dict[str, Callable[[Any], tuple[Any, Any]]] = {
    "conv_same_s1_relu": _conv_same_s1_relu,
    "conv_valid_s2_relu6": _conv_valid_s2_relu6,
    "conv_same_s2_c32_c33": _conv_same_s2_c32_c33,
    "conv_1x1_dilated": _conv_1x1_c33_c32_dilated,
    "dw_m1_same_s1_relu": _dw_m1_same_s1_relu,
    "dw_m2_valid_s2": _dw_m2_valid_s2,
    "dw_m3_same_s2_relu6": _dw_m3_same_s2_c1_relu6,
    "dense_flatten": _dense_flatten,
    "dense_1d_sigmoid": _dense_1d_relu6_sigmoid,
    "avgpool": _avgpool,
    "maxpool": _maxpool,
    "residual_add": _residual_add,
    "mul": _mul,
    "concat": _concat,
    "zero_pad_conv": _zero_pad_conv,
    "tiny_classifier": _tiny_classifier,
}

#: Case ids, in a stable order (use them as pytest parameter ids).
CASES: list[str] = list(_BUILDERS)


def _seed(case_id: str) -> int:
    return int.from_bytes(hashlib.sha256(case_id.encode()).digest()[:4], "little")


def build_keras_model(case_id: str) -> Any:
    """Build the float Keras model of ``case_id`` with seeded random weights (biases non-zero too)."""
    if case_id not in _BUILDERS:
        raise KeyError(f"unknown modelgen case {case_id!r}; known: {', '.join(CASES)}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    keras.backend.clear_session()  # layer names (conv2d, conv2d_1, ...) then do not depend on build order
    keras.utils.set_random_seed(_seed(case_id))
    inp, out = _BUILDERS[case_id](keras)
    model = keras.Model(inp, out, name=case_id)
    rng = np.random.default_rng(_seed(case_id))
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        fan_in = max(1, int(np.prod(weights[0].shape[:-1])))
        new = [rng.normal(0.0, 1.0 / np.sqrt(fan_in), w.shape).astype(np.float32) for w in weights[:1]]
        new += [rng.normal(0.0, 0.1, w.shape).astype(np.float32) for w in weights[1:]]
        layer.set_weights(new)
    return model


def calibration_data(case_id: str, input_shape: tuple[int, ...], n: int = CALIB_SAMPLES) -> np.ndarray:
    """Seeded random calibration samples, shape ``(n, *input_shape[1:])``, float32 in about [-1.5, 1.5]."""
    rng = np.random.default_rng(_seed(case_id) + 1)
    return rng.uniform(-1.5, 1.5, (n, *input_shape[1:])).astype(np.float32)


def input_shape(case_id: str) -> tuple[int, ...]:
    """The (batch-1) input shape of a case, without building the model."""
    import keras

    if case_id not in _BUILDERS:
        raise KeyError(f"unknown modelgen case {case_id!r}")
    inp, _ = _BUILDERS[case_id](keras)
    return tuple(int(d) for d in inp.shape)


def build_case(case_id: str, cache_dir: str | Path) -> Path:
    """Return the path of the int8 ``.tflite`` for ``case_id``, converting it on first use.

    The file is written atomically (temp file + rename), so concurrent test workers sharing a cache
    directory see either nothing or a whole file.
    """
    if case_id not in _BUILDERS:
        raise KeyError(f"unknown modelgen case {case_id!r}; known: {', '.join(CASES)}")
    cache = Path(cache_dir) / f"v{GENERATOR_VERSION}"
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{case_id}.tflite"
    if path.exists() and path.stat().st_size > 0:
        return path
    from edgesdk.frontends.keras import quantize_keras

    model = build_keras_model(case_id)
    calib = calibration_data(case_id, tuple(int(d) for d in model.inputs[0].shape))
    data = quantize_keras(model, calib, num_samples=None)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    log.info("modelgen: converted %s (%d bytes)", case_id, len(data))
    return path


def build_all(cache_dir: str | Path) -> dict[str, Path]:
    """Convert (or find in the cache) every case."""
    return {case: build_case(case, cache_dir) for case in CASES}


__all__ = ["CASES", "build_all", "build_case", "build_keras_model", "calibration_data", "input_shape"]
