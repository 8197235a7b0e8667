"""Reliability, second round: each class of fault an adversary found, with the protection that stops it.

Sections follow issue 11:

* wrong numbers or lost work: clean-up keyed on the entry lock, every byte
  read covered by the checksum, integer labels only, one path-resolution rule,
  pinned class names for MNIST;
* resource bombs (gzip, sparse files, overflowing headers), checked against
  a cap before anything is read or allocated;
* malformed cache internals, discarded and rebuilt;
* the environment: a full disk, read-only or immutable folders, over-long
  paths, a missing Keras backend, ``--explain`` at a file;
* Ctrl-C (exit 130, nothing half-written) and lock waits (who holds it, a time limit);
* unclear or surprising behaviour: file names in decode errors, LAB TIFFs,
  0x0 images, non-finite and hot pixels, colliding ``--explain`` pages, empty
  selections, ``-q`` and TensorFlow, and batches of pictures with bad files.

How each protection was switched off to see its test fail is in the branch's
notes (``wt11-notes.md``).
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import gzip
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import IDX_STEMS, make_idx_dataset
from lussi.cache import MANIFEST, RECORD, Cache, CacheWarning, cache_key, default_cache_dir
from lussi.cli import main
from lussi.data import MNIST_FILES, DataError, load_dataset
from lussi.idx import read_idx, write_idx

ROOT = Path(__file__).resolve().parents[1]
HANDWRITING = Path(__file__).parent / "fixtures" / "handwriting"
SUBPROCESS_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow", "PYTHONUNBUFFERED": "1"}


def run_cli(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(status, err, *fragments):
    assert status == 2, err
    assert err.startswith("lussi: error: "), err
    assert err.strip().count("\n") == 0, f"expected one line, got:\n{err}"
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"


def _env(cache: Path, **extra) -> dict:
    env = {**os.environ, **SUBPROCESS_ENV, "LUSSI_CACHE_DIR": str(cache)}
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return env


def _lussi(*argv) -> list[str]:
    return [sys.executable, "-m", "lussi.cli", *[str(a) for a in argv]]


def _wait_for(condition, timeout=120.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited early: {proc.communicate()}")
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def tiny(tmp_path) -> Path:
    directory = tmp_path / "tiny"
    make_idx_dataset(directory)
    return directory


@pytest.fixture
def trainable(tmp_path) -> Path:
    """Large enough for a stratified 10% validation split of ten classes (networks need one)."""
    directory = tmp_path / "trainable"
    make_idx_dataset(directory, n_train=200, n_test=40)
    return directory


def _build(directory: Path) -> dict:
    (directory / "model").mkdir()
    (directory / "model" / "weights.bin").write_bytes(b"w" * 100)
    return {"v": 1}


# =========================================================================== 1. clean-up and live builds

HOLD_BUILD = r"""
import os, sys, time
from pathlib import Path
from lussi.cache import Cache

root, ready, go = sys.argv[1:4]

def build(directory):
    (directory / "model").mkdir()
    (directory / "model" / "epoch-1").write_text("x")
    old = time.time() - 7200  # training is slow: the folder is two hours old
    os.utime(directory, (old, old))
    Path(ready).write_text(str(directory))
    while not Path(go).exists():
        time.sleep(0.02)
    (directory / "model" / "final").write_text("y")
    return {"v": 1}

entry = Cache(root).get_or_build("net-cnn", {"a": 1}, build)
print(entry.path)
"""


@pytest.mark.slow  # a whole lussi train start-up in a subprocess
def test_cleanup_never_removes_a_build_that_is_still_running(tmp_path, tiny, capsys):
    root, ready, go = tmp_path / "cache", tmp_path / "ready", tmp_path / "go"
    proc = subprocess.Popen([sys.executable, "-c", HOLD_BUILD, root, ready, go], env=_env(root),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(ready.exists, proc=proc)
        building = Path(ready.read_text())
        assert Cache(root).clean_temporary() == 0
        # A whole second run on the same cache, start-up clean-up included.
        status, _, err = run_cli(capsys, "-q", "train", "--dataset", tiny, "--profile", "quick",
                                 "--models", "knn_seed", "--cache-dir", root)
        assert status == 0, err
        assert building.is_dir() and (building / "model" / "epoch-1").is_file()
    finally:
        go.write_text("")
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    record, problem = Cache(root).verify("net-cnn", Path(out.strip()).name.rpartition("-")[2])
    assert record == {"v": 1}, problem


def test_cleanup_removes_leftovers_of_dead_builds_whatever_their_age(tmp_path):
    cache = Cache(tmp_path / "cache")
    name = f"m-{cache_key({'kind': 'm', 'a': 1})}"
    leftovers = [cache.root / f".tmp-{name}-abcd1234", cache.root / f".trash-{name}-efgh5678"]
    for leftover in leftovers:
        (leftover / "model").mkdir(parents=True)  # just written: age does not matter, only the lock does
    assert cache.clean_temporary() == 2
    assert not any(p.exists() for p in leftovers)


# =========================================================================== 2. what is checked is what is read


def _other_data(tmp_path: Path) -> Path:
    other = tmp_path / "other"
    make_idx_dataset(other, seed=1, n_classes=5, checksums=False)
    return other


def test_unlisted_gz_copies_beside_listed_plain_files_are_refused(tmp_path, capsys):
    data = tmp_path / "data"
    make_idx_dataset(data, gz=False)  # SHA256SUMS lists the plain files
    other = _other_data(tmp_path)
    for stem in IDX_STEMS.values():
        shutil.copy(other / f"{stem}.gz", data / f"{stem}.gz")
    status, out, err = run_cli(capsys, "info", "--dataset", data, "--cache-dir", tmp_path / "cache")
    assert_one_line_error(status, err, "train-images-idx3-ubyte")
    assert "both" in err and out == ""
    with pytest.raises(DataError, match="both"):
        load_dataset(data)


def test_a_file_that_would_be_read_but_is_not_listed_is_refused(tmp_path, capsys):
    data = tmp_path / "data"
    make_idx_dataset(data)
    sums = data / "SHA256SUMS"
    sums.write_text("".join(line + "\n" for line in sums.read_text().splitlines() if "t10k-labels" not in line))
    status, _, err = run_cli(capsys, "info", "--dataset", data, "--cache-dir", tmp_path / "cache")
    assert_one_line_error(status, err, str(data / "t10k-labels-idx1-ubyte.gz"), "not listed in")


@pytest.mark.parametrize("digest", ["unlisted", "wrong"])
def test_class_names_beside_a_checksum_list_must_be_listed_and_match(tmp_path, capsys, digest):
    data = tmp_path / "data"
    make_idx_dataset(data, class_names=list("ABCDEFGHIJ"))
    (data / "classes.txt").write_text("\n".join("JIHGFEDCBA") + "\n")  # renamed after the list was made
    if digest == "unlisted":
        sums = data / "SHA256SUMS"
        sums.write_text("".join(line + "\n" for line in sums.read_text().splitlines() if "classes" not in line))
    status, _, err = run_cli(capsys, "info", "--dataset", data, "--cache-dir", tmp_path / "cache")
    assert_one_line_error(status, err, str(data / "classes.txt"),
                          "not listed in" if digest == "unlisted" else "checksum mismatch")


def test_the_digest_is_checked_over_the_bytes_read(tmp_path):
    path = write_idx(tmp_path / "x.gz", np.arange(12, dtype=np.uint8).reshape(3, 4))
    right = hashlib.sha256(path.read_bytes()).hexdigest()
    assert read_idx(path, sha256=right).shape == (3, 4)
    with pytest.raises(DataError, match=f"{re.escape(str(path))}: checksum mismatch: expected sha256 {'0' * 64}"):
        read_idx(path, sha256="0" * 64)


# =========================================================================== 3. labels are integers


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("value", [4.999999, 3.7, np.nan])
def test_float_labels_are_refused_naming_the_file(tmp_path, capsys, dtype, value):
    data = tmp_path / "data"
    make_idx_dataset(data, checksums=False)
    labels = (np.arange(60) % 10).astype(dtype)
    labels[7] = value
    path = write_idx(data / (IDX_STEMS["train_labels"] + ".gz"), labels)
    status, _, err = run_cli(capsys, "info", "--dataset", data, "--cache-dir", tmp_path / "cache")
    assert_one_line_error(status, err, str(path), "labels must be integers", str(np.dtype(dtype)))
    assert "-9223372036854775808" not in err


# =========================================================================== 4. one path-resolution rule

PATHS_QMD = """\
---
title: paths
---

