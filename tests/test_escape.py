"""No code injection: every user-supplied value is escaped for the language of the file it lands in.

A model file named with a newline and ``$(shell touch PWNED)`` (and CMake's ``${...}`` / ``$ENV{...}``) is
exported and built for the host and one cross board; nothing runs and no generated file holds the raw text.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from edgesdk.commands.cli import main
from edgesdk.util import escape

EVIL_TEXT = 'a\nall:\n\t$(shell touch PWNED) ${X} $ENV{HOME} */ "q" \\ #c'


def test_make_comment_and_value_are_one_inert_line() -> None:
    c = escape.make_comment(EVIL_TEXT)
    assert "\n" not in c and "\t" not in c and "\\" not in c and '"' not in c
    assert not re.search(r"(?<!\$)\$(\$\$)*\(", c) and "$$(shell" in c
    v = escape.make_value("-DX=$(HOME)#x\\")
    assert v == "-DX=$$(HOME)\\#x/"


def test_cmake_escapes() -> None:
    c = escape.cmake_comment("#[[ " + EVIL_TEXT)
    assert "\n" not in c and "[" not in c and not re.search(r"(?<!\\)\$", c)
    q = escape.cmake_quoted('a;b"c$d\\e\nf')
    assert q == '"a\\;b\\"c\\$d\\\\e\\nf"'


def test_c_and_ld_comments_cannot_close() -> None:
    for f in (escape.c_comment, escape.ld_comment):
        s = f("x */ y\n/* z")
        assert "*/" not in s and "/*" not in s and "\n" not in s
    assert escape.c_string('a"b\\\n') == '"a\\"b\\\\\\012"'


def test_markdown_and_html() -> None:
    md = escape.md_text('# t | *b* [l](u) $x$ <i> "q" \\\nnext')
    assert "\n" not in md
    for ch in '#|*[]$<>"':
        assert f"\\{ch}" in md
    assert escape.md_text("conv2d_3") == "conv2d_3"
    assert escape.html_text('<a href="x">\n') == "&lt;a href=&quot;x&quot;&gt;?"
    assert escape.safe_file_stem("a\n$(shell x)") == "a_shell_x"


# What the hostile name must never be found as, per generated file: an unescaped `$(`, `${`, `$ENV{`, a comment
# closed early, a quote or backslash that ends a string. (Escaped forms - `$$(`, `\\${` - are fine.)
_RAW = {
    "Makefile": [r"(?<!\$)\$\(shell", r"\nall:\n", r'"q"'],
    "CMakeLists.txt": [r"(?<!\\)\$\{X\}", r"(?<!\\)\$ENV\{", r'"q"'],
    ".c": [r'(?<!\\)"q(?<!\\)"', r"PWNED\) \$\{X\}\n"],
    ".h": [r'(?<!\\)"q(?<!\\)"'],
    "report.md": [r"(?<!\\)\$\{X", r'(?<!\\)"q(?<!\\)"'],
}


def _check_no_raw(project: Path, evil_name: str) -> None:
    """No generated text file holds the raw name or an unescaped piece of it."""
    checked = 0
    for path in project.rglob("*"):
        if not path.is_file() or path.suffix in (".png", ".elf", ".bin", ".map", ".o", ".a"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        assert evil_name not in text, path
        for pattern in _RAW.get(path.name, _RAW.get(path.suffix, [])):
            assert not re.search(pattern, text), (path, pattern)
            checked += 1
    assert checked >= 6


@pytest.mark.parametrize("board", ["host", "netduinoplus2"])
def test_hostile_model_file_name_exports_and_builds_without_running_anything(
    board: str, ad_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if board != "host" and shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed")
    work = tmp_path / "w"
    work.mkdir()
    monkeypatch.chdir(work)
    evil = 'm\nall:\n\t$(shell touch PWNED) ${X} $ENV{HOME} `touch PWNED2` * "q" \\'
    model = work / f"{evil}.tflite"
    shutil.copy(ad_model, model)
    out = work / "proj"
    assert main(["export", str(model), "--board", board, "-o", str(out), "--build"]) == 0
    assert (out / "build" / "firmware.elf").is_file()
    _check_no_raw(out, evil)
    # the CMake project configures (it would run ${...} / $ENV{} code at configure time) where cmake exists
    if board == "host" and shutil.which("cmake"):
        subprocess.run(
            ["cmake", "-S", str(out), "-B", str(work / "cm")], check=True, capture_output=True, timeout=120
        )
    # default output folder: a plain name derived from the model name
    assert main(["export", str(model), "--board", board]) == 0
    made = [p.name for p in work.iterdir() if p.is_dir() and p.name not in ("proj", "cm")]
    assert made == [f"m_all_shell_touch_PWNED_X_ENV_HOME_touch_PWNED2_q-{board}"]
    assert not list(work.rglob("PWNED*")) and not list(tmp_path.rglob("PWNED*"))
    assert not Path("/tmp/PWNED").exists()
