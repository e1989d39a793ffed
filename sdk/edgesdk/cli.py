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

from edgesdk import __version__
from edgesdk.errors import EdgeSDKError

log = logging.getLogger("edgesdk")

Handler = Callable[[argparse.Namespace], int]


def _add_calib(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--calib",
        metavar="DATA",
        help="calibration samples for a float model (.npy, .npz or a folder of .npy/.bin samples)",
    )


# --- inspect ---------------------------------------------------------------------------------------------
def _setup_inspect(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="list a model's layers, shapes, MACs and memory")
    p.add_argument("model", help=".tflite, .keras, .h5 or SavedModel folder")
    _add_calib(p)
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(handler=_cmd_inspect)


def _cmd_inspect(args: argparse.Namespace) -> int:
    from edgesdk.inspect import format_summary, summarize
    from edgesdk.model import load_model

    graph = load_model(args.model, calib=args.calib)
    summary = summarize(graph)
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


# --- boards ----------------------------------------------------------------------------------------------
def _setup_boards(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("boards", help="list the boards edgesdk knows")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(handler=_cmd_boards)


def _cmd_boards(args: argparse.Namespace) -> int:
    from edgesdk.boards import DEFAULT_BOARD, all_boards

    boards = [b.to_dict() for b in all_boards().values()]
    if args.json:
        print(json.dumps(boards, indent=2))
        return 0
    for b in boards:
        mark = " (default)" if b["name"] == DEFAULT_BOARD else ""
        alias = f"  aliases: {', '.join(b['aliases'])}" if b["aliases"] else ""
        print(f"{b['name']:<15} {b['description']}{mark}{alias}")
    return 0


# --- export ----------------------------------------------------------------------------------------------
def _setup_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="generate a C project for a board (and build it)")
    p.add_argument("model", help=".tflite, .keras, .h5 or SavedModel folder")
    p.add_argument(
        "--board", "-b", default=None, help="board name or alias (default: the emulated netduinoplus2)"
    )
    p.add_argument("-o", "--output", default=None, help="project folder (default: <model>-<board>)")
    _add_calib(p)
    p.add_argument("--build", action="store_true", help="compile the project and measure flash/RAM")
    p.add_argument(
        "--rounding",
        choices=("double", "single"),
        default="double",
        help="requantization rounding: TFLite Micro's double rounding (default) or single rounding",
    )
    p.set_defaults(handler=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from edgesdk.export import export
    from edgesdk.model import load_model

    result = export(
        load_model(args.model, calib=args.calib),
        args.board,
        args.output,
        build=args.build,
        rounding=args.rounding,
    )
    use = result.size or result.estimate
    how = "measured" if use.measured else "estimated"
    mem = result.board.memory
    flash = f"{use.flash:,}" + (f"/{mem.flash_bytes:,}" if mem.flash_bytes else "")
    ram = f"{use.ram:,}" + (f"/{mem.ram_bytes:,}" if mem.ram_bytes else "")
    print(
        f"exported {result.graph.name} for {result.board.name} to {result.out_dir}: flash {flash} B, "
        f"RAM {ram} B ({how}), arena {result.plan.arena_bytes:,} B (lower bound {result.plan.lower_bound:,} B)"
    )
    return 0


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_setup_inspect, _setup_boards, _setup_export]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgesdk", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"edgesdk {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for setup in COMMANDS:
        setup(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args) or 0)
    except EdgeSDKError as exc:
        print(f"edgesdk {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"edgesdk {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
