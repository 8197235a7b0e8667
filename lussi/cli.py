"""Command line: ``lussi train | evaluate | info | render | predict | download``.

Errors the user can fix (bad data, bad options, a failing report cell) print
one line ``lussi: error: ...`` and exit with status 2; ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import interrupts
from .errors import UsageError

__all__ = ["main"]

EXIT_USAGE = 2
_LOCK_HELP = ("give up waiting for a cache entry that another lussi run is building after SECONDS "
              "(default $LUSSI_LOCK_TIMEOUT or 3600; 'inf' waits forever); after a few seconds of waiting "
              "lussi says which process holds it")


def _add_common(parser: argparse.ArgumentParser, *, models: bool = True) -> None:
    parser.add_argument("--profile", default="full", help="run size: full (default) or quick (subsets, few epochs)")
    parser.add_argument(
        "--dataset", default="mnist", help="mnist (default), digits, or a directory holding the four idx files"
    )
    parser.add_argument("--cache-dir", default=None, help="artefact cache (default $LUSSI_CACHE_DIR or ~/.cache/lussi)")
    parser.add_argument("--lock-timeout", default=None, metavar="SECONDS", help=_LOCK_HELP)
    if models:
        parser.add_argument(
            "--models", default=None, help="comma-separated subset: knn_seed,knn,knn_tuned,mlp,cnn (default all)"
        )
        parser.add_argument("--rebuild", action="store_true", help="retrain even when a cached model exists")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lussi", description="KNN vs Keras neural networks on handwritten digits.",
        epilog="Relative paths (options and LUSSI_CACHE_DIR, LUSSI_DATA_DIR) are taken from the current directory.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output (TensorFlow's included)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser("train", help="train (or load from the cache) the study's models")
    _add_common(train)

    evaluate = sub.add_parser("evaluate", help="test accuracy with 95%% intervals per model")
    _add_common(evaluate)
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON")

    info = sub.add_parser("info", help="data, cache and versions")
    _add_common(info, models=False)
    info.add_argument("--json", action="store_true", help="print as JSON")

    render = sub.add_parser("render", help="render report.qmd to HTML and slides")
    render.add_argument("qmd", nargs="?", default="report.qmd", help="the report (default ./report.qmd)")
    render.add_argument("--engine", choices=("auto", "builtin", "quarto"), default="auto",
                        help="quarto if on PATH, else the built-in engine (default auto)")
    render.add_argument("--to", default="html,revealjs", help="formats (default html,revealjs)")
    render.add_argument("--profile", default=None, help="report parameter: full or quick")
    render.add_argument("--dataset", default=None, help="report parameter: mnist, digits or an idx directory")
    render.add_argument("--cache-dir", default=None, help="artefact cache (default $LUSSI_CACHE_DIR or ~/.cache/lussi)")
    render.add_argument("--lock-timeout", default=None, metavar="SECONDS", help=_LOCK_HELP)
    render.add_argument("-P", "--param", action="append", default=[], metavar="KEY:VALUE",
                        help="extra report parameter, as with quarto render -P")

    predict = sub.add_parser("predict", help="read handwritten digits from your own images (PNG/JPEG photos or scans)")
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="one digit per picture")
    _add_common(predict)
    predict.add_argument("--explain", metavar="DIR",
                         help="write one HTML page per image: the digit as the models see it, their top-3 "
                              "probabilities and the KNN's nearest training digits")
    predict.add_argument("--json", action="store_true", help="print the predictions as JSON")

    download = sub.add_parser("download", help="download MNIST from the canonical mirrors (checksum-verified)")
    download.add_argument("--data-dir", default=None, help="destination (default: where lussi looks for MNIST)")
    return parser


def _run_study(args, *, timing: bool):
    from .cache import Cache
    from .study import run_study

    return run_study(
        args.profile,
        dataset=args.dataset,
        models=getattr(args, "models", None),
        cache=Cache(args.cache_dir, lock_timeout=args.lock_timeout),
        rebuild=getattr(args, "rebuild", False),
        timing=timing,
        progress=not args.quiet,
    )


def _cmd_train(args) -> int:
    study = _run_study(args, timing=False)
    for name, trained in study.models.items():
        state = "cached" if trained.entry.hit else "trained"
        print(f"{study.label(name)}: {state}, training {trained.training_seconds:.1f} s, {trained.entry.path}")
    return 0


def _cmd_evaluate(args) -> int:
    study = _run_study(args, timing=False)
    rows = []
    for name, trained in study.models.items():
        interval = study.accuracy(name)
        rows.append(
            {
                "model": name,
                "label": study.label(name),
                "accuracy": interval.accuracy,
                "ci95_low": interval.low,
                "ci95_high": interval.high,
                "n_test": interval.n,
                "validation_accuracy": trained.validation_accuracy,
                "training_seconds": round(trained.training_seconds, 3),
                "config": trained.config.to_dict(),
            }
        )
    if args.json:
        print(json.dumps({"dataset": study.dataset.name, "profile": study.profile.name, "models": rows}, indent=2))
        return 0
    import pandas as pd

    table = pd.DataFrame(
        {
            "model": [r["label"] for r in rows],
            "test accuracy": [f"{r['accuracy']:.2%}" for r in rows],
            "95% interval": [f"{r['ci95_low']:.2%} – {r['ci95_high']:.2%}" for r in rows],
            "validation": ["" if r["validation_accuracy"] is None else f"{r['validation_accuracy']:.2%}" for r in rows],
            "training": [f"{r['training_seconds']:.1f} s" for r in rows],
        }
    )
    print(f"{study.dataset.name}: {len(study.y_test)} test images, profile {study.profile.name}")
    print(table.to_string(index=False))
    return 0


def _cmd_info(args) -> int:
    from . import __version__
    from .cache import Cache
    from .config import get_profile
    from .data import load_dataset
    from .timing import hardware_info

    profile = get_profile(args.profile)
    dataset = load_dataset(args.dataset).subset(n_train=profile.n_train, n_test=profile.n_test, random_state=profile.seed)
    cache = Cache(args.cache_dir, lock_timeout=args.lock_timeout)
    facts = {
        "lussi": __version__,
        "dataset": {k: v for k, v in dataset.describe().items() if not k.endswith("class_counts")},
        "cache": {"directory": str(cache.root), "entries": cache.entries()},
        "hardware": hardware_info(),
        "keras_backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
    }
    if args.json:
        print(json.dumps(facts, indent=2, default=str))
        return 0
    data = facts["dataset"]
    print(f"lussi {facts['lussi']}")
    print(f"dataset   {data['name']} ({data['source']}): {data['n_train']} train / {data['n_test']} test, "
          f"images {data['image_shape'][0]}x{data['image_shape'][1]}, {data['n_classes']} classes, "
          f"fingerprint {data['fingerprint']}")
    entries = facts["cache"]["entries"]
    total = sum(e["size_bytes"] for e in entries)
    print(f"cache     {cache.root}: {len(entries)} entries, {total / 1e6:.1f} MB")
    for entry in entries:
        flag = "ok" if entry["ok"] else f"DAMAGED ({entry['problem']})"
        print(f"          {entry['name']}  {entry['size_bytes'] / 1e6:.1f} MB  {flag}")
    print(f"backend   keras {facts['keras_backend']}")
    for key, value in facts["hardware"].items():
        print(f"{key:<9} {value}")
    return 0


def _cmd_render(args) -> int:
    from .cli_checks import DATASET_NAMES, check_output_dir, check_report_files, export_for_kernel
    from .render import render_report

    params = {}
    for item in args.param:
        key, sep, value = item.partition(":")
        if not sep or not key:
            raise UsageError(f"-P expects KEY:VALUE, got {item!r}")
        params[key.strip()] = value.strip()
    params.update({key: value for key, value in (("profile", args.profile), ("dataset", args.dataset)) if value})
    for key in ("profile", "dataset"):
        if key in params and not params[key]:
            raise UsageError(f"-P {key}: has an empty value; give a {key} or leave the parameter out")
    if "profile" in params:
        from .config import get_profile

        get_profile(params["profile"])  # fail before starting a kernel
    if params.get("dataset") and params["dataset"] not in DATASET_NAMES:
        params["dataset"] = str(Path(params["dataset"]).absolute())  # the kernel runs in the report's folder
    formats = tuple(f.strip() for f in args.to.split(",") if f.strip())
    if not formats:
        raise UsageError(f"--to {args.to!r} names no format: give html, revealjs or both")
    qmd = check_report_files(Path(args.qmd))
    check_output_dir(qmd.parent, "the report's folder")  # the outputs go there; fail before the kernel runs
    export_for_kernel(args)
    result = render_report(qmd, engine=args.engine, formats=formats, params=params, progress=not args.quiet)
    for fmt, path in result.outputs.items():
        try:
            print(f"{fmt}: {path} ({path.stat().st_size / 1e6:.1f} MB)")
        except FileNotFoundError:  # another render of the same .qmd started and removed it since
            print(f"{fmt}: {path} (already replaced by a concurrent render)")
    print(f"rendered with {result.engine} in {result.seconds:.1f} s")
    return 0


def _load_pictures(paths, size: int) -> tuple[list, list, list[str]]:
    """(images, paths) of the pictures that load, and one error message per picture that does not."""
    from .handwriting.files import ImageError, load_digit_image

    images, good, errors = [], [], []
    for path in paths:
        try:
            images.append(load_digit_image(path, size=size))
            good.append(path)
        except ImageError as error:
            errors.append(str(error))
            print(f"lussi: error: {error}", file=sys.stderr, flush=True)
    return images, good, errors


def _cmd_predict(args) -> int:
    import numpy as np

    from .cli_checks import check_output_dir
    from .cli_format import format_predictions
    from .handwriting.explain import write_explanations
    from .handwriting.predictions import predict_images

    if args.explain:
        check_output_dir(args.explain, "--explain")  # before any model is trained
        if args.models is not None and not any(name.startswith("knn") for name in args.models):
            raise UsageError("--explain shows a KNN's neighbours: include a KNN model in --models")
    images, good, errors = _load_pictures(args.images, 28)
    if not good:
        return EXIT_USAGE  # each file's error is printed already
    study = _run_study(args, timing=False)
    height, width = study.dataset.image_shape
    if height != width:
        raise UsageError(f"predict needs square images, the dataset's are {height}x{width}")
    if height != 28:
        from .handwriting.files import load_digit_image

        images = [load_digit_image(path, size=height) for path in good]  # they loaded once already
    images, names = np.stack(images), [Path(p).name for p in good]
    rows = predict_images(images, {name: trained.model for name, trained in study.models.items()})
    if args.json:
        found = {p: {model: result.to_record() for model, result in row.items()} for p, row in zip(good, rows)}
        failures = iter(errors)
        listing = [{"file": Path(p).name, "predictions": found[p]} if p in found else
                   {"file": Path(p).name, "error": next(failures)} for p in args.images]
        print(json.dumps(listing, indent=2, default=int))
    else:
        print(format_predictions(rows, study.dataset.class_names, names=names, labels=study.labels))
    if args.explain:
        try:
            knn = study.best("knn")
        except ValueError:
            raise UsageError("--explain shows a KNN's neighbours: include a KNN model in --models") from None
        pages = write_explanations(
            args.explain, images, names, study.models[knn].model,
            train_images=study.dataset.train_images, train_labels=study.dataset.train_labels,
            class_names=study.dataset.class_names, rows=rows, model_labels=study.labels,
            sources=good, knn_label=study.label(knn),
        )
        for page in pages:
            print(f"explanation: {page}")
    return EXIT_USAGE if errors else 0


def _cmd_download(args) -> int:
    from . import data, download, progress
    from .cli_checks import check_output_dir

    directory = Path(args.data_dir) if args.data_dir else data.default_mnist_dir()
    check_output_dir(directory, "--data-dir")
    with progress.showing(not args.quiet):
        paths = download.download_mnist(directory)
    for path in paths:
        print(path)
    return 0


COMMANDS = {
    "train": _cmd_train,
    "evaluate": _cmd_evaluate,
    "info": _cmd_info,
    "render": _cmd_render,
    "predict": _cmd_predict,
    "download": _cmd_download,
}


def _expected_errors() -> tuple[type[BaseException], ...]:
    from .errors import CacheError, DataError

    errors: list[type[BaseException]] = [UsageError, DataError, CacheError, ValueError, OSError]
    try:
        from .render import RenderError

        errors.append(RenderError)
    except ImportError:
        pass
    return tuple(errors)


def _message(error: BaseException, args) -> str:
    if isinstance(error, OSError):
        from .safe_io import describe_os_error

        option = "--explain" if getattr(args, "explain", None) and str(error.filename or "").startswith(
            args.explain) else "--cache-dir or LUSSI_CACHE_DIR"
        return describe_os_error(error, hint=f"choose another location with {option}")
    return str(error)


def _import_keras_silently() -> None:
    """Import Keras with file descriptor 2 closed off: TensorFlow 2.21 writes its absl start-up lines
    (oneDNN notices) straight to it, whatever TF_CPP_MIN_LOG_LEVEL says, so only this keeps ``-q`` quiet."""
    import contextlib

    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            with contextlib.suppress(Exception):  # a broken backend is reported later, with its own message
                import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


# Commands that may run a network in this process; `render` runs the report in a kernel of its own.
_KERAS_COMMANDS = ("train", "evaluate", "predict")


def _run(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.quiet:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # -q wins over a level left in the shell's environment
        if args.command in _KERAS_COMMANDS:
            _import_keras_silently()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        from .cli_checks import prepare

        prepare(args)
        return COMMANDS[args.command](args)
    except Exception as error:  # noqa: BLE001 - narrowed just below
        if args.debug or not isinstance(error, _expected_errors()):
            raise
        message = _message(error, args).strip().splitlines()
        first = message[0] if message else type(error).__name__
        print(f"lussi: error: {first}", file=sys.stderr)
        for line in message[1:]:
            print(f"  {line}", file=sys.stderr)
        return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lussi`` command; returns the exit status (130 after Ctrl-C, whatever swallowed it)."""
    interrupts.install(until_exit=argv is None)
    status = interrupts.EXIT_INTERRUPTED
    try:
        status = _run(argv)
    except KeyboardInterrupt:
        pass
    finally:
        status = interrupts.finish(status)
    if status == interrupts.EXIT_INTERRUPTED:
        print("lussi: interrupted", file=sys.stderr, flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
