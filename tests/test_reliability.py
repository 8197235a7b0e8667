"""Reliability: bad input fails clearly, kills and concurrent runs leave no corrupt artefact, nothing unsafe is loaded.

Each section answers one part of the reliability issue:

* bad data, bad images, bad configuration: the CLI exits with status 2 and one
  line ``lussi: error: <what and where>`` (``--debug`` shows the traceback); the
  Python API raises with the same message;
* ``lussi train`` and ``lussi render`` killed with SIGKILL at several points:
  the cache holds only complete, checksum-verified entries, no output looks
  complete when it is not, and the next run finishes with the same predictions
  as an uninterrupted run;
* two ``lussi render`` processes on one cache: both succeed, each model is
  built once, outputs are whole;
* planted pickles and ``Lambda`` layers in the cache are discarded (checksum)
  or refused (safe loaders) and never executed: a canary file proves it;
* 100,000-image batches give the same answers as small ones in bounded memory.

The kill and concurrency tests run real subprocesses and are marked slow.
"""

from __future__ import annotations

import ast
import contextlib
import gzip
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from conftest import IDX_STEMS, make_idx_dataset
from lussi.cache import MANIFEST, Cache, CacheError, CacheWarning, default_cache_dir
from lussi.cli import main
from lussi.data import MNIST_FILES, check_images, load_dataset
from lussi.idx import write_idx

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "reliability"
SUBPROCESS_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow", "PYTHONUNBUFFERED": "1"}


def run_cli(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(status, err, *fragments):
    """Exit status 2 and a single ``lussi: error:`` line holding every fragment, without a traceback."""
    assert status == 2, err
    assert err.startswith("lussi: error: "), err
    assert err.strip().count("\n") == 0, f"expected one line, got:\n{err}"
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"


def _env(cache: Path, **extra) -> dict:
    env = {**os.environ, **SUBPROCESS_ENV, "LUSSI_CACHE_DIR": str(cache)}
    env.update({k: str(v) for k, v in extra.items()})
    return env


# =========================================================================== bad data through the CLI


def _rewrite(path: Path, transform) -> None:
    path.write_bytes(transform(path.read_bytes()))


def _set_idx(directory: Path, key: str, array) -> Path:
    return write_idx(directory / (IDX_STEMS[key] + ".gz"), np.asarray(array))


def _raw_idx(directory: Path, key: str, payload: bytes) -> Path:
    """Replace a split's file by an uncompressed idx payload (the .gz is removed)."""
    (directory / (IDX_STEMS[key] + ".gz")).unlink()
    path = directory / IDX_STEMS[key]
    path.write_bytes(payload)
    return path


def _flip_middle(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 16]) + data[middle + 16 :]


def _idx_bytes(array) -> bytes:
    array = np.asarray(array)
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def _labels_with(value: int, dtype=np.uint8) -> np.ndarray:
    labels = (np.arange(60) % 10).astype(dtype)
    labels[7] = value
    return labels


# Each case: mutate a fresh valid 4-file directory, return (dataset argument, path the message must name,
# fragments of the message). ``None`` as the path means "the dataset directory itself".
def _case_missing_dir(d):
    shutil.rmtree(d)
    return str(d), d, ["unknown dataset"]


def _case_empty_dir(d):
    shutil.rmtree(d)
    d.mkdir()
    return str(d), d, ["missing train-images-idx3-ubyte.gz"]


def _case_missing_file(d):
    (d / "t10k-labels-idx1-ubyte.gz").unlink()
    return str(d), d, ["missing t10k-labels-idx1-ubyte.gz"]


def _case_bad_magic(d):
    path = d / "train-images-idx3-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[0:2] = b"\x08\x03"
    path.write_bytes(gzip.compress(bytes(raw)))
    return str(d), path, ["bad idx magic number 0x0803"]


def _case_unknown_type_code(d):
    path = d / "train-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[2] = 0x42
    path.write_bytes(gzip.compress(bytes(raw)))
    return str(d), path, ["unknown idx data type code 0x42"]


def _case_flat_images(d):
    _set_idx(d, "test_images", np.zeros((20, 784), dtype=np.uint8))
    return str(d), d / IDX_STEMS["test_images"], ["expected uint8 images of 3 dimensions", "(20, 784)"]


def _case_4d_images(d):
    _set_idx(d, "train_images", np.zeros((60, 28, 28, 3), dtype=np.uint8))
    return str(d), d / IDX_STEMS["train_images"], ["expected uint8 images of 3 dimensions", "(60, 28, 28, 3)"]


def _case_2d_labels(d):
    _set_idx(d, "train_labels", np.zeros((60, 1), dtype=np.uint8))
    return str(d), d / IDX_STEMS["train_labels"], ["expected 1-D labels", "(60, 1)"]


def _case_float_pixels(d):
    _set_idx(d, "train_images", np.zeros((60, 28, 28), dtype=np.float32))
    return str(d), d / IDX_STEMS["train_images"], ["expected uint8 images", "float32"]


