"""``summarize(arch)``: per-layer figures and totals as a Keras-style table, JSON, Markdown or CSV.

Totals are sums over the rows, computed when asked, never stored.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from .architecture import BYTES_PER_VALUE, Architecture, LayerInfo


def format_count(n: int | None) -> str:
    """``243786`` → ``243,786``; unknown → ``?``."""
    return "?" if n is None else f"{n:,}"


def format_bytes(n: int | None) -> str:
    """Keras' style: ``952.29 KB`` (powers of 1024)."""
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}" if unit != "B" else f"{n:.2f} B"
        n /= 1024
    return f"{n:.2f} GB"  # pragma: no cover


def format_macs(n: int | None) -> str:
    """Multiply-adds in engineering units: ``5.06 M``, ``15.47 G``."""
    if n is None:
        return "?"
    for value, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= value:
            return f"{n / value:.2f} {unit}"
    return str(n)


def format_shape(shape: tuple[int, ...] | None, batch: bool = True) -> str:
    """Keras' style ``(None, 26, 26, 64)``; ``?`` when unknown."""
    if shape is None:
        return "?"
    dims = (["None"] if batch else []) + [str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def format_rf(rf: tuple[int, int] | None) -> str:
    return "?" if rf is None else f"{rf[0]}×{rf[1]}"


def _sum(values) -> int:
    return sum(v for v in values if v is not None)


@dataclass
class Summary:
    """Figures of an architecture at the moment it was summarised."""

    name: str
    input_shape: tuple[int, ...]
    rows: list[LayerInfo]
    graph: bool = False   # a graph shows a "Connected to" column, like Keras' Functional summary

    @property
    def total_params(self) -> int:
        return _sum(r.params for r in self.rows)

    @property
    def trainable_params(self) -> int:
        return _sum(r.trainable_params for r in self.rows)

    @property
    def non_trainable_params(self) -> int:
        return _sum(r.non_trainable_params for r in self.rows)

    @property
    def total_macs(self) -> int:
        return _sum(r.macs for r in self.rows)

    @property
    def activation_bytes(self) -> int:
        """Bytes of all layer outputs plus the input, float32."""
        size = 1
        for d in self.input_shape:
            size *= d
        return size * BYTES_PER_VALUE + _sum(r.memory_bytes for r in self.rows)

    @property
    def errors(self) -> list[LayerInfo]:
        return [r for r in self.rows if r.status == "error"]

    @property
    def complete(self) -> bool:
        return all(r.status == "ok" for r in self.rows)

    # --- forms ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "layers": [
                {
                    "name": r.name,
                    "type": r.type_name,
                    "output_shape": None if r.output_shape is None else list(r.output_shape),
                    "params": r.params,
                    "trainable_params": r.trainable_params,
                    "non_trainable_params": r.non_trainable_params,
                    "macs": r.macs,
                    "memory_bytes": r.memory_bytes,
                    "receptive_field": None if r.receptive_field is None else list(r.receptive_field),
                    "error": r.error,
                    "inputs": list(r.inputs),
                }
                for r in self.rows
            ],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "total_macs": self.total_macs,
        }

    @property
    def headers(self) -> tuple[str, ...]:
        base = ("Layer (type)", "Output Shape", "Param #", "MACs", "RF")
        return base + ("Connected to",) if self.graph else base

    def _table_rows(self) -> list[tuple[str, ...]]:
        rows = []
        for r in self.rows:
            shape = format_shape(r.output_shape) if r.status == "ok" else ("error" if r.status == "error" else "?")
            row = (f"{r.name} ({r.type_name})", shape, format_count(r.params), format_count(r.macs),
                   format_rf(r.receptive_field))
            rows.append(row + (connected_to(r),) if self.graph else row)
        return rows

    def _totals_lines(self) -> list[str]:
        lines = [
            f"Total params: {self.total_params:,} ({format_bytes(self.total_params * BYTES_PER_VALUE)})",
            f"Trainable params: {self.trainable_params:,} ({format_bytes(self.trainable_params * BYTES_PER_VALUE)})",
            f"Non-trainable params: {self.non_trainable_params:,} "
            f"({format_bytes(self.non_trainable_params * BYTES_PER_VALUE)})",
            f"Total MACs: {self.total_macs:,} ({format_macs(self.total_macs)} multiply-adds, bias adds not counted)",
            f"Activation memory: {format_bytes(self.activation_bytes)} (float32, batch of 1)",
        ]
        for r in self.errors:
            lines.append(f"Error at layer {r.index} '{r.name}' ({r.type_name}): {r.error}")
        return lines

    def __str__(self) -> str:
        headers = self.headers
        rows = self._table_rows()
        widths = [max([len(headers[i])] + [len(row[i]) for row in rows]) + 2 for i in range(len(headers))]
        right = (False, False, True, True, True, False)

        def line(cells, bar="│"):
            parts = []
            for cell, w, r in zip(cells, widths, right):
                parts.append(" " + (cell.rjust(w - 2) if r else cell.ljust(w - 2)) + " ")
            return bar + bar.join(parts) + bar

        def rule(left, mid, right_, fill):
            return left + mid.join(fill * w for w in widths) + right_

        out = [f'Model: "{self.name}"', rule("┏", "┳", "┓", "━"), line(headers, "┃"), rule("┡", "╇", "┩", "━")]
        for i, row in enumerate(rows):
            out.append(line(row))
            if i != len(rows) - 1:
                out.append(rule("├", "┼", "┤", "─"))
        out.append(rule("└", "┴", "┘", "─"))
        out.extend(" " + text for text in self._totals_lines())
        return "\n".join(out)

    def to_markdown(self) -> str:
        out = [f"**{self.name}** — input {format_shape(self.input_shape)}", "",
               "| " + " | ".join(self.headers) + " |",
               "|---|---|---:|---:|---:|" + ("---|" if self.graph else "")]
        for row in self._table_rows():
            out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
        out.append("")
        out.extend(f"- {text}" for text in self._totals_lines())
        return "\n".join(out) + "\n"

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["name", "type", "output_shape", "params", "trainable_params", "non_trainable_params",
                         "macs", "memory_bytes", "receptive_field", "error"] + (["inputs"] if self.graph else []))
        for r in self.rows:
            writer.writerow([
                r.name, r.type_name,
                "" if r.output_shape is None else "x".join(str(d) for d in r.output_shape),
                *("" if v is None else v for v in (r.params, r.trainable_params, r.non_trainable_params,
                                                     r.macs, r.memory_bytes)),
                "" if r.receptive_field is None else "x".join(str(d) for d in r.receptive_field),
                r.error or "",
            ] + ([" ".join(r.inputs)] if self.graph else []))
        writer.writerow(["total", "", "", self.total_params, self.trainable_params, self.non_trainable_params,
                         self.total_macs, self.activation_bytes, "", ""] + ([""] if self.graph else []))
        return buffer.getvalue()


def connected_to(info: LayerInfo) -> str:
    """Keras' "Connected to" cell: the names of the layers feeding this one (``input`` is the model input)."""
    return ", ".join(info.inputs)


def summarize(arch: Architecture) -> Summary:
    """Per-layer figures and totals of ``arch`` (a snapshot)."""
    return Summary(arch.name, arch.input_shape, list(arch.infer()), graph=not arch.is_chain)
