"""Real pictures of handwritten digits: each model's accuracy per kind of picture, refusals, conversion time.

Runs on any folder holding a ``labels.csv`` with the columns ``path,label[,kind]``
(paths relative to the folder; ``kind`` such as photo, scan or paint, default
"all"). Every picture goes through ``lussi.handwriting.files.load_digit_image`` (the
conversion ``lussi predict`` uses) and is read by each model of the study; a
picture the conversion refuses counts as a miss for every model.

It prints

- each model's accuracy per kind (and over all pictures), refusals counted as
  misses; with ``--halves``, also for the two halves of the set split by
  source (the file-name prefix before the last ``-``, e.g. ``mhw32`` in
  ``photo/mhw32-001.jpg``; a source's pictures all land in the same half,
  chosen by the parity of the sha256 of its name: ``dev`` even, ``check`` odd);
- the refused pictures with the reason the conversion gave;
- conversion time per picture (decoding included, after a warm-up): median,
  90th percentile and maximum over the set, and the median of 5 runs on a
  12-megapixel JPEG, in wall and CPU time (a shared machine slows the first
  more than the second); the JPEG is made by enlarging
  the set's largest photo to 4032 x 3024 pixels' worth (a phone camera's),
  with a sensor's grain;

and writes a contact sheet PNG of every failure (a picture that at least one
model misreads or that is refused): the picture as given (EXIF rotation
applied), the 28x28 digit the models saw, the label and each model's answer
(wrong ones in red).

The models are loaded from lussi's cache (``run_study(profile)``); a model not
in the cache is trained first, which can take long for the CNN.

Usage::

    .venv/bin/python benchmarks/handwriting.py --halves      # the real set in data/handwriting
    .venv/bin/python benchmarks/handwriting.py DIR --models knn_tuned,mlp,cnn --sheet failures.png
    .venv/bin/python benchmarks/handwriting.py DIR --no-models      # conversion, refusals and timing only
    .venv/bin/python benchmarks/handwriting.py --half dev --csv answers.csv   # one half, answers per picture
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lussi.realset import ENV, convert_set, find_set, half_of, read_labels

DEFAULT_SHEET = Path(__file__).parent / "results" / "handwriting-failures.png"
TWELVE_MP = 4032 * 3024  # a phone camera's 12 megapixels


def time_twelve_megapixels(rows: list, repeats: int = 5):
    """Median wall and CPU seconds of load_digit_image on the largest photo enlarged to 12 MP; its result,
    the photo it was made from, its size and its megabytes."""
    from PIL import Image, ImageOps

    from lussi.handwriting.files import ImageError, load_digit_image

    def pixels(row):
        with Image.open(row.path) as picture:
            return picture.size[0] * picture.size[1]

    photos = [row for row in rows if row.kind == "photo"] or rows
    largest = max(photos, key=pixels)
    with Image.open(largest.path) as opened:
        picture = ImageOps.exif_transpose(opened).convert("RGB")
    scale = (TWELVE_MP / (picture.width * picture.height)) ** 0.5  # keep its proportions
    size = (round(picture.width * scale), round(picture.height * scale))
    # Sensor-like grain (sd 3 levels) so that the JPEG holds as much detail as a camera's (1.5 MB, not 0.9).
    grain = np.random.default_rng(0).normal(0.0, 3.0, (size[1], size[0], 3))
    enlarged = np.asarray(picture.resize(size, Image.Resampling.BICUBIC), dtype=np.float32)
    big = Image.fromarray(np.clip(np.rint(enlarged + grain), 0, 255).astype(np.uint8))
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "twelve-megapixels.jpg"
        big.save(path, quality=90)
        megabytes = path.stat().st_size / 1e6
        times, cpu, image = [], [], None
        for _ in range(repeats + 1):
            start, start_cpu = time.perf_counter(), time.process_time()
            try:
                image = load_digit_image(path)
            except ImageError as error:
                image = str(error)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
    # The first run is a warm-up (imports, caches).
    return statistics.median(times[1:]), statistics.median(cpu[1:]), image, largest, size, megabytes


def accuracy_rows(rows, errors, predictions, labels, *, halves: bool):
    """Lines of the accuracy table: one per model, one column per kind (then all)."""
    kinds = sorted({row.kind for row in rows})
    groups = [("all", list(range(len(rows))))]
    if halves:
        for half in ("dev", "check"):
            groups.append((half, [i for i, row in enumerate(rows) if half_of(row.source) == half]))
    lines = []
    for group, members in groups:
        if not members:
            continue
        columns = [(kind, [i for i in members if rows[i].kind == kind]) for kind in kinds]
        columns = [c for c in columns if c[1]] + [("all", members)]
        header = ["model"] + [f"{kind} ({len(idx)})" for kind, idx in columns]
        table = [header]
        for name, predicted in predictions.items():
            cells = [labels.get(name, name)]
            for _, idx in columns:
                right = sum(1 for i in idx if errors[i] is None and predicted[i] == rows[i].label)
                cells.append(f"{100 * right / len(idx):5.1f}% {right:>3}/{len(idx)}")
            table.append(cells)
        refused = [sum(1 for i in idx if errors[i] is not None) for _, idx in columns]
        table.append(["refused"] + [f"{r:>3}" for r in refused])
        widths = [max(len(line[c]) for line in table) for c in range(len(header))]
        sources = len({rows[i].source for i in members})
        lines.append(f"\n{group}: {len(members)} pictures from {sources} sources")
        for line in table:
            lines.append("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
    return lines


def write_answers(path: Path, rows, errors, predictions, seconds) -> None:
    """One CSV line per picture: name, kind, half, label, refusal, conversion ms and each model's answer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["name", "kind", "half", "label", "refused", "ms", *predictions])
        for i, row in enumerate(rows):
            answers = ["" if errors[i] else int(p[i]) for p in predictions.values()]
            writer.writerow([row.name, row.kind, half_of(row.source), row.label, errors[i] or "",
                             f"{1000 * seconds[i]:.1f}", *answers])


