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
    #: how many inputs the layer takes (``max_inputs`` None: any number); merges take several
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1

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
    @property
    def is_merge(self) -> bool:
        return self.max_inputs != 1

    def output_shape_of(self, input_shapes: tuple[Shape, ...], names: tuple[str, ...] | None = None) -> Shape:
        """The output shape for the shapes of all inputs (one for most layers, several for a merge);
        ``names`` (the inputs' layer names) only make messages clearer."""
        return self.output_shape(input_shapes[0])

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
_FILTERS = Arg("filters", "int", required=True, example=32, minimum=1, maximum=MAX_CHANNELS, doc="output channels")
_KERNEL = Arg("kernel_size", "pair", required=True, example=(3, 3), doc="window height and width")
_DILATION = Arg("dilation_rate", "pair", default=(1, 1), doc="spacing between kernel taps")
_ACTIVATION_AND_BIAS = (Arg("activation", "activation", default="linear"), Arg("use_bias", "bool", default=True))


class _Conv(_Windowed):
    """Convolutions: the window is the kernel, moved by ``strides``, spread by ``dilation_rate``, over ``padding``."""

    __slots__ = ()
    category = "convolution"

    def window(self):
        return self.kernel_size, self.strides, self.dilation_rate, self.padding, False


class Conv2D(_Conv):
    type_name = "Conv2D"
    description = "Slides `filters` learned kernels over the input; each output channel is one feature map."
    formula = "params = kh·kw·(C_in/groups)·filters + filters;  MACs = H_out·W_out·kh·kw·(C_in/groups)·filters"
    ARGS = (
        _FILTERS,
        _KERNEL,
        *_CONV_COMMON,
        _DILATION,
        Arg("groups", "int", default=1, minimum=1, maximum=MAX_CHANNELS, doc="independent channel groups"),
        *_ACTIVATION_AND_BIAS,
    )
    __slots__ = ()

    def _validate(self):
        if self.filters % self.groups:
            raise LayerArgumentError(self.type_name, "groups", self.groups,
                                     f"a divisor of filters ({self.filters})")

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


class DepthwiseConv2D(_Conv):
    type_name = "DepthwiseConv2D"
    description = "One kernel per input channel (times depth_multiplier); channels are not mixed."
    formula = "params = kh·kw·C_in·depth_multiplier + C_in·depth_multiplier;  MACs = H_out·W_out·kh·kw·C_in·M"
    ARGS = (
        _KERNEL,
        *_CONV_COMMON,
        Arg("depth_multiplier", "int", default=1, minimum=1, maximum=MAX_WINDOW,
            doc="output channels per input channel"),
        _DILATION,
        *_ACTIVATION_AND_BIAS,
    )
    __slots__ = ()

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
        *_ACTIVATION_AND_BIAS,
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


# --- graph layers: merges ----------------------------------------------------------------------------
def broadcast_shapes(shapes: tuple[Shape, ...], layer_type: str, names: tuple[str, ...] | None = None) -> Shape:
    """NumPy/Keras broadcasting of element-wise merges: aligned on the last axis, a size-1 axis stretches.

    E.g. squeeze-and-excitation's (1, 1, C) × (H, W, C) → (H, W, C).  Raises :class:`ShapeError` naming both
    inputs and both shapes when they do not fit."""
    rank = max(len(s) for s in shapes)
    out = [1] * rank
    for k, shape in enumerate(shapes):
        padded = (1,) * (rank - len(shape)) + tuple(shape)
        for axis, d in enumerate(padded):
            if d == out[axis] or d == 1:
                continue
            if out[axis] == 1:
                out[axis] = d
                continue
            first = next(j for j, other in enumerate(shapes)
                         if ((1,) * (rank - len(other)) + tuple(other))[axis] == out[axis])
            who = (lambda j: f"'{names[j]}'" if names else f"input {j}")
            raise ShapeError(f"{layer_type} cannot combine {who(first)} {_shape_text(shapes[first])} with "
                             f"{who(k)} {_shape_text(shape)}: sizes {out[axis]} and {d} differ on axis "
                             f"{axis - rank} (they must be equal, or one of them 1)")
    return tuple(out)


