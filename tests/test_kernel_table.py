"""The kernel table (``edgesdk.compiler.kernels``) is the one description of every kernel: check that what it says holds.

Each row's lowering, sources, headers and cost model exist; every lowering of the C backend and every pass
module is a row's; the old names (``KERNEL_FILES``, ``BUILTIN_PASS_MODULES``, ``BANDABLE_KERNELS``, ...) read
the table; every row has bit-exact cases (``kerneltable.ROW_CASES``), and a row without fails here.
``edgesdk kernels --json`` lists the rows; an unknown ``--kernel`` name is refused with the known ones.
"""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path

import pytest

from edgesdk.backends.c import generator
from edgesdk.commands.cli import main
from edgesdk.compiler import kernels
from edgesdk.util.resources import firmware_dir
from kerneltable import ROW_CASES

TESTS = Path(__file__).resolve().parent
ROWS = [pytest.param(k, id=k.name) for k in kernels.KERNELS]


@pytest.mark.parametrize("row", ROWS)
def test_row_has_cases(row: kernels.Kernel) -> None:
    """A kernel without cases that run it against the reference is not done: name them in ROW_CASES."""
    cases = ROW_CASES.get(row.name)
    assert cases, f"kernel {row.name!r} has no cases in tests/kerneltable.py ROW_CASES"
    for ref in cases:
        file, _, func = ref.partition("::")
        tree = ast.parse((TESTS / file).read_text(encoding="utf-8"))
        names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert func in names, f"{ref}: no such test"


def test_no_cases_for_unknown_rows() -> None:
    assert set(ROW_CASES) <= {k.name for k in kernels.KERNELS}


@pytest.mark.parametrize("row", ROWS)
def test_row_facts_exist(row: kernels.Kernel) -> None:
    """Sources and headers are files of firmware/kernels; the lowering and the cost model resolve."""
    base = firmware_dir() / "kernels"
    for name in (*row.all_sources, *row.headers):
        assert (base / name).is_file(), f"{row.name}: {name} is not in firmware/kernels"
    for op, ref in row.lower.items():
        module, _, attr = ref.partition(":")
        assert callable(getattr(importlib.import_module(f"edgesdk.backends.c.{module}"), attr)), (
            row.name,
            op,
        )
        for value in row.attr_values:
            assert generator.VARIANT_LOWER[(op, value)].__name__ == attr
    if row.cost:
        assert kernels.resolve(row.cost) is not None
    if row.chosen_by:
        module = importlib.import_module(f"edgesdk.passes.{row.chosen_by}")
        own = {getattr(module, a) for a in ("KERNEL", "KERNEL16") if hasattr(module, a)}
        assert not own or own <= {k.name for k in kernels.KERNELS if k.chosen_by == row.chosen_by}
    assert set(row.slower_on) <= set(kernels.CORE_TARGETS), row.name


def test_every_lowering_and_pass_is_a_row() -> None:
    """Nothing of the C backend or the pipeline lies outside the table."""
    for op, attr in generator.VARIANT_LOWER:
        assert kernels.find(op, attr) is not None, (op, attr)
    from edgesdk.passes import BUILTIN_PASS_MODULES, HLS_PASS_MODULES

    assert BUILTIN_PASS_MODULES == kernels.pass_modules()
    assert HLS_PASS_MODULES == kernels.fpga_pass_modules() == ["hls_winograd", "hls_xnor"]
    names = {p.stem for p in (Path(kernels.__file__).parents[1] / "passes").glob("*.py")}
    passes = {n for n in names if not n.startswith("_")}
    assert passes == set(BUILTIN_PASS_MODULES) | set(HLS_PASS_MODULES), "a pass module that chooses no row"


def test_old_names_read_the_table() -> None:
    from edgesdk.boards import CORE_KERNEL_TARGETS, CORE_SLOWER_KERNELS
    from edgesdk.passes import known_kernels
    from edgesdk.passes._int16 import INT16_KERNELS
    from edgesdk.passes.conv_add_fuse import BANDABLE_KERNELS
    from edgesdk.passes.specialize import BASE_CODE, PER_LAYER_CODE

    assert (
        generator.KERNEL_FILES["CONV_2D"] == "ed_conv.c"
        and generator.KERNEL_FILES["QUANTIZE"] == "ed_quant.c"
    )
    assert (
        generator.KERNEL_HEADERS[0] == "edgesdk_kernels.h"
        and "cortex-m-dsp/ed_conv_dsp.h" in generator.KERNEL_HEADERS
    )
    assert set(INT16_KERNELS) == {"w16", "pointwise_w16", "im2col_w16"}
    assert set(BANDABLE_KERNELS) == {"", "dense", "winograd", "pointwise_w16", "specialized", "specialized16"}
    assert BASE_CODE[("CONV_2D", "winograd")] == 3968 and PER_LAYER_CODE == {
        "pointwise_w16": 280,
        "im2col_w16": 280,
        "im2col_x16": 2400,
    }
    assert CORE_KERNEL_TARGETS is kernels.CORE_TARGETS
    assert (
        CORE_SLOWER_KERNELS["cortex-m55"]
        == {
            "pointwise_w16",
            "pointwise_s8",
            "specialized",
            "im2col_w16",
            "im2col_s8",
            "im2col_x16",
            "winograd",
            "winograd_dw",
            "inplace",
        }
        and {"winograd", "pointwise_s8"} <= CORE_SLOWER_KERNELS["rv32imc"]
        and CORE_SLOWER_KERNELS["cortex-m3"] == {"pointwise_s8"}
    )
    assert "dense" in known_kernels() and "xnor" not in known_kernels()  # xnor is an op, not a choice


def test_cli_kernels_json_lists_every_row(capsys) -> None:
    assert main(["kernels", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == [k.name for k in kernels.KERNELS]
    for r in rows:
        assert r["ops"] and r["cores"] and r["encoding"], r["name"]
    by = {r["name"]: r for r in rows}
    assert "cortex-m55" not in by["pointwise_w16"]["cores"] and "cortex-m4" in by["pointwise_w16"]["cores"]
    assert by["dense"]["targets"] == ["cortex-m-dsp", "helium", "scalar"]
    assert main(["kernels"]) == 0
    assert "winograd_dw" in capsys.readouterr().out


def test_unknown_kernel_name_refused_with_the_known_ones(capsys) -> None:
    """Refused before the model is read (the model path does not exist)."""
    code = main(["export", "no-such-model.tflite", "--kernel", "*=ternery"])
    err = capsys.readouterr().err
    assert code != 0
    assert "unknown kernel 'ternery'" in err and "known kernels: " in err
    for name in kernels.selectable_names():
        assert name in err


def test_table_file_refuses_unknown_fields_and_twice_named_kernels(tmp_path: Path) -> None:
    """A row merged into the data file with a typo in a field name is one sentence, not a silent default."""
    from edgesdk.errors import EdgeSDKError

    bad = tmp_path / "kernels.toml"
    bad.write_text('[[kernel]]\nname = "fast"\nops = ["CONV_2D"]\nencoding = "int8"\nchosen_bi = "fast"\n')
    with pytest.raises(EdgeSDKError, match=r"kernel 'fast' has unknown field\(s\) chosen_bi"):
        kernels.load_table(bad)
    bad.write_text('[[kernel]]\nname = "a"\nops = []\nencoding = "int8"\n' * 2)
    with pytest.raises(EdgeSDKError, match="used twice"):
        kernels.load_table(bad)
    rows, cores = kernels.load_table()
    assert rows == kernels.KERNELS and cores == kernels.CORE_TARGETS
