"""Architecture files: our versioned JSON format (normative), and real Keras JSON on load.

Loading validates everything and turns any problem into one :class:`ArchitectureFileError` whose message names
the file, the place in it (``layers[3].kernel_size``) and what was expected.  Saving is atomic.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import stat
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Any

from .architecture import Architecture, check_input_count, check_input_shape
from .args import MAX_TEXT, json_text, model_name_problem
from .errors import ArchitectureError, ArchitectureFileError, LayerArgumentError
from .layers import LAYER_TYPES, Layer, check_layer_name

FORMAT = "cnnexplorer.architecture"
VERSION = 1           # chains: no layer carries "inputs"
GRAPH_VERSION = 2     # graphs: some layers carry "inputs"
SUPPORTED_VERSIONS = (VERSION, GRAPH_VERSION)
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_LAYERS = 10_000
TOP_LEVEL_KEYS = ("format", "version", "name", "description", "input_shape", "layers")


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


def _not_regular(mode: int) -> str | None:
    """What a file that is not a regular file is (``"a FIFO"``), or ``None`` for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    kinds = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"))
    return next((text for test, text in kinds if test(mode)), "not a regular file")


def read_json_file(path: str | os.PathLike) -> Any:
    """Read and parse a JSON file, turning every way it can fail into an :class:`ArchitectureFileError`.

    Only a regular file is opened: a FIFO, socket or device (which could block forever or never end) is refused
    from its ``stat``, and checked again on the opened descriptor (opened non-blocking, in case it was swapped)."""
    if isinstance(path, (bool, int)) or not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"expected a file path, got {type(path).__name__}")
    where = os.fsdecode(path)
    try:
        kind = _not_regular(os.stat(path).st_mode)
        if kind is None:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
            with os.fdopen(fd, "rb") as f:
                info = os.fstat(f.fileno())
                kind = _not_regular(info.st_mode)
                if kind is None:
                    if info.st_size > MAX_FILE_BYTES:
                        raise ArchitectureFileError(where, "", f"the file is {info.st_size:,} bytes; architecture "
                                                               f"files are at most {MAX_FILE_BYTES:,} bytes")
                    data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ArchitectureFileError(where, "", "no such file") from None
    except OSError as exc:
        raise ArchitectureFileError(where, "", f"cannot be read ({exc.strerror or exc})") from None
    if kind is not None:
        raise ArchitectureFileError(where, "", f"is {kind}, not a file" if kind == "a directory" else
                                    f"is {kind}, not a regular file; architecture files are plain JSON files")
    if len(data) > MAX_FILE_BYTES:
        raise ArchitectureFileError(where, "", f"the file grew past {MAX_FILE_BYTES:,} bytes while it was read")
    return parse_json_bytes(data, where)


class _Duplicates(dict):
    """A JSON object in which a key was repeated (``duplicate`` names the first such key)."""

    duplicate: str


def _object_without_duplicates(found: list):
    """An ``object_pairs_hook``: Python's json keeps the last of repeated keys silently; these are marked instead
    (``found`` becomes non-empty) so that the reader can name the place."""

    def hook(pairs):
        obj = dict(pairs)
        if len(obj) == len(pairs):
            return obj
        seen: set[str] = set()
        marked = _Duplicates(obj)
        marked.duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))
        found.append(marked)
        return marked

    return hook


