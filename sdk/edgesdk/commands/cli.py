"""The ``edgesdk`` command line. Each subcommand parses its arguments and makes one library call.

Errors a user can meet arrive as :class:`edgesdk.errors.EdgeSDKError`; they are printed as one sentence
on stderr with the error's exit code, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from edgesdk import __version__
from edgesdk.errors import EdgeSDKError, describe_os_error

log = logging.getLogger("edgesdk")

Handler = Callable[[argparse.Namespace], int]

MODEL_HELP = ".tflite, .keras, .h5, SavedModel folder, .onnx or .pt2"
BOARD_HELP = (
    "board name or alias, or a board file of your own (PATH.toml); default: the emulated netduinoplus2"
)

#: The options several commands take: their flags and argparse keywords (a command may change the help or the
#: default where its meaning differs).
_COMMON: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "model": (("model",), {"help": MODEL_HELP}),
    "calib": (
        ("--calib",),
        {
            "metavar": "DATA",
            "help": "calibration samples for a float model (.npy, .npz or a folder of .npy/.bin samples)",
        },
    ),
    "board": (("--board", "-b"), {"default": None, "help": BOARD_HELP}),
    "output": (("-o", "--output"), {"default": None}),
    "count": (("--count", "-n"), {"type": int, "default": None}),
    "json": (("--json",), {"action": "store_true", "help": "print machine-readable JSON"}),
    "val": (
        ("--val",),
        {"default": None, "help": "validation data (.npz with x and y); default the training data"},
    ),
    "seed": (("--seed",), {"type": int, "default": 0, "help": "random seed (default 0)"}),
}


def _add(p: argparse.ArgumentParser | argparse._ArgumentGroup, name: str, **changes: Any) -> None:
    """Add the common option ``name`` (:data:`_COMMON`) to ``p``, with ``changes`` to its argparse keywords."""
    flags, keywords = _COMMON[name]
    p.add_argument(*flags, **{**keywords, **changes})


def _load(args: argparse.Namespace) -> tuple[Any, Any]:
    """The kernel-choice options (an unknown kernel name is refused before the model is read), then the model."""
    from edgesdk.compiler.model import load_model

    ctx = _pass_ctx(args)
    return load_model(args.model, calib=args.calib), ctx


def _on_board(args: argparse.Namespace, call: Callable[..., Any], *positional: Any, **options: Any) -> Any:
    """``call(model, board, *positional, pass_ctx=..., **options)``: the library call of a command that takes a
    model to a board with the kernel-choice options."""
    graph, ctx = _load(args)
    return call(graph, args.board, *positional, pass_ctx=ctx, **options)


def _options(args: argparse.Namespace, *names: str, **renamed: str) -> dict[str, Any]:
    """Keyword arguments of a library call from the parsed options: ``names`` as they are, ``renamed`` as
    ``keyword="option"``."""
    return {n: getattr(args, n) for n in names} | {k: getattr(args, v) for k, v in renamed.items()}


# --- inspect ---------------------------------------------------------------------------------------------
def _setup_inspect(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="list a model's layers, shapes, MACs and memory")
    _add(p, "model")
    _add(p, "calib")
    _add(
        p,
        "board",
        help="board whose export is summarized: arena, flash, RAM, stack (default: the emulated netduinoplus2)",
    )
    _add_kernel_args(p)
    _add(p, "json")
    p.set_defaults(handler=_cmd_inspect)


def _cmd_inspect(args: argparse.Namespace) -> int:
    from edgesdk.commands.export import target_summary
    from edgesdk.commands.inspection import format_summary, summarize

    graph, ctx = _load(args)
    summary = summarize(graph)
    summary["export"] = target_summary(graph, args.board, pass_ctx=ctx)
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


# --- boards, kernels ------------------------------------------------------------------------------------
def _setup_listing(sub: argparse._SubParsersAction, name: str, help: str, handler: Handler) -> None:
    """A command that lists rows, one line each or (``--json``) as a JSON array."""
    p = sub.add_parser(name, help=help)
    _add(p, "json")
    p.set_defaults(handler=handler)


def _print_rows(
    args: argparse.Namespace, rows: list[dict[str, Any]], line: Callable[[dict[str, Any]], str]
) -> int:
    """``rows`` as a JSON array (``--json``) or one ``line`` each."""
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        print(line(row))
    return 0


def _setup_boards(sub: argparse._SubParsersAction) -> None:
    _setup_listing(sub, "boards", "list the boards edgesdk knows", _cmd_boards)


def _cmd_boards(args: argparse.Namespace) -> int:
    from edgesdk.boards import DEFAULT_BOARD, all_boards, broken_boards, fpga_boards

    boards = [b.to_dict() for b in all_boards().values()] + [b.to_dict() for b in fpga_boards().values()]
    for exc in broken_boards().values():
        print(f"edgesdk boards: warning: {exc}", file=sys.stderr)

    def line(b: dict[str, Any]) -> str:
        mark = " (default)" if b["name"] == DEFAULT_BOARD else ""
        alias = f"  aliases: {', '.join(b['aliases'])}" if b["aliases"] else ""
        core = b.get("core", "fpga")
        methods = b.get("flash_methods", [])  # the first is the default; the others follow as "+N"
        flashes = b.get("emulator") or (f"{methods[0]} +{len(methods) - 1}" if len(methods) > 1 else "")
        flashes = flashes or (methods[0] if methods else "synth")
        return f"{b['name']:<15} {core:<12} {flashes:<20} {b['description']}{mark}{alias}"

    return _print_rows(args, boards, line)


def _setup_kernels(sub: argparse._SubParsersAction) -> None:
    _setup_listing(
        sub, "kernels", "list the kernels of the C backend (the names --kernel takes)", _cmd_kernels
    )


def _cmd_kernels(args: argparse.Namespace) -> int:
    from edgesdk.compiler.kernels import CORE_TARGETS, KERNELS

    every = len(CORE_TARGETS) + 1  # the cores with a kernel folder, and the host

    def line(r: dict[str, Any]) -> str:
        skipped = every - len(r["cores"])
        cores = "all" if not skipped else "not " + ",".join(sorted(set(CORE_TARGETS) - set(r["cores"])))
        return f"{r['name']:<16} {r['encoding']:<42} {cores:<20} {', '.join(r['ops'])}"

    return _print_rows(args, [k.to_dict() for k in KERNELS], line)


# --- export ----------------------------------------------------------------------------------------------
def _setup_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="generate a C project for a board (and build it)")
    _add(p, "model")
    _add(p, "board")
    _add(p, "output", help="project folder (default: <model>-<board>)")
    _add(p, "calib")
    p.add_argument("--build", action="store_true", help="compile the project and measure flash/RAM")
    p.add_argument(
        "--rounding",
        choices=("double", "single"),
        default="double",
        help="requantization rounding: TFLite Micro's double rounding (default) or single rounding",
    )
    p.add_argument(
        "--mlperf",
        choices=("ic01", "kws01", "vww01", "ad01"),
        default=None,
        help="MLPerf Tiny benchmark the firmware announces to the MLCommons runner (sets how it reads the "
        "runner's bytes); default: inferred from the model's input shape where that is unambiguous",
    )
    _add_kernel_args(p)
    p.set_defaults(handler=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from edgesdk.commands.export import export

    result = _on_board(
        args, export, args.output, **_options(args, "build", "rounding", "optimize", mlperf_model="mlperf")
    )
    use = result.size or result.estimate
    how = "measured" if use.measured else "estimated"
    mem = result.board.memory
    flash = f"{use.flash:,}" + (f"/{mem.flash_bytes:,}" if mem.flash_bytes else "")
    ram = f"{use.ram:,}" + (f"/{mem.ram_bytes:,}" if mem.ram_bytes else "")
    fp = result.footprint
    stack = (
        f", stack ~{fp.stack_estimate:,} B deepest call chain of {result.board.stack_bytes:,} B reserved"
        if fp is not None and fp.stack_estimate is not None
        else ""
    )
    print(
        f"exported {result.graph.name} for {result.board.name} to {result.out_dir}: flash {flash} B, "
        f"RAM {ram} B ({how}), arena {result.plan.arena_bytes:,} B (lower bound {result.plan.lower_bound:,} B)"
        f"{stack}"
    )
    mode = result.mlperf.get("model", "none")
    if mode != "none":
        how = "inferred from the input shape" if result.mlperf.get("inferred") else "as asked"
        print(f"MLPerf Tiny: the firmware announces {mode} ({how})")
    return 0


def _add_kernel_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--optimize",
        choices=("balanced", "speed", "size"),
        default="balanced",
        help="kernel choice per layer: balanced (default: int8 layers fast, compressed layers stored compressed "
        "within 2%% of the model's instructions, larger weight copies only where they save 32 instructions per "
        "byte), fewest estimated instructions, or fewest weight bytes",
    )
    p.add_argument(
        "--kernel",
        action="append",
        default=[],
        metavar="LAYER=KERNEL",
        help="force a kernel for a layer (glob), e.g. 'fc1=sparse'; repeatable",
    )
    p.add_argument(
        "--no-kernel",
        action="append",
        default=[],
        metavar="LAYER=KERNEL",
        help="forbid a kernel for a layer (glob), e.g. '*=codebook'; repeatable",
    )


def _pass_ctx(args: argparse.Namespace):
    from edgesdk.passes import context_from_options

    return context_from_options(args.optimize, args.kernel, args.no_kernel)


# --- flash / validate / profile --------------------------------------------------------------------------------
def _add_board_args(p: argparse.ArgumentParser) -> None:
    _add(p, "board")
    p.add_argument(
        "--port",
        default=None,
        help="serial port of a real board (a device path or a pyserial URL); on an emulated board, the "
        "socket://127.0.0.1:PORT of one already running under 'edgesdk flash' (nothing is built or started)",
    )


def _setup_flash(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("flash", help="put a firmware image on a board (emulated boards start QEMU with it)")
    _add_board_args(p)
    p.add_argument(
        "image", nargs="?", default="build/firmware.elf", help="firmware.elf (default: build/firmware.elf)"
    )
    p.set_defaults(handler=_cmd_flash)


def _cmd_flash(args: argparse.Namespace) -> int:
    from edgesdk.commands.device import flash

    print(flash(args.board, args.image, args.port))
    return 0


def _setup_validate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate", help="run inputs on a board and compare every output bit for bit with the reference"
    )
    _add(p, "model")
    _add_board_args(p)
    _add(p, "calib")
    p.add_argument(
        "--inputs",
        metavar="DATA",
        help="inputs (.npy int8, or float .npy/.npz/folder; an .npz with x and y brings labels); "
        "default: the --calib samples, else random int8",
    )
    p.add_argument(
        "--labels",
        metavar="LABELS",
        help="class labels (.npy, .txt/.csv one per line, or MLPerf 'file,num_classes,label' lines): "
        "report top-1 on the device",
    )
    _add(p, "count", help="number of inputs (default: every --inputs sample, else 20)")
    _add(p, "output", help="output folder (default: <model>-<board>-validate)")
    p.add_argument("--rounding", choices=("double", "single"), default="double", help="reference rounding")
    _add_kernel_args(p)
    p.set_defaults(handler=_cmd_validate)


def _cmd_validate(args: argparse.Namespace) -> int:
    from edgesdk.commands.device import validate
    from edgesdk.errors import ValidationError

    names = ("inputs", "count", "port", "rounding", "labels", "calib")
    s = _on_board(args, validate, **_options(args, *names, out_dir="output"))
    d = s.to_dict()
    print(
        f"{s.model} on {s.board}: {s.exact}/{s.count} outputs bit-exact ({d['exact_match_pct']:.1f} %), "
        f"max |diff| {s.max_abs_diff}, min cosine {s.min_cosine:.6f}"
    )
    if s.top1_device is not None:
        print(
            f"top-1 accuracy over {s.labeled} labeled inputs: {100 * s.top1_device:.1f} % on the device, "
            f"{100 * (s.top1_reference or 0.0):.1f} % on the host reference"
        )
    if not s.passed:
        raise ValidationError(
            f"{s.count - s.exact} of {s.count} outputs of {s.model} on {s.board} differ from the reference "
            f"(first at input {s.mismatches[0] if s.mismatches else '?'})"
        )
    return 0


def _setup_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth", help="write the hls4ml project for an FPGA board, C-simulate it bit for bit, synthesize"
    )
    _add(p, "model")
    _add(
        p,
        "board",
        default="pynq-z2",
        help="FPGA board name or board file (PATH.toml); default pynq-z2 (see edgesdk boards)",
    )
    _add(p, "output", help="output folder (default: <model>-<board>-hls)")
    _add(p, "calib")
    p.add_argument(
        "--inputs", metavar="DATA", help="C-simulation inputs (as for validate); default random int8"
    )
    _add(p, "count", help="number of inputs (default: every --inputs sample, else 4)")
    p.add_argument(
        "--winograd",
        action="store_true",
        help="compute 3x3 stride-1 convolutions in the Winograd F(2x2,3x3) unit (same as --kernel '*=winograd')",
    )
    _add_kernel_args(p)
    p.add_argument(
        "--per-layer",
        action="store_true",
        help="on a board without a vendor HLS flow, keep the hls4ml design with its XNOR layers in Verilog "
        "instead of the whole network in Verilog",
    )
    p.add_argument(
        "--parallel",
        type=_parallel,
        default=1,
        metavar="P",
        help="whole network in Verilog: output channels its int8 layers compute at once (P multipliers; "
        "default 1; auto: the largest power of two that fits the board)",
    )
    p.set_defaults(handler=_cmd_synth)


def _parallel(text: str) -> int:
    """``--parallel``: a count of output channels from 1 to 32, or ``auto`` (0)."""
    if text == "auto":
        return 0
    if not text.isdigit() or not 1 <= int(text) <= 32:
        raise argparse.ArgumentTypeError(f"{text!r} is not auto or a count of output channels from 1 to 32")
    return int(text)


def _stage(line: str) -> None:
    """One progress line per stage on stderr (stdout carries the results)."""
    print(f"synth: {line}", file=sys.stderr, flush=True)


def _cmd_synth(args: argparse.Namespace) -> int:
    from edgesdk.commands.synth import DEFAULT_COUNT, hls_context, synth
    from edgesdk.compiler.model import load_model
    from edgesdk.errors import ValidationError
    from edgesdk.passes import context_from_options

    # the FPGA road checks the kernel names against its own units, before the model is read
    opts = context_from_options(args.optimize, args.kernel, args.no_kernel, check=False)
    ctx = hls_context(opts, winograd=args.winograd)
    _stage(f"reading {args.model}")
    r = synth(
        load_model(args.model, calib=args.calib),
        args.board,
        args.output,
        inputs=args.inputs if args.inputs is not None else args.calib,
        count=args.count if args.count or args.inputs is not None or args.calib is None else DEFAULT_COUNT,
        pass_ctx=ctx,
        on_progress=_stage,
        network=False if args.per_layer else None,
        parallel=args.parallel,
    )
    if "rtl_network" in r.report:
        return _print_network(r.report)
    est = r.estimate
    print(
        f"C-simulation of {r.report['model']} for {r.board.name}: "
        f"{r.inputs - len(r.mismatches)}/{r.inputs} inputs bit-exact with the reference; report in {r.out_dir}"
    )
    for row in r.report.get("rtl", {}).get("layers", []):
        ice = row.get("ice40")
        fig = f"; iCE40: {ice['lut4']} LUT4, {ice['dff']} DFF, Fmax {ice['fmax_mhz']} MHz" if ice else ""
        same = "equals" if row["rtl_equals_reference"] else "DIFFERS from"
        print(
            f"XNOR layer {row['layer']} in Verilog: simulation {same} the reference on {row['vectors']} vectors{fig}"
        )
    if r.synthesis:
        s = r.synthesis
        print(
            f"synthesis ({s['tool']}): latency {s['latency_worst_cycles']} cycles, II {s['interval_max_cycles']}, "
            + ", ".join(f"{k.upper()} {v}" for k, v in s["resources"].items())
        )
    else:
        print(
            f"estimate: {est['total_cycles']:,} cycles, {est['total_weight_bram']} {est['bram_kind']} for weights. "
            f"{r.skipped_reason}"
        )
    print(
        f"estimate against {r.board.name} (need/capacity): "
        + ", ".join(f"{k} {f['need']:,}/{f['capacity']:,} ({f['use_pct']} %)" for k, f in est["fit"].items())
    )
    if r.mismatches:
        raise ValidationError(
            f"C-simulation of {r.report['model']} differs from the reference in {len(r.mismatches)} of {r.inputs} "
            f"inputs, first at layer {r.first_mismatch_layer}"
        )
    if not r.bit_exact:
        bad = next(row["layer"] for row in r.report["rtl"]["layers"] if not row["rtl_equals_reference"])
        raise ValidationError(f"the Verilog simulation of XNOR layer {bad} differs from the reference")
    return 0


def _print_network(report: dict) -> int:
    """The figures of a whole network in Verilog; exit 8 when its simulation differs from the reference."""
    from edgesdk.errors import ValidationError

    rtl, fig = report["rtl_network"], report["rtl_network"]["yosys"]
    pnr = rtl.get("pnr") or {}
    print(
        f"Verilog network of {report['model']} for {report['board']['name']}: {rtl['bit_exact_count']}/"
        f"{rtl['inputs']} inputs bit-exact with the reference; {rtl['compute_cycles']:,} cycles per inference"
    )
    print(
        f"yosys: {fig['lut4']:,} LUT4, {fig['dff']:,} DFF, {fig['ebr']} block RAM, {fig['spram']} SPRAM, "
        f"{fig['dsp']} DSP" + (f"; Fmax {pnr['fmax_mhz']} MHz; bitstream {pnr['bitstream']}" if pnr else "")
    )
    print(f"{rtl['latency_us']:,} us per inference, {rtl['inferences_per_s']:,} inferences/s")
    if not rtl["bit_exact"]:
        raise ValidationError(
            f"the Verilog simulation of {report['model']} differs from the reference in "
            f"{rtl['inputs'] - rtl['bit_exact_count']} of {rtl['inputs']} inputs"
        )
    return 0


def _setup_profile(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profile", help="latency per inference and per layer, energy, plots")
    _add(p, "model")
    _add_board_args(p)
    _add(p, "calib")
    p.add_argument("--runs", type=int, default=5, help="inferences to time (default 5)")
    p.add_argument("--meter", choices=("lpm01a", "ppk2"), default=None, help="read energy from a power meter")
    p.add_argument("--meter-port", default=None, help="serial port of the power meter")
    _add(p, "output", help="output folder (default: <model>-<board>-profile)")
    _add_kernel_args(p)
    p.set_defaults(handler=_cmd_profile)


def _cmd_profile(args: argparse.Namespace) -> int:
    from edgesdk.commands.device import profile

    data = _on_board(args, profile, **_options(args, "runs", "port", "meter", "meter_port", out_dir="output"))
    lat = data["latency"]
    print(
        f"{data['model']['name']} on {data['board']['name']}: median {lat['median']:,.0f} {data['unit']} "
        f"({lat['median_us']:,.1f} us at {data['board']['clock_hz'] / 1e6:g} MHz), "
        f"min {lat['min']:,.0f}, max {lat['max']:,.0f} over {len(data['runs'])} runs"
    )
    return 0


# --- compress --------------------------------------------------------------------------------------------
def _setup_compress(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compress", help="fine-tune a float Keras model to int8/ternary/binary/xnor and write it"
    )
    p.add_argument("model", help="float Keras model (.keras, .h5 or SavedModel folder)")
    p.add_argument(
        "--method",
        "-m",
        required=True,
        help="methods, e.g. int8, ternary, binary, xnor, prune=0.9,share=4bit; or auto (a method per layer "
        "under --max-drop)",
    )
    p.add_argument("--data", default=None, help="training data: .npz with x (samples) and y (integer labels)")
    _add(p, "val")
    p.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs per stage (default 30)")
    p.add_argument("-o", "--output", required=True, help="output model file (.tflite, or .xnor for xnor)")
    p.add_argument(
        "--keep-int8",
        default=None,
        help="layers that stay int8: auto (default: by measured sensitivity), first, last, layer names, none; "
        "with --method auto: the layers named here (default none, the search decides)",
    )
    p.add_argument(
        "--distill",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="distill from the float model (Hinton et al. 2015); default on (--no-distill: labels only)",
    )
    p.add_argument(
        "--board",
        "-b",
        default=None,
        help="board whose default export the bytes describe, and whose kernels auto costs (default netduinoplus2)",
    )
    p.add_argument("--temperature", type=float, default=4.0, help="distillation temperature (default 4)")
    _add(p, "seed")
    _add(p, "json", help="print one JSON object")
    g = p.add_argument_group("method auto")
    g.add_argument(
        "--max-drop",
        type=float,
        default=None,
        metavar="PT",
        help="accuracy points the result may lose against float on --val (required with auto)",
    )
    g.add_argument(
        "--optimize",
        choices=("size", "speed"),
        default="size",
        help="search for the fewest bytes (default) or the fewest estimated instructions",
    )
    g.add_argument("--trials", type=int, default=None, help="fine-tuning trials at most (default 8)")
    g.add_argument(
        "--choices",
        default=None,
        help="per-layer choices to search, e.g. int8,ternary,binary,prune=0.9+share=4bit",
    )
    g.add_argument(
        "--safety",
        type=float,
        default=2.0,
        metavar="K",
        help="standard errors of the validation drop added before it is compared with --max-drop (default 2)",
    )
    g.add_argument("--workers", type=int, default=1, help="local worker processes for the trials (1 or 2)")
    g.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        default=None,
        metavar="ADDRESS",
        help="run the trials on a Ray cluster",
    )
    p.set_defaults(handler=_cmd_compress)


def _cmd_compress(args: argparse.Namespace) -> int:
    from edgesdk.compress import compress
    from edgesdk.compress.auto import DEFAULT_TRIALS, compress_auto
    from edgesdk.errors import CompressError

    auto = args.method.strip().lower() == "auto"
    given = [f"--{k.replace('_', '-')}" for k in ("max_drop", "trials", "choices", "ray") if getattr(args, k)]
    if given and not auto:
        raise CompressError(f"{', '.join(given)} apply to --method auto only")
    common = {
        "epochs": args.epochs,
        "out": args.output,
        "distill": args.distill,
        "seed": args.seed,
        "progress": not args.json or sys.stderr.isatty(),
    }
    if auto:
        if args.max_drop is None:
            raise CompressError("compress --method auto needs --max-drop PT: the accuracy points it may lose")
        r = compress_auto(
            args.model,
            args.data,
            args.val,
            max_drop=args.max_drop,
            safety=args.safety,
            board=args.board,
            optimize=args.optimize,
            choices=args.choices,
            trials=DEFAULT_TRIALS if args.trials is None else args.trials,
            workers=args.workers,
            ray=args.ray,
            keep_int8=args.keep_int8,
            **common,
        )
    else:
        r = compress(
            args.model,
            args.method,
            args.data,
            args.val,
            keep_int8="auto" if args.keep_int8 is None else args.keep_int8,
            temperature=args.temperature,
            board=args.board,
            **common,
        )
    if args.json:
        print(r.to_json())
        return 0
    if not auto:
        _print_compress(r)
        return 0
    print(
        f"auto (max drop {r.max_drop:g} pt, {r.optimize} on {r.board}): accuracy float "
        f"{100 * r.accuracy_float:.2f} % -> {100 * r.accuracy_compressed:.2f} % on the validation data, weight bytes "
        f"float {r.weight_bytes_float:,} / int8 {r.weight_bytes_int8:,} -> {r.weight_bytes_compressed:,}; wrote {r.out}"
    )
    for layer in r.layers:
        print(
            f"  {layer['name']:<24} {layer['method']:<22} {layer['bytes']:>9,} B  "
            f"~{layer['instructions']:>10,} instructions"
        )
    print(f"note: {r.note}\nreport: {r.report}")
    return 0


def _print_compress(r: Any) -> None:
    """The human-readable summary of one ``compress`` run (not ``auto``)."""
    optimistic = " (optimistic: epochs and int8 layers were chosen on --val)" if r.val_optimistic else ""
    print(
        f"{r.method}: accuracy float {100 * r.accuracy_float:.2f} % -> {100 * r.accuracy_compressed:.2f} %"
        f"{optimistic}; weight bytes float {r.weight_bytes_float:,} / int8 {r.weight_bytes_int8:,} -> "
        f"{r.weight_bytes_compressed:,} in the default export for {r.export['board']} "
        f"({r.weight_bytes_size_export:,} with export --optimize size); wrote {r.out}"
    )
    print(
        f"  {'layer':<24} {'Keras layer':<20} {'default export':>24} {'--optimize size':>26}  params  int8 choice"
    )
    for layer in r.layers:
        drop = layer.get("sensitivity_drop_pt")
        choice = "kept int8" if layer.get("keras_name") in r.keep_int8 else "compressed"
        print(
            f"  {layer['name']:<24} {layer.get('keras_name') or '-':<20} {layer['format']:>12} "
            f"{layer['weight_bytes']:>9,} B {layer['size_format']:>15} {layer['size_weight_bytes']:>8,} B "
            f"{layer['params']:>7,}  {choice}" + ("" if drop is None else f" (one-shot drop {drop:.2f} pt)")
        )


# --- sweep -----------------------------------------------------------------------------------------------
def _setup_sweep(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep", help="run a grid of compression settings: rate-distortion table and Pareto plot"
    )
    p.add_argument("model", help="float Keras model (.keras, .h5 or SavedModel folder)")
    p.add_argument(
        "--data", required=True, help="training data: .npz with x (samples) and y (integer labels)"
    )
    _add(p, "val")
    p.add_argument(
        "--grid",
        required=True,
        help="axes KEY=V1|V2 separated by ';' (keys: method, epochs, distill, temperature, keep_int8), "
        "e.g. 'method=int8|ternary|lowrank=8|prune=0.9,share=4bit;epochs=5'",
    )
    p.add_argument("-o", "--output", default="sweep", help="output folder (a second run resumes in it)")
    p.add_argument(
        "--board",
        default="mps2-an386",
        help="board (name or PATH.toml) that counts instructions (default mps2-an386)",
    )
    p.add_argument("--workers", type=int, default=2, help="local worker processes (1 or 2, default 2)")
    p.add_argument("--ray", default=None, metavar="auto|ADDRESS", help="run the points on a Ray cluster")
    _add(p, "seed")
    _add(p, "json", help="print one JSON object")
    p.set_defaults(handler=_cmd_sweep)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from edgesdk.commands.sweep import sweep

    r = sweep(
        args.model,
        args.grid,
        args.data,
        args.val,
        **_options(args, "board", "workers", "ray", "seed", out="output"),
    )
    if r.failed:  # some points failed (all failing is an error): the sweep stands, and says which
        print(
            f"edgesdk sweep: warning: {len(r.failed)} of {len(r.rows)} points failed: "
            f"{'; '.join(row['label'] for row in r.failed)} (their errors are in {r.files['table_md']})",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps(r.to_dict(), indent=2, default=str))
        return 0
    print(r.files["table_md"].read_text(encoding="utf-8"), end="")
    print(f"report: {r.files['html']}")
    return 0


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _setup_inspect,
    _setup_boards,
    _setup_kernels,
    _setup_export,
    _setup_flash,
    _setup_validate,
    _setup_profile,
    _setup_compress,
    _setup_sweep,
    _setup_synth,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgesdk", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"edgesdk {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for setup in COMMANDS:
        setup(sub)
    return parser


def _note_alias(args: argparse.Namespace) -> None:
    """Say once, in the normal output, which board an alias (``--board stm32``) means."""
    from edgesdk.boards import resolve_alias

    board = resolve_alias(getattr(args, "board", None))
    if board is not None:
        print(f"board {args.board!r} is {board.name} ({board.description})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    from edgesdk.util.procutil import Terminated, terminate_like_interrupt

    try:
        _note_alias(args)
        with terminate_like_interrupt():  # SIGTERM/SIGHUP unwind like Ctrl-C: emulators stop, temp folders go
            return int(args.handler(args) or 0)
    except EdgeSDKError as exc:
        from edgesdk.util.escape import terminal_text

        # one line, whatever a model file name or a device put into the sentence (escape sequences, newlines)
        print(f"edgesdk {args.command}: error: {terminal_text(str(exc), 4000)}", file=sys.stderr)
        return exc.exit_code
    except Terminated as exc:
        print(f"edgesdk {args.command}: stopped by {exc}", file=sys.stderr)
        return 128 + exc.signum
    except OSError as exc:
        # The last net: a file-system problem the library did not name itself is still one sentence.
        print(f"edgesdk {args.command}: error: {describe_os_error(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"edgesdk {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
