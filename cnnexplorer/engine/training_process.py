"""A :class:`~.training_job.TrainingJob` run in a child process (NumPy, no Qt).

Training in a thread of the window's own process makes the window wait: the training loop holds the GIL for
most of every few milliseconds, and every Qt call the GUI thread makes releases and re-takes it, so painting a
curve could wait many switch intervals (measured: stalls of 90–140 ms, and a test that could not get an event
through in a minute).  In a child process the window keeps its GIL to itself.

The child loads the dataset itself (by name or path), splits it, trains, and sends back through a pipe:
``("data", validation, class_names)`` once, ``("batch", points, progress, kernel)`` at most every
``emit_interval`` seconds (all batch points since the last message, the progress dict of
:class:`~.training_job.TrainingJob`, the first conv kernel as it is now), ``("epoch", epoch, logs, report,
weights, kernel)`` after every epoch and ``("done", weights, history, error, stopped)`` last.  Pause, resume and
stop are process-shared events; ``held`` is set while the child waits in a pause.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from typing import Callable

__all__ = ["TrainingProcess"]

#: the child's scheduling niceness: the window gets a core at once when it has work
CHILD_NICENESS = 10


class TrainingProcess:
    """Train in a child process; ``on_message(kind, *args)`` is called in a reader thread of this process for every
    message (see the module's docstring), and ``("done", ...)`` is always the last — also when the child dies
    (``error`` then says how)."""

    def __init__(self, arch_json: str, dataset, input_shape, weights: dict, *, on_message: Callable,
                 validation_fraction: float = 0.2, seed: int = 0, emit_interval: float = 0.1, **job_settings):
        ctx = multiprocessing.get_context("spawn")       # never fork a process that runs Qt and BLAS threads
        self._stop, self._running, self.held = ctx.Event(), ctx.Event(), ctx.Event()
        self._running.set()
        self.stopped = False
        self._on_message = on_message
        self._conn, child_end = ctx.Pipe()
        self._weights = dict(weights)    # sent by the reader thread: a big model's weights would hold this thread
        self._process = ctx.Process(
            target=_child_main, name="cnnexplorer-training", daemon=True,
            args=(child_end, arch_json, str(dataset) if isinstance(dataset, os.PathLike) else dataset,
                  tuple(input_shape), float(validation_fraction), int(seed), float(emit_interval),
                  job_settings, self._stop, self._running, self.held))
        self._process.start()
        child_end.close()               # the child holds the only other end: its death ends the reader's recv
        self._reader = threading.Thread(target=self._read, name="cnnexplorer-training-reader", daemon=True)
        self._reader.start()

    # --- control, from any thread ---------------------------------------------------------------------
    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the child to end (for shutting down); after ``timeout`` it is killed."""
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._reader.join(5)

    # --- the reader thread ----------------------------------------------------------------------------
    def _read(self) -> None:
        done = False
        try:
            try:
                self._conn.send(self._weights)
            except (BrokenPipeError, ConnectionResetError, OSError):
                pass                                  # the child is already gone: said below
            self._weights = None
            while not done:
                try:
                    message = self._conn.recv()
                except (EOFError, OSError):
                    break
                done = message[0] == "done"
                if done:
                    self.stopped = bool(message[4])
                self._on_message(*message)
        finally:
            self._conn.close()
            if not done:
                self._process.join(10)
                code = self._process.exitcode
                how = (f"was killed by signal {-code}" if code is not None and code < 0
                       else f"ended with exit code {code}")
                self.stopped = True
                self._on_message("done", None, {}, f"the training process {how} (out of memory?)", True)


def _child_main(conn, arch_json, dataset, input_shape, validation_fraction, seed, emit_interval, job_settings,
                stop, running, held) -> None:
    """The child: receive the starting weights, train, and report through ``conn`` (see the module's docstring)."""
    try:
        os.nice(CHILD_NICENESS)          # before NumPy starts BLAS threads, which inherit it
    except (OSError, AttributeError):
        pass
    from ..model import CnnExplorerError
    from ..model.files import loads
    from .datasets import load_dataset, split
    from .errors import EngineError
    from .training_job import TrainingJob, first_conv_kernel

    def send(*message):
        try:
            conn.send(message)
        except (BrokenPipeError, ConnectionResetError):      # the window is gone: nobody to train for
            os._exit(0)

    try:
        weights = conn.recv()
        arch = loads(arch_json)
        data = load_dataset(dataset, input_shape)
        train, val = split(data, validation_fraction, seed=seed) if validation_fraction else (data, None)
        send("data", val, list(data.class_names))
        job = TrainingJob(arch, train, val, weights, seed=seed, **job_settings)
        job._stop, job._running, job.held = stop, running, held      # the window's controls, shared
        conv = next((f"{i.name}/kernel" for i in arch.infer() if i.type_name == "Conv2D"), None)
        pending: list = []
        last = [0.0]

        def flush(progress):
            kernel = job.live_weights(conv) if conv else None
            send("batch", pending[:], progress, kernel)
            pending.clear()
            last[0] = time.perf_counter()

        def on_batch(point, progress):
            pending.append((point.step, point.loss, point.accuracy))
            if (time.perf_counter() - last[0] >= emit_interval or progress["fraction"] >= 1.0
                    or not running.is_set() or stop.is_set()):     # paused or stopping: the curves catch up
                flush(progress)

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
        conn.close()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
