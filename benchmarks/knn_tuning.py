"""How the tuned KNN's pipeline was chosen: validation accuracy of candidate pipelines on MNIST.

Every candidate is fitted on the fit part of the seeded validation split
(54,000 images) and scored on the 6,000 validation images for k = 1..10 with
uniform and inverse-distance votes (:func:`lussi.models.knn.select_knn`). The
test set is not touched. The best candidate (ties to the earlier, cheaper one)
is what ``tuned_knn_config()`` ships; ``--splits`` repeats the comparison on
other seeded splits to show the ranking is not one split's luck.

Usage::

    .venv/bin/python benchmarks/knn_tuning.py               # all candidates, split seed 0 (~5 minutes)
    .venv/bin/python benchmarks/knn_tuning.py --splits 0 1 2 --candidates pixels-augmented gradients-12-pca60
"""

from __future__ import annotations

import argparse
import dataclasses
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
    from lussi.models.knn import select_knn

    dataset = load_dataset("mnist")
    print(f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}", flush=True)
    for seed in args.splits:
        fit, val = dataset.validation_split(fraction=0.1, random_state=seed)
        print(f"\nsplit seed {seed}: fit {len(fit.labels)} / validation {len(val.labels)}", flush=True)
        print(f"  {'candidate':<30s} {'best k':>6s} {'votes':>9s} {'accuracy':>9s} {'errors':>7s} {'time':>7s}")
        for name in args.candidates:
            start = time.perf_counter()
            best, table = select_knn(CANDIDATES[name], fit.images, fit.labels, val.images, val.labels, progress=False)
            accuracy = table[(table.k == best.n_neighbors) & (table.weights == best.weights)].accuracy.item()
            errors = round((1 - accuracy) * len(val.labels))
            print(f"  {name:<30s} {best.n_neighbors:>6d} {best.weights:>9s} {accuracy:>9.4f} {errors:>7d} "
                  f"{time.perf_counter() - start:>6.0f}s", flush=True)


if __name__ == "__main__":
    main()
