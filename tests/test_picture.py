"""Each step of lussi.picture on small arrays, and refusals of what is not a digit."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from lussi import picture
from lussi.handwriting.drawing import draw_digit
from lussi.handwriting.files import ImageError, load_digit_image
from lussi.picture import NoDigitFound, convert, digit_mask, fit_box, ink_map, ink_polarity, place_by_mass, shrink

FIXTURES = Path(__file__).parent / "fixtures" / "handwriting"


def ink_of(digit: int, *, seed: int = 0, size=(240, 240), pen=None) -> np.ndarray:
    """Pen strokes of a digit drawn by code, as ink coverage in [0, 1]."""
    style = {"style": "stroke"} if pen is None else {"style": "stroke", "pen": pen}
    return np.asarray(draw_digit(digit, seed=seed, dark_on_light=False, size=size, **style), np.float32) / 255


def on_paper(ink: np.ndarray, paper=220.0, pen=40.0) -> np.ndarray:
    return paper * (1 - ink) + pen * ink


def correlation(a, b) -> float:
    """Best correlation over shifts of up to one pixel (centring by mass rounds to whole pixels)."""
    a, b = a.astype(float), b.astype(float).ravel()
    return max(np.corrcoef(np.roll(a, (dy, dx), axis=(0, 1)).ravel(), b)[0, 1] for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def clean(digit: int, **options) -> np.ndarray:
    return convert(on_paper(ink_of(digit, **options)))


# --------------------------------------------------------------------------- steps


def test_shrink_averages_areas_and_leaves_small_pictures_alone():
    grey = np.zeros((100, 60), np.float32)
    grey[:, 30] = 255  # a one-pixel line keeps its ink: area averaging, not sampling
    small = shrink(grey, 50)
    assert small.shape == (50, 30)
    assert small.sum() == pytest.approx(grey.sum() / 4, rel=0.02)
    assert shrink(grey, 200) is grey


def test_noise_level_ignores_a_minority_of_ink():
    values = np.random.default_rng(0).normal(100, 5, 100_000)
    values[:20_000] = 0  # a fifth of the picture is ink
    assert picture.noise_level(values) == pytest.approx(5 * 1.25, rel=0.2)  # MAD widened only by the minority


@pytest.mark.parametrize("digit", [0, 4, 8])
def test_polarity_of_pen_on_paper_and_chalk_on_a_board(digit):
    ink = ink_of(digit)
    assert ink_polarity(on_paper(ink)) == 1
    assert ink_polarity(on_paper(ink, paper=40.0, pen=230.0)) == -1


def test_polarity_is_not_fooled_by_a_shadow_over_half_the_picture():
    # A thin pen's small digit, a phone's shadow over the left half: the shadow is a large dark area.
    grey = np.full((480, 360), 210.0)
    grey[:, :180] = 120.0
    ink = np.zeros_like(grey)
    ink[200:280, 150:210] = ink_of(3, size=(60, 80), pen=0.04)
    grey = grey * (1 - ink) + 60.0 * ink
    assert ink_polarity(grey) == 1


def test_polarity_of_a_tight_crop_that_is_mostly_ink():
    strokes = ink_of(0, pen=0.2)
    rows, cols = np.flatnonzero(strokes.max(axis=1) > 0), np.flatnonzero(strokes.max(axis=0) > 0)
    tight = strokes[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    assert ink_polarity(on_paper(tight)) == 1


@pytest.mark.parametrize("digit", [3, 7, 8])
def test_a_bold_digit_cropped_tight_keeps_its_strokes(digit):
    # Strokes nearly as wide as the paper estimate's default element: it must grow, or eat them.
    strokes = ink_of(digit, seed=digit, pen=0.3)
    rows, cols = np.flatnonzero(strokes.max(axis=1) > 0), np.flatnonzero(strokes.max(axis=0) > 0)
    tight = on_paper(strokes[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
    assert correlation(convert(tight), convert(on_paper(strokes))) > 0.95


def test_ink_map_removes_light_gradients_and_keeps_a_shadow_edge_from_looking_like_ink():
    height, width = 300, 400
    light = np.linspace(190, 240, width)[None, :] * np.ones((height, 1))  # uneven light: 50 levels across
    light[:, 250:] -= 70  # a sharp shadow edge down the picture
    strokes = np.zeros((height, width), np.float32)
    strokes[100:200, 100:180] = ink_of(7, size=(80, 100))
    grey = light * (1 - strokes) + 30 * strokes
    ink, sigma = ink_map(grey, polarity=1)
    paper = strokes == 0
    assert np.abs(ink[paper]).max() < 8  # flat paper, no false stroke along the shadow's edge
    assert ink[strokes > 0.9].mean() > 90  # the strokes keep their contrast
    assert sigma < 2
    assert correlation(convert(grey), clean(7, size=(80, 100))) > 0.95


def test_digit_mask_passes_over_the_sheet_edge_and_specks():
    grey = np.full((300, 300), 215.0)
    grey[:18] = 60.0  # the table above the sheet's edge, all along the top
    grey[250:254, 30:34] = 90.0  # dust
    strokes = np.zeros_like(grey)
    strokes[90:210, 110:200] = ink_of(2, size=(90, 120))
    grey = grey * (1 - strokes) + 40 * strokes
    ink, sigma = ink_map(grey, 1)
    mask, contrast, verdict = digit_mask(ink, sigma)
    assert verdict == "digit" and contrast > 100
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    assert rows[0] >= 85 and rows[-1] <= 215 and cols[0] >= 105 and cols[-1] <= 205


def test_digit_mask_keeps_a_detached_part_and_drops_faint_show_through():
    grey = np.full((300, 300), 220.0)
    grey[60:75, 100:200] = 40.0  # the flag of a 5, not touching its body
    grey[95:220, 100:112] = 40.0  # ... the body, written apart
    grey[208:220, 100:200] = 40.0
    for x in range(20, 280, 14):  # text printed on the back of the page, showing through faintly
        grey[260:268, x : x + 8] = 200.0
    ink, sigma = ink_map(grey, 1)
    mask, _, verdict = digit_mask(ink, sigma)
    assert verdict == "digit"
    assert mask[60:75, 100:200].all() and mask[100:200, 100:112].all()
    assert not mask[250:].any()


def test_verdicts_for_blank_paper_specks_and_an_edge():
    blank = np.random.default_rng(0).normal(200, 3, (200, 240))
    assert digit_mask(*ink_map(blank, 1))[2] == "blank"
    specks = blank.copy()
    specks[50:53, 60:63] = specks[150:153, 180:183] = 60.0
    assert digit_mask(*ink_map(specks, 1))[2] == "speck"
    edge = blank.copy()
    edge[:, :12] = 50.0  # a dark strip along the left edge (the table)
    assert digit_mask(*ink_map(edge, 1))[2] == "band"


def test_fit_box_scales_to_the_box_and_thickens_hairlines():
    hairline = np.zeros((200, 120), np.float32)
    hairline[:, 60] = 1.0
    hairline[100, :] = 1.0
    digit = fit_box(hairline, box=20, min_stroke=0.12)
    assert max(digit.shape) == 20
    as_drawn = fit_box(hairline, box=20, min_stroke=None)
    assert digit.sum() > 2 * as_drawn.sum()


def test_place_by_mass_centres_like_mnist():
    digit = np.zeros((20, 12), np.float32)
    digit[:, 8:] = 1.0  # mass far to the right of the box's centre
    field = place_by_mass(digit, size=28)
    cy, cx = ndimage.center_of_mass(field.astype(float))
    assert field.shape == (28, 28) and abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5


# --------------------------------------------------------------------------- the whole conversion


def test_a_small_thin_digit_in_a_large_shadowed_photo_reads_like_a_clean_one():
    """The issue's refusals: a thin pen's small digit in a 1512x2016 frame, half of it in a phone's shadow."""
    height, width = 2016, 1512
    yy, xx = np.mgrid[0:height, 0:width]
    grey = 200.0 - 30.0 * (yy / height) + 0.0 * xx
    grey[:, :700] -= 45.0  # the phone's shadow
    grey[:60] = 50.0  # the table beyond the sheet's edge
    strokes = np.zeros((height, width), np.float32)
    strokes[850:1090, 640:840] = ink_of(8, size=(200, 240), pen=0.03)
    grey = grey * (1 - strokes) + (grey - 70) * strokes  # a faint pen: 70 levels darker than its paper
    grey += np.random.default_rng(0).normal(0, 2, grey.shape)
    result = convert(np.clip(grey, 0, 255))
    assert correlation(result, clean(8, size=(200, 240), pen=0.03)) > 0.85


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("blank paper", lambda rng: rng.normal(225, 2, (400, 300))),
        ("grey noise", lambda rng: rng.normal(128, 30, (300, 400))),
        ("uniform noise", lambda rng: rng.uniform(0, 255, (300, 400))),
        ("salt and pepper", lambda rng: np.where(rng.random((300, 400)) < 0.03, rng.choice([0.0, 255.0], (300, 400)), 160.0)),
        ("random dots", lambda rng: np.where(rng.random((300, 400)) < 0.4, 0.0, 230.0)),
        ("blotches", lambda rng: 128 + 4 * ndimage.gaussian_filter(rng.normal(0, 40, (480, 640)), 4)),
        ("a gradient with noise", lambda rng: np.linspace(60, 230, 400)[None, :] + rng.normal(0, 6, (300, 400))),
    ],
)
def test_what_is_not_a_digit_is_refused_with_a_reason(name, make):
    grey = np.clip(make(np.random.default_rng(0)), 0, 255)
    with pytest.raises(NoDigitFound, match=r"^no digit found: [^\n]+$"):
        convert(grey)


