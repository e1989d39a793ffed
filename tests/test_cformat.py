"""The C value formatter: identifiers, integer/float literals, arrays, strings and comments stay valid C.

Each formatted snippet that matters is also compiled with the host gcc (-std=c99 -Werror -pedantic), and the
compiled program prints the values back so that literals are proven to round-trip, not just to look right.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgesdk.backends.c import cformat as cf

HOSTILE = ['conv/1 "x"; int main', "int", "main", "9lives", "", "__x", "a b", "é", "x" * 200, "NULL", "a*/b"]
GCC = shutil.which("gcc")


@pytest.mark.parametrize("name", HOSTILE)
def test_identifier_is_valid_and_unreserved(name: str) -> None:
    ident = cf.c_identifier(name)
    assert ident and ident[0].isalpha()
    assert all(c.isalnum() or c == "_" for c in ident) and ident.isascii()
    assert "__" not in ident
    assert ident not in cf.C_RESERVED
    assert len(ident) <= cf.MAX_IDENTIFIER


def test_identifiers_are_unique_and_deterministic() -> None:
    used: set[str] = set()
    names = [cf.c_identifier(n, used) for n in ["a/b", "a b", "a_b", "a-b", "x" * 300, "x" * 300 + "y"]]
    assert len(set(names)) == len(names)
    assert names[:4] == ["a_b", "a_b_2", "a_b_3", "a_b_4"]
    again: set[str] = set()
    assert [
        cf.c_identifier(n, again) for n in ["a/b", "a b", "a_b", "a-b", "x" * 300, "x" * 300 + "y"]
    ] == names


def test_int_literals() -> None:
    assert cf.c_int(-(2**31)) == "(-2147483647 - 1)"
    assert cf.c_int(2**31 - 1) == "2147483647"
    assert cf.c_int(-5, "int8_t") == "-5"
    assert cf.c_int(7, "uint32_t") == "7u"
    assert cf.c_int(np.int64(3)) == "3"
    with pytest.raises(ValueError):
        cf.c_int(128, "int8_t")
    with pytest.raises(ValueError):
        cf.c_int(2**31)
    with pytest.raises(TypeError):
        cf.c_int(1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "x", [0.0, 1.0, -3.5, 0.1, 1 / 256, 0.00390625, 1e-10, 3.4e38, -1.17549435e-38, 123456.78]
)
def test_float_literals_round_trip(x: float) -> None:
    text = cf.c_float(x)
    assert text.rstrip(")").endswith("f")
    assert np.float32(float(text.strip("()").rstrip("f"))) == np.float32(x)
    d = cf.c_double(x)
    assert float(d.strip("()")) == x


def test_array_formatting() -> None:
    text = cf.c_array(np.arange(-3, 30, dtype=np.int8), "int8_t", per_line=8)
    assert text.startswith("{\n    -3, -2") and text.endswith("\n}")
    assert text.count("\n") == 6
    assert cf.c_array([], "int32_t") == "{\n    0\n}"
    assert "(-2147483647 - 1)" in cf.c_array(np.array([-(2**31), 0], dtype=np.int64), "int32_t")
    with pytest.raises(ValueError):
        cf.c_array(np.array([300]), "int8_t")


def test_string_and_comment_escaping() -> None:
    assert cf.c_string('a"b') == '"a\\"b"'
    assert cf.c_string("a\\b") == '"a\\\\b"'
    assert cf.c_string("??=") == '"\\?\\?="'
    assert cf.c_string("é\n1") == '"\\303\\251\\0121"'
    c = cf.c_comment("x */ y /* z ??/\nw")
    assert "*/" not in c and "/*" not in c and "??" not in c and "\n" not in c


@pytest.mark.skipif(GCC is None, reason="needs gcc")
def test_formatted_values_compile_and_round_trip(tmp_path: Path) -> None:
    """Every kind of formatted value goes through gcc -Werror and is printed back by the program."""
    floats = [0.1, -3.5, 1e-10, 3.4e38, 1 / 3]
    ints = [-(2**31), 2**31 - 1, 0, -1]
    strings = HOSTILE + ["tab\tnew\nline", "??=??/??'"]
    used: set[str] = set()
    idents = [cf.c_identifier(n, used) for n in HOSTILE]
    lines = ["#include <stdint.h>", "#include <stdio.h>", f"/* {cf.c_comment('end */ here ??/')} */"]
    lines += [f"static const int32_t {i} = {k};" for k, i in enumerate(idents)]
    lines.append(f"static const float fs[{len(floats)}] = {cf.c_array(floats, 'float')};")
    lines.append(f"static const int32_t is[{len(ints)}] = {cf.c_array(np.array(ints), 'int32_t')};")
    lines.append(
        f"static const char *const ss[{len(strings)}] = {{{', '.join(cf.c_string(s) for s in strings)}}};"
    )
    lines.append("int main(void) {")
    lines.append("    unsigned k;")
    lines.append(f"    long sum = 0L{''.join(' + ' + i for i in idents)};")
    lines.append('    printf("%ld\\n", sum);')
    lines.append(f'    for (k = 0; k < {len(floats)}u; ++k) printf("%.9g\\n", (double)fs[k]);')
    lines.append(f'    for (k = 0; k < {len(ints)}u; ++k) printf("%ld\\n", (long)is[k]);')
    lines.append(f'    for (k = 0; k < {len(strings)}u; ++k) printf("[%s]\\n", ss[k]);')
    lines.append("    return 0;")
    lines.append("}")
    src = tmp_path / "t.c"
    src.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "t"
    subprocess.run(
        [GCC, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-o", str(exe), str(src)],
        check=True,
        timeout=60,
    )
    out = subprocess.run([str(exe)], check=True, capture_output=True, timeout=30).stdout.decode("utf-8")
    rows = out.split("\n")
    assert int(rows[0]) == sum(range(len(idents)))
    assert [np.float32(float(r)) for r in rows[1 : 1 + len(floats)]] == [np.float32(f) for f in floats]
    assert [int(r) for r in rows[1 + len(floats) : 1 + len(floats) + len(ints)]] == ints
    assert out.split("\n", 1 + len(floats) + len(ints))[-1].rstrip("\n") == "\n".join(
        f"[{s}]" for s in strings
    )