```{python}
#| tags: [parameters]
dataset = "mnist"
```

```{python}
from lussi.cache import Cache
from lussi.data import load_dataset

found = load_dataset(dataset)
print(f"SOURCE={found.source} N_TEST={len(found.test_labels)} CACHE={Cache().root}")
```
"""


@pytest.mark.slow
def test_render_resolves_dataset_and_cache_against_the_working_directory(tmp_path, monkeypatch, capsys):
    work, project = tmp_path / "work", tmp_path / "proj"
    make_idx_dataset(work / "mydata", n_test=20)
    make_idx_dataset(project / "mydata", n_test=30)  # the same name beside the report: must not be used
    (project / "report.qmd").write_text(PATHS_QMD)
    monkeypatch.chdir(work)
    monkeypatch.setenv("LUSSI_CACHE_DIR", "envcache")
    argv = ["-q", "render", "--engine", "builtin", "--to", "html", "--dataset", "mydata", "../proj/report.qmd"]
    status, _, err = run_cli(capsys, *argv)
    assert status == 0, err
    page = (project / "report.html").read_text(encoding="utf-8")
    assert f"SOURCE={work / 'mydata'} N_TEST=20 CACHE={work / 'envcache'}" in page

    status, _, err = run_cli(capsys, *argv[:2], "--cache-dir", "flagcache", *argv[2:])
    assert status == 0, err
    assert f"CACHE={work / 'flagcache'}" in (project / "report.html").read_text(encoding="utf-8")


def test_cache_and_dataset_paths_are_fixed_against_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    make_idx_dataset(tmp_path / "a" / "mydata")
    monkeypatch.chdir(tmp_path / "a")
    monkeypatch.setenv("LUSSI_CACHE_DIR", "envcache")
    assert default_cache_dir() == tmp_path / "a" / "envcache"
    cache = Cache("flagcache")
    dataset = load_dataset("mydata")
    monkeypatch.chdir(tmp_path)
    assert cache.root == tmp_path / "a" / "flagcache"
    assert dataset.source == str(tmp_path / "a" / "mydata")


# =========================================================================== 5. pinned class names


def test_mnist_class_names_are_pinned_whatever_lies_beside_the_files(tmp_path, monkeypatch, capsys):
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    for name in MNIST_FILES:
        (mnist / name).symlink_to(ROOT / "data" / "mnist" / name)
    (mnist / "classes.txt").write_text("\n".join("9876543210") + "\n")
    monkeypatch.setenv("LUSSI_DATA_DIR", str(tmp_path))
    assert load_dataset("mnist").class_names == tuple("0123456789")
    status, out, err = run_cli(capsys, "info", "--dataset", "mnist", "--json", "--profile", "quick",
                               "--cache-dir", tmp_path / "cache")
    assert status == 0, err
    assert json.loads(out)["dataset"]["class_names"] == list("0123456789")


# =========================================================================== resource bombs


@contextlib.contextmanager
def bounded(limit_bytes: int, seconds: float):
    """Fail unless the block allocates at most ``limit_bytes`` (tracemalloc sees NumPy) within ``seconds``."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        yield
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        elapsed = time.perf_counter() - start
        print(f"peak {peak / 1e6:.2f} MB, {elapsed:.3f} s")
        assert peak < limit_bytes, f"peak {peak / 1e6:.1f} MB"
        assert elapsed < seconds, f"{elapsed:.1f} s"


def _header(type_code: int, shape) -> bytes:
    return bytes([0, 0, type_code, len(shape)]) + b"".join(int(d).to_bytes(4, "big") for d in shape)


