"""edgesdk's units as hls4ml extensions (hls4ml 1.3 extension API, no fork).

Keras-3 layer handlers (``keras_handlers.py``) let hls4ml's own ``convert_from_keras_model`` take edgesdk's
binary training layers into these units. Each unit is an hls4ml ``Layer`` subclass registered with ``hls4ml.model.layers.register_layer``, a config
template and a function-call template registered with ``backend.register_template`` (both rendered from
``templates/hls/unit_config.h.j2`` and ``unit_call.h.j2`` by the one Jinja environment), and its C++ source
(``hls/nnet_utils/edgesdk_units.h`` plus the MCU's ``firmware/kernels/ed_fixedpoint.h``, the one source of
truth for TFLM's requantization) registered with ``backend.register_source``. A pass registered with
``backend.register_pass`` checks the folding of the XNOR units. Registration is idempotent and covers the
Vivado and Vitis backends.

Units (int8 ones in TFLite Micro's arithmetic, bit for bit; C++ in ``hls/nnet_utils/edgesdk_units.h``):

- ``EdgeConv2D``: convolution or depthwise convolution with fused per-channel requantization;
- ``EdgeRequant``: per-channel requantization of an int32 accumulator (after hls4ml's own ``Dense``);
- ``EdgeAdd``, ``EdgePool2D`` (average / max), ``EdgeMean`` (global average), ``EdgeSoftmax``;
- ``EdgeWinogradConv``: Winograd F(2x2,3x3) convolution (Lavin & Gray, 2016) on integer-exact transforms;
- ``EdgeBinarize``, ``EdgeSign``, ``EdgeXnorDense``, ``EdgeXnorConv``, ``EdgeUnpack``: binary activations on packed 32-bit
  words, XNOR-popcount with PE/SIMD folding and per-channel integer thresholds (FINN, Umuroglu et al., 2017).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from edgesdk.backends.hls.config_keys import ADD_REQUANT_KEYS, CONV_SHAPE_KEYS, WINDOW_KEYS
from edgesdk.errors import EdgeSDKError
from edgesdk.util.resources import firmware_dir, hls_dir

log = logging.getLogger(__name__)

BACKENDS = ("Vivado", "Vitis")
#: the flow our passes join on each backend (Vitis reuses Vivado's optimize flow and adds its own validation)
_PASS_FLOW = {"Vivado": "vivado:optimize", "Vitis": "vitis:validation"}
_lock = threading.Lock()
_registered: set[str] = set()


def _hls4ml() -> Any:
    try:
        import hls4ml
    except ImportError:
        raise EdgeSDKError(
            'the FPGA backend needs hls4ml: pip install "edgesdk[hls]" (hls4ml>=1.3,<1.4)'
        ) from None
    return hls4ml


def _int_type(width: int, signed: bool = True) -> Any:
    from hls4ml.model.types import IntegerPrecisionType

    return IntegerPrecisionType(width=width, signed=signed)


def _define_layers() -> dict[str, type]:
    """The Layer classes; defined lazily so that importing edgesdk does not import hls4ml."""
    from hls4ml.model.layers import Layer

    class _EdgeLayer(Layer):
        """Common helpers: int8 output, integer weight variables with explicit precision."""

        def _int_weight(self, name: str, width: int, signed: bool = True) -> None:
            self.add_weights_variable(
                name=name,
                var_name=f"{name[0]}{{index}}_{name}",
                type_name=f"{name}{{index}}_t",
                precision=_int_type(width, signed),
                data=self.get_attr(f"{name}_data"),
            )

        def _requant_weights(self, bias: bool) -> None:
            """The requantization arrays: int32 bias (when the layer adds one), int32 multiplier, int8 shift."""
            if bias:
                self._int_weight("bias", 32)
            self._int_weight("mult", 32)
            self._int_weight("shift", 8)

        def _int8_output(self, shape: list[int]) -> None:
            self.add_output_variable(shape, precision=_int_type(self.get_attr("out_bits", 8), True))

    class EdgeRequant(_EdgeLayer):
        def initialize(self) -> None:
            self._int8_output(list(self.get_input_variable().shape))
            self._requant_weights(bias=False)

    class EdgeConv2D(_EdgeLayer):
        def initialize(self) -> None:
            self._int8_output([self.get_attr("out_h"), self.get_attr("out_w"), self.get_attr("out_c")])
            self._int_weight("weight", self.get_attr("weight_bits", 8))
            self._requant_weights(bias=True)

    class EdgeWinogradConv(_EdgeLayer):
        def initialize(self) -> None:
            self._int8_output([self.get_attr("out_h"), self.get_attr("out_w"), self.get_attr("out_c")])
            self._int_weight("weight", self.get_attr("weight_bits", 16))
            self._int_weight("bt", 4)
            self._int_weight("at", 4)
            self._requant_weights(bias=True)

    class EdgeAdd(_EdgeLayer):
        def initialize(self) -> None:
            a = self.get_input_variable(self.inputs[0])
            b = self.get_input_variable(self.inputs[1])
            shape = a.shape if a.size() >= b.size() else b.shape
            self._int8_output(list(shape))

    class EdgePool2D(_EdgeLayer):
        def initialize(self) -> None:
            self._int8_output([self.get_attr("out_h"), self.get_attr("out_w"), self.get_attr("n_chan")])

    class EdgeMean(_EdgeLayer):
        def initialize(self) -> None:
            self._int8_output([self.get_attr("n_chan")])

    class EdgeSoftmax(_EdgeLayer):
        def initialize(self) -> None:
            self._int8_output(list(self.get_input_variable().shape))

    class _PackedLayer(_EdgeLayer):
        def _words_output(self, shape: list[int]) -> None:
            self.add_output_variable(shape, precision=_int_type(32, False))

        def _thresholds(self) -> None:
            self._int_weight("threshold", 32)
            self._int_weight("flip", 2, signed=False)

    class EdgeBinarize(_PackedLayer):
        def initialize(self) -> None:
            self._words_output(list(self.get_attr("out_shape")))
            self._thresholds()

    class EdgeSign(_PackedLayer):
        def initialize(self) -> None:
            self._words_output(list(self.get_attr("out_shape")))

    class EdgeUnpack(_EdgeLayer):
        def initialize(self) -> None:
            self._int8_output(list(self.get_attr("out_shape")))

    class EdgeXnorDense(_PackedLayer):
        def initialize(self) -> None:
            self._words_output([self.get_attr("n_words_out")])
            self._int_weight("weight", 32, signed=False)
            self._thresholds()

    class EdgeXnorConv(_PackedLayer):
        def initialize(self) -> None:
            self._words_output([self.get_attr("out_h"), self.get_attr("out_w"), self.get_attr("n_words_out")])
            self._int_weight("weight", 32, signed=False)
            self._thresholds()

    return {
        cls.__name__: cls
        for cls in (
            EdgeRequant,
            EdgeConv2D,
            EdgeWinogradConv,
            EdgeAdd,
            EdgePool2D,
            EdgeMean,
            EdgeSoftmax,
            EdgeBinarize,
            EdgeSign,
            EdgeUnpack,
            EdgeXnorDense,
            EdgeXnorConv,
        )
    }


# -- config templates (the struct of static constants each unit reads) -----------------------------------------

_CONFIGS: dict[str, tuple[str, list[str], list[str]]] = {
    # class: (C++ base struct, integer attributes, typedefs from weight variables)
    "EdgeRequant": (
        "requant_config",
        ["n_in", "n_chan", "output_offset", "act_min", "act_max"],
        ["mult", "shift"],
    ),
    "EdgeConv2D": (
        "conv_config",
        [
            *CONV_SHAPE_KEYS,
            *WINDOW_KEYS,
            "dilation_h",
            "dilation_w",
            "pad_h",
            "pad_w",
            "depthwise",
            "depth_multiplier",
            "input_offset",
            "output_offset",
            "act_min",
            "act_max",
            "n_weights",
        ],
        ["weight", "bias", "mult", "shift"],
    ),
    "EdgeWinogradConv": (
        "winograd_config",
        [
            *CONV_SHAPE_KEYS,
            "pad_h",
            "pad_w",
            "input_offset",
            "output_offset",
            "act_min",
            "act_max",
            "tile_a",
            "tile_m",
            "tiles_h",
            "tiles_w",
            "transform_scale_log2",
        ],
        ["weight", "bias", "mult", "shift", "bt", "at"],
    ),
    "EdgeAdd": (
        "add_config",
        [
            "n_out",
            "n_in1",
            "n_in2",
            *ADD_REQUANT_KEYS,
            "act_min",
            "act_max",
        ],
        [],
    ),
    "EdgePool2D": (
        "pool_config",
        [
            "in_h",
            "in_w",
            "n_chan",
            "out_h",
            "out_w",
            *WINDOW_KEYS,
            "pad_h",
            "pad_w",
            "is_max",
            "act_min",
            "act_max",
        ],
        [],
    ),
    "EdgeMean": (
        "mean_config",
        [
            "n_pix",
            "n_chan",
            "same_quant",
            "input_zero_point",
            "output_zero_point",
            "mean_multiplier",
            "mean_shift",
        ],
        [],
    ),
    "EdgeSoftmax": (
        "softmax_config",
        ["n_rows", "depth", "input_multiplier", "input_left_shift", "diff_min"],
        [],
    ),
    "EdgeBinarize": ("binarize_config", ["n_pix", "n_chan", "n_words"], ["threshold", "flip"]),
    "EdgeSign": ("sign_config", ["n_pix", "n_chan", "n_words"], []),
    "EdgeUnpack": ("unpack_config", ["n_pix", "n_chan", "n_words", "high", "low"], []),
    "EdgeXnorDense": (
        "xnor_config",
        ["n_in", "n_out", "n_words_in", "n_words_out", "pe", "simd"],
        ["weight", "threshold", "flip"],
    ),
    "EdgeXnorConv": (
        "xnor_conv_config",
        [
            *CONV_SHAPE_KEYS,
            *WINDOW_KEYS,
            "pad_h",
            "pad_w",
            "pad_value",
            "n_words_in",
            "n_words_out",
            "pe",
            "simd",
        ],
        ["weight", "threshold", "flip"],
    ),
}

#: class: the function of ``edgesdk_units.h`` its call runs; its template parameters are the input type(s), the
#: output type and the config struct, its arguments the input(s), the output and the weight variables (``_CONFIGS``)
_FUNCTIONS: dict[str, str] = {
    "EdgeRequant": "requant",
    "EdgeConv2D": "conv2d",
    "EdgeWinogradConv": "winograd_conv",
    "EdgeAdd": "add",
    "EdgePool2D": "pool2d",
    "EdgeMean": "mean",
    "EdgeSoftmax": "softmax",
    "EdgeBinarize": "binarize",
    "EdgeSign": "sign_pack",
    "EdgeUnpack": "unpack_bits",
    "EdgeXnorDense": "xnor_dense",
    "EdgeXnorConv": "xnor_conv2d",
}

_INCLUDES = ["nnet_utils/edgesdk_units.h"]


def _cpp_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(int(value))


def _ctype(key: str, value: Any) -> str:
    """The C++ type of a config constant: bool, unsigned for sizes (``n_``, ``in_``, ``out_``), else int."""
    if isinstance(value, bool):
        return "bool"
    return "unsigned" if key.startswith(("n_", "in_", "out_")) else "int"


def _render_config(node: Any, base: str, ints: list[str], typedefs: list[str], accum: bool) -> str:
    """The config struct of one unit, rendered from ``templates/hls/unit_config.h.j2`` by the one Jinja
    environment: its integer attributes, its accumulator type (convolutions) and its weights' types."""
    from edgesdk.util.templating import environment

    fields = []
    for key in ints:
        value = node.get_attr(key)
        if value is None:
            raise EdgeSDKError(f"HLS layer {node.name}: attribute {key!r} is missing")
        fields.append((_ctype(key, value), key, _cpp_value(value)))
    return (
        environment()
        .get_template("hls/unit_config.h.j2")
        .render(
            index=node.index,
            base=base,
            fields=fields,
            accum_t=node.get_attr("accum_t_name", "ap_int<32>") if accum else "",
            typedefs=[(td, node.get_weights(td).type.name) for td in typedefs],
        )
    )


