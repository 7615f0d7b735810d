"""Layer specifications: Keras class names, Keras argument names and semantics, no NumPy, no Qt.

A layer is an immutable value.  It normalises and validates its arguments once, in ``__init__``, and knows
from an input shape (channels-last, no batch axis) its output shape, its weight shapes (declared once; the
parameter count is derived from them), its multiply-adds and how it grows the receptive field.  Anything
that cannot be computed raises :class:`ShapeError` with a message for the user.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from .args import (ACTIVATIONS, MAX_CHANNELS, MAX_NAME_LENGTH, MAX_PADDING, MAX_WINDOW, Arg, padding_to_json)
from .errors import LayerArgumentError
from .geometry import AxisGeometry, GeometryError, resolve_window

Shape = tuple[int, ...]

# \Z, not $: "$" also matches before a final newline, and a name with a newline breaks exported code
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")


class ShapeError(ValueError):
    """A layer that cannot be computed for the shape it receives (the message says why)."""


def _shape_text(shape: Shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def check_layer_name(name: Any, layer_type: str = "Layer") -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or len(name) > MAX_NAME_LENGTH:
        raise LayerArgumentError(
            layer_type, "name", name,
            f"a name of 1 to {MAX_NAME_LENGTH} letters, digits, '_', '-' or '.' (not starting with '-' or '.')")
    return name


def keras_auto_name(type_name: str) -> str:
    """Keras' automatic base name: ``Conv2D`` → ``conv2d``, ``MaxPooling2D`` → ``max_pooling2d``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", type_name).lower().replace("2_d", "2d")


