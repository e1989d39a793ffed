"""One entry point for every model a user can hand to edgesdk, and one loader for calibration data.

``load_model`` looks at what it was given (an in-memory Keras model, an int8 or float ``.tflite``, a
``.keras``/``.h5`` file, a SavedModel folder) and returns the int8 IR. Float models go through the real
TFLite quantizer (:mod:`edgesdk.frontends.keras`) and therefore need calibration data.

``load_calibration`` is the single reader of calibration data, so the CLI, the Python API and the tests
accept the same things: a ``.npy``/``.npz`` file, a folder of ``.npy``/``.bin`` (raw little-endian
float32) samples, or an in-memory array.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.errors import CalibrationError, ModelFormatError, UnsupportedOpError
from edgesdk.ir.graph import Graph
from edgesdk.ir.serialize import is_graph_archive, load_graph
from edgesdk.safeio import MAX_MODEL_BYTES, read_capped

log = logging.getLogger(__name__)

CALIB_FILE_SUFFIXES = (".npy", ".npz", ".bin")


def _read_calib_file(path: Path) -> np.ndarray:
    """One calibration file, read with every size checked before anything is allocated (:mod:`edgesdk.safeio`)."""
    from edgesdk.safeio import read_array_file

    suffix = path.suffix.lower()
    what = f"calibration file {path}"
    if suffix in (".npy", ".npz"):
        arrays = read_array_file(path, what, CalibrationError)
        if not arrays:
            raise CalibrationError(f"{what} holds no arrays")
        key = "x" if "x" in arrays else next(iter(arrays))
        if len(arrays) > 1:
            log.info("calibration file %s holds %d arrays; using %r", path, len(arrays), key)
        return arrays[key]
    if suffix == ".bin":
        raw = read_capped(path, what, CalibrationError)
        if len(raw) % 4:
            raise CalibrationError(f"{what} has {len(raw)} bytes, not a whole number of float32 values")
        return np.frombuffer(raw, dtype="<f4")
    raise CalibrationError(f"{what} has an unknown suffix (expected .npy, .npz or .bin)")


def load_calibration(path_or_array: Any, input_shape: tuple[int | None, ...] | list[int]) -> np.ndarray:
    """Return calibration samples as float32 of shape ``(N, *input_shape[1:])``.

    ``input_shape`` is the model input's shape including the batch (which is ignored). Arrays whose
    trailing dimensions equal the sample shape are split into samples along the leading ones; flat data
    (a raw ``.bin`` file, a 1-D array) is cut into whole samples. A folder contributes its ``.npy`` and
    ``.bin`` files in sorted name order.
    """
    sample = tuple(int(d) for d in input_shape[1:])
    if any(d <= 0 for d in sample):
        raise CalibrationError(
            f"model input shape {tuple(input_shape)} is not static; cannot shape calibration data"
        )
    size = int(np.prod(sample, dtype=np.int64)) if sample else 1
    what: str
    if path_or_array is None:
        raise CalibrationError("calibration data is required for a float model (pass --calib DATA)")
    if isinstance(path_or_array, (str, Path)):
        path = Path(path_or_array)
        what = f"calibration data {path}"
        if not path.exists():
            raise CalibrationError(f"calibration data {path} does not exist")
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".npy", ".bin") and p.is_file())
            if not files:
                raise CalibrationError(f"calibration folder {path} holds no .npy or .bin files")
            parts = [_as_samples(_read_calib_file(f), sample, size, f"calibration file {f}") for f in files]
            arr = np.concatenate(parts, axis=0)
        else:
            arr = _as_samples(_read_calib_file(path), sample, size, what)
    else:
        what = "calibration array"
        try:
            raw = np.asarray(path_or_array)
        except Exception as exc:
            raise CalibrationError(
                f"calibration data of type {type(path_or_array).__name__} is not an array"
            ) from exc
        arr = _as_samples(raw, sample, size, what)
    if len(arr) == 0:
        raise CalibrationError(f"{what} holds no samples")
    if not np.all(np.isfinite(arr)):
        raise CalibrationError(f"{what} contains NaN or infinite values")
    _check_calibration_values(arr, what)
    log.debug("%s: %d samples of shape %s", what, len(arr), sample)
    return arr


#: Largest magnitude accepted in calibration data: beyond it the data is almost certainly not scaled as the model
#: expects, and float32 activations computed from it overflow in the calibrator.
MAX_CALIBRATION_MAGNITUDE = 1e8


def _check_calibration_values(arr: np.ndarray, what: str) -> None:
    """Refuse data that cannot calibrate int8 ranges, with a sentence about the data (not the converter)."""
    if not np.any(arr):
        raise CalibrationError(
            f"{what} is all zeros: it gives every activation an empty range, so nothing can be quantized; "
            "pass real input samples"
        )
    lo, hi = float(np.min(arr)), float(np.max(arr))
    if lo == hi:
        raise CalibrationError(
            f"{what} holds one value ({lo:g}) in every sample: activation ranges would be empty; "
            "pass real input samples"
        )
    peak = max(abs(lo), abs(hi))
    if peak > MAX_CALIBRATION_MAGNITUDE:
        raise CalibrationError(
            f"{what} holds values up to {peak:.3g} in magnitude (range {lo:.3g} .. {hi:.3g}), beyond "
            f"{MAX_CALIBRATION_MAGNITUDE:.0e}: it is not scaled like model inputs (normalise it as for training)"
        )


def _as_samples(arr: np.ndarray, sample: tuple[int, ...], size: int, what: str) -> np.ndarray:
    if arr.dtype.kind not in "fiub":
        raise CalibrationError(f"{what} has dtype {arr.dtype}, expected numbers")
    arr = np.asarray(arr, dtype=np.float32)
    k = len(sample)
    if arr.ndim >= k and tuple(arr.shape[arr.ndim - k :]) == sample:
        return arr.reshape((-1, *sample))
    if arr.ndim == 1 and arr.size % size == 0:
        return arr.reshape((-1, *sample))
    raise CalibrationError(
        f"{what} has shape {arr.shape}, which does not fit the model input sample shape {sample}"
    )


def load_model(
    source: Any,
    calib: Any = None,
    *,
    num_samples: int | None = None,
    example_inputs: Any = None,
    exporter: str = "auto",
) -> Graph:
    """Load any supported model as an int8 :class:`Graph`.

    - an in-memory Keras model, a ``.keras``/``.h5`` file or a SavedModel folder: quantized with ``calib``;
    - an int8 ``.tflite`` (path or bytes): read directly (``calib`` is ignored, with a note in the log);
    - a float ``.tflite``: quantized with ``calib``, which is then required;
    - an ``.onnx`` file (or ``onnx.ModelProto``): a float model is quantized with ``calib`` (in the model's own
      input layout, e.g. NCHW), a QDQ model is imported with its own scales (:mod:`edgesdk.frontends.onnx`);
    - a PyTorch ``nn.Module`` (with ``example_inputs``, a tensor or a tuple of them) or a saved ``torch.export``
      program (``.pt2``): exported to ONNX in a subprocess (``exporter``: ``"dynamo"``, ``"torchscript"`` or
      ``"auto"``), then as an ``.onnx`` float model.
    """
    from edgesdk.frontends import keras as kfront

    n = kfront.DEFAULT_NUM_SAMPLES if num_samples is None else num_samples
    from edgesdk.frontends import torch as tfront

    if tfront.is_torch_module(source):
        if calib is None:
            raise CalibrationError(
                f"PyTorch module {type(source).__name__} is a float model: pass calibration data (calib=...)"
            )
        onnx_bytes = tfront.module_to_onnx(source, example_inputs, exporter=exporter)
        return load_onnx(onnx_bytes, calib, num_samples=n, name=type(source).__name__.lower())
    if type(source).__name__ == "ModelProto":
        return load_onnx(source, calib, num_samples=n)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if is_graph_archive(data):
            return load_graph(data)
        return _load_tflite_bytes(data, calib, n, None, "model")
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise ModelFormatError(f"model {path} does not exist")
        if path.is_dir():
            if calib is None:
                raise CalibrationError(
                    f"SavedModel {path} is a float model: pass calibration data (--calib DATA)"
                )
            return kfront.load_keras(path, calib, num_samples=n)
        suffix = path.suffix.lower()
        if suffix in kfront.KERAS_SUFFIXES:
            if calib is None:
                raise CalibrationError(
                    f"Keras model {path} is a float model: pass calibration data (--calib DATA)"
                )
            return kfront.load_keras(path, calib, num_samples=n)
        if suffix == ".onnx":
            return load_onnx(path, calib, num_samples=n)
        if suffix == ".pt2":
            return load_onnx(tfront.pt2_to_onnx(path), calib, num_samples=n, origin=path)
        if suffix in (".xnor", ".edgesdk"):  # edgesdk graph archives (XNOR, AdderNet)
            if calib is not None:
                log.info("%s is already quantized; ignoring the calibration data", path)
            return load_graph(path, name=path.stem)
        if suffix != ".tflite":
            log.debug("model %s has suffix %r; trying it as a .tflite flatbuffer", path, suffix)
        data = read_capped(path, f"model {path}", ModelFormatError, MAX_MODEL_BYTES)
        graph = _load_tflite_bytes(data, calib, n, path, f"model {path}")
        return graph
    if hasattr(source, "layers") and callable(source):
        if calib is None:
            raise CalibrationError(
                f"Keras model {getattr(source, 'name', '')} is a float model: pass calibration data (--calib DATA)"
            )
        return kfront.load_keras(source, calib, num_samples=n)
    raise ModelFormatError(f"cannot load a model from an object of type {type(source).__name__}")


def load_onnx(
    source: Any,
    calib: Any = None,
    *,
    num_samples: int | None = None,
    name: str | None = None,
    origin: Any = None,
) -> Graph:
    """An ONNX model (path, bytes or ``ModelProto``) as int8 IR: QDQ models with their own quantization, float
    models through the Keras translation and the TFLite quantizer with ``calib``. Unsupported nodes are
    refused before anything is built (no TensorFlow import). ``origin``: the file the ONNX bytes came from
    (a ``.pt2``), for messages and ``graph.source``."""
    from edgesdk.frontends import onnx as ofront

    path = Path(source) if isinstance(source, (str, Path)) else None
    where = origin if origin is not None else path
    low = ofront.load(source, f"model {where}" if where is not None else None)
    name = name or (Path(where).stem if where is not None else low.prep.name)
    if low.prep.is_qdq:
        from edgesdk.frontends.onnx_qdq import qdq_to_graph

        if calib is not None:
            log.info("%s is already quantized (QDQ); ignoring the calibration data", low.prep.what)
        graph = qdq_to_graph(low, name)
    else:
        from edgesdk.frontends.onnx_keras import load_float_onnx

        graph = load_float_onnx(low, calib, num_samples=num_samples, name=name)
    if where is not None:
        graph.source = str(where)
    return graph


def read_calibrated(data: bytes, what: str, name: str | None = None) -> Graph:
    """Read a model the converter has just quantized; if the verifier refuses it, the calibration data gave it
    quantization parameters that cannot work, so the error is a calibration error."""
    from edgesdk.frontends import tflite

    try:
        return tflite.read_tflite(data, name=name)
    except ModelFormatError as exc:
        detail = str(exc).split(": ", 1)[-1]
        raise CalibrationError(
            f"quantizing {what} with this calibration data gave invalid quantization parameters ({detail}); "
            "check that the samples look like real inputs"
        ) from None


def _load_tflite_bytes(data: bytes, calib: Any, n: int, path: Path | None, what: str) -> Graph:
    import hashlib

    from edgesdk.frontends import keras as kfront
    from edgesdk.frontends import tflite

    if tflite.tflite_is_float(data, what):
        hybrid = tflite.tflite_hybrid_layer(data, what)
        if hybrid is not None:
            raise UnsupportedOpError(
                f"{what} is a dynamic-range (hybrid) quantized model: int8 weights with float activations "
                f"(op {hybrid}); edgesdk needs a fully int8 model: convert the float model with a "
                "representative dataset, or give edgesdk the float model with --calib DATA"
            )
        if calib is None:
            raise CalibrationError(
                f"{what} is a float model: pass calibration data (--calib DATA) to quantize it to int8"
            )
        q = kfront.quantize_float_tflite(data, calib, num_samples=n, what=what)
        graph = read_calibrated(q, what, name=path.stem if path else None)
        if path is not None:
            graph.source = str(path)
        log.info("quantized %s (sha256 of the float model %s)", what, hashlib.sha256(data).hexdigest()[:12])
        return graph
    if calib is not None:
        log.info("%s is already quantized; ignoring the calibration data", what)
    if path is not None:
        return tflite.read_tflite(path)
    return tflite.read_tflite(data)


__all__ = ["load_calibration", "load_model", "load_onnx"]
