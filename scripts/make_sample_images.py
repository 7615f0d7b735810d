"""Regenerate CNN Explorer's bundled sample images in resources/images/.

    python scripts/make_sample_images.py [--photos DIR]

The drawn images (digit_7.png, digit_3.png, shapes.png) are made here with Pillow, deterministically.  The photos
(cat.jpg, coffee.jpg) are CC0 photographs from scikit-image's data folder: pass --photos with the folder that holds
chelsea.png and coffee.png (e.g. ``pip download scikit-image --no-deps`` and unzip ``skimage/data`` from the wheel);
without --photos the photos are left as they are.  See resources/images/README.md for sources and licences.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

OUT = Path(__file__).resolve().parent.parent / "resources" / "images"
SCALE = 8  # draw at 8x, blur, then reduce: smooth anti-aliased strokes like a scanned pen


def _digit(strokes) -> Image.Image:
    """White-on-black 28×28 digit in MNIST style: strokes drawn in a 20×20 box centred in the 28×28 frame."""
    big = Image.new("L", (28 * SCALE, 28 * SCALE), 0)
    d = ImageDraw.Draw(big)
    width = int(2.6 * SCALE)
    for kind, *args in strokes:
        if kind == "line":
            pts = [(x * SCALE, y * SCALE) for x, y in args[0]]
            d.line(pts, fill=255, width=width, joint="curve")
            for x, y in pts:  # round caps
                d.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=255)
        elif kind == "arc":
            (x0, y0, x1, y1), start, end = args
            d.arc((x0 * SCALE, y0 * SCALE, x1 * SCALE, y1 * SCALE), start, end, fill=255, width=width)
    big = big.filter(ImageFilter.GaussianBlur(SCALE * 0.6))
    return big.resize((28, 28), Image.Resampling.LANCZOS)


def digit_7() -> Image.Image:
    # A slightly slanted top bar and a long diagonal stem, as a hand writes it.
    return _digit([("line", [(7.5, 6.5), (20.5, 5.8), (13.0, 22.5)])])


def digit_3() -> Image.Image:
    # Two right-facing bows meeting in the middle.
    return _digit([
        ("arc", (8.5, 4.8, 19.5, 14.2), 200, 90),
        ("arc", (8.0, 13.0, 20.0, 23.2), 270, 160),
    ])


def shapes() -> Image.Image:
    size = 128 * SCALE // 2
    s = size / 128
    img = Image.new("RGB", (size, size), (236, 232, 222))
    d = ImageDraw.Draw(img)
    # Stripes across the bottom band.
    for i in range(0, 128, 8):
        d.rectangle((i * s, 100 * s, (i + 4) * s - 1, 124 * s), fill=(40, 90, 170))
    d.ellipse((8 * s, 8 * s, 56 * s, 56 * s), fill=(210, 50, 45))  # circle
    d.rectangle((72 * s, 10 * s, 116 * s, 54 * s), fill=(40, 150, 70))  # square
    d.polygon([(64 * s, 60 * s), (92 * s, 94 * s), (36 * s, 94 * s)], fill=(240, 180, 30))  # triangle
    return img.resize((128, 128), Image.Resampling.LANCZOS)


def photo(src: Path, dest: Path, long_side: int = 512) -> None:
    with Image.open(src) as im:
        im = im.convert("RGB")
        if max(im.size) > long_side:
            im.thumbnail((long_side, long_side), Image.Resampling.LANCZOS)
        im.save(dest, "JPEG", quality=90, optimize=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=Path, help="folder with scikit-image's chelsea.png and coffee.png")
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    digit_7().save(OUT / "digit_7.png", optimize=True)
    digit_3().save(OUT / "digit_3.png", optimize=True)
    shapes().save(OUT / "shapes.png", optimize=True)
    if args.photos:
        photo(args.photos / "chelsea.png", OUT / "cat.jpg")
        photo(args.photos / "coffee.png", OUT / "coffee.jpg")
    for p in sorted(OUT.iterdir()):
        if p.suffix in (".png", ".jpg"):
            print(f"{p.name}: {p.stat().st_size} bytes")


if __name__ == "__main__":
    main()
