"""The model verifier: what the issue's fuzzing found is refused with one sentence, and a deterministic fuzz run
of a few hundred mutants of the shared models gives only acceptance or an edgesdk error; a sample of the accepted
ones is exported, built under ASan/UBSan and equals the reference (``scripts/fuzz_models.py`` runs thousands)."""

from __future__ import annotations

import copy
import importlib.util
import math
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edgesdk.commands.cli import main
from edgesdk.errors import EdgeSDKError, ModelFormatError, UnsupportedOpError
from edgesdk.frontends.tflite import read_tflite

REPO = Path(__file__).resolve().parent.parent


def script_module(name: str) -> Any:
    """``scripts/<name>.py`` as a module (the fuzzers are scripts, run from the command line too)."""
    if str(REPO / "scripts") not in sys.path:
        sys.path.insert(0, str(REPO / "scripts"))
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _fuzz_module() -> Any:
    return script_module("fuzz_models")


@pytest.fixture(scope="module")
def fz() -> Any:
    return _fuzz_module()


def _parsed(path: Path) -> Any:
    from ai_edge_litert import schema_py_generated as s

    return s.ModelT.InitFromPackedBuf(path.read_bytes(), 0)


def _op(model: Any, opname: str, k: int = 0) -> Any:
    from ai_edge_litert import schema_py_generated as s

    code = getattr(s.BuiltinOperator, opname)
    ops = [
        o
        for o in model.subgraphs[0].operators
        if max(
            model.operatorCodes[o.opcodeIndex].builtinCode,
            model.operatorCodes[o.opcodeIndex].deprecatedBuiltinCode,
        )
        == code
    ]
    return ops[k]


def _mutated(path: Path, fn: Callable[[Any], None]) -> bytes:
    _pack = (sys.modules.get("fuzz_models") or _fuzz_module())._pack
    model = copy.deepcopy(_parsed(path))
    fn(model)
    return _pack(model)


def _tensor(model: Any, idx: int) -> Any:
    return model.subgraphs[0].tensors[idx]


def _set_opt(opname: str, field: str, value: Any, k: int = 0) -> Callable[[Any], None]:
    return lambda m: setattr(_op(m, opname, k).builtinOptions, field, value)


def _set_out(opname: str, fn: Callable[[Any], None], k: int = 0) -> Callable[[Any], None]:
    return lambda m: fn(_tensor(m, _op(m, opname, k).outputs[0]))


def _set_in(opname: str, fn: Callable[[Any], None], k: int = 0, which: int = 0) -> Callable[[Any], None]:
    return lambda m: fn(_tensor(m, _op(m, opname, k).inputs[which]))


def _zp(v: int) -> Callable[[Any], None]:
    return lambda t: setattr(t.quantization, "zeroPoint", [v])


def _shape(*dims: int) -> Callable[[Any], None]:
    return lambda t: setattr(t, "shape", list(dims))


def _new_tensor(m: Any, like: int, shape: list[int], data: bytes | None = None) -> int:
    """Append a copy of tensor ``like`` with ``shape`` (a constant holding ``data`` if given); its index."""
    from ai_edge_litert import schema_py_generated as s

    sg = m.subgraphs[0]
    t = copy.deepcopy(sg.tensors[like])
    t.shape, t.name, t.buffer = shape, b"extra", 0
    if data is not None:
        buf = s.BufferT()
        buf.data = list(data)
        m.buffers.append(buf)
        t.buffer = len(m.buffers) - 1
    sg.tensors.append(t)
    return len(sg.tensors) - 1


def _two_outputs(m: Any) -> None:
    op = _op(m, "CONV_2D")
    op.outputs = [op.outputs[0], _new_tensor(m, op.outputs[0], [1, 32, 32, 16])]


def _pool_on_2d(m: Any) -> None:
    op = _op(m, "AVERAGE_POOL_2D")
    op.inputs = [_new_tensor(m, op.inputs[0], [1, 64], bytes(64))]


