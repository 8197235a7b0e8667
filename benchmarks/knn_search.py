"""Exact k-NN search on MNIST: lussi's bound engine vs scikit-learn brute force vs faiss IndexFlatL2.

All engines run in this one process, one after another, on the same data:
the 60,000 training images against the 10,000 test images (raw pixels), plus
the tuned pipeline's PCA features (lussi vs faiss). Times include building the
index (fit / add). Peak memory is the highest RSS sampled every 2 ms during an
engine's run, minus the RSS just before it.

Usage::

    .venv/bin/python benchmarks/knn_search.py            # full MNIST, k=3
    .venv/bin/python benchmarks/knn_search.py --quick    # 20,000 x 2,000 sanity run
    .venv/bin/python benchmarks/knn_search.py --seed-knn # only the seed's standardised pixels
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import numpy as np
import psutil


class PeakRSS:
    """Context manager sampling this process's RSS in a thread; ``.peak_mb`` is the peak above the start."""

    def __init__(self, interval: float = 0.002):
        self.interval = interval
        self.process = psutil.Process(os.getpid())

    def __enter__(self):
        self.start = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)
        self.peak_mb = (self.peak - self.start) / 2**20
        self.peak_total_mb = self.peak / 2**20


def run(name, function):
    with PeakRSS() as memory:
        start = time.perf_counter()
        distances, indices = function()
        seconds = time.perf_counter() - start
    print(f"  {name:<28s} {seconds:7.2f} s   peak RSS +{memory.peak_mb:6.0f} MB (process {memory.peak_total_mb:6.0f} MB)",
          flush=True)
    return seconds, np.asarray(distances, dtype=np.float64), np.asarray(indices)


def agreement(reference, other, ref_distances):
    """Share of neighbour slots equal to the reference, and share among slots without a distance tie."""
    same = reference == other
    padded = np.pad(ref_distances, ((0, 0), (1, 1)), constant_values=np.nan)
    distinct = (padded[:, 1:-1] != padded[:, :-2]) & (padded[:, 1:-1] != padded[:, 2:])
    return same.mean(), same[distinct].mean()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 training x 2,000 test images")
    parser.add_argument("-k", type=int, default=3, help="neighbours per query (default 3, the seed study's k)")
    parser.add_argument("--skip-sklearn", action="store_true", help="leave out scikit-learn (about 20 s)")
    parser.add_argument("--seed-knn", action="store_true", help="only the seed KNN's standardised pixels")
    args = parser.parse_args(argv)
    if args.seed_knn:
        return seed_knn(quick=args.quick)

    import faiss
    from sklearn.neighbors import KNeighborsClassifier

    from lussi.data import load_dataset
    from lussi.models.knn import KNNClassifier, tuned_knn_config
    from lussi.models.search import BoundIndex, exact_kneighbors

    dataset = load_dataset("mnist")
    if args.quick:
        dataset = dataset.subset(n_train=20000, n_test=2000, random_state=0)
    train = dataset.train_images.reshape(len(dataset.train_images), -1)
    queries = dataset.test_images.reshape(len(dataset.test_images), -1)
    k = args.k
    print(f"train {train.shape} queries {queries.shape} k={k}; cores {os.cpu_count()}, "
          f"faiss threads {faiss.omp_get_max_threads()}, load average {os.getloadavg()[0]:.1f}")
    # scikit-learn and faiss get float32 pixels in [0, 1]: scikit-learn's fast float path and faiss's
    # native type. Distances are rescaled by 255 to compare with lussi's uint8 pixels.
    train_f = train.astype(np.float32) / 255
    queries_f = queries.astype(np.float32) / 255

    def sklearn_brute():
        model = KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(train_f, dataset.train_labels)
        distances, indices = model.kneighbors(queries_f)
        return distances * 255, indices

    def faiss_flat():
        index = faiss.IndexFlatL2(train.shape[1])
        index.add(train_f)
        distances, indices = index.search(queries_f, k)
        return np.sqrt(np.maximum(distances, 0)) * 255, indices

    def lussi_bound():
        return exact_kneighbors(train, queries, k, engine="bound")

    print("raw pixels (784 dimensions)")
    results = {"lussi bound (uint8, exact)": run("lussi bound (uint8, exact)", lussi_bound)}
    results["faiss IndexFlatL2"] = run("faiss IndexFlatL2", faiss_flat)
    if not args.skip_sklearn:
        results["sklearn brute"] = run("sklearn brute", sklearn_brute)
    # A second lussi run so the load of the moment shows in the spread.
    results["lussi bound (again)"] = run("lussi bound (again)", lussi_bound)

    reference_name = "sklearn brute" if "sklearn brute" in results else "faiss IndexFlatL2"
    _, ref_d, ref_i = results[reference_name]
    lussi_seconds = min(results["lussi bound (uint8, exact)"][0], results["lussi bound (again)"][0])
    for name, (seconds, distances, indices) in results.items():
        all_slots, untied = agreement(ref_i, indices, ref_d)
        print(f"  {name:<28s} x{seconds / lussi_seconds:5.2f} the time of lussi (best of 2); neighbours equal to "
              f"{reference_name}: {all_slots:.5f} (untied slots {untied:.5f}); max |distance diff| "
              f"{np.max(np.abs(distances - ref_d)):.3g}")

    print("tuned pipeline's PCA features (search alone, index included)")
    model = KNNClassifier.from_config(tuned_knn_config()).fit(dataset.train_images, dataset.train_labels)
    features = model._features
    query_features = model._transform(dataset.test_images)
    print(f"  train features {features.shape} {features.dtype}")

    def faiss_pca():
        index = faiss.IndexFlatL2(features.shape[1])
        index.add(features)
        distances, indices = index.search(query_features, k)
        return np.sqrt(np.maximum(distances, 0)), indices

    def lussi_pca():
        index = BoundIndex(features)
        squared, indices = index.search_squared(query_features, k)
        return np.sqrt(squared), indices

    pca = {"lussi bound": run("lussi bound", lussi_pca), "faiss IndexFlatL2": run("faiss IndexFlatL2", faiss_pca)}
    (t_l, d_l, i_l), (t_f, _, i_f) = pca["lussi bound"], pca["faiss IndexFlatL2"]
    all_slots, untied = agreement(i_l, i_f, d_l)
    print(f"  faiss / lussi time: {t_f / t_l:.2f}; neighbours equal: {all_slots:.5f} (untied slots {untied:.5f})")


