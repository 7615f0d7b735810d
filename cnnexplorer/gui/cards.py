"""The model stack's cards: type, key arguments, output shape and params; red with the message when a layer
cannot be computed, grey when it follows such a layer."""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPalette, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate

from ..model.summary import format_count, format_shape
from .qt_models import INFO_ROLE, INPUTS_ROLE, category_colour

ERROR_COLOUR = QColor("#c62828")
UNKNOWN_COLOUR = QColor("#9e9e9e")
INPUTS_COLOUR = QColor("#1565c0")


class LayerCardDelegate(QStyledItemDelegate):
    MARGIN = 4
    STRIPE = 6

    def sizeHint(self, option, index):
        metrics = QFontMetrics(option.font)
        return QSize(260, 3 * metrics.height() + 2 * self.MARGIN + 10)

    def paint(self, painter, option, index):
        info = index.data(INFO_ROLE)
        if info is None:
            return super().paint(painter, option, index)
        painter.save()
        palette = option.palette
        rect = option.rect.adjusted(self.MARGIN, self.MARGIN // 2, -self.MARGIN, -self.MARGIN // 2)
        selected = bool(option.state & QStyle.State_Selected)
        base = palette.color(QPalette.Highlight if selected else QPalette.Base)
        text = palette.color(QPalette.HighlightedText if selected else QPalette.Text)
        faint = QColor(text)
        faint.setAlpha(150)
        border = ERROR_COLOUR if info.status == "error" else palette.color(QPalette.Mid)
        painter.setRenderHint(painter.RenderHint.Antialiasing)
        painter.setPen(QPen(border, 2 if info.status == "error" else 1))
        painter.setBrush(base)
        painter.drawRoundedRect(rect, 6, 6)
        stripe = QRect(rect.left(), rect.top(), self.STRIPE, rect.height())
        painter.setPen(Qt.NoPen)
        painter.setBrush(UNKNOWN_COLOUR if info.status == "unknown" else category_colour(info.type_name))
        painter.drawRoundedRect(stripe, 3, 3)

        metrics = QFontMetrics(option.font)
        line = metrics.height()
        x = rect.left() + self.STRIPE + 8
        width = rect.right() - x - 6
        y = rect.top() + 4
        bold = QFont(option.font)
        bold.setBold(True)
        if info.status == "unknown":
            text = UNKNOWN_COLOUR
            faint = UNKNOWN_COLOUR

        # line 1: type and name | params
        painter.setFont(bold)
        painter.setPen(text)
        title = f"{info.type_name}"
        painter.drawText(QRect(x, y, width, line), Qt.AlignLeft | Qt.AlignVCenter, title)
        title_width = QFontMetrics(bold).horizontalAdvance(title + "  ")
        painter.setFont(option.font)
        painter.setPen(faint)
        painter.drawText(QRect(x + title_width, y, width - title_width, line), Qt.AlignLeft | Qt.AlignVCenter,
                         metrics.elidedText(info.name, Qt.ElideRight, max(0, width - title_width - 110)))
        if info.status == "ok":
            painter.drawText(QRect(x, y, width, line), Qt.AlignRight | Qt.AlignVCenter,
                             f"{format_count(info.params)} params")
        # line 2: key arguments | output shape
        y += line + 2
        painter.setPen(text)
        args = info.layer.key_args()
        shape = {"ok": "→ " + format_shape(info.output_shape, batch=False), "error": "cannot be computed",
                 "unknown": "unknown"}[info.status]
        shape_width = metrics.horizontalAdvance(shape) + 8
        painter.drawText(QRect(x, y, width - shape_width, line), Qt.AlignLeft | Qt.AlignVCenter,
                         metrics.elidedText(args, Qt.ElideRight, width - shape_width))
        painter.setFont(bold)
        painter.setPen(ERROR_COLOUR if info.status == "error" else text)
        painter.drawText(QRect(x, y, width, line), Qt.AlignRight | Qt.AlignVCenter, shape)
        painter.setFont(option.font)
        # line 3: the message of a failing layer
        y += line + 2
        if info.status == "error":
            painter.setPen(ERROR_COLOUR)
            painter.drawText(QRect(x, y, width, line), Qt.AlignLeft | Qt.AlignVCenter,
                             metrics.elidedText(info.error, Qt.ElideRight, width))
        elif info.status == "unknown":
            painter.setPen(UNKNOWN_COLOUR)
            painter.drawText(QRect(x, y, width, line), Qt.AlignLeft | Qt.AlignVCenter, "after a layer that fails")
        else:
            macs = f"{format_count(info.macs)} MACs" if info.macs else ""
            rf = f"RF {info.receptive_field[0]}×{info.receptive_field[1]}" if info.receptive_field else ""
            inputs = index.data(INPUTS_ROLE) or ""      # a graph: where the layer's inputs come from
            if inputs:
                painter.setPen(INPUTS_COLOUR)
                painter.drawText(QRect(x, y, width, line), Qt.AlignLeft | Qt.AlignVCenter,
                                 metrics.elidedText(inputs, Qt.ElideRight, width))
                x_rest = x + min(metrics.horizontalAdvance(inputs) + 12, width)
            else:
                x_rest = x
            painter.setPen(faint)
            painter.drawText(QRect(x_rest, y, max(0, x + width - x_rest), line), Qt.AlignRight if inputs
                             else Qt.AlignLeft | Qt.AlignVCenter, "   ".join(p for p in (macs, rf) if p))
        painter.restore()
