"""Generated C against the reference interpreter, bit for bit.

Each model is generated and compiled once per session (host gcc, -std=c99 -Wall -Wextra -Werror -pedantic),
then one process runs all its inputs: raw int8 vectors in a file, raw int8 outputs back (firmware/host's
driver). Outputs are compared with ``np.testing.assert_array_equal`` to ``edgesdk.reference.Reference`` and,
for the MLPerf Tiny models, to TFLite Micro's golden output. One build per shared model also runs under
AddressSanitizer and UndefinedBehaviorSanitizer, and the IC project is cross-compiled for a Cortex-M4.

The helpers that build and run generated C on the host are in ``hostbuild.py`` (shared by the kernel tests).
"""

from __future__ import annotations

import copy
import filecmp
import os
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from edgesdk.backends.c import CProject, generate_c
from edgesdk.errors import UnsupportedOpError
from edgesdk.ir import graph as ir
from hostbuild import (  # noqa: F401  (test files written before hostbuild.py import them from here)
    ARM_GCC,
    CFLAGS,
    GCC,
    SANITIZE,
    compile_host,
    generate_and_build,
    random_inputs,
    reference_outputs,
    run_host,
)

HOSTILE = 'conv/1 "x"; int main'
N_RANDOM = 100

pytestmark = pytest.mark.skipif(GCC is None, reason="needs host gcc")


# ---------------------------------------------------------------------------------------------------------------
# Shared MLPerf Tiny models
# ---------------------------------------------------------------------------------------------------------------


def _read(path: Path) -> ir.Graph:
    from edgesdk.frontends.tflite import read_tflite

    return read_tflite(path)


