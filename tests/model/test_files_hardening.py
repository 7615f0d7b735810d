"""Architecture files against hostile input and interrupted saves (issue 16, items 3, 4, 6 and 9; issue 15
item 11): non-regular files are refused before they are opened, Keras JSON is capped like our format, names
that would break saving or exported code are refused, leftovers of killed saves are cleaned, a symbolic link is
written through, and a Keras Sequential without InputLayer takes its input from the first layer's config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import cnnexplorer
from cnnexplorer.model import (Architecture, ArchitectureError, ArchitectureFileError, Conv2D, Dense, Flatten,
                               LayerArgumentError, load_architecture, save_architecture, summarize)
from cnnexplorer.model import files as files_module
from cnnexplorer.model.export_code import export_code
from cnnexplorer.model.files import MAX_LAYERS, remove_stale_temporaries
from cnnexplorer.model.layers import check_layer_name


def load_within(path, seconds: float = 20.0):
    """``load_architecture(path)`` in a thread: the test fails (instead of hanging) if it blocks."""
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = load_architecture(path)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"loading {path} blocked"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# --- 16.3: only regular files are opened --------------------------------------------------------------
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "model.json"
    os.mkfifo(fifo)
    with pytest.raises(ArchitectureFileError) as info:
        load_within(fifo)
    assert str(info.value) == f"{fifo}: is a FIFO (named pipe), not a regular file; architecture files are plain " \
                              f"JSON files"


def test_character_device_is_refused():
    with pytest.raises(ArchitectureFileError, match="is a character device, not a regular file"):
        load_within("/dev/zero")


def test_a_file_swapped_for_a_fifo_after_stat_is_still_refused(tmp_path, monkeypatch):
    """The check is repeated on the opened descriptor (opened non-blocking), so a race cannot make it block."""
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    real_stat = os.stat
    monkeypatch.setattr(files_module.os, "stat",
                        lambda p, *a, **k: real_stat(__file__) if str(p) == str(fifo) else real_stat(p, *a, **k))
    with pytest.raises(ArchitectureFileError, match="is a FIFO"):
        load_within(fifo)


def test_a_path_must_be_a_path():
    with pytest.raises(TypeError):
        files_module.read_json_file(0)  # a file descriptor (stdin) is not a file name


# --- 16.4: caps and linear loading --------------------------------------------------------------------
def ours_with(n: int) -> dict:
    return {"format": "cnnexplorer.architecture", "version": 1, "name": "many", "input_shape": [4],
            "layers": [{"type": "Dense", "units": 4} for _ in range(n)]}


def keras_with(n: int) -> dict:
    layers = [{"class_name": "InputLayer", "config": {"batch_shape": [None, 4], "name": "input_layer"}}]
    layers += [{"class_name": "Dense", "config": {"units": 4}} for _ in range(n)]
    return {"class_name": "Sequential", "config": {"name": "many", "layers": layers}}


@pytest.mark.parametrize("make", [ours_with, keras_with], ids=["ours", "keras"])
def test_layer_cap_is_the_same_for_both_formats(make, tmp_path):
    path = tmp_path / "many.json"
    path.write_text(json.dumps(make(MAX_LAYERS)), encoding="utf-8")
    arch = load_architecture(path)
    assert len(arch) == MAX_LAYERS
    assert arch.layers[-1].name == f"dense_{MAX_LAYERS - 1}"  # Keras-style automatic names, in order
    path.write_text(json.dumps(make(MAX_LAYERS + 1)), encoding="utf-8")
    with pytest.raises(ArchitectureFileError, match=f"{MAX_LAYERS + 1:,} layers; at most {MAX_LAYERS:,}"):
        load_architecture(path)


def test_automatic_names_skip_the_names_already_given():
    arch = Architecture((4,), [Dense(units=2, name="dense_1"), Dense(units=2), Dense(units=2), Dense(units=2),
                               Dense(units=2, name="dense_4"), Dense(units=2)])
    assert [layer.name for layer in arch] == ["dense_1", "dense", "dense_2", "dense_3", "dense_4", "dense_5"]
    with pytest.raises(ArchitectureError, match=r"a layer named 'd' already exists \(layer 0\)"):
        Architecture((4,), [Dense(units=2, name="d"), Dense(units=2), Dense(units=2, name="d")])


# --- 16.6: names --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["conv\n", "conv\r", "conv\n\n", "\nconv"])
def test_layer_name_with_a_line_break_is_refused(name):
    with pytest.raises(LayerArgumentError):
        check_layer_name(name)
    with pytest.raises(LayerArgumentError):
        Conv2D(filters=2, kernel_size=3, name=name)


@pytest.mark.parametrize("name", ["\ud800", "a\udfffb", "two\nlines", "bell\x07", "tab\tname", "nul\x00", "",
                                  "   ", "x" * 10_001, "line\u2028separator"])
def test_bad_model_names_are_refused_everywhere(name):
    with pytest.raises(ArchitectureError, match="model name: expected a non-empty string"):
        Architecture((4,), [], name=name)
    arch = Architecture((4,), [Dense(units=2)], name="good")
    with pytest.raises(ArchitectureError):
        arch.set_name(name)
    assert arch.name == "good"


def test_unusual_but_valid_model_names_save_summarise_and_export(tmp_path):
    """Quotes, backslashes, non-Latin letters, emoji and 10,000 characters are fine: every output encodes them."""
    for name in ['qu"o\'te \\ back', "Модель №5 🙂", "x" * 10_000]:
        arch = Architecture((8, 8, 1), [Conv2D(filters=2, kernel_size=3), Flatten(), Dense(units=2)], name=name)
        path = tmp_path / "model.json"
        save_architecture(arch, path)
        assert load_architecture(path) == arch
        summarize(arch).to_dict()
        str(summarize(arch)).encode("utf-8")
        for target in ("keras", "pytorch"):
            compile(export_code(arch, target), "<exported>", "exec")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]


def test_keras_model_name_over_the_limit_is_refused_and_at_the_limit_reopens(tmp_path):
    """Keras JSON used to import a name that our own reader then refused: a saved import could not reopen."""
    path = tmp_path / "keras.json"
    data = keras_with(1)
    data["config"]["name"] = "k" * 10_001
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ArchitectureFileError, match=r"config\.name: expected a non-empty string of at most 10,000"):
        load_architecture(path)
    data["config"]["name"] = "k" * 10_000
    path.write_text(json.dumps(data), encoding="utf-8")
    arch = load_architecture(path)
    save_architecture(arch, tmp_path / "saved.json")
    assert load_architecture(tmp_path / "saved.json") == arch


def test_keras_model_without_a_name_is_called_model(tmp_path):
    path = tmp_path / "keras.json"
    data = keras_with(1)
    del data["config"]["name"]
    path.write_text(json.dumps(data), encoding="utf-8")
    assert load_architecture(path).name == "model"


def test_duplicate_keys_deep_inside_are_named(tmp_path):
    path = tmp_path / "dup.json"
    path.write_text('{"format": "cnnexplorer.architecture", "version": 1, "input_shape": [8, 8, 1], "layers": ['
                    '{"type": "Conv2D", "filters": 2, "kernel_size": 3, "padding": [[0, 0], [0, 0]]},'
                    '{"type": "ZeroPadding2D", "padding": 1, "padding": 2}]}', encoding="utf-8")
    with pytest.raises(ArchitectureFileError) as info:
        load_architecture(path)
    assert info.value.place == "layers[1].padding"
    assert '"padding" appears more than once' in info.value.problem


def test_deeply_nested_values_are_refused_cleanly(tmp_path):
    """Nesting close to the JSON parser's limit: the walks over the parsed file do not recurse."""
    path = tmp_path / "deep.json"
    depth = 900
    path.write_text('{"format": "cnnexplorer.architecture", "version": 1, "input_shape": [8, 8, 1], "layers": ['
                    '{"type": "Dropout", "rate": ' + "[" * depth + "]" * depth + "}]}", encoding="utf-8")
    with pytest.raises(ArchitectureFileError, match=r"layers\[0\]\.rate: expected a finite number, got \[\[\["):
        load_architecture(path)


