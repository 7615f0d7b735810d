"""A :class:`~.training_job.TrainingJob` run in a child process (NumPy, no Qt).

Training in a thread of the window's own process makes the window wait: the training loop holds the GIL for
most of every few milliseconds, and every Qt call the GUI thread makes releases and re-takes it, so painting a
curve could wait many switch intervals (measured: stalls of 90–140 ms, and a test that could not get an event
through in a minute).  In a child process the window keeps its GIL to itself.

The child is a fresh interpreter (``python -c``, not :mod:`multiprocessing`, which would run the parent's main
script again in the child); parent and child talk through its stdin and stdout with
:class:`multiprocessing.connection.Connection` (pickles between our own two processes, never from a file).
Parent → child: the settings and starting weights, then ``"pause"``, ``"resume"`` and ``"stop"``.  Child →
parent: ``("data", validation, class_names)`` once, ``("batch", points, progress, kernel)`` at most every
``emit_interval`` seconds (all batch points since the last message, the progress dict of
:class:`~.training_job.TrainingJob` or ``None``, the first conv kernel as it is now), ``("epoch", epoch, logs,
report, weights, kernel)`` after every epoch and ``("done", weights, history, error, stopped)`` last; ``held`` is
set while the child waits in a pause.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Callable

__all__ = ["TrainingProcess"]

#: the child's scheduling niceness: the window gets a core at once when it has work
CHILD_NICENESS = 10
_CHILD = """
import os
try:
    os.nice(%d)                      # before NumPy starts BLAS threads, which inherit it
except (OSError, AttributeError):
    pass
