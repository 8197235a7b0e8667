"""Train a lussi network on MNIST's standard split and print its speed and accuracy.

Validation is carved from the training images (10 %, stratified, seed 0); the
test accuracy is printed once at the end, for the record, never for choosing.

    python benchmarks/network_training.py --model cnn            # the tuned CNN
    python benchmarks/network_training.py --model mlp            # the seed MLP
    python benchmarks/network_training.py --quick                # 1 epoch on 6,000 images
    python benchmarks/network_training.py --model cnn --set epochs=8 --set batch_size=256 --no-test
    python benchmarks/network_training.py --model cnn --set precision=mixed_bfloat16 --no-test
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time

import numpy as np


def _override(config, assignments):
    fields = {f.name: f for f in dataclasses.fields(config)}
    changes = {}
    for item in assignments:
        key, _, value = item.partition("=")
        if key not in fields:
            raise SystemExit(f"unknown config field {key!r}; fields: {', '.join(fields)}")
        changes[key] = json.loads(value) if value[:1] in "[{" else type(getattr(config, key))(
            value.lower() in ("1", "true") if isinstance(getattr(config, key), bool) else value
        )
    return dataclasses.replace(config, **changes)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("mlp", "cnn"), default="mlp")
    parser.add_argument("--quick", action="store_true", help="1 epoch on a 6,000-image subset")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a config field")
    parser.add_argument("--no-test", action="store_true", help="skip the test-set figure (recipe search)")
    parser.add_argument("--save", metavar="DIR", help="save the trained model into DIR (created, must be empty)")
    args = parser.parse_args(argv)

    import keras

    from lussi import progress
    from lussi.data import load_dataset
    from lussi.models.network import NetworkClassifier, cnn_config, cpu_has_bf16, seed_mlp_config

    dataset = load_dataset("mnist")
    config = cnn_config() if args.model == "cnn" else seed_mlp_config()
    if args.quick:
        dataset = dataset.subset(n_train=6000, n_test=2000, random_state=0)
        config = dataclasses.replace(config, epochs=1, warmup_epochs=0.0)
    config = _override(config, args.set)
    fit, val = dataset.validation_split(fraction=0.1, random_state=0)
    print(f"keras {keras.__version__} ({keras.backend.backend()}), {os.cpu_count()} cores, {platform.processor() or platform.machine()}")
    print(f"fit {len(fit)}, validation {len(val)}, test {len(dataset.test_labels)} images; "
          f"bfloat16 units in this CPU: {'yes' if cpu_has_bf16() else 'no'}")
    print("config:", json.dumps(config.to_dict()))

    model = NetworkClassifier.from_config(config)
    start = time.perf_counter()
    with progress.showing():
        history = model.fit(fit.images, fit.labels, validation=(val.images, val.labels)).history_
    total = time.perf_counter() - start
    seconds = np.asarray(history["epoch_seconds"])
    print(f"parameters: {model.n_params:,} ({model.nbytes / 1e6:.2f} MB)")
    print(f"seconds per epoch: median {np.median(seconds):.1f} (first {seconds[0]:.1f}, min {seconds.min():.1f})")
    print(f"total training time: {total:.1f} s for {config.epochs} epochs")
    print(f"validation accuracy: {history['val_accuracy'][-1]:.4f} (best {max(history['val_accuracy']):.4f})")
    if args.save:
        from pathlib import Path

        Path(args.save).mkdir(parents=True, exist_ok=True)
        model.save(args.save)
        print(f"saved to {args.save}")
    if not args.no_test:
        accuracy = float(np.mean(model.predict(dataset.test_images) == dataset.test_labels))
        print(f"test accuracy: {accuracy:.4f}")


if __name__ == "__main__":
    main()
