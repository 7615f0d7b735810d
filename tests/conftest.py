import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Keras 3 runs on PyTorch here (the test extra installs CPU torch, not TensorFlow); this must be set before any
# test module imports keras.
os.environ.setdefault("KERAS_BACKEND", "torch")

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
KERAS_REFERENCE = DATA / "keras"  # verbatim copies of ../shared/reference (Keras 3.15.1 output)


import pytest  # noqa: E402


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item):
    """Delete now, after the test's fixtures are torn down, the widgets the test is done with (pytest-qt closes
    the ones given to ``qtbot.addWidget``, the ``window`` fixture's among them, and hands them to
    ``deleteLater``).  Left to Qt, a deferred deletion waits for the next *nested* event loop (``qtbot.wait``,
    ``waitUntil``, ``waitSignal``); ``processEvents`` and ``waitExposed`` never run one.  So after a hundred window
    tests that do not wait, a hundred hidden windows were alive and were all deleted inside some later test's
    wait, at a cost that grows faster than their number (2.3 s for 20 windows, 19.5 s for 60 on a loaded 2-core
    machine): long enough for ``waitUntil(lambda: not window.session.running ...)`` to time out with the run's
    result still queued."""
    try:
        return (yield)
    finally:
        core = sys.modules.get("PySide6.QtCore")
        if core is not None and core.QCoreApplication.instance() is not None:
            core.QCoreApplication.sendPostedEvents(None, core.QEvent.Type.DeferredDelete)


@pytest.fixture
def isolated_settings(tmp_path, monkeypatch):
    """Settings, recent files and autosave go to a temporary folder, never the user's."""
    from PySide6.QtCore import QSettings, QStandardPaths

    QStandardPaths.setTestModeEnabled(True)
    QSettings.setDefaultFormat(QSettings.IniFormat)
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(tmp_path / "settings"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    yield tmp_path


@pytest.fixture
def window(qtbot, isolated_settings):
    """A shown MainWindow whose unsaved-changes prompt answers 'discard'."""
    from cnnexplorer.gui import MainWindow

    w = MainWindow()
    w.confirm_discard = lambda: True
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


def residual_block():
    """stem → conv_a → bn → relu → conv_b → add(conv_b, stem) → relu_out: the smallest residual block."""
    from cnnexplorer.model import Architecture
    from cnnexplorer.model.layers import Activation, Add, BatchNormalization, Conv2D

    return Architecture((8, 8, 3), [
        Conv2D(name="stem", filters=4, kernel_size=3, padding="same"),
        Conv2D(name="conv_a", filters=4, kernel_size=3, padding="same"),
        BatchNormalization(name="bn"),
        Activation(name="relu", activation="relu"),
        Conv2D(name="conv_b", filters=4, kernel_size=3, padding="same"),
        Add(name="add"),
        Activation(name="relu_out", activation="relu"),
    ], name="block", inputs={"add": ["conv_b", "stem"]})


def every_graph_layer_model():
    """Every layer type but Activation, GlobalAveragePooling2D and MaxPooling2D (in the chain fixtures) in one
    small graph with merges of every kind, on a (7, 8, 3) input."""
    from cnnexplorer.model import Architecture
    from cnnexplorer.model.layers import (Add, Average, BatchNormalization, Concatenate, Conv2D, Conv2DTranspose,
                                          Cropping2D, CustomScaleLayer, Dense, DepthwiseConv2D, Dropout, Flatten,
                                          GlobalMaxPooling2D, LayerNormalization, LayerScale, LeakyReLU,
                                          LocalResponseNormalization, Maximum, Minimum, Multiply, Normalization,
                                          ReLU, Rescaling, Reshape, SeparableConv2D, StochasticDepth, Subtract,
                                          UpSampling2D, ZeroPadding2D)
    from cnnexplorer.model import AveragePooling2D

    layers = [
        Rescaling(name="rescale", scale=[0.5, 1.0, 2.0], offset=0.1),
        Normalization(name="norm"),
        Normalization(name="norm_fixed", mean=[0.1, 0.2, 0.3], variance=[1.0, 4.0, 0.25], invert=True),
        Conv2D(name="conv", filters=6, kernel_size=3, padding="same", activation="hard_silu"),
        SeparableConv2D(name="sep", filters=6, kernel_size=3, strides=2, padding="same", depth_multiplier=2,
                        activation="hard_sigmoid"),
        Conv2DTranspose(name="up_conv", filters=6, kernel_size=3, strides=2, padding="same"),
        Cropping2D(name="crop", cropping=((0, 1), (1, 0))),
        ZeroPadding2D(name="pad", padding=((0, 0), (0, 1))),
        Add(name="add"),
        Subtract(name="sub"),
        Multiply(name="mul"),
        Average(name="avg"),
        Maximum(name="max"),
        Minimum(name="min"),
        CustomScaleLayer(name="scale", scale=0.17),
        GlobalMaxPooling2D(name="se_pool", keepdims=True),
        Multiply(name="se"),
        Concatenate(name="cat"),
        UpSampling2D(name="up_bilinear", size=(2, 3), interpolation="bilinear"),
        UpSampling2D(name="up_nearest", size=2),
        AveragePooling2D(name="pool", pool_size=2),
        DepthwiseConv2D(name="dw", kernel_size=3, padding="same"),
        BatchNormalization(name="bn"),
        LayerNormalization(name="ln", epsilon=1e-5),
        LayerScale(name="ls", projection_dim=18, init_values=0.5),
        ReLU(name="relu", max_value=5.0, negative_slope=0.5, threshold=0.2),
        LeakyReLU(name="leaky"),
        StochasticDepth(name="drop_path", drop_path_rate=0.2),
        LocalResponseNormalization(name="lrn", size=3),
        Flatten(name="flat"),
        Reshape(name="reshape", target_shape=(-1, 18)),
        Dense(name="dense", units=7, activation="softmax"),
        Dropout(name="drop", rate=0.5),
    ]
    inputs = {"add": ["pad", "conv"], "sub": ["add", "conv"], "mul": ["sub", "add"], "avg": ["mul", "conv", "add"],
              "max": ["avg", "conv"], "min": ["max", "sub"], "scale": ["min", "conv"], "se_pool": ["scale"],
              "se": ["scale", "se_pool"], "cat": ["se", "conv", "add"]}
    return Architecture((7, 8, 3), layers, "every graph layer", inputs=inputs)
