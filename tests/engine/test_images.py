"""cnnexplorer.engine.images: real files written with Pillow and NumPy in tmp_path, decoded as a user's would be."""

from __future__ import annotations

import pickle
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from cnnexplorer.engine import images
from cnnexplorer.engine.images import (
    IMAGE_SUFFIXES,
    ImageInputError,
    PreparedInput,
    prepare_input,
    sample_images,
)

U8 = 1 / 255


def _check_output(p: PreparedInput, shape):
    assert isinstance(p, PreparedInput)
    assert p.array.shape == tuple(shape)
    assert p.array.dtype == np.float32
    assert p.array.flags.c_contiguous
    assert np.isfinite(p.array).all()


def _img_checks(p: PreparedInput, shape):
    _check_output(p, shape)
    assert p.array.min() >= 0.0 and p.array.max() <= 1.0


# --------------------------------------------------------------------------------------------------- modes


def test_grayscale_png_values_and_note(tmp_path):
    a = np.array([[0, 51], [204, 255]], dtype=np.uint8)
    path = tmp_path / "gray.png"
    Image.fromarray(a).save(path)
    p = prepare_input(path, (2, 2, 1))
    _img_checks(p, (2, 2, 1))
    np.testing.assert_allclose(p.array[:, :, 0], a / 255.0, atol=1e-7)
    assert p.source_mode == "L"
    assert p.source_size == (2, 2)
    assert p.note.startswith("gray.png: 2×2 grayscale 8-bit")
    assert "scaled by 255" in p.note
    assert "resized" not in p.note and "stretched" not in p.note


def test_rgb_to_gray_uses_601_luma(tmp_path):
    rgb = (10, 200, 30)
    path = tmp_path / "rgb.png"
    Image.new("RGB", (4, 4), rgb).save(path)
    p = prepare_input(path, (4, 4, 1))
    expected = (0.299 * 10 + 0.587 * 200 + 0.114 * 30) / 255
    np.testing.assert_allclose(p.array, expected, atol=1e-6)
    # Agrees with Pillow's own "L" conversion to within its rounding.
    pil_l = np.asarray(Image.new("RGB", (1, 1), rgb).convert("L"))[0, 0] / 255
    assert abs(float(p.array[0, 0, 0]) - pil_l) <= U8
    assert "grayscale" in p.note


def test_rgb_passes_through_for_rgb_model(tmp_path):
    a = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    path = tmp_path / "rgb.png"
    Image.fromarray(a).save(path)
    p = prepare_input(path, (5, 7, 3))
    np.testing.assert_allclose(p.array, a / 255.0, atol=1e-7)
    assert p.source_size == (5, 7)


def test_gray_to_rgb_repeats_channels(tmp_path):
    a = np.random.default_rng(1).integers(0, 256, (6, 6), dtype=np.uint8)
    path = tmp_path / "g.png"
    Image.fromarray(a).save(path)
    p = prepare_input(path, (12, 12, 3))
    _img_checks(p, (12, 12, 3))
    np.testing.assert_array_equal(p.array[:, :, 0], p.array[:, :, 1])
    np.testing.assert_array_equal(p.array[:, :, 0], p.array[:, :, 2])
    assert "RGB" in p.note and "gray repeated" in p.note


def test_rgba_composited_over_white(tmp_path):
    img = Image.new("RGBA", (3, 1), (0, 0, 0, 0))  # fully transparent black -> white
    img.putpixel((1, 0), (255, 0, 0, 128))  # half-transparent red
    img.putpixel((2, 0), (0, 0, 255, 255))  # opaque blue
    path = tmp_path / "rgba.png"
    img.save(path)
    p = prepare_input(path, (1, 3, 3))
    a = 128 / 255
    np.testing.assert_allclose(p.array[0, 0], [1, 1, 1], atol=1e-6)
    np.testing.assert_allclose(p.array[0, 1], [1.0, 1 - a, 1 - a], atol=1e-6)
    np.testing.assert_allclose(p.array[0, 2], [0, 0, 1], atol=1e-6)
    assert p.source_mode == "RGBA"
    assert "alpha composited over white" in p.note