class Layer:
    """Base class: argument handling, equality, serialisation.  Subclasses declare ``ARGS`` and figures."""

    type_name: ClassVar[str]
    ARGS: ClassVar[tuple[Arg, ...]] = ()
    description: ClassVar[str] = ""
    formula: ClassVar[str] = "no parameters"
    category: ClassVar[str] = "other"

    __slots__ = ("name", "_args")

    def __init__(self, /, name: str | None = None, **kwargs: Any):
        # self is positional-only: a file's argument named "self" is an unknown argument like any other
        known = {a.name: a for a in self.ARGS}
        unknown = sorted(set(kwargs) - set(known))
        if unknown:
            allowed = ", ".join(known) or "none besides name"
            raise LayerArgumentError(self.type_name, unknown[0], kwargs[unknown[0]],
                                     f"one of the arguments of {self.type_name} ({allowed})")
        args: dict[str, Any] = {}
        for arg in self.ARGS:
            if arg.name in kwargs:
                args[arg.name] = arg.normalise(self.type_name, kwargs[arg.name])
            elif arg.required:
                raise LayerArgumentError(self.type_name, arg.name, None, f"a value (it is required), e.g. {arg.example!r}")
            else:
                args[arg.name] = arg.normalise(self.type_name, arg.default) if arg.default is not None else None
        object.__setattr__(self, "name", None if name is None else check_layer_name(name, self.type_name))
        object.__setattr__(self, "_args", args)
        self._validate()

    def _validate(self) -> None:
        """Checks that involve several arguments of this layer (raise LayerArgumentError)."""

    def __setattr__(self, key, value):
        raise AttributeError(f"{self.type_name} is immutable; use with_args() or with_name()")

    def __getattr__(self, item: str) -> Any:
        try:
            return object.__getattribute__(self, "_args")[item]
        except KeyError:
            raise AttributeError(item) from None

    @property
    def args(self) -> dict[str, Any]:
        """The normalised arguments (a copy)."""
        return dict(self._args)

    @classmethod
    def example(cls, name: str | None = None) -> "Layer":
        """A layer as the palette creates it: required arguments take their example values."""
        return cls(name=name, **{a.name: a.example for a in cls.ARGS if a.required})

    def with_args(self, **changes: Any) -> "Layer":
        return type(self)(name=self.name, **{**self._args, **changes})

    def with_name(self, name: str | None) -> "Layer":
        return type(self)(name=name, **self._args)

    def get_config(self) -> dict[str, Any]:
        """JSON-ready normalised arguments (``from_config(get_config())`` gives an equal layer)."""
        config: dict[str, Any] = {"name": self.name}
        for arg in self.ARGS:
            value = self._args[arg.name]
            if arg.kind in ("padding", "explicit_padding"):
                value = padding_to_json(value)
            elif isinstance(value, tuple):
                value = list(value)
            config[arg.name] = value
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Layer":
        return cls(**config)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.name == self.name and other._args == self._args

    def __hash__(self) -> int:
        return hash((self.type_name, self.name, tuple(sorted((k, repr(v)) for k, v in self._args.items()))))

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{self.type_name}({inner})"

    # --- figures (overridden by subclasses) ----------------------------------------------------------
    def output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def weight_shapes(self, input_shape: Shape) -> dict[str, tuple[Shape, bool]]:
        """``{weight name: (shape, trainable)}`` in Keras layout; the one declaration of weight shapes."""
        return {}

    def macs(self, input_shape: Shape, output_shape: Shape) -> int:
        return 0

    def receptive_field(self, rf: tuple[int, int], jump: tuple[int, int], input_shape: Shape,
                        model_hw: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
        """``(r_out, j_out)`` per axis; element-wise layers leave them unchanged."""
        return rf, jump

    def key_args(self) -> str:
        """A compact text of the arguments that matter, e.g. ``64 · 3×3 · s1 · same · relu``."""
        return ""

    # --- helpers --------------------------------------------------------------------------------------
    def _need_rank3(self, input_shape: Shape) -> tuple[int, int, int]:
        if len(input_shape) != 3:
            received = (f"a flat vector of {input_shape[0]:,} values (put it before the Flatten or Dense layer)"
                        if len(input_shape) == 1 else f"shape {_shape_text(input_shape)}")
            raise ShapeError(f"{self.type_name} needs a (height, width, channels) input, but receives {received}")
        return input_shape  # type: ignore[return-value]


def _pair_text(pair: tuple[int, int]) -> str:
    return f"{pair[0]}×{pair[1]}"


def _stride_text(pair: tuple[int, int]) -> str:
    return f"s{pair[0]}" if pair[0] == pair[1] else f"s{pair[0]}×{pair[1]}"


def _padding_text(padding) -> str:
    if isinstance(padding, str):
        return padding
    value = padding_to_json(padding)
    return f"pad {value}"


# --- windowed layers ---------------------------------------------------------------------------------
class _Windowed(Layer):
    """Shared geometry of convolutions and pools: one call to :func:`resolve_window`."""

    __slots__ = ()
    window_word: ClassVar[str] = "kernel"

    def window(self) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], Any, bool]:
        """``(kernel, strides, dilation, padding, ceil_mode)``."""
        raise NotImplementedError

    def geometry(self, input_shape: Shape) -> tuple[AxisGeometry, AxisGeometry]:
        h, w, _ = self._need_rank3(input_shape)
        kernel, strides, dilation, padding, ceil_mode = self.window()
        try:
            return resolve_window(h, w, kernel, strides, dilation, padding, ceil_mode, self.window_word)
        except GeometryError as exc:
            raise ShapeError(str(exc)) from None

    def receptive_field(self, rf, jump, input_shape, model_hw):
        kernel, strides, dilation, _, _ = self.window()
        r = tuple(rf[i] + dilation[i] * (kernel[i] - 1) * jump[i] for i in range(2))
        j = tuple(jump[i] * strides[i] for i in range(2))
        return r, j


_CONV_COMMON = (
    Arg("strides", "pair", default=(1, 1), doc="step of the window"),
    Arg("padding", "padding", default="valid", doc='"valid", "same", p, [ph, pw] or [[t, b], [l, r]]'),
)


