"""C backend: IR graph + arena plan -> a self-contained C99 project (model sources plus the int8 kernels).

The lowering of every kernel variant is named by the kernel table (:mod:`edgesdk.compiler.kernels`, column ``lower``);
importing the package resolves them into :data:`edgesdk.backends.c.generator.VARIANT_LOWER`.
"""

from edgesdk.backends.c.band_chain import lower_band_chain
from edgesdk.backends.c.generator import ATTR_LOWER, KERNEL_FILES, VARIANT_LOWER, CProject, generate_c
from edgesdk.compiler import kernels as _kernels

__all__ = ["KERNEL_FILES", "CProject", "generate_c"]

VARIANT_LOWER.update(_kernels.lowerings())
ATTR_LOWER["band_chain"] = lower_band_chain