def gzip_bomb(path: Path, header: bytes, gigabytes: int = 4) -> Path:
    """A few MB of gzip members that decompress to ``gigabytes`` GiB of zeros after ``header``."""
    member = gzip.compress(bytes(1 << 26), compresslevel=9, mtime=0)  # 64 MiB of zeros -> ~65 KB
    with open(path, "wb") as handle:
        handle.write(gzip.compress(header, mtime=0))
        for _ in range(gigabytes * 16):
            handle.write(member)
    return path


@pytest.mark.parametrize("declared", [(5_000_000, 28, 28), (60, 28, 28)])
def test_a_gzip_bomb_is_refused_without_expanding_it(tmp_path, declared):
    bomb = gzip_bomb(tmp_path / "train-images-idx3-ubyte.gz", _header(0x08, declared))
    assert bomb.stat().st_size < 8_000_000
    message = "more than the" if declared[0] > 60 else "has trailing bytes"
    with bounded(16_000_000, 5.0), pytest.raises(DataError, match=message) as info:
        read_idx(bomb)
    assert str(bomb) in str(info.value)


def test_a_header_a_small_gzip_file_cannot_hold_is_refused_before_allocating(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(_header(0x08, (1000, 1000, 1000)), mtime=0))  # 1 GB declared in 40 bytes
    with bounded(2_000_000, 1.0), pytest.raises(DataError, match="gzip file can hold"):
        read_idx(path)


@pytest.mark.parametrize("type_code, shape, message", [
    (0x42, (3, 28, 28), "unknown idx data type code 0x42"),
    (0x08, (3 << 30,), "more than the"),
])
def test_a_sparse_3_gib_file_is_refused_from_its_header(tmp_path, type_code, shape, message):
    path = tmp_path / "sparse"
    with open(path, "wb") as handle:
        handle.write(_header(type_code, shape))
        handle.truncate(3 << 30)
    with bounded(2_000_000, 1.0), pytest.raises(DataError, match=message):
        read_idx(path)


@pytest.mark.parametrize("type_code, shape", [(0x08, (2**31, 2**31, 4)), (0x0C, (2**31, 2**31)), (0x0E, (2**32 - 1,) * 8)])
def test_header_dimensions_that_overflow_are_refused_by_the_size_check(tmp_path, capsys, type_code, shape):
    data = tmp_path / "data"
    make_idx_dataset(data, checksums=False)
    (data / (IDX_STEMS["train_images"] + ".gz")).unlink()
    path = data / IDX_STEMS["train_images"]
    path.write_bytes(_header(type_code, shape))
    with bounded(2_000_000, 1.0), pytest.raises(DataError, match="more than the"):
        read_idx(path)
    status, _, err = run_cli(capsys, "info", "--dataset", data, "--cache-dir", tmp_path / "cache")
    assert_one_line_error(status, err, str(path), "more than the")
    assert "reshape" not in err


# =========================================================================== malformed cache internals


