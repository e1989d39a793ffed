"""The one data module of both roads: calibration samples, inputs and labels, and the reader of a model the
converter has just quantized with calibration data.

- ``load_calibration`` is the single reader of calibration data, so the CLI, the Python API, both roads (MCU
  export and FPGA synth) and the tests accept the same things: a ``.npy``/``.npz`` file, a folder of
  ``.npy``/``.bin`` (raw little-endian float32) samples, or an in-memory array. The frontends read calibration
  data through this module (not through :mod:`edgesdk.compiler.model`, which dispatches to the frontends).
- ``make_inputs`` gives the int8 inputs ``validate``, ``profile`` (on the board) and ``synth`` (C-simulation)
  run: int8 arrays as they are, float data (any form ``load_calibration`` reads) quantized with the input's
  scale, or seeded random ones.
- ``load_labels``, ``split_labeled_inputs`` (an ``.npz`` with ``x`` and ``y``), ``input_names`` and ``top1``:
  class labels for a top-1 figure.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.errors import CalibrationError, EdgeSDKError, ModelFormatError
from edgesdk.ir.graph import Graph
from edgesdk.util.safeio import read_capped

log = logging.getLogger(__name__)

CALIB_FILE_SUFFIXES = (".npy", ".npz", ".bin")


def _read_calib_file(path: Path) -> np.ndarray:
    """One calibration file, read with every size checked before anything is allocated (:mod:`edgesdk.util.safeio`)."""
    from edgesdk.util.safeio import read_array_file

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


# --- labels ------------------------------------------------------------------------------------------------------
def _read_label_text(path: Path, where: str) -> tuple[np.ndarray, list[str] | None]:
    """Labels from a text file: one integer per line (or one-hot rows of numbers), or the MLPerf Tiny runner's
    ``file,num_classes,label`` lines; for the latter also the file names, in the file's order."""
    from edgesdk.util.safeio import read_capped

    try:
        text = read_capped(path, where, EdgeSDKError).decode("utf-8")
    except UnicodeDecodeError:
        raise EdgeSDKError(f"{where} is not UTF-8 text") from None
    rows: list[list[str]] = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            rows.append([f.strip() for f in (line.split(",") if "," in line else line.split())])
    names: list[str] = []
    values: list[list[float]] = []
    for i, fields in enumerate(rows, 1):
        try:
            values.append([float(f) for f in fields])
            continue
        except ValueError:
            pass
        if len(fields) != 3:
            raise EdgeSDKError(
                f"{where}, line {i}: expected numbers or MLPerf 'file,num_classes,label', got {len(fields)} fields"
            )
        try:
            n_classes, label = int(fields[1]), int(fields[2])
        except ValueError:
            raise EdgeSDKError(
                f"{where}, line {i}: num_classes and label of an MLPerf 'file,num_classes,label' line must be "
                "integers"
            ) from None
        if not 0 <= label < n_classes:
            raise EdgeSDKError(f"{where}, line {i}: label {label} is outside 0..{n_classes - 1}")
        names.append(fields[0])
        values.append([float(label)])
    if names and len(names) != len(values):
        raise EdgeSDKError(f"{where} mixes MLPerf 'file,num_classes,label' lines with plain numbers")
    if len({len(v) for v in values}) > 1:
        raise EdgeSDKError(f"{where}: its lines hold different numbers of values")
    arr = np.array(values, dtype=np.float64)
    return (arr.reshape(-1) if arr.ndim == 2 and arr.shape[1] == 1 else arr), (names or None)


def load_labels(labels: Any, n: int, where: str = "labels", names: list[str] | None = None) -> np.ndarray:
    """``n`` integer class labels from an array, a ``.npy``/``.txt``/``.csv`` file (numbers, or MLPerf Tiny's
    ``file,num_classes,label`` lines) or the ``y`` of an ``.npz``. ``names``: the input files' names in the order
    the inputs were read (a folder of samples), by which MLPerf lines are matched; else lines are taken in order."""
    from edgesdk.util.safeio import read_array_file

    arr: Any = labels
    if isinstance(labels, (str, Path)):
        path = Path(labels)
        where = f"labels file {path}"
        if not path.is_file():
            raise EdgeSDKError(f"{where} does not exist")
        suffix = path.suffix.lower()
        if suffix == ".npz":
            arrays = read_array_file(path, where, EdgeSDKError, keys=("y", "labels", "label"))
            key = next((k for k in ("y", "labels", "label") if k in arrays), None)
            if key is None:
                raise EdgeSDKError(f"{where} holds no 'y' (or 'labels') array")
            arr = arrays[key]
        elif suffix == ".npy":
            arr = read_array_file(path, where, EdgeSDKError)[""]
        else:
            arr, listed = _read_label_text(path, where)
            if listed is not None and names is not None:
                by_name = {Path(f).name: v for f, v in zip(listed, arr, strict=True)}
                missing = [m for m in names if Path(m).name not in by_name]
                if missing:
                    raise EdgeSDKError(f"{where} has no line for input file {missing[0]}")
                arr = np.array([by_name[Path(m).name] for m in names])
    try:
        arr = np.asarray(arr)
    except ValueError:
        raise EdgeSDKError(f"{where} is not an array of class indices") from None
    if arr.dtype.kind not in "iuf" or arr.ndim > 2:
        raise EdgeSDKError(
            f"{where} must hold class indices (integers >= 0), not {arr.dtype} of shape {arr.shape}"
        )
    if arr.ndim == 2 and arr.shape[1] > 1:  # one-hot
        arr = arr.argmax(axis=1)
    arr = arr.reshape(-1)
    if arr.size < n:
        raise EdgeSDKError(f"{where} holds {arr.size} labels for {n} inputs")
    if arr.dtype.kind == "f" and not np.all(arr == np.round(arr)):
        raise EdgeSDKError(f"{where} holds non-integer values; labels are class indices")
    if arr.size and (arr.min() < 0 or arr.max() >= 1 << 31):
        raise EdgeSDKError(f"{where} must hold class indices (integers >= 0)")
    return arr[:n].astype(np.int64)


