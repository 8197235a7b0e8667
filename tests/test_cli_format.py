"""lussi.cli_format: the terminal table of ``lussi predict``."""

import numpy as np
import pytest
from digit_checks import FixedModel

from lussi.cli_format import format_predictions
from lussi.handwriting.predictions import predict_images


def test_format_predictions_is_an_aligned_table():
    images = np.zeros((2, 28, 28), np.uint8)
    rows = predict_images(images, {"knn": FixedModel([[0.0, 1.0], [0.75, 0.25]])})
    text = format_predictions(rows, ("zero", "one"), names=["a.png", "long-name.jpg"], labels={"knn": "KNN k=3"})
    lines = text.splitlines()
    assert lines[0].split() == ["image", "model", "predicted", "top", "classes", "(probability)"]
    assert lines[2].split() == ["a.png", "KNN", "k=3", "one", "one", "1.00"]
    assert lines[3].split() == ["long-name.jpg", "KNN", "k=3", "zero", "zero", "0.75", "one", "0.25"]
    assert lines[2].index("KNN") == lines[3].index("KNN")
    with pytest.raises(ValueError, match="pass one name per image"):
        format_predictions(rows, None, names=["a.png"])