def test_la_composited_over_white(tmp_path):
    img = Image.new("LA", (2, 1), (0, 0))
    img.putpixel((1, 0), (0, 255))
    path = tmp_path / "la.png"
    img.save(path)
    p = prepare_input(path, (1, 2, 1))
    np.testing.assert_allclose(p.array[0, :, 0], [1.0, 0.0], atol=1e-6)
    assert p.source_mode == "LA"


def test_palette_with_transparency(tmp_path):
    img = Image.new("P", (4, 4), 0)
    img.putpalette([0, 0, 255, 255, 0, 0] + [0] * (256 * 3 - 6))  # 0: blue, 1: red
    img.putpixel((0, 0), 1)
    path = tmp_path / "pal.png"
    img.save(path, transparency=0)
    p = prepare_input(path, (4, 4, 3))
    assert p.source_mode == "P"
    np.testing.assert_allclose(p.array[0, 0], [1, 0, 0], atol=1e-6)  # opaque red stays red
    np.testing.assert_allclose(p.array[3, 3], [1, 1, 1], atol=1e-6)  # transparent blue -> white
    assert "palette" in p.note and "over white" in p.note


def test_palette_without_transparency(tmp_path):
    img = Image.new("P", (2, 2), 0)
    img.putpalette([0, 0, 255] + [0] * (256 * 3 - 3))
    path = tmp_path / "pal.gif"
    img.save(path)
    p = prepare_input(path, (2, 2, 3))
    np.testing.assert_allclose(p.array[1, 1], [0, 0, 1], atol=1e-6)


def test_bilevel(tmp_path):
    img = Image.new("1", (4, 2), 0)
    img.putpixel((3, 1), 1)
    path = tmp_path / "bw.bmp"
    img.save(path)
    p = prepare_input(path, (2, 4, 1))
    assert p.source_mode == "1"
    assert p.array[1, 3, 0] == 1.0 and p.array[0, 0, 0] == 0.0