def split_labeled_inputs(inputs: Any) -> tuple[Any, np.ndarray | None]:
    """An ``.npz`` with ``x`` and ``y`` gives inputs and labels; anything else is inputs alone."""
    from edgesdk.util.safeio import read_array_file

    if isinstance(inputs, (str, Path)) and Path(inputs).suffix.lower() == ".npz" and Path(inputs).is_file():
        arrays = read_array_file(Path(inputs), f"inputs file {inputs}", EdgeSDKError)
        ykey = next((k for k in ("y", "labels", "label") if k in arrays), None)
        xkey = "x" if "x" in arrays else next((k for k in arrays if k != ykey), None)
        if xkey is None:
            raise EdgeSDKError(f"inputs file {inputs} holds no input array")
        return arrays[xkey], (arrays[ykey] if ykey else None)
    return inputs, None


def input_names(inputs: Any) -> list[str] | None:
    """The sample files of an inputs folder in the order they are read (for MLPerf label lines), else None."""
    if isinstance(inputs, (str, Path)) and Path(inputs).is_dir():
        return sorted(
            p.name for p in Path(inputs).iterdir() if p.suffix.lower() in (".npy", ".bin") and p.is_file()
        )
    return None


def top1(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose largest output (first one on ties) is the label."""
    return float(np.mean(np.argmax(outputs, axis=1) == labels)) if len(labels) else 0.0


# --- inputs ------------------------------------------------------------------------------------------------------
def input_tensor(graph: Graph) -> Any:
    """The model's one input tensor (batch 1), or one sentence why the device harness cannot run it."""
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise EdgeSDKError(
            f"model {graph.name} has {len(graph.inputs)} inputs and {len(graph.outputs)} outputs; "
            "the device harness runs models with one of each"
        )
    t = graph.tensors[graph.inputs[0]]
    if t.shape and int(t.shape[0]) > 1:
        raise EdgeSDKError(
            f"model {graph.name}: input {t.name} has a batch of {t.shape[0]} (shape {list(t.shape)}); the device "
            "harness runs one sample at a time -- convert the model with a batch of 1 (export still builds it)"
        )
    return t


#: Random int8 inputs when none are given and ``count`` is not set.
DEFAULT_RANDOM_INPUTS = 20


def make_inputs(
    graph: Graph,
    inputs: Any = None,
    count: int | None = None,
    seed: int = 0,
    random_count: int = DEFAULT_RANDOM_INPUTS,
) -> np.ndarray:
    """int8 inputs: ``count`` of them (None or 0: every input given, or ``random_count`` random ones), from a
    file/array (float data is quantized with the input's scale) or seeded random."""
    from edgesdk.util.safeio import read_array_file

    t = input_tensor(graph)
    if count is not None and count < 0:
        raise EdgeSDKError(f"--count is {count}; it must be at least 1 (or 0 for every input given)")
    if inputs is None:
        rng = np.random.default_rng(seed)
        return rng.integers(-128, 128, size=(count or random_count, *t.shape[1:]), dtype=np.int8)
    arr: np.ndarray | None = None
    if not isinstance(inputs, (str, Path)):
        try:
            arr = np.asarray(inputs)
        except ValueError:
            raise EdgeSDKError("the inputs are not an array of numbers") from None
    elif Path(inputs).suffix.lower() == ".npy" and Path(inputs).is_file():
        arr = read_array_file(Path(inputs), f"inputs file {inputs}", EdgeSDKError)[""]
    # Inputs come in the source model's layout (NCHW for an ONNX model) and are transposed to the IR's.
    shape = graph.source_input_shape()
    if arr is not None and arr.dtype == np.int8:
        per = int(np.prod(shape[1:], dtype=np.int64))
        if arr.size == 0 or arr.size % per:
            raise EdgeSDKError(
                f"the int8 inputs hold {arr.size} values, not a whole number of samples of shape {list(shape[1:])}"
            )
        data = graph.to_ir_layout(arr.reshape(-1, *shape[1:]))
    else:
        samples = graph.to_ir_layout(load_calibration(arr if arr is not None else inputs, shape))
        if t.quant is None:
            raise EdgeSDKError(f"model {graph.name}: input {t.name} is not quantized; give int8 inputs")
        q = np.round(samples / t.quant.s) + t.quant.zp
        data = np.clip(q, -128, 127).astype(np.int8)
    return data[:count] if count else data
