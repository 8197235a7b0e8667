"""Peak memory of predicting 100,000 vs 10,000 MNIST images per model, chunked vs not.

Every measurement runs in a fresh process: it loads one saved model and the
MNIST test set, tiles the test set to ``n`` images (100,000 = ten copies),
warms the model up on 100 images, then samples its resident set size (RSS,
psutil, every 2 ms) while ``model.predict`` runs. Reported per row:

``baseline``  RSS before the call (interpreter, libraries, model, the uint8 batch)
``peak``      highest RSS during the call
``extra``     peak - baseline: what predicting costs on top

``--unchunked`` rows set the model's chunk size to the whole batch, to show what
the chunking saves (the CNN is skipped unchunked at 100,000 images: its first
activation alone would be 100,000 x 28 x 28 x 32 float32 = 10 GB).

Prediction cost does not depend on the trained weights, so the networks are
trained for one epoch on 2,000 images; the KNN stores the full 60,000 training
images (its memory does depend on them). Models are saved under
``benchmarks/results/memory-models`` and reused.

    python benchmarks/memory.py                       # every model at 10k and 100k, chunked and not
    python benchmarks/memory.py --models knn --sizes 100000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
MODELS_DIR = RESULTS / "memory-models"
MB = 1e6
# knn: raw pixels, k=3 (the search chunks by itself); knn_scaled: the seed's standardised pixels, whose
# float32 features are what predict's own chunking bounds; mlp, cnn: the study's networks.
MODELS = ("knn", "knn_scaled", "mlp", "cnn")


def _train(name: str, directory: Path, n_train: int) -> None:
    """Fit and save one benchmark model into ``directory`` (created)."""
    from lussi.data import load_dataset

    dataset = load_dataset("mnist")
    directory.mkdir(parents=True)
    if name.startswith("knn"):
        from lussi.models.knn import KNNClassifier, baseline_knn_config, seed_knn_config

        config = baseline_knn_config(3) if name == "knn" else seed_knn_config()
        model = KNNClassifier.from_config(config).fit(dataset.train_images[:n_train], dataset.train_labels[:n_train])
    else:
        from lussi.models.network import NetworkClassifier, cnn_config, seed_mlp_config

        config = seed_mlp_config() if name == "mlp" else cnn_config()
        import dataclasses

        model = NetworkClassifier.from_config(dataclasses.replace(config, epochs=1, warmup_epochs=0.0))
        model.fit(dataset.train_images[:2000], dataset.train_labels[:2000])
    model.save(directory)


def _measure(name: str, directory: Path, n: int, unchunked: bool) -> dict:
    """Child process: RSS before and during one predict of ``n`` tiled test images."""
    import psutil

    from lussi.data import load_dataset

    test = load_dataset("mnist").test_images
    batch = np.tile(test, (-(-n // len(test)), 1, 1))[:n]
    if name.startswith("knn"):
        import lussi.models.knn as module
        from lussi.models.knn import KNNClassifier

        model = KNNClassifier.load(directory)
        chunk = module._CHUNK
        if unchunked:
            module._CHUNK = n
    else:
        import lussi.models.network as module
        from lussi.models.network import NetworkClassifier

        model = NetworkClassifier.load(directory)
        chunk = module.PREDICT_CHUNK
        if unchunked:
            module.PREDICT_CHUNK = n
    model.predict(test[:100])  # warm-up: graphs traced, thread pools started
    process = psutil.Process()
    baseline = process.memory_info().rss
    peak = baseline
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    labels = model.predict(batch)
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    peak = max(peak, process.memory_info().rss)
    # Tiled copies must get identical answers: chunking never changes a prediction.
    first = labels[: len(test)]
    consistent = all(np.array_equal(labels[i : i + len(test)], first[: len(labels[i : i + len(test)])])
                     for i in range(0, n, len(test)))
    return {
        "model": name,
        "n_images": n,
        "chunk": "whole batch" if unchunked else chunk,
        "baseline_mb": round(baseline / MB, 1),
        "peak_mb": round(peak / MB, 1),
        "extra_mb": round((peak - baseline) / MB, 1),
        "batch_mb": round(batch.nbytes / MB, 1),
        "seconds": round(seconds, 2),
        "consistent": bool(consistent),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000])
    parser.add_argument("--no-unchunked", action="store_true", help="skip the unchunked comparison rows")
    parser.add_argument("--knn-train", type=int, default=60_000, help="training images stored by the KNN")
    parser.add_argument("--child", nargs=3, metavar=("MODEL", "N", "UNCHUNKED"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    if args.child:
        name, n, unchunked = args.child
        print(json.dumps(_measure(name, MODELS_DIR / name, int(n), unchunked == "1")))
        return 0

    rows = []
    for name in args.models:
        directory = MODELS_DIR / name
        if not directory.is_dir():
            print(f"training the {name} benchmark model ...", file=sys.stderr, flush=True)
            _train(name, directory, args.knn_train)
        for n in args.sizes:
            for unchunked in ([False] if args.no_unchunked else [False, True]):
                if unchunked and name == "cnn" and n > 10_000:
                    continue  # 10 GB of activations: not something to run on a shared machine
                result = subprocess.run(
                    [sys.executable, __file__, "--child", name, str(n), "1" if unchunked else "0"],
                    capture_output=True, text=True, check=False,
                )
                if result.returncode != 0:
                    print(result.stderr[-2000:], file=sys.stderr)
                    return result.returncode
                row = json.loads(result.stdout.strip().splitlines()[-1])
                rows.append(row)
                print(
                    f"{row['model']:>4} n={row['n_images']:>7,} chunk={str(row['chunk']):>11}: "
                    f"baseline {row['baseline_mb']:7.1f} MB, peak {row['peak_mb']:7.1f} MB, "
                    f"extra {row['extra_mb']:7.1f} MB (batch itself {row['batch_mb']:.0f} MB), "
                    f"{row['seconds']:.1f} s, tiles agree: {row['consistent']}",
                    flush=True,
                )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "memory.json"
    # Rows of earlier runs for other (model, n, chunk) cells are kept, so runs can be split up.
    def cell(row):
        return row["model"], row["n_images"], str(row["chunk"])

    kept = json.loads(out.read_text()) if out.is_file() else []
    new = {cell(row) for row in rows}
    out.write_text(json.dumps([r for r in kept if cell(r) not in new] + rows, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
