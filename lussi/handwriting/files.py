"""Picture files of handwritten digits: decoding them, then converting them like MNIST.

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
holds no digit. :func:`picture_data_uri` turns a picture back into a PNG
thumbnail for HTML pages.
"""

from __future__ import annotations

import math
import os
import stat
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..picture import WORK_SIDE, NoDigitFound, convert
from ..safe_io import describe_os_error, png_data_uri

__all__ = [
    "MAX_PIXELS",
    "MIN_STROKE",
    "ImageError",
    "default_box",
    "load_digit_image",
    "load_digit_images",
    "picture_data_uri",
    "preprocess_digit",
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
        # Grey straight from the decoder (its Y channel, within a level or two of convert("L") of its RGB) skips the
        # colour conversion: a 12 MP photo decodes in about 15% less time. Thumbnails reopen the file in colour.
        mode = "L" if picture.mode in ("RGB", "YCbCr") else picture.mode
        picture.draft(mode, (math.ceil(width / scale), math.ceil(height / scale)))


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


def picture_data_uri(picture, *, max_side: int = 220) -> str:
    """PNG data URI of a PIL image shrunk to fit ``max_side`` (thumbnails of the pictures as given).

    Parameters
    ----------
    picture : PIL.Image.Image
        Any mode; modes other than L, RGB and RGBA are converted first (PNG cannot hold them all).
    max_side : int, default 220
        The thumbnail's longer side at most, in pixels (never enlarged).

    Returns
    -------
    str
        ``data:image/png;base64,...``
    """
    from PIL import Image

    thumbnail = picture.copy()
    if thumbnail.mode not in ("L", "RGB", "RGBA"):
        thumbnail = thumbnail.convert("RGBA" if "A" in thumbnail.getbands() else "RGB")
    thumbnail.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return png_data_uri(thumbnail)
