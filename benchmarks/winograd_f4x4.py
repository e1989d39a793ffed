"""Where do F(4x4,3x3)'s integer ranges fit int32, and would it pay on a Cortex-M4?

For F(2x2,3x3), F(4x4,3x3) and F(4x4,3x3) with row-scaled G (``edgesdk.numerics.winograd``, the single source of the
transforms): worst-case bounds of every intermediate (``int_ranges``) for depthwise (no channel sum) and for
convolutions over 1..256 input channels, the largest channel count whose worst case stays exact in int32, the
same bounds from the actual weights (``weight_ranges``) of the IC ResNet-8 3x3 stride-1 convolutions
(``models/mlperf_tiny``) and of the MobileNetV1-0.25-shaped model's depthwise
layers (``benchmarks/depthwise.py``), and the transform operations per output counted from the matrices
(``transform_ops``) against the direct kernels' measured cost. Writes ``benchmarks/results/winograd_f4x4.json``
and ``.md``.

    python benchmarks/winograd_f4x4.py
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from depthwise import RESULTS, mobilenet_tflite  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
IC = REPO / "models" / "mlperf_tiny" / "pretrainedResnet_quant.tflite"
log = logging.getLogger("winograd_f4x4")

#: measured on mps2-an386 (benchmarks/results/depthwise.md, winograd_dw.md and speed.md): instructions per output
#: of the direct DSP depthwise interior, and per multiply-accumulate of the F(2x2,3x3) conv kernel's products
MEASURED = {"direct_dw_interior_per_output": 43.7, "wino_dw_f2_per_output": 1351.6 / 16}


def conv_estimate(out_h: int, out_w: int, cin: int, cout: int) -> dict[str, int]:
    """Instructions of a 3x3 stride-1 conv on the M4: F(2x2,3x3) from the conv Winograd pass's fitted model
    (``edgesdk.passes.winograd``: per tile 94 per input channel, 21.5 per channel pair, 343 per output channel),
    and an optimistic F(4x4,3x3) from the same coefficients - input transform scaled by 216/32 operations, the
    products by 36/16 per tile, the per-output-channel stage (output transform and requantization of 4 outputs)
    taken as a per-output cost (x4 per 16-output tile), i.e. its larger output transform for free."""
    from edgesdk.passes.winograd import estimate

    f2 = estimate(out_h, out_w, cin, cout, dsp=True)["winograd"]["instructions"]
    cp = cin + (cin & 1)
    tiles4 = -(-out_h // 4) * -(-out_w // 4)
    f4 = tiles4 * (94 * 216 / 32 * cp + 21.5 * 36 / 16 * cp * cout + 343 * 4 * cout)
    return {"F2x2": int(f2), "F4x4_optimistic": int(f4), "speedup_optimistic": round(f2 / f4, 2)}


def _max_channels(spec, limit: int = 4096) -> int:
    from edgesdk.numerics.winograd import int_ranges

    c = 0
    while c < limit and int_ranges(spec, c + 1)["exact_in_int32"]:
        c += 1
    return c


def main() -> int:
    from edgesdk.frontends.tflite import read_tflite
    from edgesdk.numerics.winograd import SPECS, int_ranges, transform_ops, weight_ranges

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    specs = {}
    for key, spec in SPECS.items():
        ops = transform_ops(spec)
        m2 = spec.m * spec.m
        specs[key] = {
            "name": spec.name,
            "divisor": spec.divisor,
            "depthwise": int_ranges(spec, 1),
            "conv_16": int_ranges(spec, 16),
            "conv_64": int_ranges(spec, 64),
            "max_conv_channels_exact_worst_case": _max_channels(spec),
            "transform_ops_per_tile": ops,
            "depthwise_ops_per_output": round((ops["input"] + ops["products"] + ops["output"]) / m2, 2),
            "multiplies_per_output_per_channel_pair": round(ops["products"] / m2, 3),
        }
    layers = []
    for model, graph in (
        ("IC ResNet-8", read_tflite(IC)),
        ("MobileNetV1-0.25 shape", read_tflite(mobilenet_tflite(), name="mobilenet_v1_025")),
    ):
        for node in graph.nodes:
            if node.op not in ("CONV_2D", "DEPTHWISE_CONV_2D") or len(node.inputs) < 2:
                continue
            w = graph.tensor(node.inputs[1])
            if (
                tuple(w.shape[1:3]) != (3, 3)
                or tuple(node.stride) != (1, 1)
                or tuple(node.dilation) != (1, 1)
            ):
                continue
            row = {"model": model, "layer": node.name, "op": node.op, "weights": list(w.shape)}
            if node.op == "CONV_2D":
                out = graph.tensor(node.outputs[0])
                row["estimate_m4"] = conv_estimate(out.shape[1], out.shape[2], w.shape[3], w.shape[0])
            for key, spec in SPECS.items():
                r = weight_ranges(spec, w.data)
                row[key] = {"U": r["U"], "Y": r["Y"], "exact_in_int32": r["exact_in_int32"]}
            layers.append(row)
    result = {"specs": specs, "layers": layers, "measured_m4": MEASURED}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "winograd_f4x4.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    f2, f4, f4r = specs["F2x2_3x3"], specs["F4x4_3x3"], specs["F4x4_3x3_rowscaled"]
    lines = [
        "# F(4x4,3x3): integer ranges and cost (analysis, `benchmarks/winograd_f4x4.py`)",
        "",
        "Worst case: int8 weights |g| <= 128, offset-corrected inputs |d| <= 255. `Y = divisor * acc` must fit int32",
        "for the wrapping int32 arithmetic to be exact; `U` and `V` decide the operand width (int16 for 16-bit SIMD).",
        "",
        "| transform | divisor | U bits | V bits | Y bits (depthwise) | exact depthwise | max conv channels, worst case |"
        " transform ops per tile (in / products / out) | multiplies per output |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for s in specs.values():
        d, ops = s["depthwise"], s["transform_ops_per_tile"]
        lines.append(
            f"| {s['name']} | {s['divisor']} | {d['U_bits']} | {d['V_bits']} | {d['Y_bits']} | "
            f"{'yes' if d['exact_in_int32'] else 'no'} | {s['max_conv_channels_exact_worst_case']} | "
            f"{ops['input']} / {ops['products']} / {ops['output']} | {s['multiplies_per_output_per_channel_pair']} |"
        )
    lines += [
        "",
        "## Per layer, from the actual weights (`weight_ranges`: acc bound = 255 * max_o sum |w|)",
        "",
    ]
    lines += [
        "| model | layer | op | weights | F(2x2) exact | F(4x4) exact (U) | F(4x4) row-scaled exact (U) |"
        " est. M4 insn F(2x2) / F(4x4) optimistic |"
    ]
    lines += ["|---|---|---|---|---:|---:|---:|---:|"]
    for r in layers:
        lines.append(
            f"| {r['model']} | {r['layer']} | {r['op']} | {'x'.join(map(str, r['weights']))} | "
            f"{'yes' if r['F2x2_3x3']['exact_in_int32'] else 'no'} | "
            f"{'yes' if r['F4x4_3x3']['exact_in_int32'] else 'no'} ({r['F4x4_3x3']['U']}) | "
            f"{'yes' if r['F4x4_3x3_rowscaled']['exact_in_int32'] else 'no'} ({r['F4x4_3x3_rowscaled']['U']}) | "
            + (
                f"{r['estimate_m4']['F2x2']:,} / {r['estimate_m4']['F4x4_optimistic']:,} "
                f"({r['estimate_m4']['speedup_optimistic']}x) |"
                if "estimate_m4" in r
                else "- |"
            )
        )
    speedups = [r["estimate_m4"]["speedup_optimistic"] for r in layers if r["op"] == "CONV_2D"]
    conv_ok = [r for r in layers if r["op"] == "CONV_2D" and r["F4x4_3x3"]["exact_in_int32"]]
    conv_all = [r for r in layers if r["op"] == "CONV_2D"]
    lines += [
        "",
        "## Verdict",
        "",
        f"- **Depthwise** (no channel sum): F(4x4,3x3) always fits int32 (Y <= {f4['depthwise']['Y']:,} < 2^31). But "
        f"per channel and output it costs ~{f4['depthwise_ops_per_output']} integer operations (transforms "
        f"{f4['transform_ops_per_tile']['input']} + {f4['transform_ops_per_tile']['output']} per 16 outputs, not "
        "shared by any channel sum) against 9 multiply-accumulates of direct depthwise; F(2x2,3x3) needs "
        f"~{f2['depthwise_ops_per_output']}, and its measured kernel already takes "
        f"{MEASURED['wino_dw_f2_per_output']:.0f} instructions per output against the direct kernel's "
        f"{MEASURED['direct_dw_interior_per_output']} (benchmarks/results/winograd_dw.md). F(4x4,3x3) depthwise "
        "does not pay on a Cortex-M4: not implemented in C.",
        f"- **Convolution**: the worst case stays exact only up to {f4['max_conv_channels_exact_worst_case']} input "
        f"channels (F(2x2,3x3): {f2['max_conv_channels_exact_worst_case']}); from the actual weights "
        f"{len(conv_ok)} of {len(conv_all)} IC 3x3 stride-1 layers fit. The uniform scaling's U needs "
        f"{f4['depthwise']['U_bits']} bits, so the products could not use SMLAD's 16-bit pairs; the row-scaled G "
        f"brings U to {f4r['depthwise']['U_bits']} bits (int16) at the same divisor. Even then the products "
        f"drop from 4 to {f4['multiplies_per_output_per_channel_pair']} per output and channel pair while the "
        f"input transform grows from {f2['transform_ops_per_tile']['input']} to "
        f"{f4['transform_ops_per_tile']['input']} operations per tile and channel (shared by the output channels) "
        "and the scratch of transformed inputs by 36/16. Estimated optimistically from the F(2x2,3x3) kernel's "
        f"fitted costs, IC's layers would gain at most {min(speedups, default=1):.2f}x-{max(speedups, default=1):.2f}x"
        " (table), for a second Winograd kernel of ~2 KB against IC's 12 KB code budget (9.2 KB used) and not for"
        " conv2d_7, whose weights leave int32. Not implemented in C: the depthwise case does not pay and the conv"
        " case is a small, uncertain gain; a candidate for the conv Winograd pass (row-scaled spec and"
        " `weight_ranges` are ready in `edgesdk.numerics.winograd`).",
    ]
    (RESULTS / "winograd_f4x4.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    log.info("wrote %s", RESULTS / "winograd_f4x4.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
