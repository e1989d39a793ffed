"""One entry point for every model a user can hand to edgesdk, and one loader for calibration data.

``load_model`` looks at what it was given (an in-memory Keras model, an int8 or float ``.tflite``, a
``.keras``/``.h5`` file, a SavedModel folder) and returns the int8 IR. Float models go through the real
TFLite quantizer (:mod:`edgesdk.frontends.keras`) and therefore need calibration data.

Calibration data are read by :mod:`edgesdk.compiler.data` (``load_calibration`` is re-exported here).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from edgesdk.compiler.data import load_calibration, read_calibrated
from edgesdk.errors import CalibrationError, ModelFormatError, UnsupportedOpError
from edgesdk.ir.graph import Graph
from edgesdk.ir.serialize import is_graph_archive, load_graph
from edgesdk.util.safeio import MAX_MODEL_BYTES, read_capped

log = logging.getLogger(__name__)


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
