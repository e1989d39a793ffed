"""OS errors and broken data files are one sentence with an exit code, never a traceback; one broken board file
does not break every command."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import edgesdk.boards as boards_mod
from edgesdk.boards import get_board, parse_board
from edgesdk.commands.cli import main
from edgesdk.compiler.model import load_calibration
from edgesdk.errors import BoardError, CalibrationError


def _one_sentence(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_output_folder_under_a_file(
    ad_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    assert main(["export", str(ad_model), "--board", "host", "-o", str(blocker / "out")]) == 1
    line = _one_sentence(capsys.readouterr().err)
    assert "cannot create the output folder" in line and "afile" in line
    # an existing file as validate's output folder: refused before anything is built or run
    assert main(["validate", str(ad_model), "--board", "host", "-n", "1", "-o", str(blocker)]) == 1
    line = _one_sentence(capsys.readouterr().err)
    assert "afile" in line and ("not a directory" in line or "exists" in line)
    assert blocker.read_text() == "x"


def test_unwritable_location(ad_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = Path("/sys/edgesdk-export-test")  # sysfs refuses new entries, even for root
    if not Path("/sys").is_dir():
        pytest.skip("no /sys")
    assert main(["export", str(ad_model), "--board", "host", "-o", str(target)]) == 1
    line = _one_sentence(capsys.readouterr().err)
    assert "cannot create the output folder /sys/edgesdk-export-test" in line


def test_cli_net_turns_any_os_error_into_one_sentence(
    ad_model: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import edgesdk.commands.inspection as insp

    def boom(graph: object) -> None:
        raise PermissionError(13, "Permission denied", "/some/file")

    monkeypatch.setattr(insp, "summarize", boom)
    assert main(["inspect", str(ad_model)]) == 1
    assert _one_sentence(capsys.readouterr().err).endswith("/some/file: permission denied")


def test_garbage_calibration_files(tmp_path: Path) -> None:
    bad_zip = tmp_path / "zip.npz"
    bad_zip.write_bytes(b"PK\x03\x04" + bytes(range(200)))  # looks like a ZIP, is not one
    not_zip = tmp_path / "text.npz"
    not_zip.write_text("hello")
    bad_npy = tmp_path / "x.npy"
    bad_npy.write_bytes(b"\x93NUMPY\x01\x00garbage")
    for path in (bad_zip, not_zip, bad_npy):
        words = "has a damaged .npy header" if path.suffix == ".npy" else "is not a readable zip archive"
        with pytest.raises(CalibrationError, match=f"calibration file {path} {words}") as info:
            load_calibration(path, (1, 4))
        assert "\n" not in str(info.value)


def _boards_copy(tmp_path: Path) -> Path:
    d = tmp_path / "boards"
    shutil.copytree(boards_mod.boards_dir(), d)
    return d


@pytest.fixture
def broken_boards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    d = _boards_copy(tmp_path)
    text = (d / "mps2-an386.toml").read_text(encoding="utf-8")
    (d / "mps2-an386.toml").write_text(
        text.replace("clock_hz = 25000000", "clock_hz = 2.5e7"), encoding="utf-8"
    )
    monkeypatch.setattr(boards_mod, "boards_dir", lambda: d)
    boards_mod._load_all.cache_clear()
    yield d
    boards_mod._load_all.cache_clear()


def test_one_broken_board_file_breaks_only_itself(
    broken_boards: Path, ad_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert get_board("host").name == "host"
    assert main(["export", str(ad_model), "--board", "host", "-o", str(tmp_path / "p")]) == 0
    capsys.readouterr()
    with pytest.raises(
        BoardError, match=r"mps2-an386.toml: clock_hz = 25000000.0 has the wrong type \(float"
    ):
        get_board("mps2-an386")
    assert main(["boards"]) == 0
    out = capsys.readouterr()
    assert "netduinoplus2" in out.out and "mps2-an386" not in out.out
    assert "warning" in out.err and "mps2-an386.toml" in out.err


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("clock_hz = 25000000", "clock_hz = 0", "clock_hz = 0 is outside 1,000.."),
        (
            "clock_hz = 25000000",
            'clock_hz = "fast"',
            "clock_hz = 'fast' has the wrong type (str; it must be an integer)",
        ),
        ("ram_origin = 0x20000000", "ram_origin = -4", "memory.ram_origin = -4 is outside 0.."),
        ('"-O2"', "2", "build.cflags[4] = 2 is not a compiler flag"),
        ('"-O2"', '"-O2 $(shell id)"', "build.cflags[4] = '-O2 $(shell id)' is not a compiler flag"),
        ('name = "mps2-an386"', 'name = "a b"', "name = 'a b' is not a board name"),
        ('description = "', 'description = "two\\nlines ', "description = 'two\\nlines Arm"),
    ],
)
def test_board_fields_are_checked_with_ranges(tmp_path: Path, old: str, new: str, words: str) -> None:
    src = get_board("mps2-an386").path.read_text(encoding="utf-8")
    assert old in src
    bad = tmp_path / "mps2-an386.toml"
    bad.write_text(src.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(BoardError) as info:
        parse_board(bad)
    assert words in str(info.value) and str(bad) in str(info.value)


def test_host_report_fits(ad_model: Path, tmp_path: Path) -> None:
    assert main(["export", str(ad_model), "--board", "host", "-o", str(tmp_path / "h")]) == 0
    report = (tmp_path / "h" / "report.md").read_text(encoding="utf-8")
    assert "| NO |" not in report and "yes (no limit)" in report


def test_cosine_is_the_same_number_everywhere() -> None:
    from edgesdk.commands.device import _cosine

    a = np.array([3, -7, 11, 100], np.int8)
    assert _cosine(a, a) == 1.0
    c = _cosine(a, np.array([3, -7, 11, 99], np.int8))
    assert 0.99 < c < 1.0 and float(f"{c:.6f}") == c  # what the CLI prints (6 decimals) is what is stored