def _render_call(node: Any, params: dict[str, str], function: str, typedefs: list[str]) -> str:
    """The call of one unit in the generated ``myproject.cpp``, rendered from ``templates/hls/unit_call.h.j2``:
    ``edgesdk::<function><input type(s), output type, config>(input(s), output, weights...);``."""
    from edgesdk.util.templating import environment

    if len(node.inputs) > 1:
        ins = [node.get_input_variable(name) for name in node.inputs[:2]]
        types, args = [v.type.name for v in ins], [v.name for v in ins]
    else:
        types, args = [params["input_t"]], [params["input"]]
    types += [params["output_t"], params["config"]]
    args += [params["output"], *(node.get_weights(td).name for td in typedefs)]
    text = environment().get_template("hls/unit_call.h.j2").render(function=function, types=types, args=args)
    return text.rstrip("\n")


def _make_templates(layers: dict[str, type]) -> list[type]:
    from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate

    templates: list[type] = []
    for cls_name, (base, ints, typedefs) in _CONFIGS.items():
        layer_cls = layers[cls_name]

        def config_format(
            self: Any,
            node: Any,
            _base: str = base,
            _ints: list[str] = ints,
            _tds: list[str] = typedefs,
            _cls_name: str = cls_name,
        ) -> str:
            return _render_config(node, _base, _ints, _tds, _cls_name in ("EdgeConv2D", "EdgeWinogradConv"))

        def config_init(self: Any, _cls: type = layer_cls) -> None:
            LayerConfigTemplate.__init__(self, _cls)

        templates.append(
            type(
                f"{cls_name}ConfigTemplate",
                (LayerConfigTemplate,),
                {"__init__": config_init, "format": config_format},
            )
        )

        def call_format(
            self: Any, node: Any, _function: str = _FUNCTIONS[cls_name], _tds: list[str] = typedefs
        ) -> str:
            return _render_call(node, self._default_function_params(node), _function, _tds)

        def call_init(self: Any, _cls: type = layer_cls) -> None:
            FunctionCallTemplate.__init__(self, _cls, include_header=_INCLUDES)

        templates.append(
            type(
                f"{cls_name}FunctionTemplate",
                (FunctionCallTemplate,),
                {"__init__": call_init, "format": call_format},
            )
        )
    return templates


