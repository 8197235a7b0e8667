"""KNN accuracy on MNIST: validation sweeps of the pipelines, then one test-set evaluation each.

For each pipeline (the seed study's standardised pixels, raw pixels, the tuned
recipe) the validation sweep (fit 54,000 / validation 6,000, seeded split of
the training images) scores k = 1..10 with uniform and distance weights. Then
each preset config (``seed_knn_config()``, ``baseline_knn_config(3)``,
``tuned_knn_config()``) is fitted on all 60,000 training images and scored once
on the 10,000 test images, with the time ``model.predict`` takes for the whole
test set (median of 3 calls, warm-up excluded) and the one-image latency
(``model.predict(image)``, batch 1, median of 200 calls after 20 warm-up calls).

Usage::

    .venv/bin/python benchmarks/knn_accuracy.py            # full MNIST (~10 minutes on 2 cores)
    .venv/bin/python benchmarks/knn_accuracy.py --quick    # 10,000 train / 2,000 test, k <= 5
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def _median_seconds(function, repeats: int, warmup: int = 1) -> tuple[float, float, float]:
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), float(np.min(times)), float(np.max(times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 training / 2,000 test images, k <= 5")
    parser.add_argument("--no-sweep", action="store_true", help="skip the validation sweeps")
    parser.add_argument("--pipelines", default="seed,raw,tuned", help="comma-separated subset of seed,raw,tuned")
    args = parser.parse_args(argv)

    import pandas as pd

    from lussi.data import load_dataset
    from lussi.models.knn import KNNClassifier, baseline_knn_config, seed_knn_config, tuned_knn_config
    from lussi.models.knn_select import select_knn

    dataset = load_dataset("mnist")
    if args.quick:
        dataset = dataset.subset(n_train=10000, n_test=2000, random_state=0)
    ks = range(1, 6) if args.quick else range(1, 11)
    presets = {"seed": seed_knn_config(), "raw": baseline_knn_config(3), "tuned": tuned_knn_config()}
    names = [name.strip() for name in args.pipelines.split(",")]
    print(f"{dataset.name}: {len(dataset.train_images)} train / {len(dataset.test_images)} test; "
          f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}", flush=True)

    if not args.no_sweep:
        fit, val = dataset.validation_split(fraction=0.1, random_state=0)
        print(f"validation sweep: fit {len(fit.labels)} / validation {len(val.labels)}", flush=True)
        for name in names:
            start = time.perf_counter()
            best, table = select_knn(presets[name], fit.images, fit.labels, val.images, val.labels, ks=ks)
            wide = table.pivot(index="weights", columns="k", values="accuracy")
            with pd.option_context("display.float_format", "{:.4f}".format, "display.width", 200):
                print(f"\n[{name}] {presets[name]}\n{wide}")
            chosen = table[(table.k == best.n_neighbors) & (table.weights == best.weights)].accuracy.item()
            print(f"  best on validation: k={best.n_neighbors} {best.weights} -> {chosen:.4f} "
                  f"(preset k={presets[name].n_neighbors} {presets[name].weights}); "
                  f"{time.perf_counter() - start:.0f} s", flush=True)

    print("\ntest set (fit on all training images, presets as shipped)", flush=True)
    rows = []
    for name in names:
        config = presets[name]
        start = time.perf_counter()
        model = KNNClassifier.from_config(config).fit(dataset.train_images, dataset.train_labels)
        fit_seconds = time.perf_counter() - start
        predicted = model.predict(dataset.test_images)
        accuracy = float(np.mean(predicted == dataset.test_labels))
        batch = _median_seconds(lambda m=model: m.predict(dataset.test_images), repeats=3, warmup=0)
        single = dataset.test_images[:1]
        latency = _median_seconds(lambda m=model, x=single: m.predict(x), repeats=200, warmup=20)
        rows.append({"pipeline": name, "k": config.n_neighbors, "weights": config.weights,
                     "test_accuracy": accuracy, "fit_s": fit_seconds, "predict_test_s": batch[0],
                     "predict_test_min_s": batch[1], "one_image_ms": latency[0] * 1e3,
                     "one_image_min_ms": latency[1] * 1e3, "nbytes_mb": model.nbytes / 2**20})
        print(f"  {name:<6s} test accuracy {accuracy:.4f}  fit {fit_seconds:.1f} s  predict {len(predicted)} images "
              f"{batch[0]:.2f} s (min {batch[1]:.2f})  one image {latency[0] * 1e3:.2f} ms "
              f"(min {latency[1] * 1e3:.2f})  model {model.nbytes / 2**20:.0f} MB", flush=True)
    with pd.option_context("display.float_format", "{:.4f}".format, "display.width", 200):
        print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
