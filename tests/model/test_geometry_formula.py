"""Additions to the geometry used by the playground: floor vs ceiling, the ceiling variant, "same" as padding."""

from cnnexplorer.model.geometry import resolve_axis


def test_fractional_floor_and_ceiling():
    geo = resolve_axis(7, 2, 2, 1, ((0, 0), (0, 0)), 0)
    assert geo.out == 3 and geo.rounding_outs == (3, 4)
    assert "floor((7 + 2·0 − 2) / 2) + 1 = 3" in geo.formula()
    assert "floor gives 3, ceiling 4" in geo.formula()
    ceil = geo.ceil_variant()
    assert (ceil.out, ceil.overhang) == (4, 1)
    assert geo.overhang == 0


def test_exact_case_has_one_rounding():
    geo = resolve_axis(28, 3, 1, 1, "valid", 0)
    assert geo.rounding_outs == (26, 26) and geo.ceil_variant().overhang == 0


def test_same_as_padding():
    geo = resolve_axis(7, 3, 2, 1, "same", 0)
    assert geo.same_text() == "same = padding 1 + 1 (output ceil(7/2) = 4)"
    geo = resolve_axis(6, 3, 2, 1, "same", 0)
    assert geo.same_text() == "same = padding 0 + 1 (output ceil(6/2) = 3)"
