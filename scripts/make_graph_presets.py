"""Write the graph presets of resources/presets/ (run from the repository root; deterministic).

- resnet50, mobilenet-v2, densenet121, inception-v3, xception, efficientnet-b0: converted from the Keras 3
  ``to_json()`` of the keras.applications model (tests/data/keras_apps, made by Keras itself), so every layer,
  name and argument is Keras' own.
- resnet18: the paper's ImageNet ResNet-18 as torchvision builds it (7×7/2 stem, 3×3/2 max pool, basic blocks,
  1×1/2 projection shortcuts, no biases before batch norm, global average pool, 1000-way softmax).
- unet: the 2015 paper's network on 572×572×1 (valid 3×3 convolutions, 2×2 max pools, 2×2 up-convolutions,
  crop and concatenate, 1×1 convolution to 2 classes).
- mini-resnet: a small residual network for 28×28 digits (a later issue trains it).

Usage: python scripts/make_graph_presets.py
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnnexplorer.model import Architecture  # noqa: E402
from cnnexplorer.model.files import architecture_from_any, save_architecture  # noqa: E402
from cnnexplorer.model.layers import (Activation, Add, BatchNormalization, Concatenate, Conv2D,  # noqa: E402
                                      Conv2DTranspose, Cropping2D, Dense, GlobalAveragePooling2D, MaxPooling2D,
                                      ZeroPadding2D)

PRESETS = ROOT / "resources" / "presets"
APPS = ROOT / "tests" / "data" / "keras_apps"

FROM_KERAS = {
    "resnet50": ("ResNet50", "keras.applications.ResNet50 (He et al. 2015), as Keras 3 writes it"),
    "mobilenet-v2": ("MobileNetV2", "keras.applications.MobileNetV2 (Sandler et al. 2018): inverted residuals"),
    "densenet121": ("DenseNet121", "keras.applications.DenseNet121 (Huang et al. 2017): dense concatenations"),
    "inception-v3": ("InceptionV3", "keras.applications.InceptionV3 (Szegedy et al. 2016): Inception modules"),
    "xception": ("Xception", "keras.applications.Xception (Chollet 2017): separable convolutions, residuals"),
    "efficientnet-b0": ("EfficientNetB0", "keras.applications.EfficientNetB0 (Tan & Le 2019): MBConv blocks "
                                          "with squeeze-and-excitation"),
}


def from_keras(preset: str) -> Architecture:
    model, description = FROM_KERAS[preset]
    data = json.loads(gzip.decompress((APPS / f"{model}.json.gz").read_bytes()))
    arch = architecture_from_any(data, f"{model}.json")
    return Architecture(arch.input_shape, arch.layers, preset, description, arch.explicit_inputs)


class Builder:
    """Appends layers, each taking ``x`` (the last output) unless told otherwise."""

    def __init__(self):
        self.layers, self.inputs, self.x = [], {}, "input"

    def __call__(self, layer, *inputs):
        self.layers.append(layer)
        self.inputs[layer.name] = list(inputs) if inputs else [self.x]
        self.x = layer.name
        return layer.name

    def basic_block(self, p: str, filters: int, first: list, shortcut: list, **bn) -> str:
        """A ResNet basic block named ``p``: the ``first`` layers (ending in conv1) → bn1 → relu1 → conv2 (3×3,
        same) → bn2, added to the block's input through the ``shortcut`` layers (none: the input itself), then
        relu; ``bn``: the batch normalisations' arguments."""
        x = self.x
        for layer in first:
            self(layer)
        self(BatchNormalization(name=f"{p}_bn1", **bn))
        self(Activation(name=f"{p}_relu1", activation="relu"))
        self(Conv2D(name=f"{p}_conv2", filters=filters, kernel_size=3, padding="same", use_bias=False))
        main = self(BatchNormalization(name=f"{p}_bn2", **bn))
        for k, layer in enumerate(shortcut):
            x = self(layer, x) if k == 0 else self(layer)
        self(Add(name=f"{p}_add"), main, x)
        return self(Activation(name=f"{p}_out", activation="relu"))