# (what the issue found, which model, mutation, expected error, words the sentence must hold)
CASES = [
    ("stride 0", "ic", _set_opt("CONV_2D", "strideH", 0), ModelFormatError, ["CONV_2D", "stride_h is 0"]),
    ("dilation -1", "ic", _set_opt("CONV_2D", "dilationWFactor", -1), ModelFormatError, ["dilation_w is -1"]),
    (
        "zero point 2^40",
        "ic",
        _set_out("CONV_2D", _zp(2**40)),
        ModelFormatError,
        ["zero_point 1099511627776"],
    ),
    ("zero point 128", "ic", _set_out("ADD", _zp(128)), ModelFormatError, ["zero_point 128", "-128..127"]),
    ("weights zero point 3", "ic", _set_in("CONV_2D", _zp(3), which=1), ModelFormatError, ["symmetric"]),
    (
        "dimension 2^31-1",
        "ad",
        _set_out("FULLY_CONNECTED", _shape(1, 2**31 - 1)),
        ModelFormatError,
        ["dimension"],
    ),
    (
        "declared 1000000x12",
        "ad",
        _set_out("FULLY_CONNECTED", _shape(1000000, 12)),
        ModelFormatError,
        ["bytes"],
    ),
    (
        "wrong output shape",
        "ic",
        _set_out("CONV_2D", _shape(1, 32, 32, 17)),
        ModelFormatError,
        ["differs from"],
    ),
    ("average pool on 2-D", "ic", _pool_on_2d, ModelFormatError, ["AVERAGE_POOL_2D", "rank 2"]),
    ("softmax beta NaN", "ic", _set_opt("SOFTMAX", "beta", math.nan), ModelFormatError, ["SOFTMAX", "beta"]),
    ("window too large", "ic", _set_opt("AVERAGE_POOL_2D", "filterHeight", 99), ModelFormatError, ["window"]),
    (
        "huge scale shift",
        "ic",
        _set_out("CONV_2D", lambda t: setattr(t.quantization, "scale", [1e-20])),
        ModelFormatError,
        ["shift"],
    ),
    ("two outputs", "ic", _two_outputs, UnsupportedOpError, ["several outputs"]),
    (
        "output index -1",
        "ad",
        lambda m: setattr(
            _op(m, "FULLY_CONNECTED", 2), "outputs", [_op(m, "FULLY_CONNECTED", 2).outputs[0], -1]
        ),
        ModelFormatError,
        ["FULLY_CONNECTED", "output tensor index is missing"],
    ),
    (
        "int32 model output",
        "ic",
        lambda m: setattr(_tensor(m, m.subgraphs[0].outputs[0]), "type", 2),
        UnsupportedOpError,
        ["model output", "int32"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_verifier_refuses_what_fuzzing_found(
    case: tuple, ic_model: Path, ad_model: Path, tmp_path: Path
) -> None:
    _, which, fn, exc, words = case
    data = _mutated(ic_model if which == "ic" else ad_model, fn)
    with pytest.raises(exc) as info:
        read_tflite(data)
    msg = str(info.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    assert main(["inspect", str(path)]) == exc.exit_code


N_MUTANTS = 300
N_SANITIZE = 3


def test_fuzzed_models_are_accepted_or_refused_never_crash(fz: Any, tmp_path: Path) -> None:
    """Raw and flatbuffer-aware mutants: every outcome is acceptance or an EdgeSDKError (no crash, no hang), and a
    sample of accepted flatbuffer-aware mutants exports, builds under ASan/UBSan and equals the reference."""
    if shutil.which("gcc") is None:
        pytest.skip("needs host gcc")
    result = fz.run(N_MUTANTS, N_SANITIZE, seed=7, workdir=tmp_path)
    ins, san = result["inspect"], result["sanitize"]
    assert ins["crashes"] == 0 and ins["hangs"] == 0, result["examples"]
    assert ins["accepted"] + sum(ins["refused"].values()) == N_MUTANTS
    assert (
        ins["accepted"] > 0 and ins["refused"].get("ModelFormatError", 0) > 0
    )  # both outcomes are exercised
    assert san["checked"] == N_SANITIZE and san["exact"] == N_SANITIZE, san["violations"]
    assert issubclass(ModelFormatError, EdgeSDKError)


def test_fuzzed_archives_are_accepted_or_refused_never_crash(tmp_path: Path) -> None:
    """The same contract for edgesdk's own archives (``scripts/fuzz_archives.py``): JSON-, array- and zip-level
    mutants of IC, AD, an XNOR and an AdderNet archive, and a 3 GiB zip bomb refused with a sentence."""
    if shutil.which("gcc") is None:
        pytest.skip("needs host gcc")
    fa = script_module("fuzz_archives")
    result = fa.run(N_MUTANTS, N_SANITIZE, seed=7, workdir=tmp_path)
    ins, san = result["inspect"], result["sanitize"]
    assert ins["crashes"] == 0 and ins["hangs"] == 0, result["examples"]
    assert ins["accepted"] + sum(ins["refused"].values()) == N_MUTANTS
    assert ins["accepted"] > 0 and ins["refused"].get("ModelFormatError", 0) > 0
    assert san["checked"] == N_SANITIZE and san["exact"] == N_SANITIZE, san["violations"]
    assert (
        result["zip_bomb"]["message"].startswith("ModelFormatError:")
        and "zip bomb" in result["zip_bomb"]["message"]
    )