def _make_passes(layers: dict[str, type]) -> list[tuple[str, type]]:
    """Optimizer passes: check the PE/SIMD folding of the XNOR units before templates are applied."""
    from hls4ml.model.optimizer import OptimizerPass

    xnor_cls = (layers["EdgeXnorDense"], layers["EdgeXnorConv"])

    class EdgeCheckXnorFolding(OptimizerPass):
        """PE must divide the output rows and SIMD the packed words per row (FINN's folding rule)."""

        def match(self, node: Any) -> bool:
            return isinstance(node, xnor_cls) and not node.get_attr("folding_checked", False)

        def transform(self, model: Any, node: Any) -> bool:
            n_out = node.get_attr("n_out", node.get_attr("out_c"))
            n_words = (
                node.get_attr("n_words_in") * node.get_attr("filter_h", 1) * node.get_attr("filter_w", 1)
            )
            pe, simd = node.get_attr("pe"), node.get_attr("simd")
            if n_out % pe or n_words % simd:
                raise EdgeSDKError(
                    f"HLS layer {node.name}: PE={pe} must divide {n_out} rows and SIMD={simd} must divide "
                    f"{n_words} packed words"
                )
            node.set_attr("folding_checked", True)
            node.set_attr("fold_cycles", (n_out // pe) * (n_words // simd))
            return False

    return [("edgesdk_check_xnor_folding", EdgeCheckXnorFolding)]


_layer_classes: dict[str, type] = {}


def layer_classes() -> dict[str, type]:
    """The registered Layer classes by name (registering them first if needed)."""
    register()
    return _layer_classes


def register() -> None:
    """Register edgesdk's units with hls4ml for the Vivado and Vitis backends; safe to call many times."""
    hls4ml = _hls4ml()
    with _lock:
        if "layers" not in _registered:
            from hls4ml.model.layers import layer_map, register_layer

            classes = _define_layers()
            for name, cls in classes.items():
                if name not in layer_map:
                    register_layer(name, cls)
                _layer_classes[name] = layer_map[name]
            _registered.add("layers")
        sources = [
            hls_dir() / "nnet_utils" / "edgesdk_units.h",
            firmware_dir() / "kernels" / "ed_fixedpoint.h",
        ]
        for backend_name in BACKENDS:
            if backend_name in _registered:
                continue
            backend = hls4ml.backends.get_backend(backend_name)
            for template_cls in _make_templates(_layer_classes):
                backend.register_template(template_cls)
            for src in sources:
                backend.register_source(src.resolve())
            for pass_name, pass_cls in _make_passes(_layer_classes):
                backend.register_pass(pass_name, pass_cls, flow=_PASS_FLOW[backend_name])
            _registered.add(backend_name)
            log.debug("registered edgesdk HLS units with hls4ml's %s backend", backend_name)
        from edgesdk.backends.hls.keras_handlers import register_keras_handlers

        register_keras_handlers()
