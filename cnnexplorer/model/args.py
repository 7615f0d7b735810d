"""Argument normalisers: each turns a user- or file-supplied value into the one canonical form, or raises
:class:`LayerArgumentError` naming the argument and the value received (the Keras habit)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from .errors import ArchitectureError, LayerArgumentError

# Sane maxima: large enough for any real network, small enough that arithmetic and memory estimates stay
# meaningful and a hostile file cannot ask for absurd sizes.
MAX_SPATIAL = 16384      # input height/width
MAX_CHANNELS = 65536     # input channels, filters, units
MAX_WINDOW = 1024        # kernel/pool size, stride, dilation
MAX_PADDING = 4096
MAX_GROUPS = 65536
MAX_NAME_LENGTH = 128
MAX_TEXT = 10_000        # model name and description

ACTIVATIONS = ("linear", "relu", "relu6", "leaky_relu", "elu", "gelu", "silu", "swish", "sigmoid", "tanh",
               "softplus", "softmax", "hard_sigmoid", "hard_silu", "hard_swish")
MAX_VECTOR = 65536        # per-channel value lists (Rescaling, Normalization)

Normaliser = Callable[[str, str, Any], Any]


@dataclass(frozen=True)
class Arg:
    """One constructor argument of a layer: its Keras name, default and normaliser.

    ``kind`` tells an editor which widget fits (``int``, ``pair``, ``optional_pair``, ``padding``,
    ``pool_padding``, ``activation``, ``bool``, ``float``); ``minimum``/``maximum`` bound numbers.
    ``required`` arguments have no default in Keras; ``example`` is what a new layer from the palette gets.
    """

    name: str
    kind: str
    default: Any = None
    required: bool = False
    example: Any = None
    minimum: float | None = None
    maximum: float | None = None
    doc: str = ""
    choices: tuple[str, ...] = ()

    def normalise(self, layer_type: str, value: Any) -> Any:
        return _NORMALISERS[self.kind](self, layer_type, value)


def _fail(layer_type: str, arg: Arg | str, value: Any, expected: str):
    raise LayerArgumentError(layer_type, arg if isinstance(arg, str) else arg.name, value, expected)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int(arg: Arg, layer_type: str, value: Any) -> int:
    lo, hi = int(arg.minimum if arg.minimum is not None else 1), int(arg.maximum or MAX_CHANNELS)
    if not is_int(value) or not lo <= value <= hi:
        _fail(layer_type, arg, value, f"an integer from {lo} to {hi:,}")
    return value


def _pair(arg: Arg, layer_type: str, value: Any) -> tuple[int, int]:
    lo, hi = int(arg.minimum if arg.minimum is not None else 1), int(arg.maximum or MAX_WINDOW)
    expected = f"an integer from {lo} to {hi:,} or a pair of them"
    if is_int(value):
        value = (value, value)
    if not isinstance(value, (list, tuple)) or len(value) != 2 or not all(is_int(v) for v in value):
        _fail(layer_type, arg, value, expected)
    if not all(lo <= v <= hi for v in value):
        _fail(layer_type, arg, value, expected)
    return (value[0], value[1])


def _optional_pair(arg: Arg, layer_type: str, value: Any) -> tuple[int, int] | None:
    return None if value is None else _pair(arg, layer_type, value)


def explicit_padding(arg: Arg, layer_type: str, value: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    """An int ``p``, a pair ``[ph, pw]`` (symmetric) or ``[[top, bottom], [left, right]]``."""
    expected = (f"an integer from 0 to {MAX_PADDING:,}, a pair [ph, pw] or [[top, bottom], [left, right]]")

    def ok(v):
        return is_int(v) and 0 <= v <= MAX_PADDING

    if ok(value):
        return ((value, value), (value, value))
    if isinstance(value, (list, tuple)) and len(value) == 2:
        if all(ok(v) for v in value):
            return ((value[0], value[0]), (value[1], value[1]))
        if all(isinstance(v, (list, tuple)) and len(v) == 2 and all(ok(x) for x in v) for v in value):
            return ((value[0][0], value[0][1]), (value[1][0], value[1][1]))
    _fail(layer_type, arg, value, expected)


def _padding(arg: Arg, layer_type: str, value: Any):
    if isinstance(value, str):
        lowered = value.lower()
        if lowered in ("valid", "same"):
            return lowered
        _fail(layer_type, arg, value, '"valid", "same", an integer, [ph, pw] or [[top, bottom], [left, right]]')
    return explicit_padding(arg, layer_type, value)


def _activation(arg: Arg, layer_type: str, value: Any) -> str:
    if value is None:
        return "linear"
    if not isinstance(value, str) or value.lower() not in ACTIVATIONS:
        _fail(layer_type, arg, value, "one of " + ", ".join(ACTIVATIONS))
    return value.lower()


def _bool(arg: Arg, layer_type: str, value: Any) -> bool:
    if not isinstance(value, bool):
        _fail(layer_type, arg, value, "true or false")
    return value


def _float(arg: Arg, layer_type: str, value: Any) -> float:
    lo, hi = arg.minimum, arg.maximum
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        _fail(layer_type, arg, value, "a finite number")
    # ``maximum`` is exclusive for floats whose doc says so (Dropout.rate < 1); inclusive otherwise.
    exclusive_max = arg.doc.endswith("(exclusive maximum)")
    if (lo is not None and value < lo) or (hi is not None and (value >= hi if exclusive_max else value > hi)):
        bound = f"{lo} ≤ {arg.name} < {hi}" if exclusive_max else f"{lo} ≤ {arg.name} ≤ {hi}"
        _fail(layer_type, arg, value, f"a number with {bound}")
    return float(value)


def _optional_float(arg: Arg, layer_type: str, value: Any) -> float | None:
    return None if value is None else _float(arg, layer_type, value)


def _float_or_floats(arg: Arg, layer_type: str, value: Any) -> float | tuple[float, ...]:
    """A number, or a list of numbers (one per channel)."""
    if isinstance(value, (list, tuple)):
        if not 1 <= len(value) <= MAX_VECTOR:
            _fail(layer_type, arg, value, f"a number or a list of 1 to {MAX_VECTOR:,} numbers")
        return tuple(_float(arg, layer_type, v) for v in value)
    return _float(arg, layer_type, value)


def _optional_floats(arg: Arg, layer_type: str, value: Any) -> float | tuple[float, ...] | None:
    return None if value is None else _float_or_floats(arg, layer_type, value)


def _choice(arg: Arg, layer_type: str, value: Any) -> str:
    if not isinstance(value, str) or value.lower() not in arg.choices:
        _fail(layer_type, arg, value, "one of " + ", ".join(arg.choices))
    return value.lower()


def _axis(arg: Arg, layer_type: str, value: Any) -> int:
    """A Keras axis counting the batch axis: -1 is the channels axis; 0 (the batch) is refused."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if not is_int(value) or value == 0 or not -4 <= value <= 3:
        _fail(layer_type, arg, value, "an axis from -4 to 3 other than 0 (the batch axis); -1 is the channels axis")
    return value


