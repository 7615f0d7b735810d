"""Reading untrusted files in a child process: the one place for the plumbing that ONNX models and Keras HDF5
weights share.

The C libraries behind them (protobuf and ONNX's shape inference, HDF5) can crash, loop forever or hold the GIL
for long stretches on a hostile or merely large file, and nothing interrupts C code in this process.  So the
reader runs in a fresh interpreter (``sys.executable``, this very ``cnnexplorer`` on its path, one BLAS thread)
with a time limit and a memory limit, and writes its results to a temporary folder that the caller then reads
back with the normal checked loaders.  The caller's thread only waits on a pipe meanwhile, so a GUI stays
responsive.

Parent side: :func:`run_reader`.  Child side: :func:`child_code` gives the ``python -c`` program that calls
``module.function(*args)``; the function refuses a file by raising a :class:`CnnExplorerError`, which comes back
to the parent as the same exception (type and message) through :data:`EXIT_REFUSED` and one JSON line on stdout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable, Sequence

from ..model.errors import ArchitectureFileError, CnnExplorerError
from ..model.summary import format_bytes

#: Seconds a child process may take to read a file.
READ_SECONDS = 120
EXIT_REFUSED = 3  # the function refused the file; the exception as a JSON line on stdout
EXIT_OUT_OF_MEMORY = 4  # the memory limit was reached (MemoryError)


def child_code(module: str, function: str, *preload: str) -> str:
    """The program a child runs: ``module.function(*sys.argv[2:])`` once ``preload`` (the libraries) is imported
    and the memory limit (``sys.argv[1]`` bytes beyond what the libraries take) is set."""
    return (f"import sys\n"
            f"from cnnexplorer.interop._child import serve\n"
            f"sys.exit(serve({module!r}, {function!r}, {list(preload)!r}, int(sys.argv[1]), sys.argv[2:]))\n")


def run_reader(code: str, args: Sequence[str], *, results: Sequence[str], memory: int, seconds: float,
               library: str, fail: Callable[[str], Exception]) -> None:
    """Run ``code`` (from :func:`child_code`) in a fresh interpreter and wait for it to write the files
    ``results``, raising a one-line error if it does not.

    ``memory`` is what the reader may allocate beyond the libraries it imports; ``library`` names what reads the
    file in messages ("HDF5 library"); ``fail(problem)`` makes the exception for a child that crashed, ran out of
    time or memory, or stopped otherwise (the problem does not name the file: ``fail`` does).  A refusal raised in
    the child is raised again here, as the same type with the same message.
    """
    package_root = str(Path(__file__).resolve().parents[2])  # the child imports this very cnnexplorer
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, (package_root, os.environ.get("PYTHONPATH"))))}
    kind = library.split()[0]
    with subprocess.Popen([sys.executable, "-c", code, str(memory), *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env,
                          errors="replace") as child:
        with _LOCK:
            _RUNNING.add(child)
        try:
            stdout, stderr = child.communicate(timeout=seconds)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            raise fail(f"reading it took more than {seconds} s and was stopped (a corrupted {kind} file can make "
                       f"the {library} loop forever)") from None
        finally:
            with _LOCK:
                _RUNNING.discard(child)
                stopped = _STOPPED.pop(child, False)
    if stopped:
        raise fail("reading it was stopped (the program is closing)")
    done = subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)
    if done.returncode == EXIT_REFUSED:
        raise _refusal(done.stdout, fail)
    if done.returncode == EXIT_OUT_OF_MEMORY:
        raise fail(f"reading it needed more than {format_bytes(memory)} of memory and was stopped (a corrupted "
                   f"{kind} file can make the {library} allocate without end)")
    if done.returncode < 0:  # killed by a signal: the library crashed
        raise fail(f"the {library} crashed reading it ({_signal_name(-done.returncode)}); the file is corrupt")
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        last = _one_line(lines[-1]) if lines else ""
        raise fail(f"cannot be read; the reader process stopped (exit {done.returncode}"
                   + (f": {last[:200]}" if last else "") + ")")
    missing = [os.path.basename(r) for r in results if not os.path.isfile(r)]
    if missing:
        raise fail(f"cannot be read; the reader process ended without writing {', '.join(missing)}")


_LOCK = threading.Lock()
_RUNNING: set[subprocess.Popen] = set()
_STOPPED: dict[subprocess.Popen, bool] = {}


def stop_readers() -> int:
    """Kill every reader child still running (the window is closing: a thread waiting on a slow or hostile file
    would otherwise keep the program alive until :data:`READ_SECONDS` ran out).  Their callers get a one-line
    error.  Returns how many were stopped."""
    with _LOCK:
        running = list(_RUNNING)
        for child in running:
            _STOPPED[child] = True
    for child in running:
        try:
            child.kill()
        except OSError:
            pass
    return len(running)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


# refusals that come back as themselves; ArchitectureFileError keeps its place and problem
def _refusal_types() -> dict[str, type[CnnExplorerError]]:
    from ..engine.errors import ArchitectureInvalidError, EngineInputError, MemoryBudgetSettingError
    from ._deps import MissingDependencyError

    return {cls.__name__: cls for cls in (EngineInputError, ArchitectureInvalidError, MemoryBudgetSettingError,
                                          MissingDependencyError)}


def _refusal(stdout: str, fail: Callable[[str], Exception]) -> Exception:
    """The exception a child refused the file with, from its JSON line (anything unexpected: ``fail``)."""
    try:
        record = json.loads(stdout.strip().splitlines()[-1])
        name, message = record["type"], record["message"]
        if name == "ArchitectureFileError":
            return ArchitectureFileError(record["path"], record["place"], record["problem"])
        return _refusal_types().get(name, CnnExplorerError)(message)
    except (ValueError, IndexError, KeyError, TypeError):
        return fail(f"refused, but the reader's message cannot be read ({_one_line(stdout)[:200]!r})")


def serve(module: str, function: str, preload: list[str], memory: int, args: list[str]) -> int:
    """The child's side of :func:`run_reader` (its exit status)."""
    import importlib

    for name in preload:
        importlib.import_module(name)
    target = getattr(importlib.import_module(module), function)
    _limit_memory(memory)
    try:
        target(*args)
    except CnnExplorerError as exc:
        if _caused_by_memory(exc):  # a reader that turned MemoryError into a refusal ("cannot read ...")
            return EXIT_OUT_OF_MEMORY
        record = {"type": type(exc).__name__, "message": _one_line(str(exc))}
        if isinstance(exc, ArchitectureFileError):
            record.update(path=exc.path, place=exc.place, problem=exc.problem)
        print(json.dumps(record))  # ASCII: escaped surrogates in file names survive the pipe
        return EXIT_REFUSED
    except MemoryError:
        return EXIT_OUT_OF_MEMORY
    return 0


def _caused_by_memory(refusal: BaseException) -> bool:
    """Whether a MemoryError led to ``refusal`` (raised while handling it, even ``from None``)."""
    seen, exc = set(), refusal.__cause__ or refusal.__context__
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, MemoryError):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


_limited = False


def _limit_memory(memory: int) -> None:
    """Cap this process's address space at what it takes now plus ``memory`` (Linux; elsewhere no limit)."""
    global _limited
    try:
        import resource

        with open("/proc/self/statm") as f:
            now = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = now + memory if hard == resource.RLIM_INFINITY else min(now + memory, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        _limited = True
    except (ImportError, OSError, ValueError):
        pass


def allow_more_memory(nbytes: int) -> None:
    """In a child, raise the memory limit by ``nbytes`` (data found legitimate once the file was parsed, such as an
    ONNX model's external data within the memory budget); nothing anywhere else."""
    if not _limited:
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = soft + nbytes if hard == resource.RLIM_INFINITY else min(soft + nbytes, hard)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (OSError, ValueError):
        pass
