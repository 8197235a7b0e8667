"""A picture of one handwritten digit -> an MNIST-style digit.

MNIST's digits were "size normalized to fit in a 20x20 pixel box while
preserving their aspect ratio" (anti-aliased, hence the grey levels) and
"centered in a 28x28 image by computing the center of mass of the pixels"
(LeCun et al.; to the nearest pixel, measured on the training images).
:func:`convert` repeats that on a grey picture, once it has found the digit
in it; :mod:`lussi.handwriting` decodes the file (format from its content,
EXIF rotation, transparency) before. The steps, and the pictures they are for:

1. :func:`shrink` to :data:`WORK_SIDE`: a photo has far more pixels than a 20 px digit needs;
2. :func:`ink_polarity`: pen on paper, or chalk and white-on-black drawings (three votes: a shadow
   is not taken for ink);
3. :func:`ink_map`: the paper's level by a grey opening, which follows shadows, uneven light and
   coloured paper, and keeps a shadow's edge sharp;
4. :func:`digit_mask`: marks out of the paper's noise, grown by hysteresis (faint and thin pen
   keep their joins), as connected components; the digit is the most ink near the centre, with
   its detached parts; bands along the edge (sheet edge, table, shadow rim), specks,
   show-through and stray marks are left out;
5. :func:`refuse_if_not_a_digit`: blank paper, a photo of no ink, noise;
6. :func:`fit_box` and :func:`place_by_mass`: MNIST's steps, strokes much thinner than MNIST's
   thickened (a ballpoint line in a big photo would be a faint hairline at 20 px).

Filtering, morphology, labelling and distance transforms are scipy.ndimage's;
what is hand-written is what no library offers: the choice of the digit's
components and the stroke thickening.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np

__all__ = [
    "NoDigitFound",
    "WORK_SIDE",
    "convert",
    "digit_mask",
    "fingerprint",
    "fit_box",
    "ink_map",
    "ink_polarity",
    "noise_level",
    "place_by_mass",
    "refuse_if_not_a_digit",
    "shrink",
]

# Pictures are analysed at most this many pixels on their longer side: the real set's smallest digit
# (15% of its photo's side) still spans 60 px, and a 12 MP JPEG decodes at 1/8 scale to about this.
WORK_SIDE = 400
# Polarity votes (each in [-1, 1]) must sum below this to call the ink lighter than the paper.
LIGHT_INK_VOTES = -0.5
# Below this side a picture is a crop of the digit (28x28 files, small scans): its border is paper.
SMALL_SIDE = 64
# The paper estimate's element, as a share of the longer side: wider than any stroke (a paint
# program's brush, a marker digit filling the frame), narrower than a shadow or the table; narrower
# where the border is uneven (photos), as a flat element falls short of sloping paper by slope x width.
EVEN_ELEMENT, UNEVEN_ELEMENT = 1 / 5, 1 / 8
# Ink seeds stand this many noise deviations above the paper, and at least MIN_SEED_LEVEL grey
# levels: JPEG flattens clean paper to a near-zero noise estimate.
SEED_SIGMAS, MIN_SEED_LEVEL = 6.0, 4.0
# As shares of the digit's contrast: a detached part is at least HIGH dark; the digit grows
# through connected ink above LOW (the fading ends of a thin stroke, its anti-aliased rim).
HIGH, LOW = 0.35, 0.12
# A detached part of the digit holds at least this share of the main component's ink.
PART_SHARE = 0.03
# Marks spanning less than this share of the picture's longer side are specks.
SPECK_EXTENT = 0.04
# Marks touching the picture's edge and staying within this share of it are bands.
BAND_REACH = 0.3
# Output levels below this (out of 1) are Lanczos ringing, set to 0.
RING_LEVEL = 0.02
# The digit is scaled to INTERMEDIATE x box first, where stroke width is measured.
INTERMEDIATE = 4


def fingerprint() -> str:
    """sha256 of this module's source (16 hex digits): the conversion's version in cache keys."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


