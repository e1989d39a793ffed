"""Files edgesdk is handed that nobody vouches for: model archives (``.edgesdk``/``.xnor``) pass the same verifier
as ``.tflite`` models (the custom XNOR and AdderNet ops included), sizes are checked before anything is inflated,
and data files given to ``--inputs``, ``--labels`` and ``--calib`` are refused with one sentence whatever they
hold (nothing is unpickled). Also: ``validate --inputs`` uses every input given, MLPerf Tiny label files are read.
"""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgesdk.commands.cli import main
from edgesdk.compiler.data import load_labels, make_inputs
from edgesdk.compiler.model import load_model
from edgesdk.errors import EdgeSDKError, ModelFormatError
from edgesdk.ir.serialize import load_graph
from test_fuzz_models import script_module

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def fa() -> Any:
    return script_module("fuzz_archives")


def _edit(fa: Any, seed: str, fn: Callable[[dict, dict], None]) -> bytes:
    meta, arrays = fa._split(fa.seed_archives()[seed])
    fn(meta, arrays)
    return fa._join(meta, arrays)


def _tensor(meta: dict, name: str) -> dict:
    return next(t for t in meta["tensors"] if t["name"] == name)


def _node(meta: dict, op: str) -> dict:
    return next(n for n in meta["nodes"] if n["op"] == op)


def _first_bias_one_element(meta: dict, arrays: dict) -> None:
    bias = _tensor(meta, _node(meta, "CONV_2D")["inputs"][2])
    bias["shape"] = [1]
    arrays[bias["data"]] = arrays[bias["data"]][:1]


def _input_channels(n: int) -> Callable[[dict, dict], None]:
    return lambda meta, arrays: _tensor(meta, meta["inputs"][0])["shape"].__setitem__(-1, n)


def _field(op: str, field: str, value: Any) -> Callable[[dict, dict], None]:
    return lambda meta, arrays: _node(meta, op)["fields"].__setitem__(field, value)


def _tail_bits(meta: dict, arrays: dict) -> None:
    w = _tensor(meta, _node(meta, "EDGESDK_XNOR_CONV_2D")["inputs"][1])
    a = arrays[w["data"]].copy()
    a[..., -1] = -1  # 16 valid bits in the word: the upper 16 set
    arrays[w["data"]] = a


