"""Train the MNIST-sized presets on the bundled digits and write the weights CNN Explorer ships.

    python scripts/train_presets.py                   # sample-cnn, lenet5, simple-mnist, mini-resnet
    python scripts/train_presets.py --presets lenet5 --epochs 4

Reproducible: the split, the augmentation, the initialisation, the shuffling and dropout all come from ``--seed``
(default 0), and the engine is deterministic for a given NumPy/BLAS.  For each preset:

* scikit-learn's 1,797 handwritten digits (8×8, bundled, CC BY 4.0) are split 80/20 (stratified, seeded); the 20 %
  are held out and never trained on;
* the training images are converted to the model's input (the runner's rules: Lanczos/bicubic resizing) at
  several sizes — the whole frame, and smaller digits placed at random in an otherwise black frame, the way an
  MNIST digit sits in its 28×28 image — so that the network recognises centred MNIST-style digits such as the
  bundled ``digit_7.png`` and not only frame-filling ones;
* the model trains with Adam (Keras 3 semantics) through ``cnnexplorer.fit``;
* the held-out 20 % are prepared the same way (fixed draw) and the accuracy there is recorded.

Writes ``resources/weights/<preset>.npz`` (our Keras-layout weights) and ``resources/weights/trained.json`` (what
each file was trained on and the held-out accuracy it reached), which :mod:`cnnexplorer.engine.pretrained` reads.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cnnexplorer  # noqa: E402
from cnnexplorer.engine import prepare_input, save_weights  # noqa: E402
from cnnexplorer.engine.datasets import load_dataset, split  # noqa: E402

PRESETS = ("sample-cnn", "lenet5", "simple-mnist", "mini-resnet")
#: Epochs per preset.
EPOCHS = {"sample-cnn": 5, "lenet5": 6, "simple-mnist": 6, "mini-resnet": 6}
#: Digit heights as fractions of the frame: the whole frame, then MNIST-like sizes (an MNIST digit is ~20 of 28).
SCALES = (1.0, 0.85, 0.72, 0.62)


def placed(dataset, input_shape, rng) -> tuple[np.ndarray, np.ndarray]:
    """Every image of ``dataset`` once per scale in :data:`SCALES`, each at a random place in a black frame."""
    H, W, C = input_shape
    xs, ys = [], []
    for scale in SCALES:
        h, w = max(4, round(H * scale)), max(4, round(W * scale))
        small = dataset.with_input_shape((h, w, C)).x
        frame = np.zeros((len(small), H, W, C), np.float32)
        top = rng.integers(0, H - h + 1, len(small))
        left = rng.integers(0, W - w + 1, len(small))
        for i in range(len(small)):
            frame[i, top[i]:top[i] + h, left[i]:left[i] + w] = small[i]
        xs.append(frame)
        ys.append(dataset.y)
    return np.concatenate(xs), np.concatenate(ys)


def train_one(name: str, epochs: int, seed: int, out_dir: Path) -> dict:
    arch = cnnexplorer.load(name)
    train, held_out = split(load_dataset("digits"), 0.2, seed=seed)
    x, y = placed(train, arch.input_shape, np.random.default_rng([seed, 1]))
    x_val, y_val = placed(held_out, arch.input_shape, np.random.default_rng([seed, 2]))
    started = time.perf_counter()

    def progress(event):
        if event.kind == "epoch":
            print(f"  {name}: epoch {event.epoch + 1}/{event.epochs} " +
                  " ".join(f"{k} {v:.4f}" for k, v in event.logs.items()) +
                  f" ({event.images_per_second:.0f} images/s)", flush=True)

    result = cnnexplorer.fit(arch, x, y, seed=seed, epochs=epochs, batch_size=32, optimizer="adam",
                             learning_rate=1e-3, validation_data=(x_val, y_val), callback=progress)
    seconds = time.perf_counter() - started
    save_weights(result.weights, out_dir / f"{name}.npz")
    samples = {}
    for digit in ("7", "3"):
        image = ROOT / "resources" / "images" / f"digit_{digit}.png"
        array = prepare_input(str(image), arch.input_shape).array
        probabilities = cnnexplorer.predict(arch, array[None], result.weights)[0]
        samples[image.name] = {"predicted": int(probabilities.argmax()),
                               "probability": round(float(probabilities.max()), 4)}
    return {
        "dataset": "digits (scikit-learn's handwritten digits, CC BY 4.0), 80 % for training",
        "held_out": f"the other 20 % ({len(held_out)} digits, stratified split with seed {seed}), prepared the same way",
        "held_out_accuracy": round(result.history["val_accuracy"][-1], 4),
        "training_accuracy": round(result.history["accuracy"][-1], 4),
        "augmentation": f"each digit at heights {', '.join(f'{s:.0%}' for s in SCALES)} of the frame, placed at "
                        f"random in a black frame",
        "epochs": epochs, "batch_size": 32, "optimizer": "adam", "learning_rate": 1e-3, "seed": seed,
        "training_seconds": round(seconds, 1),
        "sample_images": samples,
        "command": f"python scripts/train_presets.py --presets {name} --epochs {epochs} --seed {seed}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=PRESETS)
    parser.add_argument("--epochs", type=int, default=None, help="default: per preset (EPOCHS)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "weights")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    manifest_path = args.out / "trained.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    for name in args.presets:
        print(f"training {name} …", flush=True)
        manifest[name] = train_one(name, args.epochs or EPOCHS[name], args.seed, args.out)
        print(f"  {name}: held-out accuracy {manifest[name]['held_out_accuracy']:.2%}; "
              f"samples {manifest[name]['sample_images']}", flush=True)
        manifest_path.write_text(json.dumps(dict(sorted(manifest.items())), indent=2) + "\n")


if __name__ == "__main__":
    main()