class NoDigitFound(ValueError):
    """The picture holds no digit (blank paper, a photo of nothing, noise); the message says why."""


def convert(grey: np.ndarray, *, size: int = 28, box: int = 20, min_stroke: float | None = 0.12) -> np.ndarray:
    """Find the digit in a grey picture (levels 0..255, any polarity) and convert it like MNIST.

    ``box`` is the digit's longer side in the ``size`` x ``size`` output (MNIST:
    20 of 28); strokes thinner than ``min_stroke`` of ``box`` are thickened (None:
    kept). Returns uint8, ink 255, paper 0, centre of mass in the middle to the
    nearest pixel. Raises :class:`NoDigitFound` when nothing in it is a digit.
    """
    grey = shrink(np.asarray(grey, dtype=np.float32), WORK_SIDE)
    polarity = ink_polarity(grey)
    ink, sigma = ink_map(grey, polarity)
    mask, contrast, verdict = digit_mask(ink, sigma)
    refuse_if_not_a_digit(verdict, sigma)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    crop = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    # Ink as MNIST's pen strokes: each pixel of the digit its share of the contrast, the core saturated.
    level = np.clip((ink[crop] - LOW * contrast) / ((1 - LOW) * contrast), 0.0, 1.0)
    digit = fit_box(np.where(mask[crop], level, 0.0).astype(np.float32), box=box, min_stroke=min_stroke)
    return place_by_mass(digit, size=size)


def shrink(grey: np.ndarray, side: int) -> np.ndarray:
    """Area-average ``grey`` so its longer side is at most ``side`` (a thin stroke keeps its ink, not aliased away)."""
    from PIL import Image

    height, width = grey.shape
    scale = side / max(height, width)
    if scale >= 1:
        return grey
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    picture = Image.fromarray(np.ascontiguousarray(grey, dtype=np.float32), mode="F")
    return np.asarray(picture.resize(target, Image.Resampling.BOX), dtype=np.float32)