def _case_truncated_gzip(d):
    path = d / "train-images-idx3-ubyte.gz"
    _rewrite(path, lambda b: b[: len(b) // 2])
    return str(d), path, ["corrupt or truncated gzip"]


def _case_corrupted_gzip(d):
    path = d / "t10k-images-idx3-ubyte.gz"
    _rewrite(path, _flip_middle)
    return str(d), path, ["corrupt or truncated gzip"]


def _case_truncated_idx(d):
    payload = _idx_bytes(np.zeros((20, 28, 28), dtype=np.uint8))
    path = _raw_idx(d, "test_images", payload[:-100])
    return str(d), path, ["truncated: header declares shape (20, 28, 28)"]


def _case_trailing_bytes(d):
    path = _raw_idx(d, "test_labels", _idx_bytes(np.zeros(20, dtype=np.uint8)) + b"\0\0\0")
    return str(d), path, ["has trailing bytes"]


def _case_short_file(d):
    path = _raw_idx(d, "test_labels", b"\x00\x00")
    return str(d), path, ["too short to be an idx file"]


def _case_count_mismatch(d):
    _set_idx(d, "test_labels", np.zeros(19, dtype=np.uint8))
    return str(d), d, ["holds 20 images but t10k-labels-idx1-ubyte holds 19 labels"]


def _case_label_too_big(d):
    _set_idx(d, "train_labels", _labels_with(12))
    return str(d), d / IDX_STEMS["train_labels"], ["label 12 at index 7 is outside 0-9"]


def _case_label_negative(d):
    _set_idx(d, "train_labels", _labels_with(-1, np.int8))
    return str(d), d / IDX_STEMS["train_labels"], ["label -1 at index 7 is outside 0-9"]


def _case_no_items(d):
    _set_idx(d, "test_images", np.zeros((0, 28, 28), dtype=np.uint8))
    _set_idx(d, "test_labels", np.zeros(0, dtype=np.uint8))
    return str(d), d / IDX_STEMS["test_labels"], ["no items"]


def _case_shape_mismatch(d):
    _set_idx(d, "test_images", np.zeros((20, 27, 28), dtype=np.uint8))
    return str(d), d, ["train images are (28, 28) but test images are (27, 28)"]


def _case_checksum(d):
    make_idx_dataset(d, checksums=True)
    path = d / "t10k-labels-idx1-ubyte.gz"
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    _rewrite(path, lambda b: b + b"x")
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    return str(d), path, ["checksum mismatch", f"expected sha256 {expected}", f"got {actual}"]


def _case_bad_sums_line(d):
    (d / "SHA256SUMS").write_text("not-a-digest  train-images-idx3-ubyte.gz\n")
    return str(d), d / "SHA256SUMS", ["not a sha256sum line"]


def _case_sums_lists_missing_file(d):
    (d / "SHA256SUMS").write_text(f"{'0' * 64}  extra-file.gz\n")
    return str(d), d / "extra-file.gz", ["listed in SHA256SUMS but missing"]


def _case_unknown_name(d):
    return "fashion-mnist-typo", None, ["unknown dataset 'fashion-mnist-typo'", "'mnist', 'digits'"]


def _case_dataset_is_a_file(d):
    path = d / "train-images-idx3-ubyte.gz"
    return str(path), path, ["unknown dataset"]


DATA_CASES = {
    name[len("_case_"):]: fn for name, fn in sorted(globals().items()) if name.startswith("_case_")
}


@pytest.mark.parametrize("case", sorted(DATA_CASES))
def test_bad_data_directory_is_one_clear_cli_error(case, tmp_path, capsys):
    directory = tmp_path / "data"
    make_idx_dataset(directory, checksums=False)
    dataset, where, fragments = DATA_CASES[case](directory)
    status, _, err = run_cli(capsys, "info", "--dataset", dataset, "--cache-dir", str(tmp_path / "cache"))
    assert_one_line_error(status, err, *fragments, *([str(where)] if where is not None else []))
    with pytest.raises(Exception, match=re.escape(fragments[0])):
        main(["--debug", "info", "--dataset", dataset, "--cache-dir", str(tmp_path / "cache")])


def test_mnist_missing_or_altered_files_are_clear_cli_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LUSSI_DATA_DIR", str(tmp_path))
    (tmp_path / "mnist").mkdir()
    status, _, err = run_cli(capsys, "info", "--dataset", "mnist", "--cache-dir", str(tmp_path / "cache"))
    assert_one_line_error(status, err, f"MNIST files not found in {tmp_path / 'mnist'}", "lussi download")

    for name in MNIST_FILES:
        (tmp_path / "mnist" / name).write_bytes(gzip.compress(b"not mnist"))
    first = next(iter(MNIST_FILES))
    actual = hashlib.sha256((tmp_path / "mnist" / first).read_bytes()).hexdigest()
    status, _, err = run_cli(capsys, "info", "--dataset", "mnist", "--cache-dir", str(tmp_path / "cache"))
    assert_one_line_error(
        status, err, str(tmp_path / "mnist" / first), f"expected sha256 {MNIST_FILES[first]}", f"got {actual}"
    )


@pytest.mark.slow  # starts lussi in subprocesses
@pytest.mark.parametrize("debug", [False, True])
def test_real_process_exit_status_and_traceback_only_with_debug(tmp_path, debug):
    directory = tmp_path / "data"
    make_idx_dataset(directory, checksums=False)
    _case_truncated_gzip(directory)
    argv = [sys.executable, "-m", "lussi.cli", *(["--debug"] if debug else []), "info", "--dataset", str(directory)]
    result = subprocess.run(argv, capture_output=True, text=True, env=_env(tmp_path / "cache"), timeout=120)
    assert result.returncode != 0
    assert ("Traceback" in result.stderr) is debug
    if not debug:
        assert result.returncode == 2
        assert result.stderr.startswith("lussi: error: ") and result.stderr.strip().count("\n") == 0
    assert "corrupt or truncated gzip" in result.stderr


# =========================================================================== configuration


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["train", "--dataset", "digits", "--profile", "huge"], ["unknown profile 'huge'", "full, quick"]),
        (["train", "--dataset", "digits", "--models", "knn,svm"], ["unknown model(s) svm"]),
        (["render", "--profile", "huge", "README.md"], ["unknown profile 'huge'"]),
        (["render", "no-such-report.qmd"], ["no-such-report.qmd not found"]),
        (["render", "-P", "novalue", "README.md"], ["-P expects KEY:VALUE"]),
    ],
)
def test_bad_options_are_one_clear_cli_error(argv, fragments, capsys, cache_dir):
    status, _, err = run_cli(capsys, *argv)
    assert_one_line_error(status, err, *fragments)