def test_16bit_png_scaled_by_type_range(tmp_path):
    a = np.array([[0, 32768], [65535, 1000]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(a).save(path)
    p = prepare_input(path, (2, 2, 1))
    assert p.source_mode.startswith("I")
    np.testing.assert_allclose(p.array[:, :, 0], [[0, 32768 / 65535], [1.0, 1000 / 65535]], atol=1e-6)
    assert abs(p.array[0, 1, 0] - 0.5) < 1e-4
    assert "65535" in p.note


def test_16bit_dim_image_is_not_stretched_to_its_max(tmp_path):
    a = np.linspace(0, 1000, 64 * 64).reshape(64, 64).astype(np.uint16)
    path = tmp_path / "dim.png"
    Image.fromarray(a).save(path)
    p = prepare_input(path, (64, 64, 1))
    assert p.array.max() == pytest.approx(1000 / 65535, abs=1e-6)
    assert p.array.max() < 0.02


def test_16bit_precision_survives_resize(tmp_path):
    # A uniform 16-bit value that is no multiple of 1/255 must come out exactly, not rounded to 8 bits.
    path = tmp_path / "flat16.png"
    Image.fromarray(np.full((64, 48), 1000, dtype=np.uint16)).save(path)
    p = prepare_input(path, (8, 6, 1))
    np.testing.assert_allclose(p.array, 1000 / 65535, rtol=1e-5)
    assert "resized to 8×6" in p.note


def test_32bit_integer_tiff(tmp_path):
    a = np.array([[0, 65535], [32768, 0]], dtype=np.int32)
    path = tmp_path / "i32.tif"
    Image.fromarray(a).save(path)
    p = prepare_input(path, (2, 2, 1))
    np.testing.assert_allclose(p.array[:, :, 0], a / 65535, atol=1e-6)


def test_float_tiff_in_range_and_out_of_range(tmp_path):
    inside = np.array([[0.0, 0.25], [0.5, 1.0]], dtype=np.float32)
    path = tmp_path / "f.tif"
    Image.fromarray(inside).save(path)
    p = prepare_input(path, (2, 2, 1))
    assert p.source_mode == "F"
    np.testing.assert_allclose(p.array[:, :, 0], inside, atol=1e-7)
    assert "min-max" not in p.note

    outside = np.array([[-2.0, 0.0], [2.0, 6.0]], dtype=np.float32)
    path2 = tmp_path / "f2.tif"
    Image.fromarray(outside).save(path2)
    p2 = prepare_input(path2, (2, 2, 1))
    np.testing.assert_allclose(p2.array[:, :, 0], [[0.0, 0.25], [0.5, 1.0]], atol=1e-7)
    assert "min-max" in p2.note


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(path, quality=95)  # pure red in CMYK
    p = prepare_input(path, (16, 16, 3))
    assert p.source_mode == "CMYK"
    r, g, b = p.array[8, 8]
    assert r > 0.9 and g < 0.1 and b < 0.1
    assert "CMYK → RGB" in p.note


def test_exif_orientation_rotates(tmp_path):
    # Stored 40 wide × 20 tall with a red block at the stored top-left; orientation 6 means "rotate 90° clockwise
    # to display", so it shows 20 wide × 40 tall with the block at the top-right.
    img = Image.new("RGB", (40, 20), (255, 255, 255))
    img.paste((255, 0, 0), (0, 0, 8, 8))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif, quality=95)
    p = prepare_input(path, (40, 20, 3))
    assert p.source_size == (40, 20)
    assert "resized" not in p.note and "stretched" not in p.note
    top_right = p.array[2, 17]
    top_left = p.array[2, 2]
    assert top_right[0] > 0.8 and top_right[1] < 0.2  # red
    assert top_left.min() > 0.8  # white
    assert "EXIF orientation 6" in p.note


def test_exif_orientation_8(tmp_path):
    img = Image.new("L", (30, 10), 255)
    img.paste(0, (0, 0, 5, 5))  # black block at stored top-left
    exif = Image.Exif()
    exif[0x0112] = 8  # rotate 90° counter-clockwise to display: top-left goes to bottom-left
    path = tmp_path / "rot8.jpg"
    img.save(path, exif=exif, quality=95)
    p = prepare_input(path, (30, 10, 1))
    assert p.source_size == (30, 10)
    assert p.array[27, 2, 0] < 0.2
    assert p.array[2, 2, 0] > 0.8


def test_animated_gif_takes_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    p = prepare_input(path, (8, 8, 3))
    np.testing.assert_allclose(p.array[4, 4], [1, 0, 0], atol=0.02)
    assert "first of 3 frames" in p.note


def test_multipage_tiff_takes_first_page(tmp_path):
    pages = [Image.new("L", (4, 4), v) for v in (10, 200)]
    path = tmp_path / "pages.tiff"
    pages[0].save(path, save_all=True, append_images=pages[1:])
    p = prepare_input(path, (4, 4, 1))
    np.testing.assert_allclose(p.array, 10 / 255, atol=1e-6)
    assert "first of 2 frames" in p.note


def test_webp_and_bmp_decode(tmp_path):
    for suffix in (".webp", ".bmp"):
        path = tmp_path / f"x{suffix}"
        Image.new("RGB", (10, 10), (0, 255, 0)).save(path, lossless=True) if suffix == ".webp" else \
            Image.new("RGB", (10, 10), (0, 255, 0)).save(path)
        p = prepare_input(path, (5, 5, 3))
        np.testing.assert_allclose(p.array[2, 2], [0, 1, 0], atol=0.02)


# --------------------------------------------------------------------------------------------------- geometry


def test_one_pixel_image_upscales(tmp_path):
    path = tmp_path / "dot.png"
    Image.new("L", (1, 1), 200).save(path)
    p = prepare_input(path, (28, 28, 1))
    _img_checks(p, (28, 28, 1))
    np.testing.assert_allclose(p.array, 200 / 255, atol=1e-5)
    assert p.source_size == (1, 1)


def _wide_with_black_left_edge(tmp_path):
    img = Image.new("L", (300, 100), 255)
    img.paste(0, (0, 0, 50, 100))
    path = tmp_path / "wide.png"
    img.save(path)
    return path


def test_crop_removes_left_edge_resize_keeps_it(tmp_path):
    path = _wide_with_black_left_edge(tmp_path)
    cropped = prepare_input(path, (32, 32, 1), fit="crop")
    resized = prepare_input(path, (32, 32, 1), fit="resize")
    _img_checks(cropped, (32, 32, 1))
    _img_checks(resized, (32, 32, 1))
    assert cropped.array.min() > 0.99  # the centre 100×100 is all white
    assert resized.array[:, 0, 0].max() < 0.01  # the black edge survives a stretch
    assert "centre-cropped to 100×100" in cropped.note and "resized to 32×32" in cropped.note
    assert "centre-cropped" not in resized.note and "stretched to 32×32" in resized.note


def test_crop_of_tall_image_keeps_centre(tmp_path):
    img = Image.new("L", (10, 40), 0)
    img.paste(255, (0, 15, 10, 25))  # white band in the middle
    path = tmp_path / "tall.png"
    img.save(path)
    p = prepare_input(path, (10, 10, 1), fit="crop")
    # Centre 10×10 rows 15..25 are the white band.
    assert p.array.min() > 0.99
    assert "centre-cropped to 10×10" in p.note
    assert p.source_size == (40, 10)


def test_note_reads_as_documented(tmp_path):
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (640, 480), (120, 60, 30)).save(path)
    p = prepare_input(path, (28, 28, 1), fit="crop")
    assert p.note.startswith("photo.jpg: 480×640 colour 8-bit → grayscale")
    assert p.note.index("grayscale") < p.note.index("centre-cropped to 480×480") < p.note.index(
        "resized to 28×28") < p.note.index("[0, 1]")
    assert "\n" not in p.note


