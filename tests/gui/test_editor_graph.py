"""Graph edits as undoable commands (the automation surface ``MainWindow.editor.set_inputs`` and friends)."""

import pytest
from PySide6.QtGui import QUndoStack

from cnnexplorer.gui.editor import ArchitectureEditor
from cnnexplorer.model import ArchitectureError
from cnnexplorer.model.files import dumps
from cnnexplorer.model.layers import Conv2D
from conftest import residual_block


@pytest.fixture
def block(qapp):
    arch = residual_block()
    stack = QUndoStack()
    return arch, stack, ArchitectureEditor(arch, stack)


def undo_all_then_redo(arch, stack, before, after):
    while stack.canUndo():
        stack.undo()
    assert dumps(arch) == before
    while stack.canRedo():
        stack.redo()
    assert dumps(arch) == after


def test_set_inputs_is_one_undoable_command(block):
    arch, stack, editor = block
    before = dumps(arch)
    editor.set_inputs("add", ["conv_b", "conv_a"])
    assert stack.count() == 1 and arch.inputs_of("add") == ("conv_b", "conv_a")
    undo_all_then_redo(arch, stack, before, dumps(arch))


def test_refused_connections_push_nothing(block):
    arch, stack, editor = block
    with pytest.raises(ArchitectureError, match="cycle"):
        editor.set_inputs("stem", ["add"])
    with pytest.raises(ArchitectureError, match="cycle"):
        editor.connect("relu_out", "conv_a")
    with pytest.raises(ArchitectureError, match="at least 2"):
        editor.disconnect("stem", "add")
    assert stack.count() == 0


def test_undo_of_a_remove_that_reconnected_consumers(block):
    arch, stack, editor = block
    before = dumps(arch)
    editor.remove_layer(0)                          # stem: conv_a and the add's skip take the input
    assert arch.inputs_of("conv_a") == ("input",) and arch.inputs_of("add") == ("conv_b", "input")
    after = dumps(arch)
    undo_all_then_redo(arch, stack, before, after)


def test_insert_into_an_edge_and_undo(block):
    arch, stack, editor = block
    before = dumps(arch)
    editor.insert_into_edge("stem", "add", Conv2D(name="proj", filters=4, kernel_size=1))
    assert arch.inputs_of("proj") == ("stem",) and arch.inputs_of("add") == ("conv_b", "proj")
    assert stack.count() == 1                       # one macro
    undo_all_then_redo(arch, stack, before, dumps(arch))


def test_connect_and_disconnect(block):
    arch, stack, editor = block
    editor.connect("conv_a", "add")                 # a merge gains an input
    assert arch.inputs_of("add") == ("conv_b", "stem", "conv_a")
    assert "no longer" in editor.disconnect("stem", "add")
    assert arch.inputs_of("add") == ("conv_b", "conv_a")
    editor.connect("stem", "bn")                    # a single-input layer's input is replaced
    assert arch.inputs_of("bn") == ("stem",)
    assert "model input" in editor.disconnect("stem", "bn")
    assert arch.inputs_of("bn") == ("input",)
    assert stack.count() == 4


def test_duplicating_a_residual_block_builds_the_next_one(block):
    arch, stack, editor = block
    before = dumps(arch)
    members = ["conv_a", "bn", "relu", "conv_b", "add", "relu_out"]
    copies = editor.duplicate_block(members)
    assert len(copies) == 6 and stack.count() == 1
    c_conv_a, c_add = copies[0], copies[4]
    assert arch.inputs_of(c_conv_a) == ("relu_out",)      # reads the original block's exit
    assert arch.inputs_of(c_add) == (copies[3], "relu_out")   # the skip reads it too
    assert arch.outputs() == [copies[-1]] and arch.is_valid
    undo_all_then_redo(arch, stack, before, dumps(arch))