def _walk(data: Any):
    """``(place, value)`` for every value of parsed JSON, depth first, without recursion (any nesting depth)."""
    stack = [("", data)]
    while stack:
        place, value = stack.pop()
        yield place, value
        if isinstance(value, dict):
            stack.extend((f"{place}.{place_key(k)}" if place else place_key(k), v)
                         for k, v in reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend((f"{place}[{i}]", v) for i, v in reversed(list(enumerate(value))))


def _reject_duplicate_keys(data: Any, where: str) -> None:
    for place, value in _walk(data):
        if isinstance(value, _Duplicates):
            key = value.duplicate
            raise ArchitectureFileError(where, f"{place}.{place_key(key)}" if place else place_key(key),
                                        f"the key {json_text(key, 60)} appears more than once in the same object")


def parse_json_bytes(data: bytes, where: str) -> Any:
    if not data.strip():
        raise ArchitectureFileError(where, "", "the file is empty (expected a JSON architecture)")
    if b"\x00" in data:
        raise ArchitectureFileError(where, "", "this is a binary file, not a JSON architecture")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArchitectureFileError(where, "", f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                                               f"{exc.start}); expected a JSON architecture") from None

    def reject_constant(name: str):
        raise ValueError(f"{name} is not allowed in an architecture file")

    duplicates: list = []
    try:
        data = json.loads(text, parse_constant=reject_constant,
                          object_pairs_hook=_object_without_duplicates(duplicates))
    except json.JSONDecodeError as exc:
        problem = "the file ends too early (truncated?)" if exc.pos >= len(text.rstrip()) else exc.msg
        raise ArchitectureFileError(where, f"line {exc.lineno} column {exc.colno}",
                                    f"not valid JSON: {problem}") from None
    except ValueError as exc:
        raise ArchitectureFileError(where, "", str(exc)) from None
    except RecursionError:
        raise ArchitectureFileError(where, "", "the JSON is nested too deeply") from None
    if duplicates:
        _reject_duplicate_keys(data, where)
    return data


def place_key(key: Any) -> str:
    """A key as it appears in a place: plain identifiers as they are, anything else JSON-quoted (one line)."""
    text = str(key)
    return text if text.isidentifier() and len(text) <= 60 else json_text(text, 60)


def _reject_non_finite(data: Any, where: str) -> None:
    """NaN/Infinity may also arrive as huge literals (1e999 parses to inf)."""
    for place, value in _walk(data):
        if isinstance(value, float) and not math.isfinite(value):
            raise ArchitectureFileError(where, place, f"expected a finite number, got {value}")


def layer_from_config(layer_type: Any, config: dict[str, Any], where: str, place: str) -> Layer:
    """Build one layer; a bad argument becomes an error at ``place.argument``."""
    if not isinstance(layer_type, str):
        raise ArchitectureFileError(where, f"{place}.type", f"expected a layer type name, got {_type_name(layer_type)}")
    cls = LAYER_TYPES.get(layer_type)
    if cls is None:
        raise ArchitectureFileError(where, f"{place}.type", f"unknown layer type {layer_type!r}; expected one of "
                                    + ", ".join(LAYER_TYPES))
    try:
        return cls(**config)
    except LayerArgumentError as exc:
        raise ArchitectureFileError(where, f"{place}.{place_key(exc.argument)}",
                                    f"expected {exc.expected}, got {json_text(exc.value)}") from None


def architecture_from_dict(data: Any, where: str = "<architecture>") -> Architecture:
    """Our own format (see the README); raises :class:`ArchitectureFileError`."""
    if not isinstance(data, dict):
        raise ArchitectureFileError(where, "", f"expected a JSON object at the top level, got {_type_name(data)}")
    _reject_non_finite(data, where)
    if data.get("format") != FORMAT:
        raise ArchitectureFileError(where, "format", f"expected \"{FORMAT}\", got {json_text(data.get('format'))}")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ArchitectureFileError(where, "version", f"expected an integer, got {json_text(version)}")
    if version not in SUPPORTED_VERSIONS:
        raise ArchitectureFileError(where, "version", f"version {version} is not supported (this CNN Explorer "
                                                      f"reads versions {VERSION} and {GRAPH_VERSION}); a newer "
                                                      f"CNN Explorer may read it")
    unknown = [k for k in data if k not in TOP_LEVEL_KEYS]
    if unknown:
        raise ArchitectureFileError(where, place_key(unknown[0]), "unknown key; expected only " + ", ".join(TOP_LEVEL_KEYS))
    name = data.get("name", "model")
    problem = model_name_problem(name)
    if problem is not None:
        raise ArchitectureFileError(where, "name", problem)
    description = data.get("description", "")
    if not isinstance(description, str) or len(description) > MAX_TEXT or any(
            unicodedata.category(ch) == "Cs" or (unicodedata.category(ch) == "Cc" and ch not in "\t\n")
            for ch in description):
        raise ArchitectureFileError(where, "description", f"expected a string of at most {MAX_TEXT:,} characters "
                                                          f"without control characters (other than tabs and line "
                                                          f"breaks) or lone surrogates")
    if "input_shape" not in data:
        raise ArchitectureFileError(where, "input_shape", "missing; expected [height, width, channels]")
    try:
        input_shape = check_input_shape(data["input_shape"])
    except LayerArgumentError as exc:
        raise ArchitectureFileError(where, "input_shape", f"expected {exc.expected}, "
                                                          f"got {json_text(data['input_shape'])}") from None
    layers_data = data.get("layers")
    if not isinstance(layers_data, list):
        raise ArchitectureFileError(where, "layers", f"expected a list of layers, got {_type_name(layers_data)}")
    if len(layers_data) > MAX_LAYERS:
        raise ArchitectureFileError(where, "layers", f"{len(layers_data):,} layers; at most {MAX_LAYERS:,}")
    layers: list[Layer] = []
    seen: dict[str, int] = {}
    inputs: dict[int, tuple[str, ...]] = {}
    for i, entry in enumerate(layers_data):
        place = f"layers[{i}]"
        if not isinstance(entry, dict):
            raise ArchitectureFileError(where, place, f"expected a layer object, got {_type_name(entry)}")
        if "type" not in entry:
            raise ArchitectureFileError(where, f"{place}.type", "missing; expected a layer type such as \"Conv2D\"")
        config = {k: v for k, v in entry.items() if k not in ("type", "inputs")}
        if "inputs" in entry:
            if version < GRAPH_VERSION:
                raise ArchitectureFileError(where, f"{place}.inputs", f"layer inputs need \"version\": "
                                                                      f"{GRAPH_VERSION} (the file says {version})")
            inputs[i] = _read_inputs(entry["inputs"], seen, where, f"{place}.inputs")
        if "name" in config:
            try:
                check_layer_name(config["name"])
            except LayerArgumentError as exc:
                raise ArchitectureFileError(where, f"{place}.name", f"expected {exc.expected}, "
                                                                    f"got {json_text(config['name'])}") from None
            if config["name"] in seen:
                raise ArchitectureFileError(where, f"{place}.name", f"duplicate layer name {config['name']!r} "
                                                                    f"(also layers[{seen[config['name']]}])")
            seen[config["name"]] = i
        layers.append(layer_from_config(entry["type"], config, where, place))
    for i, layer in enumerate(layers):   # the number of inputs each layer takes, with its place
        try:
            check_input_count(layer, len(inputs.get(i, ("default",))))
        except ArchitectureError as exc:
            raise ArchitectureFileError(where, f"layers[{i}].inputs", str(exc)) from None
    try:
        return Architecture(input_shape, layers, name=name, description=description, inputs=inputs)
    except ArchitectureError as exc:
        raise ArchitectureFileError(where, "layers", str(exc)) from None


def _read_inputs(value: Any, earlier: dict[str, int], where: str, place: str) -> tuple[str, ...]:
    """A layer's ``"inputs"``: names of EARLIER layers (or ``"input"``), checked with their place."""
    if not isinstance(value, list) or not value:
        raise ArchitectureFileError(where, place, f"expected a non-empty list of layer names, got "
                                                  f"{json_text(value)}")
    for k, name in enumerate(value):
        if not isinstance(name, str):
            raise ArchitectureFileError(where, f"{place}[{k}]", f"expected a layer name, got {_type_name(name)}")
        if name != "input" and name not in earlier:
            raise ArchitectureFileError(where, f"{place}[{k}]", f"{json_text(name)} is not the name of an "
                                                                f"earlier layer (nor \"input\", the model input)")
    return tuple(value)


def architecture_to_dict(arch: Architecture) -> dict[str, Any]:
    """Our format: a chain is version 1 without any ``inputs``; a graph is version 2 and its layers carry
    ``"inputs"`` only where they differ from the layer before."""
    explicit = arch.explicit_inputs
    data: dict[str, Any] = {"format": FORMAT, "version": GRAPH_VERSION if explicit else VERSION, "name": arch.name}
    if arch.description:
        data["description"] = arch.description
    data["input_shape"] = list(arch.input_shape)
    data["layers"] = [{"type": layer.type_name, **layer.get_config(),
                       **({"inputs": list(explicit[layer.name])} if layer.name in explicit else {})}
                      for layer in arch.layers]
    return data


def dumps(arch: Architecture) -> str:
    """Readable JSON: one line per top-level key and per layer."""
    data = architecture_to_dict(arch)
    layers = data.pop("layers")
    lines = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in data.items()]
    if layers:
        lines.append('  "layers": [')
        lines.append(",\n".join("    " + json.dumps(layer, ensure_ascii=False) for layer in layers))
        lines.append("  ]")
    else:
        lines.append('  "layers": []')
    lines.append("}")
    return "\n".join(lines) + "\n"


