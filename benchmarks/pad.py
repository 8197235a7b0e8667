"""The pad's weight and speed: its payload, a rendered report's file sizes, and the delay after a stroke.

The delay is measured in the page, with ``performance.now()``: from the ``pointerup``
event's timestamp to the last result written into the DOM (the 28×28 digit,
every model's top classes, the KNN's neighbours), for each stroke of the
recorded digits in ``tests/fixtures/pad`` replayed in headless Chromium with
DevTools mouse events. Median, p90 and max over all strokes are printed, and
the median of each step (conversion, each network, the KNN, the DOM).

Sizes do not depend on what the networks learnt, only on their layers, so by
default the study's two architectures (seed MLP, tuned CNN) are trained for one
epoch on 2,000 images; ``--mlp``/``--cnn`` take saved models instead (a
``NetworkClassifier.save`` directory, e.g. ``model/`` of a cache entry).

    python benchmarks/pad.py
    python benchmarks/pad.py --mlp ~/.cache/lussi/net-mlp-.../model --cnn ~/.cache/lussi/net-cnn-.../model
    python benchmarks/pad.py --report report.html report-slides.html --repeats 10
    python benchmarks/pad.py --in-page report.html report-slides.html    # the delay in the rendered files
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
STROKES = ROOT / "tests" / "fixtures" / "pad" / "strokes.json"
PAGE = '<!doctype html><html><head><meta charset="utf-8"><title>pad</title></head><body>{}</body></html>'
MB = 1_000_000


def _networks(args, dataset) -> dict:
    from lussi.models.network import NetworkClassifier
    from lussi.models.network_config import cnn_config, seed_mlp_config

    networks = {}
    for name, path, config in (("MLP", args.mlp, seed_mlp_config()), ("CNN", args.cnn, cnn_config())):
        if path:
            networks[name] = NetworkClassifier.load(Path(path).expanduser())
        else:
            quick = dataclasses.replace(config, epochs=1, warmup_epochs=0.0)
            networks[name] = NetworkClassifier.from_config(quick).fit(dataset.train_images[:2000],
                                                                      dataset.train_labels[:2000])
    return networks


def _print_sizes(networks, knn, fragment: str, reports) -> None:
    from lussi.pad import pad_payload

    sizes = pad_payload(networks, knn)
    print("payload (bytes of HTML):")
    print(f"  pad scripts + CSS      {sizes['scripts']:>10,}")
    print(f"  TensorFlow.js          {sizes['tfjs']:>10,}")
    for name, size in sizes["networks"].items():
        print(f"  {name:<8} ({networks[name].n_params:,} parameters) {size:>10,}")
    print(f"  KNN ({len(knn.labels):,} images)    {sizes['knn']:>10,}")
    print(f"  fragment in all        {sizes['total']:>10,}  ({sizes['total'] / MB:.2f} MB)")
    for report in reports:
        size = Path(report).stat().st_size
        holds_pad = "lussi-pad-data" in Path(report).read_text(encoding="utf-8", errors="replace")
        line = f"  {report}: {size:,} bytes ({size / MB:.2f} MB)"
        if not holds_pad:
            line += f"; with the pad {(size + len(fragment.encode())) / MB:.2f} MB"
        print(line)


def _measure(fragment: str, repeats: int) -> tuple[list[float], dict]:
    """Delays in a bare page holding only the fragment."""
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "pad.html"
        page.write_text(PAGE.format(fragment), encoding="utf-8")
        return measure_page(page, repeats)


# Bring the pad on screen: in a report, scroll to it; in a reveal.js deck, go to its slide.
SHOW_PAD = """
var pad = document.getElementById('lussi-pad');
if (window.Reveal && Reveal.isReady && Reveal.isReady()) {
  var slide = pad.closest('section'); var at = Reveal.getIndices(slide); Reveal.slide(at.h, at.v);
} else { pad.scrollIntoView({block: 'center'}); }
"""


def measure_page(page: Path, repeats: int) -> tuple[list[float], dict]:
    """Delays (ms) of every recorded stroke drawn ``repeats`` times on the pad of ``page``, and per-step times."""
    from lussi.pad.replay import chromium_driver, fit_to_pad, load_strokes, mouse_events

    driver = chromium_driver()
    try:
        driver.get(Path(page).resolve().as_uri())
        while driver.execute_script("var p = document.getElementById('lussi-pad');"
                                    "return p ? p.dataset.state : 'missing'") == "loading":
            time.sleep(0.05)
        driver.execute_script(SHOW_PAD)
        time.sleep(1.0)  # reveal.js's slide transition
        delays, steps = [], {}
        digits = load_strokes(STROKES)
        for _ in range(repeats):
            for digit in digits:
                driver.execute_script("document.querySelector('#lussi-pad .lussi-pad-clear').click()")
                box = driver.execute_script("var r = document.querySelector('#lussi-pad canvas')"
                                            ".getBoundingClientRect(); return [r.left, r.top, r.width, r.height];")
                for stroke in fit_to_pad(digit["strokes"]):
                    for event in mouse_events([stroke], box):
                        driver.execute_cdp_cmd("Input.dispatchMouseEvent", event)
                    found = driver.execute_script("var r = document.getElementById('lussi-pad');"
                                                  "return [Number(r.dataset.latencyMs), JSON.parse(r.dataset.timings)];")
                    delays.append(found[0])
                    for step, ms in found[1].items():
                        steps.setdefault(step, []).append(ms)
        return delays, steps
    finally:
        driver.quit()


def _summary(delays: list[float], steps: dict, where: str) -> None:
    ordered = sorted(delays)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    print(f"delay from pointerup to the results in the DOM, {where}, {len(delays)} strokes "
          f"(headless Chromium, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}):")
    print(f"  median {statistics.median(delays):.1f} ms, p90 {p90:.1f} ms, max {max(delays):.1f} ms")
    print("  median per step: " + ", ".join(f"{step} {statistics.median(ms):.1f} ms" for step, ms in steps.items()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlp", help="a saved MLP (NetworkClassifier directory); default: the seed MLP, 1 epoch")
    parser.add_argument("--cnn", help="a saved CNN (NetworkClassifier directory); default: the tuned CNN, 1 epoch")
    parser.add_argument("--n-train", type=int, default=None, help="images in the page's KNN (default PadKNNConfig's)")
    parser.add_argument("--test-images", type=int, default=10_000, help="test images for the KNN's accuracy (0: skip)")
    parser.add_argument("--report", nargs="*", default=[], help="rendered files whose sizes to print")
    parser.add_argument("--repeats", type=int, default=5, help="times each recorded digit is drawn")
    parser.add_argument("--in-page", nargs="*", default=[],
                        help="rendered reports or decks holding the pad: measure the delay in each, and stop")
    args = parser.parse_args(argv)
    if args.in_page:
        for page in args.in_page:
            print(f"{page}: {Path(page).stat().st_size:,} bytes ({Path(page).stat().st_size / MB:.2f} MB)")
            _summary(*measure_page(Path(page), args.repeats), where=str(page))
        return

    from lussi.data import load_dataset
    from lussi.pad import PadKNNConfig, fit_pad_knn, pad_html

    dataset = load_dataset("mnist")
    networks = _networks(args, dataset)
    config = PadKNNConfig() if args.n_train is None else PadKNNConfig(n_train=args.n_train)
    n_test = min(args.test_images, len(dataset.test_labels))
    test = (dataset.test_images[:n_test], dataset.test_labels[:n_test]) if n_test else (None, None)
    start = time.perf_counter()
    knn = fit_pad_knn(dataset.train_images, dataset.train_labels, *test, config=config)
    print(f"KNN: {knn.describe()} ({time.perf_counter() - start:.1f} s to sample and measure)")
    fragment = pad_html(networks, knn)
    _print_sizes(networks, knn, fragment, args.report)

    _summary(*_measure(fragment, args.repeats), where="a page holding only the pad")


if __name__ == "__main__":
    main()
