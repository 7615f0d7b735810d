"""Training throughput and accuracy: CNN Explorer's NumPy engine vs the same model in PyTorch (CPU).

Each measurement runs in its own process with the same thread count (OMP/OpenBLAS/MKL variables set before NumPy
or torch is imported; ``torch.set_num_threads``), on the same data (Fashion-MNIST: the full set from Debian's
``dataset-fashion-mnist`` when installed, else the bundled subset) from the same initial weights (ours, copied
into the torch model), batch 64, Adam (lr 1e-3), shuffled.  Throughput = images trained / wall time of the
training epochs (forward + backward + Adam step; data conversion excluded), after one warm-up batch.  Accuracy =
on the test part after training.  The two frameworks alternate, ``--repeats`` times, and the median is quoted,
with the ratio of each back-to-back pair (the two runs closest in time, so under the most similar load) and the
median of those ratios.  The load average is printed at the start and the end.

    python benchmarks/bench_train.py                       # all three presets, 2 threads, 10,000 images, 2 epochs
    python benchmarks/bench_train.py --models simple-mnist --images 2000 --epochs 1 --repeats 1
    python benchmarks/bench_train.py --memory              # peak RSS training sample-cnn on 60,000 images

Needs torch for the comparison (``pip install torch``); without it only our figures are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

MODELS = ("simple-mnist", "sample-cnn", "lenet5")


def _threads(n: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)


def _data(arch, images: int, test_images: int):
    from cnnexplorer.engine.datasets import load_dataset

    train = load_dataset("fashion-mnist", input_shape=arch.input_shape, limit=images)
    test = load_dataset("fashion-mnist", input_shape=arch.input_shape, limit=test_images, part="test")
    return train, test


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_numpy(args) -> dict:
    import numpy as np

    import cnnexplorer

    arch = cnnexplorer.load(args.model)
    train, test = _data(arch, args.images, args.test_images)
    x, y = train.x, train.y
    start = cnnexplorer.init_weights(arch, seed=0)
    cnnexplorer.fit(arch, x[:64], y[:64], weights=start, batch_size=64)             # warm-up
    t0 = time.perf_counter()
    result = cnnexplorer.fit(arch, x, y, weights=start, epochs=args.epochs, batch_size=64, seed=0)
    seconds = time.perf_counter() - t0
    probabilities = cnnexplorer.predict(arch, test.x, result.weights)
    accuracy = float((probabilities.argmax(axis=1) == test.y).mean())
    return {"images_per_s": len(y) * args.epochs / seconds, "test_accuracy": accuracy,
            "peak_rss_mb": _peak_rss_mb(), "images": int(len(y)), "source": train.source,
            "numpy": np.__version__}


def _torch_model(arch, weights):
    """The same layers in PyTorch (the preset layer types), our weights copied in; Flatten in (H, W, C) order."""
    import torch
    from torch import nn

    acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "linear": nn.Identity}

    class ChannelsLastFlatten(nn.Module):
        def forward(self, x):
            return torch.flatten(x.permute(0, 2, 3, 1), 1)

    mods = []
    softmax_head = False
    infos = arch.infer()
    for i, info in enumerate(infos):
        layer, t = info.layer, info.type_name
        if t == "Conv2D":
            kh, kw, cin, cout = info.weight_shapes["kernel"][0]
            conv = nn.Conv2d(cin, cout, (kh, kw), stride=layer.strides)
            conv.weight.data = torch.tensor(weights[f"{info.name}/kernel"]).permute(3, 2, 0, 1).contiguous()
            conv.bias.data = torch.tensor(weights[f"{info.name}/bias"])
            mods += [conv, acts[layer.activation]()]
        elif t in ("MaxPooling2D", "AveragePooling2D"):
            cls = nn.MaxPool2d if t == "MaxPooling2D" else nn.AvgPool2d
            mods.append(cls(layer.pool_size, layer.effective_strides))
        elif t == "Flatten":
            mods.append(ChannelsLastFlatten())
        elif t == "Dropout":
            mods.append(nn.Dropout(layer.rate))
        elif t == "Dense":
            n_in, units = info.weight_shapes["kernel"][0]
            dense = nn.Linear(n_in, units)
            dense.weight.data = torch.tensor(weights[f"{info.name}/kernel"]).T.contiguous()
            dense.bias.data = torch.tensor(weights[f"{info.name}/bias"])
            mods.append(dense)
            if layer.activation == "softmax" and i == len(infos) - 1:
                softmax_head = True                  # CrossEntropyLoss takes the logits
            else:
                mods.append(acts[layer.activation]())
        else:
            raise SystemExit(f"the benchmark's PyTorch builder has no {t}")
    assert softmax_head
    return nn.Sequential(*mods)


def worker_torch(args) -> dict:
    import numpy as np
    import torch

    import cnnexplorer

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    arch = cnnexplorer.load(args.model)
    train, test = _data(arch, args.images, args.test_images)
    start = cnnexplorer.init_weights(arch, seed=0)
    model = _torch_model(arch, {k: np.array(v) for k, v in start.items()})
    x = torch.tensor(train.x).permute(0, 3, 1, 2).contiguous()
    y = torch.tensor(train.y)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(xb, yb):
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()

    model.train()
    step(x[:64], y[:64])                                                             # warm-up
    model.load_state_dict(_torch_model(arch, {k: np.array(v) for k, v in start.items()}).state_dict())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for _ in range(args.epochs):
        order = torch.randperm(len(y), generator=g)
        for s in range(0, len(y), 64):
            idx = order[s:s + 64]
            step(x[idx], y[idx])
    seconds = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        xt = torch.tensor(test.x).permute(0, 3, 1, 2).contiguous()
        accuracy = float((model(xt).argmax(1).numpy() == test.y).mean())
    return {"images_per_s": len(y) * args.epochs / seconds, "test_accuracy": accuracy,
            "peak_rss_mb": _peak_rss_mb(), "images": int(len(y)), "torch": torch.__version__}


def worker_memory(args) -> dict:
    """Peak RSS training sample-cnn on 60,000 28×28 images (the data held once as float32, batches streamed)."""
    import numpy as np

    import cnnexplorer

    arch = cnnexplorer.load("sample-cnn")
    rng = np.random.default_rng(0)
    x = rng.random((60_000, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, 60_000)
    data_mb = x.nbytes / 2 ** 20
    batches = [0]

    def stop_after(event):
        batches[0] = event.batch
        if event.kind == "batch" and event.batch >= args.memory_batches:
            event.stop()

    cnnexplorer.fit(arch, x, y, batch_size=64, callback=stop_after)
    return {"peak_rss_mb": _peak_rss_mb(), "data_mb": data_mb, "batches": batches[0]}


def _spawn(kind: str, model: str, args) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--model", model, "--threads", str(args.threads),
           "--images", str(args.images), "--test-images", str(args.test_images), "--epochs", str(args.epochs),
           "--memory-batches", str(args.memory_batches)]
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--test-images", type=int, default=2_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory", action="store_true", help="measure peak RSS on 60,000 images instead")
    parser.add_argument("--memory-batches", type=int, default=150)
    parser.add_argument("--worker", choices=("numpy", "torch", "memory"), help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _threads(args.threads)
        fn = {"numpy": worker_numpy, "torch": worker_torch, "memory": worker_memory}[args.worker]
        print(json.dumps(fn(args)))
        return
    if args.memory:
        r = _spawn("memory", "sample-cnn", args)
        print(f"peak RSS training sample-cnn on 60,000 28×28×1 images (batch 64, {r.get('batches')} batches): "
              f"{r.get('peak_rss_mb', float('nan')):.0f} MB (of which the float32 images {r.get('data_mb', 0):.0f} MB)"
              if "error" not in r else f"memory run failed: {r['error']}")
        return
    try:
        import torch  # noqa: F401
        kinds = ("numpy", "torch")
    except ImportError:
        kinds = ("numpy",)
        print("torch is not installed: only CNN Explorer's figures are measured")
    print(f"load average at the start: {' '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"{args.threads} threads, batch 64, Adam, {args.images:,} Fashion-MNIST images, {args.epochs} epoch{'s' * (args.epochs != 1)}, "
          f"median of {args.repeats}")
    print(f"{'model':14s} {'ours img/s':>11s} {'torch img/s':>12s} {'ratio':>6s} {'ours acc':>9s} {'torch acc':>10s}")
    ratios = {}
    for model in args.models:
        runs = {k: [] for k in kinds}
        ratios[model] = []
        for _ in range(args.repeats):
            pair = {}
            for kind in kinds:
                r = _spawn(kind, model, args)
                if "error" in r:
                    print(f"{model}: {kind} failed: {r['error']}")
                    continue
                runs[kind].append(r)
                pair[kind] = r["images_per_s"]
            if len(pair) == 2:               # the ratio of the two runs made back to back (the same load)
                ratios[model].append(pair["numpy"] / pair["torch"])

        def med(kind, key):
            values = [r[key] for r in runs.get(kind, [])]
            return statistics.median(values) if values else float("nan")

        ours, theirs = med("numpy", "images_per_s"), med("torch", "images_per_s")
        print(f"{model:14s} {ours:11,.0f} {theirs:12,.0f} {ours / theirs:6.2f} {med('numpy', 'test_accuracy'):9.3f} "
              f"{med('torch', 'test_accuracy'):10.3f}")
    if len(kinds) == 2:
        print("ratio ours / torch of each back-to-back pair (median):")
        for model, values in ratios.items():
            if values:
                print(f"  {model:14s} {' '.join(f'{v:.2f}' for v in values)}  (median {statistics.median(values):.2f})")
    print(f"load average at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
