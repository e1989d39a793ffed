"""C lowering of a band chain (``passes/band_chain.py``): convolution A feeds convolution B, and A's output lives
only as a few rows in a band buffer while B runs by bands of output rows.

``emit_chain`` writes (from ``templates/c/band_chain.c.j2``) A's rows function (the shared kernels through a
wrapper with ``out_h``/``pad_top`` shifted, a specialised convolution through its own band function) and the
chain's rows function ``f(a_input, output, oy_begin, oy_end)``: it slides the halo rows B still needs to the start
of the band buffer (one ``memmove``), computes the missing rows of A's output after them, and runs B's kernel on
the buffer as on an image of those rows (``in_h`` and ``pad_top`` shifted: the kernels clip their windows to the
image, and the buffer holds every row the band reads, so the rows are those of the whole output bit for bit).
A B fused with a residual ADD (``backends/c/conv_add.py``) calls it per band; a B of its own (``lower_band_chain``)
loops over its bands into its whole output.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgesdk.backends.c import cformat as cf
from edgesdk.backends.c.generator import _LOWER, ROWS_LOWER, VARIANT_LOWER, _Arg, _Array, _LayerBuilder
from edgesdk.errors import UnsupportedOpError

#: Kernels of B that take run-time ``in_h``/``out_h``/``pad_top`` fields (the chain shifts them).
B_KERNELS = ("", "dense", "winograd")
#: Output rows a Winograd F(2x2,3x3) tile computes: A's rows are computed in whole tiles where it is Winograd.
TILE_ROWS = {"winograd": 2}


@dataclass
class Chain:
    code: str
    arrays: list[_Array]
    kernel_files: list[str]
    rows_fn: str
    a_input: _Arg


def chain_rows(graph, node, band_rows: int) -> tuple[int, int]:
    """(rows of A's output the band buffer holds, bytes of one such row) for B = ``node`` run by bands of
    ``band_rows`` output rows (the window of a band, and A's tile rows less one)."""
    info = node.attrs["band_chain"]
    a_out = graph.tensor(node.inputs[0])
    k_h = int(graph.tensor(node.inputs[1]).shape[1])
    s_h = int(tuple(getattr(node, "stride", (1, 1)))[0])
    align = TILE_ROWS.get(info.get("a_kernel", ""), 1)
    rows = min(int(a_out.shape[1]), (band_rows - 1) * s_h + k_h + align - 1)
    return rows, int(a_out.shape[2]) * int(a_out.shape[3])


def emit_chain(
    gen,
    b_node,
    band_rows: int,
    standalone_fn: str = "",
    own_params_type: str = "",
    bb: _LayerBuilder | None = None,
) -> Chain:
    """The chain's C (see the module docstring) for B = ``b_node`` (``bb``: B already lowered, its code and
    arrays emitted by the caller)."""
    info = b_node.attrs["band_chain"]
    a_node = next((n for n in gen.nodes if n.name == info["conv"]), None)
    if a_node is None or a_node.attrs.get("fused_into") != b_node.name:
        raise UnsupportedOpError(
            f"layer {b_node.name}: the convolution {info['conv']} chained into it is missing"
        )
    ab = _LayerBuilder(gen, a_node)
    a_kernel = a_node.attrs.get("kernel", "")
    rows_lower = ROWS_LOWER.get(a_kernel)
    if rows_lower is not None:
        a_rows, a_wrap = rows_lower(ab), False
    else:
        (VARIANT_LOWER.get((a_node.op, a_kernel)) or _LOWER[a_node.op])(ab)
        a_rows, a_wrap = gen.ident(gen.model, ab.cname, "rows"), True
        if not ab.params_type or not {"out_h", "pad_top"} <= {n for n, _ in ab.fields}:
            raise UnsupportedOpError(f"layer {b_node.name}: {a_node.name} cannot run by bands of rows")
    b_kernel_name = b_node.attrs.get("kernel", "")
    if b_kernel_name not in B_KERNELS:
        raise UnsupportedOpError(
            f"layer {b_node.name}: its kernel {b_kernel_name!r} cannot run on a band buffer"
        )
    own = bb is None
    if bb is None:
        bb = _LayerBuilder(gen, b_node)
        (VARIANT_LOWER.get((b_node.op, b_kernel_name)) or _LOWER[b_node.op])(bb)
    if not {"in_h", "out_h", "pad_top"} <= {n for n, _ in bb.fields}:
        raise UnsupportedOpError(f"layer {b_node.name}: its kernel has no in_h/out_h/pad_top to shift")
    if not ab.inputs or ab.inputs[0].kind != "act":
        raise UnsupportedOpError(f"layer {b_node.name}: the input of {a_node.name} is not an arena tensor")
    rows, row = chain_rows(gen.graph, b_node, band_rows)
    a_out = gen.graph.tensor(a_node.outputs[0])
    y = gen.graph.tensor(b_node.outputs[0])
    rows_fn = gen.ident(gen.model, bb.cname, "chain_rows")
    code = _render(
        a_code=ab.code,
        a_wrap=a_wrap,
        a_params_type=ab.params_type,
        a_params=gen.ident(gen.model, ab.cname, "params"),
        a_fields=ab.fields,
        a_comment=ab.comment(),
        a_rows=a_rows,
        a_stride=cf.c_int(int(ab.p["stride_h"])),
        a_kernel=ab.kernel,
        a_name=a_node.name,
        a_align=cf.c_int(TILE_ROWS.get(a_kernel, 1)),
        a_h=cf.c_int(int(a_out.shape[1])),
        a_row=cf.c_int(row),
        b_code=bb.code,
        b_params_type=bb.params_type,
        b_params=gen.ident(gen.model, bb.cname, "chain_params"),
        b_fields=bb.fields,
        b_comment=bb.comment(),
        b_name=b_node.name,
        b_kernel=bb.kernel,
        b_stride=cf.c_int(int(bb.p["stride_h"])),
        b_pad=cf.c_int(int(bb.p["pad_h"])),
        b_k=cf.c_int(int(bb.p["filter_h"])),
        buf_macro=gen.offset_macro(a_node.outputs[0]),
        buf_rows=rows,
        prefix=gen.prefix,
        rows_fn=rows_fn,
        standalone=bool(standalone_fn),
        fn=standalone_fn,
        own_params_type=own_params_type,
        band_rows=cf.c_int(band_rows),
        out_h=cf.c_int(int(y.shape[1])),
        out_row=cf.c_int(int(y.shape[2]) * int(y.shape[3])),
    )
    return Chain(
        code=code,
        arrays=ab.arrays + (bb.arrays if own else []),
        kernel_files=sorted(set(ab.kernel_files) | set(bb.kernel_files)),
        rows_fn=rows_fn,
        a_input=ab.inputs[0],
    )


def _render(**context) -> str:
    from edgesdk.backends.c.generator import _jinja_env

    return _jinja_env().get_template("c/band_chain.c.j2").render(**context)


def lower_band_chain(b: _LayerBuilder) -> None:
    """B of a band chain that is not fused into an ADD: its whole output, band by band."""
    node = b.node
    band_rows = int(node.attrs["band_chain"]["band_rows"])
    (VARIANT_LOWER.get((node.op, node.attrs.get("kernel", ""))) or _LOWER[node.op])(b)
    fn = b.gen.ident(b.gen.model, b.cname, "chain")
    chain = emit_chain(b.gen, node, band_rows, standalone_fn=fn, own_params_type=b.params_type, bb=b)
    b.code = chain.code
    b.arrays = chain.arrays + b.arrays
    b.inputs = [chain.a_input]
    b.kernel = fn
    b.kernel_files = chain.kernel_files
    a_name = node.attrs["band_chain"]["conv"]
    title = b.comment()
    b.comment = lambda: cf.c_comment(f"{title} + {a_name} (band chain)")  # type: ignore[method-assign]