@pytest.fixture(scope="session")
def cbuild(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cbackend")


@pytest.fixture(scope="session")
def ic_build(ic_graph: ir.Graph, cbuild: Path) -> tuple[CProject, Path]:
    return generate_and_build(ic_graph, cbuild / "ic")


@pytest.fixture(scope="session")
def ad_build(ad_graph: ir.Graph, cbuild: Path) -> tuple[CProject, Path]:
    return generate_and_build(ad_graph, cbuild / "ad")


@pytest.mark.parametrize("which", ["ic", "ad"])
def test_shared_models_bit_exact(which: str, request: pytest.FixtureRequest) -> None:
    """TFLM's golden input gives TFLM's golden output, and 100 random inputs give the reference's outputs."""
    graph: ir.Graph = request.getfixturevalue(f"{which}_graph")
    project, exe = request.getfixturevalue(f"{which}_build")
    golden = request.getfixturevalue(f"{which}_golden")
    x = np.concatenate([golden["input"].reshape(1, -1), random_inputs(project.input_size, N_RANDOM, seed=7)])
    y = run_host(exe, x, project.output_size)
    np.testing.assert_array_equal(y[0], golden["output"].reshape(-1))
    np.testing.assert_array_equal(y, reference_outputs(graph, x))


@pytest.mark.parametrize("which", ["ic", "ad"])
def test_shared_models_under_sanitizers(which: str, request: pytest.FixtureRequest, cbuild: Path) -> None:
    """ASan + UBSan build (any finding aborts the run) on the golden and a few random inputs."""
    graph: ir.Graph = request.getfixturevalue(f"{which}_graph")
    golden = request.getfixturevalue(f"{which}_golden")
    project, exe = generate_and_build(graph, cbuild / f"{which}_asan", sanitize=True)
    x = np.concatenate([golden["input"].reshape(1, -1), random_inputs(project.input_size, 3, seed=11)])
    y = run_host(exe, x, project.output_size)
    np.testing.assert_array_equal(y[0], golden["output"].reshape(-1))
    np.testing.assert_array_equal(y, reference_outputs(graph, x))


def test_shared_model_figures(ic_build: tuple[CProject, Path], ad_build: tuple[CProject, Path]) -> None:
    """Deterministic sizes: constants per layer, arena within the plan, layer count."""
    ic, _ = ic_build
    ad, _ = ad_build
    assert ic.num_layers == len(ic.layer_flash) and ad.num_layers == len(ad.layer_flash)
    assert ic.input_size == 3072 and ic.output_size == 10
    assert ad.input_size == 640 and ad.output_size == 640
    assert ic.arena_bytes % 16 == 0 and ad.arena_bytes % 16 == 0
    assert ic.arena_bytes < 54996  # below TFLM's arena for the same model
    assert ad.arena_bytes < 2580
    assert ic.lower_bound <= ic.arena_bytes and ad.lower_bound <= ad.arena_bytes
    assert ad.flash_bytes > 260_000 and ic.flash_bytes > 75_000


def test_cross_compiles_for_cortex_m4(ic_build: tuple[CProject, Path], cbuild: Path) -> None:
    if ARM_GCC is None:
        pytest.skip("needs arm-none-eabi-gcc")
    project, _ = ic_build
    flags = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O2", *CFLAGS]
    objdir = cbuild / "arm"
    objdir.mkdir(exist_ok=True)
    for src in project.sources:
        obj = objdir / (src.name + ".o")
        subprocess.run(
            [ARM_GCC, *flags, *(f"-I{d}" for d in project.include_dirs), "-c", str(src), "-o", str(obj)],
            check=True,
            timeout=300,
            capture_output=True,
        )


def test_generation_is_deterministic(ad_graph: ir.Graph, tmp_path: Path) -> None:
    a = generate_c(ad_graph, tmp_path / "a")
    b = generate_c(ad_graph, tmp_path / "b")
    assert a.files == b.files
    for rel in a.files:
        assert filecmp.cmp(tmp_path / "a" / rel, tmp_path / "b" / rel, shallow=False), rel
    text = (tmp_path / "a" / f"{a.model_name}.c").read_text()
    assert text.startswith(
        f"/* Generated by edgesdk 0.1 from ad01_int8.tflite (sha256:{ad_graph.sha256}). Do not edit. */"
    )


def test_generated_project_layout(ic_build: tuple[CProject, Path]) -> None:
    project, _ = ic_build
    h = (project.out_dir / f"{project.model_name}.h").read_text()
    c = (project.out_dir / f"{project.model_name}.c").read_text()
    prefix = project.model_name.upper()
    for macro in (
        "INPUT_SIZE",
        "OUTPUT_SIZE",
        "INPUT_SCALE",
        "INPUT_ZERO_POINT",
        "OUTPUT_SCALE",
        "ARENA_BYTES",
        "NUM_LAYERS",
    ):
        assert f"#define {prefix}_{macro} " in h
    assert f"static uint8_t {project.model_name}_arena[{prefix}_ARENA_BYTES]" in c
    assert "/* conv2d: Conv2D 32x32x3 -> 32x32x16 */" in c
    assert c.count("EDGESDK_LAYER_BEGIN(") == project.num_layers
    assert "malloc" not in c and "float" not in c.split("int " + project.model_name + "_init")[1]
    assert (project.out_dir / f"{project.model_name}_glue.c").read_text().count(
        "const edgesdk_model_t edgesdk_model"
    ) == 1


def _hostile_copy(graph: ir.Graph) -> ir.Graph:
    """The same model with every name replaced by C-hostile text (the source graph is left alone)."""
    g = copy.deepcopy(graph)
    names = {name: f"{HOSTILE} {k}" for k, name in enumerate(g.tensors)}
    tensors = {}
    for old, t in g.tensors.items():
        t.name = names[old]
        tensors[t.name] = t
    g.tensors = tensors
    for node in g.nodes:
        node.name = HOSTILE
        node.inputs = [names[n] if n else n for n in node.inputs]
        node.outputs = [names[n] for n in node.outputs]
    g.inputs = [names[n] for n in g.inputs]
    g.outputs = [names[n] for n in g.outputs]
    g.name = HOSTILE
    g.source = HOSTILE + "*/.tflite"
    return g


def test_hostile_names_compile_and_run(ad_graph: ir.Graph, tmp_path: Path) -> None:
    g = _hostile_copy(ad_graph)
    project, exe = generate_and_build(g, tmp_path / "hostile")
    assert project.model_name.isidentifier()
    x = random_inputs(project.input_size, 5, seed=3)
    np.testing.assert_array_equal(run_host(exe, x, project.output_size), reference_outputs(ad_graph, x))
    assert [n.name for n in ad_graph.nodes][0] == "dense"  # the source graph is untouched


def test_unsupported_op_is_a_clear_error(ad_graph: ir.Graph, tmp_path: Path) -> None:
    class Tanh(ir.Node):
        op = "TANH"

    g = copy.deepcopy(ad_graph)
    g.nodes[2] = Tanh(name="tanh1", inputs=list(g.nodes[2].inputs[:1]), outputs=list(g.nodes[2].outputs))
    with pytest.raises(UnsupportedOpError, match=r"^layer tanh1: op TANH is not supported by the C backend$"):
        generate_c(g, tmp_path / "bad")


def test_single_rounding_option(ad_graph: ir.Graph, tmp_path: Path) -> None:
    """rounding="single" in the backend equals the reference's single-rounding FULLY_CONNECTED."""
    project, exe = generate_and_build(ad_graph, tmp_path / "single", rounding="single")
    x = random_inputs(project.input_size, 20, seed=5)
    y = run_host(exe, x, project.output_size)
    np.testing.assert_array_equal(y, reference_outputs(ad_graph, x, rounding="single"))
    assert not np.array_equal(y, reference_outputs(ad_graph, x, rounding="double"))


# ---------------------------------------------------------------------------------------------------------------
# Generated Keras models (tests/modelgen.py)
# ---------------------------------------------------------------------------------------------------------------


def _modelgen_cases() -> list[str]:
    try:
        from modelgen import CASES
    except ImportError:
        return []
    return list(CASES)


@pytest.fixture(scope="session")
def modelgen_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = os.environ.get("EDGESDK_MODELGEN_CACHE")
    return Path(env) if env else tmp_path_factory.getbasetemp() / "modelgen"


@pytest.mark.parametrize("case", _modelgen_cases())
def test_modelgen_case_bit_exact(case: str, modelgen_cache: Path, cbuild: Path) -> None:
    from modelgen import build_case

    graph = _read(build_case(case, modelgen_cache))
    project, exe = generate_and_build(graph, cbuild / "modelgen" / case)
    x = random_inputs(project.input_size, 30, seed=zlib.crc32(case.encode()) % 1000)
    np.testing.assert_array_equal(run_host(exe, x, project.output_size), reference_outputs(graph, x))


@pytest.mark.parametrize("case", ["add_broadcast_both", "dw_8x8_c31_m1_k3_s2_same_relu"])
def test_zero_copy_input_api_matches_invoke(case: str, tmp_path: Path) -> None:
    """``<model>_input(i)`` points into the arena where input i lives: the host driver built with
    ``-DEDGESDK_HOST_IN_PLACE`` reads every input straight there and calls ``<model>_invoke_in_place`` (no input
    buffer, no copy); the outputs equal ``invoke``'s and the reference's bit for bit, inference after inference
    (two inputs; a depthwise layer run in place writes over its input, which is written again before each call)."""
    import test_c_kernels as kernels
    from edgesdk.passes import PassContext, run_pipeline

    graph = kernels.CASES[case](case)
    lowered = run_pipeline(graph, "default", PassContext(force={"*": "inplace"})) if "dw" in case else graph
    assert "dw" not in case or lowered.nodes[0].attrs.get("kernel") == "inplace"
    project = generate_c(lowered, tmp_path / "p")
    h = (project.out_dir / f"{project.model_name}.h").read_text()
    assert f"int8_t *{project.model_name}_input(int index);" in h
    assert f"int {project.model_name}_invoke_in_place(int8_t *out);" in h
    x = random_inputs(project.input_size, 6, seed=11)
    copied = run_host(compile_host(project, tmp_path / "copy", sanitize=True), x, project.output_size)
    direct = compile_host(project, tmp_path / "direct", sanitize=True, extra=["-DEDGESDK_HOST_IN_PLACE"])
    np.testing.assert_array_equal(run_host(direct, x, project.output_size), copied)
    np.testing.assert_array_equal(copied, reference_outputs(graph, x))
