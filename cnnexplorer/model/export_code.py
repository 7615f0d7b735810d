"""Code export: a self-contained Python file that rebuilds an architecture in Keras 3 or PyTorch.

Pure text generation from the core, no NumPy.  Every padding amount and output size comes from
:meth:`Architecture.infer` (``LayerInfo.geometry``), never from arithmetic repeated here.

* :func:`to_keras_code` — a ``keras.Sequential`` with the same layer names and arguments (channels-last,
  like CNN Explorer).  What Keras cannot say directly becomes an extra ``ZeroPadding2D`` layer (explicit
  padding of a convolution) or a small custom layer defined in the file (padded or ceil-mode pooling,
  local response normalisation).
* :func:`to_pytorch_code` — an ``nn.Module`` whose forward pass is equivalent, channels-first inside:
  asymmetric padding (Keras ``same`` with stride > 1) is an explicit pad before the layer, Flatten permutes
  to (H, W, C) order first so that Dense weights correspond, Dense on feature maps acts on the channel axis.

Both files include ``load_cnnexplorer_weights(model, npz_path)`` that loads CNN Explorer's Keras-layout
``.npz`` weights (transposed for PyTorch).
"""

from __future__ import annotations

import keyword
import re
from typing import Any, Callable

from .architecture import Architecture, LayerInfo
from .errors import ArchitectureError

__all__ = ["to_keras_code", "to_pytorch_code", "export_code", "EXPORT_TARGETS", "python_identifier",
           "class_name_for"]

EXPORT_TARGETS = ("keras", "pytorch")


def _version() -> str:
    try:
        from .. import __version__
    except ImportError:  # pragma: no cover - partial installs
        return "?"
    return __version__


def _require_valid(arch: Architecture) -> list[LayerInfo]:
    if not arch.is_valid:
        raise ArchitectureError(f"{arch.name}: {arch.invalid_message()}; the model cannot be exported")
    return arch.infer()


def python_identifier(text: str, taken: set[str] | None = None) -> str:
    """A valid, non-keyword, ASCII Python identifier made from ``text`` (unique within ``taken``, which is
    updated)."""
    ident = re.sub(r"[^0-9A-Za-z_]", "_", text)
    if not ident or ident[0].isdigit():
        ident = "_" + ident
    if keyword.iskeyword(ident) or ident in ("self", "x", "torch", "nn", "F"):
        ident += "_"
    if taken is not None:
        base, n = ident, 1
        while ident in taken:
            ident = f"{base}_{n}"
            n += 1
        taken.add(ident)
    return ident


# Attributes an exported ``nn.Module`` already has (``dir(nn.Module)`` and those set by ``nn.Module.__init__``,
# PyTorch 2.x; a test checks the list against the installed PyTorch).  A layer attribute never takes one of these
# names, nor one starting with "_": a layer named ``forward``, ``training`` or ``_modules`` must not replace them.
TORCH_MODULE_ATTRIBUTES = frozenset("""
    T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda double
    dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter get_submodule half ipu
    load_state_dict modules mtia named_buffers named_children named_modules named_parameters parameters
    register_backward_hook register_buffer register_forward_hook register_forward_pre_hook
    register_full_backward_hook register_full_backward_pre_hook register_load_state_dict_post_hook
    register_load_state_dict_pre_hook register_module register_parameter register_state_dict_post_hook
    register_state_dict_pre_hook requires_grad_ set_extra_state set_submodule share_memory state_dict to to_empty
    train training type xpu zero_grad CNNEXPLORER_LAYERS
""".split())


def _torch_attribute(name: str, taken: set[str]) -> str:
    """The attribute of the exported module that holds layer ``name``: an identifier that shadows nothing."""
    ident = python_identifier(name)
    if ident.startswith("_"):
        ident = "layer" + ident
    if ident in TORCH_MODULE_ATTRIBUTES:
        ident += "_layer"
    return python_identifier(ident, taken)


def _doc_text(text: str) -> str:
    """``text`` as it may appear inside a triple-quoted docstring or a comment of generated code: backslashes and
    double quotes escaped, anything unprintable (newlines, control characters, lone surrogates) written as its
    escape — so a hostile model name can never end the docstring or start a line of code."""
    out = []
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(repr(ch)[1:-1])
    return "".join(out)


def class_name_for(name: str) -> str:
    """``"LeNet-5"`` → ``LeNet5``; ``"my model"`` → ``MyModel``; never a keyword (``"none"`` → ``NoneModel``)."""
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", name) if p]
    ident = "".join(p[0].upper() + p[1:] for p in parts) or "Model"
    if ident[0].isdigit():
        ident = "Model" + ident
    if keyword.iskeyword(ident) or ident in ("torch", "nn", "F", "np"):
        ident += "Model"
    return ident


