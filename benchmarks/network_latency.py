"""Prediction latency of lussi's networks per call path: Keras predict() vs a direct call vs the fast path.

Weights do not change the cost of a forward pass, so each network is trained
for one epoch on 2,000 MNIST images just to obtain a real model. Every cell is
warmed up, then timed with ``time.perf_counter`` for ``--budget`` seconds (at
least ``--min-repeats`` calls); median and p90 are printed in milliseconds.

    python benchmarks/network_latency.py
    python benchmarks/network_latency.py --models mlp --batch-sizes 1 32 --budget 2
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import numpy as np


def _time(fn, batch, *, budget: float, min_repeats: int, warmup: int = 5) -> np.ndarray:
    for _ in range(warmup):
        fn(batch)
    times = []
    deadline = time.perf_counter() + budget
    while len(times) < min_repeats or time.perf_counter() < deadline:
        start = time.perf_counter()
        fn(batch)
        times.append(time.perf_counter() - start)
    return np.asarray(times)


def _call_paths(model):
    """Name -> fn(uint8 images) for every path compared; all return probabilities as ndarray."""
    import keras

    net = model.keras_model_
    paths = {
        "keras predict()": lambda images: net.predict(model._inputs(images), verbose=0, batch_size=max(32, len(images))),
        "predict_on_batch()": lambda images: net.predict_on_batch(model._inputs(images)),
        "model(x, training=False)": lambda images: keras.ops.convert_to_numpy(net(model._inputs(images), training=False)),
        f"fast path: {model.call_path(1)}": lambda images: model._forward()(model._inputs(images)),
        "NetworkClassifier.predict_proba()": model.predict_proba,
    }
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        # XLA compiles once per distinct batch size, so it is only a candidate for fixed-size serving.
        xla = tf.function(lambda x: net(x, training=False), jit_compile=True, reduce_retracing=True)
        paths["tf.function(jit_compile=True)"] = lambda images: xla(tf.constant(model._inputs(images))).numpy()
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=("mlp", "cnn"), default=["mlp", "cnn"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 100, 1000])
    parser.add_argument("--budget", type=float, default=1.0, help="seconds timed per cell (after warm-up)")
    parser.add_argument("--min-repeats", type=int, default=20)
    args = parser.parse_args(argv)

    import keras

    from lussi.data import load_dataset
    from lussi.models.network import NetworkClassifier, cnn_config, seed_mlp_config

    dataset = load_dataset("mnist").subset(n_train=2000, n_test=max(100, *args.batch_sizes), random_state=0)
    threads = "?"
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        intra = tf.config.threading.get_intra_op_parallelism_threads()
        threads = f"TF intra-op {intra}" if intra else f"TF intra-op default (all {os.cpu_count()} cores)"
    print(f"keras {keras.__version__} ({keras.backend.backend()}), {os.cpu_count()} cores, threads: {threads}")
    header = f"{'model':5} {'batch':>6} {'call path':48} {'median ms':>10} {'p90 ms':>9} {'per image ms':>13} {'x faster than predict()':>24} {'repeats':>8}"
    print(header)
    for name in args.models:
        config = seed_mlp_config() if name == "mlp" else cnn_config()
        model = NetworkClassifier.from_config(dataclasses.replace(config, epochs=1, warmup_epochs=0.0))
        model.fit(dataset.train_images, dataset.train_labels)
        reference = model.keras_model_.predict(model._inputs(dataset.test_images[:8]), verbose=0)
        for size in args.batch_sizes:
            batch = dataset.test_images[:size]
            baseline = None
            for path, fn in _call_paths(model).items():
                np.testing.assert_allclose(np.asarray(fn(dataset.test_images[:8])), reference, rtol=1e-4, atol=1e-5)
                times = _time(fn, batch, budget=args.budget, min_repeats=args.min_repeats) * 1e3
                median, p90 = np.median(times), np.percentile(times, 90)
                baseline = baseline or median
                print(
                    f"{name:5} {size:>6} {path:48} {median:>10.3f} {p90:>9.3f} {median / size:>13.4f} "
                    f"{baseline / median:>24.1f} {len(times):>8}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