@pytest.mark.parametrize(
    ("fixture", "box"),
    [("2-thin-pen.jpg", (175, 0, 320, 240)), ("2-thin-pen.jpg", (0, 0, 60, 240)),
     ("7-photo.jpg", (0, 225, 240, 300)), ("3-chalk.png", (135, 0, 200, 200))],
)
def test_blank_parts_of_the_committed_photos_are_refused(fixture, box, tmp_path):
    path = tmp_path / f"blank-{fixture}"
    Image.open(FIXTURES / fixture).crop(box).save(path)
    with pytest.raises(ImageError, match=r"no digit found: nothing on the picture stands out"):
        load_digit_image(path)


@pytest.mark.parametrize("digit", range(10))
def test_a_faint_but_readable_digit_is_not_refused(digit):
    # 25 grey levels of contrast on noisy paper: faint, but a person reads it.
    grey = on_paper(ink_of(digit, seed=digit, pen=0.05), paper=190.0, pen=165.0)
    grey += np.random.default_rng(digit).normal(0, 2, grey.shape)
    assert correlation(convert(grey), clean(digit, seed=digit, pen=0.05)) > 0.8


def test_fingerprint_names_the_conversion():
    assert len(picture.fingerprint()) == 16 and picture.fingerprint() == picture.fingerprint()


