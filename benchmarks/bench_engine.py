"""Model-level speed of the NumPy engine, and PyTorch's CPU speed on the same models when torch is installed.

    .venv/bin/python benchmarks/bench_engine.py [--models lenet5 alexnet vgg16] [--rounds 3] [--repeats 5]

Prints, measured in this one run on this machine:
  * NumPy SGEMM GFLOP/s (2048×2048 float32 matmul) — the roofline;
  * per model: median forward time (weights made beforehand), the conv layers' GFLOP/s (2·MACs / time) and their
    ratio to SGEMM;
  * with torch importable: the same model in PyTorch (channels-first, torch.set_num_threads = cores, inference
    mode) and the ratio NumPy / PyTorch (≤ 1.0 means NumPy is at least as fast).
NumPy and PyTorch run in separate worker processes, alternating round by round, because OpenBLAS and PyTorch
threads fight over the cores when they share a process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def sgemm_gflops(n: int = 2048, repeats: int = 7) -> float:
    import numpy as np

    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = np.random.default_rng(1).random((n, n), dtype=np.float32)
    a @ b
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n ** 3 / statistics.median(times) / 1e9


def worker_numpy(model: str, repeats: int) -> dict:
    import numpy as np

    import cnnexplorer
    from cnnexplorer.engine import Runner, init_weights

    arch = cnnexplorer.load(model)
    weights = init_weights(arch, seed=0)
    x = np.random.default_rng(0).random(arch.input_shape, dtype=np.float32)
    infos = arch.infer()
    conv = [i.name for i in infos if i.type_name in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D",
                                                     "Conv2DTranspose")]
    conv_macs = sum(i.macs for i in infos if i.name in conv)
    Runner().run(arch, x, weights)  # warm-up
    totals, conv_times = [], []
    per_layer: dict[str, list[float]] = {}
    for _ in range(repeats):
        t = time.perf_counter()
        result = Runner().run(arch, x, weights)
        totals.append(time.perf_counter() - t)
        conv_times.append(sum(result.seconds[n] for n in conv))
        for name, s in result.seconds.items():
            per_layer.setdefault(name, []).append(s)
    return {"total": statistics.median(totals), "conv": statistics.median(conv_times), "conv_macs": conv_macs,
            "per_layer": {k: statistics.median(v) for k, v in per_layer.items()}}


def worker_torch(model: str, repeats: int) -> dict:
    """The same model in PyTorch, built by CNN Explorer's own PyTorch exporter (graphs included)."""
    import torch

    import cnnexplorer
    from cnnexplorer.model.export_code import class_name_for, to_pytorch_code

    torch.set_num_threads(os.cpu_count() or 1)
    arch = cnnexplorer.load(model)
    namespace: dict = {"__name__": "exported"}
    exec(compile(to_pytorch_code(arch), "<exported>", "exec"), namespace)
    net = namespace[class_name_for(arch.name)]().eval()
    h, w, c = arch.input_shape
    x = torch.rand(1, c, h, w)
    totals = []
    with torch.inference_mode():
        net(x)
        for _ in range(repeats):
            t = time.perf_counter()
            net(x)
            totals.append(time.perf_counter() - t)
    return {"total": statistics.median(totals), "torch": torch.__version__, "threads": torch.get_num_threads()}


def torch_available() -> bool:
    return subprocess.run([sys.executable, "-c", "import torch"], capture_output=True).returncode == 0


def spawn(kind: str, model: str, repeats: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", kind, "--model", model, "--repeats", str(repeats)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=["lenet5", "alexnet", "vgg16", "resnet50", "mobilenet-v2",
                                                        "densenet121"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker", choices=("numpy", "torch"))
    parser.add_argument("--model")
    args = parser.parse_args()
    if args.worker:
        fn = worker_numpy if args.worker == "numpy" else worker_torch
        print(json.dumps(fn(args.model, args.repeats)))
        return

    import numpy as np

    import cnnexplorer

    gflops = sgemm_gflops()
    have_torch = torch_available()
    print(f"machine: {os.cpu_count()} cores, numpy {np.__version__}; torch {'present' if have_torch else 'absent'}")
    print(f"NumPy SGEMM (2048×2048 float32): {gflops:.1f} GFLOP/s")
    for model in args.models:
        repeats = args.repeats if model != "lenet5" else args.repeats * 20
        numpy_runs, torch_runs = [], []
        for _ in range(args.rounds):
            numpy_runs.append(spawn("numpy", model, repeats))
            if have_torch:
                torch_runs.append(spawn("torch", model, repeats))
        total = statistics.median(r["total"] for r in numpy_runs)
        conv = statistics.median(r["conv"] for r in numpy_runs)
        conv_gflops = 2 * numpy_runs[0]["conv_macs"] / conv / 1e9
        line = (f"{model:8s} numpy forward {total * 1e3:8.2f} ms | conv layers {conv * 1e3:8.2f} ms, "
                f"{conv_gflops:6.1f} GFLOP/s = {conv_gflops / gflops:.2f} × SGEMM")
        if torch_runs:
            t_total = statistics.median(r["total"] for r in torch_runs)
            line += f" | torch {torch_runs[0]['torch']} {t_total * 1e3:8.2f} ms | numpy/torch = {total / t_total:.2f}"
        print(line)
        if model in ("vgg16", "resnet50", "mobilenet-v2", "densenet121"):
            slow = sorted(numpy_runs[0]["per_layer"].items(), key=lambda kv: -kv[1])[:5]
            print("         slowest layers: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in slow))
            by_type: dict[str, float] = {}
            arch = cnnexplorer.load(model)
            types = {layer.name: layer.type_name for layer in arch}
            for name, seconds in numpy_runs[0]["per_layer"].items():
                by_type[types[name]] = by_type.get(types[name], 0.0) + seconds
            print("         by type: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in
                                                   sorted(by_type.items(), key=lambda kv: -kv[1])[:8]))


if __name__ == "__main__":
    main()
