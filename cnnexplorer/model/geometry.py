"""The one place where the size of a convolution or pooling output is computed.

Every layer that slides a window (Conv2D, DepthwiseConv2D, pooling) resolves its ``padding`` argument
here into explicit ``(before, after)`` amounts per axis and the output length.  The engine uses the same
resolution, so shapes printed by the summary and shapes produced by a run cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


class GeometryError(ValueError):
    """The window does not fit: the message names every number involved."""


@dataclass(frozen=True)
class AxisGeometry:
    """How a window slides along one axis.

    ``pad_before``/``pad_after`` are the real padding (zeros for a convolution); ``overhang`` is how far the
    last window reaches past the padded input in ceil mode (never counted, never wins a max).
    """

    n: int
    kernel: int
    stride: int
    dilation: int
    pad_before: int
    pad_after: int
    out: int
    ceil_mode: bool = False

    @property
    def effective_kernel(self) -> int:
        """The span of a dilated kernel: ``d*(k-1) + 1``."""
        return self.dilation * (self.kernel - 1) + 1

    @property
    def overhang(self) -> int:
        last_end = (self.out - 1) * self.stride + self.effective_kernel
        return max(0, last_end - (self.n + self.pad_before + self.pad_after))

    @property
    def exact_quotient(self) -> tuple[int, int]:
        """Numerator and denominator of ``(n + p_before + p_after - d*(k-1) - 1) / s``."""
        return self.n + self.pad_before + self.pad_after - self.effective_kernel, self.stride

    @property
    def rounding_outs(self) -> tuple[int, int]:
        """The output length with the floor and with the ceiling of the exact quotient (the course's options)."""
        numerator, denominator = self.exact_quotient
        return numerator // denominator + 1, -(-numerator // denominator) + 1

    def ceil_variant(self) -> "AxisGeometry":
        """This axis with the plain ceiling of the quotient (no last-window rule): its last window may reach
        ``overhang`` cells past the padded input.  Used to show the extra row/column ceiling would add."""
        return replace(self, out=self.rounding_outs[1], ceil_mode=True)

    def same_text(self) -> str:
        """``"same"`` as the explicit padding it stands for on this axis.

        E.g. ``same = padding 1 + 1 (output ceil(7/2) = 4)``.
        """
        return (f"same = padding {self.pad_before} + {self.pad_after} (output ceil({self.n}/{self.stride}) "
                f"= {self.out})")


    def formula(self) -> str:
        """The output size worked out with this axis' numbers, in the course's notation.

        ``floor((28 + 2·0 − 3) / 1) + 1 = 26`` for symmetric padding and no dilation; the general form
        ``floor((n + p_top + p_bottom − d·(k − 1) − 1) / s) + 1`` otherwise; ``ceil`` in ceil mode.
        """
        rounding = "ceil" if self.ceil_mode else "floor"
        if self.pad_before == self.pad_after:
            pad = f"2·{self.pad_before}"
        else:
            pad = f"{self.pad_before} + {self.pad_after}"
        if self.dilation == 1:
            inner = f"{self.n} + {pad} − {self.kernel}"
        else:
            inner = f"{self.n} + {pad} − {self.dilation}·({self.kernel} − 1) − 1"
        text = f"{rounding}(({inner}) / {self.stride}) + 1 = {self.out}"
        numerator, denominator = self.exact_quotient
        if numerator % denominator:
            floor_out = numerator // denominator + 1
            ceil_out = -(-numerator // denominator) + 1
            text += f"  ({numerator}/{denominator} is fractional: floor gives {floor_out}, ceiling {ceil_out})"
        return text


def output_length(n: int, kernel: int, stride: int, dilation: int, pad_before: int, pad_after: int,
                  ceil_mode: bool = False) -> int:
    """``floor((n + p_before + p_after - d*(k-1) - 1) / s) + 1`` (ceiling instead of floor in ceil mode).

    In ceil mode the PyTorch rule applies: the last window must start inside the input or the left padding.
    Returns a value < 1 when the window does not fit; callers turn that into a message.
    """
    span = n + pad_before + pad_after - (dilation * (kernel - 1) + 1)
    if span < 0:
        return 0
    if ceil_mode:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= n + pad_before:
            out -= 1
        return out
    return span // stride + 1


def same_padding(n: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """Keras/TensorFlow ``"same"``: output ``ceil(n/s)``, the odd pixel of padding at the bottom/right."""
    out = -(-n // stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - n, 0)
    return total // 2, total - total // 2


def resolve_axis(n: int, kernel: int, stride: int, dilation: int, padding, axis: int,
                 ceil_mode: bool = False) -> AxisGeometry:
    """Resolve a normalised padding spec (``"valid"``, ``"same"`` or ``((t, b), (l, r))``) on one axis."""
    if padding == "valid":
        before, after = 0, 0
    elif padding == "same":
        before, after = same_padding(n, kernel, stride, dilation)
    else:
        before, after = padding[axis]
    out = output_length(n, kernel, stride, dilation, before, after, ceil_mode)
    return AxisGeometry(n, kernel, stride, dilation, before, after, out, ceil_mode)


def resolve_window(height: int, width: int, kernel: tuple[int, int], strides: tuple[int, int],
                   dilation: tuple[int, int], padding, ceil_mode: bool = False,
                   what: str = "kernel") -> tuple[AxisGeometry, AxisGeometry]:
    """Both axes of a sliding window; raises :class:`GeometryError` naming every number if it does not fit."""
    axes = tuple(
        resolve_axis(n, kernel[i], strides[i], dilation[i], padding, i, ceil_mode)
        for i, n in enumerate((height, width))
    )
    for geo, axis_name in zip(axes, ("height", "width")):
        if geo.out < 1:
            pad = f" + padding {geo.pad_before}+{geo.pad_after}" if geo.pad_before or geo.pad_after else ""
            dil = f" (dilation {geo.dilation} makes it span {geo.effective_kernel})" if geo.dilation > 1 else ""
            raise GeometryError(
                f"{what} {geo.kernel}{dil} is larger than the input {axis_name} {geo.n}{pad}"
            )
    return axes  # type: ignore[return-value]