def test_unusable_cache_directories_are_one_clear_cli_error(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    status, _, err = run_cli(capsys, "info", "--dataset", "digits", "--cache-dir", str(blocker / "cache"))
    assert_one_line_error(status, err, "cannot create cache directory", str(blocker / "cache"))

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    status, _, err = run_cli(capsys, "info", "--dataset", "digits", "--cache-dir", str(shared))
    assert_one_line_error(status, err, "writable by other users", f"chmod go-w {shared}")

    if os.getuid() == 0:  # root can hand a directory to someone else and see it refused
        foreign = tmp_path / "foreign"
        foreign.mkdir(mode=0o700)
        os.chown(foreign, 65534, 65534)
        status, _, err = run_cli(capsys, "info", "--dataset", "digits", "--cache-dir", str(foreign))
        assert_one_line_error(status, err, "belongs to another user", str(foreign))


@pytest.mark.skipif(os.getuid() == 0, reason="root can read and write any directory")
@pytest.mark.parametrize("mode", [0o500, 0o300, 0o100])
def test_unwritable_or_unreadable_cache_directory_is_one_clear_cli_error(tmp_path, capsys, mode):
    locked = tmp_path / "locked"
    locked.mkdir(mode=mode)
    status, _, err = run_cli(capsys, "info", "--dataset", "digits", "--cache-dir", str(locked))
    assert_one_line_error(status, err, "not writable or not readable", str(locked))


@pytest.mark.slow  # starts lussi in a subprocess that imports Keras
def test_unknown_keras_backend_is_one_clear_cli_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "lussi.cli", "-q", "train", "--dataset", "digits", "--profile", "quick",
         "--models", "mlp"],
        capture_output=True, text=True, env=_env(tmp_path / "cache", KERAS_BACKEND="no-such-backend"), timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("lussi: error: ") and "Traceback" not in result.stderr
    assert "no-such-backend" in result.stderr


def _config_errors():
    from lussi.config import get_profile
    from lussi.models.knn import KNNConfig
    from lussi.models.network import NetworkConfig
    from lussi.study import study_models

    return [
        (lambda: KNNConfig(n_neighbors=0), "n_neighbors must be a positive integer, got 0"),
        (lambda: KNNConfig(n_neighbors=-3), "n_neighbors must be a positive integer, got -3"),
        (lambda: KNNConfig(n_neighbors=2.5), "n_neighbors must be a positive integer, got 2.5"),
        (lambda: KNNConfig(n_neighbors=True), "n_neighbors must be a positive integer, got True"),
        (lambda: KNNConfig(metric="hamming"), "metric must be one of .* got 'hamming'"),
        (lambda: KNNConfig(weights="median"), "weights must be one of .* got 'median'"),
        (lambda: KNNConfig(scale="minmax"), "scale must be one of .* got 'minmax'"),
        (lambda: KNNConfig(pca_components=0), "pca_components must be a positive integer"),
        (lambda: NetworkConfig(epochs=0), "epochs must be a positive integer, got 0"),
        (lambda: NetworkConfig(epochs=-1), "epochs must be a positive integer, got -1"),
        (lambda: NetworkConfig(epochs=1.5), "epochs must be a positive integer, got 1.5"),
        (lambda: NetworkConfig(architecture="rnn"), "architecture must be one of .* got 'rnn'"),
        (lambda: NetworkConfig(batch_size=0), "batch_size must be a positive integer"),
        (lambda: NetworkConfig(learning_rate=0.0), "learning_rate must be > 0"),
        (lambda: get_profile("huge"), "unknown profile 'huge': choose one of full, quick"),
        (lambda: study_models(("knn", "svm")), r"unknown model\(s\) svm"),
    ]


def test_bad_configuration_is_refused_with_a_clear_message():
    for make, message in _config_errors():
        with pytest.raises(ValueError, match=message):
            make()


def test_k_larger_than_the_training_set_is_refused_and_caches_nothing(tmp_path):
    from lussi.models.knn import KNNClassifier, KNNConfig
    from lussi.models.train import train_knn

    tiny = load_dataset("digits").subset(n_train=50, n_test=20)
    with pytest.raises(ValueError, match="n_neighbors=51 exceeds the number of training images \\(n_samples=50\\)"):
        KNNClassifier(n_neighbors=51).fit(tiny.train_images, tiny.train_labels)
    cache = Cache(tmp_path / "cache")
    with pytest.raises(ValueError, match="n_neighbors=1000 exceeds the number of training images"):
        train_knn(tiny, KNNConfig(n_neighbors=1000), select=False, profile="quick", cache=cache)
    assert cache.entries() == [] and not list(cache.root.glob(".tmp-*"))
    with pytest.raises(TypeError, match="config must be a KNNConfig, got dict"):
        train_knn(tiny, {"n_neighbors": 3}, profile="quick", cache=cache)


# =========================================================================== images given to predict


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def fitted_models(digits):
    """A KNN and a small MLP fitted on the 8x8 digits, as the predict functions' subjects."""
    from lussi.models.knn import KNNClassifier
    from lussi.models.network import NetworkClassifier

    knn = KNNClassifier(n_neighbors=3, scale="standard").fit(digits.train_images, digits.train_labels)
    net = NetworkClassifier(epochs=2, hidden_units=(32,), dropout=0.0, seed=0)
    net.fit(digits.train_images, digits.train_labels)
    return {"knn": knn, "mlp": net}


BAD_IMAGES = {
    "mnist-shape-for-8x8-model": (np.zeros((2, 28, 28), np.uint8), r"must have shape \(n, 8, 8\).*got \(2, 28, 28\)"),
    "wrong-flat-width": (np.zeros((2, 65), np.uint8), r"X has 65 features, but \w+ is expecting 64 features"),
    # Rows are scikit-learn's (n_samples, n_features): one (h, w) image is h rows of w features.
    "one-unbatched-image": (np.zeros((8, 8), np.uint8), r"X has 8 features, but \w+ is expecting 64 features"),
    "rgb-channels": (np.zeros((2, 8, 8, 3), np.uint8), r"got \(2, 8, 8, 3\)"),
    "one-dimensional": (np.zeros(64, np.uint8), "Expected 2D array, got 1D array"),
    "transposed-batch": (np.zeros((8, 8, 2), np.uint8), r"got \(8, 8, 2\)"),
    "strings": (np.full((1, 8, 8), "7"), "numeric"),
    "objects": (np.full((1, 8, 8), None, dtype=object), "NaN"),
    "complex": (np.zeros((1, 8, 8), np.complex64), "Complex data not supported"),
    "nan": (np.full((1, 8, 8), np.nan), "NaN"),
    "inf": (np.full((1, 8, 8), np.inf, np.float32), "infinity"),
    "minus-inf-in-one-pixel": (np.where(np.eye(8)[None] > 0, -np.inf, 0.5), "infinity"),
    # 0-255 pixels as floats would be read as 255x brighter [0, 1] images: refused, never guessed.
    "floats-in-0-255": (np.full((1, 8, 8), 200.0), r"float images must be scaled to \[0, 1\]"),
    "float-pixels-with-one-hot-value": (np.where(np.eye(8)[None] > 0, 1.5, 0.25), r"divide by 255"),
    "blurred-0-255-floats": (np.linspace(0.0, 254.5, 64).reshape(1, 8, 8), r"divide by 255"),
    "int-above-255": (np.full((1, 8, 8), 256, np.int64), "values 0-255, got values in \\[256, 256\\]"),
    "negative-ints": (np.full((1, 8, 8), -1, np.int16), "values 0-255"),
    "empty-batch": (np.zeros((0, 8, 8), np.uint8), "0 sample"),
    "empty-flat-batch": (np.zeros((0, 64), np.float32), "0 sample"),
}


