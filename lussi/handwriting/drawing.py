"""Digits drawn by code: TrueType glyphs or jittered pen strokes, optionally made to look photographed.

The tests and the report need handwriting-like pictures without shipping any:
:func:`draw_digit` draws one at a random-ish size, place, thickness and slant,
reproducibly from a seed.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

__all__ = ["FONT_DIRS", "draw_digit"]

# Pen strokes of each digit in a unit box (x right, y down), as polylines or
# ellipse arcs ("arc", cx, cy, rx, ry, start_degrees, end_degrees); angles are
# screen angles (0 = right, 90 = down). Hand-written because no library ships
# stroke skeletons of digits.
_STROKES = {
    0: [("arc", 0.5, 0.5, 0.36, 0.48, -90, 275)],
    1: [[(0.3, 0.2), (0.55, 0.02), (0.55, 0.98)]],
    2: [("arc", 0.5, 0.3, 0.34, 0.27, 200, 400), [(0.76, 0.47), (0.12, 0.97), (0.9, 0.97)]],
    3: [("arc", 0.47, 0.27, 0.33, 0.24, 200, 450), ("arc", 0.47, 0.73, 0.37, 0.26, -90, 160)],
    4: [[(0.68, 0.98), (0.68, 0.02), (0.08, 0.68), (0.94, 0.68)]],
    5: [[(0.85, 0.03), (0.27, 0.03), (0.2, 0.46)], ("arc", 0.48, 0.7, 0.34, 0.27, -125, 160)],
    6: [("arc", 0.78, 0.62, 0.55, 0.6, -100, -180), ("arc", 0.5, 0.72, 0.3, 0.26, 180, 540)],
    7: [[(0.08, 0.04), (0.92, 0.04), (0.4, 0.98)]],
    8: [("arc", 0.5, 0.26, 0.28, 0.23, 90, 450), ("arc", 0.5, 0.73, 0.34, 0.26, -90, 270)],
    9: [("arc", 0.48, 0.3, 0.3, 0.27, 0, 360), [(0.78, 0.3), (0.74, 0.65), (0.66, 0.98)]],
}
_FONT_NAMES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSansCondensed.ttf",
    "DejaVuSerif.ttf",
    "LiberationSans-Regular.ttf",
    "LiberationSans-Bold.ttf",
    "LiberationSerif-Regular.ttf",
    "LiberationSansNarrow-Regular.ttf",
)
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "/Library/Fonts", "C:/Windows/Fonts")


def _font_files() -> list[Path]:
    """TrueType fonts with plain digits found on this machine (may be empty)."""
    found = {}
    for directory in FONT_DIRS:
        root = Path(directory)
        if root.is_dir():
            for path in root.rglob("*.ttf"):
                if path.name in _FONT_NAMES and path.name not in found:
                    found[path.name] = path
    return [found[name] for name in _FONT_NAMES if name in found]


def _stroke_points(part, rng, jitter: float) -> list[tuple[float, float]]:
    if isinstance(part, tuple) and part[0] == "arc":
        _, cx, cy, rx, ry, start, end = part
        cx, cy = cx + rng.normal(0, jitter), cy + rng.normal(0, jitter)
        rx, ry = rx * (1 + rng.normal(0, 2 * jitter)), ry * (1 + rng.normal(0, 2 * jitter))
        angles = np.radians(np.linspace(start, end, max(8, int(abs(end - start) / 8))))
        return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles]
    return [(x + rng.normal(0, jitter), y + rng.normal(0, jitter)) for x, y in part]


def draw_digit(
    digit: int,
    *,
    style: str = "font",
    size: tuple[int, int] = (240, 240),
    seed: int | None = 0,
    dark_on_light: bool = True,
    photo: bool = False,
    max_rotation: float = 10.0,
    font: str | os.PathLike | None = None,
    pen: float | None = None,
):
    """Draw one digit by code, at a random-ish size, place, thickness and slant.

    Parameters
    ----------
    digit : int
        0 to 9.
    style : {"font", "stroke"}, default "font"
        ``"font"``: the digit's glyph in a TrueType font (DejaVu or Liberation
        when installed, else Pillow's built-in scalable font); ``"stroke"``: pen
        strokes along a jittered skeleton with round joints.
    size : (width, height), default (240, 240)
        Canvas size in pixels (at least 32 each).
    seed : int or None, default 0
        Seeds every random choice (font, size, position, rotation, jitter, noise).
    dark_on_light : bool, default True
        Dark ink on light paper, or light chalk on a dark board.
    photo : bool, default False
        Make it look photographed: tinted paper with uneven light, coloured
        ink, blur and sensor noise (returns RGB).
    max_rotation : float, default 10.0
        The digit is rotated by up to this many degrees either way.
    font : path-like, optional
        A TrueType font file to use instead of a random installed one.
    pen : float, optional
        For ``"stroke"``: pen width as a share of the digit's height (MNIST's
        strokes are about 0.15; a ballpoint on a big photo 0.02); default
        random in [0.07, 0.14].

    Returns
    -------
    PIL.Image.Image
        Mode ``"L"``, or ``"RGB"`` when ``photo``.
    """
    from PIL import Image, ImageDraw

    width, height = _check_drawing(digit, style, size)
    # One generator for every choice, drawn in a fixed order: the same seed gives the same picture.
    rng = np.random.default_rng(seed)
    glyph_height = min(width, height) * rng.uniform(0.45, 0.7)
    layer = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(layer)
    if style == "font":
        _draw_glyph(draw, int(digit), (width, height), glyph_height, rng, font)
    else:
        _draw_strokes(draw, int(digit), (width, height), glyph_height, rng, pen)
    angle = rng.uniform(-max_rotation, max_rotation)
    layer = layer.rotate(angle, resample=Image.Resampling.BICUBIC)
    if not photo:
        return layer if not dark_on_light else Image.eval(layer, lambda v: 255 - v)
    return _photograph(layer, rng, dark_on_light)


def _check_drawing(digit, style: str, size) -> tuple[int, int]:
    """Refuse what :func:`draw_digit` cannot draw; the canvas's (width, height)."""
    if isinstance(digit, bool) or not isinstance(digit, (int, np.integer)) or not 0 <= digit <= 9:
        raise ValueError(f"digit must be an integer from 0 to 9, got {digit!r}")
    if style not in ("font", "stroke"):
        raise ValueError(f"style must be 'font' or 'stroke', got {style!r}")
    width, height = (int(v) for v in size)
    if width < 32 or height < 32:
        raise ValueError(f"size must be at least (32, 32) pixels, got {size}")
    return width, height


