"""A plain wheel carries templates/, firmware/, hls/ and boards/, and the resources module finds them there."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_wheel_ships_data_folders_and_finds_them(tmp_path: Path) -> None:
    src = tmp_path / "src"
    # build from a copy so the checkout's own folders cannot be found by the installed code
    shutil.copytree(
        REPO, src, ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "__pycache__", "out")
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(src),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("edgesdk-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "edgesdk/_data/boards/netduinoplus2.toml",
        "edgesdk/_data/firmware/edgesdk.mk",
        "edgesdk/_data/firmware/include/edgesdk_model.h",
        "edgesdk/_data/templates/project/Makefile.j2",
        "edgesdk/_data/templates/firmware/linker.ld.j2",
        "edgesdk/commands/cli.py",
    ):
        assert needed in names, needed
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); import edgesdk.util.resources as r, edgesdk.boards as b; "
            "print(r.data_dir('firmware')); print(r.data_dir('templates')); print(len(b.all_boards()))",
            str(site),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    ).stdout.split()
    assert out[0] == str(site / "edgesdk" / "_data" / "firmware")
    assert out[1] == str(site / "edgesdk" / "_data" / "templates")
    assert int(out[2]) >= 7
