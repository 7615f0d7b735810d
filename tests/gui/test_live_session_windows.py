"""Windows of earlier tests do not pile up: each is deleted when its test ends (tests/conftest.py).

Before, pytest-qt's ``deleteLater`` of a finished test's window ran only in the next nested event loop, so windows
of tests that never wait piled up (89 after tests/gui/test_main_window.py) and were all deleted inside a later
test's ``qtbot.waitUntil``: an image run there seemed never to finish (``session.running`` still True, its result
queued behind the deletions).  The two tests below run in file order: the second looks at the first one's window.
"""

import shiboken6
from PySide6.QtWidgets import QApplication

from cnnexplorer.gui import MainWindow

_earlier: list[MainWindow] = []


def test_a_window_is_used_and_left(window):
    assert shiboken6.isValid(window) and window.isVisible()
    _earlier.append(window)


def test_the_earlier_tests_window_is_deleted_before_this_one_starts(window):
    assert len(_earlier) == 1, "runs after test_a_window_is_used_and_left, in the same process"
    assert not shiboken6.isValid(_earlier[0])       # its C++ object (every widget, timer, session) is gone
    assert [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)] == [window]

