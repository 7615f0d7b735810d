"""Import of chain-shaped ONNX models: an :class:`Architecture` and its weights in Keras (channels-last) layout.

Each ONNX operator becomes one layer named after its node (sanitised), so the model stack reads like the ONNX
graph; activations stay separate ``Activation`` layers rather than being fused into the layer before them.
A few things are merged because CNN Explorer has no layer for them on their own:

- a ``Pad`` of zeros right before a ``Conv`` (or an ``AveragePool`` that counts padding) becomes that layer's
  padding, and a ``Pad`` of -inf right before a ``MaxPool`` becomes the pool's padding; any other zero ``Pad``
  becomes a ``ZeroPadding2D`` layer;
- ``MatMul`` followed by ``Add`` of a constant is one ``Dense`` layer (the ``Add`` is its bias);
- nodes whose inputs are all constants (``Constant``, shape arithmetic feeding ``Reshape``) are evaluated
  (with ``onnx.reference``) and ``Shape`` of the running tensor is known, so ``x.view(x.size(0), -1)`` works.

Layout: ONNX tensors are NCHW, ours are (H, W, C) without the batch axis.  Convolution kernels
(F, C/groups, kh, kw) become (kh, kw, C/groups, F); after an ONNX ``Flatten`` the values come in (C, H, W)
order while ours come in (H, W, C) order, so the rows of the next ``Gemm``/``MatMul`` weight (and any
per-feature ``BatchNormalization`` vectors) are permuted to match.  The last activation of a model that ends
in a flattened spatial tensor (no Dense after the Flatten) is therefore in (H, W, C) order.

Every problem raises :class:`ArchitectureFileError` naming the file, the node (``node[3] 'conv1' (Conv)``) and
what is wrong, including unsupported operators and graphs that are not a single chain.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..engine.weights import not_a_regular_file, weight_array
from ..model.architecture import Architecture, check_input_shape
from ..model.args import MAX_NAME_LENGTH
from ..model.errors import ArchitectureError, ArchitectureFileError, LayerArgumentError
from ..model.layers import (Activation, AveragePooling2D, BatchNormalization, Conv2D, Dense, DepthwiseConv2D,
                            Dropout, Flatten, GlobalAveragePooling2D, GlobalMaxPooling2D, Layer,
                            LocalResponseNormalization, MaxPooling2D, ShapeError, ZeroPadding2D, keras_auto_name)
from ..model.summary import format_bytes
from ._deps import require

Weights = dict[str, np.ndarray]
Pads = tuple[tuple[int, int], tuple[int, int]]  # ((top, bottom), (left, right))

SUPPORTED_OPS = (
    "Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceMax", "Gemm",
    "MatMul", "Add", "Sub", "Relu", "LeakyRelu", "Elu", "Sigmoid", "Tanh", "Softplus", "Softmax", "Clip", "Gelu",
    "BatchNormalization", "LRN", "Dropout", "Pad", "Flatten", "Reshape", "Squeeze", "Identity", "Constant",
    "Shape",
)
_FOLD_SLACK = 16 * 1024 ** 2  # constants that folding may make beyond 8× the model's own tensor data
_FLOAT_TYPES = {1: "FLOAT", 10: "FLOAT16", 11: "DOUBLE", 16: "BFLOAT16"}
_GENERIC_GRAPH_NAMES = {"", "main_graph", "torch_jit", "torch-jit-export", "graph", "tf2onnx"}
_NO_FLUSH = {"Conv", "MaxPool", "AveragePool", "Pad", "Shape", "Identity"}
# The AttributeProto type of every attribute the converter reads (by name, or by (operator, name) where one name
# has different types in different operators).  1 FLOAT, 2 INT, 3 STRING, 7 INTS, as in onnx.AttributeProto.
_FLOAT, _INT, _STRING, _INTS = 1, 2, 3, 7
_ATTRIBUTE_TYPES = {
    **dict.fromkeys(("group", "ceil_mode", "count_include_pad", "keepdims", "transA", "transB", "axis", "allowzero",
                     "training_mode", "spatial", "size", "start", "end"), _INT),
    **dict.fromkeys(("alpha", "beta", "epsilon", "momentum", "bias", "min", "max", "ratio", ("Pad", "value")),
                    _FLOAT),
    **dict.fromkeys(("auto_pad", "mode", "approximate"), _STRING),
    **dict.fromkeys(("kernel_shape", "strides", "dilations", "pads", "paddings", "axes", "shape"), _INTS),
}
_TYPE_WORDS = {"FLOAT": "a number (FLOAT)", "INT": "an integer (INT)", "STRING": "a string (STRING)",
               "INTS": "a list of integers (INTS)", "TENSOR": "a tensor (TENSOR)", "FLOATS": "a list of numbers "
               "(FLOATS)", "STRINGS": "a list of strings (STRINGS)", "GRAPH": "a graph (GRAPH)"}


def load_onnx(path: str | os.PathLike) -> tuple[Architecture, Weights]:
    """Read an ONNX file into ``(architecture, weights)``.

    ``weights`` maps ``"<layer name>/<weight name>"`` to read-only float32 arrays in Keras layout, ready for
    ``Runner().run(arch, x, weights)``; running the architecture on an (H, W, C) input gives what the ONNX
    model gives on the same input transposed to (1, C, H, W).
    """
    onnx = require("onnx", "ONNX import", "onnx")
    model = _read_model(onnx, path)
    return convert_onnx_model(model, str(path), default_name=Path(path).stem)


def convert_onnx_model(model, where: str = "<onnx model>", default_name: str = "model") -> tuple[Architecture,
                                                                                                  Weights]:
    """Convert an in-memory ``onnx.ModelProto``; ``where`` names it in error messages."""
    onnx = require("onnx", "ONNX import", "onnx")
    return _Converter(onnx, model, where, default_name).convert()


def _read_model(onnx, path):
    where = str(path)
    problem = not_a_regular_file(path)
    if problem:  # before opening: a FIFO would block forever
        raise ArchitectureFileError(where, "", problem)
    if os.path.getsize(path) == 0:
        raise ArchitectureFileError(where, "", "the file is empty (expected an ONNX model)")
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
    for place, tensor, location, offset, length in pending:
        del tensor.external_data[:]  # exactly the bytes checked above, never "the rest of the file"
        for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
            tensor.external_data.add(key=key, value=value)
        try:
            onnx.external_data_helper.load_external_data_for_tensor(tensor, str(folder))
        except Exception as exc:  # the file changed meanwhile, or onnx's own checks refuse it
            raise ArchitectureFileError(where, place, f"its external data cannot be read ({exc})") from None


@dataclass
class _PendingPad:
    """A ``Pad`` waiting to see whether the next layer can absorb it."""

    pads: Pads
    value: float
    name: str  # the Pad node's name (the ZeroPadding2D layer's, if it becomes one)
    place: str


def _text(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


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
        self.layers: list[Layer] = []
        self.weights: Weights = {}
        self.names: set[str] = set()
        self.shape: tuple[int, ...] = ()
        self.perm: np.ndarray | None = None  # flat tensors: ONNX position → our position (None: the same)
        self.current = ""
        self.last_output: str | None = None  # the tensor the last layer produced, if nothing came after it
        self.pending: _PendingPad | None = None
        self.consumers: dict[str, int] = {}
        for node in self.graph.node:
            for name in node.input:
                self.consumers[name] = self.consumers.get(name, 0) + 1
        self.graph_outputs = {o.name for o in self.graph.output}
        self.inferred = self._inferred_shapes()

    # --- helpers --------------------------------------------------------------------------------------
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

    def _onnx_shape(self) -> list[int]:
        """The running tensor's ONNX shape, batch 1 (NCHW or (1, n)), including a pending Pad."""
        if len(self.shape) == 3:
            h, w, c = self.shape
            if self.pending is not None:
                (t, b), (l, r) = self.pending.pads
                h, w = h + t + b, w + l + r
            return [1, c, h, w]
        return [1, *self.shape]

    def _padded_hw(self) -> tuple[int, int]:
        shape = self._onnx_shape()
        return shape[2], shape[3]

    def _need_spatial(self, place: str, op: str):
        if len(self.shape) != 3:
            self.fail(place, f"{op} needs an (N, C, H, W) input, but receives a flat (N, {self.shape[0]}) tensor")

    def _need_flat(self, place: str, op: str):
        if len(self.shape) != 1:
            h, w, c = self.shape
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

    def _unpermute_rows(self, array: np.ndarray) -> np.ndarray:
        """Rows (or entries) in ONNX flat order → ours."""
        if self.perm is None:
            return array
        out = np.empty_like(array)
        out[self.perm] = array
        return out

    # --- layers ---------------------------------------------------------------------------------------
    def _emit(self, node, place: str, cls: type[Layer], kwargs: dict[str, Any],
              weights: dict[str, np.ndarray | None] | None = None, name: str | None = None) -> Layer:
        try:
            layer = cls(name=name or self._layer_name(node, cls), **kwargs)
        except LayerArgumentError as exc:
            self.fail(place, f"cannot become a {cls.type_name} layer: {exc}")
        try:
            out_shape = layer.output_shape(self.shape)
            if any(d < 1 for d in out_shape):
                raise ShapeError(f"the output shape {out_shape} has an empty axis")
        except ShapeError as exc:
            self.fail(place, f"{cls.type_name}: {exc}")
        for weight_name, (shape, _) in layer.weight_shapes(self.shape).items():
            self._store(place, layer.name, weight_name, (weights or {}).get(weight_name), shape)
        self.layers.append(layer)
        self.names.add(layer.name)
        self.shape = out_shape
        return layer

    def _store(self, place: str, layer_name: str, weight_name: str, array, shape):
        if array is None or tuple(array.shape) != tuple(shape):
            found = "nothing" if array is None else f"shape {tuple(array.shape)}"
            self.fail(place, f"weight {weight_name!r} should have shape {tuple(shape)}, found {found}")
        try:
            array = weight_array(array)
        except ValueError as exc:
            self.fail(place, f"weight {weight_name!r} {exc}")
        self.weights[f"{layer_name}/{weight_name}"] = array

    def _advance(self, node, place: str, produced_by_layer: bool = True):
        out = node.output[0]
        self.current = out
        self.last_output = out if produced_by_layer else None
        dims = self.inferred.get(out)
        if dims is None:
            return
        ours = self._onnx_shape()
        if len(dims) != len(ours) or any(d is not None and d != o for d, o in zip(dims[1:], ours[1:])):
            shown = ", ".join("?" if d is None else str(d) for d in dims)
            self.fail(place, f"CNN Explorer computes an output of shape ({', '.join(map(str, ours))}) here, "
                             f"ONNX ({shown})")

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
        self.shape = input_shape
        if not self.graph.node:
            self.fail("graph.node", "the graph has no operators")
        for i, node in enumerate(self.graph.node):
            self._node(i, node)
        self._flush_pad()
        outputs = [o.name for o in self.graph.output]
        if len(outputs) != 1:
            self.fail("graph.output", f"the model has {len(outputs)} outputs ({', '.join(map(repr, outputs))}); "
                                      f"only models with one output are supported")
        if outputs[0] != self.current:
            self.fail("graph.output", f"the output {outputs[0]!r} is not the end of the chain of layers "
                                      f"(which ends at {self.current!r}); only chain-shaped models are supported")
        name = self.graph.name if self.graph.name not in _GENERIC_GRAPH_NAMES else self.default_name
        try:
            arch = Architecture(input_shape, self.layers, name=name or "model")
        except ArchitectureError as exc:  # pragma: no cover - names are made unique above
            self.fail("graph", str(exc))
        bad = arch.first_error
        if bad is not None:  # pragma: no cover - every layer's shape was checked while converting
            self.fail("graph", f"layer {bad.index} '{bad.name}' cannot be computed: {bad.error}")
        return arch, self.weights

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
        self.current = vi.name
        return shape

    def _node(self, i: int, node):
        op = node.op_type
        place = f"node[{i}] {node.name!r} ({op})" if node.name else f"node[{i}] ({op})"
        if node.domain not in ("", "ai.onnx"):
            self.fail(place, f"unsupported operator {node.domain}.{op}; only the standard ONNX operators "
                             f"{', '.join(SUPPORTED_OPS)} are supported")
        inputs = [n for n in node.input]
        data = [n for n in inputs if n and n not in self.consts]
        if not node.output or not node.output[0]:
            self.fail(place, "the node has no output")
        if op == "Shape" and data == [self.current]:
            self._shape(node, place)
            return
        if not data:
            self._fold(node, place)
            return
        if len(data) > 1:
            self.fail(place, f"takes {len(data)} computed inputs ({', '.join(map(repr, data))}); only "
                             f"chain-shaped models are supported (no branches, residual connections or concatenation)")
        if data[0] != self.current:
            self.fail(place, f"takes {data[0]!r}, which is not the output of the layer before it "
                             f"({self.current!r}); only chain-shaped models are supported (no branches or "
                             f"residual connections)")
        handler = getattr(self, f"_op_{op}", None)
        if handler is None:
            self.fail(place, f"unsupported ONNX operator {op!r}; supported: {', '.join(SUPPORTED_OPS)}")
        if op not in ("Add", "Sub") and inputs[0] != data[0]:
            self.fail(place, f"the computed tensor must be its first input, got {inputs}")
        for extra in node.output[1:]:
            if extra and (extra in self.consumers or extra in self.graph_outputs):
                self.fail(place, f"its extra output {extra!r} is used; only the main output is supported")
        if op not in _NO_FLUSH:
            self._flush_pad()
        handler(node, place, self._attrs(node, place))

    def _shape(self, node, place):
        attrs = self._attrs(node, place)
        shape = self._onnx_shape()
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
    def _flush_pad(self):
        pending, self.pending = self.pending, None
        if pending is None:
            return
        if pending.value != 0:
            self.fail(pending.place, "a Pad of -inf is only supported right before a MaxPool (as its padding)")
        self._emit(_Named(pending.name), pending.place, ZeroPadding2D, {"padding": pending.pads})

    def _window_pads(self, attrs, place: str, kernel, strides, dilation) -> Pads:
        """The layer's own padding (auto_pad resolved on the input it will see, a pending Pad included)."""
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
        for n, k, s, d in zip(self._padded_hw(), kernel, strides, dilation):
            total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
            small, big = total // 2, total - total // 2
            out.append((small, big) if auto == "SAME_UPPER" else (big, small))
        return out[0], out[1]

    def _take_pending(self, value: float) -> Pads:
        """Absorb a pending Pad of ``value`` (its amounts are returned) or emit/reject it first."""
        if self.pending is not None and self.pending.value == value:
            pads, self.pending = self.pending.pads, None
            return pads
        self._flush_pad()
        return (0, 0), (0, 0)

    @staticmethod
    def _add(a: Pads, b: Pads) -> Pads:
        return (a[0][0] + b[0][0], a[0][1] + b[0][1]), (a[1][0] + b[1][0], a[1][1] + b[1][1])

    @staticmethod
    def _padding_arg(pads: Pads):
        return "valid" if pads == ((0, 0), (0, 0)) else pads

    def _op_Pad(self, node, place, attrs):
        self._need_spatial(place, "Pad")
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
        if self.pending is not None and self.pending.value == value:
            new = self._add(self.pending.pads, new)
            name, first_place = self.pending.name, self.pending.place
        else:
            self._flush_pad()
            name, first_place = node.name, place
        self.pending = _PendingPad(new, value, name, first_place)
        self._advance(node, place, produced_by_layer=False)

    # --- convolution and pooling ----------------------------------------------------------------------
    def _op_Conv(self, node, place, attrs):
        self._need_spatial(place, "Conv")
        w = self._const(node, 1, place, "weights W")
        if w.ndim != 4:
            self.fail(place, f"only 2-D convolutions are supported (weights of shape {w.shape})")
        f, cin_g, kh, kw = (int(d) for d in w.shape)
        group = int(attrs.get("group", 1))
        channels = self.shape[2]
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
        own = self._window_pads(attrs, place, (kh, kw), strides, dilation)
        pads = self._add(own, self._take_pending(0.0))
        common = dict(kernel_size=(kh, kw), strides=strides, padding=self._padding_arg(pads), dilation_rate=dilation,
                      use_bias=bias is not None)
        if group == channels and group > 1:
            multiplier = f // channels
            kernel = w.reshape(channels, multiplier, kh, kw).transpose(2, 3, 0, 1)
            self._emit(node, place, DepthwiseConv2D, {**common, "depth_multiplier": multiplier},
                       {"kernel": kernel, "bias": bias})
        else:
            self._emit(node, place, Conv2D, {"filters": f, **common, "groups": group},
                       {"kernel": w.transpose(2, 3, 1, 0), "bias": bias})
        self._advance(node, place)

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

    def _check_ceil(self, place: str, layer, input_shape):
        """ONNX's ceil-mode size (without PyTorch's rule), checked even when shape inference is unavailable."""
        if not layer.ceil_mode:
            return
        for g in layer.geometry(input_shape):
            onnx_out = -(-(g.n + g.pad_before + g.pad_after - g.kernel) // g.stride) + 1
            if onnx_out != g.out:
                self.fail(place, f"the output has {g.out} rows or columns in CNN Explorer, {onnx_out} in ONNX"
                                 + self._CEIL_HINT)

    def _pool_fits(self, pads: Pads, kernel) -> bool:
        return all(max(before, after) <= k // 2 for (before, after), k in zip(pads, kernel))

    def _op_MaxPool(self, node, place, attrs):
        self._need_spatial(place, "MaxPool")
        kernel, strides, ceil_mode = self._pool_window(attrs, place, "MaxPool")
        own = self._window_pads(attrs, place, kernel, strides, (1, 1))
        if self.pending is not None and self.pending.value == -math.inf \
                and self._pool_fits(self._add(own, self.pending.pads), kernel):
            own = self._add(own, self._take_pending(-math.inf))
        self._flush_pad()
        input_shape = self.shape
        layer = self._emit(node, place, MaxPooling2D, dict(pool_size=kernel, strides=strides,
                                                           padding=self._padding_arg(own), ceil_mode=ceil_mode))
        self._check_ceil(place, layer, input_shape)
        self._advance(node, place)

    def _op_AveragePool(self, node, place, attrs):
        self._need_spatial(place, "AveragePool")
        kernel, strides, ceil_mode = self._pool_window(attrs, place, "AveragePool")
        include = bool(attrs.get("count_include_pad", 0))
        own = self._window_pads(attrs, place, kernel, strides, (1, 1))
        if self.pending is not None and self.pending.value == 0 and (include or own == ((0, 0), (0, 0))) \
                and self._pool_fits(self._add(own, self.pending.pads), kernel):
            own = self._add(own, self._take_pending(0.0))
            include = True
        self._flush_pad()
        input_shape = self.shape
        layer = self._emit(node, place, AveragePooling2D,
                           dict(pool_size=kernel, strides=strides, padding=self._padding_arg(own), ceil_mode=ceil_mode,
                                count_include_pad=include))
        self._check_ceil(place, layer, input_shape)
        self._advance(node, place)

    def _op_GlobalAveragePool(self, node, place, attrs):
        self._need_spatial(place, "GlobalAveragePool")
        self._emit(node, place, GlobalAveragePooling2D, {"keepdims": True})
        self._advance(node, place)

    def _op_GlobalMaxPool(self, node, place, attrs):
        self._need_spatial(place, "GlobalMaxPool")
        self._emit(node, place, GlobalMaxPooling2D, {"keepdims": True})
        self._advance(node, place)

    def _reduce(self, node, place, attrs, cls):
        op = node.op_type
        self._need_spatial(place, op)
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
        self._emit(node, place, cls, {"keepdims": bool(attrs.get("keepdims", 1))})
        self._advance(node, place)

    def _op_ReduceMean(self, node, place, attrs):
        self._reduce(node, place, attrs, GlobalAveragePooling2D)

    def _op_ReduceMax(self, node, place, attrs):
        self._reduce(node, place, attrs, GlobalMaxPooling2D)

    # --- dense ----------------------------------------------------------------------------------------
    def _dense(self, node, place, kernel: np.ndarray, bias: np.ndarray | None):
        n_in = self.shape[0]
        if kernel.shape[0] != n_in:
            self.fail(place, f"the weight matrix has {kernel.shape[0]} input rows, the input has {n_in} features")
        self._emit(node, place, Dense, {"units": int(kernel.shape[1]), "use_bias": bias is not None},
                   {"kernel": self._unpermute_rows(kernel), "bias": bias})
        self.perm = None
        self._advance(node, place)

    def _op_Gemm(self, node, place, attrs):
        self._need_flat(place, "Gemm")
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
        self._dense(node, place, kernel, bias)

    def _op_MatMul(self, node, place, attrs):
        self._need_flat(place, "MatMul")
        b = self._const(node, 1, place, "weights B")
        if b.ndim != 2:
            self.fail(place, f"only a product with a constant matrix is supported, got shape {b.shape}")
        self._dense(node, place, b, None)

    def _bias_add(self, node, place, sign: float):
        op = node.op_type
        data_index = 0 if node.input[0] == self.current else 1
        if op == "Sub" and data_index != 0:
            self.fail(place, "only subtracting a constant from the running tensor is supported")
        c = self.consts[node.input[1 - data_index]]
        layer = self.layers[-1] if self.layers else None
        if self.last_output != self.current or not isinstance(layer, (Dense, Conv2D, DepthwiseConv2D)):
            self.fail(place, f"{op} of a constant is only supported as the bias of the MatMul, Gemm or Conv right "
                             f"before it")
        channels = self.shape[-1]
        target = (1, channels) if isinstance(layer, Dense) else (1, channels, 1, 1)
        try:
            if c.ndim > len(target):
                raise ValueError
            vector = np.broadcast_to(c.astype(np.float64), target).reshape(channels) * sign
        except ValueError:
            self.fail(place, f"the constant of shape {c.shape} is not a bias (one value per channel, "
                             f"broadcast to {target})")
        key = f"{layer.name}/bias"
        old = self.weights.get(key)
        bias = vector if old is None else old.astype(np.float64) + vector
        if not layer.use_bias:
            self.layers[-1] = layer.with_args(use_bias=True)
        self._store(place, layer.name, "bias", bias, (channels,))
        self._advance(node, place)

    def _op_Add(self, node, place, attrs):
        self._bias_add(node, place, 1.0)

    def _op_Sub(self, node, place, attrs):
        self._bias_add(node, place, -1.0)

    # --- shape ----------------------------------------------------------------------------------------
    def _flatten(self, node, place):
        if len(self.shape) == 3:
            h, w, c = self.shape
            if h * w > 1:
                self.perm = np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).reshape(-1)
        self._emit(node, place, Flatten, {})
        self._advance(node, place)

    def _op_Flatten(self, node, place, attrs):
        rank = len(self._onnx_shape())
        axis = int(attrs.get("axis", 1))
        if (axis + rank if axis < 0 else axis) != 1:
            self.fail(place, f"Flatten with axis={axis} is not supported; only axis=1 (keep the batch axis)")
        self._flatten(node, place)

    def _op_Reshape(self, node, place, attrs):
        target = attrs.get("shape") if self.opset < 5 else self._const(node, 1, place, "shape")
        if target is None:
            self.fail(place, "has no target shape")
        target = [int(d) for d in np.asarray(target).reshape(-1)]
        source = self._onnx_shape()
        resolved = [source[j] if d == 0 and not attrs.get("allowzero", 0) and j < len(source) else d
                    for j, d in enumerate(target)]
        total = int(np.prod(source))
        if resolved.count(-1) == 1:
            known = int(np.prod([d for d in resolved if d != -1]))
            resolved[resolved.index(-1)] = total // known if known and total % known == 0 else -1
        if resolved == source:
            self._advance(node, place, produced_by_layer=self.last_output == self.current)
            return
        if resolved == [1, total]:
            self._flatten(node, place)
            return
        self.fail(place, f"Reshape of ({', '.join(map(str, source))}) to {target} is not supported; only "
                         f"flattening to (N, {total})")

    def _op_Squeeze(self, node, place, attrs):
        axes = self._const(node, 1, place, "axes", required=False) if self.opset >= 13 else attrs.get("axes")
        source = self._onnx_shape()
        axes = None if axes is None else sorted(int(a) % len(source) for a in np.asarray(axes).reshape(-1))
        if len(source) == 4 and source[2] == source[3] == 1 and axes == [2, 3]:
            self._flatten(node, place)
            return
        self.fail(place, f"Squeeze of ({', '.join(map(str, source))}) over axes {axes} is not supported; only "
                         f"removing 1×1 spatial axes (2, 3)")

    def _op_Identity(self, node, place, attrs):
        self._advance(node, place, produced_by_layer=self.last_output == self.current)

    # --- activations ----------------------------------------------------------------------------------
    def _activation(self, node, place, name: str):
        self._emit(node, place, Activation, {"activation": name})
        self._advance(node, place)

    def _op_Relu(self, node, place, attrs):
        self._activation(node, place, "relu")

    def _op_Sigmoid(self, node, place, attrs):
        self._activation(node, place, "sigmoid")

    def _op_Tanh(self, node, place, attrs):
        self._activation(node, place, "tanh")

    def _op_Softplus(self, node, place, attrs):
        self._activation(node, place, "softplus")

    def _op_Elu(self, node, place, attrs):
        alpha = float(attrs.get("alpha", 1.0))
        if abs(alpha - 1.0) > 1e-6:
            self.fail(place, f"Elu alpha={alpha:g} is not supported; CNN Explorer's elu has alpha 1")
        self._activation(node, place, "elu")

    def _op_LeakyRelu(self, node, place, attrs):
        alpha = float(attrs.get("alpha", 0.01))
        if abs(alpha - 0.2) > 1e-6:
            self.fail(place, f"LeakyRelu alpha={alpha:g} is not supported; CNN Explorer's leaky_relu has the "
                             f"Keras slope 0.2")
        self._activation(node, place, "leaky_relu")

    def _op_Gelu(self, node, place, attrs):
        if attrs.get("approximate", "none") != "none":
            self.fail(place, f"Gelu approximate={attrs['approximate']!r} is not supported; only the exact form")
        self._activation(node, place, "gelu")

    def _op_Softmax(self, node, place, attrs):
        axis = int(attrs.get("axis", -1 if self.opset >= 13 else 1))
        rank = len(self._onnx_shape())
        axis = axis + rank if axis < 0 else axis
        spatial_ones = rank == 4 and self.shape[0] == self.shape[1] == 1
        if axis != 1 or (rank == 4 and self.opset < 13 and not spatial_ones):
            self.fail(place, f"Softmax over axis {attrs.get('axis', 'default')} of a rank-{rank} tensor is not "
                             f"supported; only over the channels (axis 1)")
        self._activation(node, place, "softmax")

    def _op_Clip(self, node, place, attrs):
        if self.opset < 11:
            low, high = attrs.get("min", -math.inf), attrs.get("max", math.inf)
        else:
            low_array = self._const(node, 1, place, "min", required=False)
            high_array = self._const(node, 2, place, "max", required=False)
            low = -math.inf if low_array is None else self._scalar(low_array, place, "min")
            high = math.inf if high_array is None else self._scalar(high_array, place, "max")
        if low == 0 and high == 6:
            self._activation(node, place, "relu6")
        elif low == 0 and high == math.inf:
            self._activation(node, place, "relu")
        else:
            self.fail(place, f"Clip({low:g}, {high:g}) is not supported; only Clip(0, 6) (relu6) and Clip(0, inf) "
                             f"(relu)")

    # --- normalisation and regularisation -------------------------------------------------------------
    def _op_BatchNormalization(self, node, place, attrs):
        if attrs.get("training_mode", 0):
            self.fail(place, "training_mode=1 is not supported (inference only)")
        if not attrs.get("spatial", 1):
            self.fail(place, "spatial=0 is not supported")
        channels = self.shape[-1]
        vectors = {}
        for index, (what, key) in enumerate((("scale", "gamma"), ("bias B", "beta"), ("mean", "moving_mean"),
                                             ("variance", "moving_variance")), start=1):
            value = self._const(node, index, place, what).reshape(-1)
            if value.size != channels:
                self.fail(place, f"its {what} has {value.size} values, the input has {channels} channels")
            vectors[key] = self._unpermute_rows(value) if len(self.shape) == 1 else value
        self._emit(node, place, BatchNormalization,
                   {"epsilon": float(attrs.get("epsilon", 1e-5)), "momentum": float(attrs.get("momentum", 0.9))},
                   vectors)
        self._advance(node, place)

    def _op_LRN(self, node, place, attrs):
        self._need_spatial(place, "LRN")
        size = int(attrs.get("size", 0))
        if size < 1 or size % 2 == 0:
            self.fail(place, f"LRN size={size} is not supported; only odd sizes (an even window is off-centre "
                             f"differently in ONNX and PyTorch)")
        self._emit(node, place, LocalResponseNormalization,
                   {"size": size, "alpha": float(attrs.get("alpha", 1e-4)), "beta": float(attrs.get("beta", 0.75)),
                    "k": float(attrs.get("bias", 1.0))})
        self._advance(node, place)

    def _op_Dropout(self, node, place, attrs):
        if self.opset >= 12:
            ratio = self._const(node, 1, place, "ratio", required=False)
            rate = 0.5 if ratio is None else self._scalar(ratio, place, "ratio")
            training = self._const(node, 2, place, "training_mode", required=False)
            if training is not None and self._scalar(training, place, "training_mode"):
                self.fail(place, "training_mode=true is not supported (inference only)")
        else:
            rate = float(attrs.get("ratio", 0.5))
        self._emit(node, place, Dropout, {"rate": rate})
        self._advance(node, place)


class _Named:
    """Stands in for a node where only the name matters (a merged Pad)."""

    def __init__(self, name: str):
        self.name = name
