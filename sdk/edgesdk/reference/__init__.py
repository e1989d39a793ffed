"""Integer-exact NumPy interpreter of the IR: the oracle every backend is tested against.

``Reference(graph).run(x)`` reproduces TFLite Micro's int8 reference kernels bit for bit;
``op_params(graph, node)`` gives the integer parameters each kernel uses (the C backend emits the same numbers).
"""

from edgesdk.reference import adder as _adder  # noqa: E402,F401  (registers EDGESDK_ADDER_CONV_2D)
from edgesdk.reference import xnor as _xnor  # noqa: F401,E402  (binary-activation ops)
from edgesdk.reference.interpreter import ROUNDINGS, Reference
from edgesdk.reference.kernels import KERNELS
from edgesdk.reference.params import op_params

__all__ = ["KERNELS", "ROUNDINGS", "Reference", "op_params"]
