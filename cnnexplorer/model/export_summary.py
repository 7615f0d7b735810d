"""The summary as text in one of four formats, for the command line, File ▸ Export and the clipboard."""

from __future__ import annotations

import json
import os

from .architecture import Architecture
from .summary import summarize

SUMMARY_FORMATS = ("table", "json", "markdown", "csv")

# file suffix → format (Save dialogs and ``cnnexplorer summary -o FILE`` without --format)
SUMMARY_SUFFIXES = {".txt": "table", ".json": "json", ".md": "markdown", ".markdown": "markdown", ".csv": "csv"}


def summary_text(arch: Architecture, fmt: str = "table") -> str:
    """The summary of ``arch`` as ``table`` (like Keras' ``model.summary()``), ``json``, ``markdown`` or ``csv``;
    always ends with a newline.  An invalid architecture is summarised too (its rows say ``error``)."""
    summary = summarize(arch)
    if fmt == "json":
        text = json.dumps(summary.to_dict(), indent=2)
    elif fmt == "markdown":
        text = summary.to_markdown()
    elif fmt == "csv":
        text = summary.to_csv()
    elif fmt == "table":
        text = str(summary)
    else:
        raise ValueError(f"unknown summary format {fmt!r}; expected one of {', '.join(SUMMARY_FORMATS)}")
    return text if text.endswith("\n") else text + "\n"


def summary_format_for_path(path: str | os.PathLike) -> str | None:
    """The format a file name asks for (``.md`` → ``markdown``), or ``None`` for an unknown suffix."""
    return SUMMARY_SUFFIXES.get(os.path.splitext(os.fspath(path))[1].lower())
