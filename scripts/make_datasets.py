"""Rebuild the datasets bundled in resources/datasets/ (run by hand; not part of the test run).

    python scripts/make_datasets.py digits          # needs scikit-learn (pip install scikit-learn)
    python scripts/make_datasets.py fashion-mnist   # needs Debian's dataset-fashion-mnist package

digits.npz: scikit-learn's copy of the UCI "Optical Recognition of Handwritten Digits" test set, 1,797 images of
8×8 pixels with values 0..16 (16 = full ink).  Stored as uint8 rescaled to 0..255 by round(v * 255 / 16) (so
16 -> 255, bright ink on black like MNIST; the 17 levels stay distinct), y int64, class_names "0".."9".

fashion-mnist-subset.npz: the first 500 training and first 100 test images of each of the 10 classes of
Fashion-MNIST, in file order (5,000 train + 1,000 test), uint8 28×28 as published.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "resources" / "datasets"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]


def make_digits() -> None:
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.asarray(d.images)
    assert images.shape == (1797, 8, 8) and images.min() == 0 and images.max() == 16
    x = np.rint(images * (255.0 / 16.0)).astype(np.uint8)
    y = np.asarray(d.target, dtype=np.int64)
    names = np.array([str(i) for i in range(10)])
    np.savez_compressed(OUT / "digits.npz", x=x, y=y, class_names=names)
    print(f"digits.npz: x {x.shape} {x.dtype}, y {y.shape}, counts {np.bincount(y).tolist()}")


def make_fashion() -> None:
    sys.path.insert(0, str(OUT.parent.parent))
    from cnnexplorer.engine.datasets import read_idx

    def pick(images: str, labels: str, per_class: int):
        x = read_idx(FASHION_DIR / images)
        y = read_idx(FASHION_DIR / labels).astype(np.int64)
        idx = np.concatenate([np.flatnonzero(y == c)[:per_class] for c in range(10)])
        idx.sort()
        return x[idx], y[idx]

    x_train, y_train = pick("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 500)
    x_test, y_test = pick("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 100)
    np.savez_compressed(OUT / "fashion-mnist-subset.npz", x=x_train, y=y_train, x_test=x_test, y_test=y_test,
                        class_names=np.array(FASHION_CLASSES))
    print(f"fashion-mnist-subset.npz: train {x_train.shape}, test {x_test.shape}")


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    which = sys.argv[1:] or ["digits", "fashion-mnist"]
    for w in which:
        {"digits": make_digits, "fashion-mnist": make_fashion}[w]()
