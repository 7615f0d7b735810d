import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
KERAS_REFERENCE = DATA / "keras"  # verbatim copies of ../shared/reference (Keras 3.15.1 output)


import pytest  # noqa: E402


@pytest.fixture
def isolated_settings(tmp_path, monkeypatch):
    """Settings, recent files and autosave go to a temporary folder, never the user's."""
    from PySide6.QtCore import QSettings, QStandardPaths

    QStandardPaths.setTestModeEnabled(True)
    QSettings.setDefaultFormat(QSettings.IniFormat)
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(tmp_path / "settings"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    yield tmp_path


@pytest.fixture
def window(qtbot, isolated_settings):
    """A shown MainWindow whose unsaved-changes prompt answers 'discard'."""
    from cnnexplorer.gui import MainWindow

    w = MainWindow()
    w.confirm_discard = lambda: True
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w
