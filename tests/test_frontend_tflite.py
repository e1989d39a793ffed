"""The .tflite frontend against the truth: ai-edge-litert's interpreter reading the same file.

Every tensor the IR holds is compared with what the interpreter reports for the same TFLite index:
shape, dtype, scales, zero points, quantized dimension and, for constants, the data itself.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import flatbuffers
import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter, OpResolverType

import modelgen
from edgesdk.errors import UnsupportedOpError
from edgesdk.frontends.tflite import read_tflite
from edgesdk.ir import graph as ir


@pytest.fixture(scope="session")
def modelgen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared across test files of one session, so each generated model converts once."""
    return tmp_path_factory.getbasetemp() / "modelgen"


def _interpreter(path_or_bytes: Path | bytes) -> Interpreter:
    kw = (
        {"model_content": path_or_bytes}
        if isinstance(path_or_bytes, bytes)
        else {"model_path": str(path_or_bytes)}
    )
    it = Interpreter(**kw, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    return it


def cross_check(graph: ir.Graph, model: Path) -> int:
    """Compare every IR tensor with the interpreter's view; return how many constants were compared."""
    it = _interpreter(model)
    details = {d["index"]: d for d in it.get_tensor_details()}
    by_index = graph.by_index()
    assert len(by_index) == len(graph.tensors), "every tensor carries its TFLite index"
    ops = [d["op_name"] for d in it._get_ops_details()]
    assert [n.op for n in graph.nodes] == ops
    constants = 0
    for idx, t in by_index.items():
        d = details[idx]
        assert t.shape == tuple(d["shape"]), t.name
        assert np.dtype(t.dtype) == np.dtype(d["dtype"]), t.name
        qp = d["quantization_parameters"]
        if t.quant is None:
            assert len(qp["scales"]) == 0, t.name
        else:
            np.testing.assert_array_equal(t.quant.scale.astype(np.float32), qp["scales"], err_msg=t.name)
            np.testing.assert_array_equal(t.quant.zero_point, qp["zero_points"], err_msg=t.name)
            if len(qp["scales"]) > 1:
                assert t.quant.axis == qp["quantized_dimension"], t.name
                assert t.quant.per_channel
            else:
                assert t.quant.axis is None
        if t.is_const:
            got = it.get_tensor(idx)
            assert t.data.dtype == got.dtype and t.data.shape == got.shape, t.name
            np.testing.assert_array_equal(t.data, got, err_msg=t.name)
            constants += 1
    # Graph inputs/outputs are the interpreter's, in order.
    assert [graph.tensors[n].index for n in graph.inputs] == [d["index"] for d in it.get_input_details()]
    assert [graph.tensors[n].index for n in graph.outputs] == [d["index"] for d in it.get_output_details()]
    return constants


def test_ic_model(ic_model: Path) -> None:
    g = read_tflite(ic_model)
    assert [n.op for n in g.nodes] == (
        ["CONV_2D"] * 3 + ["ADD"] + ["CONV_2D"] * 3 + ["ADD"] + ["CONV_2D"] * 3 + ["ADD"]
        + ["AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
    )  # fmt: skip
    assert g.tensors[g.inputs[0]].shape == (1, 32, 32, 3)
    assert g.tensors[g.inputs[0]].dtype == "int8"
    assert g.tensors[g.outputs[0]].shape == (1, 10)
    conv = g.nodes[0]
    assert isinstance(conv, ir.Conv2D)
    assert (conv.stride, conv.padding, conv.activation) == ((1, 1), "SAME", "RELU")
    w = g.tensors[conv.inputs[1]]
    assert w.shape == (16, 3, 3, 3) and w.dtype == "int8"
    assert w.quant.axis == 0 and w.quant.scale.shape == (16,)
    assert g.tensors[conv.inputs[2]].dtype == "int32"
    assert g.nodes[4].stride == (2, 2)
    pool = g.nodes[12]
    assert (pool.filter, pool.stride, pool.padding) == ((8, 8), (8, 8), "VALID")
    assert g.nodes[13].new_shape == (1, 64)
    assert g.nodes[15].beta == 1.0
    assert g.name == "pretrainedResnet_quant"
    assert g.source == str(ic_model)
    assert g.sha256 == hashlib.sha256(ic_model.read_bytes()).hexdigest()
    assert len({n.name for n in g.nodes}) == len(g.nodes)
    assert g.nodes[0].name == "conv2d" and g.nodes[3].name == "add" and g.nodes[14].name == "dense"
    assert cross_check(g, ic_model) == 2 * 10 + 1  # 9 conv + 1 fc weights and biases, the reshape shape


def test_ad_model(ad_model: Path) -> None:
    g = read_tflite(ad_model)
    assert [n.op for n in g.nodes] == ["FULLY_CONNECTED"] * 10
    assert g.tensors[g.inputs[0]].shape == (1, 640)
    assert g.tensors[g.outputs[0]].shape == (1, 640)
    assert [g.tensors[n.inputs[1]].shape for n in g.nodes][:5] == [
        (128, 640),
        (128, 128),
        (128, 128),
        (128, 128),
        (8, 128),
    ]
    assert [n.activation for n in g.nodes] == ["RELU"] * 9 + ["NONE"]
    assert cross_check(g, ad_model) == 20


def test_bytes_and_path_agree(ad_model: Path) -> None:
    a = read_tflite(ad_model)
    b = read_tflite(ad_model.read_bytes(), name="ad")
    assert b.name == "ad" and b.source == "" and b.sha256 == a.sha256
    assert list(a.tensors) == list(b.tensors)
    for name, t in a.tensors.items():
        if t.is_const:
            np.testing.assert_array_equal(t.data, b.tensors[name].data)


@pytest.mark.parametrize("case", modelgen.CASES)
def test_generated_models(case: str, modelgen_dir: Path) -> None:
    path = modelgen.build_case(case, modelgen_dir)
    g = read_tflite(path)
    assert g.name == case
    cross_check(g, path)
    assert g.tensors[g.inputs[0]].dtype == "int8" and g.tensors[g.outputs[0]].dtype == "int8"
    for node in g.nodes:
        if isinstance(node, (ir.Conv2D, ir.DepthwiseConv2D, ir.FullyConnected)):
            w = g.tensors[node.inputs[1]]
            if w.shape[0 if not isinstance(node, ir.DepthwiseConv2D) else 3] > 1:
                assert w.quant.per_channel
                assert w.quant.axis == (3 if isinstance(node, ir.DepthwiseConv2D) else 0)


def _only(graph: ir.Graph, cls: type[ir.Node]) -> ir.Node:
    nodes = [n for n in graph.nodes if isinstance(n, cls)]
    assert len(nodes) == 1, [n.op for n in graph.nodes]
    return nodes[0]


def test_generated_options(modelgen_dir: Path) -> None:
    """Options that modelgen sets on purpose arrive in the IR."""

    def g(case: str) -> ir.Graph:
        return read_tflite(modelgen.build_case(case, modelgen_dir))

    dw = _only(g("dw_m2_valid_s2"), ir.DepthwiseConv2D)
    assert (dw.depth_multiplier, dw.stride, dw.padding, dw.activation) == (2, (2, 2), "VALID", "NONE")
    dw3 = _only(g("dw_m3_same_s2_relu6"), ir.DepthwiseConv2D)
    assert (dw3.depth_multiplier, dw3.padding, dw3.activation) == (3, "SAME", "RELU6")
    conv = _only(g("conv_valid_s2_relu6"), ir.Conv2D)
    assert (conv.stride, conv.padding, conv.activation) == ((2, 2), "VALID", "RELU6")
    dil = g("conv_1x1_dilated").nodes[1]
    assert dil.dilation == (2, 2) and dil.padding == "SAME"
    pad = g("zero_pad_conv")
    assert _only(pad, ir.Pad).paddings == ((0, 0), (1, 2), (2, 1), (0, 0))
    assert _only(g("concat"), ir.Concatenation).axis == 3
    tc = g("tiny_classifier")
    mean = _only(tc, ir.Mean)
    assert mean.axes == (1, 2) and mean.keep_dims is False
    assert _only(tc, ir.Softmax).beta == pytest.approx(1.0)
    mp = g("maxpool").nodes
    assert (mp[0].filter, mp[0].stride, mp[0].padding) == ((2, 2), (2, 2), "SAME")
    assert (mp[1].filter, mp[1].stride, mp[1].padding) == ((3, 3), (1, 1), "VALID")
    ops = [n.op for n in g("dense_1d_sigmoid").nodes]
    assert ops == ["FULLY_CONNECTED", "FULLY_CONNECTED", "LOGISTIC"]
    assert _only(g("mul"), ir.Mul).activation == "NONE"
    assert _only(g("residual_add"), ir.Add).activation == "RELU"


def _repack(model: object) -> bytes:
    b = flatbuffers.Builder(0)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def test_op_code_is_max_of_deprecated_and_new_field(ic_model: Path) -> None:
    """Old files leave the new int32 field 0 (which would read as ADD); files with codes above 127 put
    127 (PLACEHOLDER_FOR_GREATER_OP_CODES) in the old int8 field. The op is the larger of the two."""
    ref = [n.op for n in read_tflite(ic_model).nodes]
    model = schema.ModelT.InitFromPackedBuf(ic_model.read_bytes(), 0)
    for oc in model.operatorCodes:
        oc.deprecatedBuiltinCode, oc.builtinCode = oc.builtinCode, 0
    assert [n.op for n in read_tflite(_repack(model)).nodes] == ref
    model = schema.ModelT.InitFromPackedBuf(ic_model.read_bytes(), 0)
    model.operatorCodes[model.subgraphs[0].operators[0].opcodeIndex].deprecatedBuiltinCode = 127
    model.operatorCodes[model.subgraphs[0].operators[0].opcodeIndex].builtinCode = schema.BuiltinOperator.GELU
    assert schema.BuiltinOperator.GELU > 127
    with pytest.raises(UnsupportedOpError, match=r"^layer \w+: op GELU is not supported$"):
        read_tflite(_repack(model))


def test_custom_op_and_subgraphs_rejected(ad_model: Path) -> None:
    model = schema.ModelT.InitFromPackedBuf(ad_model.read_bytes(), 0)
    model.operatorCodes[0].builtinCode = schema.BuiltinOperator.CUSTOM
    model.operatorCodes[0].deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    model.operatorCodes[0].customCode = b"MyFancyOp"
    with pytest.raises(UnsupportedOpError, match=r"^layer \w+: custom op MyFancyOp is not supported$"):
        read_tflite(_repack(model))
    model = schema.ModelT.InitFromPackedBuf(ad_model.read_bytes(), 0)
    model.subgraphs.append(model.subgraphs[0])
    with pytest.raises(UnsupportedOpError, match="2 subgraphs"):
        read_tflite(_repack(model))


def test_golden_vectors_map_onto_ir_tensors(
    ic_model: Path, ad_model: Path, ic_golden: dict, ad_golden: dict
) -> None:
    """TFLM's golden tensors are keyed by TFLite index: each must land on an IR activation of its size."""
    for model, golden in ((ic_model, ic_golden), (ad_model, ad_golden)):
        g = read_tflite(model)
        by_index = g.by_index()
        keys = [k for k in golden if k.startswith("tensor_")]
        assert keys
        for key in keys:
            t = by_index[int(key.removeprefix("tensor_"))]
            assert not t.is_const and t.size == golden[key].size, key
        assert golden["input"].size == g.tensors[g.inputs[0]].size
        assert golden["output"].size == g.tensors[g.outputs[0]].size
