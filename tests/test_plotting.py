"""lussi.plotting: the palette and colours every figure shares."""

from lussi.plotting import ERROR_COLOR, model_colors


def test_model_colors_are_stable_and_distinct():
    colors = model_colors(["knn", "mlp", "cnn"])
    assert list(colors) == ["knn", "mlp", "cnn"]
    assert len(set(colors.values())) == 3
    assert model_colors(["knn", "mlp", "cnn", "knn"]) == colors
    assert ERROR_COLOR not in model_colors([f"m{i}" for i in range(9)]).values()