def contact_sheet(path: Path, rows, images, errors, predictions, labels, failures, *, columns: int = 6) -> Path:
    """A PNG of every failure: picture, the 28x28 the models saw, label and each model's answer."""
    from PIL import Image, ImageDraw, ImageFont, ImageOps

    thumb, digit, line_height = 120, 84, 14
    lines = 2 + len(predictions)
    tile_w, tile_h = thumb + digit + 16, max(thumb, digit) + 8 + lines * line_height + 6
    count = max(1, len(failures))
    sheet = Image.new("RGB", (columns * tile_w, ((count + columns - 1) // columns) * tile_h), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=12)
    if not failures:
        draw.text((8, 8), "no failures", fill="black", font=font)
    for n, i in enumerate(failures):
        x, y = (n % columns) * tile_w + 4, (n // columns) * tile_h + 4
        try:
            with Image.open(rows[i].path) as opened:
                picture = ImageOps.exif_transpose(opened).convert("RGB")
            picture.thumbnail((thumb, thumb), Image.Resampling.LANCZOS)
            sheet.paste(picture, (x + (thumb - picture.width) // 2, y + (thumb - picture.height) // 2))
        except OSError:
            draw.text((x, y), "(unreadable)", fill="red", font=font)
        seen = Image.fromarray(255 - images[i]).resize((digit, digit), Image.Resampling.NEAREST)
        sheet.paste(seen, (x + thumb + 8, y))
        draw.rectangle((x + thumb + 7, y - 1, x + thumb + 8 + digit, y + digit), outline="#999")
        text_y = y + max(thumb, digit) + 4
        draw.text((x, text_y), f"{rows[i].name}  label {rows[i].label}  ({rows[i].kind})", fill="black", font=font)
        if errors[i] is not None:
            reason = errors[i].split(": ", 1)[-1]
            draw.text((x, text_y + line_height), f"refused: {reason[:44]}", fill="#c00000", font=font)
            continue
        for j, (name, predicted) in enumerate(predictions.items(), start=1):
            wrong = predicted[i] != rows[i].label
            draw.text((x, text_y + j * line_height), f"{labels.get(name, name)[:26]}: {predicted[i]}",
                      fill="#c00000" if wrong else "#333333", font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, nargs="?",
                        help=f"a folder with labels.csv (path,label[,kind]); default ${ENV} or data/handwriting")
    parser.add_argument("--models", default=None, help="comma-separated study models (default: all five)")
    parser.add_argument("--no-models", action="store_true", help="only convert: refusals and timing")
    parser.add_argument("--profile", default="full", help="the study profile whose models to load (default full)")
    parser.add_argument("--halves", action="store_true", help="also report the dev and check halves (by source)")
    parser.add_argument("--half", choices=("dev", "check"), help="run on one half only (tune on dev, check on check)")
    parser.add_argument("--sheet", type=Path, default=DEFAULT_SHEET, help=f"failures contact sheet (default {DEFAULT_SHEET})")
    parser.add_argument("--csv", type=Path, help="also write each picture's answers to this CSV file")
    parser.add_argument("--no-twelve-mp", action="store_true", help="skip timing the 12-megapixel photo")
    args = parser.parse_args(argv)

    directory = find_set(args.directory)
    if directory is None:
        where = args.directory or f"${ENV} or data/handwriting"
        raise SystemExit(f"handwriting: error: no labels.csv in {where}; build the real set with "
                         "python3 benchmarks/handwriting_set/build_set.py data/handwriting")
    try:
        rows = read_labels(directory)
    except ValueError as error:
        raise SystemExit(f"handwriting: error: {error}") from None
    if args.half:
        rows = [row for row in rows if half_of(row.source) == args.half]
    kinds = {kind: sum(1 for row in rows if row.kind == kind) for kind in sorted({r.kind for r in rows})}
    print(f"{len(rows)} pictures in {directory} ({', '.join(f'{k} {n}' for k, n in kinds.items())})")
    converted = convert_set(rows)
    images, errors, seconds = converted.images, converted.errors, converted.seconds
    cpu = sorted(1000 * s for s in converted.cpu_seconds)

    predictions, labels = {}, {}
    if not args.no_models:
        from lussi.study import run_study

        names = tuple(args.models.split(",")) if args.models else None
        study = run_study(args.profile, models=names, timing=False, progress=False)
        labels = study.labels
        for name, trained in study.models.items():
            predictions[name] = np.asarray(trained.model.predict(images), dtype=np.int64)
        for line in accuracy_rows(rows, errors, predictions, labels, halves=args.halves):
            print(line)

    refused = [i for i, error in enumerate(errors) if error is not None]
    print(f"\nrefused: {len(refused)} of {len(rows)}")
    for i in refused:
        print(f"  {rows[i].kind:>6} label {rows[i].label}  {errors[i]}")

    ms = sorted(1000 * s for s in seconds)
    print(f"\nconversion per picture (decoding included): median {statistics.median(ms):.1f} ms, "
          f"90th percentile {ms[int(0.9 * (len(ms) - 1))]:.1f} ms, max {ms[-1]:.1f} ms; CPU time: median "
          f"{statistics.median(cpu):.1f} ms, 90th percentile {cpu[int(0.9 * (len(cpu) - 1))]:.1f} ms, max {cpu[-1]:.1f} ms")
    if not args.no_twelve_mp:
        median, cpu, image, source, size, megabytes = time_twelve_megapixels(rows)
        outcome = f"refused ({image})" if isinstance(image, str) else "converted"
        if not isinstance(image, str) and predictions:
            answers = ", ".join(
                f"{labels.get(n, n)} {int(study.models[n].model.predict(image[None])[0])}" for n in predictions
            )
            outcome += f"; label {source.label}, read as: {answers}"
        print(f"12-megapixel photo ({size[0]}x{size[1]} JPEG of {megabytes:.1f} MB enlarged from {source.name}): "
              f"median {1000 * median:.1f} ms of 5 runs ({1000 * cpu:.1f} ms of CPU); {outcome}")

    if args.csv:
        write_answers(args.csv, rows, errors, predictions, seconds)
        print(f"answers per picture: {args.csv}")
    failures = [i for i in range(len(rows))
                if errors[i] is not None or any(p[i] != rows[i].label for p in predictions.values())]
    sheet = contact_sheet(args.sheet, rows, images, errors, predictions, labels, failures)
    print(f"\ncontact sheet of the {len(failures)} failures: {sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
