"""How the tuned KNN's pipeline was chosen: validation accuracy of candidate pipelines on MNIST.

Every candidate is fitted on the fit part of the seeded validation split
(54,000 images) and scored on the 6,000 validation images for k = 1..10 with
uniform and inverse-distance votes (:func:`lussi.models.knn_select.select_knn`). The
test set is not touched.

The most accurate candidate is chosen (ties to the cheaper one to search:
stored rows x feature dimensions). Cheaper candidates within a standard error
of the best are listed too, but fewer PCA components buy little speed: a flat
search's time is dominated by the query x training distance matrix, not by
the dimensions (faiss, 10,000 x 60,000: 0.45 s at 20 dimensions, 0.68 s at
60). ``tuned_knn_config()`` ships the pick. ``--splits`` repeats the
comparison on other seeded splits to show the ranking is not one split's luck.

Usage::

    .venv/bin/python benchmarks/knn_tuning.py               # all candidates, split seed 0 (~2 minutes)
    .venv/bin/python benchmarks/knn_tuning.py --splits 0 1 2 --candidates pixels-augmented gradients-12-pca60
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import time

from lussi.models.knn import KNNConfig

_BASE = KNNConfig(deskew=True, pca_components=60)
CANDIDATES = {
    "pixels-pca60": _BASE,
    # The previous shipped recipe: 7 training copies (1-px shifts, 0.85 / 1.15 zooms).
    "pixels-augmented": dataclasses.replace(_BASE, augment_shifts=1, augment_zoom=0.15),
    "gradients-8-pca60": dataclasses.replace(_BASE, features="gradients", orientations=8),
    "gradients-8-pca100": dataclasses.replace(_BASE, features="gradients", orientations=8, pca_components=100),
    "gradients-8-pca40": dataclasses.replace(_BASE, features="gradients", orientations=8, pca_components=40),
    "gradients-12-pca20": dataclasses.replace(_BASE, features="gradients", orientations=12, pca_components=20),
    "gradients-12-pca30": dataclasses.replace(_BASE, features="gradients", orientations=12, pca_components=30),
    "gradients-12-pca40": dataclasses.replace(_BASE, features="gradients", orientations=12, pca_components=40),
    "gradients-12-pca60": dataclasses.replace(_BASE, features="gradients", orientations=12),
    "gradients-12-pca100": dataclasses.replace(_BASE, features="gradients", orientations=12, pca_components=100),
    "gradients-16-pca60": dataclasses.replace(_BASE, features="gradients", orientations=16),
    "gradients-12-pca60-no-deskew": dataclasses.replace(_BASE, features="gradients", orientations=12, deskew=False),
    "gradients-12-pca60-shifts": dataclasses.replace(_BASE, features="gradients", orientations=12, augment_shifts=1),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", nargs="+", choices=sorted(CANDIDATES), default=list(CANDIDATES))
    parser.add_argument("--splits", nargs="+", type=int, default=[0], help="random_state of validation_split")
    args = parser.parse_args(argv)

    from lussi.data import load_dataset
    from lussi.models.knn_select import select_knn

    dataset = load_dataset("mnist")
    print(f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}", flush=True)
    for seed in args.splits:
        fit, val = dataset.validation_split(fraction=0.1, random_state=seed)
        print(f"\nsplit seed {seed}: fit {len(fit.labels)} / validation {len(val.labels)}", flush=True)
        print(f"  {'candidate':<30s} {'best k':>6s} {'votes':>9s} {'accuracy':>9s} {'errors':>7s} {'cost':>5s} {'time':>7s}")
        scores = {}
        for name in args.candidates:
            start = time.perf_counter()
            best, table = select_knn(CANDIDATES[name], fit.images, fit.labels, val.images, val.labels)
            accuracy = table[(table.k == best.n_neighbors) & (table.weights == best.weights)].accuracy.item()
            scores[name] = accuracy
            errors = round((1 - accuracy) * len(val.labels))
            print(f"  {name:<30s} {best.n_neighbors:>6d} {best.weights:>9s} {accuracy:>9.4f} {errors:>7d} "
                  f"{search_cost(CANDIDATES[name]):>5d} {time.perf_counter() - start:>6.0f}s", flush=True)
        top = max(scores.values())
        standard_error = math.sqrt(top * (1 - top) / len(val.labels))
        eligible = [name for name in scores if scores[name] >= top - standard_error]
        pick = min((name for name in scores if scores[name] == top), key=lambda name: search_cost(CANDIDATES[name]))
        print(f"  most accurate: {pick} ({top:.4f}); within one standard error ({standard_error:.4f}): "
              f"{', '.join(eligible)}", flush=True)


def search_cost(config: KNNConfig) -> int:
    """Feature dimensions x stored copies of each training image: a query's distance computations per image."""
    copies = 1 + 4 * config.augment_shifts + (2 if config.augment_zoom else 0)
    dimensions = config.pca_components or (784 if config.features == "pixels" else config.orientations * 196)
    return copies * dimensions


if __name__ == "__main__":
    main()