def test_downscale_is_antialiased(tmp_path):
    # A fine 1-pixel checkerboard averaged down must come out mid-gray, not aliased to black or white.
    a = (np.indices((200, 200)).sum(axis=0) % 2 * 255).astype(np.uint8)
    path = tmp_path / "checker.png"
    Image.fromarray(a).save(path)
    p = prepare_input(path, (10, 10, 1))
    np.testing.assert_allclose(p.array, 0.5, atol=0.03)


def test_bad_fit_and_shape():
    with pytest.raises(ValueError, match="fit"):
        prepare_input(np.zeros((2, 2, 1)), (2, 2, 1), fit="pad")
    with pytest.raises(ValueError, match="input_shape"):
        prepare_input(np.zeros((2, 2, 1)), (2, 2))
    with pytest.raises(TypeError):
        prepare_input(123, (2, 2, 1))


def test_image_for_four_channel_model_is_refused(tmp_path):
    path = tmp_path / "rgb.png"
    Image.new("RGB", (4, 4)).save(path)
    with pytest.raises(ImageInputError, match=r"^rgb\.png: .*wants 4 channels.*1 .*or 3"):
        prepare_input(path, (4, 4, 4))


# --------------------------------------------------------------------------------------------------- arrays


def test_npy_exact_shape_passes_through(tmp_path):
    a = np.random.default_rng(2).normal(size=(5, 6, 4)) * 10  # any values, any C
    path = tmp_path / "x.npy"
    np.save(path, a)
    p = prepare_input(path, (5, 6, 4))
    _check_output(p, (5, 6, 4))
    np.testing.assert_allclose(p.array, a.astype(np.float32))
    assert "taken as is" in p.note
    assert p.source_size == (5, 6)