class _Merge(Layer):
    """Element-wise merge of several inputs with broadcasting (Keras' merging layers)."""

    category = "merge"
    min_inputs = 2
    max_inputs: ClassVar[int | None] = None
    __slots__ = ()

    def output_shape(self, input_shape):
        raise ShapeError(f"{self.type_name} needs at least {self.min_inputs} inputs")

    def output_shape_of(self, input_shapes, names=None):
        if not self.min_inputs <= len(input_shapes) <= (self.max_inputs or len(input_shapes)):
            wanted = (f"exactly {self.min_inputs}" if self.min_inputs == self.max_inputs
                      else f"at least {self.min_inputs}")
            raise ShapeError(f"{self.type_name} takes {wanted} inputs, not {len(input_shapes)}")
        return broadcast_shapes(tuple(input_shapes), self.type_name, names)


def _element_wise(type_name: str, description: str, inputs: int | None = None) -> type[_Merge]:
    """A Keras element-wise merging layer: these differ only in name, description and how many inputs they take
    (``inputs``: exactly that many; default two or more).  The engine gives each its arithmetic."""
    counts = {} if inputs is None else {"min_inputs": inputs, "max_inputs": inputs}
    return type(type_name, (_Merge,), {"type_name": type_name, "description": description, "__slots__": (),
                                       "__module__": __name__, "__qualname__": type_name, **counts})


Add = _element_wise("Add", "Adds its inputs element-wise (a residual connection: x + F(x)); shapes broadcast.")
Subtract = _element_wise("Subtract", "Subtracts its second input from its first, element-wise; shapes broadcast.",
                         inputs=2)
Multiply = _element_wise("Multiply", "Multiplies its inputs element-wise (squeeze-and-excitation's channel "
                                     "weights); shapes broadcast.")
Average = _element_wise("Average", "Averages its inputs element-wise; shapes broadcast.")
Maximum = _element_wise("Maximum", "Keeps the element-wise maximum of its inputs; shapes broadcast.")
Minimum = _element_wise("Minimum", "Keeps the element-wise minimum of its inputs; shapes broadcast.")


class Concatenate(_Merge):
    type_name = "Concatenate"
    description = "Joins its inputs along one axis (channels by default), as DenseNet and Inception do."
    ARGS = (Arg("axis", "axis", default=-1, doc="Keras axis counting the batch: -1 = channels"),)
    __slots__ = ()

    def resolved_axis(self, rank: int) -> int:
        """The axis in a shape without the batch axis (0-based), or raise :class:`ShapeError`."""
        axis = self.axis if self.axis > 0 else self.axis + rank + 1
        if not 1 <= axis <= rank:
            raise ShapeError(f"axis {self.axis} does not exist for inputs of rank {rank} (+ the batch axis)")
        return axis - 1

    def output_shape_of(self, input_shapes, names=None):
        if len(input_shapes) < 2:
            raise ShapeError(f"Concatenate takes at least 2 inputs, not {len(input_shapes)}")
        rank = len(input_shapes[0])
        axis = self.resolved_axis(rank)
        first = input_shapes[0]
        total = 0
        for k, shape in enumerate(input_shapes):
            if len(shape) != rank or any(a != b for i, (a, b) in enumerate(zip(shape, first)) if i != axis):
                who = (lambda j: f"'{names[j]}'" if names else f"input {j}")
                raise ShapeError(f"Concatenate on axis {self.axis} needs equal sizes on every other axis: {who(0)} "
                                 f"{_shape_text(first)} and {who(k)} {_shape_text(shape)} differ")
            total += shape[axis]
        return tuple(total if i == axis else d for i, d in enumerate(first))

    def key_args(self):
        return "channels" if self.axis == -1 else f"axis {self.axis}"


class CustomScaleLayer(_Merge):
    type_name = "CustomScaleLayer"
    description = "InceptionResNetV2's residual scaling: input 0 + scale · input 1."
    ARGS = (Arg("scale", "float", default=1.0, minimum=-1e6, maximum=1e6, doc="factor of the residual branch"),)
    min_inputs = 2
    max_inputs = 2
    __slots__ = ()

    def key_args(self):
        return f"scale {self.scale:g}"


