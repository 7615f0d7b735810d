"""Training-script export: a self-contained PyTorch script that trains an architecture outside CNN Explorer.

Pure text generation from the core (no NumPy).  The model is :func:`~cnnexplorer.model.export_code.to_pytorch_code`'s
module, included as it is generated; around it the script adds plain readers for the dataset formats CNN Explorer
reads (MNIST-format IDX files, a folder with one subfolder per class, an ``.npz`` with ``x``/``y``), the same loss
(sparse categorical cross-entropy, from the logits when the model ends in softmax), the optimisers as Keras 3
applies them (Adam with ε 1e-7, SGD with momentum/Nesterov), the hyper-parameters as command-line options, and
saving the trained weights in CNN Explorer's ``.npz`` layout (Keras layout, keys ``"layer/weight"``).

Every value that reaches the generated code from the architecture or the caller (names, paths, numbers) is written
with ``repr`` of a plain ``str``/``int``/``float``/``bool``/tuple, so a name cannot inject code.
"""

from __future__ import annotations

import keyword
import math
import re
from string import Template

from .architecture import Architecture, LayerInfo
from .errors import ArchitectureError
from .export_code import _require_valid, _version, class_name_for, to_pytorch_code

__all__ = ["OPTIMIZERS", "to_pytorch_training_script"]

OPTIMIZERS = ("adam", "sgd")
_WEIGHTED = ("Conv2D", "DepthwiseConv2D", "Dense", "BatchNormalization")
_MAIN_GUARD = '\nif __name__ == "__main__":'


def _literal(value) -> str:
    """``repr`` of plain data only (the safe literals this module writes into code)."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} cannot be written as a hyper-parameter")
        return repr(value)
    if isinstance(value, (tuple, list)):
        inner = ", ".join(_literal(v) for v in value)
        if isinstance(value, list):
            return f"[{inner}]"
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"not a plain literal: {type(value).__name__}")


def _logits_source(infos: list[LayerInfo]) -> tuple[str, str | None]:
    """Where the loss finds its logits: ``("layer", name)`` — the output of that layer's module, before the final
    softmax; ``("probabilities", None)`` — the model ends in softmax but its input is not a module's output (the
    loss is then Keras' formula on the probabilities); ``("outputs", None)`` — no softmax: the outputs are logits."""
    last = infos[-1]
    args = last.layer.args
    if last.type_name in ("Conv2D", "DepthwiseConv2D", "Dense") and args.get("activation") == "softmax":
        return "layer", last.name
    if last.type_name == "Activation" and args["activation"] == "softmax":
        if len(infos) >= 2:
            prev = infos[-2]
            plain = prev.type_name == "BatchNormalization" or (
                prev.type_name in ("Conv2D", "DepthwiseConv2D", "Dense") and prev.layer.args["activation"] == "linear")
            if plain:
                return "layer", prev.name
        return "probabilities", None
    return "outputs", None


def _with_code_safe_name(arch: Architecture) -> Architecture:
    """``arch``, or a copy whose name can sit inside a docstring and make a class name: the exporter writes the
    model's name as it is into docstrings, so quotes, backslashes and line breaks (which could end the docstring
    and inject code) are replaced by "_", and a name whose class name would be a keyword ("none" -> None) gets
    " model" added.  The script's own MODEL_NAME keeps the real name (as a repr literal)."""
    safe = "".join(ch if ch.isprintable() and ch not in '"\\' else "_" for ch in arch.name)
    if keyword.iskeyword(class_name_for(safe)):
        safe += " model"
    if safe == arch.name:
        return arch
    copy = arch.copy()
    copy.set_name(safe)
    return copy


def _without_main(code: str) -> str:
    """The exporter's module without its ``if __name__ == "__main__":`` demo (the script has its own)."""
    cut = code.rfind(_MAIN_GUARD)
    return code[:cut].rstrip("\n") + "\n" if cut >= 0 else code


