"""One kernel table: many independent layer cases compiled as ONE generated model, run against the reference.

Each case is a small graph (or sub-graph of a shared graph) whose output tensors are graph outputs. The
table joins the cases side by side into one model (tensor and node names prefixed with the case's name), lets
the pass pipeline choose (or the test force) each layer's kernel, generates C, compiles it once with host gcc
``-Werror`` under AddressSanitizer and UndefinedBehaviorSanitizer, runs all input rows in one process and
compares every case's columns of the output with ``edgesdk.reference`` of the un-annotated graph, bit for bit.
One build per table instead of one per case: the same proof for a fraction of the compile time.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edgesdk.backends.c import CProject
from edgesdk.ir import graph as ir
from edgesdk.passes import PassContext, kernel_decisions, run_pipeline
from hostbuild import compile_host, generate_and_build, random_inputs, reference_outputs, run_host


@dataclass
class KernelTable:
    graph: ir.Graph  # after the pass pipeline (kernels chosen)
    project: CProject
    got: np.ndarray  # N x output_size, the sanitized C build
    want: np.ndarray  # N x output_size, the reference
    spans: dict[str, tuple[int, int]]  # case -> its columns of the output
    layers: dict[str, list[str]]  # case -> names of its nodes in the joined graph
    inputs: np.ndarray  # N x input_size, the rows that were run
    out_dir: Path

    def variant(self, name: str, *cflags: str) -> KernelTable:
        """The same generated sources built again (sanitized) with extra compiler flags, e.g. a ``-D`` that
        selects a kernel variant, and run on the same inputs: the table of that variant."""
        exe = compile_host(self.project, self.out_dir / f"model_asan_{name}", sanitize=True, extra=cflags)
        return replace(self, got=run_host(exe, self.inputs, self.project.output_size))

    def outputs(self, case: str) -> tuple[np.ndarray, np.ndarray]:
        """(C outputs, reference outputs) of one case."""
        lo, hi = self.spans[case]
        return self.got[:, lo:hi], self.want[:, lo:hi]

    def decisions(self, case: str) -> list[dict]:
        """The kernel decisions (``kernel_decisions`` rows) of the case's layers."""
        names = set(self.layers[case])
        return [d for d in kernel_decisions(self.graph) if d["layer"] in names]


def join(name: str, cases: dict[str, ir.Graph]) -> tuple[ir.Graph, dict[str, list[str]]]:
    """The cases side by side in one graph. A case with one node keeps the case's name as the layer name (so a
    force pattern ``{case: kernel}`` selects it); otherwise layers are named ``<case>_<node>``."""
    g = ir.Graph(name=name)
    layers: dict[str, list[str]] = {}
    for case, sub in cases.items():
        sub = copy.deepcopy(sub)

        def rn(t: str, case: str = case) -> str:
            return f"{case}_{t}" if t else t

        for t in sub.tensors.values():
            t.name = rn(t.name)
            g.add_tensor(t)
        for node in sub.nodes:
            node.name = case if len(sub.nodes) == 1 else f"{case}_{node.name}"
            node.inputs = [rn(t) for t in node.inputs]
            node.outputs = [rn(t) for t in node.outputs]
            g.nodes.append(node)
        g.inputs += [rn(t) for t in sub.inputs]
        g.outputs += [rn(t) for t in sub.outputs]
        layers[case] = [n.name for n in sub.nodes]
    g.validate()
    return g, layers


def run_table(
    graph: ir.Graph,
    case_outputs: dict[str, list[str]],
    out_dir: Path,
    *,
    ctx: PassContext | None = None,
    pipeline: str = "default",
    layers: dict[str, list[str]] | None = None,
    n_inputs: int = 24,
    seed: int = 0,
    target: str | None = None,
) -> KernelTable:
    """Choose kernels (``ctx`` and ``pipeline``), build once under sanitizers (``target``: a kernel folder such as
    the Cortex-M DSP one, its SIMD operations as portable C), run ``n_inputs`` random rows (plus the all -128 and
    all 127 rows) and the reference. ``case_outputs``: case -> its output tensors."""
    decided = run_pipeline(graph, pipeline, ctx or PassContext())
    project, exe = generate_and_build(decided, out_dir, sanitize=True, target=target)
    x = random_inputs(project.input_size, n_inputs, seed=seed)
    got = run_host(exe, x, project.output_size)
    want = reference_outputs(graph, x)
    owner = {t: case for case, ts in case_outputs.items() for t in ts}
    spans: dict[str, tuple[int, int]] = {}
    pos = 0
    for t in graph.outputs:
        n = graph.tensor(t).size
        case = owner[t]
        lo, _ = spans.get(case, (pos, pos))
        assert lo == pos or spans[case][1] == pos, f"outputs of case {case} are not adjacent"
        spans[case] = (lo, pos + n)
        pos += n
    assert pos == project.output_size
    return KernelTable(
        decided, project, got, want, spans, layers or {c: [] for c in case_outputs}, x, out_dir
    )


