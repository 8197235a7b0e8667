from __future__ import annotations

import gzip
import hashlib
import io
from pathlib import Path

import numpy as np
import pytest

from lussi import download
from lussi.data import MNIST_FILES, DataError, check_images, default_mnist_dir, load_dataset
from lussi.download import download_mnist
from lussi.idx import read_idx, write_idx
from lussi.idx_folder import load_idx_dataset, verify_checksums

from conftest import make_idx_dataset

# --------------------------------------------------------------------------- idx files


@pytest.mark.parametrize("name", ["a.gz", "a"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_idx_round_trip(tmp_path, name, dtype):
    array = (np.arange(2 * 3 * 5) - 7).astype(dtype).reshape(2, 3, 5)
    if dtype == np.uint8:
        array = np.arange(30, dtype=np.uint8).reshape(2, 3, 5)
    back = read_idx(write_idx(tmp_path / name, array))
    assert back.dtype == np.dtype(dtype) and back.shape == (2, 3, 5)
    np.testing.assert_array_equal(back, array)


def test_read_idx_detects_gzip_by_content(tmp_path):
    array = np.arange(6, dtype=np.uint8)
    payload = write_idx(tmp_path / "x.gz", array).read_bytes()
    (tmp_path / "no-suffix").write_bytes(payload)
    np.testing.assert_array_equal(read_idx(tmp_path / "no-suffix"), array)


def test_read_idx_errors_name_file_and_problem(tmp_path):
    good = write_idx(tmp_path / "good", np.zeros((4, 2, 2), dtype=np.uint8)).read_bytes()
    cases = {
        "missing": (None, "file not found"),
        "magic": (b"\x01\x02" + good[2:], "bad idx magic number"),
        "dtype": (good[:2] + b"\x42" + good[3:], "unknown idx data type code 0x42"),
        "truncated": (good[:-3], r"truncated: header declares shape \(4, 2, 2\)"),
        "trailing": (good + b"\x00", "has trailing bytes"),
        "short": (b"\x00\x00", "too short"),
        "zero-dims": (b"\x00\x00\x08\x00", "zero dimensions"),
        "corrupt.gz": (gzip.compress(good)[:-10], "corrupt or truncated gzip"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(DataError, match=message) as info:
            read_idx(path)
        assert str(path) in str(info.value)


def test_verify_checksums(tmp_path):
    make_idx_dataset(tmp_path)
    assert len(verify_checksums(tmp_path)) == 4
    target = tmp_path / "t10k-labels-idx1-ubyte.gz"
    expected = hashlib.sha256(target.read_bytes()).hexdigest()
    target.write_bytes(target.read_bytes() + b"x")
    actual = hashlib.sha256(target.read_bytes()).hexdigest()
    with pytest.raises(DataError, match=f"expected sha256 {expected}, got {actual}"):
        verify_checksums(tmp_path)
    assert verify_checksums(tmp_path / "nowhere-without-sums") == []


# --------------------------------------------------------------------------- datasets


def test_load_idx_dataset(idx_dir):
    arrays = make_idx_dataset(idx_dir)
    ds = load_idx_dataset(idx_dir)
    assert ds.name == "tiny" and ds.image_shape == (28, 28) and ds.n_classes == 10
    assert ds.train_images.dtype == np.uint8 and ds.train_labels.dtype == np.int64
    np.testing.assert_array_equal(ds.test_images, arrays["test_images"])
    assert not ds.train_images.flags.writeable
    assert ds.class_names == tuple(str(i) for i in range(10))
    assert load_dataset(idx_dir).fingerprint == ds.fingerprint


def test_uncompressed_files_and_class_names(tmp_path):
    make_idx_dataset(tmp_path, gz=False, n_classes=3, class_names=["cat", "dog", "bird"])
    ds = load_idx_dataset(tmp_path)
    assert ds.class_names == ("cat", "dog", "bird")


def test_dataset_errors(tmp_path):
    with pytest.raises(DataError, match="dataset directory not found"):
        load_idx_dataset(tmp_path / "absent")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="missing train-images-idx3-ubyte"):
        load_idx_dataset(empty)

    mismatch = tmp_path / "mismatch"
    make_idx_dataset(mismatch, checksums=False)
    write_idx(mismatch / "t10k-labels-idx1-ubyte.gz", np.zeros(19, dtype=np.uint8))
    with pytest.raises(DataError, match="holds 20 images but t10k-labels-idx1-ubyte holds 19 labels"):
        load_idx_dataset(mismatch)

    out_of_range = tmp_path / "range"
    make_idx_dataset(out_of_range, checksums=False)
    labels = np.zeros(60, dtype=np.uint8)
    labels[7] = 12
    write_idx(out_of_range / "train-labels-idx1-ubyte.gz", labels)
    with pytest.raises(DataError, match="label 12 at index 7 is outside 0-9"):
        load_idx_dataset(out_of_range)

    dims = tmp_path / "dims"
    make_idx_dataset(dims, checksums=False)
    write_idx(dims / "t10k-images-idx3-ubyte.gz", np.zeros((20, 784), dtype=np.uint8))
    with pytest.raises(DataError, match=r"expected uint8 images of 3 dimensions"):
        load_idx_dataset(dims)

    sums = tmp_path / "sums"
    make_idx_dataset(sums)
    write_idx(sums / "train-images-idx3-ubyte.gz", np.zeros((60, 28, 28), dtype=np.uint8))
    with pytest.raises(DataError, match="checksum mismatch"):
        load_idx_dataset(sums)
    assert load_idx_dataset(sums, verify=False).train_images.max() == 0


def test_unknown_dataset_name():
    with pytest.raises(DataError, match="unknown dataset 'fashion'.*'mnist', 'digits'"):
        load_dataset("fashion")


def test_digits_dataset():
    ds = load_dataset("digits")
    assert ds.image_shape == (8, 8) and ds.train_images.dtype == np.uint8
    assert ds.train_images.max() == 255 and len(ds.train_labels) + len(ds.test_labels) == 1797
    assert set(np.unique(ds.test_labels)) == set(range(10))


def test_mnist_committed_files():
    directory = default_mnist_dir()
    ds = load_dataset("mnist")
    assert directory.name == "mnist"
    assert ds.train_images.shape == (60000, 28, 28) and ds.test_images.shape == (10000, 28, 28)
    # The original order: the first training digit is a 5, the first test digit a 7.
    assert ds.train_labels[:3].tolist() == [5, 0, 4] and ds.test_labels[:3].tolist() == [7, 2, 1]
    assert np.bincount(ds.test_labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_mnist_missing_files_message(tmp_path):
    with pytest.raises(DataError, match="MNIST files not found.*lussi download"):
        load_dataset("mnist", data_dir=tmp_path)


def test_validation_split_is_stratified_seeded_and_disjoint():
    ds = load_dataset("digits")
    fit, val = ds.validation_split(fraction=0.2, random_state=3)
    fit2, val2 = ds.validation_split(fraction=0.2, random_state=3)
    _, val3 = ds.validation_split(fraction=0.2, random_state=4)
    assert len(fit) + len(val) == len(ds.train_labels)
    np.testing.assert_array_equal(val.images, val2.images)
    assert not np.array_equal(val.labels, val3.labels) or not np.array_equal(val.images, val3.images)
    train_share = np.bincount(ds.train_labels) / len(ds.train_labels)
    val_share = np.bincount(val.labels) / len(val)
    assert np.abs(train_share - val_share).max() < 0.01
    rows = {row.tobytes() for row in fit.images}
    assert sum(row.tobytes() in rows for row in val.images) <= 2  # digits has a couple of duplicate images
    with pytest.raises(ValueError, match="fraction must be between 0 and 1"):
        ds.validation_split(fraction=1.5)


def test_subset():
    ds = load_dataset("digits")
    small = ds.subset(n_train=100, n_test=50)
    assert len(small.train_labels) == 100 and len(small.test_labels) == 50
    assert small.fingerprint != ds.fingerprint and small.name == "digits[100/50]"
    assert set(np.unique(small.train_labels)) == set(range(10))
    assert ds.subset() is ds
    with pytest.raises(ValueError, match="smaller than the number of classes"):
        ds.subset(n_train=5)


# --------------------------------------------------------------------------- download


class FakeResponse(io.BytesIO):
    def __init__(self, payload: bytes, length: int | None = None):
        super().__init__(payload)
        self.length = len(payload) if length is None else length


def _fake_files():
    payloads = {name: gzip.compress(name.encode() * 10, mtime=0) for name in MNIST_FILES}
    return payloads, {name: hashlib.sha256(p).hexdigest() for name, p in payloads.items()}


def test_download_verifies_and_falls_back(tmp_path):
    payloads, sums = _fake_files()
    calls = []

    def opener(url, timeout):
        calls.append(url)
        name = url.rsplit("/", 1)[1]
        if url.startswith("https://first/"):
            return FakeResponse(b"not the file")  # wrong digest -> next mirror
        return FakeResponse(payloads[name])

    paths = download_mnist(
        tmp_path, mirrors=["https://first/", "https://second/"], files=sums, opener=opener
    )
    assert [p.read_bytes() for p in paths] == list(payloads.values())
    assert len(calls) == 8
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob(".*"))
    calls.clear()
    download_mnist(tmp_path, mirrors=["https://first/"], files=sums, opener=opener)
    assert calls == []  # verified files are kept


def test_download_failures_leave_nothing(tmp_path):
    payloads, sums = _fake_files()
    with pytest.raises(DataError, match="only https mirrors"):
        download_mnist(tmp_path, mirrors=["http://insecure/"], files=sums, opener=None)

    def corrupt(url, timeout):
        return FakeResponse(b"garbage")

    with pytest.raises(DataError, match="checksum mismatch: expected sha256"):
        download_mnist(tmp_path, mirrors=["https://m/"], files=sums, opener=corrupt)

    def huge(url, timeout):
        response = FakeResponse(b"x" * 2000)
        response.length = None  # a server that does not say how much it sends
        return response

    with pytest.raises(DataError, match="exceeds the 1000-byte cap"):
        download_mnist(tmp_path, mirrors=["https://m/"], files=sums, opener=huge, max_bytes=1000)

    def declared_huge(url, timeout):
        return FakeResponse(b"x", length=10**9)

    with pytest.raises(DataError, match="over the 1000-byte cap"):
        download_mnist(tmp_path, mirrors=["https://m/"], files=sums, opener=declared_huge, max_bytes=1000)

    def offline(url, timeout):
        raise OSError("network unreachable")

    with pytest.raises(DataError, match="network unreachable"):
        download_mnist(tmp_path, mirrors=["https://m/"], files=sums, opener=offline)
    assert list(tmp_path.iterdir()) == []


def test_load_mnist_downloads_when_asked(tmp_path, monkeypatch):

    calls = []

    def fake_download(directory, **kwargs):
        calls.append(Path(directory))
        raise DataError("offline in tests")

    monkeypatch.setattr(download, "download_mnist", fake_download)
    with pytest.raises(DataError, match="offline in tests"):
        load_dataset("mnist", data_dir=tmp_path, download=True)
    assert calls == [tmp_path]


# --------------------------------------------------------------------------- model inputs


def test_check_images_conversion_rules():
    batch = np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256
    np.testing.assert_array_equal(check_images(batch, (28, 28)), batch.astype(np.uint8))
    assert check_images(batch[0], (28, 28)).shape == (1, 28, 28)
    assert check_images(batch.reshape(2, 784), (28, 28)).shape == (2, 28, 28)
    assert check_images(batch[..., None].astype(np.uint8), (28, 28)).shape == (2, 28, 28)
    floats = batch / 255.0
    np.testing.assert_array_equal(check_images(floats, (28, 28)), batch.astype(np.uint8))


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((3, 784 + 1)), r"must have shape \(n, 28, 28\)"),
        (np.zeros((10, 27, 28)), r"got \(10, 27, 28\)"),
        (np.zeros((0, 28, 28)), "empty batch"),
        (np.full((1, 28, 28), np.nan), "NaN or infinite"),
        (np.full((1, 28, 28), 2.0), r"float images must be scaled to \[0, 1\]"),
        (np.full((1, 28, 28), 300), r"values 0-255"),
        (np.full((1, 28, 28), -1), r"values 0-255"),
        (np.full((1, 28, 28), "a"), "must be numeric"),
        (np.zeros((1, 28, 28), dtype=bool), "must be numeric"),
    ],
)
def test_check_images_rejects(images, message):
    with pytest.raises(ValueError, match=message):
        check_images(images, (28, 28))


def test_default_opener_refuses_redirects_away_from_https():
    import urllib.request

    from lussi.download import _https_only_opener

    opener = _https_only_opener()
    handler = next(h for h in opener.__self__.handlers if isinstance(h, urllib.request.HTTPRedirectHandler))
    request = urllib.request.Request("https://mirror.example/train-images-idx3-ubyte.gz")
    with pytest.raises(DataError, match="refusing redirect to http://evil.example/x"):
        handler.redirect_request(request, None, 302, "Found", {}, "http://evil.example/x")
    followed = handler.redirect_request(request, None, 302, "Found", {}, "https://other.example/x")
    assert followed.full_url == "https://other.example/x"


def test_stale_partial_downloads_are_removed(tmp_path):
    payloads, sums = _fake_files()
    stale = tmp_path / ".train-images-idx3-ubyte.gz.abc123.part"
    stale.write_bytes(b"half a file")
    download_mnist(tmp_path, mirrors=["https://m/"], files=sums,
                   opener=lambda url, timeout: FakeResponse(payloads[url.rsplit("/", 1)[1]]))
    assert not stale.exists()
