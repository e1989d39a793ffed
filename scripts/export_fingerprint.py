"""Export a set of models for a few boards and compare the generated files byte for byte with an earlier run.

A refactoring that must not change what edgesdk generates is checked with it: export once before (``export``),
export again after each step into another folder, and ``compare`` the two (every file of every project, byte
for byte; the exit code is 1 when any file differs, is missing or is new).

    python scripts/export_fingerprint.py export MODELS_DIR OUT_DIR [--boards b1,b2] [--optimize balanced,speed,size]
    python scripts/export_fingerprint.py compare BEFORE_DIR AFTER_DIR

``MODELS_DIR`` holds ``.tflite`` files (for instance the MLPerf Tiny models, ``benchmarks/mlperf_replicas.py``'s
replicas and the digits models); each is exported with ``--board``/``--optimize`` for every pair asked, into
``OUT_DIR/<model>/<board>/<optimize>/``. A failing export is recorded as ``ERROR`` (its message) so that a
failure that stays the same compares equal. Exports run in this process (one model read per model) so that a
run of ~100 exports stays short on a shared machine.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
from pathlib import Path

log = logging.getLogger("export_fingerprint")

DEFAULT_BOARDS = ("mps2-an386", "mps3-an547", "mps2-an385")
DEFAULT_OPTIMIZE = ("balanced", "speed", "size")


def export_all(models: Path, out: Path, boards: list[str], optimizes: list[str]) -> int:
    """Export every ``.tflite`` under ``models`` for each board and optimize mode; return the export count."""
    from edgesdk.commands.export import export
    from edgesdk.compiler.model import load_model
    from edgesdk.errors import EdgeSDKError
    from edgesdk.passes import context_from_options

    n = 0
    for path in sorted(models.glob("*.tflite")):
        model = load_model(str(path))
        for board in boards:
            for opt in optimizes:
                dest = out / path.stem / board / opt
                dest.parent.mkdir(parents=True, exist_ok=True)
                try:
                    export(model, board, str(dest), optimize=opt, pass_ctx=context_from_options(opt, [], []))
                except EdgeSDKError as exc:
                    dest.mkdir(parents=True, exist_ok=True)
                    (dest / "ERROR").write_text(f"{type(exc).__name__}: {exc}\n")
                n += 1
                log.info("%s %s %s", path.stem, board, opt)
    return n


def digests(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``, keyed by its path relative to ``root``."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def compare(before: Path, after: Path) -> list[str]:
    """Lines naming each file that differs, is missing after, or is new after (empty: identical)."""
    a, b = digests(before), digests(after)
    lines = [f"differs: {k}" for k in sorted(a.keys() & b.keys()) if a[k] != b[k]]
    lines += [f"missing: {k}" for k in sorted(a.keys() - b.keys())]
    lines += [f"new: {k}" for k in sorted(b.keys() - a.keys())]
    return lines


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("models", type=Path)
    e.add_argument("out", type=Path)
    e.add_argument("--boards", default=",".join(DEFAULT_BOARDS))
    e.add_argument("--optimize", default=",".join(DEFAULT_OPTIMIZE))
    c = sub.add_parser("compare")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "export":
        n = export_all(args.models, args.out, args.boards.split(","), args.optimize.split(","))
        print(f"{n} exports in {args.out}")
        return 0
    lines = compare(args.before, args.after)
    files = len(digests(args.before))
    for line in lines:
        print(line)
    print(f"{files} files before, {len(lines)} differences")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
