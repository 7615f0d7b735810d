"""Results of worker threads handed to the GUI thread without the worker ever holding a Qt object.

A worker whose function closes over a widget holds a strong reference to it.  If the window is closed while the
worker runs, the worker drops the last reference when it finishes, and Python frees the widget — and with it the
window's C++ objects — in the worker thread: Qt objects deleted outside their thread, and a deadlock between the
GIL and Qt's locks when the GUI thread is deleting other objects at the time (seen in the test suite).  The
worker gets a plain function instead; the method it calls back is held weakly and called in the GUI thread, if its
object still exists then."""

from __future__ import annotations

import weakref
from typing import Callable

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, Signal


class _Courier(QObject):
    delivered = Signal(object, object)        # weak reference to a bound method, its arguments

    def __init__(self, parent):
        super().__init__(parent)
        self.delivered.connect(_deliver)


def _deliver(ref, args) -> None:
    method = ref()
    if method is not None and shiboken6.isValid(method.__self__):
        method(*args)


_courier: _Courier | None = None


def in_gui_thread(method: Callable) -> Callable[..., None]:
    """A function any thread may call to have ``method`` (a bound method of a Qt object) called in the GUI thread
    with the same arguments, once the GUI thread's event loop gets to it; nothing happens if the object is gone by
    then.  Call this in the GUI thread (before starting the worker)."""
    global _courier
    app = QCoreApplication.instance()
    if _courier is None or not shiboken6.isValid(_courier) or _courier.parent() is not app:
        _courier = _Courier(app)
    courier, ref = _courier, weakref.WeakMethod(method)

    def call(*args) -> None:
        courier.delivered.emit(ref, args)

    return call