def _forge(entry: Path) -> None:
    """Make the manifest match whatever the entry holds now (as a careless tool or an attacker would)."""
    manifest = json.loads((entry / MANIFEST).read_text())
    manifest["files"] = {
        str(p.relative_to(entry)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(entry.rglob("*")) if p.is_file() and p.name != MANIFEST
    }
    (entry / MANIFEST).write_text(json.dumps(manifest))


def _manifest_with(**fields):
    def corrupt(entry: Path):
        manifest = json.loads((entry / MANIFEST).read_text())
        manifest.update(fields)
        (entry / MANIFEST).write_text(json.dumps(manifest))
    return corrupt


def _write(name: str, data: bytes, forge: bool = False):
    def corrupt(entry: Path):
        target = entry / name
        if target.is_dir():
            shutil.rmtree(target)
        target.unlink(missing_ok=True)
        target.write_bytes(data)
        if forge:
            _forge(entry)
    return corrupt


def _replace_by_directory(name: str, forge: bool = False):
    def corrupt(entry: Path):
        (entry / name).unlink()
        (entry / name).mkdir()
        if forge:
            _forge(entry)
    return corrupt


def _special_file_inside(kind: str):
    def corrupt(entry: Path):
        if kind == "fifo":
            os.mkfifo(entry / "model" / "pipe")
        else:
            (entry / "model" / "link").symlink_to("/etc/hostname")
            _forge(entry)
    return corrupt


def _entry_becomes(kind: str):
    def corrupt(entry: Path):
        copy = entry.parent.parent / "elsewhere"
        shutil.copytree(entry, copy)
        shutil.rmtree(entry)
        if kind == "dangling symlink":
            entry.symlink_to(entry.parent.parent / "nowhere")
        elif kind == "symlink":
            entry.symlink_to(copy)
        else:
            entry.write_text("not a directory")
    return corrupt


ENTRY_DAMAGE = {
    "manifest files null": _manifest_with(files=None),
    "manifest files a list": _manifest_with(files=["record.json", "model/weights.bin"]),
    "manifest digest not a string": _manifest_with(files={"record.json": 1, "model/weights.bin": None}),
    "manifest key not a string": _manifest_with(key=["x"]),
    "manifest a JSON list": _write(MANIFEST, b"[]"),
    "manifest not UTF-8": _write(MANIFEST, b"\xff\xfe{\x00}\x00"),
    "manifest with a BOM": _write(MANIFEST, codecs.BOM_UTF8 + b"{}"),
    "manifest a directory": _replace_by_directory(MANIFEST),
    "record a JSON list": _write(RECORD, b"[1, 2]", forge=True),
    "record a JSON string": _write(RECORD, b'"v"', forge=True),
    "record not UTF-8": _write(RECORD, b"\x80\x81", forge=True),
    "record a directory": _replace_by_directory(RECORD, forge=True),
    "a fifo inside the entry": _special_file_inside("fifo"),
    "a symlink inside the entry": _special_file_inside("symlink"),
    "entry a dangling symlink": _entry_becomes("dangling symlink"),
    "entry a symlink to a copy": _entry_becomes("symlink"),
    "entry a file": _entry_becomes("file"),
}


@pytest.mark.parametrize("rebuild", [False, True])
@pytest.mark.parametrize("case", sorted(ENTRY_DAMAGE))
def test_a_malformed_entry_is_discarded_and_rebuilt(tmp_path, case, rebuild):
    cache = Cache(tmp_path / "cache")
    first = cache.get_or_build("m", {"a": 1}, _build)
    ENTRY_DAMAGE[case](first.path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = cache.entries()  # `lussi info` lists it as damaged, without a traceback
        again = cache.get_or_build("m", {"a": 1}, _build, rebuild=rebuild)
    assert [row["ok"] for row in rows] in ([False], [])
    assert not again.hit and again.record == {"v": 1}
    assert again.path.is_dir() and not again.path.is_symlink()
    assert cache.verify("m", again.key) == ({"v": 1}, "")
    if not rebuild:
        assert any(issubclass(w.category, CacheWarning) for w in caught), [str(w.message) for w in caught]
    assert [row["ok"] for row in cache.entries()] == [True]


def test_a_record_of_the_wrong_shape_is_discarded_and_rebuilt(tmp_path):
    cache = Cache(tmp_path / "cache")
    schema = {"v": int, "table": {"columns": list, "records": list}}

    def build(directory):
        return {"v": 1, "table": {"columns": ["a"], "records": [{"a": 1}]}}

    first = cache.get_or_build("m", {"a": 1}, build, schema=schema)
    for bad in ({}, {"v": "1", "table": {"columns": [], "records": []}}, {"v": 1, "table": {"columns": []}}):
        (first.path / RECORD).write_text(json.dumps(bad))
        _forge(first.path)
        with pytest.warns(CacheWarning, match="record.json"):
            again = cache.get_or_build("m", {"a": 1}, build, schema=schema)
        assert not again.hit and again.record["v"] == 1


@pytest.mark.parametrize("kind", ["directory", "dangling symlink", "fifo"])
def test_a_lock_path_that_is_not_a_lock_file_is_replaced(tmp_path, kind):
    cache = Cache(tmp_path / "cache")
    lock = cache.root / f".m-{cache_key({'kind': 'm', 'a': 1})}.lock"
    target = tmp_path / "outside"
    if kind == "directory":
        (lock / "sub").mkdir(parents=True)
    elif kind == "dangling symlink":
        lock.symlink_to(target)
    else:
        os.mkfifo(lock)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CacheWarning)
        entry = cache.get_or_build("m", {"a": 1}, _build)
    assert entry.record == {"v": 1} and not target.exists()  # nothing was created through the link
    assert lock.is_file() and not lock.is_symlink()


@pytest.mark.slow  # a whole lussi train in a subprocess
@pytest.mark.parametrize("rebuild", [False, True])
def test_a_dangling_symlink_entry_is_rebuilt_by_the_cli(tmp_path, tiny, capsys, rebuild):
    argv = ["-q", "train", "--dataset", tiny, "--profile", "quick", "--models", "knn_seed", "--cache-dir",
            tmp_path / "cache"]
    assert run_cli(capsys, *argv)[0] == 0
    entry = next((tmp_path / "cache").glob("knn-knn_seed-*"))
    shutil.rmtree(entry)
    entry.symlink_to(tmp_path / "gone")
    status, _, err = run_cli(capsys, "info", "--dataset", tiny, "--cache-dir", tmp_path / "cache")
    assert status == 0 and "Traceback" not in err
    for _ in range(2):
        status, out, err = run_cli(capsys, *argv, *(["--rebuild"] if rebuild else []))
        assert status == 0, err
        assert entry.is_dir() and not entry.is_symlink()


# =========================================================================== environment


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(args[0]) if args else None)


def test_a_full_disk_while_building_is_one_line_and_leaves_nothing(tmp_path, tiny, capsys, monkeypatch):
    import lussi.cache

    monkeypatch.setattr(lussi.cache, "_fsync_tree", _no_space)
    root = tmp_path / "cache"
    status, _, err = run_cli(capsys, "-q", "train", "--dataset", tiny, "--profile", "quick",
                             "--models", "knn_seed", "--cache-dir", root)
    assert_one_line_error(status, err, "No space left on device", str(root), "--cache-dir")
    assert [p.name for p in root.iterdir() if not p.name.endswith(".lock")] == []


def _mount_tmpfs(directory: Path, size: str, *options: str) -> bool:
    directory.mkdir(parents=True, exist_ok=True)
    if os.getuid() != 0 or shutil.which("mount") is None:
        return False
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join([f"size={size}", *options]), "tmpfs",
                             str(directory)], capture_output=True)
    return result.returncode == 0


@pytest.mark.parametrize("options, fragment", [((), "No space left on device"), (("ro",), "Read-only file system")])
def test_a_real_full_or_read_only_disk_is_one_line(tmp_path, tiny, capsys, options, fragment):
    small = tmp_path / "small"
    if not _mount_tmpfs(small, "16k", *options):
        pytest.skip("needs root and tmpfs to make a small disk")
    try:
        if not options:
            (small / "cache").mkdir(mode=0o700)
        status, _, err = run_cli(capsys, "-q", "train", "--dataset", tiny, "--profile", "quick",
                                 "--models", "knn_seed", "--cache-dir", small / "cache")
        assert_one_line_error(status, err, fragment, str(small / "cache"))
        if not options:
            assert not any(p.name.startswith(".tmp-") for p in (small / "cache").iterdir())
    finally:
        subprocess.run(["umount", str(small)], check=True)


@contextlib.contextmanager
def immutable(path: Path):
    if os.getuid() != 0 or shutil.which("chattr") is None:
        pytest.skip("needs root and chattr")
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("this file system does not support chattr +i")
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_an_immutable_explain_folder_fails_before_predicting(tmp_path, capsys, cache_dir):
    pages = tmp_path / "pages"
    pages.mkdir()
    with immutable(pages):
        status, out, err = run_cli(capsys, "-q", "predict", HANDWRITING / "3-chalk.png", "--dataset", "digits",
                                   "--profile", "quick", "--models", "knn", "--explain", pages)
    assert_one_line_error(status, err, str(pages))
    assert out == "" and not cache_dir.exists()  # no model was trained


