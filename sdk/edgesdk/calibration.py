"""One loader for calibration data, and the reader of a model the converter has just quantized with them.

``load_calibration`` is the single reader of calibration data, so the CLI, the Python API, both roads (MCU export
and FPGA synth) and the tests accept the same things: a ``.npy``/``.npz`` file, a folder of ``.npy``/``.bin``
(raw little-endian float32) samples, or an in-memory array. The frontends read calibration data through this
module (not through :mod:`edgesdk.model`, which dispatches to the frontends).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.errors import CalibrationError, ModelFormatError
from edgesdk.ir.graph import Graph
from edgesdk.safeio import read_capped

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