def _shape(arg: Arg, layer_type: str, value: Any) -> tuple[int, ...]:
    """A target shape without the batch axis: 1 to 3 positive sizes, at most one -1 (inferred)."""
    expected = "a list of 1 to 3 positive sizes, at most one of them -1 (inferred)"
    if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= 3 \
            or not all(is_int(v) and (v == -1 or 1 <= v <= MAX_CHANNELS * 64) for v in value) \
            or sum(1 for v in value if v == -1) > 1:
        _fail(layer_type, arg, value, expected)
    return tuple(value)


_NORMALISERS: dict[str, Normaliser] = {
    "optional_float": _optional_float,
    "float_or_floats": _float_or_floats,
    "optional_floats": _optional_floats,
    "choice": _choice,
    "axis": _axis,
    "shape": _shape,
    "int": _int,
    "pair": _pair,
    "optional_pair": _optional_pair,
    "padding": _padding,
    "explicit_padding": explicit_padding,
    "activation": _activation,
    "bool": _bool,
    "float": _float,
}


def padding_to_json(value):
    """The simplest JSON form of a normalised padding: ``"same"``, ``2``, ``[1, 2]`` or ``[[0, 1], [0, 1]]``."""
    if isinstance(value, str):
        return value
    (t, b), (l, r) = value
    if t == b == l == r:
        return t
    if t == b and l == r:
        return [t, l]
    return [[t, b], [l, r]]


# Characters no model name may hold: control characters (newlines included), lone surrogates (not encodable:
# saving, summaries and exported code would fail), line and paragraph separators.
_BAD_NAME_CATEGORIES = ("Cc", "Cs", "Zl", "Zp")


def json_text(value: Any, limit: int = 100) -> str:
    """``value`` as JSON on one line (ASCII), shortened to about ``limit`` characters, for error messages."""
    import json

    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        try:
            text = repr(value).encode("ascii", "backslashreplace").decode("ascii")
        except (ValueError, RecursionError):  # e.g. an integer of more than 4,300 digits
            text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit] + "…"


def model_name_problem(name: Any) -> str | None:
    """Why ``name`` cannot be a model's name, or ``None`` when it can."""
    import unicodedata

    if isinstance(name, str) and name.strip() and len(name) <= MAX_TEXT \
            and not any(unicodedata.category(ch) in _BAD_NAME_CATEGORIES for ch in name):
        return None
    return (f"expected a non-empty string of at most {MAX_TEXT:,} characters, without control characters, line "
            f"breaks or lone surrogates, got {json_text(name, 80)}")


def check_model_name(name: Any) -> str:
    """``name`` if it can be a model's name; else :class:`ArchitectureError` saying why."""
    problem = model_name_problem(name)
    if problem is not None:
        raise ArchitectureError(f"model name: {problem}")
    return name
