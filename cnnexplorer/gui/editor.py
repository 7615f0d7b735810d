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
    """Insert a layer (taking the layer before it, or ``inputs``); undo removes it and gives every layer back the
    inputs it had."""

    def __init__(self, arch: Architecture, index: int, layer: Layer, text: str | None = None,
                 inputs: tuple[str, ...] | None = None):
        super().__init__(text or f"Insert {layer.type_name}")
        self.arch, self.index, self.layer, self.inputs = arch, index, layer, inputs
        self.before: dict[str, tuple[str, ...]] = {}

    def redo(self):
        self.before = dict(zip((layer.name for layer in self.arch), self.arch.all_inputs()))
        self.layer = self.arch.insert(self.index, self.layer, self.inputs)  # keeps the automatic name for redo

    def undo(self):
        self.arch.remove(self.index)
        _restore_inputs(self.arch, self.before)


def _restore_inputs(arch: Architecture, inputs: dict[str, tuple[str, ...]]) -> None:
    """Give every layer named in ``inputs`` those inputs again (after a removal reconnected its consumers)."""
    for name, names in inputs.items():
        try:
            current = arch.inputs_of(name)
        except Exception:
            continue
        if current != names:
            arch.set_inputs(name, names)


class RemoveLayerCommand(QUndoCommand):
    """Delete a layer; its consumers take its input.  Undo puts it back with its own inputs and gives its
    consumers their old inputs (the skip connection of a block comes back exactly)."""

    def __init__(self, arch: Architecture, index: int):
        self.arch, self.index, self.layer = arch, index, arch[index]
        self.inputs = arch.inputs_of(index)
        self.before: dict[str, tuple[str, ...]] = {}
        super().__init__(f"Delete {self.layer.name}")

    def redo(self):
        self.before = dict(zip((layer.name for layer in self.arch), self.arch.all_inputs()))
        self.arch.remove(self.index)

    def undo(self):
        self.arch.insert(self.index, self.layer, self.inputs)
        _restore_inputs(self.arch, {k: v for k, v in self.before.items() if k != self.layer.name})


class SetInputsCommand(QUndoCommand):
    """Connect a layer to other layers' outputs (a merge takes several)."""

    def __init__(self, arch: Architecture, name: str, names: tuple[str, ...], text: str | None = None):
        super().__init__(text or f"Connect {', '.join(names)} → {name}")
        self.arch, self.name, self.new, self.old = arch, name, tuple(names), arch.inputs_of(name)

    def redo(self):
        self.arch.set_inputs(self.name, self.new)

    def undo(self):
        self.arch.set_inputs(self.name, self.old)


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

    # --- graph edits (each one undoable step) -------------------------------------------------------
    def set_inputs(self, layer_name: str, names) -> None:
        """Connect ``layer_name`` to ``names`` (layer names or ``"input"``) as one undoable command; raises
        :class:`ArchitectureError` (and pushes nothing) if the core refuses (unknown name, cycle, count)."""
        names = tuple(names)
        self._check_inputs(layer_name, names)
        if names != self.arch.inputs_of(layer_name):
            self.undo_stack.push(SetInputsCommand(self.arch, layer_name, names))

    def _check_inputs(self, layer_name: str, names: tuple[str, ...]) -> None:
        """Run the core's checks on a copy, so a refused edit raises before anything is pushed."""
        self.arch.copy().set_inputs(layer_name, names)

    def connect(self, source: str, target: str) -> None:
        """Feed ``source``'s output into ``target``: a merge gains an input, any other layer's input is replaced."""
        layer = self.arch[self.arch.index_of(target)]
        current = self.arch.inputs_of(target)
        if layer.is_merge:
            if source in current:
                return
            names = current + (source,)
        else:
            names = (source,)
        self._check_inputs(target, names)
        self.undo_stack.push(SetInputsCommand(self.arch, target, names, f"Connect {source} → {target}"))

    def disconnect(self, source: str, target: str) -> str:
        """Remove the connection ``source → target``.  A merge with more inputs than it needs loses that input;
        any other layer takes the model input instead (so it stays computable).  Returns what was done."""
        layer = self.arch[self.arch.index_of(target)]
        current = list(self.arch.inputs_of(target))
        if source not in current:
            return ""
        if layer.is_merge and len(current) > layer.min_inputs:
            current.remove(source)
            text = f"{target} no longer takes {source}"
        elif layer.is_merge:
            from ..model import ArchitectureError

            raise ArchitectureError(f"{target} ({layer.type_name}) needs at least {layer.min_inputs} inputs; connect "
                                    f"another one before removing this one")
        else:
            current = ["input"]
            text = f"{target} now takes the model input"
        self.undo_stack.push(SetInputsCommand(self.arch, target, tuple(current), f"Disconnect {source} → {target}"))
        return text

    def insert_into_edge(self, source: str, target: str, layer: Layer) -> None:
        """Put ``layer`` on the connection ``source → target`` (one undoable step)."""
        index = self.arch.index_of(target)
        inputs = tuple(layer_name if layer_name != source else None for layer_name in self.arch.inputs_of(target))
        self.undo_stack.beginMacro(f"Insert {layer.type_name} into {source} → {target}")
        try:
            command = InsertLayerCommand(self.arch, index, layer, inputs=(source,))
            self.undo_stack.push(command)
            new_name = command.layer.name
            names = tuple(new_name if n is None else n for n in inputs)
            if names != self.arch.inputs_of(target):
                self.undo_stack.push(SetInputsCommand(self.arch, target, names))
        finally:
            self.undo_stack.endMacro()

    def add_branch(self, layer: Layer, source: str = "input") -> None:
        """Append ``layer`` as a new branch reading ``source`` (the model input unless told), connected later."""
        self.undo_stack.push(InsertLayerCommand(self.arch, len(self.arch), layer, f"Add {layer.type_name}",
                                                inputs=(source,)))

    def duplicate_block(self, names) -> list[str]:
        """Copy the layers ``names`` with the connections among them, after the last of them.  When the block has
        one exit (the layer read outside it), the copy reads that exit wherever the original read from outside
        the block — so duplicating a residual block builds the next one.  Returns the copies' names."""
        order = {layer.name: i for i, layer in enumerate(self.arch)}
        members = sorted(set(names), key=order.__getitem__)
        if not members:
            return []
        inside = set(members)
        consumers = self.arch.consumers()
        outputs = set(self.arch.outputs())
        exits = [m for m in members if m in outputs or any(c not in inside for c in consumers[m])]
        feed = exits[-1] if len(exits) == 1 else None
        index = order[members[-1]] + 1
        copies: dict[str, str] = {}
        self.undo_stack.beginMacro(f"Duplicate {len(members)} layers")
        try:
            for k, name in enumerate(members):
                layer = self.arch[order[name]]
                inputs = tuple(copies.get(n, feed if feed is not None and n not in inside else n)
                               for n in self.arch.inputs_of(name))
                command = InsertLayerCommand(self.arch, index + k, layer.with_name(None), inputs=inputs)
                self.undo_stack.push(command)
                copies[name] = command.layer.name
        finally:
            self.undo_stack.endMacro()
        return [copies[m] for m in members]

    def set_input_shape(self, shape) -> None:
        from ..model.architecture import check_input_shape

        shape = check_input_shape(tuple(shape))
        if shape != self.arch.input_shape:
            self.undo_stack.push(SetInputShapeCommand(self.arch, shape))

    def replace_architecture(self, new: Architecture, text: str, old_tag=None, new_tag=None, on_change=None) -> None:
        self.undo_stack.push(ReplaceArchitectureCommand(self.arch, new, text, old_tag, new_tag, on_change))
