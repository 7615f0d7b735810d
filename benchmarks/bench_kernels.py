"""Benchmark the NumPy conv/pool kernels on the VGG16 layer shapes.

Prints measured figures (this is not a test):

* NumPy SGEMM GFLOP/s (2048x2048 @ 2048x2048, median of several runs);
* for every VGG16 3x3 "same" stride-1 conv layer: median time of
  ``kernels.conv2d``, GFLOP/s (2*MACs/time), ratio to SGEMM;
* the 2x2 stride-2 max pools;
* a whole VGG16 224x224x3 forward (conv+bias+relu, pools, flatten, 3 dense);
* MobileNetV2's 3x3 depthwise layers at 224x224 (``kernels.depthwise_conv2d``;
  stride 2 padded the Keras way, ((0, 1), (0, 1))), each shape once and the
  network's 17 depthwise layers summed; torch ``F.conv2d(groups=C)`` on its
  default NCHW tensors and on channels_last ("CL") tensors;
* DenseNet-121's 58 channel concatenations at 224x224 (``kernels.concatenate``
  of the block's features and a layer's 32 new channels);
* if ``torch`` is importable, the same in PyTorch (CPU, 2 threads, no_grad),
  measured in a *separate process* that alternates with the NumPy process
  (OpenBLAS and torch thread pools fight over the cores otherwise), and the
  ratio numpy/torch (< 1 means NumPy is faster).

Usage:  python benchmarks/bench_kernels.py [--rounds N] [--reps N] [--no-torch]
                                          [--part all|vgg16|graph]
                                          [--torch-threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (name, H(=W), Cin, F)
CONV_LAYERS = [
    ("conv1_1", 224, 3, 64), ("conv1_2", 224, 64, 64),
    ("conv2_1", 112, 64, 128), ("conv2_2", 112, 128, 128),
    ("conv3_1", 56, 128, 256), ("conv3_2", 56, 256, 256),
    ("conv3_3", 56, 256, 256),
    ("conv4_1", 28, 256, 512), ("conv4_2", 28, 512, 512),
    ("conv4_3", 28, 512, 512),
    ("conv5_1", 14, 512, 512), ("conv5_2", 14, 512, 512),
    ("conv5_3", 14, 512, 512),
]
# (name, H(=W), C): 2x2 stride-2 max pools
POOL_LAYERS = [("pool1", 224, 64), ("pool2", 112, 128), ("pool3", 56, 256),
               ("pool4", 28, 512), ("pool5", 14, 512)]
FC = [(7 * 7 * 512, 4096), (4096, 4096), (4096, 1000)]
BLOCKS = [2, 2, 3, 3, 3]
# MobileNetV2 224x224 depthwise 3x3 layers: (name, H(=W) in, C, stride, count in the network)
DW_LAYERS = [
    ("dw112x32", 112, 32, 1, 1), ("dw112x96/2", 112, 96, 2, 1),
    ("dw56x144", 56, 144, 1, 1), ("dw56x144/2", 56, 144, 2, 1),
    ("dw28x192", 28, 192, 1, 2), ("dw28x192/2", 28, 192, 2, 1),
    ("dw14x384", 14, 384, 1, 4), ("dw14x576", 14, 576, 1, 2),
    ("dw14x576/2", 14, 576, 2, 1), ("dw7x960", 7, 960, 1, 3),
]
# DenseNet-121 dense blocks: (H(=W), channels in, layers); each layer adds 32
DENSE_BLOCKS = [(56, 64, 6), (28, 128, 12), (14, 256, 24), (7, 512, 16)]


def dense_concats():
    """(H, C features, 32) for every concatenation of DenseNet-121."""
    return [(h, c0 + 32 * i, 32) for h, c0, n in DENSE_BLOCKS for i in range(n)]


def macs(h, cin, f):
    return h * h * 9 * cin * f


def _timeit(fn, reps):
    fn()  # warm-up
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


# --------------------------------------------------------------------------
# workers (each runs in its own process)
# --------------------------------------------------------------------------

def numpy_worker(reps, part):
    sys.path.insert(0, ROOT)
    import numpy as np

    return _measure(part, {}, _numpy_vgg16, _numpy_graph, reps,
                    np.random.default_rng(0))


def _measure(part, res, vgg16, graph, *args):
    """Run the chosen parts' measurements into ``res``."""
    if part in ("all", "vgg16"):
        vgg16(res, *args)
    if part in ("all", "graph"):
        graph(res, *args)
    return res


