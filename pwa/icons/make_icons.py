"""Draw the Jaicat app icons (a cat's head holding a camera lens) with Pillow.

Run from anywhere: `python pwa/icons/make_icons.py`. Writes icon-192.png, icon-512.png (rounded,
"any" purpose) and icon-maskable-192.png, icon-maskable-512.png (full-bleed background, artwork kept
inside the central 80% safe zone that launchers may crop to a circle), plus apple-touch-icon.png.
The drawing is done at 4x and downsampled for smooth edges.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
BG_TOP = (44, 62, 120)
BG_BOTTOM = (22, 28, 56)
CAT = (255, 184, 76)
LENS_RING = (34, 40, 70)
LENS = (98, 170, 255)
GLINT = (235, 245, 255)


def _gradient(size: int) -> Image.Image:
    img = Image.new("RGB", (size, size))
    px = ImageDraw.Draw(img)
    for y in range(size):
        t = y / max(1, size - 1)
        col = tuple(round(a + (b - a) * t) for a, b in zip(BG_TOP, BG_BOTTOM, strict=True))
        px.line([(0, y), (size, y)], fill=col)
    return img


def _draw_cat(img: Image.Image, scale: float) -> None:
    """Cat head with a lens for a face; `scale` is the artwork's width as a fraction of the icon."""
    s = img.width
    d = ImageDraw.Draw(img)
    cx, cy = s / 2, s / 2 + s * 0.04 * scale
    r = s * scale / 2 * 0.78  # head radius
    ear_h = r * 0.75
    for side in (-1, 1):
        base_out = (cx + side * r * 0.98, cy - r * 0.25)
        base_in = (cx + side * r * 0.22, cy - r * 0.92)
        tip = (cx + side * r * 0.88, cy - r - ear_h * 0.55)
        d.polygon([base_out, base_in, tip], fill=CAT)
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=CAT)
    lr = r * 0.56
    d.ellipse([cx - lr, cy - lr, cx + lr, cy + lr], fill=LENS_RING)
    ir = lr * 0.72
    d.ellipse([cx - ir, cy - ir, cx + ir, cy + ir], fill=LENS)
    gr = ir * 0.28
    gx, gy = cx - ir * 0.35, cy - ir * 0.35
    d.ellipse([gx - gr, gy - gr, gx + gr, gy + gr], fill=GLINT)
    # whiskers
    w = max(2, round(s * 0.012))
    for side in (-1, 1):
        for k in (-1, 0, 1):
            x0 = cx + side * lr * 1.08
            x1 = cx + side * r * 1.25
            y0 = cy + lr * 0.35 + k * r * 0.12
            d.line([(x0, y0), (x1, y0 + k * r * 0.1)], fill=LENS_RING, width=w)


def make(size: int, maskable: bool) -> Image.Image:
    big = size * 4
    bg = _gradient(big)
    if maskable:
        img = bg  # full bleed; the artwork stays within the 80% safe circle
        _draw_cat(img, 0.62)
    else:
        img = Image.new("RGBA", (big, big), (0, 0, 0, 0))
        mask = Image.new("L", (big, big), 0)
        ImageDraw.Draw(mask).rounded_rectangle([0, 0, big - 1, big - 1], radius=big * 0.22, fill=255)
        img.paste(bg, (0, 0), mask)
        _draw_cat(img, 0.8)
    return img.resize((size, size), Image.LANCZOS)


def main() -> None:
    for size in (192, 512):
        make(size, False).save(HERE / f"icon-{size}.png", optimize=True)
        make(size, True).save(HERE / f"icon-maskable-{size}.png", optimize=True)
    make(180, True).convert("RGB").save(HERE / "apple-touch-icon.png", optimize=True)


if __name__ == "__main__":
    main()
