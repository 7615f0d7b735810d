"""The inspector's formula text (cnnexplorer.model.figures): one entry per layer type, every number filled in
from the model's own figures, and every worked sum on a line adding up to the result it quotes."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest

import cnnexplorer
from cnnexplorer.model import LAYER_TYPES, Architecture
from cnnexplorer.model.figures import FIGURE_LINES, figure_lines
from cnnexplorer.model.layers import (Activation, Add, Concatenate, Conv2D, Conv2DTranspose, GlobalAveragePooling2D,
                                      MaxPooling2D, Reshape, SeparableConv2D, UpSampling2D)
from cnnexplorer.model.summary import format_count

from conftest import every_graph_layer_model


def test_every_layer_type_has_a_figure_entry():
    assert set(FIGURE_LINES) == set(LAYER_TYPES), set(LAYER_TYPES) ^ set(FIGURE_LINES)


def all_infos():
    chain = Architecture((12, 12, 3), [Conv2D(filters=4, kernel_size=3), MaxPooling2D(pool_size=2),
                                       Activation(activation="relu"), GlobalAveragePooling2D()])
    return chain.infer() + every_graph_layer_model().infer() + cnnexplorer.load("mini-resnet").infer()


_ARITHMETIC = re.compile(r"^[\d·+−/() ,]+$")


def _evaluate(expression: str) -> Fraction:
    python = expression.replace("·", "*").replace("−", "-").replace(",", "")
    assert re.fullmatch(r"[\d*+\-/() ]+", python), expression
    return Fraction(eval(python, {"__builtins__": {}}))  # digits and operators only (checked above)


def test_every_type_gets_lines_and_every_worked_sum_adds_up():
    seen = set()
    for info in all_infos():
        assert info.status == "ok", info.error
        lines = figure_lines(info)
        assert lines and all(line.strip() and "\n" not in line for line in lines), (info.name, lines)
        seen.add(info.type_name)
        for line in lines:
            # "... = 3·3·8 + 8 = 80": every chain of "= expr = result" must agree
            pieces = [p.strip() for p in line.split("=")]
            for left, right in zip(pieces[1:], pieces[2:]):
                result = right.split(" ")[0].replace(",", "")
                if _ARITHMETIC.match(left) and re.fullmatch(r"-?\d+", result):
                    assert _evaluate(left) == int(result), (info.name, line)
        if info.weight_shapes:
            assert any(line.startswith("params") and line.endswith(format_count(info.params))
                       or f"= {format_count(info.params)}" in line for line in lines), (info.name, lines)
    assert seen == set(LAYER_TYPES)


def infos_of(arch):
    return {info.name: info for info in arch.infer()}


def test_merge_lines_name_the_inputs_and_their_shapes():
    arch = Architecture((8, 8, 4), [Conv2D(name="a", filters=4, kernel_size=1), Conv2D(name="b", filters=4,
                                    kernel_size=1), Add(name="add"), Concatenate(name="cat")],
                        inputs={"b": ("input",), "add": ("a", "b"), "cat": ("add", "a", "b")})
    info = infos_of(arch)
    assert figure_lines(info["add"]) == ["output = a + b, element-wise",
                                         "(None, 8, 8, 4) + (None, 8, 8, 4) → (None, 8, 8, 4)"]
    assert figure_lines(info["cat"]) == ["channels: 4 + 4 + 4 = 12",
                                             "joins add, a, b in this order; every other size equal"]


def test_broadcasting_is_said():
    arch = cnnexplorer.load("efficientnet-b0")
    se = next(i for i in arch.infer() if i.type_name == "Multiply")
    lines = figure_lines(se)
    assert "(size-1 axes broadcast)" in lines[1]
    assert lines[0] == f"output = {se.inputs[0]} · {se.inputs[1]}, element-wise"


def test_convolution_variants_fill_in_their_numbers():
    arch = Architecture((14, 14, 8), [SeparableConv2D(filters=16, kernel_size=3, padding="same"),
                                      Conv2DTranspose(filters=4, kernel_size=3, strides=2, padding="valid"),
                                      UpSampling2D(size=(2, 3)), Reshape(target_shape=(-1, 4))])
    sep, tr, up, reshape = arch.infer()
    assert figure_lines(sep)[:2] == ["params = kh·kw·C_in·M + C_in·M·filters + filters",
                                     f"  = 3·3·8·1 + 8·1·16 + 16 = {sep.params}"]
    assert sep.params == 3 * 3 * 8 + 8 * 16 + 16
    assert f"  = 3·3·4·16 + 4 = {format_count(tr.params)}" in figure_lines(tr)
    assert "height: (n − 1)·s + max(k_eff, s) = (14 − 1)·2 + max(3, 2) = 29" in figure_lines(tr)
    assert tr.output_shape[:2] == (29, 29)
    assert figure_lines(up)[:2] == ["height: 29·2 = 58", "width: 29·3 = 87"]
    assert "-1 = 20,184 / 4 = 5046" in figure_lines(reshape)


def test_a_failed_layer_has_no_lines():
    arch = Architecture((4, 4, 1), [Conv2D(filters=2, kernel_size=5), Conv2D(filters=2, kernel_size=1)])
    assert [figure_lines(i) for i in arch.infer()] == [[], []]


@pytest.mark.parametrize("name", ["resnet50", "densenet121", "unet"])
def test_presets_all_have_lines(name):
    for info in cnnexplorer.load(name).infer():
        assert figure_lines(info), info.name
