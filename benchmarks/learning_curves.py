"""Learning curves on MNIST: test accuracy and fit/predict time of KNN and the networks by training size.

Subsets are nested and stratified (``lussi.learning.nested_order``); networks
hold out 10 % of each subset for validation and train for at least
``--min-steps`` optimizer steps (more epochs on small sets), at most
``--max-epochs`` epochs; the CNN runs only at ``--cnn-sizes``.

    python benchmarks/learning_curves.py --quick      # quick profile's subset (6,000 / 2,000), sizes up to 5,000
    python benchmarks/learning_curves.py              # full MNIST, sizes 500 .. 60,000
    python benchmarks/learning_curves.py --models knn,mlp --sizes 500,1000,2000 --json /tmp/lc.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the quick profile's subset and epoch scale")
    parser.add_argument("--sizes", type=_ints, default=None, help="training sizes, comma-separated")
    parser.add_argument("--models", default="knn,knn_tuned,mlp,cnn", help="comma-separated: knn, knn_tuned, mlp, cnn")
    parser.add_argument("--cnn-sizes", type=_ints, default=None, help="sizes at which the CNN is trained")
    parser.add_argument("--min-steps", type=int, default=None, help="minimum optimizer steps of a network")
    parser.add_argument("--max-epochs", type=int, default=None, help="maximum epochs of a network")
    parser.add_argument("--cnn-max-epochs", type=int, default=None, help="maximum epochs of the CNN")
    parser.add_argument("--json", default=None, help="also write the table here")
    args = parser.parse_args(argv)

    from lussi.config import get_profile
    from lussi.data import load_dataset
    from lussi import progress
    from lussi.experiments.learning import crossover_points
    from lussi.learning import knn_factory, learning_curve, network_factory
    from lussi.models.knn import baseline_knn_config, tuned_knn_config
    from lussi.models.network import cnn_config, seed_mlp_config
    from lussi.timing import hardware_info

    profile = get_profile("quick" if args.quick else "full")
    dataset = load_dataset("mnist").subset(n_train=profile.n_train, n_test=profile.n_test, random_state=profile.seed)
    if args.quick:
        sizes = args.sizes or (500, 1000, 2000, 5000)
        cnn_sizes = args.cnn_sizes or (1000, 5000)
        min_steps = 200 if args.min_steps is None else args.min_steps
        max_epochs = args.max_epochs or 20
    else:
        sizes = args.sizes or (500, 1000, 2000, 5000, 10000, 30000, 60000)
        cnn_sizes = args.cnn_sizes or (500, 2000, 10000, 60000)
        min_steps = 1000 if args.min_steps is None else args.min_steps
        max_epochs = args.max_epochs or 50

    def scaled(config):
        return dataclasses.replace(config, epochs=profile.epochs(config.epochs), seed=profile.seed)

    available = {
        "knn": lambda: knn_factory(baseline_knn_config(3)),
        "knn_tuned": lambda: knn_factory(tuned_knn_config()),
        "mlp": lambda: network_factory(scaled(seed_mlp_config()), min_steps=min_steps, max_epochs=max_epochs,
                                       validation_fraction=profile.validation_fraction),
        "cnn": lambda: network_factory(scaled(cnn_config()), min_steps=min_steps,
                                       max_epochs=args.cnn_max_epochs or max_epochs, sizes=cnn_sizes,
                                       validation_fraction=profile.validation_fraction),
    }
    names = args.models.split(",")
    unknown = [n for n in names if n not in available]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; choose from {list(available)}")
    factories = {name: available[name]() for name in names}

    hardware = hardware_info()
    print(f"profile {profile.name}: {len(dataset.train_labels):,} train / {len(dataset.test_labels):,} test images; "
          f"sizes {sizes}; CNN at {cnn_sizes}; networks >= {min_steps} steps, <= {max_epochs} epochs; "
          f"{hardware.get('cpu_model')}, {hardware.get('available_cores')} core(s)")
    start = time.perf_counter()
    with progress.showing():
        table = learning_curve(dataset, sizes, factories, validation_fraction=profile.validation_fraction,
                               random_state=profile.seed)
    seconds = time.perf_counter() - start
    print(f"\nlearning curve in {seconds:.1f} s\n")
    shown = table.copy()
    shown["accuracy"] = (100 * shown["accuracy"]).round(2)
    for column in ("low", "high"):
        shown[column] = (100 * shown[column]).round(2)
    print(shown.drop(columns=["predict_seconds"]).round(3).to_string(index=False))
    print("\ntotal seconds per model (fit + predict):")
    print(table.assign(total=table["train_seconds"] + table["predict_seconds"]).groupby("model", sort=False)["total"]
          .sum().round(1).to_string())
    crossings = {}
    for a in [n for n in names if n.startswith("knn")]:
        for b in [n for n in names if not n.startswith("knn")]:
            for metric in ("accuracy", "train_seconds", "predict_seconds"):
                points = crossover_points(table, a, b, metric=metric)
                crossings[f"{b} - {a} ({metric})"] = points
                print(f"crossover {b} vs {a} on {metric}: {points or 'none'}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"profile": profile.name, "seconds": seconds, "table": table.to_dict(orient="records"),
                       "crossovers": crossings}, handle, indent=1, default=float)
        print(f"wrote {args.json}")
    return table


if __name__ == "__main__":
    main()
