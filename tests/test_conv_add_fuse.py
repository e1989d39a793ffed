"""Residual ADD fused with the convolution producing one operand (``passes/conv_add_fuse.py``,
``backends/c/conv_add.py``, the planner's fused lifetimes): which ADDs fuse, the arena they free, and the fused
C bit for bit against the un-fused reference - hand-built graphs, a small residual Keras model through the real
TFLite converter on the host under ASan/UBSan (portable and Cortex-M DSP kernels, direct and Winograd bands),
and the same model on the emulated Cortex-M4.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgesdk.compiler.planner import plan
from edgesdk.ir import graph as ir
from edgesdk.passes import PassContext, kernel_decisions, run_pipeline
from hostbuild import GCC, generate_and_build, random_inputs, reference_outputs, run_host
from test_c_kernels import _B

#: The fusion alone (conv1 not run as a band chain into conv2, passes/band_chain.py; tested in test_overlap.py).
NO_CHAIN = {"band_chain": False}
NO_FUSE = PassContext(forbid={"*": {"conv_fused"}}, options=NO_CHAIN)


def _conv(b: _B, name: str, x: str, shape, cout: int, k: int = 3, s: int = 1, act: str = "NONE"):
    _, h, w, cin = shape
    oh, ow = -(-h // s), -(-w // s)
    y = b.act(f"{name}_out", (1, oh, ow, cout), float(b.rng.uniform(0.2, 0.6)))
    node = ir.Conv2D(
        name=name,
        inputs=[x, b.weights(f"{name}_w", (cout, k, k, cin), 0), b.bias(f"{name}_b", cout)],
        outputs=[y],
        stride=(s, s),
        dilation=(1, 1),
        padding="SAME",
        activation=act,
    )
    return node, y, (1, oh, ow, cout)


def residual_block(name: str, shape=(1, 9, 7, 8), variant: str = "fusable") -> ir.Graph:
    """conv0 -> x; conv1(x) -> h; conv2(h) -> y; add(y, x) (the fusable block). Variants that must not fuse:
    ``self`` adds conv2's own input, ``reused`` reads the residual again after the ADD, ``gap`` puts a node
    between conv2 and the ADD."""
    b = _B(name)
    inp = b.act("inp", shape)
    c0, x, s = _conv(b, "conv0", inp, shape, shape[3], act="RELU")
    c1, h, _ = _conv(b, "conv1", x, s, shape[3], act="RELU")
    c2, y, _ = _conv(b, "conv2", h, s, shape[3])
    resid = h if variant == "self" else x
    z = b.act("z", s, 0.5)
    nodes = [c0, c1, c2]
    if variant == "gap":
        g = b.act("g", s, 0.3)
        nodes.append(ir.Add(name="other", inputs=[h, h], outputs=[g]))
    nodes.append(ir.Add(name="add", inputs=[y, resid], outputs=[z], activation="RELU"))
    outputs = [z]
    if variant == "reused":
        r = b.act("r", s, 0.5)
        nodes.append(ir.Add(name="after", inputs=[z, x], outputs=[r]))
        outputs = [r]
    if variant == "gap":
        outputs.append(g)
    return b.done([inp], outputs, *nodes)


def test_pass_fuses_only_safe_adds() -> None:
    g = run_pipeline(residual_block("fuse_ok"), "default", PassContext())
    add = next(n for n in g.nodes if n.name == "add")
    conv2 = next(n for n in g.nodes if n.name == "conv2")
    assert add.attrs["kernel"] == "conv_fused" and conv2.attrs["fused_into"] == "add"
    (row,) = [d for d in kernel_decisions(g) if d["layer"] == "add"]
    assert row["fused_conv"] == "conv2" and row["scratch_bytes"] == 2 * 7 * 8
    assert row["bytes_saved"] == 9 * 7 * 8 - 2 * 7 * 8
    for variant in ("self", "reused", "gap"):
        g = run_pipeline(residual_block(f"fuse_{variant}", variant=variant), "default", PassContext())
        assert not any(n.attrs.get("kernel") == "conv_fused" for n in g.nodes), (
            variant
        )  # (a band chain may form)
    g = run_pipeline(residual_block("fuse_forbidden"), "default", NO_FUSE)
    assert not any(n.attrs.get("kernel") == "conv_fused" for n in g.nodes)


def test_planner_lifetimes_of_a_fused_add() -> None:
    """The convolution's output is only the band scratch, its input lives to the ADD, the ADD writes over the
    residual; the bound is the fused graph's and the arena smaller than un-fused."""
    graph = residual_block("fuse_plan", shape=(1, 12, 8, 16))
    fused = run_pipeline(graph, "default", PassContext(options=NO_CHAIN))
    p = plan(fused)
    p.check_no_overlap()
    steps = {n.name: i for i, n in enumerate(fused.nodes)}
    buf = {t: b for b in p.buffers for t in b.tensors}
    block = 12 * 8 * 16
    assert buf["conv2_out"].size == 2 * 8 * 16
    assert buf["conv1_out"].last == steps["add"]  # the bands read conv2's input at the ADD's step
    assert p.offsets["z"] == p.offsets["conv0_out"] and buf["z"] is buf["conv0_out"]
    assert p.lower_bound == 2 * block + 2 * 8 * 16 == p.arena_bytes
    plain = plan(run_pipeline(graph, "default", NO_FUSE))
    assert plain.lower_bound == 3 * block and p.arena_bytes < plain.arena_bytes


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
def test_fused_hand_built_blocks_on_host_under_sanitizers(tmp_path: Path) -> None:
    """Odd row counts (a last band of one row), direct and Winograd bands, portable and DSP kernels."""
    graph = residual_block("fuse_host", shape=(1, 9, 7, 8))
    for target, ctx in (
        (None, PassContext(options=NO_CHAIN)),
        (
            "cortex-m-dsp",
            PassContext(
                core="cortex-m4", force={"conv2": "winograd"}, options={"flash_bytes": 1 << 22, **NO_CHAIN}
            ),
        ),
    ):
        lowered = run_pipeline(graph, "default", ctx)
        assert lowered.nodes[-1].attrs["kernel"] == "conv_fused"
        project, exe = generate_and_build(lowered, tmp_path / str(target), sanitize=True, target=target)
        src = (project.out_dir / f"{project.model_name}.c").read_text()
        assert src.count("EDGESDK_LAYER_BEGIN(") == 3 and "_conv2_rows(" in src
        assert ("ed_winograd_s8" in src) == (target is not None)
        x = random_inputs(project.input_size, 16, seed=5)
        np.testing.assert_array_equal(run_host(exe, x, project.output_size), reference_outputs(graph, x))


