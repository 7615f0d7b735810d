"""Every edit a user makes goes through :class:`ArchitectureEditor` as one ``QUndoCommand``.

Commands only call the core's mutators (insert / remove / move / replace / set_input_shape / reset); the
core's events then refresh every view.  A removal remembers its row and layer; a replacement remembers the old
layer; consecutive edits of the same argument of the same layer merge into one undo step.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from ..model import LAYER_TYPES, Architecture, Layer


class InsertLayerCommand(QUndoCommand):
    def __init__(self, arch: Architecture, index: int, layer: Layer, text: str | None = None):
        super().__init__(text or f"Insert {layer.type_name}")
        self.arch, self.index, self.layer = arch, index, layer

    def redo(self):
        self.layer = self.arch.insert(self.index, self.layer)  # keeps the automatic name for redo

    def undo(self):
        self.arch.remove(self.index)


class RemoveLayerCommand(QUndoCommand):
    def __init__(self, arch: Architecture, index: int):
        self.arch, self.index, self.layer = arch, index, arch[index]
        super().__init__(f"Delete {self.layer.name}")

    def redo(self):
        self.arch.remove(self.index)

    def undo(self):
        self.arch.insert(self.index, self.layer)


class MoveLayerCommand(QUndoCommand):
    def __init__(self, arch: Architecture, index: int, new_index: int):
        super().__init__(f"Move {arch[index].name}")
        self.arch, self.index, self.new_index = arch, index, new_index

    def redo(self):
        self.arch.move(self.index, self.new_index)

    def undo(self):
        self.arch.move(self.new_index, self.index)


class ReplaceLayerCommand(QUndoCommand):
    """An argument change or a rename; ``merge_key`` lets repeated edits of one field merge."""

    ID = 1001

    def __init__(self, arch: Architecture, index: int, layer: Layer, text: str, merge_key: object = None):
        super().__init__(text)
        self.arch, self.index, self.old, self.new, self.merge_key = arch, index, arch[index], layer, merge_key

    def id(self):
        return self.ID if self.merge_key is not None else -1

    def mergeWith(self, other):
        if isinstance(other, ReplaceLayerCommand) and other.merge_key == self.merge_key \
                and other.index == self.index and other.old == self.new:
            self.new = other.new
            return True
        return False

    def redo(self):
        self.arch.replace(self.index, self.new)

    def undo(self):
        self.arch.replace(self.index, self.old)


class SetInputShapeCommand(QUndoCommand):
    def __init__(self, arch: Architecture, shape: tuple[int, ...]):
        super().__init__("Change input shape to " + "×".join(map(str, shape)))
        self.arch, self.old, self.new = arch, arch.input_shape, tuple(shape)

    def redo(self):
        self.arch.set_input_shape(self.new)

    def undo(self):
        self.arch.set_input_shape(self.old)


class ReplaceArchitectureCommand(QUndoCommand):
    """Loading a preset or a file, or New: the whole content changes as one step.

    ``on_change(tag)`` is called after redo with ``new_tag`` and after undo with ``old_tag`` (the window uses it
    to restore the file path that goes with each content).
    """

    def __init__(self, arch: Architecture, new: Architecture, text: str, old_tag=None, new_tag=None,
                 on_change=None):
        super().__init__(text)
        self.arch, self.old, self.new = arch, arch.copy(), new.copy()
        self.old_tag, self.new_tag, self.on_change = old_tag, new_tag, on_change

    def redo(self):
        self.arch.reset(self.new)
        if self.on_change:
            self.on_change(self.new_tag)

    def undo(self):
        self.arch.reset(self.old)
        if self.on_change:
            self.on_change(self.old_tag)


class ArchitectureEditor(QObject):
    """The one entry point for edits.  Validation errors raise before anything is pushed."""

    failed = Signal(str)  # a message for the user when an edit cannot be made

    def __init__(self, arch: Architecture, undo_stack: QUndoStack, parent=None):
        super().__init__(parent)
        self.arch = arch
        self.undo_stack = undo_stack

    def insert_layer(self, index: int, layer: Layer) -> Layer:
        """Insert ``layer`` at ``index``; returns it as inserted (with its automatic name)."""
        index = max(0, min(index, len(self.arch)))
        command = InsertLayerCommand(self.arch, index, layer)
        self.undo_stack.push(command)
        return command.layer

    def insert_type(self, index: int, type_name: str) -> Layer:
        return self.insert_layer(index, LAYER_TYPES[type_name].example())

    def remove_layer(self, index: int) -> None:
        self.undo_stack.push(RemoveLayerCommand(self.arch, index))

    def duplicate_layer(self, index: int) -> Layer:
        """Insert a copy (automatically named) after layer ``index``; returns the copy as inserted."""
        layer = self.arch[index]
        command = InsertLayerCommand(self.arch, index + 1, layer.with_name(None), f"Duplicate {layer.name}")
        self.undo_stack.push(command)
        return command.layer

    def move_layer(self, index: int, new_index: int) -> None:
        if 0 <= new_index < len(self.arch) and new_index != index:
            self.undo_stack.push(MoveLayerCommand(self.arch, index, new_index))

    def set_argument(self, index: int, argument: str, value) -> None:
        """Raises :class:`LayerArgumentError` (and pushes nothing) when the value is wrong in itself."""
        layer = self.arch[index]
        new = layer.with_args(**{argument: value})
        if new != layer:
            self.undo_stack.push(ReplaceLayerCommand(self.arch, index, new, f"Set {layer.name}.{argument}",
                                                     merge_key=(argument,)))

    def rename_layer(self, index: int, name: str) -> None:
        layer = self.arch[index]
        if name == layer.name:
            return
        if any(other.name == name for i, other in enumerate(self.arch) if i != index):
            from ..model import ArchitectureError

            raise ArchitectureError(f"a layer named {name!r} already exists")
        self.undo_stack.push(ReplaceLayerCommand(self.arch, index, layer.with_name(name),
                                                 f"Rename {layer.name} to {name}"))

    def set_input_shape(self, shape) -> None:
        from ..model.architecture import check_input_shape

        shape = check_input_shape(tuple(shape))
        if shape != self.arch.input_shape:
            self.undo_stack.push(SetInputShapeCommand(self.arch, shape))

    def replace_architecture(self, new: Architecture, text: str, old_tag=None, new_tag=None, on_change=None) -> None:
        self.undo_stack.push(ReplaceArchitectureCommand(self.arch, new, text, old_tag, new_tag, on_change))
