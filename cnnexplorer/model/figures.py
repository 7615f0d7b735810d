"""The course's formulas with one layer's numbers filled in: one entry per layer type in :data:`FIGURE_LINES`.

Each entry takes a computed :class:`~cnnexplorer.model.architecture.LayerInfo` (status ``"ok"``) and returns the
lines the inspector shows under the generic figures (shapes, totals, MACs, memory, receptive field): how the
parameters add up (layers without weights need no such line: the totals say 0), and what the layer does to its
input's sizes or values.  Every result quoted (the ``= …`` at
the end of a line) is the figure the model computed (``info.params``, ``info.output_shape``), never recomputed
here, so the text cannot disagree with the summary.  Pure Python: no NumPy, no Qt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from .summary import format_count, format_shape

if TYPE_CHECKING:
    from .architecture import LayerInfo

FigureLines = Callable[["LayerInfo"], list[str]]

_AXIS_WORDS = ("height", "width", "channels")


def _product(*factors) -> str:
    return "·".join(str(f) for f in factors)


def _g(value) -> str:
    """A float argument as typed (``0.5``, ``1e-06``); a per-channel list shortened."""
    if isinstance(value, tuple):
        shown = ", ".join(f"{v:g}" for v in value[:4])
        return f"[{shown}{', …' if len(value) > 4 else ''}]"
    return f"{value:g}"


def _weights(info: "LayerInfo") -> list[str]:
    """``params = kernel 3·3·8·16 + bias 16 = 1,168`` (any layer's weights, as declared by the layer)."""
    if not info.weight_shapes:
        return []
    parts = [f"{name} {_product(*shape) if shape else 1}" for name, (shape, _) in info.weight_shapes.items()]
    return [f"params = {' + '.join(parts)} = {format_count(info.params)}"]


def _conv2d(info):
    layer, c_in, result = info.layer, info.input_shape[-1], format_count(info.params)
    kh, kw = layer.kernel_size
    if layer.groups == 1:
        symbols, c = "kh·kw·C_in", str(c_in)
    else:
        symbols, c = "kh·kw·C_in/groups", f"{c_in}/{layer.groups}"
    if layer.use_bias:
        params = [f"params = ({symbols} + 1)·filters", f"  = ({_product(kh, kw, c)} + 1)·{layer.filters} = {result}"]
    else:
        params = [f"params = {symbols}·filters", f"  = {_product(kh, kw, c, layer.filters)} = {result}"]
    h, w, _ = info.output_shape
    channels = c_in // layer.groups
    return params + [f"MACs = H_out·W_out·{symbols}·filters = {_product(h, w, kh, kw, channels, layer.filters)} "
                     f"= {format_count(info.macs)}"]


def _depthwise(info):
    layer, c_in, result = info.layer, info.input_shape[-1], format_count(info.params)
    kh, kw = layer.kernel_size
    m = layer.depth_multiplier
    if layer.use_bias:
        lines = ["params = (kh·kw + 1)·C_in·M", f"  = ({_product(kh, kw)} + 1)·{_product(c_in, m)} = {result}"]
    else:
        lines = ["params = kh·kw·C_in·M", f"  = {_product(kh, kw, c_in, m)} = {result}"]
    h, w, c_out = info.output_shape
    return lines + [f"MACs = H_out·W_out·kh·kw·C_in·M = {_product(h, w, kh, kw, c_out)} = {format_count(info.macs)}",
                    f"one {kh}×{kw} kernel per input channel (×{m}): channels do not mix"]


def _separable(info):
    layer, c_in, result = info.layer, info.input_shape[-1], format_count(info.params)
    kh, kw = layer.kernel_size
    m, f = layer.depth_multiplier, layer.filters
    bias = (" + filters", f" + {f}") if layer.use_bias else ("", "")
    h, w, _ = info.output_shape
    return [f"params = kh·kw·C_in·M + C_in·M·filters{bias[0]}",
            f"  = {_product(kh, kw, c_in, m)} + {_product(c_in, m, f)}{bias[1]} = {result}",
            f"MACs = H_out·W_out·(kh·kw·C_in·M + C_in·M·filters) = {_product(h, w)}·"
            f"({_product(kh, kw, c_in, m)} + {_product(c_in, m, f)}) = {format_count(info.macs)}",
            f"depthwise {kh}×{kw} on each of {c_in} channels (×{m}), then a 1×1 convolution to {f} channels"]


def _transpose(info):
    layer, c_in, result = info.layer, info.input_shape[-1], format_count(info.params)
    kh, kw = layer.kernel_size
    f = layer.filters
    if layer.use_bias:
        lines = ["params = kh·kw·filters·C_in + filters", f"  = {_product(kh, kw, f, c_in)} + {f} = {result}"]
    else:
        lines = ["params = kh·kw·filters·C_in", f"  = {_product(kh, kw, f, c_in)} = {result}"]
    lines.append(f"MACs = H_in·W_in·kh·kw·C_in·filters = "
                 f"{_product(info.input_shape[0], info.input_shape[1], kh, kw, c_in, f)} = {format_count(info.macs)}")
    lines.append("output size per axis (k_eff = d·(k − 1) + 1):")
    for i, axis in enumerate(("height", "width")):
        n, k, s, d = info.input_shape[i], layer.kernel_size[i], layer.strides[i], layer.dilation_rate[i]
        k_eff = d * (k - 1) + 1
        out = info.output_shape[i]
        if layer.output_padding is not None:
            p = layer.output_padding[i]
            if layer.padding == "valid":
                lines.append(f"{axis}: (n − 1)·s + k_eff + output_padding = ({n} − 1)·{s} + {k_eff} + {p} = {out}")
            else:
                lines.append(f"{axis}: (n − 1)·s + k_eff mod 2 + output_padding = ({n} − 1)·{s} + {k_eff % 2} + {p}"
                             f" = {out}")
        elif layer.padding == "valid":
            lines.append(f"{axis}: (n − 1)·s + max(k_eff, s) = ({n} − 1)·{s} + max({k_eff}, {s}) = {out}")
        else:
            lines.append(f"{axis}: n·s = {n}·{s} = {out}")
    return lines


def _dense(info):
    layer, n_in, result = info.layer, info.input_shape[-1], format_count(info.params)
    if layer.use_bias:
        lines = ["params = (n_in + 1)·units", f"  = ({n_in} + 1)·{layer.units} = {result}"]
    else:
        lines = ["params = n_in·units", f"  = {_product(n_in, layer.units)} = {result}"]
    if len(info.input_shape) > 1:
        lines.append(f"applied at each of the {_product(*info.input_shape[:-1])} positions (Keras Dense on a map)")
    return lines


def _batch_norm(info):
    names = {"gamma": "γ", "beta": "β", "moving_mean": "mean", "moving_variance": "variance"}
    vectors = [names.get(n, n) for n in info.weight_shapes]
    c = info.input_shape[-1]
    return [f"params = {len(vectors)}·C = {len(vectors)}·{c} = {format_count(info.params)} ({', '.join(vectors)})",
            f"y = γ·(x − mean) / √(variance + {_g(info.layer.epsilon)}) + β, per channel"]


def _pool(word: str) -> FigureLines:
    def lines(info):
        kh, kw = info.layer.pool_size
        return [f"each output value is the {word} of a {kh}×{kw} window, per channel ({info.input_shape[-1]})"]
    return lines


def _global_pool(word: str) -> FigureLines:
    def lines(info):
        h, w, c = info.input_shape
        return [f"one value per channel: the {word} of H·W = {_product(h, w)} = {format_count(h * w)} positions, "
                f"for each of {c} channels → {format_shape(info.output_shape)}"]
    return lines


def _sides(info, sides, sign: str) -> list[str]:
    """Padding (``sign`` "+") or cropping ("−") per axis: ``height: 26 + 1 + 1 = 28``."""
    word = "padding" if sign == "+" else "cropping"
    lines = [f"{word} top, bottom, left, right = {_product(*sides[0], *sides[1]).replace('·', ', ')}"]
    for i, axis in enumerate(("height", "width")):
        before, after = sides[i]
        lines.append(f"{axis}: {info.input_shape[i]} {sign} {before} {sign} {after} = {info.output_shape[i]}")
    return lines


def _zero_padding(info):
    return _sides(info, info.layer.padding, "+")


def _cropping(info):
    return _sides(info, info.layer.cropping, "−")


def _flatten(info):
    return [f"values = {_product(*info.input_shape)} = {format_count(info.output_shape[0])} (height, width, channels "
            f"order)"]


def _reshape(info):
    target = info.layer.target_shape
    count = 1
    for d in info.output_shape:
        count *= d
    values = f"{_product(*info.input_shape)} = " if len(info.input_shape) > 1 else ""
    lines = [f"values = {values}{format_count(count)}"]
    if -1 in target:
        known = [d for d in target if d != -1]
        inferred = info.output_shape[target.index(-1)]
        lines.append(f"-1 = {format_count(count)} / {_product(*known) if known else 1} = {inferred}")
    lines.append(f"{format_shape(info.input_shape)} → {format_shape(info.output_shape)}, same values in the same order")
    return lines


def _upsampling(info):
    layer = info.layer
    lines = []
    for i, axis in enumerate(("height", "width")):
        lines.append(f"{axis}: {info.input_shape[i]}·{layer.size[i]} = {info.output_shape[i]}")
    how = "repeats each row and column" if layer.interpolation == "nearest" else "interpolates linearly"
    lines.append(f"{layer.interpolation}: {how}")
    return lines


def _count_values(info) -> str:
    count = 1
    for d in info.output_shape:
        count *= d
    return format_count(count)


def _activation(info):
    return [f"{info.layer.activation} applied to each of the {_count_values(info)} values"]


def _relu(info):
    layer = info.layer
    top = f"min(x, {_g(layer.max_value)})" if layer.max_value is not None else "x"
    below = f"{_g(layer.negative_slope)}·(x − {_g(layer.threshold)})" if layer.negative_slope else "0"
    return [f"y = {top} for x ≥ {_g(layer.threshold)}, {below} below"]


def _leaky_relu(info):
    return [f"y = x for x ≥ 0, {_g(info.layer.negative_slope)}·x below"]


def _dropout(info):
    rate = info.layer.rate
    return [f"training: each value dropped with probability {_g(rate)}, the others scaled by 1/(1 − {_g(rate)}) = "
            f"{1 / (1 - rate):.4g}; predicting: the identity"]


def _stochastic_depth(info):
    return [f"training: the whole branch dropped with probability {_g(info.layer.drop_path_rate)}; "
            f"predicting: the identity"]


def _lrn(info):
    layer = info.layer
    return [f"b_c = a_c / ({_g(layer.k)} + {_g(layer.alpha)}/{layer.size} · Σ a²)^{_g(layer.beta)} over {layer.size} "
            f"neighbouring channels"]


def _rescaling(info):
    layer = info.layer
    return [f"y = x·{_g(layer.scale)} + {_g(layer.offset)}"]


def _normalization(info):
    layer = info.layer
    c = info.input_shape[-1]
    if layer.mean is not None:
        lines = ["mean and variance are arguments (no weights)"]
        stats = f"mean {_g(layer.mean)}, variance {_g(layer.variance)}"
    else:
        lines = [f"params = mean C + variance C + count 1 = {c} + {c} + 1 = {format_count(info.params)} "
                 f"(non-trainable)"]
        stats = "mean and variance from the weights"
    how = "y = x·√variance + mean" if layer.invert else "y = (x − mean) / max(√variance, 1e-7)"
    return lines + [f"{how}, per channel ({c}); {stats}"]


def _layer_norm(info):
    layer = info.layer
    c = info.input_shape[-1]
    vectors = [v for v, on in (("γ", layer.scale), ("β", layer.center)) if on]
    lines = [f"params = {len(vectors)}·C = {len(vectors)}·{c} = {format_count(info.params)}"
             + (f" ({', '.join(vectors)})" if vectors else "")]
    positions = info.input_shape[:-1]
    where = f"at each of the {_product(*positions)} positions" if positions else "once"
    return lines + [f"normalised over the {c} channels {where}; ε = {_g(layer.epsilon)}"]


def _layer_scale(info):
    layer = info.layer
    return [f"params = C = {format_count(info.params)} (γ)",
            f"y = γ·x per channel, γ starts at {_g(layer.init_values)}"]


def _names(info) -> list[str]:
    return list(info.inputs) or [f"input {k}" for k in range(len(info.input_shapes))]


def _merge(symbol: str | None, template: str | None = None) -> FigureLines:
    """An element-wise merge: ``output = a + b`` and the shapes combined with broadcasting."""
    def lines(info):
        names = _names(info)
        if template is not None:
            formula = template.format(", ".join(names), n=len(names))
        else:
            formula = f" {symbol} ".join(names)
        shapes = (f" {symbol} " if symbol else ", ").join(format_shape(s) for s in info.input_shapes)
        broadcast = any(s != info.output_shape for s in info.input_shapes)
        return [f"output = {formula}, element-wise",
                f"{shapes} → {format_shape(info.output_shape)}" + (" (size-1 axes broadcast)" if broadcast else "")]
    return lines


def _average(info):
    names = _names(info)
    lines = _merge("+")(info)
    lines[0] = f"output = ({' + '.join(names)}) / {len(names)}, element-wise"
    return lines


def _custom_scale(info):
    names = _names(info)
    lines = _merge("+")(info)
    lines[0] = f"output = {names[0]} + {_g(info.layer.scale)}·{names[1]}, element-wise"
    return lines


def _concatenate(info):
    shapes = info.input_shapes
    axis = info.layer.resolved_axis(len(shapes[0]))
    word = _AXIS_WORDS[axis] if len(shapes[0]) == 3 else f"axis {axis + 1}"
    parts = " + ".join(str(s[axis]) for s in shapes)
    return [f"{word}: {parts} = {info.output_shape[axis]}",
            f"joins {', '.join(_names(info))} in this order; every other size equal"]


#: One entry per layer type (a test checks that none is missing): the inspector's "formulas filled in".
FIGURE_LINES: dict[str, FigureLines] = {
    "Conv2D": _conv2d,
    "DepthwiseConv2D": _depthwise,
    "SeparableConv2D": _separable,
    "Conv2DTranspose": _transpose,
    "MaxPooling2D": _pool("maximum"),
    "AveragePooling2D": _pool("average"),
    "GlobalAveragePooling2D": _global_pool("average"),
    "GlobalMaxPooling2D": _global_pool("maximum"),
    "ZeroPadding2D": _zero_padding,
    "Cropping2D": _cropping,
    "UpSampling2D": _upsampling,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Dense": _dense,
    "Activation": _activation,
    "ReLU": _relu,
    "LeakyReLU": _leaky_relu,
    "BatchNormalization": _batch_norm,
    "LayerNormalization": _layer_norm,
    "LayerScale": _layer_scale,
    "LocalResponseNormalization": _lrn,
    "Dropout": _dropout,
    "StochasticDepth": _stochastic_depth,
    "Rescaling": _rescaling,
    "Normalization": _normalization,
    "Add": _merge("+"),
    "Subtract": _merge("−"),
    "Multiply": _merge("·"),
    "Average": _average,
    "Maximum": _merge(None, "max({0})"),
    "Minimum": _merge(None, "min({0})"),
    "Concatenate": _concatenate,
    "CustomScaleLayer": _custom_scale,
}


def figure_lines(info: "LayerInfo") -> list[str]:
    """The formula lines of a computed layer (``[]`` unless its status is ``"ok"``); an unregistered type (a
    plug-in) gets its weights added up."""
    if info.status != "ok" or info.output_shape is None:
        return []
    return FIGURE_LINES.get(info.type_name, _weights)(info)
