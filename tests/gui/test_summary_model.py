"""The summary table model repaints only the rows an edit changes (ResNet-50's whole table was repainted after
every argument edit)."""

from cnnexplorer.gui.qt_models import SUMMARY_COLUMNS, SummaryTableModel
from cnnexplorer.model import Architecture
from cnnexplorer.model.layers import Conv2D, Dense, Flatten, MaxPooling2D


def model():
    arch = Architecture((28, 28, 1), [Conv2D(filters=8, kernel_size=3, name="c1"), MaxPooling2D(name="p"),
                                      Conv2D(filters=8, kernel_size=3, name="c2"), Flatten(name="f"),
                                      Dense(units=10, name="d")], "m")
    return arch, SummaryTableModel(arch)


def changes(qtbot, table, edit):
    seen = []
    table.dataChanged.connect(lambda top, bottom, roles=(): seen.append((top.row(), bottom.row(), bottom.column())))
    edit()
    return seen


def test_an_edit_that_changes_no_figure_repaints_no_row(qtbot):
    arch, table = model()
    assert changes(qtbot, table, lambda: arch.set_argument(2, "activation", "relu")) == []
    assert table.data(table.index(2, 0)) == "c2"


def test_an_edit_repaints_from_the_first_to_the_last_row_it_changes(qtbot):
    arch, table = model()
    before = [[table.data(table.index(r, c)) for c in range(len(SUMMARY_COLUMNS))] for r in range(table.rowCount())]
    seen = changes(qtbot, table, lambda: arch.set_argument(2, "filters", 4))
    after = [[table.data(table.index(r, c)) for c in range(len(SUMMARY_COLUMNS))] for r in range(table.rowCount())]
    differ = [r for r in range(len(before)) if before[r] != after[r]]
    assert differ == [2, 3, 4, 5]               # c2's params and shape, flatten, dense, the totals row
    assert seen == [(2, 5, len(SUMMARY_COLUMNS) - 1)]


def test_a_layer_that_cannot_be_computed_repaints_its_row(qtbot):
    arch, table = model()
    seen = changes(qtbot, table, lambda: arch.set_argument(2, "kernel_size", (20, 20)))
    assert seen and seen[0][0] == 2
    assert table.data(table.index(2, 2)) == "error"


def test_the_window_fits_one_summary_column_per_turn_of_the_event_loop(window, qtbot):
    window.tabs.setCurrentIndex(0)
    view = window.summary_view
    fitted = []
    view.resizeColumnToContents = lambda column: fitted.append(column)   # (record, then measure as Qt does)
    window._fitted_texts.clear()                  # as after opening another model: every column to measure
    window._fit_summary_columns()
    assert fitted == [0]                          # one column now, the others at the next turns
    qtbot.waitUntil(lambda: set(fitted) == set(range(len(SUMMARY_COLUMNS))))