from cnnexplorer.engine.training_process import _child_main
_child_main()
""" % CHILD_NICENESS


class TrainingProcess:
    """Train in a child process; ``on_message(kind, *args)`` is called in a reader thread of this process for every
    message but ``held`` (see the module's docstring), and ``("done", ...)`` is always the last — also when the
    child dies (``error`` then says how)."""

    def __init__(self, arch_json: str, dataset, input_shape, weights: dict, *, on_message: Callable,
                 validation_fraction: float = 0.2, seed: int = 0, emit_interval: float = 0.1, **job_settings):
        self.held = threading.Event()
        self.stopped = False
        self._paused = False
        self._on_message = on_message
        package_root = str(Path(__file__).resolve().parents[2])     # the child imports this very cnnexplorer
        env = {**os.environ,
               "PYTHONPATH": os.pathsep.join(filter(None, (package_root, os.environ.get("PYTHONPATH"))))}
        self._process = subprocess.Popen([sys.executable, "-c", _CHILD], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, env=env)
        self._to_child = Connection(os.dup(self._process.stdin.fileno()), readable=False)
        self._from_child = Connection(os.dup(self._process.stdout.fileno()), writable=False)
        self._process.stdin.close()
        self._process.stdout.close()
        self._outbox: queue.Queue = queue.Queue()
        # the settings and weights go first; a big model's weights would hold the caller, so a thread sends them
        self._outbox.put(dict(arch_json=arch_json, dataset=str(dataset) if isinstance(dataset, os.PathLike)
                              else dataset, input_shape=tuple(input_shape), weights=dict(weights),
                              validation_fraction=float(validation_fraction), seed=int(seed),
                              emit_interval=float(emit_interval), job_settings=job_settings))
        self._writer = threading.Thread(target=self._write, name="cnnexplorer-training-writer", daemon=True)
        self._reader = threading.Thread(target=self._read, name="cnnexplorer-training-reader", daemon=True)
        self._writer.start()
        self._reader.start()

    # --- control, from any thread (never waits) -------------------------------------------------------
    def pause(self) -> None:
        self._paused = True
        self._outbox.put("pause")

    def resume(self) -> None:
        self._paused = False
        self._outbox.put("resume")

    def stop(self) -> None:
        self._paused = False
        self._outbox.put("stop")

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def pid(self) -> int:
        return self._process.pid

    def join(self, timeout: float | None = None) -> None:
        """Wait for the child to end (for shutting down); after ``timeout`` it is killed."""
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(5)
        self._reader.join(5)

    # --- the writer and reader threads ----------------------------------------------------------------
    def _write(self) -> None:
        try:
            while True:
                message = self._outbox.get()
                self._to_child.send(message)
                if message == "stop":
                    break
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass                        # the child has ended: the reader says how
        finally:
            self._to_child.close()

    def _read(self) -> None:
        done = False
        try:
            while not done:
                try:
                    message = self._from_child.recv()
                except (EOFError, OSError):
                    break
                if message[0] == "held":
                    (self.held.set if message[1] else self.held.clear)()
                    continue
                done = message[0] == "done"
                if done:
                    self.stopped = bool(message[4])
                self._on_message(*message)
        finally:
            self._from_child.close()
            self._outbox.put("stop")    # ends the writer
            if not done:
                code = self._process.wait()
                how = (f"was killed by signal {-code}" if code < 0 else f"ended with exit code {code}")
                self.stopped = True
                self._on_message("done", None, {}, f"the training process {how} (out of memory?)", True)


class _Held:
    """The job's ``held`` event, told to the parent when it changes (set and cleared in the training thread)."""

    def __init__(self, send):
        self._send, self._set = send, False

    def set(self):
        self._set = True
        self._send("held", True)

    def clear(self):
        self._set = False
        self._send("held", False)

    def is_set(self):
        return self._set


def _child_main() -> None:
    """The child: read the settings and weights from stdin, train, report on stdout (see the module's docstring).
    Anything else the child prints goes to stderr, so that stdout carries only messages."""
    out = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)
    control = Connection(os.dup(0), writable=False)
    from ..model import CnnExplorerError
    from ..model.files import loads
    from .datasets import load_dataset, split
    from .errors import EngineError
    from .training_job import TrainingJob, first_conv_kernel

    def send(*message):
        try:
            out.send(message)
        except (BrokenPipeError, ConnectionResetError, OSError):    # the window is gone: nobody to train for
            os._exit(0)

    try:
        s = control.recv()
    except (EOFError, OSError):
        return
    stop, running = threading.Event(), threading.Event()    # become the job's own controls once it exists
    running.set()

    def listen():            # pause / resume / stop, as they come (also while the dataset is being read)
        try:
            while not stop.is_set():
                command = control.recv()
                if command == "pause":
                    running.clear()
                elif command == "resume":
                    running.set()
                elif command == "stop":
                    stop.set()
                    running.set()
        except (EOFError, OSError):                 # the window is gone
            stop.set()
            running.set()

    threading.Thread(target=listen, name="cnnexplorer-training-control", daemon=True).start()
    try:
        arch = loads(s["arch_json"])
        data = load_dataset(s["dataset"], s["input_shape"])
        fraction, seed = s["validation_fraction"], s["seed"]
        train, val = split(data, fraction, seed=seed) if fraction else (data, None)
        send("data", val, list(data.class_names))
        job = TrainingJob(arch, train, val, s["weights"], seed=seed, **s["job_settings"])
        job._stop, job._running, job.held = stop, running, _Held(send)
        conv = next((f"{i.name}/kernel" for i in arch.infer() if i.type_name == "Conv2D"), None)
        pending: list = []
        last = [0.0]
        interval = s["emit_interval"]

        def on_batch(point, progress):
            pending.append((point.step, point.loss, point.accuracy))
            if (time.perf_counter() - last[0] >= interval or progress["fraction"] >= 1.0
                    or not running.is_set() or stop.is_set()):        # paused or stopping: the curves catch up
                send("batch", pending[:], progress, job.live_weights(conv) if conv else None)
                pending.clear()
                last[0] = time.perf_counter()

        def on_epoch(epoch, logs, report, trained):
            if pending:
                send("batch", pending[:], None, None)
                pending.clear()
            send("epoch", epoch, dict(logs), report, dict(trained), first_conv_kernel(arch, trained))

        job.on_batch, job.on_epoch = on_batch, on_epoch
        trained = job.run()
        if pending:
            send("batch", pending[:], None, None)
        send("done", trained, job.history, "", job.stopped)
    except (EngineError, CnnExplorerError, ValueError, TypeError, OSError) as exc:
        send("done", None, {}, _one_line(exc), False)
    except MemoryError:
        send("done", None, {}, "training ran out of memory; use a smaller batch size or model", False)
    except Exception as exc:      # an engine bug: the window survives and says what happened
        send("done", None, {}, f"training failed: {type(exc).__name__}: {_one_line(exc)}", False)
    finally:
        out.close()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
