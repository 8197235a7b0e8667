"""lussi.handwriting.explain: the self-contained explanation pages of ``lussi predict --explain``."""

import numpy as np
import pytest
from digit_checks import N_TRAIN

from lussi.handwriting.drawing import draw_digit
from lussi.handwriting.explain import explain_html, write_explanation, write_explanations
from lussi.handwriting.files import preprocess_digit
from lussi.handwriting.predictions import predict_images


def test_explain_html_shows_the_neighbours_and_is_self_contained(mnist, knn, tmp_path):
    image = preprocess_digit(draw_digit(7, style="stroke", seed=3))
    rows = predict_images(image[None], {"knn": knn})
    page = explain_html(
        image,
        knn,
        train_images=mnist.train_images[:N_TRAIN],
        train_labels=mnist.train_labels[:N_TRAIN],
        class_names=mnist.class_names,
        k=5,
        title="<script>alert(1)</script> 7.png",
        predictions=rows[0],
        source=draw_digit(7, style="stroke", seed=3),
        knn_label="KNN k=3",
    )
    assert "The 5 nearest training digits (KNN k=3)" in page
    distances, indices = knn.kneighbors(image[None], n_neighbors=5)
    for rank, (distance, index) in enumerate(zip(distances[0], indices[0], strict=True), start=1):
        assert f"{rank}. label {mnist.train_labels[index]} · d={distance:.4g}" in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "http" not in page.replace("data:image/png;base64,", "")
    assert page.count("data:image/png;base64,") == 1 + 1 + 5  # source, the digit, the neighbours
    assert page.startswith("<!DOCTYPE html>") and page.count("<td") > 784

    fragment = explain_html(
        image, knn, train_images=mnist.train_images[:N_TRAIN], train_labels=mnist.train_labels[:N_TRAIN],
        full_page=False,
    )
    assert fragment.startswith("<div") and "<h1" not in fragment and "<h2" not in fragment and "<style" not in fragment
    assert "The 3 nearest training digits" in fragment  # k defaults to the model's n_neighbors

    with pytest.raises(ValueError, match="image must be one digit"):
        explain_html(image[None], knn, train_images=mnist.train_images, train_labels=mnist.train_labels)

    target = write_explanation(tmp_path / "out" / "7.html", page)
    assert target.read_text(encoding="utf-8") == page
    assert [p.name for p in target.parent.iterdir()] == ["7.html"]


def test_write_explanations_writes_one_page_per_image(mnist, knn, tmp_path):
    images = np.stack([preprocess_digit(draw_digit(d, style="stroke", seed=d)) for d in (1, 2, 3)])
    names = ["a/one.png", "b/one.jpg", "three.png"]
    rows = predict_images(images, {"knn": knn})
    pages = write_explanations(
        tmp_path / "explain", images, names, knn,
        train_images=mnist.train_images[:N_TRAIN], train_labels=mnist.train_labels[:N_TRAIN], rows=rows,
    )
    assert [p.name for p in pages] == ["01-one.html", "02-one.html", "three.html"]
    assert "Why this digit? three.png" in pages[2].read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="rows must have one entry per image"):
        write_explanations(tmp_path, images, names, knn, train_images=mnist.train_images,
                           train_labels=mnist.train_labels, rows=rows[:1])