class Conv2D(_Windowed):
    type_name = "Conv2D"
    category = "convolution"
    description = "Slides `filters` learned kernels over the input; each output channel is one feature map."
    formula = "params = kh·kw·(C_in/groups)·filters + filters;  MACs = H_out·W_out·kh·kw·(C_in/groups)·filters"
    ARGS = (
        Arg("filters", "int", required=True, example=32, minimum=1, maximum=MAX_CHANNELS, doc="output channels"),
        Arg("kernel_size", "pair", required=True, example=(3, 3), doc="window height and width"),
        *_CONV_COMMON,
        Arg("dilation_rate", "pair", default=(1, 1), doc="spacing between kernel taps"),
        Arg("groups", "int", default=1, minimum=1, maximum=MAX_CHANNELS, doc="independent channel groups"),
        Arg("activation", "activation", default="linear"),
        Arg("use_bias", "bool", default=True),
    )
    __slots__ = ()

    def _validate(self):
        if self.filters % self.groups:
            raise LayerArgumentError(self.type_name, "groups", self.groups,
                                     f"a divisor of filters ({self.filters})")

    def window(self):
        return self.kernel_size, self.strides, self.dilation_rate, self.padding, False

    def output_shape(self, input_shape):
        gh, gw = self.geometry(input_shape)
        if input_shape[2] % self.groups:
            raise ShapeError(f"groups={self.groups} must divide the {input_shape[2]} input channels")
        return (gh.out, gw.out, self.filters)

    def weight_shapes(self, input_shape):
        shapes = {"kernel": ((*self.kernel_size, input_shape[2] // self.groups, self.filters), True)}
        if self.use_bias:
            shapes["bias"] = ((self.filters,), True)
        return shapes

    def macs(self, input_shape, output_shape):
        kh, kw = self.kernel_size
        return output_shape[0] * output_shape[1] * kh * kw * (input_shape[2] // self.groups) * self.filters

    def key_args(self):
        parts = [str(self.filters), _pair_text(self.kernel_size), _stride_text(self.strides),
                 _padding_text(self.padding)]
        if self.dilation_rate != (1, 1):
            parts.append("d" + (str(self.dilation_rate[0]) if self.dilation_rate[0] == self.dilation_rate[1]
                                else _pair_text(self.dilation_rate)))
        if self.groups != 1:
            parts.append(f"g{self.groups}")
        parts.append(self.activation)
        return " · ".join(parts)


class DepthwiseConv2D(_Windowed):
    type_name = "DepthwiseConv2D"
    category = "convolution"
    description = "One kernel per input channel (times depth_multiplier); channels are not mixed."
    formula = "params = kh·kw·C_in·depth_multiplier + C_in·depth_multiplier;  MACs = H_out·W_out·kh·kw·C_in·M"
    ARGS = (
        Arg("kernel_size", "pair", required=True, example=(3, 3), doc="window height and width"),
        *_CONV_COMMON,
        Arg("depth_multiplier", "int", default=1, minimum=1, maximum=MAX_WINDOW,
            doc="output channels per input channel"),
        Arg("dilation_rate", "pair", default=(1, 1), doc="spacing between kernel taps"),
        Arg("activation", "activation", default="linear"),
        Arg("use_bias", "bool", default=True),
    )
    __slots__ = ()

    def window(self):
        return self.kernel_size, self.strides, self.dilation_rate, self.padding, False

    def output_shape(self, input_shape):
        gh, gw = self.geometry(input_shape)
        channels = input_shape[2] * self.depth_multiplier
        if channels > MAX_CHANNELS:
            raise ShapeError(f"{input_shape[2]} channels × depth_multiplier {self.depth_multiplier} = "
                             f"{channels:,} output channels, more than {MAX_CHANNELS:,}")
        return (gh.out, gw.out, channels)

    def weight_shapes(self, input_shape):
        shapes = {"kernel": ((*self.kernel_size, input_shape[2], self.depth_multiplier), True)}
        if self.use_bias:
            shapes["bias"] = ((input_shape[2] * self.depth_multiplier,), True)
        return shapes

    def macs(self, input_shape, output_shape):
        kh, kw = self.kernel_size
        return output_shape[0] * output_shape[1] * kh * kw * output_shape[2]

    def key_args(self):
        parts = [_pair_text(self.kernel_size), _stride_text(self.strides), _padding_text(self.padding)]
        if self.depth_multiplier != 1:
            parts.insert(0, f"×{self.depth_multiplier}")
        parts.append(self.activation)
        return " · ".join(parts)


class _Pooling2D(_Windowed):
    category = "pooling"
    window_word = "pool"
    __slots__ = ()
    BASE_ARGS = (
        Arg("pool_size", "pair", default=(2, 2), doc="window height and width"),
        Arg("strides", "optional_pair", default=None, doc="step of the window (default: pool_size)"),
        Arg("padding", "padding", default="valid", doc='"valid", "same", p, [ph, pw] or [[t, b], [l, r]]'),
        Arg("ceil_mode", "bool", default=False, doc="round the output size up (PyTorch ceil_mode)"),
    )

    @property
    def effective_strides(self) -> tuple[int, int]:
        return self.strides if self.strides is not None else self.pool_size

    def _validate(self):
        if not isinstance(self.padding, str):
            for (before, after), k in zip(self.padding, self.pool_size):
                if max(before, after) > k // 2:
                    raise LayerArgumentError(
                        self.type_name, "padding", padding_to_json(self.padding),
                        f"at most half the pool size ({k // 2}) on each side, so every window holds a real input")

    def window(self):
        return self.pool_size, self.effective_strides, (1, 1), self.padding, self.ceil_mode

    def output_shape(self, input_shape):
        gh, gw = self.geometry(input_shape)
        return (gh.out, gw.out, input_shape[2])

    def key_args(self):
        parts = [_pair_text(self.pool_size), _stride_text(self.effective_strides), _padding_text(self.padding)]
        if self.ceil_mode:
            parts.append("ceil")
        return " · ".join(parts)


class MaxPooling2D(_Pooling2D):
    type_name = "MaxPooling2D"
    description = "Keeps the largest value of each window, per channel; no parameters."
    ARGS = _Pooling2D.BASE_ARGS
    __slots__ = ()


class AveragePooling2D(_Pooling2D):
    type_name = "AveragePooling2D"
    description = "Averages each window, per channel; no parameters."
    ARGS = (*_Pooling2D.BASE_ARGS,
            Arg("count_include_pad", "bool", default=True,
                doc="explicit padding: divide by the whole window (PyTorch default); 'same' divides by real inputs"))
    __slots__ = ()


class _GlobalPooling2D(Layer):
    category = "pooling"
    ARGS = (Arg("keepdims", "bool", default=False, doc="keep a 1×1 spatial shape"),)
    __slots__ = ()

    def output_shape(self, input_shape):
        _, _, c = self._need_rank3(input_shape)
        return (1, 1, c) if self.keepdims else (c,)

    def receptive_field(self, rf, jump, input_shape, model_hw):
        return model_hw, jump


class GlobalAveragePooling2D(_GlobalPooling2D):
    type_name = "GlobalAveragePooling2D"
    description = "Averages each whole feature map to one number per channel."
    __slots__ = ()


class GlobalMaxPooling2D(_GlobalPooling2D):
    type_name = "GlobalMaxPooling2D"
    description = "Keeps the largest value of each whole feature map, one per channel."
    __slots__ = ()


class ZeroPadding2D(Layer):
    type_name = "ZeroPadding2D"
    category = "shape"
    description = "Adds rows and columns of zeros around each feature map."
    ARGS = (Arg("padding", "explicit_padding", default=1, doc="p, [ph, pw] or [[top, bottom], [left, right]]"),)
    __slots__ = ()

    def output_shape(self, input_shape):
        h, w, c = self._need_rank3(input_shape)
        (t, b), (l, r) = self.padding
        return (h + t + b, w + l + r, c)

    def key_args(self):
        return _padding_text(self.padding)


class Flatten(Layer):
    type_name = "Flatten"
    category = "shape"
    description = "Unrolls the feature maps into one vector, in (height, width, channels) order as Keras does."
    __slots__ = ()

    def output_shape(self, input_shape):
        size = 1
        for d in input_shape:
            size *= d
        return (size,)


class Dense(Layer):
    type_name = "Dense"
    category = "dense"
    description = "Fully connected: every output unit sees every input value (of the last axis)."
    formula = "params = n_in·units + units;  MACs = n_in·units (per position)"
    ARGS = (
        Arg("units", "int", required=True, example=64, minimum=1, maximum=MAX_CHANNELS, doc="output units"),
        Arg("activation", "activation", default="linear"),
        Arg("use_bias", "bool", default=True),
    )
    __slots__ = ()

    def output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def weight_shapes(self, input_shape):
        shapes = {"kernel": ((input_shape[-1], self.units), True)}
        if self.use_bias:
            shapes["bias"] = ((self.units,), True)
        return shapes

    def macs(self, input_shape, output_shape):
        positions = 1
        for d in input_shape[:-1]:
            positions *= d
        return positions * input_shape[-1] * self.units

    def receptive_field(self, rf, jump, input_shape, model_hw):
        return (model_hw, jump) if len(input_shape) == 1 else (rf, jump)

    def key_args(self):
        return f"{self.units} · {self.activation}"


class Activation(Layer):
    type_name = "Activation"
    category = "activation"
    description = "Applies a function to every value (relu, sigmoid, softmax, ...); no parameters."
    ARGS = (Arg("activation", "activation", required=True, example="relu"),)
    __slots__ = ()

    def key_args(self):
        return self.activation


class BatchNormalization(Layer):
    type_name = "BatchNormalization"
    category = "normalization"
    description = "Normalises each channel with learned scale γ and offset β and moving mean/variance."
    formula = "params = 4·C (γ, β trainable; moving mean and variance non-trainable)"
    ARGS = (
        Arg("epsilon", "float", default=1e-3, minimum=0.0, maximum=1.0, doc="added to the variance"),
        Arg("momentum", "float", default=0.99, minimum=0.0, maximum=1.0, doc="moving average momentum (training)"),
        Arg("center", "bool", default=True, doc="learn an offset β"),
        Arg("scale", "bool", default=True, doc="learn a scale γ"),
    )
    __slots__ = ()

    def weight_shapes(self, input_shape):
        c = (input_shape[-1],)
        shapes: dict[str, tuple[Shape, bool]] = {}
        if self.scale:
            shapes["gamma"] = (c, True)
        if self.center:
            shapes["beta"] = (c, True)
        shapes["moving_mean"] = (c, False)
        shapes["moving_variance"] = (c, False)
        return shapes

    def key_args(self):
        return f"ε {self.epsilon:g}"


class Dropout(Layer):
    type_name = "Dropout"
    category = "regularization"
    description = "Zeroes a fraction `rate` of values while training; the identity when predicting."
    ARGS = (Arg("rate", "float", required=True, example=0.5, minimum=0.0, maximum=1.0,
                doc="fraction dropped while training (exclusive maximum)"),)
    __slots__ = ()

    def key_args(self):
        return f"rate {self.rate:g}"


class LocalResponseNormalization(Layer):
    type_name = "LocalResponseNormalization"
    category = "normalization"
    description = "AlexNet's LRN: divides each value by the energy of neighbouring channels (PyTorch semantics)."
    formula = "b_c = a_c / (k + α/size · Σ a²)^β over `size` neighbouring channels; no parameters"
    ARGS = (
        Arg("size", "int", default=5, minimum=1, maximum=MAX_WINDOW, doc="channels in the neighbourhood"),
        Arg("alpha", "float", default=1e-4, minimum=0.0, maximum=1e6),
        Arg("beta", "float", default=0.75, minimum=0.0, maximum=1e6),
        Arg("k", "float", default=2.0, minimum=0.0, maximum=1e6, doc="added to the divisor's base; above 0"),
    )
    __slots__ = ()

    def _validate(self):
        if self.k <= 0:
            raise LayerArgumentError(self.type_name, "k", self.k,
                                     "a number above 0 (with k = 0, a zero value whose neighbouring channels are all "
                                     "zero is divided by zero: NaN)")

    def output_shape(self, input_shape):
        self._need_rank3(input_shape)
        return input_shape

    def key_args(self):
        return f"size {self.size}"


LAYER_TYPES: dict[str, type[Layer]] = {
    cls.type_name: cls
    for cls in (Conv2D, DepthwiseConv2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D,
                GlobalMaxPooling2D, ZeroPadding2D, Flatten, Dense, Activation, BatchNormalization, Dropout,
                LocalResponseNormalization)
}

__all__ = ["Layer", "ShapeError", "LAYER_TYPES", "ACTIVATIONS", "MAX_PADDING", "keras_auto_name",
           "check_layer_name", *LAYER_TYPES]