def test_a_description_that_cannot_be_encoded_is_refused_before_writing(tmp_path):
    arch = Architecture((4,), [Dense(units=2)], name="ok", description="half a pair \udc00")
    with pytest.raises(ArchitectureError, match=r'character "\\udc00" \(a lone surrogate\) cannot be written'):
        save_architecture(arch, tmp_path / "model.json")
    assert list(tmp_path.iterdir()) == []


def test_messages_stay_one_line_for_odd_file_names_and_huge_values(tmp_path):
    path = tmp_path / "two\nlines.json"
    path.write_text("{", encoding="utf-8")
    with pytest.raises(ArchitectureFileError) as info:
        load_architecture(path)
    assert "\n" not in str(info.value) and "two\\nlines.json" in str(info.value)
    with pytest.raises(LayerArgumentError) as info:
        Dense(units=10 ** 5000)  # no repr in Python 3.11 (4,300-digit limit)
    assert str(info.value).endswith("got <int>")


# --- 16.9: leftovers of interrupted saves, symbolic links ---------------------------------------------
def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def age(path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_only_our_stale_temporaries_are_removed(tmp_path):
    dead, alive = dead_pid(), os.getpid()
    files = {
        f".model.json.{dead}.abc_1234.tmp": (120, True),       # ours, writer gone, untouched 2 minutes
        f".other.json.{dead}.zzzzzzzz.tmp": (120, True),       # ours, for another file of the folder
        f".model.json.{dead}.abcd1234.tmp": (5, False),        # writer gone, but only 5 s ago
        f".model.json.{alive}.abcd1234.tmp": (600, False),     # a live writer (this process)
        f".model.json.{alive}.efgh5678.tmp": (2 * 86400, True),  # untouched for two days: abandoned
        ".model.json.tmp": (600, False),                        # not our pattern
        f"model.json.{dead}.abcd1234.tmp": (600, False),        # not hidden: not ours
        f".model.json.{dead}.abcd1234.tmp.bak": (600, False),   # not ours
        "notes.tmp": (600, False),
    }
    for name, (seconds, _) in files.items():
        (tmp_path / name).write_text("partial", encoding="utf-8")
        age(tmp_path / name, seconds)
    os.symlink(tmp_path / "notes.tmp", tmp_path / f".link.json.{dead}.abcd1234.tmp")  # a link: never ours
    age_link = tmp_path / f".link.json.{dead}.abcd1234.tmp"
    os.utime(age_link, (time.time() - 600,) * 2, follow_symlinks=False)

    save_architecture(cnnexplorer.load("lenet5"), tmp_path / "model.json")
    left = {p.name for p in tmp_path.iterdir()}
    for name, (_, stale) in files.items():
        assert (name not in left) == stale, name
    assert age_link.name in left and "model.json" in left
    assert remove_stale_temporaries(tmp_path) == []  # nothing stale is left


def test_a_killed_save_is_cleaned_by_the_next_save(tmp_path):
    """A real save killed (SIGKILL) between writing and renaming leaves its temporary file; the next save to the
    folder, once it is stale, removes it."""
    target = tmp_path / "model.json"
    script = textwrap.dedent(f"""
        import os, signal
        from cnnexplorer.model.files import atomic_writer
        with atomic_writer({str(target)!r}) as f:
            f.write("half a file")
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], timeout=120)
    assert proc.returncode == -9
    leftovers = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) == 1 and not target.exists()
    save_architecture(cnnexplorer.load("lenet5"), target)
    assert leftovers[0].exists()  # too recent: a slow writer could still be at work
    age(leftovers[0], 120)
    save_architecture(cnnexplorer.load("lenet5"), target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]


def test_saving_over_a_symlink_writes_through_to_its_target(tmp_path):
    real = tmp_path / "real" / "model.json"
    real.parent.mkdir()
    save_architecture(cnnexplorer.load("sample-cnn"), real)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    save_architecture(cnnexplorer.load("lenet5"), link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert load_architecture(real).name == cnnexplorer.load("lenet5").name
    assert sorted(p.name for p in real.parent.iterdir()) == ["model.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "real"]


def test_saving_over_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "target.json")
    save_architecture(cnnexplorer.load("lenet5"), link)
    assert link.is_symlink() and (tmp_path / "target.json").is_file()


# --- issue 15 item 11: Keras Sequential without an InputLayer -----------------------------------------
CONV = {"name": "conv", "filters": 4, "kernel_size": [3, 3], "activation": "relu"}


@pytest.mark.parametrize("key,value", [
    ("batch_shape", [None, 28, 28, 1]),        # Keras 3
    ("batch_input_shape", [None, 28, 28, 1]),  # Keras 2 / tf.keras
    ("input_shape", [28, 28, 1]),              # Conv2D(..., input_shape=(28, 28, 1)), no batch axis
])
@pytest.mark.parametrize("old_list_form", [False, True], ids=["config-object", "config-list"])
def test_keras_sequential_takes_its_input_from_the_first_layer(key, value, old_list_form, tmp_path):
    layers = [{"class_name": "Conv2D", "config": {**CONV, key: value}},
              {"class_name": "Flatten", "config": {"name": "flatten"}},
              {"class_name": "Dense", "config": {"name": "dense", "units": 10}}]
    config = layers if old_list_form else {"name": "seq", "layers": layers}
    path = tmp_path / "keras.json"
    path.write_text(json.dumps({"class_name": "Sequential", "config": config}), encoding="utf-8")
    arch = load_architecture(path)
    assert arch.input_shape == (28, 28, 1)
    assert [layer.name for layer in arch] == ["conv", "flatten", "dense"]
    assert arch.output_shape == (10,)


def test_keras_first_layer_input_shape_must_be_a_list(tmp_path):
    path = tmp_path / "keras.json"
    path.write_text(json.dumps({"class_name": "Sequential", "config": {"layers": [
        {"class_name": "Conv2D", "config": {**CONV, "input_shape": "28x28"}}]}}), encoding="utf-8")
    with pytest.raises(ArchitectureFileError, match=r"config\.layers\[0\]\.config\.input_shape: expected \[height"):
        load_architecture(path)
