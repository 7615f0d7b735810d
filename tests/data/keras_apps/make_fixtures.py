"""Generate the keras.applications reference fixtures in this folder.

For every model in MODELS: ``<Model>.json.gz`` (the exact ``model.to_json()``
text, gzip level 9, mtime 0) and ``<Model>.summary.json`` (per-layer output
shapes and parameter counts exactly as Keras computes them).

Run with a Keras 3 environment (not the project's venv), e.g.::

    python3 -m venv /work/refvenv
    /work/refvenv/bin/pip install torch==2.13.0 keras numpy h5py
    KERAS_BACKEND=torch /work/refvenv/bin/python tests/data/keras_apps/make_fixtures.py [Model ...]

All models are built in one process, each after ``keras.backend.clear_session()``
(fresh name counters, so names are those of a fresh process), with
``weights=None`` and the default ``include_top=True``. ``--subprocess`` builds
each model in its own process instead.

Summary format (``<Model>.summary.json``)::

    {"model": "ResNet50", "keras_version": "3.x", "backend": "torch",
     "input_shape": [224, 224, 3],            # channels-last, no batch
     "output_shape": [1000],
     "total_params": ..., "trainable_params": ..., "non_trainable_params": ...,
     "layers": [entry, ...]}

``layers`` follows the order of Keras' own Functional summary
(``model._operations``: every layer *and* every operation recorded in the graph,
such as ``ops.add``; for a Sequential, ``model.layers``). An entry::

    {"name": "conv1_conv", "class_name": "Conv2D", "module": "keras.src...",
     "op": false,                  # true for a recorded operation (not a Layer)
     "output_shape": [112, 112, 64],   # list of shapes if several outputs
     "trainable_params": 9472, "non_trainable_params": 0,
     "layers": [entry, ...]}       # only for a nested Functional/Sequential

``<Model>.224.summary.json`` (MobileNetV3Small/Large only, whose JSON input is
``[null, null, 3]``): the same summary for the model built with
``input_shape=(224, 224, 3)``, i.e. the shapes at the size the importer uses.

If a layer is called several times (shared), ``output_shape`` is that of its
last call (as Keras' summary shows) and ``output_shapes_per_call`` lists all.
"""

from __future__ import annotations

import gc
import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

MODELS = [
    "VGG16", "VGG19",
    "ResNet50", "ResNet101", "ResNet152",
    "ResNet50V2", "ResNet101V2", "ResNet152V2",
    "InceptionV3", "InceptionResNetV2", "Xception",
    "MobileNet", "MobileNetV2", "MobileNetV3Small", "MobileNetV3Large",
    "DenseNet121", "DenseNet169", "DenseNet201",
    "NASNetMobile", "NASNetLarge",
    "EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3",
    "EfficientNetB4", "EfficientNetB5", "EfficientNetB6", "EfficientNetB7",
    "EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3",
    "EfficientNetV2S", "EfficientNetV2M", "EfficientNetV2L",
    "ConvNeXtTiny", "ConvNeXtSmall", "ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtXLarge",
]


# Keras refuses to build NASNet with the torch backend ("outstanding bug"), so
# these are built with JAX (pip install jax); the JSON does not depend on it.
BACKEND_FOR = {"NASNetMobile": "jax", "NASNetLarge": "jax"}


def _shape(tensor):
    return list(tensor.shape[1:])


def _shapes(structure):
    import keras

    flat = keras.tree.flatten(structure)
    shapes = [_shape(t) for t in flat]
    return shapes[0] if len(shapes) == 1 else shapes


def _count(weights) -> int:
    total = 0
    for w in weights:
        n = 1
        for d in w.shape:
            n *= int(d)
        total += n
    return total


def _entries(model, nodes):
    """Entries for the operations of ``model`` in Keras' summary order."""
    import keras

    if isinstance(model, keras.Sequential):
        operations = list(model.layers)
    else:
        operations = list(model._operations)
    entries = []
    for op in operations:
        is_layer = isinstance(op, keras.layers.Layer)
        calls = [n for n in op._inbound_nodes if nodes is None or n in nodes]
        if not calls:
            calls = list(op._inbound_nodes)
        per_call = [_shapes(n.output_tensors) for n in calls]
        entry = {
            "name": op.name,
            "class_name": type(op).__name__,
            "module": type(op).__module__,
            "op": not is_layer,
            "output_shape": per_call[-1] if per_call else None,
            "trainable_params": _count(op.trainable_weights) if is_layer else 0,
            "non_trainable_params": _count(op.non_trainable_weights) if is_layer else 0,
        }
        if len(per_call) > 1:
            entry["output_shapes_per_call"] = per_call
        if isinstance(op, keras.Model):
            inner_nodes = None
            if not isinstance(op, keras.Sequential):
                inner_nodes = set()
                for v in op._nodes_by_depth.values():
                    inner_nodes.update(v)
            entry["layers"] = _entries(op, inner_nodes)
        entries.append(entry)
    return entries


def _summary(name, model):
    import keras

    nodes = set()
    for v in model._nodes_by_depth.values():
        nodes.update(v)
    return {
        "model": name,
        "keras_version": keras.__version__,
        "backend": keras.backend.backend(),
        "input_shape": _shapes(model.inputs),
        "output_shape": _shapes(model.outputs),
        "total_params": int(model.count_params()),
        "trainable_params": _count(model.trainable_weights),
        "non_trainable_params": _count(model.non_trainable_weights),
        "layers": _entries(model, nodes),
    }


def build_one(name: str) -> None:
    import keras

    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    start = time.time()
    keras.backend.clear_session()
    gc.collect()
    model = getattr(keras.applications, name)(weights=None)
    text = model.to_json()
    (HERE / f"{name}.json.gz").write_bytes(gzip.compress(text.encode("utf-8"), 9, mtime=0))
    summary = _summary(name, model)
    (HERE / f"{name}.summary.json").write_text(
        json.dumps(summary, separators=(",", ":")) + "\n", encoding="utf-8"
    )
    if None in summary["input_shape"]:
        # MobileNetV3 writes its input as [null, null, 3]: also record the
        # shapes at 224x224, the size the importer loads it at.
        del model
        keras.backend.clear_session()
        gc.collect()
        model = getattr(keras.applications, name)(weights=None, input_shape=(224, 224, 3))
        (HERE / f"{name}.224.summary.json").write_text(
            json.dumps(_summary(name, model), separators=(",", ":")) + "\n", encoding="utf-8"
        )
    print(f"{name}: {summary['total_params']:,} params, {len(summary['layers'])} entries, "
          f"{time.time() - start:.1f} s", flush=True)


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--one":
        build_one(argv[1])
        return 0
    separate = "--subprocess" in argv
    names = [a for a in argv if a != "--subprocess"] or MODELS
    backend = os.environ.setdefault("KERAS_BACKEND", "torch")
    failed = []
    for name in names:
        wanted = BACKEND_FOR.get(name, backend)
        if not separate and wanted == backend:
            build_one(name)
            continue
        env = dict(os.environ, KERAS_BACKEND=wanted)
        result = subprocess.run([sys.executable, __file__, "--one", name], env=env)
        if result.returncode != 0:
            failed.append(name)
            print(f"{name}: FAILED (exit {result.returncode})", flush=True)
    if failed:
        print("failed:", " ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