# --- graph layers: convolutions and resampling --------------------------------------------------------
class SeparableConv2D(_Conv):
    type_name = "SeparableConv2D"
    description = "A depthwise convolution (one kernel per channel) followed by a 1×1 convolution mixing channels."
    formula = ("params = kh·kw·C_in·M + C_in·M·filters + filters;  "
               "MACs = H_out·W_out·(kh·kw·C_in·M + C_in·M·filters)")
    ARGS = (
        _FILTERS,
        _KERNEL,
        *_CONV_COMMON,
        Arg("depth_multiplier", "int", default=1, minimum=1, maximum=MAX_WINDOW,
            doc="depthwise output channels per input channel"),
        _DILATION,
        *_ACTIVATION_AND_BIAS,
    )
    __slots__ = ()

    def output_shape(self, input_shape):
        gh, gw = self.geometry(input_shape)
        if input_shape[2] * self.depth_multiplier > MAX_CHANNELS:
            raise ShapeError(f"{input_shape[2]} channels × depth_multiplier {self.depth_multiplier} is more than "
                             f"{MAX_CHANNELS:,} channels")
        return (gh.out, gw.out, self.filters)

    def weight_shapes(self, input_shape):
        c, m = input_shape[2], self.depth_multiplier
        shapes = {"depthwise_kernel": ((*self.kernel_size, c, m), True),
                  "pointwise_kernel": ((1, 1, c * m, self.filters), True)}
        if self.use_bias:
            shapes["bias"] = ((self.filters,), True)
        return shapes

    def macs(self, input_shape, output_shape):
        kh, kw = self.kernel_size
        cm = input_shape[2] * self.depth_multiplier
        return output_shape[0] * output_shape[1] * (kh * kw * cm + cm * self.filters)

    def key_args(self):
        parts = [str(self.filters), _pair_text(self.kernel_size), _stride_text(self.strides),
                 _padding_text(self.padding)]
        if self.depth_multiplier != 1:
            parts.append(f"×{self.depth_multiplier}")
        parts.append(self.activation)
        return " · ".join(parts)


class Conv2DTranspose(Layer):
    type_name = "Conv2DTranspose"
    category = "convolution"
    description = "A transposed ('up-') convolution: each input value spreads a kernel over a larger output."
    formula = ("out = (n − 1)·s + d·(k − 1) + 1 − crop (Keras: valid n·s + max(k − s, 0), same n·s);  "
               "params = kh·kw·filters·C_in + filters")
    ARGS = (
        _FILTERS,
        Arg("kernel_size", "pair", required=True, example=(2, 2), doc="window height and width"),
        Arg("strides", "pair", default=(1, 1), doc="upsampling factor"),
        Arg("padding", "choice", default="valid", choices=("valid", "same"), doc='"valid" or "same"'),
        Arg("output_padding", "optional_pair", default=None, minimum=0,
            doc="extra rows/columns at the end (each < strides)"),
        _DILATION,
        *_ACTIVATION_AND_BIAS,
    )
    __slots__ = ()

    def _validate(self):
        if self.output_padding is not None:
            for p, s, d in zip(self.output_padding, self.strides, self.dilation_rate):
                if p >= s and p >= d:
                    raise LayerArgumentError(self.type_name, "output_padding", list(self.output_padding),
                                             "values smaller than the strides (or the dilation)")

    def geometry(self, input_shape):
        """``((crop_before, crop_after, out), ...)`` per axis, from :func:`transpose_axis`."""
        h, w, _ = self._need_rank3(input_shape)
        return tuple(
            transpose_axis(n, self.kernel_size[i], self.strides[i], self.dilation_rate[i], self.padding,
                           None if self.output_padding is None else self.output_padding[i])
            for i, n in enumerate((h, w)))

    def output_shape(self, input_shape):
        (_, _, oh), (_, _, ow) = self.geometry(input_shape)
        if oh < 1 or ow < 1:
            raise ShapeError(f"the output would be empty ({oh}×{ow})")
        return (oh, ow, self.filters)

    def weight_shapes(self, input_shape):
        shapes = {"kernel": ((*self.kernel_size, self.filters, input_shape[2]), True)}
        if self.use_bias:
            shapes["bias"] = ((self.filters,), True)
        return shapes

    def macs(self, input_shape, output_shape):
        kh, kw = self.kernel_size
        return input_shape[0] * input_shape[1] * kh * kw * input_shape[2] * self.filters

    def receptive_field(self, rf, jump, input_shape, model_hw):
        j = tuple(_divide_jump(jump[i], self.strides[i]) for i in range(2))
        r = tuple(_ceil(rf[i] + self.dilation_rate[i] * (self.kernel_size[i] - 1) * j[i]) for i in range(2))
        return r, j

    def key_args(self):
        return " · ".join([str(self.filters), _pair_text(self.kernel_size), _stride_text(self.strides),
                           self.padding, self.activation])