# --------------------------------------------------------------------------- the loader: content, not extension


def test_an_mpo_and_a_png_named_jpg_are_read_by_their_content(tmp_path):
    from lussi.handwriting.files import _open_image

    photo = draw_digit(4, style="stroke", seed=3, size=(1600, 1200), photo=True)
    photo.save(tmp_path / "plain.jpg", quality=92)
    # A phone's MPO (a JPEG with a second, smaller frame) under a .jpg name, and PNG bytes under a .jpg name.
    photo.save(tmp_path / "phone.jpg", format="MPO", save_all=True, append_images=[photo.resize((400, 300))],
               quality=92)
    photo.save(tmp_path / "drawing.jpg", format="PNG")
    assert Image.open(tmp_path / "phone.jpg").format == "MPO"
    # Big JPEGs and MPOs are decoded straight at a reduced scale (1/4 here: 400 px, the working size), a PNG in full.
    assert _open_image(tmp_path / "phone.jpg").size == _open_image(tmp_path / "plain.jpg").size == (400, 300)
    assert _open_image(tmp_path / "drawing.jpg").size == (1600, 1200)
    reference = load_digit_image(tmp_path / "plain.jpg")
    for name in ("phone.jpg", "drawing.jpg"):
        assert correlation(load_digit_image(tmp_path / name), reference) > 0.95, name


def test_a_big_colour_jpeg_decodes_in_grey_and_converts_like_its_colour_decode(tmp_path):
    from lussi.handwriting.files import _open_image, preprocess_digit

    photo = draw_digit(7, style="stroke", seed=5, size=(1600, 1200), photo=True)
    photo.save(tmp_path / "photo.jpg", quality=92)
    # The decoder's grey (its Y channel) skips the colour conversion; a small picture keeps its colours.
    assert _open_image(tmp_path / "photo.jpg").mode == "L"
    photo.resize((400, 300)).save(tmp_path / "small.jpg", quality=92)
    assert _open_image(tmp_path / "small.jpg").mode == "RGB"
    with Image.open(tmp_path / "photo.jpg") as opened:
        colour = opened.convert("RGB").resize((400, 300), Image.Resampling.BOX)
    grey, from_colour = load_digit_image(tmp_path / "photo.jpg"), preprocess_digit(colour)
    assert correlation(grey, from_colour) > 0.99
    assert np.abs(grey.astype(int) - from_colour.astype(int)).max() <= 16