def test_npy_wrong_shape_names_both(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((28, 28, 3)))
    with pytest.raises(ImageInputError) as e:
        prepare_input(path, (32, 32, 3))
    msg = str(e.value)
    assert msg.startswith("x.npy: ")
    assert "(28, 28, 3)" in msg and "(32, 32, 3)" in msg


def test_npy_nan_refused(tmp_path):
    a = np.zeros((2, 2, 1))
    a[1, 1, 0] = np.nan
    path = tmp_path / "nan.npy"
    np.save(path, a)
    with pytest.raises(ImageInputError, match=r"^nan\.npy: .*NaN"):
        prepare_input(path, (2, 2, 1))


def test_npy_pickled_objects_refused(tmp_path):
    path = tmp_path / "obj.npy"
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(ImageInputError, match=r"^obj\.npy: .*pickle"):
        prepare_input(path, (2, 1, 1))


def test_plain_pickle_named_npy_refused(tmp_path):
    path = tmp_path / "evil.npy"
    path.write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(ImageInputError, match=r"^evil\.npy: "):
        prepare_input(path, (2, 2, 1))


def test_npy_2d_for_single_channel_model(tmp_path):
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    path = tmp_path / "flat.npy"
    np.save(path, a)
    p = prepare_input(path, (3, 4, 1))
    _check_output(p, (3, 4, 1))
    np.testing.assert_array_equal(p.array[:, :, 0], a.astype(np.float32))  # not scaled
    with pytest.raises(ImageInputError):
        prepare_input(path, (3, 4, 3))


def test_npy_complex_and_string_refused(tmp_path):
    for name, a in (("c.npy", np.zeros((2, 2, 1), complex)), ("s.npy", np.array([["a"]]))):
        path = tmp_path / name
        np.save(path, a)
        with pytest.raises(ImageInputError, match=rf"^{name[0]}\.npy: .*dtype"):
            prepare_input(path, (2, 2, 1))


def test_in_memory_arrays_follow_the_same_rules():
    a = np.asfortranarray(np.ones((4, 3, 2), dtype=np.float64))
    p = prepare_input(a, (4, 3, 2))
    _check_output(p, (4, 3, 2))
    a[0, 0, 0] = 5.0
    assert p.array[0, 0, 0] == 1.0  # a copy, not a view of the caller's data
    f32 = np.zeros((2, 2, 1), dtype=np.float32)
    q = prepare_input(f32, (2, 2, 1))
    f32[0, 0, 0] = 9
    assert q.array[0, 0, 0] == 0
    with pytest.raises(ImageInputError, match="inf"):
        prepare_input(np.full((2, 2, 1), np.inf), (2, 2, 1))
    with pytest.raises(ImageInputError, match=r"\(2, 2, 1\).*\(3, 3, 1\)"):
        prepare_input(np.zeros((2, 2, 1)), (3, 3, 1))
    with pytest.raises(ImageInputError, match="dtype"):
        prepare_input(np.array([[[object()]]]), (1, 1, 1))


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(1, 40), w=st.integers(1, 40), c=st.sampled_from([1, 3]),
    th=st.integers(1, 30), tw=st.integers(1, 30), tc=st.sampled_from([1, 3]),
    fit=st.sampled_from(["resize", "crop"]), seed=st.integers(0, 2 ** 16),
)
def test_any_8bit_image_gives_the_model_shape(tmp_path_factory, h, w, c, th, tw, tc, fit, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (h, w, c) if c == 3 else (h, w), dtype=np.uint8)
    path = tmp_path_factory.mktemp("prop") / "x.png"
    Image.fromarray(a).save(path)
    p = prepare_input(path, (th, tw, tc), fit=fit)
    _img_checks(p, (th, tw, tc))
    assert p.source_size == (h, w)
    if (th, tw) == (h, w) and tc == c:
        np.testing.assert_allclose(p.array.reshape(a.shape), a / 255.0, atol=1e-6)