def resnet18() -> Architecture:
    b = Builder()
    b(ZeroPadding2D(name="conv1_pad", padding=3))
    b(Conv2D(name="conv1", filters=64, kernel_size=7, strides=2, use_bias=False))
    b(BatchNormalization(name="bn1", epsilon=1e-5))
    b(Activation(name="relu1", activation="relu"))
    b(ZeroPadding2D(name="pool1_pad", padding=1))
    b(MaxPooling2D(name="pool1", pool_size=3, strides=2))
    for stage, filters in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            p = f"layer{stage}_block{block}"
            stride = 2 if stage > 1 and block == 0 else 1
            if stride == 2:
                first = [ZeroPadding2D(name=f"{p}_pad1", padding=1),
                         Conv2D(name=f"{p}_conv1", filters=filters, kernel_size=3, strides=2, use_bias=False)]
                shortcut = [Conv2D(name=f"{p}_downsample_conv", filters=filters, kernel_size=1, strides=2,
                                   use_bias=False),
                            BatchNormalization(name=f"{p}_downsample_bn", epsilon=1e-5)]
            else:
                first = [Conv2D(name=f"{p}_conv1", filters=filters, kernel_size=3, padding="same", use_bias=False)]
                shortcut = []
            b.basic_block(p, filters, first, shortcut, epsilon=1e-5)
    b(GlobalAveragePooling2D(name="avgpool"))
    b(Dense(name="fc", units=1000, activation="softmax"))
    return Architecture((224, 224, 3), b.layers, "resnet18",
                        "ResNet-18 (He et al. 2015) as torchvision builds it: basic blocks, projection shortcuts",
                        b.inputs)


def unet() -> Architecture:
    b = Builder()
    skips = []
    for level, filters in enumerate((64, 128, 256, 512, 1024), start=1):
        if level > 1:
            b(MaxPooling2D(name=f"down{level}_pool", pool_size=2))
        b(Conv2D(name=f"down{level}_conv1", filters=filters, kernel_size=3, activation="relu"))
        skips.append(b(Conv2D(name=f"down{level}_conv2", filters=filters, kernel_size=3, activation="relu")))
    skips.pop()
    # cropping of each skip: (its size − the up-convolution's output size) / 2 per side
    crops = {4: 4, 3: 16, 2: 40, 1: 88}
    for level, filters in zip((4, 3, 2, 1), (512, 256, 128, 64)):
        up = b(Conv2DTranspose(name=f"up{level}_upconv", filters=filters, kernel_size=2, strides=2))
        crop = b(Cropping2D(name=f"up{level}_crop", cropping=crops[level]), skips[level - 1])
        b(Concatenate(name=f"up{level}_concat"), crop, up)
        b(Conv2D(name=f"up{level}_conv1", filters=filters, kernel_size=3, activation="relu"))
        b(Conv2D(name=f"up{level}_conv2", filters=filters, kernel_size=3, activation="relu"))
    b(Conv2D(name="output", filters=2, kernel_size=1))
    return Architecture((572, 572, 1), b.layers, "unet",
                        "U-Net (Ronneberger et al. 2015) on 572×572×1: valid convolutions, crop and concatenate",
                        b.inputs)


def mini_resnet() -> Architecture:
    b = Builder()
    b(Conv2D(name="stem_conv", filters=16, kernel_size=3, padding="same", use_bias=False))
    b(BatchNormalization(name="stem_bn"))
    b(Activation(name="stem_relu", activation="relu"))
    for block, (filters, stride) in enumerate(((16, 1), (32, 2), (64, 2)), start=1):
        p = f"block{block}"
        first = [Conv2D(name=f"{p}_conv1", filters=filters, kernel_size=3, strides=stride, padding="same",
                        use_bias=False)]
        shortcut = [] if stride == 1 else [Conv2D(name=f"{p}_shortcut", filters=filters, kernel_size=1,
                                                  strides=stride, use_bias=False)]
        b.basic_block(p, filters, first, shortcut)
    b(GlobalAveragePooling2D(name="gap"))
    b(Dense(name="predictions", units=10, activation="softmax"))
    return Architecture((28, 28, 1), b.layers, "mini-resnet",
                        "A small residual network for 28×28 digits: three basic blocks (16, 32, 64 filters)",
                        b.inputs)


def main() -> None:
    made = {name: from_keras(name) for name in FROM_KERAS}
    made.update({"resnet18": resnet18(), "unet": unet(), "mini-resnet": mini_resnet()})
    for name, arch in made.items():
        assert arch.is_valid, (name, arch.invalid_message())
        save_architecture(arch, PRESETS / f"{name}.json")
        print(f"{name}: {len(arch)} layers -> {PRESETS / f'{name}.json'}")


if __name__ == "__main__":
    main()