# ---------------------------------------------------------------------------------------------------------------
# A small residual Keras model through the real converter (two blocks: identity and 1x1 stride-2 shortcut;
# then MUL, max and average pooling)
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def residual_model(tmp_path_factory) -> ir.Graph:
    import keras

    from edgesdk.compiler.model import load_model
    from edgesdk.frontends.keras import quantize_keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(1234)
    inp = keras.Input((9, 10, 8), batch_size=1)
    a = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    a = keras.layers.Conv2D(8, 3, padding="same")(a)
    x = keras.layers.Activation("relu")(keras.layers.Add()([a, inp]))
    c = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    c = keras.layers.Conv2D(16, 3, padding="same")(c)
    s = keras.layers.Conv2D(16, 1, strides=2)(x)
    y = keras.layers.Activation("relu")(keras.layers.Add()([c, s]))
    # MUL and both poolings: the other DSP elementwise/pool kernels on the emulated board too
    y = keras.layers.MaxPooling2D(2, strides=1, padding="same")(keras.layers.Multiply()([y, y]))
    y = keras.layers.AveragePooling2D(2, padding="same")(y)
    model = keras.Model(inp, y)
    calib = np.random.default_rng(1234).uniform(-1, 1, (16, 9, 10, 8)).astype(np.float32)
    path = tmp_path_factory.mktemp("fuse") / "residual.tflite"
    path.write_bytes(quantize_keras(model, calib, num_samples=None))
    return load_model(path)