def transpose_axis(n: int, kernel: int, stride: int, dilation: int, padding: str,
                   output_padding: int | None) -> tuple[int, int, int]:
    """Keras 3's transposed-convolution length on one axis, as ``(crop_before, crop_after, out)``.

    The full transposed convolution is ``(n − 1)·s + k_eff`` long (``k_eff = d·(k − 1) + 1``); Keras' output
    takes ``out`` values of it starting at ``crop_before`` (zero-extended past its end: ``crop_after`` may be
    negative).  Keras: valid → ``(n − 1)·s + max(k_eff, s)`` (``+ output_padding`` instead of the max when given);
    same → ``n·s`` (``(n − 1)·s + k_eff % 2 + output_padding`` when given).  Where the window starts follows
    Keras' padding of the dilated input: ``pad = s + k_eff − 2`` (same, or ``k_eff + k_eff % 2 − 2 +
    output_padding``), ``left = min(ceil(pad / 2), k_eff − 1)``, ``crop_before = k_eff − 1 − left``."""
    k_eff = dilation * (kernel - 1) + 1
    full = (n - 1) * stride + k_eff
    if padding == "valid":
        before = 0
        out = (n - 1) * stride + (max(k_eff, stride) if output_padding is None else k_eff + output_padding)
    else:
        if output_padding is None:
            pad, out = stride + k_eff - 2, n * stride
        else:
            pad, out = k_eff + k_eff % 2 - 2 + output_padding, (n - 1) * stride + k_eff % 2 + output_padding
        before = k_eff - 1 - min(pad // 2 + pad % 2, k_eff - 1)
    return before, full - before - out, out


def _divide_jump(jump, stride):
    from fractions import Fraction

    value = Fraction(jump) / stride
    return int(value) if value.denominator == 1 else value


def _ceil(value) -> int:
    return -(-value.numerator // value.denominator) if hasattr(value, "numerator") else int(value)


class UpSampling2D(Layer):
    type_name = "UpSampling2D"
    category = "shape"
    description = "Repeats rows and columns (nearest) or interpolates (bilinear) to enlarge each feature map."
    ARGS = (
        Arg("size", "pair", default=(2, 2), doc="factors for height and width"),
        Arg("interpolation", "choice", default="nearest", choices=("nearest", "bilinear")),
    )
    __slots__ = ()

    def output_shape(self, input_shape):
        h, w, c = self._need_rank3(input_shape)
        return (h * self.size[0], w * self.size[1], c)

    def receptive_field(self, rf, jump, input_shape, model_hw):
        return rf, tuple(_divide_jump(jump[i], self.size[i]) for i in range(2))

    def key_args(self):
        return f"×{_pair_text(self.size)} · {self.interpolation}"


class Cropping2D(Layer):
    type_name = "Cropping2D"
    category = "shape"
    description = "Removes rows and columns at the borders of each feature map (U-Net's crop before concatenating)."
    ARGS = (Arg("cropping", "explicit_padding", default=0, doc="c, [ch, cw] or [[top, bottom], [left, right]]"),)
    __slots__ = ()

    def output_shape(self, input_shape):
        h, w, c = self._need_rank3(input_shape)
        (t, b), (l, r) = self.cropping
        if h - t - b < 1 or w - l - r < 1:
            raise ShapeError(f"cropping {t}+{b} rows and {l}+{r} columns leaves nothing of a {h}×{w} input")
        return (h - t - b, w - l - r, c)

    def key_args(self):
        return "crop " + str(padding_to_json(self.cropping))


class Reshape(Layer):
    type_name = "Reshape"
    category = "shape"
    description = "Gives the values a new shape (same count, same order); one size may be -1 (inferred)."
    ARGS = (Arg("target_shape", "shape", required=True, example=(1, 1, -1), doc="sizes without the batch axis"),)
    __slots__ = ()

    def output_shape(self, input_shape):
        size = 1
        for d in input_shape:
            size *= d
        known = 1
        for d in self.target_shape:
            if d != -1:
                known *= d
        if -1 in self.target_shape:
            if size % known:
                raise ShapeError(f"{size:,} values cannot be reshaped to {_shape_text(self.target_shape)}")
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if known != size:
            raise ShapeError(f"{size:,} values cannot be reshaped to {_shape_text(self.target_shape)} "
                             f"({known:,} values)")
        return tuple(self.target_shape)

    def key_args(self):
        return _shape_text(self.target_shape)


# --- graph layers: pre-processing, activations, normalisation ---------------------------------------
def _per_channel(value, channels: int, what: str) -> None:
    if isinstance(value, tuple) and len(value) not in (1, channels):
        raise ShapeError(f"{what} has {len(value)} values but the input has {channels} channels")


class Rescaling(Layer):
    type_name = "Rescaling"
    category = "preprocessing"
    description = "Multiplies by `scale` and adds `offset` (e.g. 1/255 to map pixels to [0, 1])."
    ARGS = (
        Arg("scale", "float_or_floats", required=True, example=1 / 255, minimum=-1e9, maximum=1e9),
        Arg("offset", "float_or_floats", default=0.0, minimum=-1e9, maximum=1e9),
    )
    __slots__ = ()

    def output_shape(self, input_shape):
        _per_channel(self.scale, input_shape[-1], "scale")
        _per_channel(self.offset, input_shape[-1], "offset")
        return input_shape

    def key_args(self):
        def text(v):
            return f"{v:.4g}" if isinstance(v, float) else "[" + ", ".join(f"{x:.3g}" for x in v) + "]"
        return f"×{text(self.scale)} + {text(self.offset)}"


class Normalization(Layer):
    type_name = "Normalization"
    category = "preprocessing"
    description = "Subtracts a mean and divides by a standard deviation per channel (fixed, not trained)."
    formula = "(x − mean) / max(√variance, 1e-7);  params = 2·C + 1 non-trainable (mean, variance, count)"
    ARGS = (
        Arg("axis", "axis", default=-1, doc="Keras axis counting the batch: -1 = channels"),
        Arg("mean", "optional_floats", default=None, minimum=-1e9, maximum=1e9,
            doc="fixed mean (else a non-trainable weight)"),
        Arg("variance", "optional_floats", default=None, minimum=0.0, maximum=1e18,
            doc="fixed variance (else a non-trainable weight)"),
        Arg("invert", "bool", default=False, doc="undo the normalisation instead"),
    )
    __slots__ = ()

    def _validate(self):
        if (self.mean is None) != (self.variance is None):
            raise LayerArgumentError(self.type_name, "variance" if self.variance is None else "mean", None,
                                     "both mean and variance, or neither")
        if self.axis != -1:
            raise LayerArgumentError(self.type_name, "axis", self.axis, "-1 (the channels axis)")

    def output_shape(self, input_shape):
        if self.mean is not None:
            _per_channel(self.mean, input_shape[-1], "mean")
            _per_channel(self.variance, input_shape[-1], "variance")
        return input_shape

    def weight_shapes(self, input_shape):
        if self.mean is not None:
            return {}
        c = (input_shape[-1],)
        return {"mean": (c, False), "variance": (c, False), "count": ((), False)}

    def key_args(self):
        return "inverted" if self.invert else ("fixed" if self.mean is not None else "")


class ReLU(Layer):
    type_name = "ReLU"
    category = "activation"
    description = "Keras' ReLU layer: max(x, threshold) with an optional cap and a slope below the threshold."
    formula = "x ≥ threshold: min(x, max_value); below: negative_slope · (x − threshold)"
    ARGS = (
        Arg("max_value", "optional_float", default=None, minimum=0.0, maximum=1e9, doc="cap (relu6: 6)"),
        Arg("negative_slope", "float", default=0.0, minimum=0.0, maximum=1e6),
        Arg("threshold", "float", default=0.0, minimum=0.0, maximum=1e9),
    )
    __slots__ = ()

    def key_args(self):
        parts = []
        if self.max_value is not None:
            parts.append(f"max {self.max_value:g}")
        if self.negative_slope:
            parts.append(f"slope {self.negative_slope:g}")
        if self.threshold:
            parts.append(f"threshold {self.threshold:g}")
        return " · ".join(parts)


class LeakyReLU(Layer):
    type_name = "LeakyReLU"
    category = "activation"
    description = "x for x ≥ 0, negative_slope · x below (Keras' default slope 0.3)."
    ARGS = (Arg("negative_slope", "float", default=0.3, minimum=0.0, maximum=1e6),)
    __slots__ = ()

    def key_args(self):
        return f"slope {self.negative_slope:g}"


class LayerNormalization(Layer):
    type_name = "LayerNormalization"
    category = "normalization"
    description = "Normalises each position over its channels, then scales by γ and shifts by β (ConvNeXt)."
    formula = "params = 2·C (γ, β)"
    ARGS = (
        Arg("axis", "axis", default=-1, doc="-1 = channels"),
        Arg("epsilon", "float", default=1e-3, minimum=0.0, maximum=1.0),
        Arg("center", "bool", default=True),
        Arg("scale", "bool", default=True),
    )
    __slots__ = ()

    def _validate(self):
        if self.axis != -1:
            raise LayerArgumentError(self.type_name, "axis", self.axis, "-1 (the channels axis)")

    def weight_shapes(self, input_shape):
        c = (input_shape[-1],)
        shapes: dict[str, tuple[Shape, bool]] = {}
        if self.scale:
            shapes["gamma"] = (c, True)
        if self.center:
            shapes["beta"] = (c, True)
        return shapes

    def key_args(self):
        return f"ε {self.epsilon:g}"


class LayerScale(Layer):
    type_name = "LayerScale"
    category = "normalization"
    description = "ConvNeXt's learned per-channel scale γ (initialised to init_values)."
    formula = "params = C (γ)"
    ARGS = (
        Arg("init_values", "float", default=1e-6, minimum=-1e9, maximum=1e9),
        Arg("projection_dim", "int", required=True, example=96, minimum=1, maximum=MAX_CHANNELS),
    )
    __slots__ = ()

    def output_shape(self, input_shape):
        if input_shape[-1] != self.projection_dim:
            raise ShapeError(f"projection_dim is {self.projection_dim} but the input has {input_shape[-1]} channels")
        return input_shape

    def weight_shapes(self, input_shape):
        return {"gamma": ((self.projection_dim,), True)}

    def key_args(self):
        return f"γ₀ {self.init_values:g}"


class StochasticDepth(Layer):
    type_name = "StochasticDepth"
    category = "regularization"
    description = "Drops a whole residual branch at random while training; the identity when predicting."
    ARGS = (Arg("drop_path_rate", "float", default=0.0, minimum=0.0, maximum=1.0,
                doc="probability of dropping the branch (exclusive maximum)"),)
    __slots__ = ()

    def key_args(self):
        return f"rate {self.drop_path_rate:g}"



LAYER_TYPES: dict[str, type[Layer]] = {
    cls.type_name: cls
    for cls in (Conv2D, DepthwiseConv2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D,
                GlobalMaxPooling2D, ZeroPadding2D, Flatten, Dense, Activation, BatchNormalization, Dropout,
                LocalResponseNormalization,
                # graph-era layers
                SeparableConv2D, Conv2DTranspose, UpSampling2D, Cropping2D, Reshape, Rescaling, Normalization,
                ReLU, LeakyReLU, LayerNormalization, LayerScale, StochasticDepth,
                Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, CustomScaleLayer)
}

__all__ = ["Layer", "ShapeError", "LAYER_TYPES", "ACTIVATIONS", "MAX_PADDING", "keras_auto_name",
           "check_layer_name", *LAYER_TYPES]
