"""lussi.experiments.drawn: the drawn-digit experiment (drawings, predictions, accuracy, gallery)."""

import re

import pandas as pd
import pytest

from lussi.experiments.drawn import drawn_digits, drawn_digits_accuracy, drawn_digits_html, predict_drawn_digits


def test_report_helpers_for_drawn_digits(knn):
    drawn = drawn_digits(styles=("font", "pen"), digits=(1, 7))
    assert drawn.images.shape == (4, 28, 28) and drawn.labels.tolist() == [1, 7, 1, 7]
    table = predict_drawn_digits(drawn, {"knn": knn}, labels={"knn": "KNN"})
    assert list(table.columns) == ["style", "digit", "model", "predicted", "probability", "correct"]
    accuracy = drawn_digits_accuracy(table)
    assert list(accuracy.index) == ["font", "pen", "all"] and list(accuracy.columns) == ["KNN"]
    assert accuracy.loc["all", "KNN"] == pytest.approx(table["correct"].mean())
    page = drawn_digits_html(drawn, table)
    assert page.count("<img") == 8 and "http" not in page.replace("data:image/png;base64,", "")
    assert isinstance(table, pd.DataFrame)
    with pytest.raises(ValueError, match="unknown style"):
        drawn_digits(styles=("crayon",))
    assert re.search(r"1 → \d", page)