def _numpy_vgg16(res, reps, rng):
    import numpy as np
    from cnnexplorer.engine import kernels

    n = 2048
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    res["sgemm_s"] = _timeit(lambda: a @ b, max(reps, 5))
    res["sgemm_gflops"] = 2 * n ** 3 / res["sgemm_s"] / 1e9
    del a, b
    pads = ((1, 1), (1, 1))
    for name, h, cin, f in CONV_LAYERS:
        x = rng.standard_normal((h, h, cin), dtype=np.float32)
        w = rng.standard_normal((3, 3, cin, f), dtype=np.float32) * 0.05
        bias = rng.standard_normal(f, dtype=np.float32)
        res[name] = _timeit(
            lambda: kernels.conv2d(x, w, bias, (1, 1), pads), reps)
    for name, h, c in POOL_LAYERS:
        x = rng.standard_normal((h, h, c), dtype=np.float32)
        res[name] = _timeit(
            lambda: kernels.max_pool2d(x, (2, 2), (2, 2), ((0, 0), (0, 0)),
                                       (h // 2, h // 2)), reps)
    # whole VGG16 forward
    ws = [(rng.standard_normal((3, 3, cin, f), dtype=np.float32)
           * np.float32(np.sqrt(2.0 / (9 * cin))),
           np.zeros(f, np.float32)) for _, _, cin, f in CONV_LAYERS]
    fcs = [(rng.standard_normal((i, o), dtype=np.float32)
            * np.float32(np.sqrt(2.0 / i)), np.zeros(o, np.float32))
           for i, o in FC]
    img = rng.standard_normal((224, 224, 3), dtype=np.float32)

    def forward():
        x = img
        li = 0
        for nconv in BLOCKS:
            for _ in range(nconv):
                w, bb = ws[li]
                x = kernels.conv2d(x, w, bb, (1, 1), pads)
                x = kernels.activation(x, "relu")
                li += 1
            h = x.shape[0]
            x = kernels.max_pool2d(x, (2, 2), (2, 2), ((0, 0), (0, 0)),
                                   (h // 2, h // 2))
        x = kernels.flatten(x)
        for i, (w, bb) in enumerate(fcs):
            x = kernels.dense(x, w, bb)
            x = kernels.activation(x, "relu" if i < 2 else "softmax")
        return x

    res["vgg16_forward"] = _timeit(forward, max(reps, 7))


def _numpy_graph(res, reps, rng):
    import numpy as np
    from cnnexplorer.engine import kernels

    for name, h, c, s, _ in DW_LAYERS:
        x = rng.standard_normal((h, h, c), dtype=np.float32)
        w = rng.standard_normal((3, 3, c, 1), dtype=np.float32)
        p = ((1, 1), (1, 1)) if s == 1 else ((0, 1), (0, 1))
        res[name] = _timeit(
            lambda: kernels.depthwise_conv2d(x, w, None, (s, s), p), reps)
    cats = [(rng.standard_normal((h, h, c), dtype=np.float32),
             rng.standard_normal((h, h, g), dtype=np.float32))
            for h, c, g in dense_concats()]

    def concats():
        for a, b in cats:
            kernels.concatenate([a, b])   # each result dropped, as torch's

    res["densenet121_concats"] = _timeit(concats, reps)


def torch_worker(reps, part, threads):
    import torch

    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        return _measure(part, {"torch_version": torch.__version__},
                        _torch_vgg16, _torch_graph, reps, g)


def _torch_vgg16(res, reps, g):
    import torch
    import torch.nn.functional as F

    for name, h, cin, f in CONV_LAYERS:
        x = torch.randn(1, cin, h, h, generator=g)
        w = torch.randn(f, cin, 3, 3, generator=g) * 0.05
        b = torch.randn(f, generator=g)
        res[name] = _timeit(lambda: F.conv2d(x, w, b, 1, 1), reps)
    for name, h, c in POOL_LAYERS:
        x = torch.randn(1, c, h, h, generator=g)
        res[name] = _timeit(lambda: F.max_pool2d(x, 2, 2), reps)
    ws = [(torch.randn(f, cin, 3, 3, generator=g) * (2.0 / (9 * cin)) ** 0.5,
           torch.zeros(f)) for _, _, cin, f in CONV_LAYERS]
    fcs = [(torch.randn(o, i, generator=g) * (2.0 / i) ** 0.5,
            torch.zeros(o)) for i, o in FC]
    img = torch.randn(1, 3, 224, 224, generator=g)

    def forward():
        x = img
        li = 0
        for nconv in BLOCKS:
            for _ in range(nconv):
                w, bb = ws[li]
                x = F.relu(F.conv2d(x, w, bb, 1, 1))
                li += 1
            x = F.max_pool2d(x, 2, 2)
        x = torch.flatten(x, 1)
        for i, (w, bb) in enumerate(fcs):
            x = F.linear(x, w, bb)
            x = F.relu(x) if i < 2 else F.softmax(x, dim=1)
        return x

    res["vgg16_forward"] = _timeit(forward, max(reps, 7))


def _torch_graph(res, reps, g):
    import torch
    import torch.nn.functional as F

    for name, h, c, s, _ in DW_LAYERS:
        x = torch.randn(1, c, h, h, generator=g)
        w = torch.randn(c, 1, 3, 3, generator=g)
        res[name] = _timeit(
            lambda: F.conv2d(x, w, None, s, 1, 1, c), reps)
        xl = x.contiguous(memory_format=torch.channels_last)
        res[name + "/cl"] = _timeit(
            lambda: F.conv2d(xl, w, None, s, 1, 1, c), reps)
    cats = [(torch.randn(1, c, h, h, generator=g),
             torch.randn(1, k, h, h, generator=g))
            for h, c, k in dense_concats()]

    def concats():
        for a, b in cats:
            torch.cat([a, b], 1)

    res["densenet121_concats"] = _timeit(concats, reps)


# --------------------------------------------------------------------------
# orchestration
# --------------------------------------------------------------------------

def _run_worker(kind, args):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind,
           "--reps", str(args.reps), "--part", args.part,
           "--torch-threads", str(args.torch_threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _torch_available():
    r = subprocess.run([sys.executable, "-c", "import torch"],
                       capture_output=True)
    return r.returncode == 0


def _merge(rounds):
    keys = rounds[0].keys()
    return {k: (statistics.median(r[k] for r in rounds)
                if isinstance(rounds[0][k], (int, float)) else rounds[0][k])
            for k in keys}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", choices=["numpy", "torch"])
    ap.add_argument("--rounds", type=int, default=3,
                    help="alternating numpy/torch process rounds")
    ap.add_argument("--reps", type=int, default=5,
                    help="timed repetitions per shape in each round")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--part", choices=["all", "vgg16", "graph"], default="all",
                    help="vgg16: SGEMM, VGG16 layers and forward; graph: "
                         "MobileNetV2 depthwise layers, DenseNet-121 concats")
    ap.add_argument("--torch-threads", type=int, default=2,
                    help="torch.set_num_threads (NumPy's element-wise "
                         "kernels use one thread, BLAS its default)")
    args = ap.parse_args()

    if args.worker == "numpy":
        print(json.dumps(numpy_worker(args.reps, args.part)))
        return
    if args.worker == "torch":
        print(json.dumps(torch_worker(args.reps, args.part,
                                      args.torch_threads)))
        return

    use_torch = not args.no_torch and _torch_available()
    np_rounds, t_rounds = [], []
    for _ in range(args.rounds):
        np_rounds.append(_run_worker("numpy", args))
        if use_torch:
            t_rounds.append(_run_worker("torch", args))
    npr = _merge(np_rounds)
    tr = _merge(t_rounds) if t_rounds else None

    import numpy as np
    print(f"numpy {np.__version__}; OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; "
          f"{os.cpu_count()} cpus; median over {args.rounds} rounds x "
          f"{args.reps} reps")
    if tr:
        print(f"torch {tr['torch_version']} ({args.torch_threads} threads, "
              "no_grad), separate process alternating with numpy")
    if args.part in ("all", "vgg16"):
        _print_vgg16(npr, tr)
    if args.part in ("all", "graph"):
        _print_graph(npr, tr)


def _print_vgg16(npr, tr):
    sg = npr["sgemm_gflops"]
    print(f"NumPy SGEMM 2048^3: {npr['sgemm_s'] * 1e3:.1f} ms = "
          f"{sg:.1f} GFLOP/s")
    print()
    hdr = (f"{'layer':<9}{'shape':>18}{'numpy ms':>10}{'GFLOP/s':>9}"
           f"{'/sgemm':>8}")
    if tr:
        hdr += f"{'torch ms':>10}{'np/torch':>9}"
    print(hdr)
    tot_np = tot_t = 0.0
    tot_flop = 0.0
    for name, h, cin, f in CONV_LAYERS:
        t = npr[name]
        flop = 2 * macs(h, cin, f)
        tot_np += t
        tot_flop += flop
        gf = flop / t / 1e9
        line = (f"{name:<9}{f'{h}x{h}x{cin}->{f}':>18}{t * 1e3:>10.2f}"
                f"{gf:>9.1f}{gf / sg:>8.2f}")
        if tr:
            tot_t += tr[name]
            line += f"{tr[name] * 1e3:>10.2f}{t / tr[name]:>9.2f}"
        print(line)
    for name, h, c in POOL_LAYERS:
        t = npr[name]
        tot_np += t
        line = f"{name:<9}{f'{h}x{h}x{c} max2':>18}{t * 1e3:>10.2f}{'':>17}"
        if tr:
            tot_t += tr[name]
            line += f"{tr[name] * 1e3:>10.2f}{t / tr[name]:>9.2f}"
        print(line)
    conv_np = sum(npr[n] for n, *_ in CONV_LAYERS)
    gf = tot_flop / conv_np / 1e9
    print(f"{'conv sum':<9}{'':>18}{conv_np * 1e3:>10.2f}{gf:>9.1f}"
          f"{gf / sg:>8.2f}" + (
              f"{sum(tr[n] for n, *_ in CONV_LAYERS) * 1e3:>10.2f}"
              f"{conv_np / sum(tr[n] for n, *_ in CONV_LAYERS):>9.2f}"
              if tr else ""))
    line = f"{'total':<9}{'conv+pool':>18}{tot_np * 1e3:>10.2f}{'':>17}"
    if tr:
        line += f"{tot_t * 1e3:>10.2f}{tot_np / tot_t:>9.2f}"
    print(line)
    line = (f"{'VGG16':<9}{'full forward':>18}"
            f"{npr['vgg16_forward'] * 1e3:>10.2f}{'':>17}")
    if tr:
        line += (f"{tr['vgg16_forward'] * 1e3:>10.2f}"
                 f"{npr['vgg16_forward'] / tr['vgg16_forward']:>9.2f}")
    print(line)


def _print_graph(npr, tr):
    print()
    print("MobileNetV2 depthwise 3x3 (224x224 input); x N = layers of that shape")
    hdr = f"{'layer':<12}{'shape':>16}{'N':>3}{'numpy ms':>10}{'GMAC/s':>8}"
    if tr:
        hdr += f"{'torch ms':>10}{'np/torch':>9}{'torch CL':>10}{'np/CL':>7}"
    print(hdr)
    net_np = net_t = net_cl = 0.0
    for name, h, c, s, n in DW_LAYERS:
        t = npr[name]
        ho = -(-h // s)
        gmacs = ho * ho * c * 9 / t / 1e9
        net_np += n * t
        line = (f"{name:<12}{f'{h}x{h}x{c} s{s}':>16}{n:>3}{t * 1e3:>10.3f}"
                f"{gmacs:>8.2f}")
        if tr:
            net_t += n * tr[name]
            net_cl += n * tr[name + "/cl"]
            line += (f"{tr[name] * 1e3:>10.3f}{t / tr[name]:>9.2f}"
                     f"{tr[name + '/cl'] * 1e3:>10.3f}"
                     f"{t / tr[name + '/cl']:>7.2f}")
        print(line)
    line = f"{'all 17':<12}{'':>16}{'':>3}{net_np * 1e3:>10.3f}{'':>8}"
    if tr:
        line += (f"{net_t * 1e3:>10.3f}{net_np / net_t:>9.2f}"
                 f"{net_cl * 1e3:>10.3f}{net_np / net_cl:>7.2f}")
    print(line)
    t = npr["densenet121_concats"]
    line = (f"{'concat':<12}{'DenseNet-121':>16}{len(dense_concats()):>3}"
            f"{t * 1e3:>10.3f}{'':>8}")
    if tr:
        tt = tr["densenet121_concats"]
        line += f"{tt * 1e3:>10.3f}{t / tt:>9.2f}"
    print(line)


if __name__ == "__main__":
    main()
