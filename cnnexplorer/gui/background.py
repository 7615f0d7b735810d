"""Threads for work the GUI thread must not wait on: one single-thread executor per purpose (plain Python threads,
so none outlives a deleted widget as a QThread would); results come back through a queued signal."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

_EXECUTORS: dict[str, ThreadPoolExecutor] = {}
_LOCK = threading.Lock()


def executor(purpose: str) -> ThreadPoolExecutor:
    """The one background thread for ``purpose`` (e.g. ``"read"``: files the window reads), made on first use."""
    with _LOCK:
        if purpose not in _EXECUTORS:
            _EXECUTORS[purpose] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"cnnexplorer-{purpose}")
        return _EXECUTORS[purpose]
