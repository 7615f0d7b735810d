"""Import of ONNX models of any graph shape: an :class:`Architecture` and its weights in Keras (channels-last)
layout.

Each ONNX operator becomes one layer named after its node (sanitised), wired to the layers that produce its
inputs, so the model stack reads like the ONNX graph (branches, skip connections and concatenations included);
activations stay separate ``Activation`` layers rather than being fused into the layer before them.
A few things are merged or translated because CNN Explorer has no layer for them on their own:

- a ``Pad`` of zeros right before a ``Conv`` (or an ``AveragePool`` that counts padding) becomes that layer's
  padding, and a ``Pad`` of -inf right before a ``MaxPool`` becomes the pool's padding; any other zero ``Pad``
  becomes a ``ZeroPadding2D`` layer;
- ``MatMul`` (or ``Conv``) followed by ``Add`` of a constant is one layer (the ``Add`` is its bias) when
  nothing else reads the product;
- ``x · Sigmoid(x)`` (PyTorch's SiLU) is one ``silu`` activation;
- ``Add``, ``Sub``, ``Mul`` and ``Div`` of a constant (a number, or one per channel) become a ``Rescaling``
  layer; of two computed tensors (``Add``, ``Sub``, ``Mul``, ``Max``, ``Min``, ``Sum``, ``Mean``), the merge
  layer of the same name, with NumPy broadcasting (squeeze-and-excitation's (1, C, 1, 1) × (1, C, H, W));
- ``Resize`` / ``Upsample`` by whole factors becomes ``UpSampling2D`` (nearest, or linear with half-pixel
  centres as bilinear); ``ConvTranspose`` becomes ``Conv2DTranspose`` (plus a ``Cropping2D`` where ONNX's pads
  are not one of Keras' two paddings);
- ``Reshape`` / ``Flatten`` / ``Squeeze`` / ``Unsqueeze`` become ``Flatten`` (N, C, H, W) → (N, C·H·W) or
  ``Reshape`` (N, C) → (N, C, 1, 1), and disappear where they change nothing;
- nodes whose inputs are all constants (``Constant``, shape arithmetic feeding ``Reshape``) are evaluated
  (with ``onnx.reference``) and ``Shape`` of a computed tensor is known, so ``x.view(x.size(0), -1)`` works.

Layout: ONNX tensors are NCHW, ours are (H, W, C) without the batch axis.  Convolution kernels
(F, C/groups, kh, kw) become (kh, kw, C/groups, F); after an ONNX ``Flatten`` the values come in (C, H, W)
order while ours come in (H, W, C) order, so the rows of the next ``Gemm``/``MatMul`` weight (and any
per-feature ``BatchNormalization`` vectors or constants) are permuted to match.  The last activation of a
model that ends in a flattened spatial tensor (no Dense after the Flatten) is therefore in (H, W, C) order.
Layers the model's output does not depend on are left out.

Every problem raises :class:`ArchitectureFileError` naming the file, the node (``node[3] 'conv1' (Conv)``) and
what is wrong, including unsupported operators.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..engine.weights import not_a_regular_file, weight_array
from ..model.architecture import INPUT, Architecture, check_input_shape
from ..model.args import MAX_NAME_LENGTH
from ..model.errors import ArchitectureError, ArchitectureFileError, LayerArgumentError
from ..model.layers import (Activation, Add, Average, AveragePooling2D, BatchNormalization, Concatenate, Conv2D,
                            Conv2DTranspose, Cropping2D, Dense, DepthwiseConv2D, Dropout, Flatten,
                            GlobalAveragePooling2D, GlobalMaxPooling2D, Layer, LocalResponseNormalization, Maximum,
                            MaxPooling2D, Minimum, Multiply, ReLU, Rescaling, Reshape, ShapeError, Subtract,
                            UpSampling2D, ZeroPadding2D, keras_auto_name, transpose_axis)
from ..model.summary import format_bytes
from ._child import READ_SECONDS, allow_more_memory, child_code, run_reader
from ._deps import require

Weights = dict[str, np.ndarray]
Pads = tuple[tuple[int, int], tuple[int, int]]  # ((top, bottom), (left, right))

SUPPORTED_OPS = (
    "Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "ReduceMean",
    "ReduceMax", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Sum", "Mean", "Max", "Min", "Concat", "Relu",
    "LeakyRelu", "Elu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Softplus", "Softmax", "Clip", "Gelu",
    "BatchNormalization", "LRN", "Dropout", "Pad", "Resize", "Upsample", "Flatten", "Reshape", "Squeeze",
    "Unsqueeze", "Identity", "Constant", "Shape",
)
_FOLD_SLACK = 16 * 1024 ** 2  # constants that folding may make beyond 8× the model's own tensor data
_FLOAT_TYPES = {1: "FLOAT", 10: "FLOAT16", 11: "DOUBLE", 16: "BFLOAT16"}
_GENERIC_GRAPH_NAMES = {"", "main_graph", "torch_jit", "torch-jit-export", "graph", "tf2onnx"}
# The AttributeProto type of every attribute the converter reads (by name, or by (operator, name) where one name
# has different types in different operators).  1 FLOAT, 2 INT, 3 STRING, 6 FLOATS, 7 INTS, as in
# onnx.AttributeProto.
_FLOAT, _INT, _STRING, _FLOATS, _INTS = 1, 2, 3, 6, 7
_ATTRIBUTE_TYPES = {
    **dict.fromkeys(("group", "ceil_mode", "count_include_pad", "keepdims", "transA", "transB", "axis", "allowzero",
                     "training_mode", "spatial", "size", "start", "end", "exclude_outside", "antialias"), _INT),
    **dict.fromkeys(("alpha", "beta", "epsilon", "momentum", "bias", "min", "max", "ratio", ("Pad", "value"),
                     "cubic_coeff_a", "extrapolation_value"), _FLOAT),
    **dict.fromkeys(("auto_pad", "mode", "approximate", "coordinate_transformation_mode", "nearest_mode",
                     "keep_aspect_ratio_policy"), _STRING),
    **dict.fromkeys(("kernel_shape", "strides", "dilations", "pads", "paddings", "axes", "shape", "output_padding",
                     "output_shape"), _INTS),
    ("Upsample", "scales"): _FLOATS,
}
_TYPE_WORDS = {"FLOAT": "a number (FLOAT)", "INT": "an integer (INT)", "STRING": "a string (STRING)",
               "INTS": "a list of integers (INTS)", "TENSOR": "a tensor (TENSOR)", "FLOATS": "a list of numbers "
               "(FLOATS)", "STRINGS": "a list of strings (STRINGS)", "GRAPH": "a graph (GRAPH)"}
# merges of two or more computed tensors, by ONNX operator
_MERGES: dict[str, type[Layer]] = {"Add": Add, "Sum": Add, "Sub": Subtract, "Mul": Multiply, "Mean": Average,
                                   "Max": Maximum, "Min": Minimum}
# Resize coordinate modes under which a whole-factor enlargement is Keras' UpSampling2D
_NEAREST_REPEATS = {("asymmetric", "floor"), ("half_pixel", "round_prefer_floor"),
                    ("half_pixel", "round_prefer_ceil"), ("pytorch_half_pixel", "round_prefer_floor"),
                    ("pytorch_half_pixel", "round_prefer_ceil")}
_HALF_PIXEL = ("half_pixel", "pytorch_half_pixel")


def load_onnx(path: str | os.PathLike) -> tuple[Architecture, Weights]:
    """Read an ONNX file into ``(architecture, weights)``.

    ``weights`` maps ``"<layer name>/<weight name>"`` to read-only float32 arrays in Keras layout, ready for
    ``Runner().run(arch, x, weights)``; running the architecture on an (H, W, C) input gives what the ONNX
    model gives on the same input transposed to (1, C, H, W).

    The file is parsed and converted in a child process (see :func:`_read_isolated`): a file that crashes the
    ONNX library, keeps it busy past :data:`READ_SECONDS` or makes it allocate without end is refused with a
    one-line :class:`ArchitectureFileError`, and this process's threads keep running meanwhile.
    """
    if importlib.util.find_spec("onnx") is None:  # found without importing it here: the child imports it
        require("onnx", "ONNX import", "onnx")  # raises MissingDependencyError, saying what to install
    where = str(path)
    _check_file(path, where)
    return _read_isolated(path, where)


def convert_onnx_model(model, where: str = "<onnx model>", default_name: str = "model") -> tuple[Architecture,
                                                                                                  Weights]:
    """Convert an in-memory ``onnx.ModelProto`` (in this process); ``where`` names it in error messages."""
    onnx = require("onnx", "ONNX import", "onnx")
    return _Converter(onnx, model, where, default_name).convert()


#: The child's program (tests replace it to simulate a reader that hangs or crashes).
_CHILD = child_code("cnnexplorer.interop.onnx_import", "_child_main", "onnx", "onnx.shape_inference")
_PARSE_MEMORY = 1024 ** 3  # beyond the libraries: protobuf's working memory, shape inference, folded constants
_MEMORY_PER_BYTE = 32  # per byte of the file: parsed (packed integers grow 8×), converted, transposed, written


def _read_isolated(path, where: str) -> tuple[Architecture, Weights]:
    """Parse and convert the file in a child process with a time and memory limit (:mod:`._child`).

    Protobuf's parser and ONNX's C++ shape inference hold the GIL for long stretches on a large model (a GUI
    thread waited up to 0.35 s while a worker thread imported DenseNet-121: benchmarks/bench_window_reads.py)
    and can crash on a hostile one (a 105-byte model with a ``RegexFullMatch`` node of no input segfaults ONNX
    1.23's shape inference; found by fuzzing).  The child writes the architecture (our JSON) and the weights
    (.npz); they are read back here with the checks of :func:`~cnnexplorer.model.files.load_architecture` and
    :func:`~cnnexplorer.engine.weights.load_weights`."""
    from ..engine.errors import EngineInputError
    from ..engine.weights import check_weights
    from ..engine.weights import load_weights as load_npz
    from ..model.files import load_architecture

    memory = _PARSE_MEMORY + _MEMORY_PER_BYTE * os.path.getsize(path)
    with tempfile.TemporaryDirectory(prefix="cnnexplorer-onnx-") as folder:
        arch_path, weights_path = os.path.join(folder, "model.json"), os.path.join(folder, "weights.npz")
        run_reader(_CHILD, [os.fspath(path), arch_path, weights_path], results=[arch_path, weights_path],
                   memory=memory, seconds=READ_SECONDS, library="ONNX library",
                   fail=lambda problem: ArchitectureFileError(where, "", problem))
        try:
            arch = load_architecture(arch_path)
            weights = load_npz(weights_path, arch)
            check_weights(arch, weights, where)
        except ArchitectureFileError as exc:
            raise ArchitectureFileError(where, "", f"the converted model cannot be used: "
                                                   f"{exc.place + ': ' if exc.place else ''}{exc.problem}") from None
        except EngineInputError as exc:
            problem = str(exc).replace(f"{weights_path}: ", "").replace(f"{where}: ", "")
            raise ArchitectureFileError(where, "", f"the converted weights cannot be used: {problem}") from None
    return arch, weights


def _child_main(path: str, arch_path: str, weights_path: str) -> None:
    """The child's side of :func:`_read_isolated`: the model of ``path`` converted and written to ``arch_path``
    (JSON) and ``weights_path`` (.npz); refusals are raised."""
    from ..engine.weights import save_weights
    from ..model.files import dumps

    arch, weights = _load_here(path)
    with open(arch_path, "w", encoding="utf-8") as f:
        f.write(dumps(arch))
    save_weights(weights, weights_path)


def _load_here(path) -> tuple[Architecture, Weights]:
    """What :func:`load_onnx` does, in this process (the child's work)."""
    onnx = require("onnx", "ONNX import", "onnx")
    model = _read_model(onnx, path)
    return convert_onnx_model(model, str(path), default_name=Path(path).stem)


def _check_file(path, where: str) -> None:
    problem = not_a_regular_file(path)
    if problem:  # before opening: a FIFO would block forever
        raise ArchitectureFileError(where, "", problem)
    if os.path.getsize(path) == 0:
        raise ArchitectureFileError(where, "", "the file is empty (expected an ONNX model)")


def _read_model(onnx, path):
    where = str(path)
    _check_file(path, where)
    try:
        model = onnx.load_model(os.fspath(path), load_external_data=False)
    except Exception as exc:  # the protobuf parser raises many kinds
        if type(exc).__name__ == "DecodeError":
            raise ArchitectureFileError(where, "", "not an ONNX model: the data cannot be parsed (a different kind "
                                                   "of file, or a truncated download?)") from None
        raise ArchitectureFileError(where, "", f"not a readable ONNX model ({type(exc).__name__}: {exc})") from None
    if model.ir_version <= 0 or not model.HasField("graph") or not (model.graph.node or model.graph.input):
        raise ArchitectureFileError(where, "", "not an ONNX model (it has no IR version or no graph)")
    _load_external_data(onnx, model, Path(path).resolve().parent, where)
    return model


def _tensors(graph):
    """Every TensorProto of ``graph``: initializers and node attributes, subgraphs included, with a place."""
    for i, init in enumerate(graph.initializer):
        yield f"graph.initializer[{i}] {init.name!r}", init
    for i, node in enumerate(graph.node):
        for a in node.attribute:
            place = f"node[{i}] {node.name!r} attribute {a.name!r}"
            if a.HasField("t"):
                yield place, a.t
            yield from ((place, t) for t in a.tensors)
            for g in (*([a.g] if a.HasField("g") else []), *a.graphs):
                yield from _tensors(g)


def _load_external_data(onnx, model, folder: Path, where: str) -> None:
    """Read the tensors kept in files beside the model, each checked before it is read: inside the model's
    folder, a regular file (not a FIFO), holding at least the bytes its dims declare, and all of them together
    within the memory budget."""
    from ..engine.runner import default_memory_budget

    pending, total = [], 0
    for place, tensor in _tensors(model.graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {entry.key: entry.value for entry in tensor.external_data}
        target = (folder / info.get("location", "")).resolve()
        if not info.get("location") or folder not in target.parents:
            raise ArchitectureFileError(where, place, f"its external data {info.get('location', '')!r} is not a "
                                                      f"file in the model's folder")
        problem = not_a_regular_file(target)
        if problem:
            raise ArchitectureFileError(where, place, f"its external data file {info['location']!r} {problem}")
        try:
            offset = int(info.get("offset", 0))
            available = target.stat().st_size - offset
            length = int(info["length"]) if "length" in info else available
        except ValueError:
            raise ArchitectureFileError(where, place, "its external data has a non-numeric offset or length") from None
        elements = math.prod(tensor.dims)
        if offset < 0 or length < 0 or length > available:
            raise ArchitectureFileError(where, place, f"its external data claims {length:,} bytes at offset "
                                                      f"{offset:,}, but {info['location']!r} holds "
                                                      f"{target.stat().st_size:,}")
        if elements > 4 * length:
            raise ArchitectureFileError(where, place, f"declares {elements:,} values but its external data holds "
                                                      f"{length:,} bytes")
        pending.append((place, tensor, str(target.relative_to(folder)), offset, length))
        total += length
    budget = default_memory_budget()
    if total > budget:
        raise ArchitectureFileError(where, "graph", f"its external data would take {format_bytes(total)}, more than "
                                                    f"the {format_bytes(budget)} memory budget")
    allow_more_memory(_MEMORY_PER_BYTE * total)  # in the child: the data checked above may be converted
    for place, tensor, location, offset, length in pending:
        del tensor.external_data[:]  # exactly the bytes checked above, never "the rest of the file"
        for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
            tensor.external_data.add(key=key, value=value)
        try:
            onnx.external_data_helper.load_external_data_for_tensor(tensor, str(folder))
        except Exception as exc:  # the file changed meanwhile, or onnx's own checks refuse it
            raise ArchitectureFileError(where, place, f"its external data cannot be read ({exc})") from None


@dataclass(eq=False)
class _Tensor:
    """A computed ONNX tensor as CNN Explorer sees it.

    ``source`` is the layer that produces it (or ``"input"``); ``shape`` is ours, (H, W, C) or (F,);
    ``perm`` maps a flat tensor's ONNX positions to ours (``None``: the same order).  A ``Pad`` not yet applied
    has ``pad`` set (and ``shape`` includes it): a ``Conv``/pool that reads it takes the padding over, anything
    else makes it a ``ZeroPadding2D`` layer (once, shared by every reader).  ``fresh``: the direct output of a
    layer that may still take a bias."""

    source: str
    shape: tuple[int, ...]
    perm: np.ndarray | None = None
    pad: "_PendingPad | None" = None
    fresh: bool = False


@dataclass
class _PendingPad:
    """A ``Pad`` waiting to see whether the layer reading it can absorb it."""

    base: _Tensor  # the tensor before padding
    pads: Pads
    value: float
    name: str  # the Pad node's name (the ZeroPadding2D layer's, if it becomes one)
    place: str
    done: _Tensor | None = None  # the ZeroPadding2D layer's output, once made


def _text(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _onnx_shape(t: _Tensor) -> list[int]:
    """The tensor's ONNX shape with batch 1: (1, C, H, W) or (1, n)."""
    if len(t.shape) == 3:
        h, w, c = t.shape
        return [1, c, h, w]
    return [1, *t.shape]


def _shape_text(shape) -> str:
    return "(" + ", ".join(map(str, shape)) + ")"


class _Converter:
    def __init__(self, onnx, model, where: str, default_name: str):
        self.onnx = onnx
        self.model = model
        self.graph = model.graph
        self.where = where
        self.default_name = default_name
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
        if self.opset is None:
            self.fail("opset_import", "the model imports no version of the standard ONNX operator set")
        self.consts: dict[str, np.ndarray] = {}
        self.tensors: dict[str, _Tensor] = {}
        self.layers: list[Layer] = []
        self.index: dict[str, int] = {}
        self.inputs: dict[str, tuple[str, ...]] = {}
        self.weights: Weights = {}
        self.names: set[str] = {INPUT}
        self.consumers: dict[str, int] = {}
        for node in self.graph.node:
            for name in node.input:
                self.consumers[name] = self.consumers.get(name, 0) + 1
        self.graph_outputs = {o.name for o in self.graph.output}
        self.inferred = self._inferred_shapes()

    def fail(self, place: str, problem: str):
        raise ArchitectureFileError(self.where, place, problem)

    def _array(self, tensor, place: str) -> np.ndarray:
        elements, stored = math.prod(tensor.dims), tensor.ByteSize()
        if elements > 4 * stored + 16:  # no data type packs more than 4 values in a byte (2-bit integers)
            self.fail(place, f"declares {elements:,} values ({'×'.join(map(str, tensor.dims))}) but holds "
                             f"{stored:,} bytes of data")
        try:
            return np.asarray(self.onnx.numpy_helper.to_array(tensor))
        except Exception as exc:  # unsupported data types, missing external data, inconsistent sizes
            self.fail(place, f"cannot read the tensor ({type(exc).__name__}: {exc})")

    def _inferred_shapes(self) -> dict[str, list]:
        """ONNX's own shape inference, used to double-check every converted layer (best effort)."""
        helper, g = self.onnx.helper, self.graph
        try:
            # large initializers (the weights) are declared by type and shape only, so that a big model is not
            # copied whole for a cross-check; small ones (shapes, axes) keep their values
            declared = {vi.name for vi in g.input}
            small, typed = [], []
            for init in g.initializer:
                size = int(np.prod(init.dims)) if len(init.dims) else 1
                if size <= 4096 and not init.external_data:
                    small.append(init)
                elif init.name not in declared:
                    typed.append(helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
            light = helper.make_model(
                helper.make_graph(list(g.node), g.name or "graph", [*g.input, *typed], list(g.output),
                                  initializer=small, value_info=list(g.value_info)),
                opset_imports=list(self.model.opset_import), ir_version=self.model.ir_version)
            inferred = self.onnx.shape_inference.infer_shapes(light)
        except Exception:  # shape inference is only a cross-check
            return {}
        shapes = {}
        for vi in (*inferred.graph.value_info, *inferred.graph.output):
            if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
                shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else None
                                   for d in vi.type.tensor_type.shape.dim]
        return shapes

    def _attrs(self, node, place: str) -> dict[str, Any]:
        """The node's attributes as Python values, each of the type the ONNX operator defines for it (an Elu
        ``alpha`` of ``"abc"`` or a Softmax ``axis`` given as a tensor is refused here, naming the node)."""
        kinds = self.onnx.AttributeProto
        attrs = {}
        for a in node.attribute:
            expected = _ATTRIBUTE_TYPES.get((node.op_type, a.name), _ATTRIBUTE_TYPES.get(a.name))
            if expected is not None and a.type != expected and not (expected == kinds.FLOAT and a.type == kinds.INT):
                got = kinds.AttributeType.Name(a.type) if a.type in kinds.AttributeType.values() else str(a.type)
                self.fail(place, f"attribute {a.name!r} must be {_TYPE_WORDS[kinds.AttributeType.Name(expected)]}, "
                                 f"got {_TYPE_WORDS.get(got, got)}")
            try:
                value = self.onnx.helper.get_attribute_value(a)
            except Exception as exc:
                self.fail(place, f"attribute {a.name!r} cannot be read ({exc})")
            if expected == kinds.FLOAT:
                value = float(value)
                if not math.isfinite(value):
                    self.fail(place, f"attribute {a.name!r} must be a finite number, got {value}")
            attrs[a.name] = [_text(v) for v in value] if isinstance(value, list) else _text(value)
        return attrs

    def _scalar(self, array: np.ndarray, place: str, what: str) -> float:
        """A one-value constant input (Clip's min and max, Dropout's ratio) as a float."""
        if array.size != 1 or array.dtype.kind not in "biuf":
            self.fail(place, f"its {what} must be a single number, got a {array.dtype} tensor of shape "
                             f"{tuple(array.shape)}")
        return float(array.reshape(-1)[0])

    def _const(self, node, index: int, place: str, what: str, required: bool = True) -> np.ndarray | None:
        if index >= len(node.input) or not node.input[index]:
            if required:
                self.fail(place, f"has no {what} input")
            return None
        name = node.input[index]
        if name not in self.consts:
            self.fail(place, f"its {what} ({name!r}) must be a constant (an initializer or Constant node), "
                             f"but it is computed")
        return self.consts[name]


    def _pair(self, attrs, name: str, place: str, default=(1, 1)) -> tuple[int, int]:
        value = attrs.get(name)
        if value is None:
            return tuple(default)
        if not isinstance(value, list) or len(value) != 2:
            self.fail(place, f"{name}={value}: only 2-D windows (two values) are supported")
        return (int(value[0]), int(value[1]))

    def _need_spatial(self, place: str, op: str, t: _Tensor):
        if len(t.shape) != 3:
            self.fail(place, f"{op} needs an (N, C, H, W) input, but receives a flat (N, {t.shape[0]}) tensor")

    def _need_flat(self, place: str, op: str, t: _Tensor):
        if len(t.shape) != 1:
            h, w, c = t.shape
            self.fail(place, f"{op} needs a flat (N, features) input, but receives (N, {c}, {h}, {w}); "
                             f"flatten it first")

    def _layer_name(self, node, cls: type[Layer]) -> str:
        base = re.sub(r"[^A-Za-z0-9_.\-]+", "_", node.name).strip("_.-")[:MAX_NAME_LENGTH - 8]
        base = base or keras_auto_name(cls.type_name)
        name, n = base, 0
        while name in self.names:
            n += 1
            name = f"{base}_{n}"
        return name

    @staticmethod
    def _unpermute(t: _Tensor, array: np.ndarray) -> np.ndarray:
        """Rows (or entries) of a flat tensor's weights in ONNX order → ours."""
        if t.perm is None or len(t.shape) != 1:
            return array
        out = np.empty_like(array)
        out[t.perm] = array
        return out

    # --- layers ---------------------------------------------------------------------------------------
    def _emit(self, node, place: str, cls: type[Layer], kwargs: dict[str, Any], inputs: list[_Tensor],
              weights: dict[str, np.ndarray | None] | None = None, name: str | None = None) -> _Tensor:
        """Append a layer reading ``inputs`` (pending pads among them become ZeroPadding2D first); its output."""
        inputs = [self._plain(t) for t in inputs]
        try:
            layer = cls(name=name or self._layer_name(node, cls), **kwargs)
        except LayerArgumentError as exc:
            self.fail(place, f"cannot become a {cls.type_name} layer: {exc}")
        shapes = [t.shape for t in inputs]
        try:
            if len(inputs) == 1:
                out_shape = layer.output_shape(shapes[0])
            else:
                out_shape = layer.output_shape_of(shapes, [t.source for t in inputs])
            if any(d < 1 for d in out_shape):
                raise ShapeError(f"the output shape {out_shape} has an empty axis")
        except ShapeError as exc:
            self.fail(place, f"{cls.type_name}: {exc}")
        for weight_name, (shape, _) in layer.weight_shapes(shapes[0]).items():
            self._store(place, layer.name, weight_name, (weights or {}).get(weight_name), shape)
        self.index[layer.name] = len(self.layers)
        self.layers.append(layer)
        self.inputs[layer.name] = tuple(t.source for t in inputs)
        self.names.add(layer.name)
        return _Tensor(layer.name, tuple(out_shape), fresh=True)

    def _store(self, place: str, layer_name: str, weight_name: str, array, shape):
        if array is None or tuple(array.shape) != tuple(shape):
            found = "nothing" if array is None else f"shape {tuple(array.shape)}"
            self.fail(place, f"weight {weight_name!r} should have shape {tuple(shape)}, found {found}")
        try:
            array = weight_array(array)
        except ValueError as exc:
            self.fail(place, f"weight {weight_name!r} {exc}")
        self.weights[f"{layer_name}/{weight_name}"] = array

    def _set(self, node, place: str, t: _Tensor):
        """``t`` is what the node computes; checked against ONNX's own shape inference where it has one."""
        self.tensors[node.output[0]] = t
        dims = self.inferred.get(node.output[0])
        if dims is None:
            return
        ours = _onnx_shape(t)
        if len(dims) != len(ours) or any(d is not None and d != o for d, o in zip(dims[1:], ours[1:])):
            shown = ", ".join("?" if d is None else str(d) for d in dims)
            self.fail(place, f"CNN Explorer computes an output of shape ({', '.join(map(str, ours))}) here, "
                             f"ONNX ({shown})")

    def _layer(self, node, place, cls, kwargs, t: _Tensor, weights=None) -> None:
        """The common case: one layer on one input, its output the node's output."""
        self._set(node, place, self._emit(node, place, cls, kwargs, [t], weights))

    def _alias(self, t: _Tensor) -> _Tensor:
        """The same values under another ONNX name (no longer a layer's direct output for bias folding)."""
        return _Tensor(t.source, t.shape, t.perm, t.pad, fresh=False)

    # --- the walk -------------------------------------------------------------------------------------
    def convert(self) -> tuple[Architecture, Weights]:
        for i, init in enumerate(self.graph.initializer):
            self.consts[init.name] = self._array(init, f"graph.initializer[{i}] {init.name!r}")
        self.fold_allowance = _FOLD_SLACK + 8 * sum(a.nbytes for a in self.consts.values()) \
            + 8 * sum(a.t.ByteSize() for node in self.graph.node for a in node.attribute if a.HasField("t"))
        self.fold_budget = self.fold_allowance
        if len(self.graph.sparse_initializer):
            self.fail("graph.sparse_initializer", "sparse initializers are not supported")
        input_shape = self._read_input()
        if not self.graph.node:
            self.fail("graph.node", "the graph has no operators")
        for i, node in enumerate(self.graph.node):
            self._node(i, node)
        outputs = [o.name for o in self.graph.output]
        if len(outputs) != 1:
            self.fail("graph.output", f"the model has {len(outputs)} outputs ({', '.join(map(repr, outputs))}); "
                                      f"only models with one output are supported")
        out = self.tensors.get(outputs[0])
        if out is None:
            self.fail("graph.output", f"the output {outputs[0]!r} is not computed by any node (or is a constant)")
        out = self._plain(out)
        if out.source == INPUT:
            self.fail("graph.output", f"the output {outputs[0]!r} is the model input itself; there are no layers")
        layers = self._needed(out.source)
        name = self.graph.name if self.graph.name not in _GENERIC_GRAPH_NAMES else self.default_name
        try:
            arch = Architecture(input_shape, layers, name=name or "model",
                                inputs={layer.name: self.inputs[layer.name] for layer in layers})
        except ArchitectureError as exc:  # pragma: no cover - names are unique and the walk is topological
            self.fail("graph", str(exc))
        bad = arch.first_error
        if bad is not None:  # pragma: no cover - every layer's shape was checked while converting
            self.fail("graph", f"layer {bad.index} '{bad.name}' cannot be computed: {bad.error}")
        return arch, self.weights

    def _needed(self, output: str) -> list[Layer]:
        """The layers ``output`` depends on (itself included), in order; the others' weights are dropped."""
        keep, stack = set(), [output]
        while stack:
            name = stack.pop()
            if name != INPUT and name not in keep:
                keep.add(name)
                stack.extend(self.inputs[name])
        for key in [k for k in self.weights if k.split("/", 1)[0] not in keep]:
            del self.weights[key]
        return [layer for layer in self.layers if layer.name in keep]

    def _read_input(self) -> tuple[int, ...]:
        inputs = [vi for vi in self.graph.input if vi.name not in self.consts]
        if len(inputs) != 1:
            names = ", ".join(repr(vi.name) for vi in inputs) or "none"
            self.fail("graph.input", f"expected one input tensor, found {len(inputs)} ({names})")
        vi = inputs[0]
        place = f"graph.input {vi.name!r}"
        if not vi.type.HasField("tensor_type"):
            self.fail(place, "the input is not a tensor")
        tt = vi.type.tensor_type
        if tt.elem_type not in _FLOAT_TYPES:
            type_name = self.onnx.TensorProto.DataType.Name(tt.elem_type) if tt.elem_type else "undefined"
            self.fail(place, f"the input has element type {type_name}; only floating-point inputs are supported")
        if not tt.HasField("shape"):
            self.fail(place, "the input has no shape; CNN Explorer needs a fixed input shape (N, C, H, W)")
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tt.shape.dim]
        shown = "(" + ", ".join(map(str, dims)) + ")"
        if len(dims) not in (2, 4):
            self.fail(place, f"expected an (N, C, H, W) image input, got shape {shown}")
        if any(not isinstance(d, int) or d < 1 for d in dims[1:]):
            self.fail(place, f"the input shape {shown} has a dynamic size; CNN Explorer needs a fixed "
                             f"(N, C, H, W) input (export the model with a fixed height and width)")
        shape = (dims[2], dims[3], dims[1]) if len(dims) == 4 else (dims[1],)
        try:
            shape = check_input_shape(shape)
        except LayerArgumentError as exc:
            self.fail(place, f"input shape {shown}: expected {exc.expected}")
        self.tensors[vi.name] = _Tensor(INPUT, tuple(shape))
        return shape

    def _node(self, i: int, node):
        op = node.op_type
        place = f"node[{i}] {node.name!r} ({op})" if node.name else f"node[{i}] ({op})"
        if node.domain not in ("", "ai.onnx"):
            self.fail(place, f"unsupported operator {node.domain}.{op}; only the standard ONNX operators "
                             f"{', '.join(SUPPORTED_OPS)} are supported")
        data = [n for n in node.input if n and n not in self.consts]
        if not node.output or not node.output[0]:
            self.fail(place, "the node has no output")
        unknown = [n for n in data if n not in self.tensors]
        if unknown:
            self.fail(place, f"takes {unknown[0]!r}, which no earlier node computes (the graph is not in "
                             f"topological order, or the tensor does not exist)")
        if op == "Shape" and len(data) == 1:
            self._shape(node, place, self.tensors[data[0]])
            return
        if not data:
            self._fold(node, place)
            return
        handler = getattr(self, f"_op_{op}", None)
        if handler is None:
            self.fail(place, f"unsupported ONNX operator {op!r}; supported: {', '.join(SUPPORTED_OPS)}")
        for extra in node.output[1:]:
            if extra and (extra in self.consumers or extra in self.graph_outputs):
                self.fail(place, f"its extra output {extra!r} is used; only the main output is supported")
        xs = [self.tensors[n] for n in data]
        if op not in ("Add", "Sub", "Mul", "Div") and op not in _MERGES and op != "Concat":
            if len(xs) > 1:
                self.fail(place, f"takes {len(xs)} computed inputs ({', '.join(map(repr, data))}); {op} is "
                                 f"supported on one computed tensor with constant parameters")
            if node.input[0] != data[0]:
                self.fail(place, f"the computed tensor must be its first input, got {list(node.input)}")
        handler(node, place, self._attrs(node, place), xs)

    def _shape(self, node, place, t: _Tensor):
        attrs = self._attrs(node, place)
        shape = _onnx_shape(t)
        start, end = attrs.get("start", 0), attrs.get("end")
        self.consts[node.output[0]] = np.array(shape[start:end], dtype=np.int64)
    def _fold(self, node, place):
        """Evaluate a node whose inputs are all constants (Constant, shape arithmetic) with onnx.reference, once
        ONNX shape inference has said how large its results are: together they may take at most
        ``_FOLD_SLACK`` plus 8 times the model's own tensor data (a 200-byte ConstantOfShape asking for 1 GB
        is refused before anything is allocated)."""
        helper, reference = self.onnx.helper, require("onnx.reference", "ONNX import", "onnx")
        if any(a.HasField("g") or len(a.graphs) for a in node.attribute):
            self.fail(place, "control flow (subgraphs) on constants is not supported")
        inputs = [n for n in node.input if n]
        initializers = [self.onnx.numpy_helper.from_array(self.consts[n], n) for n in dict.fromkeys(inputs)]
        outputs = [self.onnx.ValueInfoProto(name=n) for n in node.output if n]
        graph = helper.make_graph([node], "fold", [], outputs, initializer=initializers)
        model = helper.make_model(graph, opset_imports=list(self.model.opset_import))
        self.fold_budget -= self._fold_bytes(model, place)
        if self.fold_budget < 0:
            self.fail(place, f"this constant computation would make more than "
                             f"{format_bytes(self.fold_allowance)} of constants; refused before evaluating it")
        try:
            values = reference.ReferenceEvaluator(model).run(None, {})
        except Exception as exc:  # any operator the reference cannot evaluate on these constants
            self.fail(place, f"cannot evaluate this constant computation ({type(exc).__name__}: {exc})")
        for name, value in zip((n for n in node.output if n), values):
            self.consts[name] = np.asarray(value)

    def _fold_bytes(self, model, place) -> int:
        """The bytes a one-node constant model's outputs will take, from ONNX shape inference."""
        try:
            inferred = self.onnx.shape_inference.infer_shapes(model, data_prop=True)
        except Exception as exc:  # inference errors: inconsistent constants, unknown operators
            self.fail(place, f"cannot evaluate this constant computation ({type(exc).__name__}: "
                             f"{' '.join(str(exc).split())[:200]})")
        total = 0
        for vi in inferred.graph.output:
            tt = vi.type.tensor_type
            dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
            if not vi.type.HasField("tensor_type") or not tt.HasField("shape") or None in dims:
                self.fail(place, f"the size of {vi.name!r} cannot be known before evaluating it; only constant "
                                 f"computations of known size are evaluated")
            try:
                itemsize = np.dtype(self.onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type)).itemsize
            except Exception:  # an undefined or exotic element type: count the widest
                itemsize = 8
            total += math.prod(dims) * itemsize
        return total

    # --- padding --------------------------------------------------------------------------------------
    def _plain(self, t: _Tensor) -> _Tensor:
        """``t`` with a pending Pad applied: a ZeroPadding2D layer, made once however many layers read it."""
        pending = t.pad
        if pending is None:
            return t
        if pending.done is None:
            if pending.value != 0:
                self.fail(pending.place, "a Pad of -inf is only supported right before a MaxPool (as its padding)")
            out = self._emit(_Named(pending.name), pending.place, ZeroPadding2D, {"padding": pending.pads},
                             [pending.base])
            pending.done = _Tensor(out.source, out.shape)
        return pending.done

    def _absorb(self, t: _Tensor, value: float, fits=lambda pads: True) -> tuple[_Tensor, Pads]:
        """The tensor a window layer reads and the padding it takes over from a pending Pad of ``value``."""
        if t.pad is not None and t.pad.value == value and fits(t.pad.pads):
            return t.pad.base, t.pad.pads
        return self._plain(t), ((0, 0), (0, 0))

    def _window_pads(self, attrs, place: str, kernel, strides, dilation, t: _Tensor) -> Pads:
        """The layer's own padding (auto_pad resolved on the input it reads, a pending Pad included)."""
        auto = attrs.get("auto_pad", "NOTSET") or "NOTSET"
        if auto == "NOTSET":
            pads = attrs.get("pads", [0, 0, 0, 0])
            if len(pads) != 4:
                self.fail(place, f"pads={pads}: expected four values [top, left, bottom, right]")
            if any(p < 0 for p in pads):
                self.fail(place, f"pads={pads}: negative padding is not supported")
            return (pads[0], pads[2]), (pads[1], pads[3])
        if auto == "VALID":
            return (0, 0), (0, 0)
        if auto not in ("SAME_UPPER", "SAME_LOWER"):
            self.fail(place, f"auto_pad={auto!r} is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER")
        out = []
        for n, k, s, d in zip(t.shape[:2], kernel, strides, dilation):
            total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
            small, big = total // 2, total - total // 2
            out.append((small, big) if auto == "SAME_UPPER" else (big, small))
        return out[0], out[1]

    @staticmethod
    def _add(a: Pads, b: Pads) -> Pads:
        return (a[0][0] + b[0][0], a[0][1] + b[0][1]), (a[1][0] + b[1][0], a[1][1] + b[1][1])

    @staticmethod
    def _padding_arg(pads: Pads):
        return "valid" if pads == ((0, 0), (0, 0)) else pads

    def _op_Pad(self, node, place, attrs, xs):
        t = xs[0]
        self._need_spatial(place, "Pad", t)
        mode = attrs.get("mode", "constant")
        if mode != "constant":
            self.fail(place, f"Pad mode {mode!r} is not supported; only constant padding")
        if self.opset < 11:
            pads = attrs.get("pads", attrs.get("paddings"))
            value = attrs.get("value", 0.0)
            axes = None
        else:
            pads = self._const(node, 1, place, "pads")
            value_array = self._const(node, 2, place, "constant_value", required=False)
            value = 0.0 if value_array is None or value_array.size == 0 else float(value_array.reshape(-1)[0])
            axes = self._const(node, 3, place, "axes", required=False)
        if pads is None:
            self.fail(place, "has no pads")
        pads = [int(p) for p in np.asarray(pads).reshape(-1)]
        if axes is not None:
            axes = [int(a) % 4 for a in np.asarray(axes).reshape(-1)]
            if len(pads) != 2 * len(axes):
                self.fail(place, f"pads {pads} do not match axes {axes}")
            full = [0] * 8
            for j, a in enumerate(axes):
                full[a], full[a + 4] = pads[j], pads[j + len(axes)]
            pads = full
        if len(pads) != 8:
            self.fail(place, f"pads={pads}: expected 8 values for an (N, C, H, W) tensor")
        if pads[0] or pads[1] or pads[4] or pads[5]:
            self.fail(place, f"pads={pads}: only the height and width can be padded, not the batch or channels")
        if any(p < 0 for p in pads):
            self.fail(place, f"pads={pads}: negative padding (cropping) is not supported")
        value = float(value)
        if value != 0 and value != -math.inf:
            self.fail(place, f"Pad with constant value {value:g} is not supported; only zeros (or -inf right "
                             f"before a MaxPool)")
        value = 0.0 if value == 0 else value
        new: Pads = ((pads[2], pads[6]), (pads[3], pads[7]))
        if t.pad is not None and t.pad.value == value and t.pad.done is None:
            base, new, name, first_place = t.pad.base, self._add(t.pad.pads, new), t.pad.name, t.pad.place
        else:
            base, name, first_place = self._plain(t), node.name, place
        h, w, c = base.shape
        (top, bottom), (left, right) = new
        self._set(node, place, _Tensor(base.source, (h + top + bottom, w + left + right, c),
                                       pad=_PendingPad(base, new, value, name, first_place)))

    # --- convolution and pooling ----------------------------------------------------------------------
    def _op_Conv(self, node, place, attrs, xs):
        t = xs[0]
        self._need_spatial(place, "Conv", t)
        w = self._const(node, 1, place, "weights W")
        if w.ndim != 4:
            self.fail(place, f"only 2-D convolutions are supported (weights of shape {w.shape})")
        f, cin_g, kh, kw = (int(d) for d in w.shape)
        group = int(attrs.get("group", 1))
        channels = t.shape[2]
        if group < 1 or cin_g * group != channels or f % group:
            self.fail(place, f"weights W of shape {tuple(w.shape)} with group={group} do not fit an input with "
                             f"{channels} channels")
        kernel_shape = attrs.get("kernel_shape")
        if kernel_shape is not None and tuple(kernel_shape) != (kh, kw):
            self.fail(place, f"kernel_shape={kernel_shape} does not match the weights' shape {tuple(w.shape)}")
        strides = self._pair(attrs, "strides", place)
        dilation = self._pair(attrs, "dilations", place)
        bias = self._const(node, 2, place, "bias B", required=False)
        if bias is not None:
            bias = bias.reshape(-1)
        own = self._window_pads(attrs, place, (kh, kw), strides, dilation, t)
        base, extra = self._absorb(t, 0.0)
        pads = self._add(own, extra)
        common = dict(kernel_size=(kh, kw), strides=strides, padding=self._padding_arg(pads), dilation_rate=dilation,
                      use_bias=bias is not None)
        if group == channels and group > 1:
            multiplier = f // channels
            kernel = w.reshape(channels, multiplier, kh, kw).transpose(2, 3, 0, 1)
            self._layer(node, place, DepthwiseConv2D, {**common, "depth_multiplier": multiplier}, base,
                        {"kernel": kernel, "bias": bias})
        else:
            self._layer(node, place, Conv2D, {"filters": f, **common, "groups": group}, base,
                        {"kernel": w.transpose(2, 3, 1, 0), "bias": bias})

    def _op_ConvTranspose(self, node, place, attrs, xs):
        t = self._plain(xs[0])
        self._need_spatial(place, "ConvTranspose", t)
        w = self._const(node, 1, place, "weights W")
        if w.ndim != 4:
            self.fail(place, f"only 2-D transposed convolutions are supported (weights of shape {w.shape})")
        cin, f, kh, kw = (int(d) for d in w.shape)
        if int(attrs.get("group", 1)) != 1:
            self.fail(place, f"group={attrs['group']} is not supported; only ungrouped transposed convolutions")
        if cin != t.shape[2]:
            self.fail(place, f"weights W of shape {tuple(w.shape)} do not fit an input with {t.shape[2]} channels")
        kernel_shape = attrs.get("kernel_shape")
        if kernel_shape is not None and tuple(kernel_shape) != (kh, kw):
            self.fail(place, f"kernel_shape={kernel_shape} does not match the weights' shape {tuple(w.shape)}")
        if "output_shape" in attrs:
            self.fail(place, "output_shape is not supported; give pads and output_padding instead")
        auto = attrs.get("auto_pad", "NOTSET") or "NOTSET"
        if auto not in ("NOTSET", "VALID"):
            self.fail(place, f"auto_pad={auto!r} is not supported; only explicit pads (NOTSET) or VALID")
        pads = attrs.get("pads", [0, 0, 0, 0]) if auto == "NOTSET" else [0, 0, 0, 0]
        if len(pads) != 4 or any(p < 0 for p in pads):
            self.fail(place, f"pads={pads}: expected four values [top, left, bottom, right], none negative")
        strides = self._pair(attrs, "strides", place)
        dilation = self._pair(attrs, "dilations", place)
        extra = self._pair(attrs, "output_padding", place, (0, 0))
        if any(s < 1 for s in (*strides, *dilation)) or any(not 0 <= e < max(s, d)
                                                            for e, s, d in zip(extra, strides, dilation)):
            self.fail(place, f"strides={list(strides)}, dilations={list(dilation)}, output_padding={list(extra)}: "
                             f"expected positive strides and dilations, and output_padding below them")
        axes = []  # (n, k, s, d, crop before, ONNX length, full length) per spatial axis
        for i, (n, k) in enumerate(zip(t.shape[:2], (kh, kw))):
            s, d = strides[i], dilation[i]
            full = (n - 1) * s + d * (k - 1) + 1
            out = full - pads[i] - pads[i + 2] + extra[i]
            if out < 1:
                self.fail(place, f"the output would be empty ({out} rows or columns)")
            axes.append((n, k, s, d, pads[i], out, full))
        padding, output_padding, crop = self._transpose_keras(axes)
        bias = self._const(node, 2, place, "bias B", required=False)
        kwargs = dict(filters=f, kernel_size=(kh, kw), strides=strides, padding=padding,
                      output_padding=output_padding, dilation_rate=dilation, use_bias=bias is not None)
        weights = {"kernel": w.transpose(2, 3, 1, 0), "bias": None if bias is None else bias.reshape(-1)}
        if crop is None:
            self._layer(node, place, Conv2DTranspose, kwargs, t, weights)
            return
        up = self._emit(node, place, Conv2DTranspose, kwargs, [t], weights)
        name = self._layer_name(_Named(f"{node.name or 'conv2d_transpose'}_crop"), Cropping2D)
        self._set(node, place, self._emit(node, place, Cropping2D, {"cropping": crop}, [up], name=name))

    @staticmethod
    def _transpose_keras(axes):
        """Keras' ``(padding, output_padding, cropping)`` giving ONNX's transposed convolution: one of Keras' two
        paddings when it starts and ends where ONNX does, else "valid" followed by a Cropping2D."""
        def fits(padding, op):
            return all(transpose_axis(n, k, s, d, padding, None if op is None else op[i])[0::2] == (before, out)
                       for i, (n, k, s, d, before, out, _) in enumerate(axes))

        ranges = [range(max(s, d)) if max(s, d) <= 16 else () for _, _, s, d, *_ in axes]
        for padding in ("valid", "same"):
            for op in (None, *((a, b) for a in ranges[0] for b in ranges[1])):
                if fits(padding, op):
                    return padding, op, None
        # "valid" keeps the whole transposed convolution (plus output_padding rows past it); crop ONNX's window
        need = [before + out for _, _, _, _, before, out, _ in axes]
        plain = [(n - 1) * s + max(d * (k - 1) + 1, s) for n, k, s, d, *_ in axes]
        if all(p >= q for p, q in zip(plain, need)):
            op, length = None, plain
        else:
            op = tuple(max(q - full, max(s - (d * (k - 1) + 1), 0)) for q, (_, k, s, d, _, _, full) in zip(need, axes))
            length = [full + e for e, (*_, full) in zip(op, axes)]
        crop = tuple((before, length_ - before - out) for length_, (_, _, _, _, before, out, _) in zip(length, axes))
        return "valid", op, crop

    def _pool_window(self, attrs, place, op):
        kernel = attrs.get("kernel_shape")
        if not isinstance(kernel, list) or len(kernel) != 2:
            self.fail(place, f"kernel_shape={kernel}: only 2-D pooling windows are supported")
        kernel = (int(kernel[0]), int(kernel[1]))
        strides = self._pair(attrs, "strides", place)
        if self._pair(attrs, "dilations", place) != (1, 1):
            self.fail(place, f"dilated pooling (dilations={attrs['dilations']}) is not supported")
        return kernel, strides, bool(attrs.get("ceil_mode", 0))

    _CEIL_HINT = ("; with ceil_mode, ONNX keeps a last window that starts in the padding or past the input, "
                  "CNN Explorer (like PyTorch) drops it")

    def _check_ceil(self, place: str, input_shape):
        """ONNX's ceil-mode size (without PyTorch's rule), checked even when shape inference is unavailable."""
        layer = self.layers[-1]
        if not layer.ceil_mode:
            return
        for g in layer.geometry(input_shape):
            onnx_out = -(-(g.n + g.pad_before + g.pad_after - g.kernel) // g.stride) + 1
            if onnx_out != g.out:
                self.fail(place, f"the output has {g.out} rows or columns in CNN Explorer, {onnx_out} in ONNX"
                                 + self._CEIL_HINT)

    @staticmethod
    def _pool_fits(pads: Pads, kernel) -> bool:
        return all(max(before, after) <= k // 2 for (before, after), k in zip(pads, kernel))

    def _op_MaxPool(self, node, place, attrs, xs):
        t = xs[0]
        self._need_spatial(place, "MaxPool", t)
        kernel, strides, ceil_mode = self._pool_window(attrs, place, "MaxPool")
        own = self._window_pads(attrs, place, kernel, strides, (1, 1), t)
        base, extra = self._absorb(t, -math.inf, lambda pads: self._pool_fits(self._add(own, pads), kernel))
        out = self._emit(node, place, MaxPooling2D, dict(pool_size=kernel, strides=strides,
                                                         padding=self._padding_arg(self._add(own, extra)),
                                                         ceil_mode=ceil_mode), [base])
        self._check_ceil(place, base.shape)
        self._set(node, place, out)

    def _op_AveragePool(self, node, place, attrs, xs):
        t = xs[0]
        self._need_spatial(place, "AveragePool", t)
        kernel, strides, ceil_mode = self._pool_window(attrs, place, "AveragePool")
        include = bool(attrs.get("count_include_pad", 0))
        own = self._window_pads(attrs, place, kernel, strides, (1, 1), t)
        base, extra = self._absorb(t, 0.0, lambda pads: (include or own == ((0, 0), (0, 0)))
                                   and self._pool_fits(self._add(own, pads), kernel))
        include = include or extra != ((0, 0), (0, 0))
        out = self._emit(node, place, AveragePooling2D,
                         dict(pool_size=kernel, strides=strides, padding=self._padding_arg(self._add(own, extra)),
                              ceil_mode=ceil_mode, count_include_pad=include), [base])
        self._check_ceil(place, base.shape)
        self._set(node, place, out)

    def _op_GlobalAveragePool(self, node, place, attrs, xs):
        self._need_spatial(place, "GlobalAveragePool", xs[0])
        self._layer(node, place, GlobalAveragePooling2D, {"keepdims": True}, xs[0])

    def _op_GlobalMaxPool(self, node, place, attrs, xs):
        self._need_spatial(place, "GlobalMaxPool", xs[0])
        self._layer(node, place, GlobalMaxPooling2D, {"keepdims": True}, xs[0])

    def _reduce(self, node, place, attrs, t, cls):
        op = node.op_type
        self._need_spatial(place, op, t)
        if self.opset >= 18:
            axes = self._const(node, 1, place, "axes", required=False)
        else:
            axes = attrs.get("axes")
        if axes is None or np.asarray(axes).size == 0:
            self.fail(place, f"{op} over every axis is not supported; only over the spatial axes (2, 3), as "
                             f"global pooling")
        axes = [int(a) for a in np.asarray(axes).reshape(-1)]
        if sorted(a % 4 for a in axes) != [2, 3]:
            self.fail(place, f"{op} over axes {axes} is not supported; only over the spatial axes (2, 3), as "
                             f"global pooling")
        self._layer(node, place, cls, {"keepdims": bool(attrs.get("keepdims", 1))}, t)

    def _op_ReduceMean(self, node, place, attrs, xs):
        self._reduce(node, place, attrs, xs[0], GlobalAveragePooling2D)

    def _op_ReduceMax(self, node, place, attrs, xs):
        self._reduce(node, place, attrs, xs[0], GlobalMaxPooling2D)

    # --- upsampling -----------------------------------------------------------------------------------
    def _op_Resize(self, node, place, attrs, xs):
        t = xs[0]
        op = node.op_type
        self._need_spatial(place, op, t)
        source = _onnx_shape(t)
        sizes = None
        if op == "Upsample":
            scales = attrs.get("scales") if self.opset < 9 else self._const(node, 1, place, "scales")
            coordinates, nearest = "asymmetric", "floor"  # Upsample's only rule
        else:
            if self.opset < 11:
                scales = self._const(node, 1, place, "scales")
            else:
                scales = self._const(node, 2, place, "scales", required=False)
                sizes = self._const(node, 3, place, "sizes", required=False)
            coordinates = attrs.get("coordinate_transformation_mode", "half_pixel" if self.opset >= 11 else
                                    "asymmetric")
            nearest = attrs.get("nearest_mode", "round_prefer_floor")
            if attrs.get("axes") is not None and sorted(a % 4 for a in attrs["axes"]) != [0, 1, 2, 3]:
                self.fail(place, f"axes={attrs['axes']} is not supported; give scales or sizes for all four axes")
        if scales is not None and np.asarray(scales).size == 0:
            scales = None
        if sizes is not None and np.asarray(sizes).size == 0:
            sizes = None
        if sizes is not None:
            sizes = [int(v) for v in np.asarray(sizes).reshape(-1)]
            if len(sizes) != 4:
                self.fail(place, f"sizes={sizes}: expected 4 values for an (N, C, H, W) tensor")
            factors = [b / a for a, b in zip(source, sizes)]
        elif scales is not None:
            factors = [float(v) for v in np.asarray(scales, dtype=np.float64).reshape(-1)]
            if len(factors) != 4:
                self.fail(place, f"scales={factors}: expected 4 values for an (N, C, H, W) tensor")
        else:
            self.fail(place, "has neither scales nor sizes")
        shown = ", ".join(f"{v:g}" for v in factors)
        if factors[:2] != [1.0, 1.0] or any(v < 1 or v != int(v) for v in factors[2:]):
            self.fail(place, f"scales ({shown}) are not supported; only enlarging the height and width by whole "
                             f"factors (UpSampling2D)")
        size = (int(factors[2]), int(factors[3]))
        mode = attrs.get("mode", "nearest")
        if size == (1, 1):
            self._set(node, place, self._alias(t))
            return
        if mode == "nearest":
            if (coordinates, nearest) not in _NEAREST_REPEATS:
                self.fail(place, f"nearest resizing with coordinate_transformation_mode={coordinates!r} and "
                                 f"nearest_mode={nearest!r} does not repeat rows and columns; only "
                                 f"asymmetric/floor or half_pixel/round_prefer_floor (UpSampling2D nearest)")
            interpolation = "nearest"
        elif mode in ("linear", "bilinear"):
            if coordinates not in _HALF_PIXEL:
                self.fail(place, f"linear resizing with coordinate_transformation_mode={coordinates!r} is not "
                                 f"supported; only half_pixel (Keras' bilinear UpSampling2D, PyTorch's "
                                 f"align_corners=False)")
            interpolation = "bilinear"
        else:
            self.fail(place, f"Resize mode {mode!r} is not supported; only nearest and linear")
        self._layer(node, place, UpSampling2D, {"size": size, "interpolation": interpolation}, t)

    _op_Upsample = _op_Resize

    # --- dense ----------------------------------------------------------------------------------------
    def _dense(self, node, place, t: _Tensor, kernel: np.ndarray, bias: np.ndarray | None):
        n_in = t.shape[0]
        if kernel.shape[0] != n_in:
            self.fail(place, f"the weight matrix has {kernel.shape[0]} input rows, the input has {n_in} features")
        self._layer(node, place, Dense, {"units": int(kernel.shape[1]), "use_bias": bias is not None}, t,
                    {"kernel": self._unpermute(t, kernel), "bias": bias})

    def _op_Gemm(self, node, place, attrs, xs):
        t = xs[0]
        self._need_flat(place, "Gemm", t)
        if attrs.get("transA", 0):
            self.fail(place, "transA=1 is not supported (the input must be (N, features))")
        b = self._const(node, 1, place, "weights B")
        if b.ndim != 2:
            self.fail(place, f"the weights B must be a matrix, got shape {b.shape}")
        kernel = (b.T if attrs.get("transB", 0) else b).astype(np.float64) * float(attrs.get("alpha", 1.0))
        c = self._const(node, 2, place, "bias C", required=False)
        bias = None
        if c is not None:
            units = kernel.shape[1]
            try:
                bias = np.broadcast_to(c.astype(np.float64), (1, units)).reshape(units) * float(attrs.get("beta", 1.0))
            except ValueError:
                self.fail(place, f"the bias C of shape {c.shape} does not broadcast to (1, {units})")
        self._dense(node, place, t, kernel, bias)

    def _op_MatMul(self, node, place, attrs, xs):
        t = xs[0]
        self._need_flat(place, "MatMul", t)
        b = self._const(node, 1, place, "weights B")
        if b.ndim != 2:
            self.fail(place, f"only a product with a constant matrix is supported, got shape {b.shape}")
        self._dense(node, place, t, b, None)

    # --- arithmetic: a constant (bias or Rescaling) or several computed tensors (merges) ------------------
    def _arithmetic(self, node, place, attrs, xs):
        op = node.op_type
        given = [n for n in node.input if n]
        if len(xs) == len(given):
            if op == "Div":
                self.fail(place, "dividing one computed tensor by another is not supported; only by a constant")
            if len(xs) == 1:
                self._set(node, place, self._alias(xs[0]))
                return
            if op == "Mul" and self._swish(node, place, xs):
                return
            self._merge(node, place, xs, _MERGES[op])
            return
        if op not in ("Add", "Sub", "Mul", "Div") or len(given) != 2:
            self.fail(place, f"{op} of computed tensors and constants together is not supported")
        t = xs[0]
        data_first = node.input[0] not in self.consts
        c = self.consts[node.input[1 if data_first else 0]]
        if op in ("Add", "Sub") and (data_first or op == "Add") and self._bias(node, place, t, c,
                                                                              1.0 if op == "Add" else -1.0):
            return
        value = self._channel_constant(place, t, c)
        if op == "Add":
            scale, offset = 1.0, value
        elif op == "Sub":
            scale, offset = (1.0, _map(value, lambda v: -v)) if data_first else (-1.0, value)
        elif op == "Mul":
            scale, offset = value, 0.0
        else:
            if not data_first:
                self.fail(place, "dividing a constant by a computed tensor is not supported")
            if 0 in np.asarray(value):
                self.fail(place, "divides by a constant that is zero")
            scale, offset = _map(value, lambda v: 1.0 / v), 0.0
        out = self._emit(node, place, Rescaling, {"scale": scale, "offset": offset}, [t])
        out.perm = t.perm
        self._set(node, place, out)

    _op_Add = _op_Sub = _op_Mul = _op_Div = _op_Sum = _op_Mean = _op_Max = _op_Min = _arithmetic

    def _swish(self, node, place, xs: list[_Tensor]) -> bool:
        """Whether ``x · sigmoid(x)`` (how PyTorch exports SiLU) became one ``silu`` Activation: the Sigmoid layer,
        when nothing else reads its output."""
        if len(xs) != 2:
            return False
        for x, gate, gate_name in ((xs[0], xs[1], node.input[1]), (xs[1], xs[0], node.input[0])):
            layer = self.layers[self.index[gate.source]] if gate.fresh and gate.source in self.index else None
            if isinstance(layer, Activation) and layer.activation == "sigmoid" and x.pad is None \
                    and self.inputs[layer.name] == (x.source,) and self.consumers.get(gate_name) == 1 \
                    and gate_name not in self.graph_outputs:
                self.layers[self.index[layer.name]] = layer.with_args(activation="silu")
                self._set(node, place, _Tensor(layer.name, gate.shape, gate.perm, fresh=True))
                return True
        return False

    def _bias(self, node, place, t: _Tensor, c: np.ndarray, sign: float) -> bool:
        """Whether ``t ± c`` became the bias of the Dense/Conv that computes ``t`` (when nothing else reads it)."""
        data = node.input[0] if node.input[0] not in self.consts else node.input[1]
        layer = self.layers[self.index[t.source]] if t.source in self.index else None
        if not t.fresh or not isinstance(layer, (Dense, Conv2D, DepthwiseConv2D)) or self.consumers.get(data) != 1 \
                or data in self.graph_outputs:
            return False
        channels = t.shape[-1]
        target = (1, channels) if isinstance(layer, Dense) else (1, channels, 1, 1)
        try:
            if c.ndim > len(target):
                raise ValueError
            vector = np.broadcast_to(c.astype(np.float64), target).reshape(channels) * sign
        except ValueError:
            return False  # not one value per channel: a Rescaling (or a refusal that says why)
        key = f"{layer.name}/bias"
        old = self.weights.get(key)
        bias = vector if old is None else old.astype(np.float64) + vector
        if not layer.use_bias:
            self.layers[self.index[layer.name]] = layer.with_args(use_bias=True)
        self._store(place, layer.name, "bias", bias, (channels,))
        self._set(node, place, _Tensor(t.source, t.shape, fresh=True))
        return True

    def _channel_constant(self, place, t: _Tensor, c: np.ndarray) -> float | tuple[float, ...]:
        """A constant operand as one number, or one per channel (per feature of a flat tensor)."""
        rank = len(t.shape) + 1
        if c.dtype.kind not in "biuf" or c.ndim > rank:
            self.fail(place, f"the constant of shape {tuple(c.shape)} ({c.dtype}) does not fit the "
                             f"{_shape_text(_onnx_shape(t))} tensor")
        c = c.astype(np.float64)
        if c.size == 1:
            return float(c.reshape(-1)[0])
        full = (1,) * (rank - c.ndim) + tuple(c.shape)
        channels = t.shape[-1]
        wanted = (1, channels, 1, 1) if rank == 4 else (1, channels)
        if full != wanted:
            self.fail(place, f"the constant of shape {tuple(c.shape)} is neither one number nor one per channel "
                             f"{_shape_text(wanted)}")
        return tuple(float(v) for v in self._unpermute(t, c.reshape(-1)))

    def _merge(self, node, place, xs: list[_Tensor], cls: type[Layer]):
        ranks = sorted({len(_onnx_shape(t)) for t in xs})
        if len(ranks) > 1:
            shapes = ", ".join(_shape_text(_onnx_shape(t)) for t in xs)
            self.fail(place, f"its inputs {shapes} have different ranks; only inputs of the same rank are supported")
        perms = [t.perm for t in xs if t.perm is not None and t.shape[0] > 1]
        if ranks[0] == 2 and perms and (len(perms) < sum(t.shape[0] > 1 for t in xs)
                                        or any(not np.array_equal(p, perms[0]) for p in perms)):
            self.fail(place, "its flat inputs were flattened from different layouts; only inputs in the same order "
                             "are supported")
        out = self._emit(node, place, cls, {}, xs)
        out.perm = perms[0] if ranks[0] == 2 and perms else None
        self._set(node, place, out)

    def _op_Concat(self, node, place, attrs, xs):
        if len(xs) != len([n for n in node.input if n]):
            self.fail(place, "concatenating constants with computed tensors is not supported")
        if len(xs) == 1:
            self._set(node, place, self._alias(xs[0]))
            return
        ranks = {len(_onnx_shape(t)) for t in xs}
        if len(ranks) > 1:
            shapes = ", ".join(_shape_text(_onnx_shape(t)) for t in xs)
            self.fail(place, f"its inputs {shapes} have different ranks")
        rank = ranks.pop()
        axis = int(attrs.get("axis", 1))
        if not -rank <= axis < rank:
            self.fail(place, f"axis={axis} does not exist in a rank-{rank} tensor")
        axis %= rank
        if axis == 0:
            self.fail(place, "concatenating along the batch axis is not supported")
        perm = None
        if rank == 2 and any(t.perm is not None for t in xs):
            parts, offset = [], 0
            for t in xs:
                parts.append((np.arange(t.shape[0]) if t.perm is None else t.perm) + offset)
                offset += t.shape[0]
            perm = np.concatenate(parts)
        out = self._emit(node, place, Concatenate, {"axis": {1: -1, 2: 1, 3: 2}[axis] if rank == 4 else -1}, xs)
        out.perm = perm
        self._set(node, place, out)

    # --- shape ----------------------------------------------------------------------------------------
    def _reshape(self, node, place, t: _Tensor, target: list[int], what: str):
        """``t`` to the ONNX shape ``target``: nothing, Flatten or Reshape (N, C) → (N, C, 1, 1)."""
        source = _onnx_shape(t)
        total = math.prod(source)
        if target == source:
            self._set(node, place, self._alias(t))
        elif len(source) == 4 and target == [1, total]:
            perm = None
            if len(t.shape) == 3 and t.shape[0] * t.shape[1] > 1:
                h, w, c = t.shape
                perm = np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).reshape(-1)
            out = self._emit(node, place, Flatten, {}, [t])
            out.perm = perm
            self._set(node, place, out)
        elif len(source) == 2 and target == [*source, 1, 1] and t.perm is None:
            self._layer(node, place, Reshape, {"target_shape": (1, 1, source[1])}, t)
        else:
            self.fail(place, f"{what} of {_shape_text(source)} to {_shape_text(target)} is not supported; only "
                             f"flattening (N, C, H, W) to (N, C·H·W) and (N, C) to (N, C, 1, 1)")

    def _op_Flatten(self, node, place, attrs, xs):
        rank = len(_onnx_shape(xs[0]))
        axis = int(attrs.get("axis", 1))
        if (axis + rank if axis < 0 else axis) != 1:
            self.fail(place, f"Flatten with axis={axis} is not supported; only axis=1 (keep the batch axis)")
        self._reshape(node, place, xs[0], [1, math.prod(_onnx_shape(xs[0]))], "Flatten")

    def _op_Reshape(self, node, place, attrs, xs):
        target = attrs.get("shape") if self.opset < 5 else self._const(node, 1, place, "shape")
        if target is None:
            self.fail(place, "has no target shape")
        target = [int(d) for d in np.asarray(target).reshape(-1)]
        source = _onnx_shape(xs[0])
        resolved = [source[j] if d == 0 and not attrs.get("allowzero", 0) and j < len(source) else d
                    for j, d in enumerate(target)]
        total = math.prod(source)
        if resolved.count(-1) == 1:
            known = math.prod(d for d in resolved if d != -1)
            resolved[resolved.index(-1)] = total // known if known and total % known == 0 else -1
        self._reshape(node, place, xs[0], resolved, "Reshape")

    def _axes(self, node, place, attrs, rank: int) -> list[int] | None:
        axes = self._const(node, 1, place, "axes", required=False) if self.opset >= 13 else attrs.get("axes")
        return None if axes is None else sorted(int(a) % rank for a in np.asarray(axes).reshape(-1))

    def _op_Squeeze(self, node, place, attrs, xs):
        source = _onnx_shape(xs[0])
        axes = self._axes(node, place, attrs, len(source))
        if axes is None:
            axes = [j for j, d in enumerate(source) if d == 1]
        if any(source[a] != 1 for a in axes):
            self.fail(place, f"Squeeze of {_shape_text(source)} over axes {axes}: only axes of size 1 can be removed")
        self._reshape(node, place, xs[0], [d for j, d in enumerate(source) if j not in axes], "Squeeze")

    def _op_Unsqueeze(self, node, place, attrs, xs):
        source = _onnx_shape(xs[0])
        rank = len(source) + len(self._axes(node, place, attrs, 1 << 30) or [])
        axes = self._axes(node, place, attrs, rank)
        if not axes:
            self.fail(place, "has no axes")
        target, rest = [], iter(source)
        for j in range(rank):
            target.append(1 if j in axes else next(rest, 1))
        self._reshape(node, place, xs[0], target, "Unsqueeze")

    def _op_Identity(self, node, place, attrs, xs):
        self._set(node, place, self._alias(xs[0]))

    # --- activations ----------------------------------------------------------------------------------
    def _activation(self, node, place, t: _Tensor, name: str):
        out = self._emit(node, place, Activation, {"activation": name}, [t])
        out.perm = t.perm if name != "softmax" or len(t.shape) == 1 else None
        self._set(node, place, out)

    def _op_Relu(self, node, place, attrs, xs):
        self._activation(node, place, xs[0], "relu")

    def _op_Sigmoid(self, node, place, attrs, xs):
        self._activation(node, place, xs[0], "sigmoid")

    def _op_Tanh(self, node, place, attrs, xs):
        self._activation(node, place, xs[0], "tanh")

    def _op_Softplus(self, node, place, attrs, xs):
        self._activation(node, place, xs[0], "softplus")

    def _op_HardSigmoid(self, node, place, attrs, xs):
        alpha, beta = float(attrs.get("alpha", 0.2)), float(attrs.get("beta", 0.5))
        if abs(alpha - 1 / 6) > 1e-6 or abs(beta - 0.5) > 1e-6:
            self.fail(place, f"HardSigmoid alpha={alpha:g} beta={beta:g} is not supported; CNN Explorer's "
                             f"hard_sigmoid is Keras' (and PyTorch's) x/6 + 1/2 (alpha 1/6, beta 0.5)")
        self._activation(node, place, xs[0], "hard_sigmoid")

    def _op_HardSwish(self, node, place, attrs, xs):
        self._activation(node, place, xs[0], "hard_silu")

    def _op_Elu(self, node, place, attrs, xs):
        alpha = float(attrs.get("alpha", 1.0))
        if abs(alpha - 1.0) > 1e-6:
            self.fail(place, f"Elu alpha={alpha:g} is not supported; CNN Explorer's elu has alpha 1")
        self._activation(node, place, xs[0], "elu")

    def _op_LeakyRelu(self, node, place, attrs, xs):
        alpha = float(attrs.get("alpha", 0.01))
        if abs(alpha - 0.2) > 1e-6:
            self.fail(place, f"LeakyRelu alpha={alpha:g} is not supported; CNN Explorer's leaky_relu has the "
                             f"Keras slope 0.2")
        self._activation(node, place, xs[0], "leaky_relu")

    def _op_Gelu(self, node, place, attrs, xs):
        if attrs.get("approximate", "none") != "none":
            self.fail(place, f"Gelu approximate={attrs['approximate']!r} is not supported; only the exact form")
        self._activation(node, place, xs[0], "gelu")

    def _op_Softmax(self, node, place, attrs, xs):
        t = xs[0]
        axis = int(attrs.get("axis", -1 if self.opset >= 13 else 1))
        rank = len(_onnx_shape(t))
        axis = axis + rank if axis < 0 else axis
        spatial_ones = rank == 4 and t.shape[0] == t.shape[1] == 1
        if axis != 1 or (rank == 4 and self.opset < 13 and not spatial_ones):
            self.fail(place, f"Softmax over axis {attrs.get('axis', 'default')} of a rank-{rank} tensor is not "
                             f"supported; only over the channels (axis 1)")
        self._activation(node, place, t, "softmax")

    def _op_Clip(self, node, place, attrs, xs):
        if self.opset < 11:
            low, high = attrs.get("min", -math.inf), attrs.get("max", math.inf)
        else:
            low_array = self._const(node, 1, place, "min", required=False)
            high_array = self._const(node, 2, place, "max", required=False)
            low = -math.inf if low_array is None else self._scalar(low_array, place, "min")
            high = math.inf if high_array is None else self._scalar(high_array, place, "max")
        if low == 0 and high == 6:
            self._activation(node, place, xs[0], "relu6")
        elif low == 0 and high == math.inf:
            self._activation(node, place, xs[0], "relu")
        elif low == 0 and 0 < high < math.inf:
            out = self._emit(node, place, ReLU, {"max_value": high}, [xs[0]])
            out.perm = xs[0].perm
            self._set(node, place, out)
        else:
            self.fail(place, f"Clip({low:g}, {high:g}) is not supported; only Clip(0, max) (relu6, ReLU with "
                             f"max_value) and Clip(0, inf) (relu)")

    # --- normalisation and regularisation -------------------------------------------------------------
    def _op_BatchNormalization(self, node, place, attrs, xs):
        t = xs[0]
        if attrs.get("training_mode", 0):
            self.fail(place, "training_mode=1 is not supported (inference only)")
        if not attrs.get("spatial", 1):
            self.fail(place, "spatial=0 is not supported")
        channels = t.shape[-1]
        vectors = {}
        for index, (what, key) in enumerate((("scale", "gamma"), ("bias B", "beta"), ("mean", "moving_mean"),
                                             ("variance", "moving_variance")), start=1):
            value = self._const(node, index, place, what).reshape(-1)
            if value.size != channels:
                self.fail(place, f"its {what} has {value.size} values, the input has {channels} channels")
            vectors[key] = self._unpermute(t, value)
        out = self._emit(node, place, BatchNormalization,
                         {"epsilon": float(attrs.get("epsilon", 1e-5)), "momentum": float(attrs.get("momentum", 0.9))},
                         [t], vectors)
        out.perm = t.perm
        self._set(node, place, out)

    def _op_LRN(self, node, place, attrs, xs):
        self._need_spatial(place, "LRN", xs[0])
        size = int(attrs.get("size", 0))
        if size < 1 or size % 2 == 0:
            self.fail(place, f"LRN size={size} is not supported; only odd sizes (an even window is off-centre "
                             f"differently in ONNX and PyTorch)")
        self._layer(node, place, LocalResponseNormalization,
                    {"size": size, "alpha": float(attrs.get("alpha", 1e-4)), "beta": float(attrs.get("beta", 0.75)),
                     "k": float(attrs.get("bias", 1.0))}, xs[0])

    def _op_Dropout(self, node, place, attrs, xs):
        if self.opset >= 12:
            ratio = self._const(node, 1, place, "ratio", required=False)
            rate = 0.5 if ratio is None else self._scalar(ratio, place, "ratio")
            training = self._const(node, 2, place, "training_mode", required=False)
            if training is not None and self._scalar(training, place, "training_mode"):
                self.fail(place, "training_mode=true is not supported (inference only)")
        else:
            rate = float(attrs.get("ratio", 0.5))
        out = self._emit(node, place, Dropout, {"rate": rate}, [xs[0]])
        out.perm = xs[0].perm
        self._set(node, place, out)


def _map(value, f):
    """``f`` of a number or of each of a tuple of numbers."""
    return tuple(f(v) for v in value) if isinstance(value, tuple) else f(value)


class _Named:
    """Stands in for a node where only the name matters (a merged Pad, a crop after a transposed convolution)."""

    def __init__(self, name: str):
        self.name = name
