"""Run by test_real_x_server.py under Xvfb (QT_QPA_PLATFORM=xcb), with real X input (xdotool, through XTEST):

1. drag "Dropout" from the palette onto the model stack with the pointer, and check the drop and the selection;
2. press Ctrl+Z, Ctrl+Shift+Z, Ctrl+Z, Ctrl+Y on the keyboard: undo, redo, undo, redo of that drop (on X11 the
   platform's Redo key *is* Ctrl+Shift+Z: bound twice, Qt called it ambiguous and did nothing).

Exit 0 and print what happened, or exit 1 with the reason."""

import subprocess
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from cnnexplorer.gui import MainWindow
from cnnexplorer.model import LAYER_TYPES


def main() -> int:
    app = QApplication(sys.argv[:1])
    window = MainWindow()
    window.confirm_discard = lambda: True
    window.resize(1280, 800)
    window.move(0, 0)
    window.show()
    from cnnexplorer.gui.app import wait_exposed

    if not wait_exposed(window):
        print("the window was never exposed")
        return 1
    window.activateWindow()
    palette, stack = window.palette_view, window.stack_view
    source = palette.visualRect(window.palette_model.index(list(LAYER_TYPES).index("Dropout"))).center()
    start = palette.viewport().mapToGlobal(source)
    target_rect = stack.visualRect(window.stack_model.index(2))
    end = stack.viewport().mapToGlobal(target_rect.topLeft()) + type(start)(target_rect.width() // 2, 2)
    before = len(window.architecture)

    def xdo(*args):
        subprocess.run(["xdotool", *map(str, args)], check=True)

    steps = [lambda: xdo("mousemove", start.x(), start.y()), lambda: xdo("mousedown", 1)]
    for k in range(1, 11):   # a path in small steps: the drag starts, then crosses to the stack
        steps.append(lambda k=k: xdo("mousemove", start.x() + (end.x() - start.x()) * k // 10,
                                     start.y() + (end.y() - start.y()) * k // 10))
    steps += [lambda: xdo("mousemove", end.x(), end.y()), lambda: xdo("mouseup", 1)]
    outcome = {}
    counts = []

    def count():
        counts.append(len(window.architecture))

    steps.append(lambda: outcome.update(dropped=len(window.architecture) == before + 1
                                        and window.architecture[2].type_name == "Dropout",
                                        selected=window.selection.current_name == window.architecture[2].name))
    for key in ("ctrl+z", "ctrl+shift+z", "ctrl+z", "ctrl+y"):
        steps += [lambda key=key: xdo("key", "--clearmodifiers", key), count]

    def step():
        if steps:
            steps.pop(0)()
            QTimer.singleShot(80, step)     # timers run inside QDrag.exec's own loop too
        else:
            QTimer.singleShot(300, finish)

    def finish():
        outcome["types"] = [layer.type_name for layer in window.architecture]
        outcome["counts"] = counts
        app.quit()

    QTimer.singleShot(200, step)
    QTimer.singleShot(60_000, app.quit)
    app.exec()
    window.session.shutdown()
    ok = True
    if outcome.get("dropped") and outcome.get("selected"):
        print("dropped Dropout at row 2, selected")
    else:
        print(f"the drag did not insert and select Dropout at row 2: {outcome}")
        ok = False
    if counts == [before, before + 1, before, before + 1]:
        print("undo, redo (Ctrl+Shift+Z), undo, redo (Ctrl+Y) pressed on the keyboard")
    else:
        print(f"the keys did not undo and redo: layer counts {counts}, expected "
              f"{[before, before + 1, before, before + 1]}")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