# (what the issue found or the verifier must refuse, seed, edit, words of the one sentence)
CASES: list[tuple[str, str, Callable[[dict, dict], None], list[str]]] = [
    ("first bias of 1 element", "ic.edgesdk", _first_bias_one_element, ["bias shape [1] differs from [16]"]),
    ("10^9-channel input", "ic.edgesdk", _input_channels(10**9), ["shape[3] is 1000000000"]),
    ("negative dimension", "ad.edgesdk", _input_channels(-640), ["shape[1] is -640"]),
    ("stride 0", "ic.edgesdk", _field("CONV_2D", "stride", [0, 1]), ["CONV_2D", "stride_h is 0"]),
    ("no outputs", "ad.edgesdk", lambda m, a: m.__setitem__("outputs", []), ["no graph outputs"]),
    (
        "version is an object",
        "ad.edgesdk",
        lambda m, a: m.__setitem__("version", {"a": 1}),
        ["field version"],
    ),
    ("tensors is a string", "ad.edgesdk", lambda m, a: m.__setitem__("tensors", "x"), ["field tensors"]),
    (
        "10,001 operators",
        "ad.edgesdk",
        lambda m, a: m.__setitem__("nodes", [{}] * 10_001),
        ["10,001 entries"],
    ),
    (
        "shape holds a string",
        "ic.edgesdk",
        lambda m, a: m["tensors"][0].__setitem__("shape", ["1"]),
        ["shape[0]"],
    ),
    (
        "stride as text",
        "ic.edgesdk",
        _field("CONV_2D", "stride", "1,1"),
        ["fields.stride", "a list of 2 integers"],
    ),
    (
        "unknown field",
        "ic.edgesdk",
        _field("CONV_2D", "strides", [1, 1]),
        ["'strides' is not a field of op CONV_2D"],
    ),
    ("unknown activation", "ic.edgesdk", _field("CONV_2D", "activation", "TANH"), ["activation is 'TANH'"]),
    (
        "duplicate layer name",
        "ad.edgesdk",
        lambda m, a: m["nodes"][1].__setitem__("name", m["nodes"][0]["name"]),
        ["same name"],
    ),  # fmt: skip
    ("XNOR pad value 5", "xnor.xnor", _field("EDGESDK_XNOR_CONV_2D", "pad_value", 5), ["pad_value is 5"]),
    (
        "XNOR thresholds short",
        "xnor.xnor",
        _field("EDGESDK_XNOR_CONV_2D", "threshold", [0]),
        ["threshold and flip"],
    ),
    ("XNOR weight tail bits", "xnor.xnor", _tail_bits, ["bits set past their 16 valid bits"]),
    ("UNPACK high 300", "xnor.xnor", _field("EDGESDK_UNPACK_BITS", "high", 300), ["field high is 300"]),
    ("BINARIZE channels", "xnor.xnor", _field("EDGESDK_BINARIZE", "channels", 17), ["field channels is 17"]),
    (
        "adder negative scale",
        "adder.edgesdk",
        _field("EDGESDK_ADDER_CONV_2D", "acc_scale", [-1.0] * 8),
        ["acc_scale"],
    ),  # fmt: skip
    ("adder stride 0", "adder.edgesdk", _field("EDGESDK_ADDER_CONV_2D", "stride", [1, 0]), ["stride_w is 0"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_archive_defects_are_refused_with_one_sentence(
    case: tuple, fa: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, seed, fn, words = case
    path = tmp_path / f"m{Path(seed).suffix}"
    path.write_bytes(_edit(fa, seed, fn))
    with pytest.raises(ModelFormatError) as info:
        load_model(path)
    for w in words:
        assert w in str(info.value), str(info.value)
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words[0] in err, err


def test_seed_archives_are_accepted_and_every_custom_op_is_verified(fa: Any) -> None:
    ops = set()
    for data in fa.seed_archives().values():
        ops |= {n.op for n in load_graph(data).nodes}
    assert {"EDGESDK_BINARIZE", "EDGESDK_XNOR_CONV_2D", "EDGESDK_XNOR_FULLY_CONNECTED"} <= ops
    assert {"EDGESDK_UNPACK_BITS", "EDGESDK_ADDER_CONV_2D", "CONV_2D", "FULLY_CONNECTED"} <= ops


def _npy_with_header(shape: tuple[int, ...], descr: str, body: bytes) -> bytes:
    hdr = io.BytesIO()
    np.lib.format.write_array_header_1_0(hdr, {"descr": descr, "fortran_order": False, "shape": shape})
    return hdr.getvalue() + body


def test_npy_header_claiming_1e12_elements_is_refused_before_allocating(fa: Any, tmp_path: Path) -> None:
    meta, arrays = fa._split(fa.seed_archives()["ad.edgesdk"])
    key = sorted(arrays)[0]
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        members = [(n, z.read(n)) for n in z.namelist()]
    a = arrays[key]
    members = [
        (n, _npy_with_header((10**12,), a.dtype.str, a.tobytes()) if n == f"{key}.npy" else d)
        for n, d in members
    ]
    data = fa._join(meta, arrays, fa.write_zip(members))
    tracemalloc.start()
    with pytest.raises(ModelFormatError, match=r"declares shape \[1000000000000\]"):
        load_graph(data)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 << 20


def test_zip_bomb_is_refused_before_inflating(
    fa: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An 8.7 KB archive whose arrays inflate to 3 GiB: refused from the central directory, with a sentence, and
    without allocating (the time it takes is measured in ``benchmarks/results/fuzz_archives.json``)."""
    path = tmp_path / "bomb.edgesdk"
    path.write_bytes(fa.zip_bomb(3 << 30))
    assert path.stat().st_size < 64 << 10
    tracemalloc.start()
    assert main(["inspect", str(path)]) == 2
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "zip bomb" in err and "arrays.npz" in err, err
    assert peak < 64 << 20


# --- data files -------------------------------------------------------------------------------------------------
def _bad_npy(kind: str, good: np.ndarray) -> bytes:
    if kind == "object array":
        return _npy_with_header(good.shape, "|O", b"\x80\x04N.")  # a pickle: must never be unpickled
    if kind == "wrong dtype":
        buf = io.BytesIO()
        np.save(buf, np.array(["a"] * good.size).reshape(good.shape))
        return buf.getvalue()
    if kind == "truncated":
        buf = io.BytesIO()
        np.save(buf, good)
        return buf.getvalue()[: len(buf.getvalue()) - 7]
    assert kind == "lying header"
    return _npy_with_header((10**12, *good.shape[1:]), good.dtype.str, good.tobytes())


DATA_KINDS = ["object array", "wrong dtype", "truncated", "lying header"]
DATA_WORDS = {
    "object array": "never unpickles",
    "wrong dtype": "plain numbers",
    "truncated": "bytes follow",
    "lying header": "declares shape [1000000000000",
}


@pytest.mark.parametrize("kind", DATA_KINDS)
@pytest.mark.parametrize("option", ["--inputs", "--labels", "--calib"])
def test_bad_data_files_are_one_sentence(
    kind: str, option: str, mlperf_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = {
        "--inputs": np.zeros((3, 640), np.int8),
        "--labels": np.zeros(3, np.int64),
        "--calib": np.ones((3, 640), np.float32),
    }[option]
    bad = tmp_path / "bad.npy"
    bad.write_bytes(_bad_npy(kind, good))
    if option == "--calib":
        args = ["inspect", str(mlperf_dir / "ad01_fp32.tflite"), "--calib", str(bad)]
        code = 4
    else:
        args = [
            "validate",
            str(mlperf_dir / "ad01_int8.tflite"),
            "--board",
            "host",
            "-n",
            "3",
            option,
            str(bad),
        ]
        args += ["-o", str(tmp_path / "v")]
        code = 1
    assert main(args) == code
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and DATA_WORDS[kind] in err and str(bad) in err, err


def test_mlperf_label_file(tmp_path: Path) -> None:
    """The MLPerf Tiny runner's ``file,num_classes,label`` lines; matched by file name to a folder of inputs."""
    path = tmp_path / "y_labels.csv"
    path.write_text("b.bin, 10, 7\na.bin, 10, 2\nc.bin, 10, 0\n")
    np.testing.assert_array_equal(load_labels(path, 3), [7, 2, 0])
    np.testing.assert_array_equal(load_labels(path, 3, names=["a.bin", "b.bin", "c.bin"]), [2, 7, 0])
    with pytest.raises(EdgeSDKError, match="no line for input file d.bin"):
        load_labels(path, 2, names=["a.bin", "d.bin"])
    path.write_text("a.bin,10,12\n")
    with pytest.raises(EdgeSDKError, match=r"line 1: label 12 is outside 0\.\.9"):
        load_labels(path, 1)
    path.write_text("a.bin,ten,1\n")
    with pytest.raises(EdgeSDKError, match="must be integers"):
        load_labels(path, 1)


def test_validate_uses_every_input_given(
    ad_graph: Any, mlperf_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x = np.random.default_rng(0).integers(-128, 128, (30, 640)).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.arange(30) % 7)
    assert len(make_inputs(ad_graph, tmp_path / "x.npy")) == 30
    assert len(make_inputs(ad_graph, tmp_path / "x.npy", 4)) == 4
    assert len(make_inputs(ad_graph, None)) == 20
    args = [
        "validate",
        str(mlperf_dir / "ad01_int8.tflite"),
        "--board",
        "host",
        "--inputs",
        str(tmp_path / "x.npy"),
    ]
    assert main([*args, "--labels", str(tmp_path / "y.npy"), "-o", str(tmp_path / "v")]) == 0
    out = capsys.readouterr().out
    assert "30/30 outputs bit-exact" in out and "over 30 labeled inputs" in out, out


def test_archive_json_is_checked_before_anything_else(fa: Any) -> None:
    data = fa.write_zip([("graph.json", json.dumps([1, 2]).encode()), ("arrays.npz", b"")])
    with pytest.raises(ModelFormatError, match="top level"):
        load_graph(data)


def test_non_int8_activation_in_an_archive_is_unsupported(fa: Any, tmp_path: Path) -> None:
    """Found by the archive fuzzer: a bool pooling output passed the verifier and export refused it."""

    def fn(meta: dict, arrays: dict) -> None:
        _tensor(meta, _node(meta, "AVERAGE_POOL_2D")["outputs"][0])["dtype"] = "bool"

    path = tmp_path / "m.edgesdk"
    path.write_bytes(_edit(fa, "ic.edgesdk", fn))
    assert main(["inspect", str(path)]) == 3


def test_keras_layer_names_tensorflow_refuses(tmp_path: Path) -> None:
    """Quotes, ``$``, a newline and a space in layer names (which failed with "'NoneType' object is not
    callable"); the second layer already has the name the first one is cleaned to."""
    import keras

    inp = keras.Input((8,), batch_size=1)
    y = keras.layers.Dense(6, name="d'e\"n$s\ne a")(inp)
    model = keras.Model(inp, keras.layers.Dense(4, name="d_e_n_s_e_a")(y))
    model.save(tmp_path / "m.keras")
    calib = np.random.default_rng(0).normal(size=(16, 8)).astype(np.float32)
    g = load_model(tmp_path / "m.keras", calib=calib)
    assert [n.op for n in g.nodes] == ["FULLY_CONNECTED", "FULLY_CONNECTED"]


def test_lambda_layer_refused_in_one_full_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import keras

    inp = keras.Input((8,), batch_size=1)
    keras.Model(inp, keras.layers.Lambda(lambda x: x * 2)(inp)).save(tmp_path / "l.keras")
    np.save(tmp_path / "c.npy", np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32))
    assert main(["inspect", str(tmp_path / "l.keras"), "--calib", str(tmp_path / "c.npy")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Lambda layer" in err and "safe_mode" not in err, err
    assert err.endswith("save the model again"), err


def test_compress_training_data_with_an_object_array(fa: Any, tmp_path: Path) -> None:
    from edgesdk.compress.base import load_xy
    from edgesdk.errors import CompressError

    path = tmp_path / "train.npz"
    path.write_bytes(fa.write_zip([("x.npy", _npy_with_header((2,), "|O", b"\x80\x04N.")), ("y.npy", b"")]))
    with pytest.raises(CompressError, match="never unpickles"):
        load_xy(path, "training")


def test_names_with_control_characters_never_reach_the_terminal(
    fa: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def fn(meta: dict, arrays: dict) -> None:
        node = _node(meta, "CONV_2D")
        node["name"] = "conv\x1b]0;owned\x07\n\x1b[2Jx"
        node["fields"]["stride"] = [0, 1]

    path = tmp_path / "m.edgesdk"
    path.write_bytes(_edit(fa, "ic.edgesdk", fn))
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "\x1b" not in err and "\x07" not in err, repr(err)
    assert "layer conv?]0;owned???[2Jx (CONV_2D)" in err, err


def test_validate_with_an_mlperf_label_file_and_a_folder_of_inputs(
    mlperf_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "inputs"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name in ("s2.npy", "s0.npy", "s1.npy"):
        np.save(folder / name, rng.normal(size=(1, 640)).astype(np.float32))
    labels = tmp_path / "y_labels.csv"
    labels.write_text("s1.npy,640,5\ns0.npy,640,3\ns2.npy,640,9\n")
    args = ["validate", str(mlperf_dir / "ad01_int8.tflite"), "--board", "host", "--inputs", str(folder)]
    assert main([*args, "--labels", str(labels), "-o", str(tmp_path / "v")]) == 0
    assert "over 3 labeled inputs" in capsys.readouterr().out