def _median(values: np.ndarray) -> float:
    """Median of at most ~20,000 evenly spaced values: as good for a picture's paper level, and cheap."""
    return float(np.median(values.ravel()[:: max(1, values.size // 20_000)]))


def noise_level(values: np.ndarray) -> float:
    """Robust standard deviation of the paper: 1.4826 x the median absolute deviation (ink is a minority)."""
    return 1.4826 * _median(np.abs(values - _median(values)))


def _frame(grey: np.ndarray) -> np.ndarray:
    t = max(1, min(grey.shape) // 16)
    return np.concatenate([grey[:t].ravel(), grey[-t:].ravel(), grey[:, :t].ravel(), grey[:, -t:].ravel()])


def _coarse_paper(grey: np.ndarray) -> np.ndarray | float:
    """The paper's level: a running median over a quarter of the picture (on a 32 px grid), upsampled;
    it ignores ink (a minority of any window) and follows shadows and light."""
    from scipy import ndimage

    if max(grey.shape) < SMALL_SIDE:
        return float(np.median(_frame(grey)))
    paper = ndimage.median_filter(shrink(grey, 32), size=9, mode="nearest")
    zoom = (grey.shape[0] / paper.shape[0], grey.shape[1] / paper.shape[1])
    return ndimage.zoom(paper, zoom, order=1, mode="nearest", grid_mode=True)[: grey.shape[0], : grey.shape[1]]


def _step_noise(grey: np.ndarray) -> float:
    """Noise from differences of neighbouring pixels: only stroke edges differ much, however much ink there is."""
    return noise_level(np.diff(grey, axis=1)) / math.sqrt(2)


def _margin(residual_dark: np.ndarray, residual_light: np.ndarray, noise: float) -> float:
    """(dark - light) / (dark + light) of what departs from the paper by over 3 noise deviations, in [-1, 1]."""
    dark = float(np.maximum(residual_dark - 3 * noise, 0).sum())
    light = float(np.maximum(residual_light - 3 * noise, 0).sum())
    return (dark - light) / (dark + light) if dark + light > 0 else 0.0


def _even_border(small: np.ndarray) -> float | None:
    """The border's level when most of the border is near it (drawings, scans, crops), else None (the
    table in a corner, a shadow across the edge)."""
    frame = _frame(small)
    level = float(np.median(frame))
    even = np.mean(np.abs(frame - level) <= max(4 * _step_noise(small), 8.0)) >= 0.6
    return level if even else None


def ink_polarity(grey: np.ndarray) -> int:
    """+1 when the ink is darker than the paper (pen on paper), -1 when lighter (chalk, white on black).

    Ink is the side on which more of the picture departs from the paper. Three
    paper estimates vote with their :func:`_margin`, as each fails somewhere:
    the border's level where the border is even (right for drawings, scans and
    tight crops, whose border is paper however much ink they hold); a coarse
    running median (follows a phone's shadow or a light gradient, under which
    a border level calls half the sheet ink); black and white top-hats 2% of
    the picture wide (only thin marks count, so a thin pen's small digit
    outweighs a shadow's edges; blind to a paint program's broad brush).
    """
    from scipy import ndimage

    small = shrink(grey, 128)  # polarity needs no detail: a thin stroke still darkens its 128-px cells
    noise = max(_step_noise(small), 1.0)
    level = _even_border(small)
    votes = []
    if level is not None:
        votes.append(_margin(level - small, small - level, noise))
    paper = _coarse_paper(small)
    votes.append(_margin(paper - small, small - paper, noise))
    element = max(3, round(0.02 * max(small.shape))) | 1
    black = ndimage.grey_closing(small, size=(element, element)) - small
    white = small - ndimage.grey_opening(small, size=(element, element))
    votes.append(_margin(black - _median(black), white - _median(white), noise))
    # Pen on paper unless light ink is clearly ahead: in the real set light-ink pictures sum to -0.97 or less and
    # dark-ink ones to 0.58 or more; a picture with no ink at all (the table's edge) sums near 0.
    return -1 if sum(votes) < LIGHT_INK_VOTES else 1


def ink_map(grey: np.ndarray, polarity: int) -> tuple[np.ndarray, float]:
    """Ink in grey levels above the paper (float32; the paper is 0 give or take its noise) and that noise.

    With the ink high, the paper's level is a grey opening with a square a
    fifth of the picture wide, or twice the strongest strokes' width where
    they are nearly that wide (an eighth in a photo with an uneven border: on
    sloping paper by a shadow's edge an opening falls short by the slope times
    its width): it removes every mark narrower than that (the strokes)
    and keeps what is wider (a shadow, the table, coloured paper) with their
    edges as sharp as they are. Subtracting it leaves the strokes on flat
    paper, whatever the light.
    """
    from scipy import ndimage

    ink_high = grey if polarity < 0 else 255.0 - grey
    # Where the border is even it is paper, however much of the rest is ink (a tight crop of a bold digit
    # is mostly ink); in photos the paper is most of the picture, while the border may hold the table.
    even = max(grey.shape) < SMALL_SIDE or _even_border(shrink(grey, 128)) is not None
    if max(grey.shape) < SMALL_SIDE:
        paper = np.full_like(ink_high, np.median(_frame(ink_high)))
    else:
        # At half resolution, from the 2x2 maxima: the estimate is then never below the paper on either
        # side of a sharp edge (a shadow's, the sheet's), which would leave a false stroke along it.
        height, width = ink_high.shape
        padded = np.pad(ink_high, ((0, height % 2), (0, width % 2)), mode="edge")
        pooled = np.maximum(np.maximum(padded[::2, ::2], padded[1::2, ::2]),
                            np.maximum(padded[::2, 1::2], padded[1::2, 1::2]))
        element = max(3, round(max(pooled.shape) * (EVEN_ELEMENT if even else UNEVEN_ELEMENT)))
        if even:  # an opening keeps marks as wide as its element: a bold glyph cropped tight, a broad brush
            stroke = _stroke_width(pooled - np.median(_frame(pooled)))
            element = element if element >= 1.1 * stroke else 2 * stroke
        paper = ndimage.grey_opening(pooled, size=(element | 1, element | 1), mode="nearest")
        paper = np.repeat(np.repeat(paper, 2, axis=0), 2, axis=1)[:height, :width]
    ink = ink_high - paper
    reference = _frame(ink) if even else ink
    ink -= _median(reference)
    return ink.astype(np.float32), noise_level(reference)


def _stroke_width(ink: np.ndarray) -> int:
    """Width in pixels of the strongest strokes: 4 x their mean distance to the background. (In the real
    set's even-bordered pictures it is at most 0.81 of a fifth of the picture; a bold glyph cropped tight
    reaches 1.4.)"""
    from scipy import ndimage

    strong = ink > 0.5 * np.percentile(ink, 99.5)
    if not strong.any() or strong.all():
        return 0
    return round(4 * float(ndimage.distance_transform_edt(np.pad(strong, 1))[1:-1, 1:-1][strong].mean()))


def _components(mask: np.ndarray, ink: np.ndarray, seeds: np.ndarray | None = None,
                strong: float | None = None) -> tuple[np.ndarray, dict]:
    """8-connected components of ``mask`` (those holding a pixel of ``seeds``, if given): labels and, per
    label - 1, ``mass`` (ink), ``box``, ``speck`` and ``band`` (:func:`_shapes`). With ``strong``, specks are
    judged by their pixels above it: JPEG and blur put a faint halo around a dot of dust."""
    from scipy import ndimage

    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if seeds is not None and count:
        held = np.zeros(count + 1, dtype=bool)
        held[labels[seeds]] = True
        held[0] = False
        labels[~held[labels]] = 0
    inside = labels > 0
    stats = {
        "mass": np.bincount(labels[inside], weights=ink[inside], minlength=count + 1)[1:],
        "box": ndimage.find_objects(labels, max_label=count),
    }
    cores = stats["box"] if strong is None else ndimage.find_objects(np.where(ink >= strong, labels, 0), count)
    stats["speck"], stats["band"] = _shapes(stats["box"], cores, mask.shape)
    return labels, stats


def _shapes(boxes: list, cores: list, shape) -> tuple[np.ndarray, np.ndarray]:
    """Which components are specks and which are bands along the picture's edge.

    A speck spans less than SPECK_EXTENT of the picture's longer side: dust,
    a dot of JPEG noise, a pen's stray touch (the smallest digit of the real
    set spans 15%). A band touches the picture's edge and stays within
    BAND_REACH of it: a sheet's edge, the table, the rim of a shadow or a dark
    corner; a digit that touches the edge (a tight crop) reaches across the
    picture (70% or more in the real set).
    """
    height, width = shape
    speck = np.zeros(len(boxes), dtype=bool)
    band = np.zeros(len(boxes), dtype=bool)
    for i, box in enumerate(boxes):
        if box is None:  # a component dropped for holding no seed
            continue
        core = cores[i] or box
        speck[i] = max(core[0].stop - core[0].start, core[1].stop - core[1].start) < SPECK_EXTENT * max(height, width)
        rows, cols = box
        reach = [rows.stop / height if rows.start == 0 else 1.0, 1 - rows.start / height if rows.stop == height else 1.0,
                 cols.stop / width if cols.start == 0 else 1.0, 1 - cols.start / width if cols.stop == width else 1.0]
        band[i] = min(reach) < BAND_REACH
    return speck, band


def _main(stats: dict, shape) -> tuple[int, str]:
    """Index of the component most likely the digit, and what it is: "digit", "speck" or "band".

    The most ink, weighted by closeness to the centre (1 there, 1/3 in a corner:
    people centre what they photograph), among the components that are neither
    specks nor bands; specks only when there is nothing else, bands last.
    """
    present = np.array([box is not None for box in stats["box"]], dtype=bool)
    for verdict, allowed in (("digit", ~stats["speck"] & ~stats["band"]), ("speck", ~stats["band"]), ("band", present)):
        candidates = np.flatnonzero(allowed & present)
        if len(candidates):
            centres = [((b[0].start + b[0].stop) / 2 / shape[0] - 0.5) ** 2
                       + ((b[1].start + b[1].stop) / 2 / shape[1] - 0.5) ** 2 for b in (stats["box"][i] for i in candidates)]
            scores = stats["mass"][candidates] / (1.0 + 4.0 * np.array(centres))
            return int(candidates[int(np.argmax(scores))]), verdict
    raise ValueError("no components")


def _near(box, other, margin: float) -> bool:
    """Whether ``other``'s box overlaps ``box`` grown by ``margin`` of its longer side."""
    grow = margin * max(box[0].stop - box[0].start, box[1].stop - box[1].start)
    return (other[0].start < box[0].stop + grow and other[0].stop > box[0].start - grow
            and other[1].start < box[1].stop + grow and other[1].stop > box[1].start - grow)


def _parts(labels: np.ndarray, stats: dict, ink: np.ndarray, main: int, contrast: float) -> list[int]:
    """Labels of the digit: the main component and its detached parts.

    A digit's detached parts (the flag of a 5, a 7's bar, a pen that skipped)
    lie beside it, hold a share of its ink (PART_SHARE) and are about as dark
    (HIGH of its contrast); show-through letters, specks and bands are not parts.
    """
    box = stats["box"][main]
    chosen = [main + 1]
    for i in np.flatnonzero((stats["mass"] >= PART_SHARE * stats["mass"][main]) & ~stats["band"]):
        other = stats["box"][i]
        if i != main and _near(box, other, 0.5) and ink[other][labels[other] == i + 1].max() >= HIGH * contrast:
            chosen.append(int(i) + 1)
    return chosen


def _floor(contrast: float, sigma: float) -> float:
    """Where the digit's ink ends: LOW of its contrast, and clear of the paper's noise."""
    return max(LOW * contrast, 3 * sigma)


def digit_mask(ink: np.ndarray, sigma: float) -> tuple[np.ndarray, float, str]:
    """The digit's pixels (bool), its contrast and a verdict: "digit", or why there is none ("blank":
    nothing stands out of the paper's noise; "speck" or "band": that is all there is).

    Seeds stand SEED_SIGMAS out of the noise on a 3x3 mean of the ink: a
    stroke keeps its level there, while scattered noise pixels (salt and
    pepper, random dots on paper exactly white between them, whose noise
    estimate is zero) average into grain. The main seed component
    (:func:`_main`) gives the contrast. The digit grows by hysteresis through
    connected ink above :func:`_floor` (a faint pen keeps its thin joins, a
    stroke its rim), while a faint shadow or smudge seeds nothing of its own;
    the grown components are judged again and the parts gathered (:func:`_parts`).
    """
    from scipy import ndimage

    smooth = ndimage.uniform_filter(ink, 3, mode="nearest")
    # Its level and noise are measured where the ink map is paper (within 3 deviations of 0), so the ink
    # of a tight crop does not count; over random dots they still vary, where the picture's own noise is 0.
    step = max(1, ink.size // 20_000)
    sample, near_zero = smooth.ravel()[::step], np.abs(ink.ravel()[::step]) <= 3 * sigma
    paper = sample[near_zero] if near_zero.any() else sample
    smooth -= np.median(paper)
    seeds = smooth > max(SEED_SIGMAS * max(sigma, noise_level(paper)), MIN_SEED_LEVEL)
    labels, stats = _components(seeds, ink)
    if not len(stats["mass"]):
        return np.zeros(ink.shape, dtype=bool), 0.0, "blank"
    main, _ = _main(stats, ink.shape)
    box = stats["box"][main]
    contrast = float(np.percentile(ink[box][labels[box] == main + 1], 90))
    labels, stats = _components(ink > _floor(contrast, sigma), ink, seeds, strong=HIGH * contrast)
    if all(box is None for box in stats["box"]):  # the seeds were only grain of the 3x3 mean
        return np.zeros(ink.shape, dtype=bool), 0.0, "blank"
    main, verdict = _main(stats, ink.shape)
    return np.isin(labels, _parts(labels, stats, ink, main, contrast)), contrast, verdict


_REASONS = {
    "blank": "nothing on the picture stands out of the paper and its noise (deviation {sigma:.1f} of 255); "
             "photograph the digit with a darker pen or more light",
    "speck": f"the only marks are specks (under {SPECK_EXTENT:.0%} of the picture's longer side); "
             "crop the picture closer to the digit",
    "band": "the only marks run along the picture's edge (the sheet's edge, the table or a shadow); "
            "photograph the digit in the middle of the sheet",
}


def refuse_if_not_a_digit(verdict: str, sigma: float) -> None:
    """Raise :class:`NoDigitFound` with a one-line reason unless the verdict of :func:`digit_mask` is "digit"."""
    if verdict != "digit":
        raise NoDigitFound("no digit found: " + _REASONS[verdict].format(sigma=sigma))


def _resize(array: np.ndarray, width: int, height: int, *, shrink_filter) -> np.ndarray:
    from PIL import Image

    picture = Image.fromarray(np.ascontiguousarray(array, dtype=np.float32), mode="F")
    resample = shrink_filter if width <= array.shape[1] and height <= array.shape[0] else Image.Resampling.LANCZOS
    return np.clip(np.asarray(picture.resize((width, height), resample), dtype=np.float32), 0.0, 1.0)


def fit_box(ink: np.ndarray, *, box: int, min_stroke: float | None) -> np.ndarray:
    """Scale the cropped ink so its longer side is ``box``, thickening hairlines on the way."""
    from PIL import Image
    from scipy import ndimage

    height, width = ink.shape
    side = INTERMEDIATE * box
    scale = side / max(height, width)
    mid = _resize(ink, max(1, round(width * scale)), max(1, round(height * scale)), shrink_filter=Image.Resampling.BOX)
    if min_stroke is not None and min_stroke > 0:
        # No imaging library normalises stroke width; scipy measures and dilates.
        strokes = mid > 0.5
        if strokes.any():
            # Mean distance to the background over a stroke's pixels is a quarter of its
            # width; at INTERMEDIATE x box it reads directly in output pixels.
            width_px = float(ndimage.distance_transform_edt(np.pad(strokes, 1))[1:-1, 1:-1][strokes].mean())
            radius = round(2 * (min_stroke * box - width_px))
            if radius >= 1:
                mid = np.pad(mid, radius)
                yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
                mid = ndimage.grey_dilation(mid, footprint=xx**2 + yy**2 <= radius**2)
                scale = side / max(mid.shape)
                mid = _resize(mid, max(1, round(mid.shape[1] * scale)), max(1, round(mid.shape[0] * scale)),
                              shrink_filter=Image.Resampling.BOX)
    out_w, out_h = max(1, round(mid.shape[1] * box / side)), max(1, round(mid.shape[0] * box / side))
    digit = _resize(mid, out_w, out_h, shrink_filter=Image.Resampling.LANCZOS)
    # Lanczos' ringing leaves faint halos (1-4 of 255) around strokes; MNIST's paper is exactly 0.
    digit[digit < RING_LEVEL] = 0.0
    return digit


def place_by_mass(digit: np.ndarray, *, size: int) -> np.ndarray:
    """Put ``digit`` in a size x size field with its centre of mass at the middle (whole-pixel shift, as MNIST)."""
    from scipy import ndimage

    height, width = digit.shape
    if digit.sum() <= 0:
        cy, cx = (height - 1) / 2, (width - 1) / 2
    else:
        cy, cx = ndimage.center_of_mass(digit)
    # Clamped so the digit stays whole when the box fills the field (size == box).
    top = min(max(round(size / 2 - cy), 0), size - height)
    left = min(max(round(size / 2 - cx), 0), size - width)
    field = np.zeros((size, size), dtype=np.float32)
    field[top : top + height, left : left + width] = digit
    return np.rint(field * 255).astype(np.uint8)