def run_joined(
    name: str, cases: dict[str, ir.Graph], out_dir: Path, *, ctx: PassContext | None = None, **kw
) -> KernelTable:
    """:func:`join` the case graphs and :func:`run_table` them."""
    graph, layers = join(name, cases)
    outputs = {case: [f"{case}_{t}" for t in sub.outputs] for case, sub in cases.items()}
    return run_table(graph, outputs, out_dir, ctx=ctx, layers=layers, **kw)


#: Where each row of the kernel table (:data:`edgesdk.compiler.kernels.KERNELS`) is run against the reference, bit for bit:
#: ``"test_file.py::test_function"`` of the table tests that force (or let the pass choose) the kernel on shapes
#: that cross word and tile edges. A new row needs its cases here (``tests/test_kernel_table.py`` fails without).
ROW_CASES: dict[str, tuple[str, ...]] = {
    "dense": (
        "test_c_kernels.py::test_kernel_bit_exact",
        "test_dsp_kernels.py::test_dsp_kernel_on_host_under_sanitizers",
    ),
    "ternary": ("test_packed_kernels.py::test_packed_kernel_bit_exact",),
    "binary": ("test_packed_kernels.py::test_packed_kernel_bit_exact",),
    "pattern": ("test_compressed_kernels.py::test_compressed_kernel_bit_exact",),
    "sparse": ("test_compressed_kernels.py::test_compressed_kernel_bit_exact",),
    "sparse_codebook": ("test_compressed_kernels.py::test_compressed_kernel_bit_exact",),
    "codebook": ("test_compressed_kernels.py::test_compressed_kernel_bit_exact",),
    "shift": ("test_compact_kernels.py::test_shift_kernel_bit_exact_under_sanitizers",),
    "adder": ("test_compact_kernels.py::test_adder_kernel_bit_exact_under_sanitizers",),
    "winograd": ("test_winograd.py::test_generated_winograd_c_bit_exact",),
    "w16": ("test_dsp_kernels.py::test_fc_int16_weights_variant_on_host_under_sanitizers",),
    "pointwise_w16": ("test_conv_as_fc.py::test_kernel_table_on_host_under_sanitizers",),
    "im2col_w16": ("test_conv_as_fc.py::test_kernel_table_on_host_under_sanitizers",),
    "pointwise_s8": (
        "test_conv_as_fc.py::test_kernel_table_on_host_under_sanitizers",
        "test_conv_as_fc.py::test_pw_chains_on_host_under_sanitizers",
        "test_planner.py::test_pointwise_scratch_never_raises_the_arena",
        "test_conv_as_fc.py::test_pw_chain_on_emulated_cortex_m4",  # the thin path's and the layers' assembly
    ),
    "im2col_s8": ("test_conv_as_fc.py::test_kernel_table_on_host_under_sanitizers",),
    "im2col_x16": (
        "test_conv_as_fc.py::test_kernel_table_on_host_under_sanitizers",
        "test_conv_as_fc.py::test_x16_chain_on_emulated_cortex_m4",
    ),
    "specialized": ("test_specialize.py::test_specialized_kernel_table_on_host_under_sanitizers",),
    "specialized16": ("test_specialize.py::test_specialized_kernel_table_on_host_under_sanitizers",),
    "decoded": ("test_compressed_kernels.py::test_balanced_decoded_kernel_bit_exact",),
    "conv_fused": ("test_conv_add_fuse.py::test_fused_hand_built_blocks_on_host_under_sanitizers",),
    "winograd_dw": ("test_dwconv_variants.py::test_winograd_dw_table_on_host_under_sanitizers",),
    "inplace": ("test_dwconv_variants.py::test_inplace_dwconv_table_on_host_under_sanitizers",),
    "xnor": ("test_xnor_kernels.py::test_xnor_kernel_bit_exact",),
}
