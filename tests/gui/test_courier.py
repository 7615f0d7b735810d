"""Worker threads hand results to the GUI thread without holding a Qt object (see cnnexplorer/gui/courier.py)."""

import gc
import threading
import weakref

from PySide6.QtWidgets import QWidget

from cnnexplorer.gui.courier import in_gui_thread


class Receiver(QWidget):
    def __init__(self):
        super().__init__()
        self.got = []

    def take(self, *args):
        self.got.append((threading.get_ident(), args))


def run_in_thread(function, *args):
    worker = threading.Thread(target=function, args=args)
    worker.start()
    worker.join()


def test_a_worker_calls_back_in_the_gui_thread(qtbot):
    receiver = Receiver()
    qtbot.addWidget(receiver)
    run_in_thread(in_gui_thread(receiver.take), 1, "two")
    qtbot.waitUntil(lambda: bool(receiver.got))
    assert receiver.got == [(threading.main_thread().ident, (1, "two"))]


def test_the_worker_holds_no_reference_and_a_call_after_the_widget_is_gone_does_nothing(qtbot):
    receiver = Receiver()
    call = in_gui_thread(receiver.take)
    alive = weakref.ref(receiver)
    del receiver
    gc.collect()
    assert alive() is None                          # only the worker's function was left, and it did not keep it
    probe = Receiver()
    qtbot.addWidget(probe)
    run_in_thread(call, 3)                          # nothing to call: dropped in the GUI thread
    run_in_thread(in_gui_thread(probe.take), 4)     # (delivered after the first: the same queue)
    qtbot.waitUntil(lambda: bool(probe.got))
    assert probe.got == [(threading.main_thread().ident, (4,))]
