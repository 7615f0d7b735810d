"""Architecture files: every malformed file is refused with one precise message; save/load round trips;
atomic saving; Keras defaults for omitted arguments.

The corpus of malformed files lives in tests/data/bad_architectures (README.md there lists them); the
expectations are the table ``BAD_FILES`` below.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

import cnnexplorer
from cnnexplorer import cli
from cnnexplorer.model import (LAYER_TYPES, Activation, Architecture, ArchitectureFileError, AveragePooling2D,
                               BatchNormalization, Conv2D, Dense, DepthwiseConv2D, Dropout, Flatten,
                               GlobalAveragePooling2D, GlobalMaxPooling2D, LocalResponseNormalization, MaxPooling2D,
                               ZeroPadding2D, load_architecture, save_architecture, summarize)
from cnnexplorer.model import files as files_module
from cnnexplorer.model.args import ACTIVATIONS

from conftest import DATA

BAD = DATA / "bad_architectures"

# filename: (expected place, expected substring of the problem).
# An empty place means the problem is with the file as a whole (the message is "<path>: <problem>").
BAD_FILES: dict[str, tuple[str, str]] = {
    # --- not JSON at all ---------------------------------------------------------------------------
    "empty.json": ("", "the file is empty"),
    "whitespace_only.json": ("", "the file is empty"),
    "truncated.json": ("line ", "ends too early (truncated?)"),
    "truncated_mid_string.json": ("line 3 column", "not valid JSON: Unterminated string"),
    "png_header.json": ("", "binary file"),
    "nul_bytes.json": ("", "binary file"),
    "latin1.json": ("", "not UTF-8 text (byte 0xe9"),
    "nan_literal.json": ("", "NaN is not allowed"),
    "infinity_literal.json": ("", "-Infinity is not allowed"),
    "huge_float_1e999.json": ("layers[1].rate", "expected a finite number, got inf"),
    # --- the envelope ------------------------------------------------------------------------------
    "top_level_list.json": ("", "expected a JSON object at the top level, got a list"),
    "top_level_string.json": ("", "expected a JSON object at the top level, got a string"),
    "format_missing.json": ("format", 'expected "cnnexplorer.architecture", got null'),
    "format_wrong.json": ("format", 'expected "cnnexplorer.architecture", got "keras"'),
    "version_3.json": ("version", "version 3 is not supported"),
    "version_string.json": ("version", 'expected an integer, got "1"'),
    "unknown_top_level_key.json": ("optimizer", "unknown key"),
    "unknown_top_level_key_with_newline.json": ('"evil\\nkey"', "unknown key"),
    "name_not_string.json": ("name", "expected a non-empty string of at most 10,000 characters, without control "
                                     "characters, line breaks or lone surrogates, got 42"),
    "model_name_lone_surrogate.json": ("name", 'lone surrogates, got "\\ud800"'),
    "model_name_control_character.json": ("name", 'got "bell\\u0007"'),
    "model_name_newline.json": ("name", 'got "two\\nlines"'),
    "description_lone_surrogate.json": ("description", "without control characters"),
    "duplicate_top_level_key.json": ("name", 'the key "name" appears more than once in the same object'),
    "duplicate_key_in_layer.json": ("layers[0].filters", 'the key "filters" appears more than once'),
    # --- input_shape -------------------------------------------------------------------------------
    "input_shape_missing.json": ("input_shape", "missing"),
    "input_shape_rank4.json": ("input_shape", "got [1, 28, 28, 1]"),
    "input_shape_zero.json": ("input_shape", "got [28, 0, 1]"),
    "input_shape_negative.json": ("input_shape", "got [-28, 28, 1]"),
    "input_shape_float.json": ("input_shape", "got [28.5, 28, 1]"),
    "input_shape_absurd.json": ("input_shape", "16,384"),
    # --- the layer list ----------------------------------------------------------------------------
    "layers_not_list.json": ("layers", "expected a list of layers, got an object"),
    "layer_not_object.json": ("layers[1]", "expected a layer object, got a string"),
    "layer_type_missing.json": ("layers[1].type", "missing"),
    "layer_type_unknown.json": ("layers[1].type", "unknown layer type 'Conv3D'"),
    "unknown_argument.json": ("layers[1].kernel_initializer", "Conv2D"),
    "duplicate_layer_names.json": ("layers[1].name", "duplicate layer name 'conv' (also layers[0])"),
    "layer_name_with_space.json": ("layers[1].name", 'got "a b"'),
    "layer_name_empty.json": ("layers[1].name", 'got ""'),
    "layer_name_trailing_newline.json": ("layers[0].name", 'got "conv\\n"'),
    "layer_argument_self.json": ("layers[0].self", "one of the arguments of Flatten"),
    # --- one argument wrong in itself --------------------------------------------------------------
    "filters_missing.json": ("layers[1].filters", "required"),
    "filters_zero.json": ("layers[1].filters", "an integer from 1 to 65,536, got 0"),
    "filters_string.json": ("layers[1].filters", 'an integer from 1 to 65,536, got "64"'),
    "filters_float.json": ("layers[1].filters", "an integer from 1 to 65,536, got 3.5"),
    "filters_bool.json": ("layers[1].filters", "an integer from 1 to 65,536, got true"),
    "filters_huge.json": ("layers[1].filters", "got 10000000"),
    "kernel_size_one_element.json": ("layers[1].kernel_size", "got [3]"),
    "kernel_size_three_elements.json": ("layers[1].kernel_size", "got [3, 3, 3]"),
    "strides_zero.json": ("layers[1].strides", "an integer from 1 to 1,024 or a pair of them"),
    "padding_full.json": ("layers[1].padding", 'got "full"'),
    "padding_malformed_nested.json": ("layers[1].padding", "got [[1, 2, 3], [0, 0]]"),
    "padding_negative.json": ("layers[1].padding", "got [[0, -1], [1, 1]]"),
    "activation_typo.json": ("layers[1].activation", 'got "relux"'),
    "use_bias_string.json": ("layers[1].use_bias", 'expected true or false, got "yes"'),
    "dropout_rate_above_1.json": ("layers[1].rate", "got 1.5"),
    "dropout_rate_negative.json": ("layers[1].rate", "got -0.1"),
    # --- arguments that contradict each other ------------------------------------------------------
    "groups_not_dividing_filters.json": ("layers[1].groups", "a divisor of filters (10), got 4"),
    "pool_padding_too_large.json": ("layers[1].padding", "at most half the pool size (1)"),
    "lrn_k_zero.json": ("layers[1].k", "a number above 0 (with k = 0, a zero value"),
    # --- Keras JSON that cannot be imported --------------------------------------------------------
    "keras_unsupported_lstm.json": ("config.layers[1].class_name", "unsupported Keras layer class 'LSTM'"),
    "keras_unsupported_random_flip.json": ("config.layers[1].class_name", "unsupported Keras layer class 'RandomFlip'"),
    "keras_channels_first.json": ("config.layers[1].config.data_format", "only channels_last is supported"),
    "keras_no_input_shape.json": ("config", "no input shape"),
    "keras_tensor_config_string.json": ("config.layers[1].inbound_nodes", 'config is an object, got "input_layer"'),
    "keras_tensor_config_list.json": ("config.layers[1].inbound_nodes", 'config is an object, got ["input_layer"'),
    "keras_tensor_config_null.json": ("config.layers[1].inbound_nodes", "config is an object, got null"),
    "keras_model_name_newline.json": ("config.name", 'got "a\\nb"'),
    "keras_duplicate_key.json": ("config.layers[1].config.units", 'the key "units" appears more than once'),
}

# The few corpus files that also go through a real ``python -m cnnexplorer`` process.
SUBPROCESS_FILES = ("png_header.json", "latin1.json", "filters_zero.json", "version_3.json",
                    "unknown_top_level_key_with_newline.json")


def test_corpus_and_table_agree():
    on_disk = {p.name for p in BAD.glob("*.json")}
    assert on_disk == set(BAD_FILES)
    assert len(on_disk) >= 35
    manifest = (BAD / "README.md").read_text(encoding="utf-8")
    for name in BAD_FILES:
        assert f"`{name}`" in manifest, f"{name} is not described in bad_architectures/README.md"


def test_corpus_files_are_small_real_files():
    for name in BAD_FILES:
        path = BAD / name
        assert path.is_file() and not path.is_symlink()
        assert path.stat().st_size < 4096


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_raises_precise_error(name):
    place, problem = BAD_FILES[name]
    path = BAD / name
    with pytest.raises(ArchitectureFileError) as info:
        load_architecture(path)
    exc = info.value
    message = str(exc)
    assert exc.path == str(path)
    assert message.startswith(f"{path}: ")
    if place:
        # "<path>: <place>: <problem>" - the place comes right after the path, with nothing in front of it.
        assert exc.place.startswith(place), f"place {exc.place!r} does not start with {place!r}"
        assert message.startswith(f"{path}: {exc.place}: ")
    else:
        assert exc.place == ""
    assert problem in exc.problem
    assert message.endswith(exc.problem)


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_via_public_load(name):
    """``cnnexplorer.load`` (paths and preset names) gives the same error."""
    with pytest.raises(ArchitectureFileError):
        cnnexplorer.load(str(BAD / name))


def test_bad_file_loads_from_bytes_too():
    """``loads`` (used by paste/drag-and-drop) reports like the file reader, under the name it is given."""
    with pytest.raises(ArchitectureFileError) as info:
        files_module.loads((BAD / "filters_zero.json").read_bytes(), where="<clipboard>")
    assert str(info.value).startswith("<clipboard>: layers[1].filters: ")


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_cli_summary_on_bad_file_in_process(name, capsys):
    path = BAD / name
    code = cli.main(["summary", str(path)])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    assert err.endswith("\n")
    assert len(err.splitlines()) == 1, f"stderr is not one line: {err!r}"
    assert err.startswith(str(path))
    assert BAD_FILES[name][1] in err


@pytest.mark.parametrize("name", SUBPROCESS_FILES)
def test_cli_summary_on_bad_file_subprocess(name, tmp_path):
    path = BAD / name
    proc = subprocess.run([sys.executable, "-m", "cnnexplorer", "summary", str(path)], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.splitlines()) == 1, f"stderr is not one line: {proc.stderr!r}"
    assert proc.stderr.startswith(str(path))


def test_oversized_file_is_refused_before_parsing(tmp_path, capsys):
    path = tmp_path / "huge.json"
    # A syntactically valid architecture padded to 20 MB with whitespace: only its size is wrong.
    head = b'{"format": "cnnexplorer.architecture", "version": 1, "input_shape": [28, 28, 1], "layers": []'
    size = 20 * 1024 * 1024
    with open(path, "wb") as f:
        f.write(head)
        f.write(b" " * (size - len(head) - 1))
        f.write(b"}")
    assert path.stat().st_size == size
    with pytest.raises(ArchitectureFileError) as info:
        load_architecture(path)
    assert str(info.value).startswith(f"{path}: ")
    assert "20,971,520 bytes" in str(info.value)
    assert "at most 16,777,216 bytes" in str(info.value)
    assert cli.main(["summary", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith(str(path))


def test_directory_and_missing_file(tmp_path):
    with pytest.raises(ArchitectureFileError, match="is a directory"):
        load_architecture(tmp_path)
    with pytest.raises(ArchitectureFileError, match="no such file"):
        load_architecture(tmp_path / "absent.json")


# --- save → load round trip -----------------------------------------------------------------------
@pytest.mark.parametrize("preset", cnnexplorer.presets())
def test_preset_round_trip(preset, tmp_path):
    arch = cnnexplorer.load(preset)
    path = tmp_path / f"{preset}.json"
    cnnexplorer.save(arch, path)
    again = cnnexplorer.load(str(path))
    assert again == arch
    assert again is not arch
    assert summarize(again).to_dict() == summarize(arch).to_dict()
    # Saving what was loaded gives the same bytes (a stable format, good for version control).
    path2 = tmp_path / "again.json"
    cnnexplorer.save(again, path2)
    assert path2.read_bytes() == path.read_bytes()


def every_layer_architecture() -> Architecture:
    """Every layer type, every activation, and each kind of argument away from its default."""
    layers = [
        ZeroPadding2D(name="pad_asym", padding=[[0, 1], [2, 3]]),
        Conv2D(name="conv_asym", filters=12, kernel_size=(3, 5), strides=(2, 1), padding=[[0, 1], [2, 3]],
               dilation_rate=(1, 2), groups=3, activation="relu6", use_bias=False),
        DepthwiseConv2D(name="dw", kernel_size=3, strides=1, padding=[1, 2], depth_multiplier=2,
                        dilation_rate=(2, 2), activation="leaky_relu", use_bias=True),
        ZeroPadding2D(name="pad_pair", padding=[2, 1]),
        ZeroPadding2D(name="pad_int", padding=3),
        MaxPooling2D(name="max_ceil", pool_size=(3, 3), strides=None, padding=1, ceil_mode=True),
        AveragePooling2D(name="avg_explicit", pool_size=(2, 3), strides=(1, 2), padding=[[0, 1], [1, 0]],
                         ceil_mode=False, count_include_pad=False),
        AveragePooling2D(name="avg_same", pool_size=2, strides=(2, 2), padding="same"),
        BatchNormalization(name="bn", epsilon=1e-5, momentum=0.9, center=False, scale=True),
        LocalResponseNormalization(name="lrn", size=3, alpha=2e-4, beta=0.5, k=1.0),
        Conv2D(name="conv_same", filters=16, kernel_size=1, padding="same", activation="gelu"),
        GlobalAveragePooling2D(name="gap_keep", keepdims=True),
        GlobalMaxPooling2D(name="gmp", keepdims=False),
        Dropout(name="drop", rate=0.25),
        Dense(name="fc", units=20, activation="silu", use_bias=False),
    ]
    layers += [Activation(name=f"act_{a}", activation=a) for a in ACTIVATIONS]
    layers += [Flatten(name="flatten")]
    return Architecture((33, 31, 3), layers, name="every layer",
                        description="Ünïcode — every layer type ✓\nsecond line")


def test_every_layer_architecture_covers_everything():
    """The chain covers every layer type of the chain era; tests/conftest.py's every_graph_layer_model covers the
    graph-era types (merges need a graph)."""
    from conftest import every_graph_layer_model

    arch = every_layer_architecture()
    graph = every_graph_layer_model()
    assert {layer.type_name for layer in arch.layers} | {layer.type_name for layer in graph} == set(LAYER_TYPES)
    assert {layer.activation for layer in arch.layers if isinstance(layer, Activation)} == set(ACTIVATIONS)
    assert arch.is_valid, arch.first_error and arch.first_error.error


def test_every_layer_round_trip(tmp_path):
    arch = every_layer_architecture()
    path = tmp_path / "every.json"
    save_architecture(arch, path)
    again = load_architecture(path)
    assert again == arch
    for a, b in zip(arch.layers, again.layers):
        assert a.args == b.args and a.name == b.name and type(a) is type(b)
    assert summarize(again).to_dict() == summarize(arch).to_dict()
    # The specific non-default values survive in the normalised form.
    assert again[1].padding == ((0, 1), (2, 3))
    assert again[2].padding == ((1, 1), (2, 2))
    assert again[3].padding == ((2, 2), (1, 1))
    assert again[4].padding == ((3, 3), (3, 3))
    assert again[5].strides is None and again[5].ceil_mode is True
    assert again[6].strides == (1, 2) and again[6].count_include_pad is False
    assert again[1].groups == 3 and again[1].dilation_rate == (1, 2) and again[1].use_bias is False


def test_dumps_is_json_with_format_and_version_first():
    arch = every_layer_architecture()
    text = files_module.dumps(arch)
    data = json.loads(text)
    assert list(data)[:2] == ["format", "version"]
    assert data["format"] == "cnnexplorer.architecture" and data["version"] == 1
    assert data["input_shape"] == [33, 31, 3]
    assert [entry["type"] for entry in data["layers"]] == [layer.type_name for layer in arch.layers]
    assert all(list(entry)[:2] == ["type", "name"] for entry in data["layers"])
    # Readable: one line per layer; non-ASCII text is written as is, not \\u-escaped.
    assert len(text.splitlines()) == 1 + (len(data) - 1) + 1 + len(arch) + 1 + 1  # { keys "layers": [ ... ] }
    assert "Ünïcode" in text
    assert text.endswith("\n")
    # Compact padding forms as documented: asymmetric, pair, int.
    assert data["layers"][0]["padding"] == [[0, 1], [2, 3]]
    assert data["layers"][2]["padding"] == [1, 2]
    assert data["layers"][4]["padding"] == 3
    assert data["layers"][5]["strides"] is None
    assert files_module.loads(text) == arch


def test_empty_architecture_round_trip(tmp_path):
    arch = Architecture((8, 8, 1), [], name="empty")
    path = tmp_path / "empty.json"
    save_architecture(arch, path)
    assert json.loads(path.read_text(encoding="utf-8"))["layers"] == []
    assert load_architecture(path) == arch


# --- atomic save ----------------------------------------------------------------------------------
def test_save_over_existing_file_leaves_no_temp_files(tmp_path):
    path = tmp_path / "model.json"
    path.write_text("old content", encoding="utf-8")
    arch = cnnexplorer.load("lenet5")
    save_architecture(arch, path)
    save_architecture(arch, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]
    assert load_architecture(path) == arch


def test_save_with_a_relative_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_architecture(cnnexplorer.load("sample-cnn"), "relative.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["relative.json"]


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_failed_save_keeps_the_original(tmp_path, monkeypatch, failing):
    path = tmp_path / "model.json"
    original = cnnexplorer.load("sample-cnn")
    save_architecture(original, path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, boom)
    with pytest.raises(OSError):
        save_architecture(cnnexplorer.load("vgg16"), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]
    assert load_architecture(path) == original


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_saving_over_a_file_keeps_its_permissions(tmp_path):
    """An atomic save replaces the file by a new one; the new one must keep the old one's permission bits
    (a project file shared with a group must not silently become private)."""
    path = tmp_path / "shared.json"
    path.write_text("{}", encoding="utf-8")
    os.chmod(path, 0o664)
    save_architecture(cnnexplorer.load("lenet5"), path)
    assert _mode(path) == 0o664


def test_new_file_gets_the_usual_permissions(tmp_path):
    """A new file is created as open() would create it: 0666 minus the umask (not mkstemp's private 0600)."""
    old = os.umask(0o022)
    try:
        save_architecture(cnnexplorer.load("lenet5"), tmp_path / "new.json")
        (tmp_path / "plain.txt").write_text("x", encoding="utf-8")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "new.json") == _mode(tmp_path / "plain.txt") == 0o644


