"""Handwriting: pictures of single digits in, predictions and explanation pages out.

The parts, each importable on its own:

:mod:`lussi.handwriting.files`
    Decode a photo or scan (format from its content, EXIF rotation, transparency,
    size limits) and convert it like MNIST (:func:`~lussi.handwriting.files.load_digit_image`;
    the conversion itself is :mod:`lussi.picture`).
:mod:`lussi.handwriting.drawing`
    Digits drawn by code (:func:`~lussi.handwriting.drawing.draw_digit`).
:mod:`lussi.handwriting.predictions`
    Each model's answer and top classes (:func:`~lussi.handwriting.predictions.predict_images`);
    the terminal table of ``lussi predict`` is :mod:`lussi.cli_format`.
:mod:`lussi.handwriting.explain`
    Self-contained HTML pages on a KNN's answer (``lussi predict --explain``).

The report's drawn-digit experiment is :mod:`lussi.experiments.drawn`.

Nothing is re-exported here, so importing one part does not load the others.
"""
