"""Look for ONNX models that crash, exhaust or hang the ONNX library while CNN Explorer imports them.

    .venv/bin/python tests/interop/fuzz_onnx_nodes.py [--seed N] [--count N] [--out FOLDER]

Not a test (pytest does not collect it): the script that found the hostile models of test_onnx_isolated.py.  Each
candidate is a model of one node of a random operator of the default domain, with random attributes and random
constant inputs (or the model input), imported with ``load_onnx``, which reads it in a child process with a time
and memory limit: a candidate the child crashed on, ran out of memory or time on is saved to FOLDER (default
/tmp/onnx-fuzz) and its refusal printed.

It is slow (a child per candidate: about two a second) and the bugs are rare: 900 candidates of seed 2 found
nothing.  The models of test_onnx_isolated.py were found with ONNX 1.23 by the same generator run in process
(thousands of candidates a minute, in a watched process that was restarted after each crash): in about 15 minutes,
seven runs found six segfaults of ONNX's shape inference (RegexFullMatch with no input, GatherND and
LayerNormalization with inconsistent constants) and a Split into 2**31 outputs that allocated 16 GB in four
minutes.  Mind that an unlimited in-process search can take all the memory of the machine.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, defs, helper, numpy_helper

from cnnexplorer.interop import load_onnx, onnx_import
from cnnexplorer.model import CnnExplorerError

SIGNS = ("crashed reading it", "of memory and was stopped", "took more than")


def random_tensor(rng: random.Random, name: str):
    if rng.random() < 0.5:
        values = [rng.choice([-1, 0, 1, 2, 3, 4, 7, -2 ** 40, 2 ** 40]) for _ in range(rng.randint(0, 5))]
        return helper.make_tensor(name, TensorProto.INT64, [len(values)], values)
    shape = [rng.choice([0, 1, 2, 3]) for _ in range(rng.randint(0, 4))]
    return numpy_helper.from_array(np.ones(shape, np.float32), name)


def random_attribute(rng: random.Random, kind):
    kinds = defs.OpSchema.AttrType
    choices = {kinds.INT: lambda: rng.choice([-1, 0, 1, 2, 3, 2 ** 31, -2 ** 31, 10 ** 12]),
               kinds.INTS: lambda: [rng.choice([-1, 0, 1, 2, 3, 2 ** 31]) for _ in range(rng.randint(0, 6))],
               kinds.FLOAT: lambda: rng.choice([0.0, 1.0, -1.0, 1e30]),
               kinds.FLOATS: lambda: [rng.choice([0.0, 2.0, -1.0]) for _ in range(rng.randint(0, 4))],
               kinds.STRING: lambda: rng.choice(["", "constant", "NOTSET", "SAME_UPPER", "linear", "nearest"])}
    return choices[kind]() if kind in choices else None


def candidate(rng: random.Random, schemas):
    schema = rng.choice(schemas)
    inputs, inits = [], []
    for i in range(rng.randint(0, len(schema.inputs) + 1)):
        if not inputs and rng.random() < 0.3:
            inputs.append("x")
        elif rng.random() < 0.1:
            inputs.append("")            # an optional input left out
        else:
            inputs.append(f"c{i}")
            inits.append(random_tensor(rng, f"c{i}"))
    attrs = {}
    for name, attribute in schema.attributes.items():
        value = random_attribute(rng, attribute.type) if rng.random() < 0.6 else None
        if value is not None:
            attrs[name] = value
    outputs = ["y"] + [f"o{k}" for k in range(rng.randint(0, 2))]
    node = helper.make_node(schema.name, inputs, outputs, name="n", **attrs)
    dims = [1, rng.choice([1, 2, 3]), rng.choice([1, 2, 5]), rng.choice([1, 2, 5])]
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", rng.choice([7, 11, 13, 17, 18, 21]))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "onnx-fuzz"))
    args = parser.parse_args()
    onnx_import.READ_SECONDS = 20  # a candidate still busy after 20 s counts as a hang
    rng = random.Random(args.seed)
    schemas = [s for s in defs.get_all_schemas() if s.domain == ""]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "candidate.onnx"
    for n in range(args.count):
        try:
            model = candidate(rng, schemas)
        except (ValueError, TypeError):  # onnx.helper cannot even build it (an attribute of no inferable type)
            continue
        onnx.save(model, str(path))
        try:
            load_onnx(path)
        except CnnExplorerError as exc:
            if any(sign in str(exc) for sign in SIGNS):
                found = out / f"seed{args.seed}_{n}_{model.graph.node[0].op_type}.onnx"
                path.rename(found)
                print(f"{found}: {str(exc).split(': ', 1)[1]}", flush=True)


if __name__ == "__main__":
    main()