# --------------------------------------------------------------------------------------------------- bad files


def test_truncated_png(tmp_path):
    a = np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    full = tmp_path / "full.png"
    Image.fromarray(a).save(full)
    data = full.read_bytes()
    path = tmp_path / "half.png"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageInputError, match=r"^half\.png: .*(corrupt|truncated)") as e:
        prepare_input(path, (28, 28, 1))
    assert "\n" not in str(e.value)


def test_garbage_after_png_header(tmp_path):
    path = tmp_path / "junk.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(ImageInputError, match=r"^junk\.png: "):
        prepare_input(path, (28, 28, 1))


def test_text_file_renamed_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("these are my notes, not a picture\n")
    with pytest.raises(ImageInputError, match=r"^notes\.png: is a text file, not an image"):
        prepare_input(path, (28, 28, 1))


def test_binary_non_image(tmp_path):
    path = tmp_path / "blob.jpg"
    path.write_bytes(bytes([0, 1, 2, 250, 251, 252]) * 50)
    with pytest.raises(ImageInputError, match=r"^blob\.jpg: is not an image in a format"):
        prepare_input(path, (28, 28, 1))


def test_empty_file(tmp_path):
    for name in ("empty.png", "empty.npy"):
        path = tmp_path / name
        path.write_bytes(b"")
        with pytest.raises(ImageInputError, match=rf"^{name.replace('.', '[.]')}: is empty"):
            prepare_input(path, (28, 28, 1))


def test_missing_file(tmp_path):
    with pytest.raises(ImageInputError, match=r"^nowhere\.png: file not found") as e:
        prepare_input(tmp_path / "nowhere.png", (28, 28, 1))
    assert isinstance(e.value, ValueError)
    assert str(tmp_path) in str(e.value)


def test_directory(tmp_path):
    d = tmp_path / "folder.png"
    d.mkdir()
    with pytest.raises(ImageInputError, match=r"^folder\.png: is a directory"):
        prepare_input(str(d), (28, 28, 1))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def test_zero_width_png(tmp_path):
    ihdr = struct.pack(">IIBBBBB", 0, 5, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"")) + \
        _png_chunk(b"IEND", b"")
    path = tmp_path / "zero.png"
    path.write_bytes(data)
    with pytest.raises(ImageInputError, match=r"^zero\.png: "):
        prepare_input(path, (28, 28, 1))