def loads(text: str | bytes, where: str = "<text>") -> Architecture:
    data = parse_json_bytes(text.encode("utf-8") if isinstance(text, str) else text, where)
    return architecture_from_any(data, where)


def architecture_from_any(data: Any, where: str) -> Architecture:
    """Our format, or Keras JSON (``class_name`` Sequential / Functional / Model)."""
    if isinstance(data, dict) and "format" not in data and "class_name" in data:
        from .keras_json import architecture_from_keras

        return architecture_from_keras(data, where)
    return architecture_from_dict(data, where)


def load_architecture(path: str | os.PathLike) -> Architecture:
    """Read our format or Keras JSON from ``path``; raises :class:`ArchitectureFileError`."""
    return architecture_from_any(read_json_file(path), str(path))


def save_architecture(arch: Architecture, path: str | os.PathLike) -> None:
    """Write atomically: a temporary file in the same folder, flushed, then renamed over ``path``.

    Raises :class:`ArchitectureError` before anything is written when the text cannot be encoded (a description
    holding a lone surrogate, set through the API)."""
    text = dumps(arch)
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ArchitectureError(f"{os.fspath(path)}: the model cannot be saved: character "
                                f"{json_text(text[exc.start:exc.end])} (a lone surrogate) cannot be written as "
                                f"UTF-8") from None
    with atomic_writer(Path(path), binary=True) as f:
        f.write(data)


