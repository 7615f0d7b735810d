"""The window's one selection: the selected layer, held by NAME (layer names are unique), never by row.

Every panel (model stack, inspector, summary table, feature maps, diagram — and later a graph canvas) follows
:attr:`LayerSelection.changed` and asks :meth:`LayerSelection.row` where that layer is now; every panel that lets
the user pick a layer calls :meth:`select_name` or :meth:`select_row`.  The selection follows the architecture's
edits itself: a rename keeps the renamed layer selected, a removal selects the layer that took its place (or the
new last one), a reset keeps the name when the new model has a layer of that name.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from ..model import Architecture


class LayerSelection(QObject):
    """``current_name`` ("" when nothing is selected) and ``changed(name)``."""

    changed = Signal(str)

    def __init__(self, architecture: Architecture, parent=None):
        super().__init__(parent)
        self.architecture = architecture
        self._name = ""
        self._row_hint: int | None = None       # where the layer was, to pick a neighbour when it is removed
        architecture.events.connect(self._on_event)

    @property
    def current_name(self) -> str:
        return self._name

    def row(self) -> int | None:
        """The selected layer's index in the architecture now, or None."""
        if not self._name:
            return None
        try:
            return self.architecture.index_of(self._name)
        except KeyError:
            return None

    def select_name(self, name: str | None) -> None:
        name = name or ""
        if name:
            try:
                self._row_hint = self.architecture.index_of(name)
            except KeyError:
                name = ""
        if not name:
            self._row_hint = None
        if name != self._name:
            self._name = name
            self.changed.emit(name)

    def select_row(self, row: int | None) -> None:
        layers = self.architecture
        self.select_name(layers[row].name if row is not None and 0 <= row < len(layers) else "")

    def _on_event(self, event) -> None:
        if not self._name:
            return
        if event.kind == "replaced" and event.old_layer is not None and event.old_layer.name == self._name \
                and event.layer is not None and event.layer.name != self._name:
            self.select_name(event.layer.name)          # renamed: the same layer, a new name
            return
        row = self.row()
        if row is not None:
            self._row_hint = row
            return
        # the selected layer is gone (removed, or a new model without it): its neighbour takes its place
        count = len(self.architecture)
        hint = self._row_hint if self._row_hint is not None else 0
        self.select_row(min(hint, count - 1) if count else None)
