"""C backend: IR graph + arena plan -> a self-contained C99 project (model sources plus the int8 kernels)."""

from edgesdk.backends.c import compressed as _compressed  # noqa: F401  (registers kernel variants)
from edgesdk.backends.c import dw_inplace as _dw_inplace  # noqa: F401  (in-place depthwise)
from edgesdk.backends.c import fc_w16 as _fc_w16  # noqa: F401  (registers the int16-weight FC lowering)
from edgesdk.backends.c import packed as _packed  # noqa: F401  (registers the packed-weight lowerings)
from edgesdk.backends.c import winograd as _winograd  # noqa: F401  (registers the Winograd lowering)
from edgesdk.backends.c import winograd_dw as _winograd_dw  # noqa: F401  (Winograd depthwise)
from edgesdk.backends.c import xnor as _xnor  # noqa: F401  (binary-activation ops)
from edgesdk.backends.c.generator import KERNEL_FILES, CProject, generate_c

__all__ = ["KERNEL_FILES", "CProject", "generate_c"]

# Kernel-variant lowerings register themselves in generator.VARIANT_LOWER when imported.
from edgesdk.backends.c import adder as _adder  # noqa: E402,F401
from edgesdk.backends.c import conv_add as _conv_add  # noqa: E402,F401
from edgesdk.backends.c import decoded as _decoded  # noqa: E402,F401
from edgesdk.backends.c import shift as _shift  # noqa: E402,F401
from edgesdk.backends.c import specialize as _specialize  # noqa: E402,F401
