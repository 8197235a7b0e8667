"""lussi.handwriting.predictions: each model's answer and top classes, in order."""

import numpy as np
import pytest
from digit_checks import FixedModel

from lussi.handwriting.predictions import Prediction, class_name, predict_images


def test_predict_images_keeps_top_classes_in_order():
    images = np.zeros((2, 28, 28), np.uint8)
    votes = FixedModel([[0, 0, 0, 2 / 3, 0, 0, 0, 0, 1 / 3, 0], [0, 0, 0, 0, 0, 0, 0, 1, 0, 0]])
    network = FixedModel([[0.1, 0.05, 0.05, 0.6, 0.0, 0.0, 0.0, 0.0, 0.1, 0.1]] * 2)
    rows = predict_images(images, {"knn": votes, "mlp": network})
    assert rows[0]["knn"] == Prediction(3, ((3, pytest.approx(2 / 3)), (8, pytest.approx(1 / 3))))
    assert rows[1]["knn"].top == ((7, 1.0),)  # classes without votes are left out
    assert [c for c, _ in rows[0]["mlp"].top] == [3, 0, 8]  # ties: smaller class first
    with pytest.raises(ValueError, match="images must have shape"):
        predict_images(np.zeros((28, 28)), {"knn": votes})
    with pytest.raises(ValueError, match="models must be a non-empty mapping"):
        predict_images(images, {})
    with pytest.raises(ValueError, match="top must be a positive integer"):
        predict_images(images, {"knn": votes}, top=0)


def test_class_name_falls_back_to_the_number():
    assert class_name(("zero", "one"), 1) == "one"
    assert class_name(None, 7) == "7"
    assert class_name(("zero", "one"), 5) == "5"  # beyond the names: the number, not an IndexError


def test_a_prediction_is_frozen_and_records_as_json_lists():
    prediction = Prediction(3, ((3, 0.75), (8, 0.25)))
    assert prediction.to_record() == {"predicted": 3, "top": [[3, 0.75], [8, 0.25]]}
    with pytest.raises(AttributeError):
        prediction.predicted = 4
