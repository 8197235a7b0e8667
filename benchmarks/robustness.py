"""Robustness of the study's models to noise, shifts and rotations, and the KNN denoiser, on MNIST.

Models are trained (or loaded) through the study's cache exactly as
``lussi.study.run_study`` does, so a cache filled by a report run is reused.

    python benchmarks/robustness.py --quick           # quick profile: 6,000 train / 2,000 test images
    python benchmarks/robustness.py                   # full profile: the whole test split
    python benchmarks/robustness.py --models knn_tuned,cnn --json /tmp/robustness.json
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the quick profile (subset, few epochs)")
    parser.add_argument("--models", default="knn,knn_tuned,mlp,cnn", help="comma-separated study model names")
    parser.add_argument("--cache-dir", default=None, help="cache directory (default: lussi's)")
    parser.add_argument("--denoise-train", type=int, default=None, help="training pairs of the denoiser")
    parser.add_argument("--denoise-test", type=int, default=None, help="test images of the denoiser")
    parser.add_argument("--skip-table", action="store_true", help="only the denoiser")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)


    from lussi.config import get_profile
    from lussi.experiments.denoise import denoise_demo
    from lussi.experiments.robustness import robustness_table
    from lussi.study import run_study
    from lussi.timing import hardware_info

    profile = get_profile("quick" if args.quick else "full")
    hardware = hardware_info()
    print(f"profile {profile.name}; {hardware.get('cpu_model')}, {hardware.get('available_cores')} core(s)")
    results = {"profile": profile.name}

    if not args.skip_table:
        start = time.perf_counter()
        study = run_study(profile, models=tuple(args.models.split(",")), cache=args.cache_dir, timing=False,
                          progress=True)
        print(f"models ready in {time.perf_counter() - start:.1f} s (trained or loaded from the cache)")
        ds = study.dataset
        fns = {study.label(n): study.models[n].model.predict for n in study.models}
        start = time.perf_counter()
        table = robustness_table(fns, ds.test_images, ds.test_labels, random_state=profile.seed)
        seconds = time.perf_counter() - start
        print(f"\nrobustness table: {len(ds.test_labels):,} test images, {seconds:.1f} s\n")
        wide = table.pivot_table(index=["perturbation", "level"], columns="model", values="accuracy", sort=False)
        wide = wide[[study.label(n) for n in study.models]]
        print((100 * wide).round(2).to_string())
        results.update(table=table.to_dict(orient="records"), table_seconds=seconds,
                       n_test=len(ds.test_labels), models=list(fns))

    from lussi.data import load_dataset

    mnist = load_dataset("mnist")
    n_train = args.denoise_train or (5000 if args.quick else 20000)
    n_test = args.denoise_test or (1000 if args.quick else 10000)
    start = time.perf_counter()
    result = denoise_demo(mnist.train_images, mnist.test_images, n_train=n_train, n_test=n_test,
                          random_state=profile.seed)
    seconds = time.perf_counter() - start
    print(
        f"\ndenoiser (k={result.n_neighbors}, {result.n_train:,} training pairs, {result.n_test:,} test images, "
        f"{seconds:.1f} s): MSE {result.mse_noisy:.1f} -> {result.mse_denoised:.1f}, "
        f"PSNR {result.psnr_noisy:.2f} -> {result.psnr_denoised:.2f} dB"
    )
    results["denoise"] = {k: v for k, v in result.to_record().items() if k not in ("noisy", "denoised", "clean")}
    results["denoise"]["seconds"] = seconds
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1, default=float)
        print(f"wrote {args.json}")
    return results


if __name__ == "__main__":
    main()
