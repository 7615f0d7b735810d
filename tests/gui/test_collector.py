"""Cyclic garbage is collected in the GUI thread only while a window exists (a collection in a worker thread that
frees Qt objects deadlocked the test suite: see cnnexplorer/gui/collector.py)."""

import gc
import threading


def test_cyclic_garbage_made_in_a_worker_thread_is_collected_by_the_gui_thread(window, qtbot):
    collecting = []

    def note(phase, info):
        if phase == "start":
            collecting.append(threading.get_ident())

    def churn():                           # far more cycles than the youngest generation's threshold
        for _ in range(20 * gc.get_threshold()[0]):
            cycle = []
            cycle.append(cycle)

    gc.callbacks.append(note)
    try:
        worker = threading.Thread(target=churn)
        worker.start()
        worker.join()
        qtbot.waitUntil(lambda: bool(collecting), timeout=5000)    # the GUI thread's timer collected them
    finally:
        gc.callbacks.remove(note)
    assert not gc.isenabled()
    assert set(collecting) == {threading.main_thread().ident}
