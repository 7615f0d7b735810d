"""The desktop window (the only package that imports Qt).  ``from cnnexplorer.gui import MainWindow``."""

from __future__ import annotations


def __getattr__(name):
    if name == "MainWindow":
        from .main_window import MainWindow

        return MainWindow
    raise AttributeError(name)


__all__ = ["MainWindow"]