def _lit(value: Any) -> str:
    """A Python literal (tuples stay tuples; floats keep full precision)."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, tuple):
        inner = ", ".join(_lit(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(_lit(v) for v in value) + "]"
    return repr(value)


def _pads(info: LayerInfo) -> tuple[tuple[int, int], tuple[int, int]]:
    gh, gw = info.geometry
    return (gh.pad_before, gh.pad_after), (gw.pad_before, gw.pad_after)


def _exact_pool_pads(info: LayerInfo) -> tuple[tuple[int, int], tuple[int, int]]:
    """Padding after which a floor-mode window of stride s gives exactly the core's output size: the real
    padding before, and after it the real padding plus any ceil-mode overhang (never a negative amount)."""
    pads = []
    for geo in info.geometry:
        extent = (geo.out - 1) * geo.stride + geo.effective_kernel
        pads.append((geo.pad_before, max(0, extent - geo.n - geo.pad_before)))
    return pads[0], pads[1]


def _symmetric(pads) -> bool:
    return all(before == after for before, after in pads)


def _header(arch: Architecture, infos: list[LayerInfo], framework: str) -> list[str]:
    total = sum(info.params for info in infos)
    trainable = sum(info.trainable_params for info in infos)
    return [
        f"{_doc_text(arch.name)} — {framework} code generated by CNN Explorer {_version()}.",
        "",
        f"Input shape {tuple(arch.input_shape)} (height, width, channels); {len(infos)} layers; "
        f"{total:,} parameters ({trainable:,} trainable).",
    ]


# --- Keras -------------------------------------------------------------------------------------------
_KERAS_HELPERS = {
    "PaddedMaxPooling2D": '''
@keras.saving.register_keras_serializable(package="cnnexplorer")
class PaddedMaxPooling2D(keras.layers.Layer):
    """Max pooling after explicit padding ((top, bottom), (left, right)) with -inf, so padding never wins.
    The bottom/right amounts include any ceil-mode overhang (CNN Explorer's ceil_mode)."""

    def __init__(self, pool_size, strides, padding, **kwargs):
        super().__init__(**kwargs)
        self.pool_size, self.strides = tuple(pool_size), tuple(strides)
        self.padding = tuple(tuple(p) for p in padding)

    def call(self, x):
        (t, b), (l, r) = self.padding
        x = keras.ops.pad(x, [[0, 0], [t, b], [l, r], [0, 0]], constant_values=float("-inf"))
        return keras.ops.max_pool(x, self.pool_size, self.strides, padding="valid")

    def compute_output_shape(self, input_shape):
        (t, b), (l, r) = self.padding
        n, h, w, c = input_shape
        return (n, (h + t + b - self.pool_size[0]) // self.strides[0] + 1,
                (w + l + r - self.pool_size[1]) // self.strides[1] + 1, c)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding}
''',
    "PaddedAveragePooling2D": '''
@keras.saving.register_keras_serializable(package="cnnexplorer")
class PaddedAveragePooling2D(keras.layers.Layer):
    """Average pooling after explicit zero padding ((top, bottom), (left, right)).  The divisor counts the
    real inputs, plus the padding when count_include_pad (PyTorch's rule); ceil-mode overhang (included in the
    bottom/right amounts beyond ``counted_padding``) never counts."""

    def __init__(self, pool_size, strides, padding, counted_padding, **kwargs):
        super().__init__(**kwargs)
        self.pool_size, self.strides = tuple(pool_size), tuple(strides)
        self.padding = tuple(tuple(p) for p in padding)
        self.counted_padding = tuple(tuple(p) for p in counted_padding)

    def call(self, x):
        (t, b), (l, r) = self.padding
        (ct, cb), (cl, cr) = self.counted_padding
        h, w = x.shape[1], x.shape[2]
        x = keras.ops.pad(x, [[0, 0], [t, b], [l, r], [0, 0]])
        mask = keras.ops.ones((1, h + ct + cb, w + cl + cr, 1), dtype=x.dtype)
        mask = keras.ops.pad(mask, [[0, 0], [t - ct, b - cb], [l - cl, r - cr], [0, 0]])
        total = keras.ops.average_pool(x, self.pool_size, self.strides, padding="valid")
        counted = keras.ops.average_pool(mask, self.pool_size, self.strides, padding="valid")
        return total / counted

    def compute_output_shape(self, input_shape):
        (t, b), (l, r) = self.padding
        n, h, w, c = input_shape
        return (n, (h + t + b - self.pool_size[0]) // self.strides[0] + 1,
                (w + l + r - self.pool_size[1]) // self.strides[1] + 1, c)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding, "counted_padding": self.counted_padding}
''',
    "LocalResponseNormalization": '''
@keras.saving.register_keras_serializable(package="cnnexplorer")
class LocalResponseNormalization(keras.layers.Layer):
    """AlexNet's LRN with PyTorch's semantics (nn.LocalResponseNorm), across the channel (last) axis:
    b_c = a_c / (k + alpha/size * sum of a^2 over `size` neighbouring channels)^beta."""

    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=2.0, **kwargs):
        super().__init__(**kwargs)
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def call(self, x):
        channels = x.shape[-1]
        before, after = self.size // 2, (self.size - 1) // 2
        squares = keras.ops.pad(keras.ops.square(x), [[0, 0], [0, 0], [0, 0], [before, after]])
        total = sum(squares[..., i:i + channels] for i in range(self.size))
        return x / keras.ops.power(self.k + self.alpha / self.size * total, self.beta)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "alpha": self.alpha, "beta": self.beta, "k": self.k}
''',
}

_KERAS_HELPERS.update({
    "LayerScale": '''
@keras.saving.register_keras_serializable(package="cnnexplorer")
class LayerScale(keras.layers.Layer):
    """ConvNeXt's learned per-channel scale: x * gamma, gamma initialised to init_values."""

    def __init__(self, init_values, projection_dim, **kwargs):
        super().__init__(**kwargs)
        self.init_values, self.projection_dim = init_values, projection_dim

    def build(self, input_shape):
        self.gamma = self.add_weight(shape=(self.projection_dim,),
                                     initializer=keras.initializers.Constant(self.init_values), name="gamma")

    def call(self, x):
        return x * self.gamma

    def get_config(self):
        return {**super().get_config(), "init_values": self.init_values, "projection_dim": self.projection_dim}
''',
    "StochasticDepth": '''
@keras.saving.register_keras_serializable(package="cnnexplorer")
class StochasticDepth(keras.layers.Layer):
    """Drops the whole residual branch of a sample with probability drop_path_rate while training; the identity
    when predicting."""

    def __init__(self, drop_path_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.drop_path_rate = drop_path_rate

    def call(self, x, training=None):
        if not training or self.drop_path_rate == 0:
            return x
        keep = 1 - self.drop_path_rate
        shape = (keras.ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
        return x / keep * keras.ops.floor(keep + keras.random.uniform(shape))

    def get_config(self):
        return {**super().get_config(), "drop_path_rate": self.drop_path_rate}
''',
    "CustomScaleLayer": '''
@keras.saving.register_keras_serializable(package="cnnexplorer")
class CustomScaleLayer(keras.layers.Layer):
    """InceptionResNetV2's residual scaling: inputs[0] + inputs[1] * scale."""

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, inputs):
        return inputs[0] + inputs[1] * self.scale

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}
''',
})

_KERAS_WEIGHTS_LOADER = '''
def load_cnnexplorer_weights(model, npz_path):
    """Load weights saved by CNN Explorer (.npz, one array per weight keyed "<layer>/<weight>", Keras layout)."""
    import numpy as np

    order = ("kernel", "depthwise_kernel", "pointwise_kernel", "bias", "gamma", "beta", "moving_mean",
             "moving_variance", "mean", "variance", "count")
    with np.load(npz_path, allow_pickle=False) as data:
        for layer in model.layers:
            ours = CNNEXPLORER_NAMES.get(layer.name, layer.name)
            names = [w for w in order if f"{ours}/{w}" in data.files]
            if names:
                layer.set_weights([data[f"{ours}/{w}"] for w in names])
'''


def _keras_call(cls: str, kwargs: list[tuple[str, Any]], name: str, prefix: str = "layers.") -> str:
    parts = [f"{k}={_lit(v)}" for k, v in kwargs] + [f"name={name!r}"]
    return f"{prefix}{cls}({', '.join(parts)})"


def _keras_pad_name(name: str, taken: set[str]) -> str:
    """The name of the extra ZeroPadding2D before layer ``name``: ``<name>_pad``, made unique (Keras refuses two
    layers of one name)."""
    candidate, n = f"{name}_pad", 1
    while candidate in taken:
        candidate, n = f"{name}_pad_{n}", n + 1
    taken.add(candidate)
    return candidate


def _keras_names(infos: list[LayerInfo]) -> dict[str, str]:
    """Our layer name → its Keras name: the same, except that "." (which Keras' PyTorch backend refuses in a
    weight's path) becomes "_", made unique."""
    taken = {info.name for info in infos}
    names = {}
    for info in infos:
        name = info.name
        if "." in name:
            base, n = name.replace(".", "_"), 1
            name = base
            while name in taken:
                name, n = f"{base}_{n}", n + 1
            taken.add(name)
        names[info.name] = name
    return names


KerasExport = Callable[[LayerInfo, str, set, set], list[str]]
#: layer type → fn(info, Keras name, helpers used, Keras names taken) → Keras layer expressions (in order)
KERAS_EXPORT: dict[str, KerasExport] = {}


def _keras(*type_names: str):
    def register(fn: KerasExport) -> KerasExport:
        for t in type_names:
            KERAS_EXPORT[t] = fn
        return fn
    return register


def _conv_kwargs(args: dict, padding, first: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    kwargs = list(first)
    if args.get("depth_multiplier", 1) != 1:
        kwargs.append(("depth_multiplier", args["depth_multiplier"]))
    kwargs += [("strides", args["strides"]), ("padding", padding)]
    if args["dilation_rate"] != (1, 1):
        kwargs.append(("dilation_rate", args["dilation_rate"]))
    if args.get("groups", 1) != 1:
        kwargs.append(("groups", args["groups"]))
    kwargs.append(("activation", args["activation"]))
    if not args["use_bias"]:
        kwargs.append(("use_bias", False))
    return kwargs


@_keras("Conv2D", "DepthwiseConv2D", "SeparableConv2D")
def _keras_conv(info, name, helpers, taken):
    t, args = info.type_name, info.layer.args
    lines = []
    padding = args["padding"]
    if not isinstance(padding, str):   # explicit padding: a ZeroPadding2D before a 'valid' convolution
        lines.append(_keras_call("ZeroPadding2D", [("padding", padding)], _keras_pad_name(name, taken)))
        padding = "valid"
    first = [("kernel_size", args["kernel_size"])]
    if t != "DepthwiseConv2D":
        first.insert(0, ("filters", args["filters"]))
    lines.append(_keras_call(t, _conv_kwargs(args, padding, first), name))
    return lines


@_keras("MaxPooling2D", "AveragePooling2D")
def _keras_pool(info, name, helpers, taken):
    t, layer, args = info.type_name, info.layer, info.layer.args
    padding, ceil = args["padding"], args["ceil_mode"]
    strides = layer.effective_strides
    # strides=None (Keras' default) means pool_size, in Keras as here
    plain = [("pool_size", args["pool_size"])] + ([("strides", args["strides"])] if args["strides"] else [])
    if isinstance(padding, str) and not ceil:
        return [_keras_call(t, [*plain, ("padding", padding)], name)]
    exact = _exact_pool_pads(info)
    if t == "AveragePooling2D" and not ceil and args["count_include_pad"]:
        # every window lies inside the padded input: zero padding + a plain average divides by the window
        return [_keras_call("ZeroPadding2D", [("padding", padding)], _keras_pad_name(name, taken)),
                _keras_call(t, [*plain, ("padding", "valid")], name)]
    cls = "PaddedMaxPooling2D" if t == "MaxPooling2D" else "PaddedAveragePooling2D"
    helpers.add(cls)
    kwargs = [("pool_size", args["pool_size"]), ("strides", strides), ("padding", exact)]
    if t == "AveragePooling2D":
        include = args["count_include_pad"] and padding != "same"
        kwargs.append(("counted_padding", _pads(info) if include else ((0, 0), (0, 0))))
    return [_keras_call(cls, kwargs, name, prefix="")]


def _keras_plain(*keys: str, skip_none: bool = True, helper: str | None = None, when=None):
    """An entry that passes ``keys`` through as Keras keyword arguments (``when(args)`` picks the ones to write)."""
    def export(info, name, helpers, taken):
        args = info.layer.args
        kwargs = [(k, args[k]) for k in keys if not (skip_none and args[k] is None) and (when is None or when(k, args))]
        if helper is not None:
            helpers.add(helper)
            return [_keras_call(info.type_name, kwargs, name, prefix="")]
        return [_keras_call(info.type_name, kwargs, name)]
    return export


KERAS_EXPORT.update({
    "GlobalAveragePooling2D": _keras_plain("keepdims", when=lambda k, a: a[k]),
    "GlobalMaxPooling2D": _keras_plain("keepdims", when=lambda k, a: a[k]),
    "ZeroPadding2D": _keras_plain("padding"),
    "Cropping2D": _keras_plain("cropping"),
    "Flatten": _keras_plain(),
    "Dense": _keras_plain("units", "activation", "use_bias", when=lambda k, a: k != "use_bias" or not a[k]),
    "Activation": _keras_plain("activation"),
    "BatchNormalization": _keras_plain("epsilon", "momentum", "center", "scale",
                                       when=lambda k, a: k in ("epsilon", "momentum") or not a[k]),
    "LayerNormalization": _keras_plain("epsilon", "center", "scale",
                                       when=lambda k, a: k == "epsilon" or not a[k]),
    "Dropout": _keras_plain("rate"),
    "LocalResponseNormalization": _keras_plain("size", "alpha", "beta", "k",
                                               helper="LocalResponseNormalization"),
    "Conv2DTranspose": lambda info, name, helpers, taken: [_keras_call("Conv2DTranspose", _conv_kwargs(
        info.layer.args, info.layer.padding, [("filters", info.layer.filters),
                                              ("kernel_size", info.layer.kernel_size)]
        + ([("output_padding", info.layer.output_padding)] if info.layer.output_padding else [])), name)],
    "UpSampling2D": _keras_plain("size", "interpolation"),
    "Reshape": _keras_plain("target_shape"),
    "Rescaling": _keras_plain("scale", "offset"),
    "Normalization": _keras_plain("mean", "variance", "invert", when=lambda k, a: k != "invert" or a[k]),
    "ReLU": _keras_plain("max_value", "negative_slope", "threshold"),
    "LeakyReLU": _keras_plain("negative_slope"),
    "LayerScale": _keras_plain("init_values", "projection_dim", helper="LayerScale"),
    "StochasticDepth": _keras_plain("drop_path_rate", helper="StochasticDepth"),
    "CustomScaleLayer": _keras_plain("scale", helper="CustomScaleLayer"),
    "Concatenate": _keras_plain("axis"),
    **{t: _keras_plain() for t in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")},
})


def _keras_layer_lines(info: LayerInfo, name: str, helpers: set[str], taken: set[str]) -> list[str]:
    """One or more Keras layer expressions for one of our layers, named ``name`` in Keras (``taken``: the Keras
    names in use)."""
    try:
        export = KERAS_EXPORT[info.type_name]
    except KeyError:  # pragma: no cover - a test checks that every layer type has an entry
        raise ArchitectureError(f"Keras export does not know the layer type {info.type_name}") from None
    return export(info, name, helpers, taken)


def to_keras_code(arch: Architecture) -> str:
    """A Python file (Keras 3) that rebuilds ``arch`` with the same layer names (a "." in a name becomes "_":
    Keras' PyTorch backend refuses it; the weight loader maps the names back): a ``keras.Sequential`` for a chain,
    a Functional ``keras.Model`` with one named tensor per layer for a graph.

    Raises :class:`ArchitectureError` if a layer cannot be computed.
    """
    infos = _require_valid(arch)
    helpers: set[str] = set()
    names = _keras_names(infos)
    taken = set(names.values())
    per_layer = [(info, _keras_layer_lines(info, names[info.name], helpers, taken)) for info in infos]
    # Keras refuses "/" in names, and its PyTorch backend "." in a model name
    model_name = arch.name.replace("/", "_").replace(".", "_") or "model"
    doc = _header(arch, infos, "Keras 3")
    doc += [
        "",
        "Channels-last like CNN Explorer: the model takes (batch, height, width, channels).  Flatten unrolls in",
        "(height, width, channels) order, so weights saved by CNN Explorer (.npz, Keras layout) load unchanged:",
        "    model = build_model(); load_cnnexplorer_weights(model, \"weights.npz\")",
    ]
    if helpers:
        doc += ["", "Layers Keras has no built-in for are defined below (" + ", ".join(sorted(helpers)) + ")."]
    out = ['"""' + "\n".join(doc) + '\n"""', "", "import keras", "from keras import layers", ""]
    for name in _KERAS_HELPERS:
        if name in helpers:
            out.append(_KERAS_HELPERS[name].rstrip("\n"))
            out.append("")
    if arch.is_chain:
        out += ["", "def build_model():", f'    """{_doc_text(arch.name)} as a keras.Sequential model."""',
                "    return keras.Sequential(", "        [",
                f"            keras.Input(shape={_lit(tuple(arch.input_shape))}),"]
        out += [f"            {line}," for info, lines in per_layer for line in lines]
        out += ["        ],", f"        name={model_name!r},", "    )", "", ""]
    else:
        out += ["", "def build_model():",
                f'    """{_doc_text(arch.name)} as a Functional keras.Model: one named tensor per layer."""',
                f"    inputs = keras.Input(shape={_lit(tuple(arch.input_shape))})"]
        variables = {"input": "inputs"}
        used = {"inputs", "keras", "layers", "build_model", "load_cnnexplorer_weights"}
        for info, lines in per_layer:
            var = python_identifier(names[info.name], used)
            sources = [variables[n] for n in info.inputs]
            argument = sources[0] if len(sources) == 1 else "[" + ", ".join(sources) + "]"
            for k, line in enumerate(lines):
                out.append(f"    {var} = {line}({argument if k == 0 else var})")
            variables[info.name] = var
        outputs = [variables[n] for n in arch.outputs()]
        out_expr = outputs[0] if len(outputs) == 1 else "[" + ", ".join(outputs) + "]"
        out += [f"    return keras.Model(inputs, {out_expr}, name={model_name!r})", "", ""]
    renamed = {keras: ours for ours, keras in names.items() if keras != ours}
    out.append("# Keras layer name → CNN Explorer layer name, where they differ (\".\" becomes \"_\")")
    out.append(f"CNNEXPLORER_NAMES = {_lit(renamed)}")
    out.append(_KERAS_WEIGHTS_LOADER.rstrip("\n"))
    out += ["", "", 'if __name__ == "__main__":', "    build_model().summary()", ""]
    return "\n".join(out)


# --- PyTorch -----------------------------------------------------------------------------------------
_TORCH_ACTIVATIONS = {
    "linear": None,
    "relu": "F.relu({x})",
    "relu6": "F.relu6({x})",
    "leaky_relu": "F.leaky_relu({x}, negative_slope=0.2)",  # Keras' default slope
    "elu": "F.elu({x})",
    "gelu": "F.gelu({x})",  # exact (erf) form, Keras' default approximate=False
    "silu": "F.silu({x})",
    "swish": "F.silu({x})",
    "sigmoid": "torch.sigmoid({x})",
    "tanh": "torch.tanh({x})",
    "softplus": "F.softplus({x})",
    "softmax": "torch.softmax({x}, dim={dim})",
    "hard_sigmoid": "F.hardsigmoid({x})",  # Keras 3: relu6(x + 3) / 6
    "hard_silu": "F.hardswish({x})",
    "hard_swish": "F.hardswish({x})",
}

_TORCH_AVG_POOL_HELPER = '''
def padded_avg_pool2d(x, kernel_size, stride, padding, counted_padding):
    """Average pooling after explicit zero padding ((top, bottom), (left, right)); the divisor counts only the
    real inputs plus ``counted_padding`` (Keras "same" counts no padding; ceil-mode overhang never counts)."""
    (t, b), (l, r) = padding
    (ct, cb), (cl, cr) = counted_padding
    h, w = x.shape[-2:]
    mask = x.new_ones((1, 1, h + ct + cb, w + cl + cr))
    mask = F.pad(mask, (l - cl, r - cr, t - ct, b - cb))
    total = F.avg_pool2d(F.pad(x, (l, r, t, b)), kernel_size, stride)
    return total / F.avg_pool2d(mask, kernel_size, stride)
'''

_TORCH_WEIGHTS_LOADER = '''
def load_cnnexplorer_weights(model, weights):
    """Load CNN Explorer weights into ``model``: an .npz path or a {"<layer>/<weight>": array} mapping, in Keras
    layout.  Conv2D kernels (kh, kw, C_in/groups, F) become (F, C_in/groups, kh, kw); DepthwiseConv2D kernels
    (kh, kw, C, M) become (C*M, 1, kh, kw); Dense kernels (n_in, units) become (units, n_in);
    BatchNormalization gamma/beta/moving_mean/moving_variance become weight/bias/running_mean/running_var."""
    import numpy as np

    if isinstance(weights, (str, bytes)) or hasattr(weights, "__fspath__"):
        with np.load(weights, allow_pickle=False) as data:
            weights = {key: data[key] for key in data.files}

    def put(tensor, array):
        with torch.no_grad():
            tensor.copy_(torch.tensor(np.asarray(array), dtype=tensor.dtype))

    for attribute, (layer_name, kind) in model.CNNEXPLORER_LAYERS.items():
        module = getattr(model, attribute)
        get = lambda weight: weights.get(f"{layer_name}/{weight}")  # noqa: E731
        if kind in ("conv", "transpose"):   # (kh, kw, C_in, F) → (F, C_in, kh, kw); (kh, kw, F, C_in) → (C_in, F, ..)
            put(module.weight, np.transpose(get("kernel"), (3, 2, 0, 1)))
        elif kind in ("depthwise", "separable_depthwise"):
            kernel = get("kernel" if kind == "depthwise" else "depthwise_kernel")
            kh, kw, c, m = kernel.shape
            put(module.weight, np.transpose(kernel.reshape(kh, kw, c * m), (2, 0, 1))[:, None])
        elif kind == "separable_pointwise":
            put(module.weight, np.transpose(get("pointwise_kernel"), (3, 2, 0, 1)))
        elif kind == "dense":
            put(module.weight, np.transpose(get("kernel")))
        elif kind == "normalization":
            put(module.mean, get("mean"))
            put(module.variance, get("variance"))
        elif kind in ("layerscale", "gamma"):
            put(module, get("gamma"))
        elif kind == "beta":
            put(module, get("beta"))
        if kind in ("conv", "depthwise", "dense", "transpose", "separable_pointwise") and module.bias is not None:
            put(module.bias, get("bias"))
        if kind == "layernorm":
            for ours, theirs in (("gamma", "weight"), ("beta", "bias")):
                if get(ours) is not None and getattr(module, theirs, None) is not None:
                    put(getattr(module, theirs), get(ours))
        if kind == "batchnorm":
            for ours, theirs in (("gamma", "weight"), ("beta", "bias"), ("moving_mean", "running_mean"),
                                 ("moving_variance", "running_var")):
                if get(ours) is not None and getattr(module, theirs, None) is not None:
                    put(getattr(module, theirs), get(ours))
    return model
'''


def _torch_activation(name: str, rank: int) -> str | None:
    template = _TORCH_ACTIVATIONS[name]
    if template is None:
        return None
    return template.format(x="x", dim=1 if rank in (1, 3) else -1)


class _Torch:
    """What the PyTorch exporter collects: ``__init__`` lines, ``forward`` lines (each layer's entry transforms
    ``x``), the weight registry and the helpers used."""

    def __init__(self):
        self.taken: set[str] = set()
        self.init: list[str] = []
        self.forward: list[str] = []
        self.registry: list[tuple[str, str, str]] = []   # (attribute, our layer name, kind of weights)
        self.helpers: set[str] = set()

    def attribute(self, name: str) -> str:
        return _torch_attribute(name, self.taken)

    def pad(self, info: LayerInfo, attr_name: str) -> tuple[tuple[int, int], str]:
        """Symmetric padding for a Conv2d, or an explicit ZeroPad2d in ``__init__`` and its call."""
        pads = _pads(info)
        if _symmetric(pads):
            return (pads[0][0], pads[1][0]), "{}"
        (top, bottom), (left, right) = pads
        pad_attr = self.attribute(f"{attr_name}_pad")
        self.init.append("# asymmetric padding (Keras 'same' puts the extra row/column at the bottom/right)")
        self.init.append(f"self.{pad_attr} = nn.ZeroPad2d(({left}, {right}, {top}, {bottom}))  "
                         f"# (left, right, top, bottom)")
        return (0, 0), f"self.{pad_attr}({{}})"


TorchExport = Callable[[_Torch, LayerInfo, str, list], None]
#: layer type → fn(context, info, attribute name, input variables) appending to ``context`` the lines that
#: compute the layer: single-input layers transform ``x`` in place; merges read their input variables
TORCH_EXPORT: dict[str, TorchExport] = {}


def _torch(*type_names: str):
    def register(fn: TorchExport) -> TorchExport:
        for t in type_names:
            TORCH_EXPORT[t] = fn
        return fn
    return register


def _torch_rank(info: LayerInfo) -> int:
    return len(info.input_shape)


def _torch_channels(expression: str, rank: int) -> str:
    """A per-channel constant broadcast over channels-first tensors."""
    return f"torch.tensor({expression}).view(1, -1, 1, 1)" if rank == 3 else f"torch.tensor({expression})"


@_torch("Conv2D", "DepthwiseConv2D")
def _torch_conv(ctx, info, attr, xs):
    t, args = info.type_name, info.layer.args
    c_in = info.input_shape[2]
    if t == "Conv2D":
        out_channels, groups = args["filters"], args["groups"]
    else:
        out_channels, groups = c_in * args["depth_multiplier"], c_in
    padding, call = ctx.pad(info, info.name)
    extra = ""
    if args["dilation_rate"] != (1, 1):
        extra += f", dilation={_lit(args['dilation_rate'])}"
    if groups != 1:
        extra += f", groups={groups}"
    if not args["use_bias"]:
        extra += ", bias=False"
    ctx.init.append(f"self.{attr} = nn.Conv2d({c_in}, {out_channels}, kernel_size={_lit(args['kernel_size'])}, "
                    f"stride={_lit(args['strides'])}, padding={_lit(padding)}{extra})")
    ctx.registry.append((attr, info.name, "conv" if t == "Conv2D" else "depthwise"))
    ctx.forward.append(f"x = self.{attr}({call.format('x')})")


@_torch("SeparableConv2D")
def _torch_separable(ctx, info, attr, xs):
    args = info.layer.args
    c_in, m = info.input_shape[2], args["depth_multiplier"]
    padding, call = ctx.pad(info, info.name)
    depthwise, pointwise = ctx.attribute(f"{info.name}_depthwise"), ctx.attribute(f"{info.name}_pointwise")
    dilation = f", dilation={_lit(args['dilation_rate'])}" if args["dilation_rate"] != (1, 1) else ""
    ctx.init.append(f"self.{depthwise} = nn.Conv2d({c_in}, {c_in * m}, kernel_size={_lit(args['kernel_size'])}, "
                    f"stride={_lit(args['strides'])}, padding={_lit(padding)}{dilation}, groups={c_in}, bias=False)")
    bias = "" if args["use_bias"] else ", bias=False"
    ctx.init.append(f"self.{pointwise} = nn.Conv2d({c_in * m}, {args['filters']}, kernel_size=1{bias})")
    ctx.registry.append((depthwise, info.name, "separable_depthwise"))
    ctx.registry.append((pointwise, info.name, "separable_pointwise"))
    ctx.forward.append(f"x = self.{pointwise}(self.{depthwise}({call.format('x')}))")


@_torch("Conv2DTranspose")
def _torch_transpose(ctx, info, attr, xs):
    layer, args = info.layer, info.layer.args
    (bh, ah, oh), (bw, aw, ow) = layer.geometry(info.input_shape)
    dilation = f", dilation={_lit(args['dilation_rate'])}" if args["dilation_rate"] != (1, 1) else ""
    bias = "" if args["use_bias"] else ", bias=False"
    ctx.init.append(f"self.{attr} = nn.ConvTranspose2d({info.input_shape[2]}, {args['filters']}, "
                    f"kernel_size={_lit(args['kernel_size'])}, stride={_lit(args['strides'])}{dilation}{bias})")
    ctx.registry.append((attr, info.name, "transpose"))
    ctx.forward.append(f"x = self.{attr}(x)  # the full transposed convolution; Keras keeps rows {bh}..{bh + oh - 1}, "
                       f"columns {bw}..{bw + ow - 1}")
    if ah < 0 or aw < 0:
        ctx.forward.append(f"x = F.pad(x, (0, {max(0, -aw)}, 0, {max(0, -ah)}))")
    ctx.forward.append(f"x = x[:, :, {bh}:{bh + oh}, {bw}:{bw + ow}]")


@_torch("MaxPooling2D", "AveragePooling2D")
def _torch_pool(ctx, info, attr, xs):
    t, layer, args = info.type_name, info.layer, info.layer.args
    pads = _pads(info)
    kernel, strides, ceil = args["pool_size"], layer.effective_strides, args["ceil_mode"]
    include = args["count_include_pad"] and args["padding"] != "same" if t == "AveragePooling2D" else True
    fits = _symmetric(pads) and all(p[0] <= k // 2 for p, k in zip(pads, kernel))
    if fits:
        padding = (pads[0][0], pads[1][0])
        extra = f", padding={_lit(padding)}" if padding != (0, 0) else ""
        extra += ", ceil_mode=True" if ceil else ""
        if t == "MaxPooling2D":
            ctx.init.append(f"self.{attr} = nn.MaxPool2d({_lit(kernel)}, stride={_lit(strides)}{extra})")
        else:
            if padding != (0, 0) and not include:
                extra += ", count_include_pad=False"
            ctx.init.append(f"self.{attr} = nn.AvgPool2d({_lit(kernel)}, stride={_lit(strides)}{extra})")
        ctx.forward.append(f"x = self.{attr}(x)")
        return
    (top, bottom), (left, right) = _exact_pool_pads(info)
    if t == "MaxPooling2D":
        ctx.forward.append("# asymmetric padding with -inf so that padding never wins the max")
        ctx.forward.append(f"x = F.max_pool2d(F.pad(x, ({left}, {right}, {top}, {bottom}), "
                           f"value=float(\"-inf\")), {_lit(kernel)}, {_lit(strides)})")
    else:
        ctx.helpers.add("padded_avg_pool2d")
        counted = pads if include else ((0, 0), (0, 0))
        ctx.forward.append("# asymmetric padding; the divisor counts "
                           + ("the real inputs and the padding" if include else "only the real inputs"))
        ctx.forward.append(f"x = padded_avg_pool2d(x, {_lit(kernel)}, {_lit(strides)}, "
                           f"{_lit(((top, bottom), (left, right)))}, {_lit(counted)})")


@_torch("GlobalAveragePooling2D", "GlobalMaxPooling2D")
def _torch_global(ctx, info, attr, xs):
    op = "mean" if info.type_name == "GlobalAveragePooling2D" else "amax"
    keep = ", keepdim=True" if info.layer.keepdims else ""
    ctx.forward.append(f"x = x.{op}(dim=(2, 3){keep})")


@_torch("ZeroPadding2D")
def _torch_zero_pad(ctx, info, attr, xs):
    (top, bottom), (left, right) = info.layer.padding
    ctx.forward.append(f"x = F.pad(x, ({left}, {right}, {top}, {bottom}))  # (left, right, top, bottom)")


@_torch("Cropping2D")
def _torch_crop(ctx, info, attr, xs):
    (top, bottom), (left, right) = info.layer.cropping
    h, w, _ = info.input_shape
    ctx.forward.append(f"x = x[:, :, {top}:{h - bottom}, {left}:{w - right}]")


@_torch("Flatten")
def _torch_flatten(ctx, info, attr, xs):
    if _torch_rank(info) == 3:
        ctx.forward.append("x = x.permute(0, 2, 3, 1).flatten(1)  # (H, W, C) order, as Keras and CNN Explorer")
    else:
        ctx.forward.append("x = x.flatten(1)")


@_torch("Reshape")
def _torch_reshape(ctx, info, attr, xs):
    source = "x.permute(0, 2, 3, 1)" if _torch_rank(info) == 3 else "x"
    target = ", ".join(str(d) for d in info.output_shape)
    back = ".permute(0, 3, 1, 2)" if len(info.output_shape) == 3 else ""
    ctx.forward.append(f"x = {source}.reshape(x.shape[0], {target}){back}  # in (H, W, C) order, as Keras")


@_torch("Dense")
def _torch_dense(ctx, info, attr, xs):
    args = info.layer.args
    bias = "" if args["use_bias"] else ", bias=False"
    ctx.init.append(f"self.{attr} = nn.Linear({info.input_shape[-1]}, {args['units']}{bias})")
    ctx.registry.append((attr, info.name, "dense"))
    if _torch_rank(info) == 3:
        ctx.forward.append(f"x = self.{attr}(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  "
                           "# Dense acts on the channel axis")
    else:
        ctx.forward.append(f"x = self.{attr}(x)")


@_torch("Activation")
def _torch_activation_layer(ctx, info, attr, xs):
    pass   # the activation itself is appended by the caller


def _torch_affine(ctx, info, attr, channels_view: str) -> list[str]:
    """γ and β kept apart when only one of them is learned (center or scale False): the normalisation itself is
    not affine, and the learned one is a parameter of its own (so PyTorch counts exactly Keras' parameters)."""
    args = info.layer.args
    if args["center"] == args["scale"]:
        return []
    which = "gamma" if args["scale"] else "beta"
    extra = ctx.attribute(f"{info.name}_{which}")
    value = "ones" if which == "gamma" else "zeros"
    ctx.init.append(f"self.{extra} = nn.Parameter(torch.{value}({info.input_shape[-1]}))  # Keras' {which} alone")
    ctx.registry.append((extra, info.name, which))
    return [f"x = x * self.{extra}{channels_view}" if which == "gamma" else f"x = x + self.{extra}{channels_view}"]


@_torch("BatchNormalization")
def _torch_batchnorm(ctx, info, attr, xs):
    args, rank = info.layer.args, _torch_rank(info)
    affine = args["center"] and args["scale"]
    torch_momentum = round(1.0 - args["momentum"], 12)
    cls = "nn.BatchNorm2d" if rank == 3 else "nn.BatchNorm1d"
    extra = "" if affine else ", affine=False"
    ctx.init.append(f"self.{attr} = {cls}({info.input_shape[-1]}, eps={args['epsilon']!r}, "
                    f"momentum={torch_momentum!r}{extra})  # Keras momentum {args['momentum']!r} = PyTorch "
                    f"momentum {torch_momentum!r}")
    ctx.registry.append((attr, info.name, "batchnorm"))
    ctx.forward.append(f"x = self.{attr}(x.transpose(1, 2)).transpose(1, 2)" if rank == 2 else f"x = self.{attr}(x)")
    ctx.forward.extend(_torch_affine(ctx, info, attr, ".view(1, -1, 1, 1)" if rank == 3 else ""))


@_torch("LayerNormalization")
def _torch_layernorm(ctx, info, attr, xs):
    args, rank = info.layer.args, _torch_rank(info)
    affine = args["center"] and args["scale"]
    ctx.init.append(f"self.{attr} = nn.LayerNorm({info.input_shape[-1]}, eps={args['epsilon']!r}"
                    f"{'' if affine else ', elementwise_affine=False'})  # over the channels, as Keras' axis -1")
    ctx.registry.append((attr, info.name, "layernorm"))
    ctx.forward.append(f"x = self.{attr}(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)" if rank == 3
                       else f"x = self.{attr}(x)")
    ctx.forward.extend(_torch_affine(ctx, info, attr, ".view(1, -1, 1, 1)" if rank == 3 else ""))


@_torch("Dropout", "StochasticDepth")
def _torch_dropout(ctx, info, attr, xs):
    if info.type_name == "Dropout":
        ctx.init.append(f"self.{attr} = nn.Dropout(p={info.layer.rate!r})  # the identity in eval()")
        ctx.forward.append(f"x = self.{attr}(x)")
    else:
        ctx.forward.append("# StochasticDepth: the identity when predicting")


@_torch("LocalResponseNormalization")
def _torch_lrn(ctx, info, attr, xs):
    args = info.layer.args
    ctx.init.append(f"self.{attr} = nn.LocalResponseNorm({args['size']}, alpha={args['alpha']!r}, "
                    f"beta={args['beta']!r}, k={args['k']!r})")
    ctx.forward.append(f"x = self.{attr}(x)")


@_torch("UpSampling2D")
def _torch_upsampling(ctx, info, attr, xs):
    size, mode = info.layer.size, info.layer.interpolation
    extra = ", align_corners=False" if mode == "bilinear" else ""
    ctx.forward.append(f"x = F.interpolate(x, scale_factor={_lit(tuple(float(s) for s in size))}, mode={mode!r}{extra})")


@_torch("Rescaling")
def _torch_rescaling(ctx, info, attr, xs):
    scale, offset, rank = info.layer.scale, info.layer.offset, _torch_rank(info)
    scale_text = _torch_channels(_lit(list(scale)), rank) if isinstance(scale, tuple) else repr(scale)
    offset_text = _torch_channels(_lit(list(offset)), rank) if isinstance(offset, tuple) else repr(offset)
    ctx.forward.append(f"x = x * {scale_text} + {offset_text}")


@_torch("Normalization")
def _torch_normalization(ctx, info, attr, xs):
    layer, rank = info.layer, _torch_rank(info)
    channels = info.input_shape[-1]
    ctx.helpers.add("KerasNormalization")
    if layer.mean is not None:
        mean = list(layer.mean) if isinstance(layer.mean, tuple) else [layer.mean] * channels
        variance = list(layer.variance) if isinstance(layer.variance, tuple) else [layer.variance] * channels
        ctx.init.append(f"self.{attr} = KerasNormalization({channels}, mean={_lit(mean)}, variance={_lit(variance)}, "
                        f"invert={layer.invert!r})")
    else:
        ctx.init.append(f"self.{attr} = KerasNormalization({channels}, invert={layer.invert!r})")
        ctx.registry.append((attr, info.name, "normalization"))
    ctx.forward.append(f"x = self.{attr}(x)")


@_torch("ReLU")
def _torch_relu_layer(ctx, info, attr, xs):
    layer = info.layer
    ctx.helpers.add("keras_relu")
    ctx.forward.append(f"x = keras_relu(x, max_value={layer.max_value!r}, negative_slope={layer.negative_slope!r}, "
                       f"threshold={layer.threshold!r})")


@_torch("LeakyReLU")
def _torch_leaky(ctx, info, attr, xs):
    ctx.forward.append(f"x = F.leaky_relu(x, negative_slope={info.layer.negative_slope!r})")


@_torch("LayerScale")
def _torch_layerscale(ctx, info, attr, xs):
    channels = info.layer.projection_dim
    ctx.init.append(f"self.{attr} = nn.Parameter(torch.full(({channels},), {info.layer.init_values!r}))  "
                    f"# LayerScale's gamma")
    ctx.registry.append((attr, info.name, "layerscale"))
    view = ".view(1, -1, 1, 1)" if _torch_rank(info) == 3 else ""
    ctx.forward.append(f"x = x * self.{attr}{view}")


def _torch_merge(expression: Callable[[list[str]], str]) -> TorchExport:
    def export(ctx, info, attr, xs):
        ctx.forward.append(f"x = {expression(xs)}")
    return export


def _nested(fn: str, xs: list[str]) -> str:
    out = xs[0]
    for x in xs[1:]:
        out = f"{fn}({out}, {x})"
    return out


TORCH_EXPORT.update({
    "Add": _torch_merge(lambda xs: " + ".join(xs)),
    "Subtract": _torch_merge(lambda xs: f"{xs[0]} - {xs[1]}"),
    "Multiply": _torch_merge(lambda xs: " * ".join(xs)),
    "Average": _torch_merge(lambda xs: f"({' + '.join(xs)}) / {len(xs)}"),
    "Maximum": _torch_merge(lambda xs: _nested("torch.maximum", xs)),
    "Minimum": _torch_merge(lambda xs: _nested("torch.minimum", xs)),
})


@_torch("CustomScaleLayer")
def _torch_custom_scale(ctx, info, attr, xs):
    ctx.forward.append(f"x = {xs[0]} + {xs[1]} * {info.layer.scale!r}")


@_torch("Concatenate")
def _torch_concatenate(ctx, info, attr, xs):
    rank = len(info.input_shape)
    axis = info.layer.resolved_axis(rank)
    dim = {0: 2, 1: 3, 2: 1}[axis] if rank == 3 else axis + 1   # channels-first inside
    ctx.forward.append(f"x = torch.cat([{', '.join(xs)}], dim={dim})")


_TORCH_HELPERS = {
    "padded_avg_pool2d": _TORCH_AVG_POOL_HELPER,
    "keras_relu": '''
def keras_relu(x, max_value=None, negative_slope=0.0, threshold=0.0):
    """Keras' ReLU layer: x above the threshold (capped at max_value), negative_slope * (x - threshold) below."""
    y = torch.where(x > threshold, x, negative_slope * (x - threshold))
    return y if max_value is None else torch.clamp(y, max=max_value)
''',
    "KerasNormalization": '''
class KerasNormalization(nn.Module):
    """Keras' Normalization over the channels: (x - mean) / max(sqrt(variance), 1e-7) (invert: the reverse)."""

    def __init__(self, channels, mean=None, variance=None, invert=False):
        super().__init__()
        self.fixed = None if mean is None else (mean, variance)   # given mean and variance are constants
        if mean is None:   # else weights, like Keras' mean, variance and count
            self.register_buffer("mean", torch.zeros(channels))
            self.register_buffer("variance", torch.ones(channels))
            self.register_buffer("count", torch.zeros(()))
        self.invert = invert

    def forward(self, x):
        shape = (1, -1, 1, 1) if x.dim() == 4 else (1, -1)
        if self.fixed is None:
            mean, variance = self.mean, self.variance
        else:
            mean, variance = (torch.tensor(v, dtype=x.dtype, device=x.device) for v in self.fixed)
        mean, std = mean.view(shape), torch.clamp(variance.sqrt(), min=1e-7).view(shape)
        return mean + x * std if self.invert else (x - mean) / std
''',
}


def to_pytorch_code(arch: Architecture) -> str:
    """A Python file (PyTorch) with an ``nn.Module`` whose forward pass equals CNN Explorer's.

    The module is channels-first inside: a (H, W, C) input is given as (N, C, H, W), and so is any
    (H, W, C) output; flat outputs are (N, units).  In a graph, each layer's output that a later layer (other
    than the next one) reads is kept in a variable named after the layer; the model's main output (its last
    layer) is returned.  Raises :class:`ArchitectureError` if a layer cannot be computed.
    """
    infos = _require_valid(arch)
    ctx = _Torch()
    consumers = arch.consumers()
    index = {info.name: info.index for info in infos}
    variables: dict[str, str] = {}
    used_vars = {"x", "self", "torch", "nn", "F", "inputs"}

    def keep(name: str, position: int) -> bool:
        """Whether an output must outlive the next layer (a layer other than the next one reads it)."""
        return any(index[c] != position + 1 for c in consumers[name])

    current = "input"
    if keep("input", -1):
        ctx.forward.append("inputs = x")
        variables["input"] = "inputs"
    for info in infos:
        layer, t = info.layer, info.type_name
        shape_out = info.output_shape
        ctx.forward.append(f"# {_doc_text(layer.name)}: {t} → {_lit(tuple(shape_out))} (H, W, C)"
                           if len(shape_out) == 3 else f"# {_doc_text(layer.name)}: {t} → {_lit(tuple(shape_out))}")
        sources = ["x" if n == current else variables[n] for n in info.inputs]
        if len(sources) == 1 and sources[0] != "x":
            ctx.forward.append(f"x = {sources[0]}")
        attr = ctx.attribute(layer.name)
        try:
            export = TORCH_EXPORT[t]
        except KeyError:  # pragma: no cover - a test checks that every layer type has an entry
            raise ArchitectureError(f"PyTorch export does not know the layer type {t}") from None
        export(ctx, info, attr, sources)
        activation = layer.args.get("activation")
        if activation is not None:
            expression = _torch_activation(activation, len(shape_out))
            if expression is not None:
                ctx.forward.append(f"x = {expression}")
        current = layer.name
        if keep(layer.name, info.index):
            var = python_identifier(layer.name, used_vars)
            ctx.forward.append(f"{var} = x")
            variables[layer.name] = var

    class_name = class_name_for(arch.name)
    in_shape = tuple(arch.input_shape)
    if len(in_shape) == 3:
        torch_in = f"(N, {in_shape[2]}, {in_shape[0]}, {in_shape[1]})"
    else:
        torch_in = "(N, " + ", ".join(str(d) for d in in_shape) + ")"
    out_shape = tuple(infos[-1].output_shape) if infos else in_shape
    if len(out_shape) == 3:
        torch_out = f"(N, {out_shape[2]}, {out_shape[0]}, {out_shape[1]})"
    else:
        torch_out = "(N, " + ", ".join(str(d) for d in out_shape) + ")"
    doc = _header(arch, infos, "PyTorch")
    doc += [
        "",
        "The forward pass is equivalent to CNN Explorer's (Keras semantics, channels-last), computed",
        "channels-first: an input of shape (H, W, C) is given as (N, C, H, W).",
        "* Keras 'same' padding that is not symmetric (stride > 1, even kernels) is an explicit pad before the layer,",
        "  with the extra row/column at the bottom/right; max pooling pads with -inf so padding never wins.",
        "* Flatten permutes to (N, H, W, C) first and so unrolls in (height, width, channels) order, as Keras and",
        "  CNN Explorer do: the following Dense weights correspond without reordering.",
        "* Dense on feature maps acts on the channel axis (Keras semantics).",
        "* BatchNormalization keeps Keras' epsilon; Keras momentum m is PyTorch momentum 1 - m.",
        "",
        "Weights saved by CNN Explorer (.npz, Keras layout) load with load_cnnexplorer_weights(model, path).",
        "Call model.eval() before predicting (dropout off, batch normalisation uses the moving statistics).",
    ]
    out = ['"""' + "\n".join(doc) + '\n"""', "", "import torch", "from torch import nn",
           "from torch.nn import functional as F", ""]
    for name in _TORCH_HELPERS:
        if name in ctx.helpers:
            out.append(_TORCH_HELPERS[name].rstrip("\n"))
            out.append("")
    out += ["", f"class {class_name}(nn.Module):",
            f'    """{_doc_text(arch.name)}: input {torch_in}, output {torch_out}."""', "",
            "    # attribute → (CNN Explorer layer name, kind of weights), used by load_cnnexplorer_weights",
            "    CNNEXPLORER_LAYERS = {"]
    out += [f"        {attr!r}: ({name!r}, {kind!r})," for attr, name, kind in ctx.registry]
    out += ["    }", "", "    def __init__(self):", "        super().__init__()"]
    out += [f"        {line}" for line in ctx.init] or ["        pass"]
    out += ["", "    def forward(self, x):", f'        """x: {torch_in} float32 → {torch_out}."""']
    out += [f"        {line}" for line in ctx.forward]
    out += ["        return x", ""]
    out.append(_TORCH_WEIGHTS_LOADER.rstrip("\n"))
    out += ["", "", 'if __name__ == "__main__":', f"    model = {class_name}().eval()",
            "    print(model)",
            "    print(sum(p.numel() for p in model.parameters()), \"parameters\")", ""]
    return "\n".join(out)


def export_code(arch: Architecture, target: str) -> str:
    """``target`` is ``"keras"`` or ``"pytorch"``."""
    if target == "keras":
        return to_keras_code(arch)
    if target == "pytorch":
        return to_pytorch_code(arch)
    raise ValueError(f"unknown export target {target!r}; expected one of {', '.join(EXPORT_TARGETS)}")