@pytest.mark.parametrize("method", ["predict", "predict_proba"])
@pytest.mark.parametrize("model_name", ["knn", "mlp"])
@pytest.mark.parametrize("case", sorted(BAD_IMAGES))
def test_bad_images_are_refused_by_every_predict_function(fitted_models, model_name, method, case):
    images, message = BAD_IMAGES[case]
    with pytest.raises(ValueError, match=message):
        getattr(fitted_models[model_name], method)(images)


@pytest.mark.parametrize("model_name", ["knn", "mlp"])
def test_documented_conversions_give_the_same_answers(fitted_models, digits, model_name):
    """Flattened rows, other integer dtypes, [0, 1] floats, booleans and lists mean the same digits.

    Floats with negative values are features (standardised ones, from a Pipeline's scaler) and are taken as
    they are, and so are [0, 1] floats with a few values above 1 (a scaler fitted on other rows); whole
    numbers above 1, or many values above 1, look like 0-255 pixels and are refused (see BAD_IMAGES).
    """
    model = fitted_models[model_name]
    images = digits.test_images[:50]
    expected = model.predict(images)
    assert model.predict(images.reshape(50, 64)).tolist() == expected.tolist()
    assert model.predict(images.astype(np.int64)).tolist() == expected.tolist()
    assert model.predict(images / 255.0).tolist() == expected.tolist()
    assert model.predict(images.astype(np.float32) / np.float32(255)).tolist() == expected.tolist()
    assert model.predict(images[..., None]).tolist() == expected.tolist()
    assert model.predict(images[3:4]).tolist() == expected[3:4].tolist()
    assert model.predict(images > 0).tolist() == model.predict((images > 0).astype(np.uint8)).tolist()
    assert model.predict(images[:2].tolist()).tolist() == expected[:2].tolist()
    # A scaler fitted on other rows puts a few held-out values a little above 1: features, not 0-255 pixels.
    scaled = images / 255.0
    scaled[0, 0, :3] = [1.2, 1.7, 3.9]
    assert model.predict(scaled).shape == (50,)
    np.testing.assert_array_equal(check_images(images / 255.0, (8, 8)), images)


# =========================================================================== report.qmd failures through the CLI


def _render_failure(capsys, tmp_path, name, qmd_text, *fragments):
    qmd = tmp_path / name
    qmd.write_text(textwrap.dedent(qmd_text).lstrip("\n"))
    stale = qmd.with_suffix(".html")
    stale.write_text("<html><body>an old report that looks complete</body></html>")
    status, _, err = run_cli(capsys, "-q", "render", str(qmd), "--engine", "builtin", "--to", "html")
    assert status == 2 and err.startswith("lussi: error: ") and "Traceback" not in err
    first = err.splitlines()[0]
    for fragment in fragments:
        assert fragment in first, first
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no output, no temporary left behind


@pytest.mark.slow
def test_failing_cell_missing_dependency_and_dead_kernel_stop_the_render(tmp_path, capsys):
    for name in "abcd":
        (tmp_path / name).mkdir()
    _render_failure(
        capsys, tmp_path / "a", "cell.qmd",
        """
        ```{python}
        x = 1
        ```

        ```{python}
        #| label: tbl-broken
        x / 0
        ```
        """,
        "cell 'tbl-broken' (lines 5-8) of cell.qmd failed: ZeroDivisionError",
    )
    _render_failure(
        capsys, tmp_path / "b", "dependency.qmd", (FIXTURES / "missing_dependency.qmd").read_text(),
        "cell 'needs-a-package'", "ModuleNotFoundError: No module named 'lussi_no_such_package_xyz'",
    )
    _render_failure(
        capsys, tmp_path / "c", "dies.qmd",
        """
        ```{python}
        #| label: crash
        import os
        os.kill(os.getpid(), 9)
        ```
        """,
        "kernel died while running cell 'crash' (lines 1-5) of dies.qmd",
    )
    qmd = tmp_path / "d" / "cell.qmd"
    qmd.write_text("```{python}\n1 / 0\n```\n")
    with pytest.raises(Exception, match="ZeroDivisionError"):
        main(["--debug", "-q", "render", str(qmd), "--engine", "builtin", "--to", "html"])


def test_leftovers_of_a_killed_build_are_removed_under_the_entry_lock(tmp_path):
    from lussi.cache import cache_key

    cache = Cache(tmp_path / "cache")
    name = f"m-{cache_key({'kind': 'm', 'k': 1})}"
    mine, other = cache.root / f".tmp-{name}-abc123", cache.root / ".tmp-m-000000000000000000000000-xyz"
    for leftover in (mine, other):
        (leftover / "model").mkdir(parents=True)
        (leftover / "model" / "half.npz").write_bytes(b"PK\x03")

    def build(directory):
        (directory / "x").write_text("x")
        return {}

    cache.get_or_build("m", {"k": 1}, build)
    assert not mine.exists() and other.exists()  # another entry's build may still be running


# =========================================================================== trust: nothing unsafe is loaded


