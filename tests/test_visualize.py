import base64
import io
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from lussi.plotting import ERROR_COLOR
from lussi.visualize import MAX_GRID_IMAGES, digit_grid_html, digit_matrix_html, gallery_html, styled_table




def _data_uris(markup):
    return re.findall(r'src="data:image/png;base64,([^"]+)"', markup)


def _assert_self_contained(markup):
    assert "http" not in markup
    assert "<script" not in markup


# --------------------------------------------------------------------------- HTML


def test_digit_matrix_html_prints_every_pixel():
    image = np.zeros((28, 28), np.uint8)
    image[3, 4] = 255
    image[10, 10] = 17
    markup = digit_matrix_html(image)
    assert markup.count("<td") == 28 * 28
    assert markup.count("<tr") == 28
    assert ">255</td>" in markup and ">17</td>" in markup
    # 0 is white, 255 black with white text.
    assert re.search(r'background:#000000;color:#fff">255<', markup)
    assert "background:#ffffff" in markup
    assert 'data-quarto-disable-processing="true"' in markup
    _assert_self_contained(markup)


def test_digit_matrix_html_invert_escape_and_small_digits(sk_digits):
    images, _ = sk_digits
    markup = digit_matrix_html(images[0], label="<b>", caption="a & b", invert=True)
    assert markup.count("<td") == 64
    assert "&lt;b&gt;" in markup and "<b>" not in markup
    assert "a &amp; b" in markup
    value = int(images[0].max())
    assert f'background:#{value:02x}{value:02x}{value:02x};color:#000">{value}<' in markup


def test_digit_matrix_html_rejects_batches():
    with pytest.raises(
        ValueError, match=r"image must be one 2-D digit of shape \(h, w\), got shape \(2, 8, 8\)"
    ):
        digit_matrix_html(np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="prints at most 1024"):
        digit_matrix_html(np.zeros((64, 64), np.uint8))
    with pytest.raises(ValueError, match="values 0-255"):
        digit_matrix_html(np.full((8, 8), 300))


def test_digit_grid_html_rows_and_data_uris(sk_digits):
    images, labels = sk_digits
    markup = digit_grid_html(images, labels, per_class=4, class_names=[f"<{i}>" for i in range(10)], scale=3)
    uris = _data_uris(markup)
    assert len(uris) == markup.count("<img") == 40
    png = Image.open(io.BytesIO(base64.b64decode(uris[0])))
    assert png.format == "PNG" and png.size == (24, 24)
    assert "&lt;7&gt;" in markup and "<7>" not in markup
    assert ERROR_COLOR not in markup  # no predictions, nothing marked
    _assert_self_contained(markup)
    assert markup == digit_grid_html(images, labels, per_class=4, class_names=[f"<{i}>" for i in range(10)])
    assert markup != digit_grid_html(
        images, labels, per_class=4, class_names=[f"<{i}>" for i in range(10)], random_state=1
    )


def test_digit_grid_html_marks_wrong_predictions(sk_digits, sk_predictions):
    images, labels = sk_digits
    pred = sk_predictions["knn"]
    markup = digit_grid_html(images, labels, per_class=20, predictions=pred)
    wrong_titles = [
        (int(t), int(p)) for t, p in re.findall(r'title="true (\d), predicted (\d)"', markup) if t != p
    ]
    assert wrong_titles and all(p == (t + 1) % 10 for t, p in wrong_titles)
    assert markup.count(f"solid {ERROR_COLOR}") == len(wrong_titles)


def test_digit_grid_html_caps_node_count(sk_digits):
    images, labels = sk_digits
    markup = digit_grid_html(images, labels, per_class=100)
    assert markup.count("<img") == MAX_GRID_IMAGES


def test_digit_grid_html_validates(sk_digits):
    images, labels = sk_digits
    with pytest.raises(ValueError, match=r"labels must have shape \(1797,\)"):
        digit_grid_html(images, labels[:5])
    with pytest.raises(ValueError, match=r"images must have shape \(n, height, width\).*images.reshape\(n, h, w\)"):
        digit_grid_html(images.reshape(len(images), -1), labels)


def test_gallery_html_caps_and_escapes(sk_digits):
    images, _ = sk_digits
    captions = [f"#{i} <b>" for i in range(100)]
    highlight = np.arange(100) % 2 == 0
    markup = gallery_html(images[:100], captions, columns=5, max_items=30, highlight=highlight)
    assert len(_data_uris(markup)) == 30
    assert "showing 30 of 100" in markup
    assert "repeat(5,max-content)" in markup
    assert "#29 &lt;b&gt;" in markup and "<b>" not in markup and "#30 " not in markup
    assert markup.count(f"solid {ERROR_COLOR}") == 15
    _assert_self_contained(markup)
    assert "showing" not in gallery_html(images[:3], ["a", "b", "c"])


def test_gallery_html_validates(sk_digits):
    images, _ = sk_digits
    with pytest.raises(ValueError, match="got 3 images but 2 captions"):
        gallery_html(images[:3], ["a", "b"])


def test_styled_table_formats_and_escapes():
    df = pd.DataFrame(
        {
            "model": ["knn", "<cnn>"],
            "accuracy": [0.97123, 0.99012],
            "errors": [288, 99],
            "seconds": [1.23456, 7.5],
        }
    )
    markup = styled_table(
        df,
        caption="Models & more",
        percent_columns=["accuracy"],
        highlight_max=["accuracy", "errors"],
        precision=3,
    )
    assert "97.1%" in markup and "<strong>99.0%</strong>" in markup
    assert "<strong>288</strong>" in markup
    assert "1.235" in markup
    assert "&lt;cnn&gt;" in markup and "<cnn>" not in markup
    assert "Models &amp; more" in markup
    assert "row_heading" not in markup  # index hidden
    with pytest.raises(ValueError, match=r"percent_columns names columns \['acc'\] not in the table"):
        styled_table(df, percent_columns=["acc"])


# --------------------------------------------------------------------------- figures
