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
from typing import Any

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
    """``"LeNet-5"`` → ``LeNet5``; ``"my model"`` → ``MyModel``."""
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", name) if p]
    ident = "".join(p[0].upper() + p[1:] for p in parts) or "Model"
    if ident[0].isdigit():
        ident = "Model" + ident
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

_KERAS_WEIGHTS_LOADER = '''
def load_cnnexplorer_weights(model, npz_path):
    """Load weights saved by CNN Explorer (.npz, one array per weight keyed "<layer>/<weight>", Keras layout)."""
    import numpy as np

    order = ("kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance")
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


def _keras_layer_lines(info: LayerInfo, name: str, helpers: set[str], taken: set[str]) -> list[str]:
    """One or more Keras layer expressions for one of our layers, named ``name`` in Keras (``taken``: the Keras
    names in use)."""
    layer, t = info.layer, info.type_name
    args = layer.args
    if t in ("Conv2D", "DepthwiseConv2D"):
        lines = []
        padding = args["padding"]
        if not isinstance(padding, str):
            lines.append(_keras_call("ZeroPadding2D", [("padding", padding)], _keras_pad_name(name, taken)))
            padding = "valid"
        if t == "Conv2D":
            kwargs = [("filters", args["filters"]), ("kernel_size", args["kernel_size"])]
        else:
            kwargs = [("kernel_size", args["kernel_size"])]
            if args["depth_multiplier"] != 1:
                kwargs.append(("depth_multiplier", args["depth_multiplier"]))
        kwargs += [("strides", args["strides"]), ("padding", padding)]
        if args["dilation_rate"] != (1, 1):
            kwargs.append(("dilation_rate", args["dilation_rate"]))
        if t == "Conv2D" and args["groups"] != 1:
            kwargs.append(("groups", args["groups"]))
        kwargs.append(("activation", args["activation"]))
        if not args["use_bias"]:
            kwargs.append(("use_bias", False))
        lines.append(_keras_call(t, kwargs, name))
        return lines
    if t in ("MaxPooling2D", "AveragePooling2D"):
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
    if t in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
        return [_keras_call(t, [("keepdims", True)] if args["keepdims"] else [], name)]
    if t == "ZeroPadding2D":
        return [_keras_call(t, [("padding", args["padding"])], name)]
    if t == "Flatten":
        return [_keras_call(t, [], name)]
    if t == "Dense":
        kwargs = [("units", args["units"]), ("activation", args["activation"])]
        if not args["use_bias"]:
            kwargs.append(("use_bias", False))
        return [_keras_call(t, kwargs, name)]
    if t == "Activation":
        return [_keras_call(t, [("activation", args["activation"])], name)]
    if t == "BatchNormalization":
        kwargs = [("epsilon", args["epsilon"]), ("momentum", args["momentum"])]
        kwargs += [(k, False) for k in ("center", "scale") if not args[k]]
        return [_keras_call(t, kwargs, name)]
    if t == "Dropout":
        return [_keras_call(t, [("rate", args["rate"])], name)]
    if t == "LocalResponseNormalization":
        helpers.add("LocalResponseNormalization")
        return [_keras_call(t, [(k, args[k]) for k in ("size", "alpha", "beta", "k")], name, prefix="")]
    raise ArchitectureError(f"Keras export does not know the layer type {t}")  # pragma: no cover


def to_keras_code(arch: Architecture) -> str:
    """A Python file (Keras 3) that rebuilds ``arch`` as a ``keras.Sequential`` with the same layer names (a "."
    in a name becomes "_": Keras' PyTorch backend refuses it; the weight loader maps the names back).

    Raises :class:`ArchitectureError` if a layer cannot be computed.
    """
    infos = _require_valid(arch)
    helpers: set[str] = set()
    layer_lines: list[str] = []
    names = _keras_names(infos)
    taken = set(names.values())
    for info in infos:
        layer_lines.extend(_keras_layer_lines(info, names[info.name], helpers, taken))
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
    for name in ("PaddedMaxPooling2D", "PaddedAveragePooling2D", "LocalResponseNormalization"):
        if name in helpers:
            out.append(_KERAS_HELPERS[name].rstrip("\n"))
            out.append("")
    out += ["", "def build_model():", f'    """{_doc_text(arch.name)} as a keras.Sequential model."""',
            "    return keras.Sequential(", "        [",
            f"            keras.Input(shape={_lit(tuple(arch.input_shape))}),"]
    out += [f"            {line}," for line in layer_lines]
    out += ["        ],", f"        name={model_name!r},", "    )", "", ""]
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
        if kind == "conv":
            put(module.weight, np.transpose(get("kernel"), (3, 2, 0, 1)))
        elif kind == "depthwise":
            kernel = get("kernel")
            kh, kw, c, m = kernel.shape
            put(module.weight, np.transpose(kernel.reshape(kh, kw, c * m), (2, 0, 1))[:, None])
        elif kind == "dense":
            put(module.weight, np.transpose(get("kernel")))
        if kind in ("conv", "depthwise", "dense") and module.bias is not None:
            put(module.bias, get("bias"))
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


def to_pytorch_code(arch: Architecture) -> str:
    """A Python file (PyTorch) with an ``nn.Module`` whose forward pass equals CNN Explorer's.

    The module is channels-first inside: a (H, W, C) input is given as (N, C, H, W), and so is any
    (H, W, C) output; flat outputs are (N, units).  Raises :class:`ArchitectureError` if a layer cannot be
    computed.
    """
    infos = _require_valid(arch)
    taken: set[str] = set()
    init: list[str] = []
    forward: list[str] = []
    registry: list[tuple[str, str, str]] = []  # (attribute, our layer name, kind)
    helpers: set[str] = set()

    for info in infos:
        layer, t, args = info.layer, info.type_name, info.layer.args
        shape_in, shape_out = info.input_shape, info.output_shape
        rank = len(shape_in)
        forward.append(f"# {_doc_text(layer.name)}: {t} → {_lit(tuple(shape_out))} (H, W, C)" if len(shape_out) == 3
                       else f"# {_doc_text(layer.name)}: {t} → {_lit(tuple(shape_out))}")
        attr = _torch_attribute(layer.name, taken)
        activation = args.get("activation") if t in ("Conv2D", "DepthwiseConv2D", "Dense") else None
        if t in ("Conv2D", "DepthwiseConv2D"):
            pads = _pads(info)
            c_in = shape_in[2]
            if t == "Conv2D":
                out_channels, groups = args["filters"], args["groups"]
            else:
                out_channels, groups = c_in * args["depth_multiplier"], c_in
            if _symmetric(pads):
                padding = (pads[0][0], pads[1][0])
                call = f"self.{attr}(x)"
            else:
                (top, bottom), (left, right) = pads
                pad_attr = _torch_attribute(f"{layer.name}_pad", taken)
                init.append("# asymmetric padding (Keras 'same' puts the extra row/column at the bottom/right)")
                init.append(f"self.{pad_attr} = nn.ZeroPad2d(({left}, {right}, {top}, {bottom}))  "
                            f"# (left, right, top, bottom)")
                padding = (0, 0)
                call = f"self.{attr}(self.{pad_attr}(x))"
            extra = ""
            if args["dilation_rate"] != (1, 1):
                extra += f", dilation={_lit(args['dilation_rate'])}"
            if groups != 1:
                extra += f", groups={groups}"
            if not args["use_bias"]:
                extra += ", bias=False"
            init.append(f"self.{attr} = nn.Conv2d({c_in}, {out_channels}, kernel_size={_lit(args['kernel_size'])}, "
                        f"stride={_lit(args['strides'])}, padding={_lit(padding)}{extra})")
            registry.append((attr, layer.name, "conv" if t == "Conv2D" else "depthwise"))
            forward.append(f"x = {call}")
        elif t in ("MaxPooling2D", "AveragePooling2D"):
            pads = _pads(info)
            kernel, strides, ceil = args["pool_size"], layer.effective_strides, args["ceil_mode"]
            include = args["count_include_pad"] and args["padding"] != "same" if t == "AveragePooling2D" else True
            fits = _symmetric(pads) and all(p[0] <= k // 2 for p, k in zip(pads, kernel))
            if fits:
                padding = (pads[0][0], pads[1][0])
                extra = f", padding={_lit(padding)}" if padding != (0, 0) else ""
                extra += ", ceil_mode=True" if ceil else ""
                if t == "MaxPooling2D":
                    init.append(f"self.{attr} = nn.MaxPool2d({_lit(kernel)}, stride={_lit(strides)}{extra})")
                else:
                    if padding != (0, 0) and not include:
                        extra += ", count_include_pad=False"
                    init.append(f"self.{attr} = nn.AvgPool2d({_lit(kernel)}, stride={_lit(strides)}{extra})")
                forward.append(f"x = self.{attr}(x)")
            else:
                (top, bottom), (left, right) = _exact_pool_pads(info)
                if t == "MaxPooling2D":
                    forward.append("# asymmetric padding with -inf so that padding never wins the max")
                    forward.append(f"x = F.max_pool2d(F.pad(x, ({left}, {right}, {top}, {bottom}), "
                                   f"value=float(\"-inf\")), {_lit(kernel)}, {_lit(strides)})")
                else:
                    helpers.add("padded_avg_pool2d")
                    counted = pads if include else ((0, 0), (0, 0))
                    forward.append("# asymmetric padding; the divisor counts "
                                   + ("the real inputs and the padding" if include else "only the real inputs"))
                    forward.append(f"x = padded_avg_pool2d(x, {_lit(kernel)}, {_lit(strides)}, "
                                   f"{_lit(((top, bottom), (left, right)))}, {_lit(counted)})")
        elif t in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
            op = "mean" if t == "GlobalAveragePooling2D" else "amax"
            keep = ", keepdim=True" if args["keepdims"] else ""
            forward.append(f"x = x.{op}(dim=(2, 3){keep})")
        elif t == "ZeroPadding2D":
            (top, bottom), (left, right) = args["padding"]
            forward.append(f"x = F.pad(x, ({left}, {right}, {top}, {bottom}))  # (left, right, top, bottom)")
        elif t == "Flatten":
            if rank == 3:
                forward.append("x = x.permute(0, 2, 3, 1).flatten(1)  # (H, W, C) order, as Keras and CNN Explorer")
            else:
                forward.append("x = x.flatten(1)")
        elif t == "Dense":
            n_in = shape_in[-1]
            bias = "" if args["use_bias"] else ", bias=False"
            init.append(f"self.{attr} = nn.Linear({n_in}, {args['units']}{bias})")
            registry.append((attr, layer.name, "dense"))
            if rank == 3:
                forward.append(f"x = self.{attr}(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  "
                               "# Dense acts on the channel axis")
            else:
                forward.append(f"x = self.{attr}(x)")
        elif t == "Activation":
            activation = args["activation"]
        elif t == "BatchNormalization":
            channels = shape_in[-1]
            affine = args["center"] or args["scale"]
            torch_momentum = round(1.0 - args["momentum"], 12)
            cls = "nn.BatchNorm2d" if rank == 3 else "nn.BatchNorm1d"
            extra = "" if affine else ", affine=False"
            init.append(f"self.{attr} = {cls}({channels}, eps={args['epsilon']!r}, momentum={torch_momentum!r}{extra})"
                        f"  # Keras momentum {args['momentum']!r} = PyTorch momentum {torch_momentum!r}")
            if affine and not args["scale"]:
                init.append(f"nn.init.ones_(self.{attr}.weight); self.{attr}.weight.requires_grad_(False)  "
                            "# scale=False")
            if affine and not args["center"]:
                init.append(f"nn.init.zeros_(self.{attr}.bias); self.{attr}.bias.requires_grad_(False)  "
                            "# center=False")
            registry.append((attr, layer.name, "batchnorm"))
            if rank == 2:
                forward.append(f"x = self.{attr}(x.transpose(1, 2)).transpose(1, 2)")
            else:
                forward.append(f"x = self.{attr}(x)")
        elif t == "Dropout":
            init.append(f"self.{attr} = nn.Dropout(p={args['rate']!r})  # the identity in eval()")
            forward.append(f"x = self.{attr}(x)")
        elif t == "LocalResponseNormalization":
            init.append(f"self.{attr} = nn.LocalResponseNorm({args['size']}, alpha={args['alpha']!r}, "
                        f"beta={args['beta']!r}, k={args['k']!r})")
            forward.append(f"x = self.{attr}(x)")
        else:  # pragma: no cover - every layer type is handled
            raise ArchitectureError(f"PyTorch export does not know the layer type {t}")
        if activation is not None:
            expression = _torch_activation(activation, len(shape_out))
            if expression is not None:
                forward.append(f"x = {expression}")

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
    if helpers:
        out.append(_TORCH_AVG_POOL_HELPER.rstrip("\n"))
        out.append("")
    out += ["", f"class {class_name}(nn.Module):",
            f'    """{_doc_text(arch.name)}: input {torch_in}, output {torch_out}."""', "",
            "    # attribute → (CNN Explorer layer name, kind of weights), used by load_cnnexplorer_weights",
            "    CNNEXPLORER_LAYERS = {"]
    out += [f"        {attr!r}: ({name!r}, {kind!r})," for attr, name, kind in registry]
    out += ["    }", "", "    def __init__(self):", "        super().__init__()"]
    out += [f"        {line}" for line in init] or ["        pass"]
    out += ["", "    def forward(self, x):", f'        """x: {torch_in} float32 → {torch_out}."""']
    out += [f"        {line}" for line in forward]
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
