"""The package keeps its shape: no Python import circle inside ``sdk/edgesdk`` (lazy imports included), no
function over 120 lines, one Jinja environment, no module named
after a standard-library module. Static (AST) checks: they take well under a second."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROOT = REPO / "sdk" / "edgesdk"

_spec = importlib.util.spec_from_file_location("arch_stats", REPO / "scripts" / "arch_stats.py")
assert _spec is not None and _spec.loader is not None
arch_stats = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(arch_stats)


def test_no_import_circle() -> None:
    mods = arch_stats.modules(ROOT)
    assert arch_stats.circles(arch_stats.import_graph(mods, "edgesdk")) == []


def test_a_circle_is_found() -> None:
    """The checker itself: a two-module circle through a lazy import is reported."""
    edges = {"a": {"b"}, "b": {"a"}, "c": {"a"}}
    assert arch_stats.circles(edges) == [["a", "b"]]


def test_no_function_over_120_lines() -> None:
    long = arch_stats.long_functions(arch_stats.modules(ROOT), ROOT, 120)
    assert [where for _, where in long] == []


def test_one_jinja_environment_and_no_stdlib_names() -> None:
    sources = {p: p.read_text(encoding="utf-8") for p in ROOT.rglob("*.py")}
    made = [p.name for p, text in sources.items() if "jinja2.Environment(" in text]
    assert made == ["templating.py"]
    stdlib = set(sys.stdlib_module_names)
    own = {p.stem for p in ROOT.iterdir() if p.suffix == ".py"} | {
        p.name for p in ROOT.iterdir() if p.is_dir()
    }
    assert own & stdlib == set()