def to_pytorch_training_script(arch: Architecture, *, data: str | None = None, epochs: int = 1,
                               batch_size: int = 32, optimizer: str = "adam", learning_rate: float = 0.001,
                               momentum: float = 0.0, nesterov: bool = False, shuffle: bool = True,
                               validation: float = 0.0, seed: int = 0, max_shift: int = 0) -> str:
    """A Python file that trains ``arch`` in PyTorch; the keyword arguments become its options' defaults
    (``data``: the dataset path, else the script requires one).

    The model must output one score per class, shape (classes,).  Raises :class:`ArchitectureError` if a layer
    cannot be computed or the output is not a vector, ``ValueError`` for a bad hyper-parameter.
    """
    infos = _require_valid(arch)
    if not infos or len(infos[-1].output_shape) != 1:
        shape = tuple(infos[-1].output_shape) if infos else tuple(arch.input_shape)
        raise ArchitectureError(f"{arch.name}: the output has shape {shape}; training needs one score per class, "
                                f"shape (classes,) (end the model with Flatten/global pooling and a Dense layer)")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {optimizer!r}")
    checks = [("epochs", epochs, 1), ("batch_size", batch_size, 1), ("max_shift", max_shift, 0)]
    for name, value, low in checks:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be a whole number >= {low}, not {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 32:
        raise ValueError(f"seed must be a whole number from 0 to {2 ** 32 - 1}, not {seed!r}")
    if not (learning_rate > 0 and math.isfinite(learning_rate)):
        raise ValueError(f"learning_rate must be positive, not {learning_rate!r}")
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must be in [0, 1), not {momentum!r}")
    if not 0.0 <= validation < 1.0:
        raise ValueError(f"validation must be a fraction in [0, 1), not {validation!r}")
    if data is not None and not isinstance(data, str):
        raise TypeError(f"data must be a path string, not {type(data).__name__}")

    weight_shapes = {f"{info.name}/{w}": tuple(shape) for info in infos if info.type_name in _WEIGHTED
                     for w, (shape, _trainable) in info.weight_shapes.items()}
    logits_kind, logits_layer = _logits_source(infos)
    classes = int(infos[-1].output_shape[0])
    model_code = _without_main(to_pytorch_code(_with_code_safe_name(arch)))
    values = {
        "VERSION": re.sub(r"[^0-9A-Za-z.+-]", "", _version()),
        "MODEL_NAME": _literal(arch.name),
        "CLASS_NAME_LITERAL": _literal(class_name_for(arch.name)),
        "INPUT_SHAPE": _literal(tuple(int(d) for d in arch.input_shape)),
        "NUM_CLASSES": _literal(classes),
        "WEIGHT_SHAPES": _literal(weight_shapes),
        "LOGITS": _literal((logits_kind, logits_layer)),
        "DATA": _literal(data),
        "EPOCHS": _literal(int(epochs)),
        "BATCH_SIZE": _literal(int(batch_size)),
        "OPTIMIZER": _literal(optimizer),
        "LEARNING_RATE": _literal(float(learning_rate)),
        "MOMENTUM": _literal(float(momentum)),
        "NESTEROV": _literal(bool(nesterov)),
        "SHUFFLE": _literal(bool(shuffle)),
        "VALIDATION": _literal(float(validation)),
        "SEED": _literal(int(seed)),
        "MAX_SHIFT": _literal(int(max_shift)),
    }
    head = _HEAD.substitute(values)
    tail = _TRAINING.substitute(values)
    return head + "\n\n# " + "=" * 100 + "\n# The model: CNN Explorer's PyTorch export of " + values["MODEL_NAME"] + \
        "\n# " + "=" * 100 + "\n\n" + model_code + "\n\n# " + "=" * 100 + "\n# Training\n# " + "=" * 100 + \
        "\n" + tail


_HEAD = Template('''\
"""PyTorch training script generated by CNN Explorer $VERSION.

Trains the model below on a dataset and saves the weights as CNN Explorer's .npz (Keras layout, keys
"layer/weight"), which cnnexplorer.load_weights and the CNN Explorer window accept.  Run it anywhere PyTorch,
NumPy and Pillow are installed (a GPU is used when present):

    python THIS_FILE.py DATA [--epochs N] [--batch-size B] [--optimizer adam|sgd] [--lr LR] [--momentum M]
                          [--nesterov] [--no-shuffle] [--validation FRACTION | --validation-data DATA]
                          [--shift PIXELS]
                          [--weights INIT.npz] [--seed S] [--out WEIGHTS.npz] [--history HISTORY.json]

DATA is one of the formats CNN Explorer reads:
* an MNIST-format IDX images file (.gz or raw; MNIST, Fashion-MNIST, KMNIST, EMNIST), with its labels file beside
  it (X-images-idx3-ubyte[.gz] -> X-labels-idx1-ubyte[.gz]);
* a folder with one subfolder per class (the subfolder names are the class names, in sorted order);
* an .npz archive with x (N, H, W[, C]; uint8 0..255 or float 0..1) and y (N,) integer labels.
Images are converted to the model's input as CNN Explorer converts them: to [0, 1] (8-bit by 1/255, 16-bit by
1/65535), alpha over white, ITU-R 601 luma for grayscale or repetition for RGB, and resized per channel on float
data (Lanczos when reducing, bicubic when enlarging).

Semantics (as CNN Explorer's trainer and Keras 3):
* loss: sparse categorical cross-entropy averaged over the batch; a model that ends in softmax is trained on its
  logits (the value Keras computes on the softmax output, computed stably);
* optimisers: "adam" (beta_1 0.9, beta_2 0.999, epsilon 1e-7, applied exactly as Keras 3 applies them) and "sgd"
  (momentum, Nesterov; PyTorch's SGD equals Keras' for a constant learning rate);
* weights start from Glorot-uniform kernels and zero biases (Keras' defaults) unless --weights gives them;
* BatchNormalization's moving statistics are updated as Keras updates them (moving = momentum * moving +
  (1 - momentum) * batch, with the biased batch variance; PyTorch's own update uses the unbiased one, which a hook
  corrects);
* the last partial batch is used; batches are shuffled each epoch (seeded) unless --no-shuffle.
"""

import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

import numpy as np''')


_TRAINING = Template('''
from PIL import Image, ImageOps  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

MODEL_NAME = $MODEL_NAME
INPUT_SHAPE = $INPUT_SHAPE  # (height, width, channels), channels-last as in CNN Explorer
NUM_CLASSES = $NUM_CLASSES
# every weight CNN Explorer expects, in Keras layout: key "layer/weight" -> shape
WEIGHT_SHAPES = $WEIGHT_SHAPES
# where the loss takes its logits: ("layer", name) = that layer's output before the final softmax;
# ("probabilities", None) = Keras' formula on the softmax output; ("outputs", None) = the outputs are logits
LOGITS = $LOGITS
DEFAULTS = dict(data=$DATA, epochs=$EPOCHS, batch_size=$BATCH_SIZE, optimizer=$OPTIMIZER, lr=$LEARNING_RATE,
                momentum=$MOMENTUM, nesterov=$NESTEROV, shuffle=$SHUFFLE, validation=$VALIDATION, seed=$SEED,
                shift=$MAX_SHIFT)
MAX_BYTES = 2 * 1024 ** 3  # a file declaring more data than this is refused before anything is allocated
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class DataError(Exception):
    """A dataset file cannot be used; the message names it."""


# --- reading datasets ----------------------------------------------------------------------------------------
def read_idx(path):
    """An IDX file (gzip or raw) as an array; the header's sizes are checked before the data is read."""
    name = os.path.basename(path)
    with open(path, "rb") as raw:
        f = gzip.GzipFile(fileobj=raw) if raw.read(2) == b"\\x1f\\x8b" else raw
        raw.seek(0)
        try:
            magic = f.read(4)
            types = {8: ">u1", 9: ">i1", 11: ">i2", 12: ">i4", 13: ">f4", 14: ">f8"}
            if len(magic) < 4 or magic[:2] != b"\\0\\0" or magic[2] not in types or not 1 <= magic[3] <= 4:
                raise DataError(f"{name}: not an IDX file (bad magic number)")
            dims = struct.unpack(f">{magic[3]}I", f.read(4 * magic[3]))
            dtype = np.dtype(types[magic[2]])
            size = math.prod(dims) * dtype.itemsize
            if size > MAX_BYTES:
                raise DataError(f"{name}: declares {dims} = {size:,} bytes, over the limit")
            data = f.read(size + 1)
        except (OSError, EOFError, struct.error) as exc:
            raise DataError(f"{name}: unreadable ({exc})") from None
    if len(data) != size:
        raise DataError(f"{name}: header declares {size:,} bytes of data, the file holds {len(data):,}"
                        + (" or more" if len(data) > size else ""))
    return np.frombuffer(data, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def labels_beside(images_path):
    folder, base = os.path.split(images_path)
    stem = base[:-3] if base.endswith(".gz") else base
    target = stem.replace("images", "labels").replace("idx3", "idx1")
    for candidate in (target, target + ".gz"):
        if os.path.isfile(os.path.join(folder, candidate)):
            return os.path.join(folder, candidate)
    raise DataError(f"{base}: no labels file beside it (expected {target}[.gz])")


def to_float(image):
    """A Pillow image as float32 (H, W, 1 or 3) in [0, 1], alpha composited over white."""
    image = ImageOps.exif_transpose(image)
    if image.mode.startswith("I;16"):
        return (np.asarray(image).astype(np.float32) / 65535.0)[:, :, None]
    if image.mode in ("P", "PA"):
        image = image.convert("RGBA" if image.mode == "PA" or "transparency" in image.info else "RGB")
    elif image.mode == "1":
        image = image.convert("L")
    elif image.mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGB")
    a = np.asarray(image).astype(np.float32) / 255.0
    if a.ndim == 2:
        a = a[:, :, None]
    if image.mode in ("LA", "RGBA"):
        a = a[:, :, :-1] * a[:, :, -1:] + (1.0 - a[:, :, -1:])
    return a


def to_input(a, shape=INPUT_SHAPE):
    """float32 (h, w, 1 or 3) in [0, 1] -> the model's (H, W, C): luma or repetition, per-channel float resize."""
    h, w, c = shape
    if c == 1 and a.shape[2] == 3:
        a = a[:, :, 0:1] * np.float32(0.299) + a[:, :, 1:2] * np.float32(0.587) + a[:, :, 2:3] * np.float32(0.114)
    if a.shape[:2] != (h, w):
        shrinking = h <= a.shape[0] and w <= a.shape[1]
        resample = Image.Resampling.LANCZOS if shrinking else Image.Resampling.BICUBIC
        gap = 3.0 if shrinking else None
        a = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(a[:, :, k], dtype=np.float32)).resize(
            (w, h), resample=resample, reducing_gap=gap), dtype=np.float32) for k in range(a.shape[2])], axis=2)
    if c == 3 and a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.clip(a, 0.0, 1.0).astype(np.float32)


class ArrayImages(Dataset):
    """Images held as read (uint8, uint16 or float in [0, 1]); each is converted when it is fetched."""

    def __init__(self, x, y, class_names, name):
        x = np.asarray(x)
        if x.ndim == 3:
            x = x[..., None]
        if x.ndim != 4 or x.shape[3] not in (1, 3) or x.dtype.kind not in "uif" or len(x) == 0:
            raise DataError(f"{name}: images must be (N, H, W[, 1 or 3]) numbers, not {x.dtype} {x.shape}")
        if x.dtype.kind == "f" and (not np.isfinite(x).all() or x.min() < 0 or x.max() > 1):
            raise DataError(f"{name}: float images must lie in [0, 1]")
        if x.dtype.kind == "i" and (x.min() < 0 or x.max() > 255):
            raise DataError(f"{name}: integer images must be 0..255 (or uint16)")
        y = np.asarray(y)
        if y.shape != (len(x),) or y.dtype.kind not in "iu":
            raise DataError(f"{name}: {len(x)} images need {len(x)} integer labels, got {y.dtype} {y.shape}")
        if y.min() < 0 or y.max() >= NUM_CLASSES:
            raise DataError(f"{name}: labels run {y.min()}..{y.max()}; the model has {NUM_CLASSES} classes")
        self.x, self.y, self.class_names = x, y.astype(np.int64), class_names
        self.scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(x.dtype, 255.0)

    def __len__(self):
        return len(self.y)

    def image(self, i):
        a = self.x[i]
        a = a.astype(np.float32) if a.dtype.kind == "f" else a.astype(np.float32) / np.float32(self.scale)
        return to_input(a)

    def __getitem__(self, i):
        return torch.from_numpy(self.image(i).transpose(2, 0, 1).copy()), int(self.y[i])


class FolderImages(ArrayImages):
    """One subfolder per class; each image file is decoded and converted when it is fetched."""

    def __init__(self, folder):
        classes = sorted(d for d in os.listdir(folder)
                         if not d.startswith(".") and os.path.isdir(os.path.join(folder, d)))
        files = []
        for label, d in enumerate(classes):
            for f in sorted(os.listdir(os.path.join(folder, d))):
                path = os.path.join(folder, d, f)
                if not f.startswith(".") and f.lower().endswith(IMAGE_SUFFIXES) and os.path.isfile(path):
                    files.append((path, label))
        if not files:
            raise DataError(f"{folder}: no images in class subfolders")
        if len(classes) > NUM_CLASSES:
            raise DataError(f"{folder}: {len(classes)} class folders; the model has {NUM_CLASSES} classes")
        self.files, self.y, self.class_names = files, np.array([lab for _, lab in files], np.int64), classes

    def image(self, i):
        path = self.files[i][0]
        try:
            with Image.open(path) as im:
                return to_input(to_float(im))
        except (OSError, ValueError, SyntaxError) as exc:
            raise DataError(f"{path}: cannot be decoded ({exc})") from None


def load_data(path):
    """A torch Dataset from an IDX images file, a folder of class folders or an .npz archive."""
    name = os.path.basename(os.path.normpath(path))
    if os.path.isdir(path):
        return FolderImages(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file or folder")
    with open(path, "rb") as f:
        head = f.read(4)
    if head == b"PK\\x03\\x04":
        try:
            with np.load(path, allow_pickle=False) as z:
                if "x" not in z.files or "y" not in z.files:
                    raise DataError(f"{name}: an .npz dataset needs arrays x and y, it holds {z.files}")
                names = [str(n) for n in z["class_names"]] if "class_names" in z.files else None
                return ArrayImages(z["x"], z["y"], names, name)
        except (ValueError, OSError) as exc:
            raise DataError(f"{name}: cannot be loaded ({exc})") from None
    if "labels" in name:
        raise DataError(f"{name}: is a labels file; give the images file")
    x = read_idx(path)
    y = read_idx(labels_beside(path))
    if len(y) != len(x):
        raise DataError(f"{name}: {len(x)} images but {len(y)} labels")
    if "emnist" in name.lower():  # EMNIST stores each image column by column
        x = np.swapaxes(x, 1, 2)
    return ArrayImages(x, y, None, name)


def split(dataset, fraction, seed):
    """(train, validation) subsets, seeded."""
    order = np.random.default_rng(seed).permutation(len(dataset))
    k = int(round(fraction * len(dataset)))
    return torch.utils.data.Subset(dataset, order[k:].tolist()), torch.utils.data.Subset(dataset, order[:k].tolist())


def shift_batch(x, max_shift, generator):
    """Each image moved by a random whole number of pixels in [-max_shift, max_shift] per axis; zeros fill in."""
    if max_shift <= 0:
        return x
    n, _, h, w = x.shape
    m = max_shift
    padded = torch.nn.functional.pad(x, (m, m, m, m))
    d = torch.randint(-m, m + 1, (n, 2), generator=generator).tolist()
    return torch.stack([padded[i, :, m - dy:m - dy + h, m - dx:m - dx + w] for i, (dy, dx) in enumerate(d)])


# --- optimiser, loss, weights --------------------------------------------------------------------------------
class KerasAdam(torch.optim.Optimizer):
    """Adam exactly as Keras 3 applies it: m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
    w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + epsilon)."""

    def __init__(self, params, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        super().__init__(params, dict(lr=lr, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            b1, b2 = group["beta_1"], group["beta_2"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["t"] = 0
                    state["m"] = torch.zeros_like(p)
                    state["v"] = torch.zeros_like(p)
                state["t"] += 1
                t, m, v = state["t"], state["m"], state["v"]
                m.add_((p.grad - m) * (1 - b1))
                v.add_((p.grad * p.grad - v) * (1 - b2))
                alpha = group["lr"] * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
                p.sub_(m * alpha / (v.sqrt() + group["epsilon"]))


def make_optimizer(model, name, lr, momentum, nesterov):
    if name == "adam":
        return KerasAdam(model.parameters(), lr=lr)
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, nesterov=nesterov)


def module_of(model, layer_name):
    for attribute, (name, _kind) in model.CNNEXPLORER_LAYERS.items():
        if name == layer_name:
            return getattr(model, attribute)
    raise KeyError(layer_name)


class Loss:
    """Sparse categorical cross-entropy averaged over the batch, from the logits (see LOGITS)."""

    def __init__(self, model):
        self.captured = None
        if LOGITS[0] == "layer":
            module_of(model, LOGITS[1]).register_forward_hook(self._capture)

    def _capture(self, module, inputs, output):
        self.captured = output

    def __call__(self, outputs, labels):
        if LOGITS[0] == "layer":
            logits, self.captured = self.captured, None
            return torch.nn.functional.cross_entropy(logits, labels)
        if LOGITS[0] == "probabilities":  # Keras: probabilities clipped to [1e-7, 1 - 1e-7]
            p = outputs / outputs.sum(dim=1, keepdim=True)
            p = p.clamp(1e-7, 1 - 1e-7)
            return torch.nn.functional.nll_loss(torch.log(p), labels)
        return torch.nn.functional.cross_entropy(outputs, labels)


def keras_init(model, seed):
    """Keras' initial weights: Glorot-uniform kernels (fans from the Keras-layout shapes), zero biases and
    BatchNormalization beta and moving mean, unit gamma and moving variance."""
    generator = torch.Generator().manual_seed(seed)
    weights = {}
    for key, shape in WEIGHT_SHAPES.items():
        weight = key.rsplit("/", 1)[1]
        if weight.endswith("kernel"):   # kernel, depthwise_kernel, pointwise_kernel
            receptive = math.prod(shape[:-2])
            fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            kernel = (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * limit
            weights[key] = kernel.numpy().astype(np.float32)
        else:
            weights[key] = (np.ones if weight in ("gamma", "moving_variance", "variance") else np.zeros)(shape,
                                                                                                      np.float32)
    load_cnnexplorer_weights(model, weights)


def keras_moving_variance(model):
    """Make BatchNorm update its moving variance with the biased batch variance, as Keras does: PyTorch adds
    momentum * unbiased, so after each training forward pass a hook takes back momentum * (unbiased - biased)."""

    def correct(module, inputs, output):
        if module.training and module.track_running_stats and module.momentum is not None:
            x = inputs[0].detach()
            n = x.numel() // x.shape[1]
            if n > 1:
                biased = x.var(dim=[d for d in range(x.dim()) if d != 1], unbiased=False)
                # through .data: autograd saved running_var for the backward pass (which, in training mode, does
                # not use its value) and would refuse a changed version
                module.running_var.data.sub_(module.momentum * biased / (n - 1))

    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.register_forward_hook(correct)
    return model


def cnnexplorer_weights(model):
    """The model's weights as CNN Explorer's {"layer/weight": float32 array} in Keras layout."""
    out = {}
    for attribute, (layer_name, kind) in model.CNNEXPLORER_LAYERS.items():
        module = getattr(model, attribute)
        arrays = {}
        if kind in ("conv", "transpose"):   # the inverse of load_cnnexplorer_weights' transposes
            arrays["kernel"] = module.weight.permute(2, 3, 1, 0)
        elif kind in ("depthwise", "separable_depthwise"):
            name = "kernel" if kind == "depthwise" else "depthwise_kernel"
            kh, kw = module.weight.shape[2:]
            c = WEIGHT_SHAPES[f"{layer_name}/{name}"][2]
            arrays[name] = module.weight[:, 0].permute(1, 2, 0).reshape(kh, kw, c, -1)
        elif kind == "separable_pointwise":
            arrays["pointwise_kernel"] = module.weight.permute(2, 3, 1, 0)
        elif kind == "dense":
            arrays["kernel"] = module.weight.t()
        elif kind == "normalization":
            arrays.update(mean=module.mean, variance=module.variance, count=module.count)
        elif kind in ("layerscale", "gamma"):
            arrays["gamma"] = module
        elif kind == "beta":
            arrays["beta"] = module
        if kind in ("conv", "depthwise", "dense", "transpose", "separable_pointwise") and module.bias is not None:
            arrays["bias"] = module.bias
        if kind in ("batchnorm", "layernorm") and module.weight is not None:
            arrays.update(gamma=module.weight, beta=module.bias)
        if kind == "batchnorm":
            arrays.update(moving_mean=module.running_mean, moving_variance=module.running_var)
        for weight, tensor in arrays.items():
            key = f"{layer_name}/{weight}"
            if key in WEIGHT_SHAPES and tensor is not None:
                out[key] = np.ascontiguousarray(tensor.detach().cpu().numpy(), dtype=np.float32)
    for key, shape in WEIGHT_SHAPES.items():
        if key not in out or tuple(out[key].shape) != tuple(shape):
            raise RuntimeError(f"weight {key}: expected shape {shape}, got {getattr(out.get(key), 'shape', None)}")
    return out


def save_npz(arrays, path):
    """Write an .npz atomically (a temporary file beside it, then a rename)."""
    temporary = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.tmp")
    with open(temporary, "wb") as f:
        np.savez(f, **arrays)
    os.replace(temporary, path)


# --- training ------------------------------------------------------------------------------------------------
def evaluate(model, loader, loss_fn, device):
    model.eval()
    total = correct = 0
    loss_sum = 0.0
    with torch.no_grad():
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            out = model(xb)
            loss_sum += float(loss_fn(out, yb)) * len(yb)
            correct += int((out.argmax(dim=1) == yb).sum())
            total += len(yb)
    return loss_sum / max(total, 1), correct / max(total, 1)


def parse_args(argv=None):
    d = DEFAULTS
    p = argparse.ArgumentParser(description=f"Train {MODEL_NAME} (generated by CNN Explorer).")
    p.add_argument("data", nargs="?" if d["data"] else None, default=d["data"],
                   help="IDX images file, folder with one subfolder per class, or .npz with x and y"
                        + (f" (default {d['data']})" if d["data"] else ""))
    p.add_argument("--epochs", type=int, default=d["epochs"])
    p.add_argument("--batch-size", type=int, default=d["batch_size"])
    p.add_argument("--optimizer", choices=("adam", "sgd"), default=d["optimizer"])
    p.add_argument("--lr", type=float, default=d["lr"], help="learning rate")
    p.add_argument("--momentum", type=float, default=d["momentum"], help="SGD momentum")
    p.add_argument("--nesterov", action="store_true", default=d["nesterov"], help="SGD with Nesterov momentum")
    p.add_argument("--shuffle", action=argparse.BooleanOptionalAction, default=d["shuffle"],
                   help="shuffle the training images each epoch (seeded); --no-shuffle keeps their order")
    p.add_argument("--validation", type=float, default=d["validation"], help="fraction held out for validation")
    p.add_argument("--validation-data", help="a separate validation dataset (any format above)")
    p.add_argument("--shift", type=int, default=d["shift"], help="random shifts of up to this many pixels")
    p.add_argument("--weights", help="initial weights (.npz from CNN Explorer); default Glorot-uniform from --seed")
    p.add_argument("--seed", type=int, default=d["seed"])
    p.add_argument("--out", default="weights.npz", help="where to save the trained weights (.npz, Keras layout)")
    p.add_argument("--history", help="save the per-epoch loss/accuracy history as JSON")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    args = p.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or not 0 <= args.validation < 1 or args.shift < 0 or args.lr <= 0:
        p.error("epochs and batch size must be >= 1, validation in [0, 1), shift >= 0, lr > 0")
    return args


def train(args):
    torch.manual_seed(args.seed)
    data = load_data(args.data)
    if args.validation_data:
        train_set, val_set = data, load_data(args.validation_data)
    elif args.validation > 0:
        train_set, val_set = split(data, args.validation, args.seed)
    else:
        train_set, val_set = data, None
    device = torch.device(args.device)
    model = globals()[$CLASS_NAME_LITERAL]()
    if args.weights:
        load_cnnexplorer_weights(model, args.weights)
    else:
        keras_init(model, args.seed)
    keras_moving_variance(model).to(device)
    optimizer = make_optimizer(model, args.optimizer, args.lr, args.momentum, args.nesterov)
    loss_fn = Loss(model)
    generator = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=args.shuffle, generator=generator,
                        num_workers=args.workers)
    val_loader = DataLoader(val_set, batch_size=args.batch_size, num_workers=args.workers) if val_set else None
    history = {"loss": [], "accuracy": []}
    if val_loader is not None:
        history.update(val_loss=[], val_accuracy=[])
    for epoch in range(1, args.epochs + 1):
        model.train()
        seen = correct = 0
        loss_sum = 0.0
        start = time.perf_counter()
        for batch, (xb, yb) in enumerate(loader, 1):
            xb = shift_batch(xb, args.shift, generator).to(device)
            yb = yb.to(device)
            optimizer.zero_grad(set_to_none=True)
            outputs = model(xb)
            loss = loss_fn(outputs, yb)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(yb)
            correct += int((outputs.argmax(dim=1) == yb).sum())
            seen += len(yb)
            rate = seen / max(time.perf_counter() - start, 1e-9)
            print(f"\\repoch {epoch}/{args.epochs} batch {batch}/{len(loader)} loss {loss_sum / seen:.4f} "
                  f"accuracy {correct / seen:.4f} {rate:,.0f} images/s", end="", file=sys.stderr, flush=True)
        history["loss"].append(loss_sum / seen)
        history["accuracy"].append(correct / seen)
        line = f"epoch {epoch}/{args.epochs}: loss {loss_sum / seen:.4f} accuracy {correct / seen:.4f}"
        if val_loader is not None:
            val_loss, val_acc = evaluate(model, val_loader, loss_fn, device)
            history["val_loss"].append(val_loss)
            history["val_accuracy"].append(val_acc)
            line += f" val_loss {val_loss:.4f} val_accuracy {val_acc:.4f}"
        print("\\r" + line + " " * 20, file=sys.stderr, flush=True)
    model.to("cpu")
    save_npz(cnnexplorer_weights(model), args.out)
    print(f"wrote the trained weights of {MODEL_NAME} to {args.out}")
    if args.history:
        with open(args.history, "w", encoding="utf-8") as f:
            json.dump(history, f, indent=1)
    return history


def main(argv=None):
    args = parse_args(argv)
    try:
        train(args)
    except DataError as exc:
        print(" ".join(str(exc).split()), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
''')