def test_an_immutable_cache_folder_is_one_line(tmp_path, capsys):
    root = tmp_path / "cache"
    root.mkdir(mode=0o700)
    with immutable(root):
        status, _, err = run_cli(capsys, "info", "--dataset", "digits", "--cache-dir", root)
    assert_one_line_error(status, err, str(root))


def test_over_long_paths_are_one_line_errors(tmp_path, capsys, cache_dir):
    long = tmp_path / ("x" * 300)
    status, _, err = run_cli(capsys, "info", "--dataset", "digits", "--cache-dir", long)
    assert_one_line_error(status, err, "too long")
    status, _, err = run_cli(capsys, "info", "--dataset", long)
    assert_one_line_error(status, err, "too long")
    status, out, err = run_cli(capsys, "-q", "predict", long / "digit.png", "--dataset", "digits")
    assert status == 2 and "too long" in err and "Traceback" not in err
    status, out, err = run_cli(capsys, "-q", "predict", HANDWRITING / "3-chalk.png", "--dataset", "digits",
                               "--explain", long / "pages")
    assert_one_line_error(status, err, "too long")
    assert out == ""


def test_an_input_with_a_very_long_name_still_gets_its_page(tmp_path, capsys, cache_dir):
    picture = tmp_path / ("d" * 251 + ".png")  # 255 bytes, the longest name there is: "<stem>.html" would not fit
    shutil.copy(HANDWRITING / "3-chalk.png", picture)
    status, out, err = run_cli(capsys, "-q", "predict", picture, "--dataset", "digits", "--profile", "quick",
                               "--models", "knn", "--explain", tmp_path / "pages")
    assert status == 0, err
    pages = list((tmp_path / "pages").iterdir())
    assert len(pages) == 1 and len(pages[0].name.encode()) <= 255 and pages[0].suffix == ".html"


def test_a_page_whose_name_is_near_the_limit_is_written_through_a_short_temporary_name(tmp_path):
    from lussi.handwriting.explain import write_explanation

    target = write_explanation(tmp_path / ("p" * 250 + ".html"), "<html></html>")
    assert target.read_text() == "<html></html>" and [p.name for p in tmp_path.iterdir()] == [target.name]


def test_an_immutable_report_folder_fails_before_rendering(tmp_path, capsys, cache_dir):
    folder = tmp_path / "report"
    folder.mkdir()
    marker = tmp_path / "cells-ran"
    (folder / "report.qmd").write_text(f"```{{python}}\nopen({str(marker)!r}, 'w').close()\n```\n")
    with immutable(folder):
        status, _, err = run_cli(capsys, "-q", "render", folder / "report.qmd", "--engine", "builtin", "--to", "html")
    assert_one_line_error(status, err, str(folder))
    assert not marker.exists()  # refused before a kernel ran anything


def test_download_into_an_unwritable_folder_fails_before_downloading(tmp_path, capsys, monkeypatch):
    import lussi.data

    def must_not_run(*args, **kwargs):
        raise AssertionError("the download started")

    monkeypatch.setattr(lussi.download, "download_mnist", must_not_run)
    folder = tmp_path / "data"
    folder.mkdir()
    with immutable(folder):
        status, _, err = run_cli(capsys, "download", "--data-dir", folder / "mnist")
    assert_one_line_error(status, err, "--data-dir", str(folder))


@pytest.mark.parametrize("param, fragment", [("dataset:", "-P dataset"), ("profile:", "-P profile"),
                                             ("profile:huge", "unknown profile 'huge'")])
def test_empty_or_unknown_report_parameters_are_refused_before_rendering(tmp_path, capsys, cache_dir, param,
                                                                         fragment):
    qmd = tmp_path / "report.qmd"
    qmd.write_text("No cells.\n")
    status, _, err = run_cli(capsys, "-q", "render", qmd, "--engine", "builtin", "--to", "html", "-P", param)
    assert_one_line_error(status, err, fragment)
    assert not (tmp_path / "report.html").exists()


@pytest.mark.slow  # starts lussi in a subprocess that imports Keras
@pytest.mark.parametrize("backend, package", [("torch", "torch"), ("jax", "jax")])
def test_a_missing_keras_backend_package_says_what_to_install(tmp_path, trainable, backend, package):
    if importlib.util.find_spec(package) is not None:
        pytest.skip(f"{package} is installed")
    result = subprocess.run(_lussi("-q", "train", "--dataset", trainable, "--profile", "quick", "--models", "mlp"),
                            capture_output=True, text=True, env=_env(tmp_path / "cache", KERAS_BACKEND=backend),
                            timeout=300)
    assert_one_line_error(result.returncode, result.stderr, f"KERAS_BACKEND={backend}", f"pip install {package}")


def test_explain_pointing_at_an_existing_file_fails_before_predicting(tmp_path, capsys, cache_dir):
    target = tmp_path / "page.html"
    target.write_text("keep me")
    status, out, err = run_cli(capsys, "-q", "predict", HANDWRITING / "3-chalk.png", "--dataset", "digits",
                               "--profile", "quick", "--models", "knn", "--explain", target)
    assert_one_line_error(status, err, str(target), "--explain")
    assert out == "" and target.read_text() == "keep me" and not cache_dir.exists()


# =========================================================================== Ctrl-C

SWALLOWED_INTERRUPT = r"""
import os, signal, sys
from pathlib import Path
import lussi.download
import lussi.study
from lussi import cli
from lussi.cache import Cache

root = sys.argv[1]

def run_study(*args, **kwargs):
    class Finaliser:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)  # lands inside __del__, where Python can only print it

    def build(directory):
        (directory / "model").write_text("first half")
        Finaliser()
        (directory / "more").write_text("second half")
        return {"v": 1}

    Cache(root).get_or_build("m", {"a": 1}, build)
    print("the run went on after Ctrl-C", flush=True)
    raise SystemExit(0)

lussi.study.run_study = run_study
sys.exit(cli.main(["train", "--cache-dir", root]))
"""