@pytest.fixture
def bomb(tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("1", (12000, 12000), 0).save(path)  # 144 megapixels declared, a few KB on disk
    assert path.stat().st_size < 100_000
    return path


@pytest.fixture
def load_spy(monkeypatch):
    calls = []
    original = PngImagePlugin.PngImageFile.load

    def spy(self, *a, **k):
        calls.append(self.size)
        return original(self, *a, **k)

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", spy)
    return calls


def test_decompression_bomb_refused_without_decoding(bomb, load_spy):
    with pytest.raises(ImageInputError, match=r"^bomb\.png: .*12000×12000.*decompression bomb"):
        prepare_input(bomb, (28, 28, 1))
    assert load_spy == []


def test_own_cap_holds_when_pillows_guard_is_off(bomb, load_spy, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with pytest.raises(ImageInputError, match=r"^bomb\.png: .*144\.0 megapixels.*100\.0-megapixel limit"):
        prepare_input(bomb, (28, 28, 1))
    assert load_spy == []


def test_pillows_guard_is_kept_below_own_cap(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow warns above 1000 px, errors above 2000 px
    warn = tmp_path / "warn.png"
    Image.new("L", (40, 40)).save(warn)  # 1600 px: Pillow's warning
    err = tmp_path / "err.png"
    Image.new("L", (50, 50)).save(err)  # 2500 px: Pillow's error
    with pytest.raises(ImageInputError, match=r"^warn\.png: .*decompression bomb"):
        prepare_input(warn, (28, 28, 1))
    with pytest.raises(ImageInputError, match=r"^err\.png: .*decompression bomb"):
        prepare_input(err, (28, 28, 1))


def test_own_cap_is_configurable_in_module(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 99)
    path = tmp_path / "ten.png"
    Image.new("L", (10, 10)).save(path)
    with pytest.raises(ImageInputError, match=r"^ten\.png: .*10×10"):
        prepare_input(path, (28, 28, 1))


# --------------------------------------------------------------------------------------------------- samples


def test_suffixes():
    assert all(s.startswith(".") and s == s.lower() for s in IMAGE_SUFFIXES)
    assert {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"} <= set(IMAGE_SUFFIXES)


def test_bundled_samples_exist_and_are_small():
    samples = sample_images()
    assert len(samples) >= 5
    kinds = " ".join(samples).lower()
    assert "digit" in kinds and "shapes" in kinds and "photo" in kinds
    for path in samples.values():
        assert path.is_file() and path.stat().st_size < 200_000
    digit = next(p for n, p in samples.items() if "digit 7" in n.lower())
    with Image.open(digit) as im:
        assert im.mode == "L" and im.size == (28, 28)
        a = np.asarray(im)
    assert a[0, 0] < 10 and a.max() > 200  # white stroke on black, like MNIST


@pytest.mark.parametrize("shape", [(28, 28, 1), (224, 224, 3)])
@pytest.mark.parametrize("fit", ["resize", "crop"])
def test_every_sample_loads(shape, fit):
    for name, path in sample_images().items():
        p = prepare_input(path, shape, fit=fit)
        _img_checks(p, shape)
        assert p.array.std() > 0.05, name  # a real picture, not a flat field
        assert p.note.startswith(path.name + ": ")


# --- issue 16.3 / 16.5: non-regular files, huge pictures decoded reduced ---------------------------------------
def test_a_fifo_is_refused_before_it_is_opened(tmp_path):
    import os

    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)           # opening it for reading would block until a writer comes: it must not be opened
    with pytest.raises(ImageInputError, match=r"^pipe\.png: is a FIFO \(named pipe\), not an image file"):
        prepare_input(fifo, (28, 28, 1))


def _big_picture(path, mode, size=4000):
    from PIL import ImageDraw

    img = Image.new(mode, (size, size), "white")
    draw = ImageDraw.Draw(img)
    for i in range(0, size, 200):
        draw.line((0, i, size, size - i), fill="black", width=7)
    img.save(path)
    return img


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_a_huge_picture_is_decoded_reduced_for_a_small_model(tmp_path, suffix):
    from cnnexplorer.engine.images import convert_image, decode_source

    path = tmp_path / f"big{suffix}"
    full = _big_picture(path, "RGB")
    decoded = decode_source(path, (32, 32, 3), keep=64)
    assert decoded.reduced and decoded.source_size == (4000, 4000)
    assert 64 <= min(decoded.data.shape[:2]) <= 1000            # never more pixels than needed, never fewer
    assert decoded.data.dtype == np.float32
    p = prepare_input(path, (32, 32, 3))
    assert p.source_size == (4000, 4000) and "decoded reduced" in p.note
    # the same picture converted from a full decode differs only by resampling detail
    unreduced = convert_image(decode_source(path, (32, 32, 3), keep=None), (32, 32, 3))
    assert not decode_source(path, (32, 32, 3)).reduced
    assert np.abs(p.array - unreduced.array).mean() < 0.02
    full.close()


def test_small_pictures_are_never_reduced(tmp_path):
    from cnnexplorer.engine.images import decode_source

    path = tmp_path / "small.png"
    _big_picture(path, "L", size=1500)
    assert not decode_source(path, (28, 28, 1), keep=28).reduced


def test_modes_are_named_in_words(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.full((20, 30), 40000, np.uint16)).save(path)
    p = prepare_input(path, (20, 30, 1))
    assert p.note.startswith("deep.png: 20×30 grayscale 16-bit")
    assert "I;16" not in p.note
