"""Keras / SavedModel / float .tflite -> full-int8 .tflite, by the real TFLite quantizer, then into the IR.

edgesdk does not quantize on its own here: the int8 model must be exactly what TFLite (and so TFLite Micro)
would run, so post-training quantization is done by ``tf.lite.TFLiteConverter`` with a representative
dataset (full int8: int8 input and output, ``TFLITE_BUILTINS_INT8``, per-channel weights). A float
``.tflite`` cannot go through the converter again; it is quantized by TFLite's own calibrator
(``tensorflow.lite.python.optimize.calibrator.Calibrator``), the same component the converter calls after
its MLIR stage. The result is read by :func:`edgesdk.frontends.tflite.read_tflite`.

TensorFlow is imported lazily inside these functions so that the rest of edgesdk runs without it.

Dynamic batch: a model whose input batch is ``None`` would be converted with SHAPE/STRIDED_SLICE/PACK
ops (Keras' ``Flatten``) and a ``-1`` batch. We fix the batch to 1 instead: a Keras model is wrapped in a
new functional model on ``keras.Input(shape, batch_size=1)``, a SavedModel signature is traced through a
``tf.function`` with a batch-1 ``TensorSpec``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.errors import CalibrationError, EdgeSDKError, ModelFormatError, UnsupportedOpError
from edgesdk.ir.graph import Graph

log = logging.getLogger(__name__)

DEFAULT_NUM_SAMPLES = 200
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def _import_tf() -> Any:
    """Import TensorFlow quietly (its C++ logging would drown the CLI's one-line errors)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" not in sys.modules:
        with _captured_output("the TensorFlow import"):
            import tensorflow  # noqa: F401
    import tensorflow as tf

    return tf


def _one_line(exc: BaseException) -> str:
    """The most telling single line of a (often multi-page) TensorFlow error message."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for ln in lines:
        if "error:" in ln.lower():
            return ln[:300]
    return (lines[0] if lines else type(exc).__name__)[:300]


@contextlib.contextmanager
def _captured_output(what: str) -> Iterator[Any]:
    """Capture what TensorFlow writes to file descriptors 1 and 2 during a conversion (Keras' "Saved
    artifact" banner, the converter's C++ notes), and send it to the debug log instead.

    Yields a text stream on the original stderr, for the progress bar.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    progress_stream = os.fdopen(os.dup(saved[2]), "w")
    py_out = io.StringIO()
    with tempfile.TemporaryFile() as sink:
        try:
            for fd in (1, 2):
                os.dup2(sink.fileno(), fd)
            # Python-level prints too (Keras' export banner), for when sys.stdout is not fd 1.
            with (
                warnings.catch_warnings(),
                contextlib.redirect_stdout(py_out),
                contextlib.redirect_stderr(py_out),
            ):
                warnings.simplefilter("ignore")
                yield progress_stream
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, dup in saved.items():
                os.dup2(dup, fd)
                os.close(dup)
            progress_stream.close()
            sink.seek(0)
            text = (sink.read().decode("utf-8", "replace") + py_out.getvalue()).strip()
            if text:
                log.debug("TensorFlow output while quantizing %s:\n%s", what, text)


def _progress(samples: np.ndarray, what: str, stream: Any = None) -> Iterator[list[np.ndarray]]:
    """Yield ``[sample[None]]`` (batch 1) per calibration sample, reporting progress on ``stream``.

    The converter runs with stderr captured (see :func:`_captured_output`), so progress is written to
    ``stream``, a handle on the real stderr: a tqdm bar (a TensorFlow dependency) when it is a terminal,
    otherwise a line every ~10 % when INFO logging is on (``edgesdk -v``).
    """
    n = len(samples)
    bar = None
    tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())
    if tty:
        try:
            from tqdm import tqdm

            bar = tqdm(total=n, desc=f"calibrating {what}", unit="sample", leave=False, file=stream)
        except ImportError:  # pragma: no cover - tqdm ships with TF
            bar = None
    lines = bar is None and stream is not None and log.isEnabledFor(logging.INFO)
    step = max(1, n // 10)
    for i, s in enumerate(samples):
        yield [np.ascontiguousarray(s[None], dtype=np.float32)]
        if bar is not None:
            bar.update(1)
        elif lines and ((i + 1) % step == 0 or i + 1 == n):
            stream.write(f"INFO {log.name}: calibration {i + 1}/{n}\n")
            stream.flush()
    if bar is not None:
        bar.close()


def _limit(samples: np.ndarray, num_samples: int | None) -> np.ndarray:
    if num_samples is not None and len(samples) > num_samples:
        log.info("using the first %d of %d calibration samples", num_samples, len(samples))
        return samples[:num_samples]
    return samples


def _fixed_batch_keras(model: Any, what: str) -> tuple[Any, tuple[int, ...]]:
    """Return a Keras model whose single input has batch 1, and that input's shape."""
    import keras

    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ModelFormatError(
            f"Keras model {what} has no defined input; build it with keras.Input(shape, batch_size=1)"
        )
    if len(inputs) != 1:
        raise CalibrationError(
            f"Keras model {what} has {len(inputs)} inputs; only single-input models are supported"
        )
    shape = tuple(inputs[0].shape)
    if any(d is None for d in shape[1:]):
        raise ModelFormatError(
            f"input {inputs[0].name} of {what} has a dynamic dimension {shape}; fix its shape"
        )
    if shape[0] != 1:
        log.info("input %s of %s has batch %s; fixing it to 1", inputs[0].name, what, shape[0])
        inp = keras.Input(shape[1:], batch_size=1, dtype=inputs[0].dtype, name=inputs[0].name.split(":")[0])
        model = keras.Model(inp, model(inp), name=getattr(model, "name", "model"))
    return model, (1, *(int(d) for d in shape[1:]))


def _convert(conv: Any, tf: Any, samples: np.ndarray, what: str) -> bytes:
    """Run the converter for full int8 (int8 input/output, builtins only, per-channel weights)."""
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    log.info("quantizing %s to int8 with %d calibration samples", what, len(samples))
    try:
        with _captured_output(what) as stream:
            conv.representative_dataset = lambda: _progress(samples, what, stream)
            return bytes(conv.convert())
    except EdgeSDKError:
        raise
    except Exception as exc:
        raise UnsupportedOpError(
            f"the TFLite converter could not quantize {what} to int8: {_one_line(exc)}"
        ) from exc


#: What TensorFlow accepts as an op name (``tf.Operation`` names are checked against this when a Keras model is
#: traced): a layer named with a quote, ``$``, a space or a newline makes the converter fail.
_TF_NAME = re.compile(r"[A-Za-z0-9.][A-Za-z0-9_.\-/]*")


def _tf_safe_names(model: Any) -> Any:
    """The model itself when every layer name is one TensorFlow accepts, else a clone (same weights) whose
    offending names have every other character replaced by ``_`` (made unique), so that any Keras model converts.
    The IR then names those layers by the cleaned names."""
    import keras

    layers = list(getattr(model, "layers", []))
    if all(_TF_NAME.fullmatch(la.name) for la in layers) or not isinstance(model, keras.Model):
        return model
    taken = {la.name for la in layers if _TF_NAME.fullmatch(la.name)}

    def clean(name: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_.\-/]", "_", name)
        base = base if base and _TF_NAME.fullmatch(base) else f"layer{base}"
        new, k = base, 1
        while new in taken:
            new, k = f"{base}_{k}", k + 1
        taken.add(new)
        return new

    def clone(layer: Any) -> Any:
        config = layer.get_config()
        if not _TF_NAME.fullmatch(layer.name):
            config["name"] = clean(layer.name)
        return layer.__class__.from_config(config)

    try:
        copy = keras.models.clone_model(model, clone_function=clone)
        copy.set_weights(model.get_weights())
    except Exception as exc:
        bad = next(la.name for la in layers if not _TF_NAME.fullmatch(la.name))
        raise ModelFormatError(
            f"Keras model {model.name}: layer name {bad!r} is not a name TensorFlow accepts and the model "
            f"cannot be copied with a clean one ({_one_line(exc)}); rename the layer"
        ) from None
    return copy


def _quantize_keras_model(model: Any, calib: Any, num_samples: int | None, what: str) -> bytes:
    from edgesdk.compiler.data import load_calibration
    from edgesdk.frontends.qkeras import plain_model

    tf = _import_tf()
    model, shape = _fixed_batch_keras(_tf_safe_names(plain_model(model, what)), what)
    samples = _limit(load_calibration(calib, shape), num_samples)
    try:
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
    except Exception as exc:
        raise ModelFormatError(
            f"Keras model {what} cannot be traced for conversion: {_one_line(exc)}"
        ) from exc
    return _convert(conv, tf, samples, what)


def _quantize_saved_model(folder: Path, calib: Any, num_samples: int | None) -> bytes:
    from edgesdk.compiler.data import load_calibration

    tf = _import_tf()
    what = f"SavedModel {folder}"
    try:
        loaded = tf.saved_model.load(str(folder))
    except Exception as exc:
        raise ModelFormatError(f"{what} cannot be loaded: {_one_line(exc)}") from exc
    sigs = dict(getattr(loaded, "signatures", {}) or {})
    if not sigs:
        raise ModelFormatError(f"{what} has no serving signature")
    fn = sigs.get("serving_default") or next(iter(sigs.values()))
    kwargs = fn.structured_input_signature[1]
    if len(kwargs) != 1:
        raise CalibrationError(f"{what} has {len(kwargs)} inputs; only single-input models are supported")
    ((key, spec),) = kwargs.items()
    shape = tuple(spec.shape.as_list())
    if any(d is None for d in shape[1:]):
        raise ModelFormatError(f"input {key} of {what} has a dynamic dimension {shape}; fix its shape")
    shape = (1, *shape[1:])
    samples = _limit(load_calibration(calib, shape), num_samples)

    def call(x: Any) -> Any:
        return fn(**{key: x})

    concrete = tf.function(call).get_concrete_function(tf.TensorSpec(shape, spec.dtype, name=key))
    conv = tf.lite.TFLiteConverter.from_concrete_functions([concrete], loaded)
    return _convert(conv, tf, samples, what)


def quantize_float_tflite(
    data: bytes, calib: Any, *, num_samples: int | None = DEFAULT_NUM_SAMPLES, what: str = "model"
) -> bytes:
    """Quantize a float ``.tflite`` flatbuffer to full int8 with TFLite's calibrator.

    ``TFLiteConverter`` only starts from TF graphs, so a float flatbuffer is calibrated and quantized by
    the converter's own post-training quantizer (the ``Calibrator`` wrapper): int8 input and output, no
    float fallback, per-channel weights.
    """
    from edgesdk.compiler.data import load_calibration
    from edgesdk.frontends.tflite import tflite_io

    inputs, _ = tflite_io(data, what)
    if len(inputs) != 1:
        raise CalibrationError(f"{what} has {len(inputs)} inputs; only single-input models are supported")
    name, shape, dtype = inputs[0]
    if dtype != "float32":
        raise ModelFormatError(
            f"{what} is not a float model (input {name} is {dtype}); it needs no calibration"
        )
    if any(d < 0 for d in shape[1:]):
        raise ModelFormatError(f"input {name} of {what} has a dynamic dimension {shape}; fix its shape")
    shape = (1, *shape[1:])
    samples = _limit(load_calibration(calib, shape), num_samples)
    tf = _import_tf()
    from tensorflow.lite.python.optimize import calibrator

    log.info("quantizing %s to int8 with %d calibration samples", what, len(samples))
    try:
        with _captured_output(what) as stream:
            cal = calibrator.Calibrator(data)
            out = cal.calibrate_and_quantize(
                lambda: _progress(samples, what, stream), tf.int8, tf.int8, False
            )
    except EdgeSDKError:
        raise
    except Exception as exc:
        raise UnsupportedOpError(
            f"the TFLite calibrator could not quantize {what} to int8: {_one_line(exc)}"
        ) from exc
    return bytes(out)


def quantize_keras(model_or_path: Any, calib: Any, *, num_samples: int | None = DEFAULT_NUM_SAMPLES) -> bytes:
    """Quantize a float model to a full-int8 ``.tflite`` (bytes) with calibration data.

    ``model_or_path``: an in-memory Keras 3 model, a ``.keras``/``.h5`` file, a SavedModel folder or a
    float ``.tflite`` file. ``calib``: anything :func:`edgesdk.compiler.model.load_calibration` accepts; the first
    ``num_samples`` samples are used (None: all).
    """
    if isinstance(model_or_path, (str, Path)):
        path = Path(model_or_path)
        if not path.exists():
            raise ModelFormatError(f"model {path} does not exist")
        if path.is_dir():
            if not (path / "saved_model.pb").exists() and not (path / "saved_model.pbtxt").exists():
                raise ModelFormatError(f"folder {path} is not a SavedModel (no saved_model.pb)")
            return _quantize_saved_model(path, calib, num_samples)
        if path.suffix.lower() == ".tflite":
            return quantize_float_tflite(
                path.read_bytes(), calib, num_samples=num_samples, what=f"model {path}"
            )
        if path.suffix.lower() in KERAS_SUFFIXES:
            _import_tf()
            import keras

            from edgesdk.frontends.qkeras import prepare_load

            prepare_load(path)
            try:
                model = keras.models.load_model(path, compile=False)
            except Exception as exc:
                if "Lambda" in str(exc):
                    raise ModelFormatError(
                        f"Keras model {path} holds a Lambda layer, which edgesdk does not load because loading "
                        "it runs Python code stored in the file; replace the Lambda with built-in Keras layers "
                        "and save the model again"
                    ) from None
                raise ModelFormatError(f"Keras model {path} cannot be loaded: {_one_line(exc)}") from exc
            return _quantize_keras_model(model, calib, num_samples, f"{path.name}")
        raise ModelFormatError(
            f"model {path} has an unknown suffix {path.suffix!r} (expected .keras, .h5 or .tflite)"
        )
    if hasattr(model_or_path, "layers") and callable(model_or_path):
        return _quantize_keras_model(
            model_or_path, calib, num_samples, f"{getattr(model_or_path, 'name', 'model')}"
        )
    raise ModelFormatError(
        f"cannot quantize an object of type {type(model_or_path).__name__}; expected a Keras model or a path"
    )


def _model_name(model_or_path: Any) -> str:
    if isinstance(model_or_path, (str, Path)):
        return Path(model_or_path).stem or Path(model_or_path).name
    return str(getattr(model_or_path, "name", "model"))


def load_keras(model_or_path: Any, calib: Any, *, num_samples: int | None = DEFAULT_NUM_SAMPLES) -> Graph:
    """Quantize a float model (see :func:`quantize_keras`) and read the int8 result into the IR.

    ``graph.source`` names the float model; ``graph.sha256`` is the hash of the int8 flatbuffer that the
    IR was read from (the float model's bytes do not determine the int8 model, the calibration does too).
    """
    from edgesdk.compiler.data import read_calibrated

    data = quantize_keras(model_or_path, calib, num_samples=num_samples)
    graph = read_calibrated(data, f"model {_model_name(model_or_path)}", name=_model_name(model_or_path))
    if isinstance(model_or_path, (str, Path)):
        graph.source = str(model_or_path)
    return graph


__all__ = ["DEFAULT_NUM_SAMPLES", "load_keras", "quantize_float_tflite", "quantize_keras"]