class _Canary:
    """Unpickling this object creates ``path``: proof that a pickle was executed."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


# How a safe loader refuses a planted file: ValueError from NumPy/Keras, possibly re-raised as a
# CacheError that names the entry.
REFUSED = (ValueError, CacheError)


def _plant_pickle_npz(path: Path, canary: Path, like: Path | None = None) -> None:
    """Write an .npz whose arrays look like ``like``'s plus one object array holding a pickle payload."""
    arrays = {}
    if like is not None:
        with np.load(like, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    arrays["features"] = np.array([_Canary(canary)], dtype=object)
    path.unlink(missing_ok=True)
    np.savez(path, **arrays)  # savez pickles object arrays: this is the planted payload
    assert canary.exists() is False


def _forge_manifest(entry: Path) -> None:
    """Recompute the entry's manifest so it matches planted files (an attacker with write access)."""
    manifest = json.loads((entry / MANIFEST).read_text())
    manifest["files"] = {
        str(p.relative_to(entry)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(entry.rglob("*")) if p.is_file() and p.name != MANIFEST
    }
    (entry / MANIFEST).write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def tiny_digits(digits):
    return digits.subset(n_train=400, n_test=100)


def test_the_canary_pickle_does_execute_when_unpickled(tmp_path):
    """The payload used below is live: loading it with pickle allowed runs it (so its absence is meaningful)."""
    canary = tmp_path / "canary"
    _plant_pickle_npz(tmp_path / "x.npz", canary)
    with np.load(tmp_path / "x.npz", allow_pickle=True) as data:
        data["features"]
    assert canary.exists()


def test_planted_pickle_in_a_knn_entry_is_discarded_and_never_unpickled(tmp_path, tiny_digits):
    from lussi.models.train import predict_test, train_knn

    cache, canary = Cache(tmp_path / "cache"), tmp_path / "canary"
    first = train_knn(tiny_digits, profile="quick", cache=cache)
    expected = first.model.predict(tiny_digits.test_images)
    npz = first.entry.path / "model" / "knn.npz"
    _plant_pickle_npz(npz, canary, like=npz)
    with pytest.warns(CacheWarning, match=r"discarding damaged cache entry: .*knn.npz: sha256 .* does not match"):
        second = train_knn(tiny_digits, profile="quick", cache=cache)
    assert not second.entry.hit and not canary.exists()
    np.testing.assert_array_equal(second.model.predict(tiny_digits.test_images), expected)
    assert all(row["ok"] for row in cache.entries())

    # The same plant with a forged manifest passes the checksum: the loader itself refuses it.
    _plant_pickle_npz(npz, canary, like=npz)
    _forge_manifest(second.entry.path)
    with pytest.raises(REFUSED, match="allow_pickle=False"):
        train_knn(tiny_digits, profile="quick", cache=cache)
    assert not canary.exists()

    # Cached test predictions are read the same way.
    predictions = predict_test(second, tiny_digits, cache=cache)
    pred_npz = next(cache.root.glob("test-knn-*")) / "predictions.npz"
    np.savez(pred_npz, labels=np.array([_Canary(canary)], dtype=object), probabilities=predictions.probabilities)
    _forge_manifest(pred_npz.parent)
    with pytest.raises(REFUSED, match="allow_pickle=False"):
        predict_test(second, tiny_digits, cache=cache)
    assert not canary.exists()


def test_knn_loader_refuses_pickled_arrays_outside_the_cache(tmp_path, fitted_models):
    canary = tmp_path / "canary"
    directory = tmp_path / "saved"
    directory.mkdir()
    fitted_models["knn"].save(directory)
    _plant_pickle_npz(directory / "knn.npz", canary, like=directory / "knn.npz")
    from lussi.models.knn import KNNClassifier

    with pytest.raises(ValueError, match="allow_pickle=False"):
        KNNClassifier.load(directory)
    assert not canary.exists()


def _lambda_model(canary: Path, n_inputs: int, n_classes: int):
    import keras

    # The function is compiled from text so Keras serialises its bytecode, as an attacker's file would hold.
    touch = eval(f"lambda x: (open({str(canary)!r}, 'w').close(), x)[1]")  # noqa: S307 - the planted payload
    return keras.Sequential(
        [keras.Input(shape=(n_inputs,)), keras.layers.Lambda(touch), keras.layers.Dense(n_classes, activation="softmax")]
    )


def test_the_lambda_payload_does_execute_when_loaded_unsafely(tmp_path):
    import keras

    canary = tmp_path / "canary"
    _lambda_model(canary, 64, 10).save(tmp_path / "m.keras")
    canary.unlink(missing_ok=True)  # building the model called the lambda once
    keras.saving.load_model(tmp_path / "m.keras", safe_mode=False, compile=False)
    assert canary.exists()


@pytest.mark.slow  # trains and saves a Keras network
def test_planted_lambda_layer_in_a_network_entry_is_discarded_or_refused(tmp_path, tiny_digits):
    from lussi.models.network import NetworkConfig
    from lussi.models.train import train_neural_network

    cache, canary = Cache(tmp_path / "cache"), tmp_path / "canary"
    config = NetworkConfig(epochs=2, hidden_units=(16,), dropout=0.0)
    first = train_neural_network(tiny_digits, config, profile="full", cache=cache)
    expected = first.model.predict_proba(tiny_digits.test_images)
    model_file = first.entry.path / "model" / "model.keras"
    model_file.unlink()
    _lambda_model(canary, 64, 10).save(model_file)
    canary.unlink(missing_ok=True)

    with pytest.warns(CacheWarning, match=r"model.keras: sha256 .* does not match"):
        second = train_neural_network(tiny_digits, config, profile="full", cache=cache)
    assert not second.entry.hit and not canary.exists()
    np.testing.assert_allclose(second.model.predict_proba(tiny_digits.test_images), expected, atol=1e-6)

    model_file.unlink()
    _lambda_model(canary, 64, 10).save(model_file)
    canary.unlink(missing_ok=True)
    _forge_manifest(second.entry.path)
    with pytest.raises(REFUSED, match="deserialization of a `Lambda` layer"):
        train_neural_network(tiny_digits, config, profile="full", cache=cache)
    assert not canary.exists()


def test_entry_with_another_key_or_extra_files_is_discarded_and_rebuilt(tmp_path, tiny_digits):
    from lussi.models.knn import KNNConfig
    from lussi.models.train import train_knn

    cache = Cache(tmp_path / "cache")
    k1 = train_knn(tiny_digits, KNNConfig(n_neighbors=1), select=False, profile="quick", cache=cache)
    k5 = train_knn(tiny_digits, KNNConfig(n_neighbors=5), select=False, profile="quick", cache=cache)
    # Swap in another configuration's (intact) entry under k=5's name.
    shutil.rmtree(k5.entry.path)
    shutil.copytree(k1.entry.path, k5.entry.path)
    with pytest.warns(CacheWarning, match=f"records key '{k1.entry.key}', expected '{k5.entry.key}'"):
        again = train_knn(tiny_digits, KNNConfig(n_neighbors=5), select=False, profile="quick", cache=cache)
    assert not again.entry.hit and again.model.config.n_neighbors == 5

    (again.entry.path / "model" / "extra.pkl").write_bytes(b"\x80\x04K\x01.")
    with pytest.warns(CacheWarning, match=r"holds files \['model/extra.pkl'\] not matching its manifest"):
        final = train_knn(tiny_digits, KNNConfig(n_neighbors=5), select=False, profile="quick", cache=cache)
    assert not (final.entry.path / "model" / "extra.pkl").exists()
    assert [row["ok"] for row in cache.entries()] == [True, True]


def test_planted_files_in_a_data_directory_are_never_loaded(tmp_path):
    directory, canary = tmp_path / "data", tmp_path / "canary"
    arrays = make_idx_dataset(directory)
    _plant_pickle_npz(directory / "mnist.npz", canary)
    _plant_pickle_npz(directory / "train-images-idx3-ubyte.npy", canary)
    (directory / "train-labels.pkl").write_bytes(b"\x80\x04K\x01.")
    dataset = load_dataset(directory)
    np.testing.assert_array_equal(dataset.train_images, arrays["train_images"])
    assert not canary.exists()


_UNSAFE_MODULES = {"pickle", "cPickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}


def unsafe_loads(source: str, filename: str = "<source>") -> list[str]:
    """Calls in ``source`` that could deserialise code: pickle-family imports, np.load without
    ``allow_pickle=False``, Keras load_model without ``safe_mode=True``, yaml.load, read_pickle, torch.load."""
    problems = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            bad = [n for n in names if n and n.split(".")[0] in _UNSAFE_MODULES]
            if bad:
                problems.append(f"{filename}:{node.lineno}: imports {', '.join(bad)}")
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
        keywords = {k.arg: k.value for k in node.keywords}

        def is_const(key, value):
            return isinstance(keywords.get(key), ast.Constant) and keywords[key].value is value

        if name == "load" and owner in ("np", "numpy") and not is_const("allow_pickle", False):
            problems.append(f"{filename}:{node.lineno}: np.load without allow_pickle=False")
        if name == "load_model" and not is_const("safe_mode", True):
            problems.append(f"{filename}:{node.lineno}: load_model without safe_mode=True")
        if name == "enable_unsafe_deserialization":
            problems.append(f"{filename}:{node.lineno}: enables Keras unsafe deserialisation")
        if (name == "load" and owner in ("yaml", "torch", "pickle")) or name in ("read_pickle", "unsafe_load"):
            problems.append(f"{filename}:{node.lineno}: {owner + '.' if owner else ''}{name}")
    return problems


def test_the_unsafe_load_scanner_catches_each_pattern():
    bad = """
    import pickle
    from joblib import load
    import numpy as np, keras, yaml, pandas as pd
    np.load("x.npz")
    np.load("x.npz", allow_pickle=True)
    keras.saving.load_model("m.keras")
    keras.saving.load_model("m.keras", safe_mode=False)
    keras.config.enable_unsafe_deserialization()
    yaml.load(open("x"))
    pd.read_pickle("x")
    """
    assert len(unsafe_loads(textwrap.dedent(bad))) == 9
    good = 'np.load("x", allow_pickle=False)\nkeras.saving.load_model("m", safe_mode=True, compile=False)\n'
    assert unsafe_loads(good) == []


def test_lussi_never_loads_with_pickle_or_unsafe_keras():
    problems = []
    for path in sorted((ROOT / "lussi").rglob("*.py")):
        problems += unsafe_loads(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert problems == []


def test_default_cache_directory_is_per_user_and_private(tmp_path, monkeypatch):
    monkeypatch.delenv("LUSSI_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "lussi"
    previous = os.umask(0)  # even a permissive umask must not open the cache to others
    try:
        cache = Cache()
    finally:
        os.umask(previous)
    assert cache.root == tmp_path / "home" / ".cache" / "lussi"
    assert oct(cache.root.stat().st_mode & 0o777) == "0o700" and cache.root.stat().st_uid == os.getuid()
    def build(directory):
        (directory / "f").write_text("f")
        return {}

    entry = cache.get_or_build("x", {"a": 1}, build)
    assert oct(entry.path.stat().st_mode & 0o777) == "0o700"
    assert all(not (p.stat().st_mode & 0o022) for p in cache.root.rglob("*"))
    assert ".cache/" in (ROOT / ".gitignore").read_text().split()  # the project-local alternative stays untracked


DOWNLOAD_SCRIPT = """
import io, sys, time
from lussi.download import download_mnist

payload_path, log_path, destination, digest = sys.argv[1:5]
payload = open(payload_path, "rb").read()


class SlowResponse(io.BytesIO):
    length = len(payload)

    def read(self, size=-1):
        time.sleep(0.005)  # a slow network: the kill lands mid-stream
        return super().read(4096)


def opener(url, timeout):
    with open(log_path, "a") as log:
        log.write(url + "\\n")
    return SlowResponse(payload)


download_mnist(destination, mirrors=["https://mirror.example/mnist/"],
               files={"train-images-idx3-ubyte.gz": digest}, opener=opener)
"""


def test_killed_download_leaves_no_file_that_looks_complete(tmp_path):
    payload = np.random.default_rng(0).integers(0, 256, 400_000, dtype=np.uint8).tobytes()
    (tmp_path / "payload").write_bytes(payload)
    destination, log = tmp_path / "mnist", tmp_path / "urls.log"
    argv = [sys.executable, "-c", DOWNLOAD_SCRIPT, str(tmp_path / "payload"), str(log), str(destination),
            hashlib.sha256(payload).hexdigest()]
    proc = subprocess.Popen(argv, env=_env(tmp_path / "cache"), stderr=subprocess.PIPE)

    def streaming():
        files = list(destination.iterdir()) if destination.is_dir() else []
        return any(p.stat().st_size > 50_000 for p in files if p.is_file())

    assert _kill_when(proc, streaming, timeout=120)
    target = destination / "train-images-idx3-ubyte.gz"
    assert not target.exists()  # only the hidden partial file, never under the real name
    subprocess.run(argv, env=_env(tmp_path / "cache"), check=True, timeout=120)
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(payload).digest()
    assert set(log.read_text().split()) == {"https://mirror.example/mnist/train-images-idx3-ubyte.gz"}


# =========================================================================== load: 100,000 images


@pytest.mark.slow
def test_a_100k_batch_gives_the_same_answers_as_small_batches(fitted_models, digits):
    from lussi.models.network import NetworkClassifier

    cnn = NetworkClassifier(architecture="cnn", epochs=1, filters=(4,), hidden_units=(), dropout=0.0)
    cnn.fit(digits.train_images, digits.train_labels)
    models = {**fitted_models, "cnn": cnn}
    reps = -(-100_000 // len(digits.test_images))
    big = np.tile(digits.test_images, (reps, 1, 1))[:100_000]
    for name, model in models.items():
        small = np.concatenate([model.predict_proba(digits.test_images[i : i + 7]) for i in range(0, 360, 7)])
        proba = model.predict_proba(big)
        assert proba.shape == (100_000, 10) and proba.dtype == np.float32, name
        tiled = np.tile(small, (reps, 1))[:100_000]
        np.testing.assert_allclose(proba, tiled, atol=1e-5, err_msg=name)
        np.testing.assert_array_equal(model.predict(big), np.tile(small.argmax(axis=1), reps)[:100_000])


@pytest.mark.slow  # 100,000 MNIST-sized queries
def test_knn_predicts_100k_mnist_sized_images_in_bounded_memory(digits):
    """Python-side peak memory (tracemalloc sees NumPy) of 100,000 28x28 images is that of 10,000.

    Without chunking the standardised float32 pixels of the whole batch alone are 314 MB.
    """
    from lussi.models.knn import KNNClassifier

    def mnist_sized(images):  # 8x8 digits -> 24x24 -> padded to 28x28, like MNIST's framing
        return np.pad(np.kron(images, np.ones((3, 3), np.uint8)), ((0, 0), (2, 2), (2, 2)))

    model = KNNClassifier(n_neighbors=3, scale="standard", pca_components=20)
    model.fit(mnist_sized(digits.train_images[:300]), digits.train_labels[:300])
    test = mnist_sized(digits.test_images)
    reps = -(-100_000 // len(test))
    big = np.tile(test, (reps, 1, 1))[:100_000]
    expected = model.predict(test)
    peaks = {}
    for n in (10_000, 100_000):
        tracemalloc.start()
        try:
            predicted = model.predict(big[:n])
            peaks[n] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    np.testing.assert_array_equal(predicted, np.tile(expected, reps)[:100_000])
    # Only the (n, k) neighbour lists and the labels grow with n: ~50 bytes per image.
    assert peaks[100_000] < peaks[10_000] + 100_000 * 300, {n: f"{p / 1e6:.0f} MB" for n, p in peaks.items()}


# =========================================================================== kills and concurrency


TRAIN_ARGV = ["-q", "train", "--dataset", "digits", "--profile", "quick", "--models", "knn_seed,knn,mlp"]


def _assert_cache_consistent(root: Path) -> list[dict]:
    """Every entry under a real name verifies; only hidden names hold anything else."""
    rows = Cache(root).entries()
    assert all(row["ok"] for row in rows), [row for row in rows if not row["ok"]]
    strays = [p.name for p in root.iterdir() if not p.name.startswith(".") and not p.is_dir()]
    assert strays == []
    return rows


def _tmp_dirs(root: Path) -> list[Path]:
    return [p for p in root.glob(".tmp-*") if p.is_dir()] if root.is_dir() else []


def _kill_when(proc: subprocess.Popen, condition, *, timeout: float = 240.0) -> bool:
    """SIGKILL ``proc`` as soon as ``condition()`` holds; False if it exited first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if condition():
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                return False
            proc.wait(timeout=60)
            return proc.returncode == -signal.SIGKILL
        time.sleep(0.002)
    proc.kill()
    raise AssertionError("the run neither finished nor reached the kill point in time")


def _predictions(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for entry in sorted(root.glob("test-*")):
        with np.load(entry / "predictions.npz", allow_pickle=False) as data:
            out[entry.name] = (data["labels"], data["probabilities"])
    return out


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_gone(pids: list[int], timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _alive(pid)]
        time.sleep(0.2)
    return alive


def _kill_points(cache: Path, timed: list[float], events: dict):
    """(label, factory) pairs; ``factory(t0, before)`` gives the kill condition of one run.

    Event conditions only look at temporary directories created by that run, not
    at leftovers of earlier kills.
    """

    def building(before):
        """Entry directories this run is writing: temporary ones, or any not yet holding a manifest."""
        if not cache.is_dir():
            return []
        return [
            p for p in cache.iterdir()
            if p.is_dir() and p.name not in before and not p.name.startswith(".trash-")
            and (p.name.startswith(".tmp-") or not (p / MANIFEST).exists())
        ]

    points = [(label, lambda t0, before, test=test: test(building(before))) for label, test in events.items()]
    points += [(f"{d:.1f} s after start", lambda t0, before, d=d: time.monotonic() - t0 >= d) for d in timed]
    return points


@pytest.mark.slow
def test_train_killed_at_many_points_leaves_a_consistent_cache_and_resumes(tmp_path):
    reference = tmp_path / "reference"
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "lussi.cli", *TRAIN_ARGV], env=_env(reference), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    duration = time.monotonic() - started

    cache = tmp_path / "cache"
    rng = np.random.default_rng(20240607)
    points = _kill_points(
        cache,
        sorted(float(d) for d in rng.uniform(1.0, duration, 3)),
        {
            "a cache entry being written": bool,
            "a keras model being written": lambda tmp: any(p.name.startswith((".tmp-net-", "net-")) for p in tmp),
            "manifest written, entry not yet renamed": lambda tmp: any((p / MANIFEST).exists() for p in tmp),
        },
    )
    survived = []
    for label, condition in points:
        before = {p.name for p in cache.iterdir()} if cache.is_dir() else set()
        proc = subprocess.Popen([sys.executable, "-m", "lussi.cli", *TRAIN_ARGV], env=_env(cache),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.monotonic()
        if _kill_when(proc, lambda: condition(t0, before)):
            survived.append(label)
            _assert_cache_consistent(cache)
        else:
            # Finished before the kill point: start the next point from an empty cache again.
            assert proc.returncode == 0
            _assert_cache_consistent(cache)
            shutil.rmtree(cache)
    assert len(survived) >= 4, survived

    final = subprocess.run([sys.executable, "-m", "lussi.cli", *TRAIN_ARGV], env=_env(cache),
                           capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr
    rows = _assert_cache_consistent(cache)
    assert {r["name"] for r in rows} == {r["name"] for r in Cache(reference).entries()}
    assert _tmp_dirs(cache) == []  # leftovers of killed builds were cleared, never used
    expected, got = _predictions(reference), _predictions(cache)
    assert set(got) == set(expected) and len(got) == 3
    for name, (labels, probabilities) in expected.items():
        np.testing.assert_array_equal(got[name][0], labels)
        np.testing.assert_array_equal(got[name][1], probabilities)
    print(f"train kills survived: {len(survived)} ({'; '.join(survived)})")


def _render_argv(qmd: Path, formats: str = "html") -> list[str]:
    return [sys.executable, "-m", "lussi.cli", "-q", "render", str(qmd), "--engine", "builtin", "--to", formats]


def _complete_html(path: Path) -> bool:
    text = path.read_text(encoding="utf-8", errors="replace")
    return text.rstrip().endswith("</html>") and "RELIABILITY-FIXTURE-END" in text and "KNN test accuracy" in text


def _outputs_absent_or_complete(directory: Path, names: list[str]) -> list[str]:
    present = []
    for name in names:
        path = directory / name
        if path.exists():
            assert _complete_html(path), f"{name} exists but is not a complete report"
            present.append(name)
    visible = sorted(p.name for p in directory.iterdir() if not p.name.startswith("."))
    assert set(visible) <= {"study.qmd", *names}, visible
    return present


def _accuracy_line(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    start = text.index("KNN test accuracy")
    return text[start : text.index("</p>", start)]


@pytest.mark.slow
def test_render_killed_at_several_points_leaves_no_partial_output_and_resumes(tmp_path):
    import psutil

    reference_dir, work = tmp_path / "reference", tmp_path / "work"
    for directory in (reference_dir, work):
        directory.mkdir()
        shutil.copy(FIXTURES / "study.qmd", directory / "study.qmd")
    started = time.monotonic()
    subprocess.run(_render_argv(reference_dir / "study.qmd"), env=_env(tmp_path / "reference-cache"), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    duration = time.monotonic() - started
    assert _complete_html(reference_dir / "study.html")

    cache = tmp_path / "cache"
    rng = np.random.default_rng(7)
    points = _kill_points(
        cache,
        [duration * float(rng.uniform(0.2, 0.4))],
        {"the kernel writing a cache entry": bool},
    )
    html = work / "study.html"
    previous = {}

    def html_changed(t0, before):
        return html.exists() and html.stat().st_mtime_ns != previous.get("mtime")

    points.append(("pandoc writing the html", lambda t0, before: any(work.glob(".study.html.*.tmp"))))
    points.append(("the html appearing under its real name", html_changed))
    survived = []
    for label, condition in points:
        before = {p.name for p in cache.iterdir()} if cache.is_dir() else set()
        previous["mtime"] = html.stat().st_mtime_ns if html.exists() else None
        proc = subprocess.Popen(_render_argv(work / "study.qmd"), env=_env(cache),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.monotonic()
        children: list[int] = []

        def watch(condition=condition, t0=t0, before=before, proc=proc):
            with contextlib.suppress(psutil.Error):
                children[:] = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
            return condition(t0, before)

        if _kill_when(proc, watch):
            survived.append(label)
            # The kernel outlives its parent for at most a second (ipykernel polls its parent).
            assert _wait_gone(children) == [], "a Jupyter kernel outlived the killed render"
        else:
            assert proc.returncode == 0
        _outputs_absent_or_complete(work, ["study.html"])
        if cache.exists():
            _assert_cache_consistent(cache)
    assert len(survived) >= 2, survived

    subprocess.run(_render_argv(work / "study.qmd"), env=_env(cache), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    assert _outputs_absent_or_complete(work, ["study.html"]) == ["study.html"]
    assert _accuracy_line(work / "study.html") == _accuracy_line(reference_dir / "study.html")
    _assert_cache_consistent(cache)
    print(f"render kills survived: {len(survived)} ({'; '.join(survived)})")


@pytest.mark.slow
def test_two_renders_on_one_cache_both_finish_and_build_each_model_once(tmp_path):
    directory = tmp_path / "report"
    directory.mkdir()
    shutil.copy(FIXTURES / "study.qmd", directory / "study.qmd")
    log = tmp_path / "builds.log"
    env = _env(tmp_path / "cache", LUSSI_RELIABILITY_LOG=log)
    argv = _render_argv(directory / "study.qmd", "html,revealjs")
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [(p, *p.communicate(timeout=900)) for p in procs]
    for proc, out, err in results:
        assert proc.returncode == 0, err
        assert "html:" in out and "revealjs:" in out
    lines = [line.split() for line in log.read_text().splitlines()]
    assert len({pid for pid, _, _ in lines}) == 2 and len(lines) == 4  # both kernels ran the study
    for model in ("knn", "mlp"):
        states = sorted(state for _, name, state in lines if name == model)
        assert states == ["built", "hit"], (model, states)  # the lock made the second wait and reuse
    assert _outputs_absent_or_complete(directory, ["study.html", "study-slides.html"]) == [
        "study.html", "study-slides.html"]
    assert not list(directory.glob(".*.tmp"))
    rows = _assert_cache_consistent(tmp_path / "cache")
    assert sorted(r["kind"] for r in rows) == ["knn-knn", "net-mlp", "test-knn", "test-mlp"]
