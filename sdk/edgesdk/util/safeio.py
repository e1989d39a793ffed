"""Bounded readers of the zip archives and ``.npy`` files edgesdk is handed (model archives, ``--inputs``,
``--labels``, ``--calib``): every size is checked from the zip's central directory or the ``.npy`` header before
anything is inflated or allocated, nothing is unpickled, and every failure is one sentence raised as the error
type the caller names (so a model archive fails with exit code 2, calibration data with 4)."""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

import numpy as np

from edgesdk.errors import EdgeSDKError

#: Largest inflation ratio of a member bigger than :data:`RATIO_FLOOR` bytes. Real weights and data compress a
#: few times (all-zero pruned rows more), a zip bomb a thousand times per level.
MAX_RATIO = 200
RATIO_FLOOR = 1 << 20
#: Most members in a zip.
MAX_MEMBERS = 100_000
#: Largest model file (``.tflite`` or archive) edgesdk reads: the verifier's cap on all constants (256 MiB), with
#: room.
MAX_MODEL_BYTES = 320 << 20
#: Largest data file (``.npy``/``.npz``/``.bin`` of inputs, labels or calibration samples), and largest inflated
#: array in an ``.npz``.
MAX_DATA_BYTES = 1 << 30


class Archive:
    """Reads the members of one zip with every size checked from the central directory before inflating, and
    reads no more than was declared (a member that inflates past its declared size fails its CRC)."""

    def __init__(self, data: bytes, what: str, error: type[EdgeSDKError]) -> None:
        self.what, self.error = what, error
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
            raise self.error(f"{what} is not a readable zip archive ({short_error(exc)})") from None
        infos = self.zip.infolist()
        if len(infos) > MAX_MEMBERS:
            raise self.error(f"{what} has {len(infos):,} members, more than the {MAX_MEMBERS:,} allowed")
        self.infos = {i.filename: i for i in infos}

    def read(self, name: str, cap: int) -> bytes:
        """Member ``name``, at most ``cap`` bytes inflated."""
        info = self.infos.get(name)
        if info is None:
            raise self.error(f"{self.what} has no member {name}")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise self.error(
                f"{self.what}: member {name} uses zip compression method {info.compress_type}; "
                "edgesdk reads stored and deflated members only"
            )
        if info.flag_bits & 0x1:
            raise self.error(f"{self.what}: member {name} is encrypted")
        if info.file_size > cap:
            raise self.error(
                f"{self.what}: member {name} inflates to {info.file_size:,} bytes, more than the {cap:,} "
                "edgesdk allows"
            )
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise self.error(
                f"{self.what}: member {name} inflates {info.file_size / max(info.compress_size, 1):,.0f} times "
                f"({info.compress_size:,} to {info.file_size:,} bytes), more than the {MAX_RATIO} times "
                "edgesdk allows (a zip bomb?)"
            )
        try:
            with self.zip.open(info) as f:
                out = f.read(info.file_size + 1)
        except (
            zipfile.BadZipFile,
            zlib.error,
            ValueError,
            OSError,
            EOFError,
            RuntimeError,
            NotImplementedError,
        ) as exc:
            raise self.error(f"{self.what}: member {name} is damaged ({short_error(exc)})") from None
        if len(out) != info.file_size:
            raise self.error(
                f"{self.what}: member {name} holds {len(out):,} bytes, its header says {info.file_size:,}"
            )
        return out


def short_error(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def read_npy(data: bytes, what: str, error: type[EdgeSDKError]) -> np.ndarray:
    """One ``.npy`` file's bytes: the header's dtype and shape are checked, and shape x itemsize compared with the
    bytes present, before any array is made (a header claiming 10**12 elements is refused, not allocated). Only
    plain numbers are read: an object array (which would need unpickling) is refused."""

    f = io.BytesIO(data)
    try:
        major, _minor = np.lib.format.read_magic(f)
        if major == 1:
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif major in (2, 3):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unknown .npy version {major}")
    except (ValueError, SyntaxError, TypeError, EOFError, OverflowError, MemoryError) as exc:
        raise error(f"{what} has a damaged .npy header ({short_error(exc)})") from None
    if dtype.hasobject:
        raise error(
            f"{what} holds Python objects (dtype object); edgesdk reads arrays of numbers only and never unpickles"
        )
    if dtype.names is not None or dtype.subdtype is not None or dtype.kind not in "biuf":
        raise error(f"{what} has dtype {dtype}; edgesdk reads arrays of plain numbers only")
    count = 1
    for d in shape:
        count *= int(d)
    body = len(data) - f.tell()
    if count * dtype.itemsize != body:
        raise error(
            f"{what}: its header declares shape {list(shape)} of {dtype.name} ({count * dtype.itemsize:,} bytes) "
            f"but {body:,} bytes follow"
        )
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=f.tell())
    arr = arr.reshape(shape, order="F" if fortran else "C")
    return np.ascontiguousarray(arr, dtype=dtype.newbyteorder("="))


def read_capped(path: Path, what: str, error: type[EdgeSDKError], cap: int = MAX_DATA_BYTES) -> bytes:
    """The bytes of ``path``, whose size is checked against ``cap`` before it is read."""
    try:
        size = path.stat().st_size
        if size > cap:
            raise error(f"{what} has {size:,} bytes, more than the {cap:,} edgesdk reads")
        return path.read_bytes()
    except OSError as exc:
        raise error(f"{what} cannot be read: {exc.strerror or exc}") from None


def read_array_file(
    path: Path, what: str, error: type[EdgeSDKError], keys: tuple[str, ...] = ()
) -> dict[str, np.ndarray]:
    """The arrays of a ``.npy`` (key ``""``) or ``.npz`` file (told apart by their first bytes), each read as :func:`read_npy` does; for an ``.npz``
    only the members named in ``keys`` (all when empty). The file's size is checked before it is read."""
    data = read_capped(path, what, error)
    if data[:4] != b"PK\x03\x04" and path.suffix.lower() != ".npz":  # not a zip: one .npy
        return {"": read_npy(data, what, error)}
    z = Archive(data, what, error)
    names = [n[:-4] for n in z.infos if n.endswith(".npy")]
    out = {}
    for k in names if not keys else [k for k in keys if k in names]:
        out[k] = read_npy(z.read(f"{k}.npy", MAX_DATA_BYTES), f"{what}: array {k}", error)
    return out


__all__ = [
    "Archive",
    "MAX_DATA_BYTES",
    "MAX_MODEL_BYTES",
    "read_array_file",
    "read_capped",
    "read_npy",
    "short_error",
]