def _fused(graph: ir.Graph, **kw) -> list[str]:
    return [
        d["layer"]
        for d in kernel_decisions(run_pipeline(graph, "default", PassContext(**kw)))
        if d["kernel"] == "conv_fused"
    ]


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
def test_residual_keras_model_fused_on_host(residual_model: ir.Graph, tmp_path: Path) -> None:
    assert len(_fused(residual_model)) == 2
    for target, ctx in (
        (None, PassContext()),
        ("cortex-m-dsp", PassContext(core="cortex-m4", options={"flash_bytes": 1 << 22})),
    ):
        lowered = run_pipeline(residual_model, "default", ctx)
        p, plain = plan(lowered), plan(run_pipeline(residual_model, "default", NO_FUSE))
        assert p.arena_bytes < plain.arena_bytes and p.arena_bytes == p.lower_bound
        project, exe = generate_and_build(
            lowered, tmp_path / str(target), sanitize=True, plan=p, target=target
        )
        assert project.arena_bytes == p.arena_bytes
        x = random_inputs(project.input_size, 24, seed=11)
        np.testing.assert_array_equal(
            run_host(exe, x, project.output_size), reference_outputs(residual_model, x)
        )


EMULATED = shutil.which("qemu-system-arm") is not None and shutil.which("arm-none-eabi-gcc") is not None


@pytest.mark.emulator
@pytest.mark.skipif(not EMULATED, reason="needs qemu-system-arm and arm-none-eabi-gcc")
def test_residual_keras_model_fused_on_emulated_cortex_m4(residual_model: ir.Graph, tmp_path: Path) -> None:
    from edgesdk.commands.device import validate

    summary = validate(residual_model, "mps2-an386", count=6, out_dir=tmp_path / "v")
    assert summary.count == 6 and summary.exact == 6, summary.to_dict()
    report = json.loads((tmp_path / "v" / "project" / "report.json").read_text())
    assert sum(k.get("kernel") == "conv_fused" for k in report["kernels"]) == 2
    assert report["memory"]["arena_bytes"] == report["memory"]["arena_lower_bound"]


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
def test_rows_function_plug_in(tmp_path: Path, monkeypatch) -> None:
    """A lowering registered in ``ROWS_LOWER`` under the convolution's kernel name supplies the band function
    ``(input, output, oy_begin, oy_end)`` (as a per-layer specialised convolution will); the band loop calls it."""
    from edgesdk.backends.c import conv_add
    from edgesdk.backends.c.generator import _lower_conv

    def rows_lower(cb) -> str:
        _lower_conv(cb)  # the plain kernel's arrays and fields, called here with a local copy per band
        fn = cb.gen.ident(cb.gen.model, cb.cname, "custom_rows")
        fields = "".join(f"    p.{name} = {value};\n" for name, value in cb.fields)
        cb.code = (
            f"static void {fn}(const int8_t *input, int8_t *output, int32_t oy_begin, int32_t oy_end)\n{{\n"
            f"    ed_conv_params_t p;\n{fields}    p.out_h = oy_end - oy_begin;\n"
            f"    p.pad_top -= oy_begin * p.stride_h;\n    ed_conv_s8(&p, input, output);\n}}\n"
        )
        return fn

    monkeypatch.setitem(conv_add.ROWS_LOWER, "", rows_lower)
    graph = residual_block("fuse_plugin", shape=(1, 7, 5, 4))
    lowered = run_pipeline(graph, "default", PassContext(options=NO_CHAIN))
    project, exe = generate_and_build(lowered, tmp_path, sanitize=True)
    src = (project.out_dir / f"{project.model_name}.c").read_text()
    assert "_conv2_custom_rows(conv_input, scratch, oy, end);" in src and "_conv2_rows(" not in src
    x = random_inputs(project.input_size, 12, seed=2)
    np.testing.assert_array_equal(run_host(exe, x, project.output_size), reference_outputs(graph, x))


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
def test_fused_pointwise_fc_kernel_bands_on_host(tmp_path: Path) -> None:
    """A 1x1 stride-1 convolution run as the int16-weight FC kernel over the pixels (``pointwise_w16``) is fused
    too: a band is its rows' pixels as the FC's batches (an inverted-residual block's projection)."""
    b = _B("fuse_pointwise")
    shape = (1, 7, 5, 16)
    inp = b.act("inp", shape)
    c0, x, s = _conv(b, "conv0", inp, shape, 16, act="RELU")
    c1, h, _ = _conv(b, "conv1", x, s, 24, k=1, act="RELU")
    c2, y, _ = _conv(b, "conv2", h, (1, 7, 5, 24), 16, k=1)
    z = b.act("z", s, 0.5)
    graph = b.done([inp], [z], c0, c1, c2, ir.Add(name="add", inputs=[x, y], outputs=[z]))
    ctx = PassContext(core="cortex-m4", force={"conv2": "pointwise_w16"}, options={"flash_bytes": 1 << 22})
    lowered = run_pipeline(graph, "default", ctx)
    assert [n.attrs.get("kernel") for n in lowered.nodes if n.name in ("conv2", "add")] == [
        "pointwise_w16",
        "conv_fused",
    ]
    project, exe = generate_and_build(lowered, tmp_path, sanitize=True, target="cortex-m-dsp")
    assert "p.batches = (oy_end - oy_begin) * 5;" in (project.out_dir / f"{project.model_name}.c").read_text()
    x_in = random_inputs(project.input_size, 12, seed=4)
    np.testing.assert_array_equal(run_host(exe, x_in, project.output_size), reference_outputs(graph, x_in))