def target_mode(path: Path) -> int:
    """The permissions a save should leave: the existing file's, or the usual ``0o666 & ~umask``."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


# Our temporary files: ".<target name>.<writer pid>.<mkstemp's 8 random characters>.tmp", beside the target.
_TEMPORARY = re.compile(r"\A\..+\.([0-9]{1,10})\.[A-Za-z0-9_]{8}\.tmp\Z", re.DOTALL)
STALE_AFTER_S = 60.0         # a temporary file of a dead writer, untouched this long, is a leftover
ABANDONED_AFTER_S = 86400.0  # ... and one untouched for a day is, whoever wrote it (the pid may be reused)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's live process (or cannot tell): keep its file
    return True


def remove_stale_temporaries(folder: str | os.PathLike) -> list[str]:
    """Delete the leftovers of interrupted saves in ``folder`` (a save killed before its rename): only files named
    like ours (``.<name>.<pid>.<random>.tmp``), regular, owned by this user, and stale — untouched for a minute
    with their writer's process gone, or untouched for a day.  Returns the names removed; never raises."""
    removed: list[str] = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match is None:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
                continue
            age = now - info.st_mtime
            if age > ABANDONED_AFTER_S or (age > STALE_AFTER_S and not _pid_alive(int(match.group(1)))):
                os.unlink(entry.path)
                removed.append(entry.name)
        except OSError:
            continue
    return removed


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, binary: bool = False):
    """Write to a temporary file beside ``path``, flush it to disk, then rename it over ``path``.

    On any error the temporary file is removed and ``path`` is left as it was.  A symbolic link is written through
    (its target is replaced, the link stays, as editors do); stale temporary files that interrupted saves left in
    the folder are removed first (:func:`remove_stale_temporaries`).
    """
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    folder = path.parent if str(path.parent) else Path(".")
    remove_stale_temporaries(folder)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, target_mode(path))
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