# --- omitted optional arguments take the Keras defaults -------------------------------------------
def test_omitted_arguments_take_keras_defaults(tmp_path):
    path = tmp_path / "minimal.json"
    path.write_text(json.dumps({
        "format": "cnnexplorer.architecture", "version": 1, "input_shape": [28, 28, 1],
        "layers": [
            {"type": "Conv2D", "filters": 8, "kernel_size": 3},
            {"type": "Conv2D", "filters": 8, "kernel_size": [3, 3]},
            {"type": "DepthwiseConv2D", "kernel_size": 3},
            {"type": "MaxPooling2D"},
            {"type": "AveragePooling2D"},
            {"type": "BatchNormalization"},
            {"type": "LocalResponseNormalization"},
            {"type": "ZeroPadding2D"},
            {"type": "GlobalAveragePooling2D"},
            {"type": "Dense", "units": 10},
        ]}), encoding="utf-8")
    arch = load_architecture(path)
    assert arch.name == "model" and arch.description == ""
    conv, conv1, dw, mp, ap, bn, lrn, zp, gap, dense = arch.layers
    assert [layer.name for layer in arch.layers] == [
        "conv2d", "conv2d_1", "depthwise_conv2d", "max_pooling2d", "average_pooling2d", "batch_normalization",
        "local_response_normalization", "zero_padding2d", "global_average_pooling2d", "dense"]
    for c in (conv, conv1):
        assert c.kernel_size == (3, 3)
        assert c.strides == (1, 1)
        assert c.padding == "valid"
        assert c.dilation_rate == (1, 1)
        assert c.groups == 1
        assert c.activation == "linear"
        assert c.use_bias is True
    assert dw.depth_multiplier == 1 and dw.strides == (1, 1) and dw.padding == "valid"
    assert mp.pool_size == (2, 2) and mp.strides is None and mp.effective_strides == (2, 2)
    assert mp.padding == "valid" and mp.ceil_mode is False
    assert ap.count_include_pad is True
    assert (bn.epsilon, bn.momentum, bn.center, bn.scale) == (1e-3, 0.99, True, True)
    assert (lrn.size, lrn.alpha, lrn.beta, lrn.k) == (5, 1e-4, 0.75, 2.0)
    assert zp.padding == ((1, 1), (1, 1))
    assert gap.keepdims is False
    assert dense.activation == "linear" and dense.use_bias is True
    # The figures follow from those defaults: 28 → 26 → 24 → 22 → 11 → 5 → +2 = 7.
    assert [info.output_shape for info in arch.infer()] == [
        (26, 26, 8), (24, 24, 8), (22, 22, 8), (11, 11, 8), (5, 5, 8), (5, 5, 8), (5, 5, 8), (7, 7, 8), (8,),
        (10,)]
    assert arch.infer()[0].params == 3 * 3 * 1 * 8 + 8
    assert arch.infer()[5].params == 4 * 8 and arch.infer()[5].non_trainable_params == 2 * 8


def test_explicit_null_activation_means_linear(tmp_path):
    path = tmp_path / "null_activation.json"
    path.write_text('{"format": "cnnexplorer.architecture", "version": 1, "input_shape": [4, 4, 1], "layers": '
                    '[{"type": "Dense", "name": "d", "units": 2, "activation": null}]}', encoding="utf-8")
    assert load_architecture(path)[0].activation == "linear"


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + files_module.dumps(cnnexplorer.load("lenet5")).encode("utf-8"))
    assert load_architecture(path) == cnnexplorer.load("lenet5")
