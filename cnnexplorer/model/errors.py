"""Exceptions of the core, each carrying a message a user can act on."""

from __future__ import annotations

import json


def _shown(value: object, limit: int = 200) -> str:
    """``repr(value)``, shortened; never raises (a 5,000-digit integer has no repr in Python 3.11)."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit] + "…"


class CnnExplorerError(Exception):
    """Base class of every error CNN Explorer raises on purpose."""


class LayerArgumentError(CnnExplorerError, ValueError):
    """A layer argument is wrong in itself (``filters=0``, ``rate=1.5``, an unknown activation).

    ``argument`` names the argument, ``value`` is what was received.
    """

    def __init__(self, layer_type: str, argument: str, value: object, expected: str):
        self.layer_type = layer_type
        self.argument = argument
        self.value = value
        self.expected = expected
        super().__init__(f"{layer_type}.{argument}: expected {expected}, got {_shown(value)}")


class ArchitectureError(CnnExplorerError, ValueError):
    """An edit of an :class:`Architecture` that cannot be made (duplicate name, bad index, ...)."""


class ArchitectureFileError(CnnExplorerError, ValueError):
    """An architecture file that cannot be read.

    The message names the file, the place in it (``layers[3].kernel_size``) and what was expected.
    """

    def __init__(self, path: str, place: str, problem: str):
        self.path = path
        self.place = place
        self.problem = problem
        # a file name with a line break or an undecodable byte is shown escaped: the message stays one line
        shown = path if path.isprintable() else json.dumps(path)
        where = f"{shown}: {place}: " if place else f"{shown}: "
        super().__init__(where + problem)


class DiagramTooLargeError(CnnExplorerError, ValueError):
    """A diagram whose picture would exceed the pixel budget even at the smallest scale (the message gives the
    size)."""