def test_an_interrupt_swallowed_during_a_build_still_stops_the_run(tmp_path):
    root = tmp_path / "cache"
    result = subprocess.run([sys.executable, "-c", SWALLOWED_INTERRUPT, root], capture_output=True, text=True,
                            env=_env(root), timeout=120)
    assert result.returncode == 130, (result.stdout, result.stderr)
    assert "went on" not in result.stdout and "Exception ignored" not in result.stderr
    assert "lussi: interrupted" in result.stderr
    assert [p.name for p in root.iterdir() if not p.name.endswith(".lock")] == []


def _cache_is_whole(root: Path) -> None:
    rows = Cache(root).entries()
    assert all(row["ok"] for row in rows), rows
    assert not [p.name for p in root.iterdir() if p.name.startswith((".tmp-", ".trash-"))]


@pytest.mark.slow
def test_ctrl_c_at_many_moments_exits_130_and_leaves_nothing_half_written(tmp_path, trainable):
    root = tmp_path / "cache"
    # --rebuild: every run builds, so every interrupt lands in work (a cached run could finish first).
    argv = _lussi("train", "--dataset", trainable, "--profile", "quick", "--models", "knn_seed,cnn", "--rebuild")
    marker = "CNN: training or loading from cache"
    delays = [0.0, 0.0, 0.02, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0, 1.5, 2.0, 3.0, 4.5]
    outcomes = []
    for delay in delays:
        proc = subprocess.Popen(argv, env=_env(root), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if marker in line:
                break
        time.sleep(delay)
        assert proc.poll() is None, "the run ended before the interrupt"
        proc.send_signal(signal.SIGINT)
        out, rest = proc.communicate(timeout=120)
        err = "".join(lines) + rest
        outcomes.append((delay, proc.returncode))
        assert proc.returncode == 130, (delay, err[-2000:])
        assert "Exception ignored" not in err and "Traceback" not in err, err[-2000:]
        assert err.rstrip().endswith("lussi: interrupted"), err[-500:]
        _cache_is_whole(root)
    print("interrupts:", outcomes)
    final = subprocess.run(argv[:-1], env=_env(root), capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr[-2000:]
    _cache_is_whole(root)


# =========================================================================== lock waits

LOCK_HOLDER = r"""
import sys, time
from lussi.cache import Cache

def build(directory):
    print("held", flush=True)
    time.sleep(300)
    return {}

Cache(sys.argv[1]).get_or_build("m", {"a": 1}, build)
"""

LOCK_WAITER = r"""
import sys
from lussi.cache import Cache, CacheError

try:
    Cache(sys.argv[1]).get_or_build("m", {"a": 1}, lambda d: {})
except CacheError as error:
    print(error)
    sys.exit(3)
"""


@contextlib.contextmanager
def lock_holder(root: Path):
    proc = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, root], env=_env(root), stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.slow  # waits for a lock time limit in a subprocess
@pytest.mark.parametrize("how", ["argument", "environment"])
def test_a_lock_wait_names_the_holder_and_gives_up_after_the_time_limit(tmp_path, how):
    root = tmp_path / "cache"
    with lock_holder(root) as holder:
        os.kill(holder.pid, signal.SIGSTOP)  # a stopped process keeps its lock
        start = time.monotonic()
        if how == "argument":
            script = LOCK_WAITER.replace("Cache(sys.argv[1])", "Cache(sys.argv[1], lock_timeout=4)")
            env = _env(root, LUSSI_LOCK_TIMEOUT=None)
        else:
            script, env = LOCK_WAITER, _env(root, LUSSI_LOCK_TIMEOUT=4)
        result = subprocess.run([sys.executable, "-c", script, root], capture_output=True, text=True, env=env,
                                timeout=60)
        elapsed = time.monotonic() - start
    assert result.returncode == 3, result.stderr
    assert 4 <= elapsed < 30
    assert re.search(rf"waiting .* held by pid {holder.pid} .*since \d\d:\d\d:\d\d", result.stderr), result.stderr
    assert "stopped" in result.stderr
    assert re.search(rf"gave up after 4 s .* pid {holder.pid}", result.stdout), result.stdout
    assert "--lock-timeout" in result.stdout and "LUSSI_LOCK_TIMEOUT" in result.stdout


@pytest.mark.slow
def test_the_cli_gives_up_on_a_stopped_training_run(tmp_path, trainable):
    root = tmp_path / "cache"
    argv = _lussi("train", "--dataset", trainable, "--profile", "quick", "--models", "mlp")
    first = subprocess.Popen(argv, env=_env(root), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: any(root.glob(".tmp-net-mlp-*")), proc=first)
        os.kill(first.pid, signal.SIGSTOP)
        second = subprocess.run([*argv[:3], "-q", *argv[3:], "--lock-timeout", "5"], env=_env(root),
                                capture_output=True, text=True, timeout=120)
        lines = second.stderr.strip().splitlines()
        assert second.returncode == 2, second.stderr
        assert any(f"held by pid {first.pid}" in line for line in lines[:-1]), lines
        assert_one_line_error(2, lines[-1], "gave up after 5 s", f"pid {first.pid}")
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert first.wait(timeout=300) == 0


@pytest.mark.parametrize("value", ["abc", "-1", "nan", ""])
def test_a_bad_lock_timeout_is_one_line(capsys, cache_dir, monkeypatch, value):
    status, _, err = run_cli(capsys, "info", "--dataset", "digits", "--lock-timeout", value)
    assert_one_line_error(status, err, "--lock-timeout")
    monkeypatch.setenv("LUSSI_LOCK_TIMEOUT", value)
    status, _, err = run_cli(capsys, "info", "--dataset", "digits")
    assert_one_line_error(status, err, "LUSSI_LOCK_TIMEOUT")


def test_the_lock_time_limit_is_documented(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--lock-timeout" in capsys.readouterr().out
    readme = (ROOT / "README.md").read_text()
    assert "--lock-timeout" in readme and "LUSSI_LOCK_TIMEOUT" in readme


# =========================================================================== unclear or surprising: files named

BAD_TEXT = {
    "not UTF-8": (b"0\n1\n\xff2\n", "not UTF-8"),
    "a BOM": (codecs.BOM_UTF8 + b"0\n1\n", "byte-order mark"),
    "UTF-16": ("0\n1\n".encode("utf-16"), "UTF-16"),
    "a NUL byte": (b"0\n\x001\n", "NUL"),
}


@pytest.mark.parametrize("case", sorted(BAD_TEXT))
@pytest.mark.parametrize("name", ["classes.txt", "SHA256SUMS"])
def test_text_files_that_are_not_utf8_are_named(tmp_path, capsys, name, case):
    data = tmp_path / "data"
    make_idx_dataset(data, checksums=False)
    content, fragment = BAD_TEXT[case]
    (data / name).write_bytes(content)
    status, _, err = run_cli(capsys, "info", "--dataset", data, "--cache-dir", tmp_path / "cache")
    assert_one_line_error(status, err, str(data / name), fragment)


def _make_special(path: Path, kind: str) -> None:
    if path.exists():
        path.unlink()
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to(path.parent / "nowhere")


@pytest.mark.parametrize("kind", ["directory", "fifo", "dangling symlink"])
@pytest.mark.parametrize("name", ["classes.txt", "SHA256SUMS", "train-images-idx3-ubyte.gz"])
def test_a_directory_fifo_or_dangling_link_where_a_data_file_should_be_is_named(tmp_path, capsys, name, kind):
    data = tmp_path / "data"
    make_idx_dataset(data, checksums=name == "SHA256SUMS")
    _make_special(data / name, kind)
    status, _, err = run_cli(capsys, "info", "--dataset", data, "--cache-dir", tmp_path / "cache")
    assert_one_line_error(status, err, str(data / name))


CLASS_LISTS = {
    "a blank line inside": ("0\n1\n\n2\n3\n4\n5\n6\n7\n8\n9\n", "empty line"),
    "a duplicated name": ("0\n1\n2\n3\n4\n5\n6\n7\n8\n1\n", "used twice"),
    "no names": ("\n\n", "names no classes"),
    "a control character": ("0\n1\x07\n2\n3\n4\n5\n6\n7\n8\n9\n", "control characters"),
}


@pytest.mark.parametrize("case", sorted(CLASS_LISTS))
def test_a_class_list_that_would_shift_or_confuse_names_is_refused(tmp_path, capsys, case):
    data = tmp_path / "data"
    make_idx_dataset(data, checksums=False)
    text, fragment = CLASS_LISTS[case]
    (data / "classes.txt").write_text(text)
    status, _, err = run_cli(capsys, "info", "--dataset", data, "--cache-dir", tmp_path / "cache")
    assert_one_line_error(status, err, str(data / "classes.txt"), fragment)


def _sums_cases(data: Path) -> dict:
    lines = (data / "SHA256SUMS").read_text().splitlines()
    return {
        "a name listed twice": ("\n".join(lines + lines[:1]) + "\n", "listed twice"),
        "an empty name": ("\n".join(lines) + f"\n{'0' * 64}  \n", "not the name of a file"),
        "a path outside": ("\n".join(lines) + f"\n{'0' * 64}  ../x\n", "not the name of a file"),
        "a digest that is not hex": ("\n".join(lines) + f"\n{'z' * 64}  x\n", "not a sha256sum line"),
        "no lines": ("", "lists no files"),
    }


@pytest.mark.parametrize("case", ["a name listed twice", "an empty name", "a path outside",
                                  "a digest that is not hex", "no lines"])
def test_a_malformed_checksum_list_is_refused(tmp_path, capsys, case):
    data = tmp_path / "data"
    make_idx_dataset(data)
    text, fragment = _sums_cases(data)[case]
    (data / "SHA256SUMS").write_text(text)
    status, _, err = run_cli(capsys, "info", "--dataset", data, "--cache-dir", tmp_path / "cache")
    assert_one_line_error(status, err, str(data / "SHA256SUMS"), fragment)


@pytest.mark.parametrize("case", ["not UTF-8", "a BOM", "a directory"])
@pytest.mark.parametrize("name", ["report.qmd", "_quarto.yml"])
def test_report_files_that_are_not_utf8_text_are_named(tmp_path, capsys, name, case):
    qmd = tmp_path / "report.qmd"
    qmd.write_text("---\ntitle: t\n---\n\nNo cells here.\n")
    (tmp_path / "_quarto.yml").write_text("project:\n  type: default\n")
    target = tmp_path / name
    if case == "a directory":
        target.unlink()
        target.mkdir()
    else:
        target.write_bytes((b"\xff\xfe\xfa" if case == "not UTF-8" else codecs.BOM_UTF8) + target.read_bytes())
    status, _, err = run_cli(capsys, "-q", "render", qmd, "--engine", "builtin", "--to", "html")
    assert_one_line_error(status, err, str(target))
    assert not (tmp_path / "report.html").exists()


# =========================================================================== unclear or surprising: pictures


def _seven() -> np.ndarray:
    from lussi.handwriting.drawing import draw_digit

    return np.asarray(draw_digit(7, style="font", seed=3).convert("L"))


def test_a_lab_tiff_reads_like_its_grey_version(tmp_path):
    from PIL import Image

    from lussi.handwriting.files import load_digit_image

    grey = Image.fromarray(_seven(), mode="L")
    grey.save(tmp_path / "grey.png")
    flat = Image.new("L", grey.size, 128)
    Image.merge("LAB", (grey, flat, flat)).save(tmp_path / "lab.tif")
    np.testing.assert_array_equal(load_digit_image(tmp_path / "lab.tif"), load_digit_image(tmp_path / "grey.png"))


def test_a_colour_mode_that_cannot_be_converted_is_an_error_naming_the_file():
    from PIL import Image

    from lussi.handwriting.files import ImageError, preprocess_digit

    with pytest.raises(ImageError, match="scan.tif"):
        preprocess_digit(Image.new("La", (40, 40)), name="scan.tif")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_pixels_are_their_own_error(tmp_path, value):
    from PIL import Image

    from lussi.handwriting.files import ImageError, load_digit_image

    pixels = _seven().astype(np.float32) / 255
    pixels[5, 5] = value
    path = tmp_path / "seven.tif"
    Image.fromarray(pixels, mode="F").save(path)
    with pytest.raises(ImageError, match="NaN or infinite") as info:
        load_digit_image(path)
    assert str(path) in str(info.value) and "no digit found" not in str(info.value)


@pytest.mark.parametrize("kind", ["16-bit", "float"])
def test_one_hot_pixel_does_not_hide_a_clear_digit(tmp_path, kind):
    from PIL import Image

    from lussi.handwriting.files import load_digit_image

    seven = _seven()
    if kind == "16-bit":
        clean, hot = seven.astype(np.uint16), 65535
    else:
        clean, hot = seven.astype(np.float32) / 255, 1e30
    Image.fromarray(clean).save(tmp_path / "clean.tif")
    spoiled = clean.copy()
    spoiled[3, 3] = hot
    Image.fromarray(spoiled).save(tmp_path / "hot.tif")
    np.testing.assert_array_equal(load_digit_image(tmp_path / "hot.tif"), load_digit_image(tmp_path / "clean.tif"))


def test_a_lone_dot_is_not_reported_as_faint_ink(tmp_path):
    from PIL import Image

    from lussi.handwriting.files import ImageError, load_digit_image

    pixels = np.full((40, 40), 255, np.uint8)
    pixels[20, 20] = 0
    Image.fromarray(pixels).save(tmp_path / "dot.png")
    with pytest.raises(ImageError, match="no digit found") as info:
        load_digit_image(tmp_path / "dot.png")
    assert "contrast 255 of 255" not in str(info.value)


@pytest.mark.parametrize("shape", [(0, 0), (0, 28), (28, 0)])
def test_images_without_pixels_are_refused_when_loading(tmp_path, capsys, shape):
    data = tmp_path / "data"
    make_idx_dataset(data, checksums=False)
    for split, n in (("train", 60), ("test", 20)):
        write_idx(data / (IDX_STEMS[f"{split}_images"] + ".gz"), np.zeros((n, *shape), np.uint8))
    status, _, err = run_cli(capsys, "info", "--dataset", data, "--cache-dir", tmp_path / "cache")
    assert_one_line_error(status, err, "at least one pixel", "train-images-idx3-ubyte")


@pytest.fixture(scope="module")
def digits_knn():
    from lussi.models.knn import KNNClassifier

    digits = load_dataset("digits")
    return digits, KNNClassifier(n_neighbors=3).fit(digits.train_images, digits.train_labels)


def test_colliding_explanation_names_never_overwrite_each_other(tmp_path, digits_knn):
    from lussi.handwriting.explain import write_explanations

    digits, knn = digits_knn
    names = ["a/one.png", "b/one.jpg", "01-one.png", "ONE.png", "c/One.PNG"]
    pages = write_explanations(tmp_path / "pages", digits.test_images[:5], names, knn,
                               train_images=digits.train_images, train_labels=digits.train_labels)
    assert len({page.name.casefold() for page in pages}) == 5
    assert sorted(p.name for p in (tmp_path / "pages").iterdir()) == sorted(p.name for p in pages)
    for page, name in zip(pages, names):
        assert f"Why this digit? {name}" in page.read_text(encoding="utf-8")


# =========================================================================== unclear or surprising: the command line


@pytest.mark.parametrize("argv, option", [
    (["train", "--dataset", "digits", "--models", ""], "--models"),
    (["train", "--dataset", "digits", "--models", ","], "--models"),
    (["train", "--dataset", "digits", "--models", "knn,,mlp"], "--models"),
    (["train", "--dataset", "digits", "--models", "knn,knn"], "--models"),
    (["info", "--dataset", "digits", "--cache-dir", ""], "--cache-dir"),
    (["info", "--dataset", ""], "--dataset"),
    (["predict", HANDWRITING / "3-chalk.png", "--dataset", "digits", "--explain", ""], "--explain"),
    (["render", "--to", "", "README.qmd"], "--to"),
    (["render", "--cache-dir", "", "README.qmd"], "--cache-dir"),
    (["download", "--data-dir", ""], "--data-dir"),
])
def test_empty_selections_are_refused(argv, option, capsys, cache_dir, monkeypatch, tmp_path):
    import lussi.data
    import lussi.study

    def must_not_run(*args, **kwargs):
        raise AssertionError("an empty selection started a run")

    monkeypatch.setattr(lussi.study, "run_study", must_not_run)
    monkeypatch.setattr(lussi.download, "download_mnist", must_not_run)
    monkeypatch.chdir(tmp_path)
    status, _, err = run_cli(capsys, *argv)
    assert_one_line_error(status, err, option)


@pytest.mark.parametrize("variable", ["LUSSI_CACHE_DIR", "LUSSI_DATA_DIR"])
def test_an_empty_path_variable_is_refused(variable, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))  # were the empty value ignored, the default cache would be here
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv(variable, "")
    status, _, err = run_cli(capsys, "info", "--dataset", "mnist")
    assert_one_line_error(status, err, variable)


@pytest.mark.slow
def test_quiet_silences_tensorflow_start_up_lines(tmp_path, trainable):
    result = subprocess.run(_lussi("-q", "train", "--dataset", trainable, "--profile", "quick", "--models", "mlp"),
                            capture_output=True, text=True, timeout=600,
                            env=_env(tmp_path / "cache", TF_CPP_MIN_LOG_LEVEL=0))  # as a user's shell may set it
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_predict_reports_each_bad_file_and_still_predicts_the_good_ones(tmp_path, capsys, cache_dir):
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    missing = tmp_path / "missing.png"
    good = [HANDWRITING / "3-chalk.png", HANDWRITING / "7-photo.jpg"]
    argv = ["-q", "predict", good[0], bad, missing, good[1], "--dataset", "digits", "--profile", "quick",
            "--models", "knn"]
    status, out, err = run_cli(capsys, *argv)
    assert status == 2
    assert "3-chalk.png" in out and "7-photo.jpg" in out
    lines = err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("lussi: error: ") for line in lines), err
    assert str(bad) in lines[0] and str(missing) in lines[1] and "Traceback" not in err

    status, out, err = run_cli(capsys, *argv, "--json")
    rows = json.loads(out)
    assert status == 2 and [sorted(row) for row in rows] == [["file", "predictions"], ["error", "file"],
                                                             ["error", "file"], ["file", "predictions"]]