def seed_knn(*, quick: bool = False):
    """The seed KNN (StandardScaler pixels, k=3) predicting the test set: its bound settings vs the default."""
    import faiss

    from lussi.data import load_dataset
    from lussi.models.knn import KNNClassifier, seed_knn_config
    from lussi.models.search import BoundIndex

    dataset = load_dataset("mnist")
    if quick:
        dataset = dataset.subset(n_train=20000, n_test=2000, random_state=0)
    fit, _ = dataset.validation_split(fraction=0.1, random_state=0)
    model = KNNClassifier.from_config(seed_knn_config()).fit(fit.images, fit.labels)
    features, queries = model._features, model._transform(dataset.test_images)
    print(f"seed KNN: train features {features.shape} {features.dtype}, queries {queries.shape}; "
          f"load average {os.getloadavg()[0]:.1f}")
    indexes, timings = {}, {}
    settings = {"default bound (d=128)": {}, "seed KNN's bound": model._bound_settings()}
    for name, options in settings.items():
        def search(name=name, options=options):
            indexes[name] = BoundIndex(features, **options)
            return indexes[name].search_squared(queries, 3)
        seconds, _, indices = run(f"lussi {name}", search)
        stats = indexes[name].stats
        print(f"    d={indexes[name].n_components}: of {stats['queries']:,} queries {stats['extended']:,} re-ranked beyond "
              f"the first step, {stats['retries']:,} searched again")
        timings[name] = (seconds, indices)

    def faiss_flat():
        index = faiss.IndexFlatL2(features.shape[1])
        index.add(features)
        return index.search(queries, 3)

    flat_seconds, _, _ = run("faiss IndexFlatL2", faiss_flat)
    (slow, slow_i), (fast, fast_i) = timings.values()
    print(f"  seed KNN's bound: x{slow / fast:.2f} faster than the default, x{flat_seconds / fast:.2f} the speed of "
          f"faiss; neighbours equal to the default bound's: {np.mean(slow_i == fast_i):.5f}")
    start = time.perf_counter()
    predicted = model.predict(dataset.test_images)
    print(f"  seed KNN predict (test set): {time.perf_counter() - start:.2f} s, accuracy "
          f"{np.mean(predicted == dataset.test_labels):.4f}")


if __name__ == "__main__":
    main()