def _draw_glyph(draw, digit: int, size: tuple[int, int], glyph_height: float, rng, font) -> None:
    """Draw ``digit``'s glyph (ink 255) in a random installed TrueType font, or ``font``, at a random place."""
    from PIL import ImageFont

    width, height = size
    files = [Path(font)] if font is not None else _font_files()
    if files:
        typeface = ImageFont.truetype(str(files[int(rng.integers(len(files)))]), size=round(glyph_height * 1.35))
    else:
        typeface = ImageFont.load_default(size=round(glyph_height * 1.35))
    left, top, right, bottom = draw.textbbox((0, 0), str(digit), font=typeface)
    x = rng.uniform(0.2, 0.8) * (width - (right - left)) - left
    y = rng.uniform(0.2, 0.8) * (height - (bottom - top)) - top
    thickness = int(rng.integers(0, max(1, round(glyph_height * 0.03)) + 1))
    draw.text((x, y), str(digit), fill=255, font=typeface, stroke_width=thickness, stroke_fill=255)


def _draw_strokes(draw, digit: int, size: tuple[int, int], glyph_height: float, rng, pen: float | None) -> None:
    """Draw ``digit`` (ink 255) with a round pen along its jittered, sheared skeleton at a random place."""
    width, height = size
    aspect = rng.uniform(0.35, 0.5) if digit == 1 else rng.uniform(0.55, 0.8)
    glyph_width = glyph_height * aspect
    shear = rng.uniform(-0.15, 0.25)
    x0 = rng.uniform(0.2, 0.8) * (width - glyph_width - shear * glyph_height)
    y0 = rng.uniform(0.2, 0.8) * (height - glyph_height)
    share = rng.uniform(0.07, 0.14) if pen is None else pen
    if not 0 < share < 0.5:
        raise ValueError(f"pen must be a share of the digit's height in (0, 0.5), got {pen}")
    width_px = max(1, round(glyph_height * share))
    for part in _STROKES[digit]:
        points = [
            (x0 + (u + shear * (1 - v)) * glyph_width, y0 + v * glyph_height)
            for u, v in _stroke_points(part, rng, jitter=0.02)
        ]
        draw.line(points, fill=255, width=width_px, joint="curve")
        radius = width_px / 2
        for px, py in (points[0], points[-1]):
            draw.ellipse((px - radius, py - radius, px + radius, py + radius), fill=255)


def _photograph(layer, rng, dark_on_light: bool):
    """The ink ``layer`` (255 = ink) as a photo: tinted paper, uneven light, coloured ink, blur, sensor noise (RGB)."""
    from PIL import Image, ImageFilter

    width, height = layer.size
    layer = layer.filter(ImageFilter.GaussianBlur(rng.uniform(0.6, 1.6)))
    alpha = np.asarray(layer, dtype=np.float32)[..., None] / 255.0 * rng.uniform(0.75, 0.95)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    direction = rng.uniform(0, 2 * math.pi)
    ramp = (xx / width - 0.5) * math.cos(direction) + (yy / height - 0.5) * math.sin(direction)
    light = 1.0 + rng.uniform(0.05, 0.2) * ramp
    if dark_on_light:
        paper = rng.uniform(180, 235) * np.array([1.0, rng.uniform(0.95, 1.0), rng.uniform(0.85, 0.98)])
        pen_colour = np.array([rng.uniform(10, 50), rng.uniform(10, 50), rng.uniform(40, 110)])
    else:
        paper = rng.uniform(20, 60) * np.array([rng.uniform(0.8, 1.0), 1.0, rng.uniform(0.8, 1.0)])
        pen_colour = np.full(3, rng.uniform(200, 245))
    pixels = paper * light[..., None] * (1 - alpha) + pen_colour * alpha
    pixels += rng.normal(0, rng.uniform(2, 6), pixels.shape)
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), mode="RGB")
