"""Predict your own handwriting: image files in, MNIST-style digits out.

MNIST was made from binary scans of digits written on NIST forms: each digit was
"size normalized to fit in a 20x20 pixel box while preserving their aspect
ratio" (with anti-aliasing, hence the grey levels), then "centered in a 28x28
image by computing the center of mass of the pixels, and translating the image
so as to position this point at the center of the 28x28 field" (LeCun et al.).
Measured on the training images, that centre is (14, 14) in row/column index
coordinates: every MNIST digit's centre of mass lies in [13.5, 14.5], i.e. the
shift was rounded to whole pixels. :func:`load_digit_image` repeats those steps
on any photo or scan: it opens the file with Pillow (the format read from its
content, so a phone's MPO or a PNG named ``.jpg`` works; a big JPEG decoded
straight at a reduced scale), applies the EXIF orientation, composites
transparency on a contrasting backdrop and converts to grey; then
:func:`lussi.picture.convert` finds the digit (the paper, shadows, the sheet's
edge and stray marks left out) and converts it, or refuses a picture that
holds no digit.

:func:`draw_digit` draws digits by code (TrueType fonts or jittered pen
strokes, optionally photo-like) for the tests and the report;
:func:`predict_images`, :func:`format_predictions` and :func:`explain_html`
turn models' outputs into a terminal table and a self-contained HTML page.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import math
import os
import stat
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .picture import WORK_SIDE, NoDigitFound, convert
from .safe_io import atomic_write_text, describe_os_error, unique_file_names

__all__ = [
    "DrawnDigits",
    "ImageError",
    "default_box",
    "draw_digit",
    "drawn_digits",
    "drawn_digits_accuracy",
    "drawn_digits_html",
    "explain_html",
    "format_predictions",
    "load_digit_image",
    "load_digit_images",
    "predict_drawn_digits",
    "predict_images",
    "preprocess_digit",
    "write_explanation",
    "write_explanations",
]

# Refuse pictures above this many pixels before decoding them (a 40 MP photo is
# already 160 MB as float32); Pillow's own bomb check only starts at 89 MP.
MAX_PIXELS = 40_000_000
# Strokes thinner than this share of the box are thickened (MNIST: 10th
# percentile of stroke width 2.4 px, median 3.0 px, for a 20 px box).
MIN_STROKE = 0.12
# Fewer pixels than this on a side cannot show a digit (nor estimate the paper's noise).
MIN_SIDE = 3


class ImageError(ValueError):
    """An image file cannot be turned into a digit (missing, unreadable, empty, too large)."""


# --------------------------------------------------------------------------- loading


def load_digit_image(
    path, *, size: int = 28, box: int | None = None, min_stroke: float | None = MIN_STROKE
) -> np.ndarray:
    """Read a photo or scan of one handwritten digit and convert it like MNIST.

    Parameters
    ----------
    path : path-like
        A PNG, JPEG, BMP, GIF, TIFF or WebP file (anything Pillow reads): dark
        ink on light paper or light on dark, any size, colour or grey, with or
        without transparency.
    size : int, default 28
        Side of the output image.
    box : int, optional
        The digit is scaled so its longer side is ``box`` pixels. Default
        :func:`default_box`: MNIST's 20 in 28 (the same share for other sizes
        of 16 px and more), the whole field below that (``size=8`` gives
        scikit-learn-digits-like 8x8 images).
    min_stroke : float or None, default 0.12
        Strokes thinner than this share of ``box`` are thickened to it; None
        keeps the strokes as drawn.

    Returns
    -------
    ndarray of shape (size, size), uint8
        Ink high (255), background 0, centre of mass at ``(size / 2, size / 2)``
        to the nearest pixel (MNIST's convention).

    Raises
    ------
    ImageError
        The file is missing, not an image, truncated or unreadable, larger
        than 40 megapixels, or holds no digit (blank paper, no ink, noise,
        only specks or the sheet's edge); the message names the file.
    """
    path = Path(os.fspath(path))
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ImageError(f"{path}: file not found; check the path (give one image file per digit)") from None
    except OSError as error:  # an over-long name, a symlink loop
        raise ImageError(f"{path}: {describe_os_error(error, path=False)}") from None
    if not stat.S_ISREG(mode):  # a directory, or a FIFO that would block the read
        raise ImageError(f"{path}: not a file; give image files (PNG or JPEG), not a directory")
    picture = _open_image(path)
    try:
        return preprocess_digit(picture, size=size, box=box, min_stroke=min_stroke, name=str(path))
    finally:
        picture.close()


def load_digit_images(
    paths: Sequence, *, size: int = 28, box: int | None = None, min_stroke: float | None = MIN_STROKE
):
    """Read several digit images with :func:`load_digit_image`.

    Parameters
    ----------
    paths : sequence of path-like
    size, box, min_stroke
        As in :func:`load_digit_image`.

    Returns
    -------
    images : ndarray of shape (n, size, size), uint8
    names : list of str
        Each file's name (without directories), for tables and captions.

    Raises
    ------
    ImageError
        At the first file that cannot be read, or when ``paths`` is empty.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = list(paths)
    if not paths:
        raise ImageError("no image files given; pass one or more PNG/JPEG files of single digits")
    images = np.empty((len(paths), size, size), dtype=np.uint8)
    for i, path in enumerate(paths):
        images[i] = load_digit_image(path, size=size, box=box, min_stroke=min_stroke)
    return images, [Path(os.fspath(p)).name for p in paths]


def _open_image(path: Path):
    """Open and fully decode ``path`` with Pillow, turning every failure into ImageError."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Pillow warns (not raises) between 89 and 179 MP; our own limit is lower anyway.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            picture = Image.open(path)
    except UnidentifiedImageError:
        raise ImageError(
            f"{path}: not an image Pillow can read; save the digit as PNG or JPEG "
            "(a renamed text or PDF file does not work)"
        ) from None
    except Image.DecompressionBombError:
        raise ImageError(
            f"{path}: the picture is absurdly large; crop or shrink it below {MAX_PIXELS // 1_000_000} megapixels"
        ) from None
    except OSError as error:
        raise ImageError(f"{path}: cannot be opened ({error})") from None
    except Exception as error:  # noqa: BLE001 - Pillow's parsers raise anything on a malformed header
        raise ImageError(f"{path}: not an image Pillow can read ({type(error).__name__}: {error})") from None
    width, height = picture.size
    if width * height > MAX_PIXELS:
        picture.close()
        raise ImageError(
            f"{path}: {width}x{height} pixels is more than {MAX_PIXELS // 1_000_000} megapixels; "
            "crop the picture around the digit or shrink it"
        )
    if width < 1 or height < 1:
        picture.close()
        raise ImageError(f"{path}: the picture has no pixels ({width}x{height})")
    _decode_small(picture)
    try:
        picture.load()
    except Exception as error:  # noqa: BLE001 - decoders raise OSError, SyntaxError, struct.error... on bad data
        picture.close()
        raise ImageError(
            f"{path}: the image data is truncated or corrupt ({error}); save or export the picture again"
        ) from None
    return picture


def _decode_small(picture) -> None:
    """Have a big JPEG decode at 1/2, 1/4 or 1/8 scale (in the DCT, cheap), to about the conversion's working size.

    The format is Pillow's reading of the content, not the file's name: a phone's
    MPO (JPEG with a second frame) named .jpg is JPEG too, a PNG named .jpg is not.
    """
    width, height = picture.size
    if picture.format in ("JPEG", "MPO") and max(width, height) > 2 * WORK_SIDE:
        # draft() keeps both sides at least as large as asked: ask in the picture's own proportions, for a
        # longer side of 80% of the working size or more (a 3566x3419 photo then decodes at 1/8, not 1/4).
        scale = max(width, height) / (0.8 * WORK_SIDE)
        picture.draft(picture.mode, (math.ceil(width / scale), math.ceil(height / scale)))


def preprocess_digit(
    picture,
    *,
    size: int = 28,
    box: int | None = None,
    min_stroke: float | None = MIN_STROKE,
    name: str = "image",
) -> np.ndarray:
    """Convert one picture of a digit (already in memory) like MNIST.

    The core of :func:`load_digit_image`, for pictures made in code
    (:func:`draw_digit`) or decoded elsewhere.

    Parameters
    ----------
    picture : PIL.Image.Image or ndarray of shape (h, w), (h, w, 3) or (h, w, 4)
        Arrays are uint8 (or float in [0, 1]) grey, RGB or RGBA.
    size, box, min_stroke
        As in :func:`load_digit_image`.
    name : str
        Used in error messages.

    Returns
    -------
    ndarray of shape (size, size), uint8
    """
    from PIL import Image, ImageOps

    if box is None and isinstance(size, (int, np.integer)):
        box = default_box(int(size))
    if not (isinstance(size, (int, np.integer)) and isinstance(box, (int, np.integer))):
        raise TypeError(f"size and box must be integers, got {size!r} and {box!r}")
    if not 1 <= box <= size:
        raise ValueError(f"box must be between 1 and size ({size}), got {box}")
    if min_stroke is not None and not 0 <= min_stroke < 1:
        raise ValueError(f"min_stroke must be a share of the box in [0, 1) or None, got {min_stroke}")
    if isinstance(picture, np.ndarray):
        picture = _array_to_picture(picture, name)
    elif not isinstance(picture, Image.Image):
        raise TypeError(f"picture must be a PIL image or a numpy array, got {type(picture).__name__}")
    try:
        picture = ImageOps.exif_transpose(picture)
    except Exception as error:  # noqa: BLE001 - a malformed EXIF block: the orientation cannot be known
        raise ImageError(f"{name}: its EXIF data is corrupt ({error}); save or export the picture again") from None
    grey = _to_grey(picture, name)
    height, width = grey.shape
    if round(min(height, width) * min(1.0, WORK_SIDE / max(height, width))) < MIN_SIDE:
        # Also a sliver like 3x5000, which the conversion would shrink to 1 pixel across.
        raise ImageError(f"{name}: {width}x{height} pixels is too small or too narrow to hold a digit; "
                         f"use a picture of at least {MIN_SIDE}x{MIN_SIDE} with a sensible aspect ratio")
    try:
        return convert(grey, size=int(size), box=int(box), min_stroke=min_stroke)
    except NoDigitFound as error:
        raise ImageError(f"{name}: {error}") from None


def default_box(size: int) -> int:
    """Side of the box a digit is scaled into for a ``size`` x ``size`` field.

    MNIST puts a 20 px box in 28 px (a 4 px margin for centring by mass); the
    same share is used for fields of 16 px and more. Smaller fields (the 8x8
    scikit-learn digits, which fill their field) use the whole field.
    """
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    return size if size < 16 else max(1, round(size * 20 / 28))


def _array_to_picture(array: np.ndarray, name: str):
    from PIL import Image

    if array.size == 0:
        raise ImageError(f"{name}: the image array is empty (shape {array.shape})")
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 1:
            raise ImageError(f"{name}: float pixels must be finite and in [0, 1]")
        array = np.rint(array * 255)
    elif array.dtype.kind not in "ui" or array.min(initial=0) < 0 or array.max(initial=0) > 255:
        raise ImageError(f"{name}: pixels must be uint8 0..255 or float in [0, 1], got dtype {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.uint8)
    if array.ndim == 2:
        return Image.fromarray(array, mode="L")
    if array.ndim == 3 and array.shape[2] in (3, 4):
        return Image.fromarray(array, mode="RGB" if array.shape[2] == 3 else "RGBA")
    raise ImageError(f"{name}: an image array must have shape (h, w), (h, w, 3) or (h, w, 4), got {array.shape}")


def _stretch(values: np.ndarray, name: str) -> np.ndarray:
    """16-bit, 32-bit or float levels to 0..255 float32, the few most extreme pixels (hot or dead) clipped first."""
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise ImageError(f"{name}: the picture holds NaN or infinite pixel values; export it again as an "
                         "8- or 16-bit PNG or TIFF")
    flat = values.ravel()
    # A single hot pixel would otherwise set the top of the range and leave the digit faint.
    k = max(4, flat.size // 10_000)
    if flat.size > 2 * k + 1:
        low, high = np.partition(flat, (k, flat.size - 1 - k))[[k, flat.size - 1 - k]]
        values = np.clip(values, low, high)
    low, high = float(values.min()), float(values.max())
    if not high > low:
        return np.zeros(values.shape, dtype=np.float32)
    # float64 where float32 could overflow (float64 TIFFs, ranges beyond 1e30).
    work = np.float64 if values.dtype.itemsize > 4 or high - low > 1e30 else np.float32
    return ((values.astype(work) - low) * (255.0 / (high - low))).astype(np.float32)


def _to_grey(picture, name: str = "image") -> np.ndarray:
    """Grey levels 0..255 as float32 (h, w), transparency composited on a contrasting backdrop."""
    if picture.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # 16-bit and float scans: Pillow's convert("L") clips instead of scaling, so stretch the range.
        return _stretch(np.asarray(picture), name)
    if picture.mode == "LAB":  # Pillow cannot convert LAB; its L* band is the lightness, 0..255
        return np.asarray(picture.getchannel(0), dtype=np.float32)
    has_alpha = picture.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in picture.info
    try:
        if not has_alpha:
            return np.asarray(picture.convert("L"), dtype=np.float32)
        rgba = picture.convert("RGBA")
    except ValueError as error:  # "conversion from X to L not supported"
        raise ImageError(f"{name}: colour mode {picture.mode} cannot be read ({error}); save it as RGB or "
                         "greyscale PNG or JPEG") from None
    alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255.0
    grey = np.asarray(rgba.convert("RGB").convert("L"), dtype=np.float32)
    # Drawings exported with a transparent background are usually black strokes
    # (white paper behind them) but can be white strokes (meant for a dark
    # page): put the backdrop that contrasts with what is opaque.
    weight = alpha.sum()
    opaque_level = float((grey * alpha).sum() / weight) if weight > 0 else 0.0
    backdrop = 0.0 if opaque_level > 127.5 else 255.0
    return grey * alpha + backdrop * (1.0 - alpha)


# --------------------------------------------------------------------------- digits drawn by code

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
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    if isinstance(digit, bool) or not isinstance(digit, (int, np.integer)) or not 0 <= digit <= 9:
        raise ValueError(f"digit must be an integer from 0 to 9, got {digit!r}")
    if style not in ("font", "stroke"):
        raise ValueError(f"style must be 'font' or 'stroke', got {style!r}")
    width, height = (int(v) for v in size)
    if width < 32 or height < 32:
        raise ValueError(f"size must be at least (32, 32) pixels, got {size}")
    rng = np.random.default_rng(seed)
    side = min(width, height)
    glyph_height = side * rng.uniform(0.45, 0.7)
    layer = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(layer)
    if style == "font":
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
    else:
        aspect = rng.uniform(0.35, 0.5) if digit == 1 else rng.uniform(0.55, 0.8)
        glyph_width = glyph_height * aspect
        shear = rng.uniform(-0.15, 0.25)
        x0 = rng.uniform(0.2, 0.8) * (width - glyph_width - shear * glyph_height)
        y0 = rng.uniform(0.2, 0.8) * (height - glyph_height)
        share = rng.uniform(0.07, 0.14) if pen is None else pen
        if not 0 < share < 0.5:
            raise ValueError(f"pen must be a share of the digit's height in (0, 0.5), got {pen}")
        width_px = max(1, round(glyph_height * share))
        for part in _STROKES[int(digit)]:
            points = [
                (x0 + (u + shear * (1 - v)) * glyph_width, y0 + v * glyph_height)
                for u, v in _stroke_points(part, rng, jitter=0.02)
            ]
            draw.line(points, fill=255, width=width_px, joint="curve")
            radius = width_px / 2
            for px, py in (points[0], points[-1]):
                draw.ellipse((px - radius, py - radius, px + radius, py + radius), fill=255)
    angle = rng.uniform(-max_rotation, max_rotation)
    layer = layer.rotate(angle, resample=Image.Resampling.BICUBIC)
    if not photo:
        ink = layer if not dark_on_light else Image.eval(layer, lambda v: 255 - v)
        return ink
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


# --------------------------------------------------------------------------- predictions


def predict_images(images, models: Mapping[str, object], *, top: int = 3) -> list[dict]:
    """Each model's predicted digit and most probable classes for each image.

    Parameters
    ----------
    images : ndarray of shape (n, h, w)
        Preprocessed digits (uint8), e.g. from :func:`load_digit_images`.
    models : mapping of str to model
        Fitted models with ``predict`` and ``predict_proba`` (lussi's protocol);
        for a KNN the probabilities are the neighbours' vote shares.
    top : int, default 3
        How many (class, probability) pairs to keep.

    Returns
    -------
    list of dict, one per image
        ``{model_name: {"predicted": int, "top": [(class, probability), ...]}}``;
        ``top`` holds at most ``top`` classes with a probability above zero
        (at least one), sorted by probability with ties broken in favour of
        the predicted class, then the smaller class.
    """
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images must have shape (n, h, w), got {images.shape}; use load_digit_images")
    if not isinstance(models, Mapping) or not models:
        raise ValueError("models must be a non-empty mapping of name to fitted model")
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise ValueError(f"top must be a positive integer, got {top!r}")
    rows: list[dict] = [{} for _ in range(len(images))]
    for name, model in models.items():
        predicted = np.asarray(model.predict(images), dtype=np.int64)
        proba = np.asarray(model.predict_proba(images), dtype=np.float64)
        if predicted.shape != (len(images),) or proba.ndim != 2 or len(proba) != len(images):
            raise ValueError(
                f"model {name!r} returned predictions of shape {predicted.shape} and probabilities of shape "
                f"{proba.shape} for {len(images)} images"
            )
        classes = np.arange(proba.shape[1])
        for i in range(len(images)):
            # lexsort's last key is the primary one: probability, then "is the prediction", then class.
            order = np.lexsort((classes, classes != predicted[i], -proba[i]))[:top]
            # Classes nobody voted for (KNN) are noise in a top-3 list; the first entry always stays.
            order = [c for j, c in enumerate(order) if j == 0 or proba[i, c] > 0]
            rows[i][str(name)] = {
                "predicted": int(predicted[i]),
                "top": [(int(c), float(proba[i, c])) for c in order],
            }
    return rows


def _class_name(class_names, label: int) -> str:
    if class_names is not None and 0 <= label < len(class_names):
        return str(class_names[label])
    return str(label)


def format_predictions(
    rows: Sequence[Mapping],
    class_names: Sequence[str] | None = None,
    *,
    names: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> str:
    """A plain-text table of :func:`predict_images` results for the terminal.

    Parameters
    ----------
    rows : sequence of dict
        The output of :func:`predict_images`.
    class_names : sequence of str, optional
        Name of class ``i``; default the class number.
    names : sequence of str, optional
        One name per image (file names); default ``#1``, ``#2``, ...
    labels : mapping of str to str, optional
        Display names of the models; default their keys.

    Returns
    -------
    str
        One line per image and model: image, model, predicted class and the
        top classes with probabilities, columns aligned, no trailing newline.
    """
    rows = list(rows)
    if names is None:
        names = [f"#{i + 1}" for i in range(len(rows))]
    names = [str(n) for n in names]
    if len(names) != len(rows):
        raise ValueError(f"got {len(rows)} prediction rows but {len(names)} names; pass one name per image")
    labels = dict(labels or {})
    table = [("image", "model", "predicted", "top classes (probability)")]
    for name, row in zip(names, rows, strict=True):
        for i, (model, result) in enumerate(row.items()):
            tops = "  ".join(f"{_class_name(class_names, c)} {p:.2f}" for c, p in result["top"])
            table.append(
                (name if i == 0 else "", labels.get(model, model), _class_name(class_names, result["predicted"]), tops)
            )
    widths = [max(len(line[col]) for line in table) for col in range(3)]
    lines = []
    for number, line in enumerate(table):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(line[:3], widths)) + "  " + line[3])
        if number == 0:
            lines.append("  ".join("-" * width for width in widths) + "  " + "-" * len(line[3]))
    return "\n".join(line.rstrip() for line in lines)


# --------------------------------------------------------------------------- explanation page

_PAGE_CSS = "body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}"
# Inline styles everywhere else, so the same HTML works as a fragment in a report or slide.
_NOTE = "color:#555;font-size:12px;margin:4px 0"
_CELL = "padding:2px 6px;font-size:13px;vertical-align:middle;border:0"


def _picture_data_uri(picture, *, max_side: int = 220) -> str:
    """PNG data URI of a PIL image shrunk to ``max_side`` (the source photo's thumbnail)."""
    from PIL import Image

    thumbnail = picture.copy()
    if thumbnail.mode not in ("L", "RGB", "RGBA"):
        thumbnail = thumbnail.convert("RGBA" if "A" in thumbnail.getbands() else "RGB")
    thumbnail.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    thumbnail.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _bars_html(result: Mapping, class_names, colour: str) -> str:
    rows = []
    for label, probability in result["top"]:
        width = max(0.0, min(1.0, float(probability))) * 160
        rows.append(
            f'<tr><td style="{_CELL};text-align:right">{html.escape(_class_name(class_names, label))}</td>'
            f'<td style="{_CELL}"><div style="width:160px;height:12px;background:#eee;border-radius:2px">'
            f'<div style="width:{width:.1f}px;height:12px;background:{colour};border-radius:2px"></div></div></td>'
            f'<td style="{_CELL}">{probability:.2f}</td></tr>'
        )
    return f'<table style="border-collapse:collapse;margin:0">{"".join(rows)}</table>'


def explain_html(
    image,
    knn_model,
    *,
    train_images,
    train_labels,
    class_names: Sequence[str] | None = None,
    k: int | None = None,
    title: str | None = None,
    predictions: Mapping | None = None,
    model_labels: Mapping[str, str] | None = None,
    source=None,
    knn_label: str | None = None,
    full_page: bool = True,
) -> str:
    """A self-contained HTML page explaining one prediction of a KNN.

    Shows the preprocessed digit (as a picture and as its pixel values), each
    model's top classes as bars, and the KNN's nearest training digits
    captioned with their labels and distances.

    Parameters
    ----------
    image : ndarray of shape (h, w)
        One preprocessed digit (uint8), as the models see it.
    knn_model : KNNClassifier
        Has ``kneighbors(images, n_neighbors) -> (distances, indices)`` with
        indices into the original training images, and ``config.n_neighbors``.
    train_images : ndarray of shape (n_train, h, w)
        The images the KNN was fitted on (what the indices point into).
    train_labels : ndarray of shape (n_train,)
    class_names : sequence of str, optional
    k : int, optional
        Neighbours to show; default the model's ``n_neighbors`` (those that vote).
    title : str, optional
        Page title (escaped); default "Why this digit?".
    predictions : dict, optional
        This image's row of :func:`predict_images` (model name -> result).
    model_labels : mapping of str to str, optional
        Display names for the models in ``predictions``.
    source : PIL.Image.Image or path-like, optional
        The original picture, shown as a thumbnail.
    knn_label : str, optional
        The KNN's display name, shown in the neighbours' heading.
    full_page : bool, default True
        A complete document; False returns a ``<div>`` fragment (no headings
        elements, so it adds nothing to a report's table of contents).

    Returns
    -------
    str
        HTML with inline styles and PNG data URIs, no external links.
    """
    from .data import check_images
    from .visualize import digit_matrix_html, gallery_html, model_colors

    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"image must be one digit of shape (h, w), got {image.shape}; index the batch first")
    image = check_images(image, image.shape)[0]
    train_images = np.asarray(train_images)
    train_labels = np.asarray(train_labels)
    if train_images.ndim != 3 or train_images.shape[1:] != image.shape:
        raise ValueError(
            f"train_images must have shape (n, {image.shape[0]}, {image.shape[1]}) like the image, "
            f"got {train_images.shape}"
        )
    if train_labels.shape != (len(train_images),):
        raise ValueError(f"train_labels must have shape ({len(train_images)},), got {train_labels.shape}")
    if k is None:
        k = int(knn_model.config.n_neighbors)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= len(train_images):
        raise ValueError(f"k must be an integer from 1 to {len(train_images)}, got {k!r}")
    distances, indices = knn_model.kneighbors(image[None], n_neighbors=int(k))
    distances, indices = np.asarray(distances)[0], np.asarray(indices)[0]
    if indices.max(initial=0) >= len(train_images):
        raise ValueError(
            f"the KNN returned training index {indices.max()} but train_images has {len(train_images)} images; "
            "pass the images the model was fitted on"
        )
    neighbour_labels = train_labels[indices].astype(np.int64)
    title = title or "Why this digit?"

    def heading(text, level):
        if full_page:
            return f'<h{level} style="font-size:{22 - 3 * level}px;margin:18px 0 8px">{html.escape(text)}</h{level}>'
        return f'<div style="font-weight:bold;font-size:{19 - 2 * level}px;margin:14px 0 6px">{html.escape(text)}</div>'

    parts = [heading(title, 1), '<div style="display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start">']
    if source is not None:
        from PIL import Image

        if isinstance(source, Image.Image):
            picture = source
        else:
            from PIL import ImageOps

            with Image.open(Path(os.fspath(source))) as opened:
                picture = ImageOps.exif_transpose(opened)
                picture.load()
        parts.append(
            '<figure style="margin:0"><img alt="original picture" style="max-width:220px;border:1px solid #ccc" '
            f'src="{_picture_data_uri(picture)}"><figcaption style="{_NOTE}">the picture as given</figcaption></figure>'
        )
    parts.append(
        '<figure style="margin:0">'
        + gallery_html(image[None], ["as the models see it"], columns=1, scale=6)
        + "</figure>"
    )
    if predictions:
        colours = model_colors(list(predictions))
        labels = dict(model_labels or {})
        blocks = []
        for name, result in predictions.items():
            blocks.append(
                f'<div style="margin-bottom:10px"><b>{html.escape(labels.get(name, name))}</b>: '
                f"{html.escape(_class_name(class_names, result['predicted']))}"
                f"{_bars_html(result, class_names, colours[name])}</div>"
            )
        parts.append(
            f'<div>{heading("Predictions", 2)}{"".join(blocks)}'
            f"<div style=\"{_NOTE}\">KNN: share of the neighbours' votes; networks: softmax probability.</div></div>"
        )
    parts.append("</div>")

    counts = np.bincount(neighbour_labels, minlength=1)
    votes = ", ".join(
        f"{counts[c]} × {_class_name(class_names, int(c))}" for c in np.argsort(-counts, kind="stable") if counts[c]
    )
    captions = [
        f"{rank}. label {_class_name(class_names, int(label))} · d={distance:.4g}"
        for rank, (label, distance) in enumerate(zip(neighbour_labels, distances, strict=True), start=1)
    ]
    of_model = f" ({knn_label})" if knn_label else ""
    parts.append(heading(f"The {k} nearest training digits{of_model}", 2))
    parts.append(
        f'<p style="{_NOTE}">Their labels: {html.escape(votes)}. Distance in the KNN\'s feature space '
        "(after its preprocessing); smaller is closer.</p>"
    )
    parts.append(gallery_html(train_images[indices], captions, columns=min(10, k), max_items=k, scale=3))
    parts.append(heading("Pixel values", 2))
    parts.append(f'<p style="{_NOTE}">0 = paper, 255 = ink, as in MNIST.</p>')
    parts.append(digit_matrix_html(image))
    if not full_page:
        return f'<div class="lussi-explanation">{"".join(parts)}</div>'
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_PAGE_CSS}</style></head><body>{''.join(parts)}</body></html>\n"
    )


def write_explanation(path, page: str) -> Path:
    """Write an HTML page atomically (a temporary file in the same directory, then ``os.replace``).

    Parameters
    ----------
    path : path-like
        Destination file; its directory is created if needed.
    page : str
        The HTML text (e.g. from :func:`explain_html`).

    Returns
    -------
    Path
    """
    path = Path(os.fspath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, page, mode=0o644)  # 0644: a page is meant to be opened and shared


def write_explanations(
    directory,
    images,
    names: Sequence[str],
    knn_model,
    *,
    train_images,
    train_labels,
    class_names: Sequence[str] | None = None,
    rows: Sequence[Mapping] | None = None,
    model_labels: Mapping[str, str] | None = None,
    sources: Sequence | None = None,
    k: int | None = None,
    knn_label: str | None = None,
) -> list[Path]:
    """Write one :func:`explain_html` page per image into ``directory``.

    Parameters
    ----------
    directory : path-like
        Created if needed.
    images : ndarray of shape (n, h, w)
        Preprocessed digits.
    names : sequence of str
        One name per image (file names); page ``i`` is ``<stem of names[i]>.html``,
        numbered when two stems collide (ignoring case), shortened when very long
        (see :func:`lussi.safe_io.unique_file_names`).
    knn_model, train_images, train_labels, class_names, k, knn_label
        As in :func:`explain_html`.
    rows : sequence of dict, optional
        :func:`predict_images` output, one per image.
    model_labels : mapping of str to str, optional
    sources : sequence of path-like or PIL images, optional
        The original pictures, shown as thumbnails.

    Returns
    -------
    list of Path
        The pages written, in image order.
    """
    images = np.asarray(images)
    names = [str(n) for n in names]
    if images.ndim != 3 or len(images) != len(names):
        raise ValueError(f"need images of shape (n, h, w) and one name each, got {images.shape} and {len(names)} names")
    for label, extra in (("rows", rows), ("sources", sources)):
        if extra is not None and len(extra) != len(images):
            raise ValueError(f"{label} must have one entry per image ({len(images)}), got {len(extra)}")
    directory = Path(os.fspath(directory))
    filenames = unique_file_names([Path(name).stem for name in names], ".html")
    written = []
    for i, (image, name, filename) in enumerate(zip(images, names, filenames, strict=True)):
        page = explain_html(
            image,
            knn_model,
            train_images=train_images,
            train_labels=train_labels,
            class_names=class_names,
            k=k,
            title=f"Why this digit? {name}",
            predictions=None if rows is None else rows[i],
            model_labels=model_labels,
            source=None if sources is None else sources[i],
            knn_label=knn_label,
        )
        written.append(write_explanation(directory / filename, page))
    return written


# --------------------------------------------------------------------------- report: digits drawn by code

# Variants of drawn digits for the report: (name, draw_digit options).
DRAWN_STYLES = {
    "font": {"style": "font"},
    "pen": {"style": "stroke"},
    "photo": {"style": "stroke", "photo": True},
    "thin pen photo": {"style": "stroke", "photo": True, "pen": 0.02, "size": (480, 480)},
}


@dataclasses.dataclass(frozen=True)
class DrawnDigits:
    """Digits drawn by code and their MNIST-style conversions.

    Attributes
    ----------
    pictures : list of PIL.Image.Image
        The drawings as made (before any preprocessing).
    images : ndarray of shape (n, size, size), uint8
        After :func:`preprocess_digit`.
    labels : ndarray of shape (n,), int64
        The digit drawn.
    styles : list of str
        The :data:`DRAWN_STYLES` key of each drawing.
    """

    pictures: list
    images: np.ndarray
    labels: np.ndarray
    styles: list


def drawn_digits(
    *,
    styles: Sequence[str] = tuple(DRAWN_STYLES),
    digits: Sequence[int] = tuple(range(10)),
    seed: int = 0,
    size: int = 28,
    box: int | None = None,
    min_stroke: float | None = MIN_STROKE,
) -> DrawnDigits:
    """Draw each digit in each style and convert it like MNIST.

    Parameters
    ----------
    styles : sequence of str
        Keys of :data:`DRAWN_STYLES`: ``"font"`` (TrueType glyphs), ``"pen"``
        (jittered strokes), ``"photo"`` (strokes photographed: tinted paper,
        uneven light, blur, noise), ``"thin pen photo"`` (a ballpoint-thin
        stroke on a larger photo, where stroke thickening matters).
    digits : sequence of int
    seed : int
        Drawing ``j`` uses seed ``seed * 1000 + j``; polarity alternates.
    size, box, min_stroke
        As in :func:`load_digit_image`.

    Returns
    -------
    DrawnDigits
    """
    unknown = [s for s in styles if s not in DRAWN_STYLES]
    if unknown:
        raise ValueError(f"unknown style(s) {unknown}; choose from {list(DRAWN_STYLES)}")
    pictures, images, labels, names = [], [], [], []
    j = 0
    for style in styles:
        for digit in digits:
            picture = draw_digit(int(digit), seed=seed * 1000 + j, dark_on_light=j % 2 == 0, **DRAWN_STYLES[style])
            pictures.append(picture)
            images.append(preprocess_digit(picture, size=size, box=box, min_stroke=min_stroke, name=f"{style} {digit}"))
            labels.append(int(digit))
            names.append(style)
            j += 1
    return DrawnDigits(pictures, np.array(images, dtype=np.uint8), np.array(labels, dtype=np.int64), names)


def predict_drawn_digits(drawn: DrawnDigits, models: Mapping[str, object], *, labels: Mapping[str, str] | None = None):
    """Tidy predictions of every model on drawn digits.

    Parameters
    ----------
    drawn : DrawnDigits
    models : mapping of str to model
    labels : mapping of str to str, optional
        Display names of the models (the ``model`` column); default the keys.

    Returns
    -------
    DataFrame
        One row per drawing and model: ``style``, ``digit``, ``model``,
        ``predicted``, ``probability`` (of the predicted class), ``correct``.
    """
    import pandas as pd

    labels = dict(labels or {})
    rows = predict_images(drawn.images, models, top=1)
    records = []
    for style, digit, row in zip(drawn.styles, drawn.labels, rows, strict=True):
        for name, result in row.items():
            records.append(
                {
                    "style": style,
                    "digit": int(digit),
                    "model": labels.get(name, name),
                    "predicted": result["predicted"],
                    "probability": result["top"][0][1],
                    "correct": result["predicted"] == int(digit),
                }
            )
    return pd.DataFrame(records)


def drawn_digits_accuracy(table):
    """Share of drawn digits each model got right, per style (rows) and model (columns), plus "all".

    Parameters
    ----------
    table : DataFrame
        From :func:`predict_drawn_digits`.

    Returns
    -------
    DataFrame
        Index ``style`` (in drawing order, then ``"all"``), one column per model.
    """
    import pandas as pd

    styles = list(dict.fromkeys(table["style"]))
    models = list(dict.fromkeys(table["model"]))
    pivot = table.pivot_table(index="style", columns="model", values="correct", aggfunc="mean").reindex(styles)
    pivot.loc["all"] = table.groupby("model")["correct"].mean()
    return pd.DataFrame(pivot[models]).astype(float)


def drawn_digits_html(drawn: DrawnDigits, table=None, *, model: str | None = None, thumbnail: int = 56) -> str:
    """The drawings beside what the models see, one row per style.

    Parameters
    ----------
    drawn : DrawnDigits
    table : DataFrame, optional
        From :func:`predict_drawn_digits`; adds "→ prediction" to captions and
        frames wrong predictions of ``model`` in red.
    model : str, optional
        The ``model`` value whose predictions to show; default the first.
    thumbnail : int, default 56
        Side of the drawing thumbnails in pixels.

    Returns
    -------
    str
        A ``<div>`` with inline styles and PNG data URIs (two images per drawing).
    """
    from PIL import Image

    from .visualize import ERROR_COLOR

    predicted = {}
    if table is not None:
        model = model if model is not None else str(table["model"].iloc[0])
        subset = table[table["model"] == model]
        if subset.empty:
            raise ValueError(f"no predictions of model {model!r}; the table has {sorted(set(table['model']))}")
        predicted = {i: int(p) for i, p in enumerate(subset["predicted"])}
    rows = []
    for style in dict.fromkeys(drawn.styles):
        cells = []
        for i in (i for i, s in enumerate(drawn.styles) if s == style):
            label = int(drawn.labels[i])
            caption = str(label) if i not in predicted else f"{label} → {predicted[i]}"
            border = ERROR_COLOR if i in predicted and predicted[i] != label else "transparent"
            seen = Image.fromarray(np.ascontiguousarray(255 - drawn.images[i]))
            digit_uri = _picture_data_uri(seen.resize((thumbnail, thumbnail), Image.Resampling.NEAREST))
            cells.append(
                f'<div style="display:flex;flex-direction:column;align-items:center;gap:2px">'
                f'<img alt="drawn {label}" width="{thumbnail}" height="{thumbnail}" style="border:1px solid #ccc;'
                f'margin:0;box-shadow:none" src="{_picture_data_uri(drawn.pictures[i], max_side=thumbnail)}">'
                f'<img alt="as the models see it" width="{thumbnail}" height="{thumbnail}" style="border:2px solid '
                f'{border};margin:0;box-shadow:none;image-rendering:pixelated" src="{digit_uri}">'
                f'<div style="font:11px sans-serif">{html.escape(caption)}</div></div>'
            )
        rows.append(
            '<div style="display:flex;align-items:center;gap:6px;margin-bottom:8px">'
            f'<div style="width:7em;font:bold 12px sans-serif;text-align:right">{html.escape(style)}</div>'
            f"{''.join(cells)}</div>"
        )
    return f'<div class="lussi-drawn-digits">{"".join(rows)}</div>'
