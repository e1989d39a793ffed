"""Ships the top-level data folders (templates/, firmware/, hls/, boards/) inside the wheel.

They live at the top of the repository (as the product card fixes) and are copied into
``edgesdk/_data/`` at build time, where :mod:`edgesdk.util.resources` finds them after a plain
``pip install .``. In a checkout or an editable install the resources module finds them in place.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DATA_DIRS = ("templates", "firmware", "hls", "boards")


class BuildPyWithData(build_py):
    def run(self) -> None:
        super().run()
        root = Path(__file__).resolve().parent
        target = Path(self.build_lib) / "edgesdk" / "_data"
        for name in DATA_DIRS:
            src = root / name
            if src.is_dir():
                dst = target / name
                if dst.exists():
                    shutil.rmtree(dst)
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.o", "*.elf"))


setup(cmdclass={"build_py": BuildPyWithData})
