"""C lowering of an ADD annotated ``kernel = "conv_fused"`` (``passes/conv_add_fuse.py``): the convolution that
produces one operand runs by bands of output rows into a small scratch buffer, and each band is added into the
other operand (the residual) - in place when the planner gives the ADD's output the residual's buffer, as it
does for a fused ADD. The convolution's node emits no call of its own (the generator skips nodes marked
``fused_into``); its weights, parameter struct and any code of its kernel variant are emitted with the ADD.

A band is produced by a *rows function* ``void f(const int8_t *input, int8_t *output, int32_t oy_begin,
int32_t oy_end)`` that writes output rows ``[oy_begin, oy_end)`` at ``output[0]``. For the shared kernels (the
direct convolution, portable or Cortex-M DSP, and Winograd) it is a wrapper from ``templates/c/conv_add.c.j2``
calling the kernel with a copy of the layer's parameters whose ``out_h`` and ``pad_top`` are shifted: both
kernels clip their windows to the image, so the band equals those rows of the whole output bit for bit
(Winograd bands have an even number of rows, ``BAND_ROWS``, so tiles stay whole). A 1x1 stride-1 convolution
run as the fully-connected kernel over the pixels (``pointwise_w16``) gets the band's pixels as its batches.

PLUG-IN POINT for per-layer specialised convolutions: a lowering registered in :data:`ROWS_LOWER` under the
convolution's kernel name (``node.attrs["kernel"]``) is called with the convolution's ``_LayerBuilder``; it
fills the builder (arrays, ``code`` with its function) and returns the name of a function with the rows
signature above, which the band loop then calls directly instead of the wrapper. Add that kernel name to
``passes/conv_add_fuse.BANDABLE_KERNELS`` so that the pass fuses such layers.
"""

from __future__ import annotations

from edgesdk.backends.c import cformat as cf
from edgesdk.backends.c.generator import _LOWER, ROWS_LOWER, VARIANT_LOWER, _LayerBuilder, _lower_add_mul
from edgesdk.errors import UnsupportedOpError

#: Kernels that run a 1x1 stride-1 convolution as the fully-connected kernel over the pixels
#: (``passes/pointwise.py``): a band is the pixels of its rows, passed as the FC's ``batches``.
PIXEL_KERNELS = ("pointwise_w16",)


def lower_conv_add(b: _LayerBuilder) -> None:
    """Emit the fused convolution + ADD (see the module docstring)."""
    node, gen = b.node, b.gen
    f = node.attrs["fused_conv"]
    conv = next((n for n in gen.nodes if n.name == f["conv"]), None)
    if conv is None or conv.attrs.get("fused_into") != node.name:
        raise UnsupportedOpError(
            f"layer {node.name}: the convolution {f['conv']} fused into it is not in the graph"
        )
    k = int(f["operand"])
    band_rows = int(f["band_rows"])
    kernel = conv.attrs.get("kernel", "")
    rows_lower = ROWS_LOWER.get(kernel)
    band_kind = ""
    chain = None
    if (
        "band_chain" in conv.attrs
    ):  # the convolution's input is itself computed by bands (backends/c/band_chain.py)
        from edgesdk.backends.c.band_chain import emit_chain

        chain = emit_chain(gen, conv, band_rows)
        cb = _LayerBuilder(gen, conv)
        cb.code, cb.arrays, cb.kernel_files, cb.inputs = (
            chain.code,
            chain.arrays,
            chain.kernel_files,
            [chain.a_input],
        )
        rows_fn, wrap = chain.rows_fn, False
    elif rows_lower is not None:
        cb = _LayerBuilder(gen, conv)
        rows_fn, wrap = rows_lower(cb), False
    else:
        cb = _LayerBuilder(gen, conv)
        lower = VARIANT_LOWER.get((conv.op, kernel)) or _LOWER[conv.op]
        lower(cb)
        rows_fn, wrap = gen.ident(gen.model, cb.cname, "rows"), True
        band_kind = "pixels" if kernel in PIXEL_KERNELS else "rows"
        needed = {"batches"} if band_kind == "pixels" else {"out_h", "pad_top"}
        if not cb.params_type or not needed <= {name for name, _ in cb.fields}:
            raise UnsupportedOpError(
                f"layer {node.name}: the kernel of {conv.name} cannot run by bands (no {'/'.join(sorted(needed))} fields)"
            )
    if not cb.inputs or cb.inputs[0].kind != "act":
        raise UnsupportedOpError(f"layer {node.name}: the input of {conv.name} is not an arena tensor")

    _lower_add_mul(b)  # the ADD's own parameter struct (ed_binary_params_t); kernel replaced below
    resid_arg = b.inputs[1 - k]
    b.inputs = [cb.inputs[0], resid_arg]
    b.arrays = cb.arrays + b.arrays
    b.kernel_files = sorted(set(b.kernel_files) | set(cb.kernel_files))
    out = gen.graph.tensor(node.outputs[0])
    _, out_h, out_w, out_c = out.shape
    fn = gen.ident(gen.model, b.cname, "conv_add")
    plan = gen.plan
    in_place = plan is not None and plan.offsets.get(node.outputs[0]) == plan.offsets.get(node.inputs[1 - k])
    b.render(
        "conv_add",
        conv_code=cb.code,
        conv_params_type=cb.params_type,
        conv_params=gen.ident(gen.model, cb.cname, "params") if wrap else "",
        conv_fields=cb.fields,
        conv_kernel=cb.kernel,
        conv_comment=cb.comment(),
        conv_name=conv.name,
        wrap=wrap,
        rows_fn=rows_fn,
        stride_h=cf.c_int(int(cb.p["stride_h"])),
        band_kind=band_kind,
        row_pixels=cf.c_int(int(out_w)),
        row_input=cf.c_int(int(out_w) * int(gen.graph.tensor(conv.inputs[0]).shape[3])),
        add_comment=b.comment(),
        fn=fn,
        prefix=gen.prefix,
        scratch_macro=gen.offset_macro(conv.outputs[0]),
        scratch_bytes=int(f["scratch_bytes"]),
        band_rows=cf.c_int(band_rows),
        out_h=cf.c_int(int(out_h)),
        row_elems=cf.c_int(int(out_w) * int(out_c)),
        operand=k,
        in_place=in_place,
    )
    b.kernel = fn
    conv_title = f"{conv.name}: {cb.comment().split(': ', 1)[-1]}"
    add_comment = b.comment()
    b.comment = lambda: cf.c_comment(f"{add_comment} + {conv_title} (fused, by bands)")  # type: ignore[method-assign]
