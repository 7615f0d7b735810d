"""Peak memory spent on hostile weight files, models and arrays before they are refused (issue 16, item 5).

    .venv/bin/python benchmarks/bench_hostile_files.py

Builds each file in a temporary folder (a few seconds: the bombs are really compressed), then loads it in a fresh
interpreter and prints the peak resident memory (``ru_maxrss``) of that process or of the child it starts to read
Keras HDF5 files, whichever is larger; the same after loading a small valid file of the same kind (the baseline:
imports and a real load); the difference; and the first line of what was raised.  To measure another version of the code, run this script with that version first
on ``PYTHONPATH`` from a folder outside the checkout.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "tests" / "data"

LOAD = """
import resource, sys
import cnnexplorer
kind, path = sys.argv[1], sys.argv[2]
try:
    if kind == "npz":
        cnnexplorer.load_weights(path, cnnexplorer.load("lenet5"))
    elif kind == "npz-no-model":
        cnnexplorer.load_weights(path)
    elif kind == "keras":
        cnnexplorer.load_weights(path, cnnexplorer.load(sys.argv[3]))
    elif kind == "onnx":
        cnnexplorer.load(path)
    elif kind == "npy":
        cnnexplorer.run(cnnexplorer.load("lenet5"), path)
    outcome = "loaded"
except BaseException as exc:
    outcome = f"{type(exc).__name__}: {str(exc).splitlines()[0][-110:]}"
print(max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) // 1024)
print(outcome)
"""


def peak(kind: str, path: Path, *extra: str) -> tuple[int, str]:
    out = subprocess.run([sys.executable, "-c", LOAD, kind, str(path), *extra], capture_output=True, text=True,
                         timeout=600, cwd=tempfile.gettempdir())
    lines = out.stdout.splitlines()
    if out.returncode != 0 or len(lines) < 2:  # killed (out of memory) or crashed
        return -1, f"exit {out.returncode}: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else ''}"
    return int(lines[0]), lines[1]


def npy_header(shape, descr="<f4") -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": tuple(shape)})
    return buffer.getvalue()


def zip_of_zeros(path: Path, member: str, head: bytes, zeros: int) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open(member, "w", force_zip64=True) as out:
            out.write(head)
            chunk = bytes(1 << 24)
            for _ in range(zeros >> 24):
                out.write(chunk)
    return path


def main() -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    import cnnexplorer
    from cnnexplorer.engine import init_weights, save_weights

    folder = Path(tempfile.mkdtemp(prefix="hostile-"))
    keras_json = str(DATA / "keras_weights" / "functional.json")
    lenet = cnnexplorer.load("lenet5")
    save_weights(init_weights(lenet), folder / "valid.npz")
    np.save(folder / "valid.npy", np.zeros((32, 32, 1), np.float32))
    with zipfile.ZipFile(folder / "valid.keras", "w") as archive:
        archive.write(DATA / "keras_weights" / "functional.weights.h5", "model.weights.h5")

    def onnx_model(path: Path, nodes, inits) -> Path:
        graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                                  initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
        return path

    relu = helper.make_node("Relu", ["x"], ["y"])
    onnx_model(folder / "valid.onnx", [relu], {})
    bomb_nodes = [helper.make_node("ConstantOfShape", ["s"], ["big"]), relu]
    gib = 1 << 30
    cases = [
        ("npz zip bomb, key the model needs (1.3 GB of zeros)", "npz", "valid.npz",
         zip_of_zeros(folder / "bomb.npz", "conv2d/kernel.npy", npy_header((1_300_000_000 // 4,)), 1_300_000_000), ()),
        ("npz zip bomb, key the model lacks (1.3 GB of zeros)", "npz", "valid.npz",
         zip_of_zeros(folder / "bomb2.npz", "other.npy", npy_header((1_300_000_000 // 4,)), 1_300_000_000), ()),
        ("npz member header claiming 64 GiB (no model)", "npz-no-model", "valid.npz",
         zip_of_zeros(folder / "claim.npz", "w.npy", npy_header((8 * gib,), "<f8"), 0), ()),
        (".keras archive with a 1 GiB model.weights.h5", "keras", "valid.keras",
         zip_of_zeros(folder / "bomb.keras", "model.weights.h5", b"", gib), (keras_json,)),
        ("ONNX ConstantOfShape 1×1024×1024×256", "onnx", "valid.onnx",
         onnx_model(folder / "bomb.onnx", bomb_nodes, {"s": np.array([1, 1024, 1024, 256], np.int64)}), ()),
        (".npy header claiming (10^6, 10^6, 3) float64", "npy", "valid.npy", folder / "huge.npy", ()),
    ]
    (folder / "huge.npy").write_bytes(npy_header((10 ** 6, 10 ** 6, 3), "<f8") + bytes(64))
    print(f"{'case':54} {'file':>9} {'peak MB':>8} {'valid MB':>8} {'extra MB':>8}  outcome")
    for label, kind, valid, path, extra in cases:
        size = path.stat().st_size
        hostile_mb, outcome = peak(kind, path, *extra)
        valid_mb, _ = peak(kind, folder / valid, *extra)
        shown = f"{size / 1e6:.2f} MB" if size > 10_000 else f"{size} B"
        print(f"{label:54} {shown:>9} {hostile_mb:8d} {valid_mb:8d} {hostile_mb - valid_mb:8d}  {outcome}")


if __name__ == "__main__":
    main()
