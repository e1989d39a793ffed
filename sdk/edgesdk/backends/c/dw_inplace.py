"""C lowering of a DEPTHWISE_CONV_2D annotated ``kernel = "inplace"`` (``edgesdk.passes.dw_inplace``).

When the arena plan gave the layer's output its input's buffer (``edgesdk.compiler.planner`` does so when the input dies
at the layer), a per-layer wrapper from ``templates/c/dwconv_inplace.c.j2`` calls ``ed_dwconv_inplace_s8``
(``firmware/kernels/ed_dwconv_inplace.c``) with the layer's scratch rows, which the planner placed in the arena;
otherwise the layer lowers exactly as a regular depthwise conv. The parameter struct is the regular one.
"""

from __future__ import annotations

from typing import Any

from edgesdk.backends.c import cformat as cf
from edgesdk.backends.c.generator import _LayerBuilder, _lower_dwconv
from edgesdk.compiler import dw_inplace
from edgesdk.ir import graph as ir


def _plan(gen: Any) -> Any:
    """The arena plan the generator will use (``generate_c`` computes it after lowering when none was given:
    the same planner on the same view of the graph, computed here once and cached)."""
    if gen.plan is not None:
        return gen.plan
    cached = getattr(gen, "_dw_inplace_plan", None)
    if cached is None:
        from edgesdk.compiler.planner import plan

        g = gen.graph
        view = g
        if gen.inputs != list(g.inputs) or gen.outputs != list(g.outputs) or len(gen.nodes) != len(g.nodes):
            view = ir.Graph(
                name=g.name, tensors=g.tensors, nodes=gen.nodes, inputs=gen.inputs, outputs=gen.outputs
            )
        cached = plan(view)
        gen._dw_inplace_plan = cached
    return cached


def lower_dw_inplace(b: _LayerBuilder) -> None:
    """The regular depthwise lowering, then (when the plan aliased output and input) the in-place wrapper."""
    _lower_dwconv(b)
    node = b.node
    plan = _plan(b.gen)
    x, y = node.inputs[0], node.outputs[0]
    if plan.offsets.get(x) is None or plan.offsets.get(x) != plan.offsets.get(y):
        return  # not aliased (e.g. the input is read again later): the regular kernel
    sched = dw_inplace.node_schedule(b.gen.graph, node)
    scratch = "NULL"
    offset = 0
    if sched.slots:
        offset = int(plan.offsets[dw_inplace.scratch_name(node)])
        scratch = f"{b.gen.prefix}_TENSOR({cf.c_int(offset, 'uint32_t')})"
    fn = b.gen.ident(b.gen.model, b.cname, "inplace")
    b.render(
        "dwconv_inplace",
        comment=cf.c_comment(f"{node.name}: depthwise conv written over its input (ed_dwconv_inplace_s8)."),
        fn=fn,
        scratch=scratch,
        slots=cf.c_int(sched.slots),
        rows=cf.c_int(sched.rows),
        scratch_offset=offset,
        scratch_bytes=sched.scratch_bytes,
    )
    b.kernel = fn
    b.kernel_files = [*b.kernel_files, "ed_dwconv_inplace.c"]