@pytest.mark.emulator
@pytest.mark.skipif(not EMULATED, reason="needs qemu-system-arm and arm-none-eabi-gcc")
def test_profile_shows_a_fused_pair_as_one_row_and_memory_on_a_running_board(
    residual_model: ir.Graph, tmp_path: Path
) -> None:
    """The fused convolution's instructions are counted in its ADD's layer on the device: profile shows one row
    "conv + add" with both layers' MACs, never a convolution with 0 instructions; profiling a board already running
    (``--port``) reports the export's memory figures, not ``{}``."""
    from edgesdk.commands.device import profile
    from edgesdk.commands.export import export
    from edgesdk.transport import Emulator

    built = export(residual_model, "mps2-an386", tmp_path / "p", build=True)
    assert built.elf is not None
    with Emulator.for_board(built.board, built.elf) as emu:
        emu.transport.close()  # as 'edgesdk flash' leaves it: the port is the user's
        data = profile(
            residual_model,
            built.board,
            runs=1,
            out_dir=tmp_path / "prof",
            port=f"socket://127.0.0.1:{emu.port}",
        )
    fused = [r for r in data["layers"] if len(r.get("layers", [])) == 2]
    assert len(fused) == 2
    for row in fused:
        conv, add = row["layers"]
        assert row["name"] == f"{conv} + {add}" and row["op"] == "CONV_2D + ADD"
        assert row["count"] > 0 and row["macs"] > 0
    names = {n for r in data["layers"] for n in r.get("layers", [r["name"]])}
    assert names == {n.name for n in residual_model.nodes}  # every layer in exactly one row
    assert all(r["count"] > 0 for r in data["layers"] if "CONV_2D" in r["op"])
    assert data["layer_sum"]["ok"]
    mem = data["memory"]
    assert mem["arena_bytes"] == built.plan.arena_bytes and mem["stack_estimate"] > 0
    assert mem["stack_reserved"] == built.board.stack_bytes
