"""Property-based tests (hypothesis) of the readers of untrusted files.

The idx reader, the ``SHA256SUMS`` and ``classes.txt`` readers and the picture
loader get generated inputs: valid files, random headers and sizes,
truncations, flipped bytes, random bytes behind a valid magic number. Each
either returns a well-formed result or raises its documented error type
(``DataError``; ``ImageError`` for pictures); nothing else escapes. Memory
stays bounded: the peak traced allocation of every single input is measured
(tracemalloc sees NumPy's buffers too) and must stay under a few MB, however
large the sizes an input's header declares.

The examples are derandomised, so a run is reproducible; the totals (inputs,
seconds, largest peak) are printed at the end of the module (``pytest -s``).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import random
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from lussi.data import DataError  # noqa: E402
from lussi.idx import read_idx  # noqa: E402
from lussi.validation import read_checksums, read_class_names  # noqa: E402

# Inputs per reader (10,200 in all): hypothesis draws EXAMPLES[name] structured inputs, and each is also
# tried as VARIANTS[name] - 1 seeded mutants (truncated, bytes flipped or inserted, garbage appended), which
# costs far less than drawing every input through hypothesis.
EXAMPLES = {"idx": 800, "sums": 250, "classes": 250, "pictures": 700}
VARIANTS = {"idx": 6, "sums": 8, "classes": 8, "pictures": 2}
# The most one input may allocate: the largest valid idx payload generated is 64 KiB, so an idx
# reader that trusted a declared size (up to 2**32 per dimension) would allocate gigabytes. A
# picture may allocate PICTURE_BYTES_PER_PIXEL for each pixel its header declares (the loader
# refuses more than 40 megapixels before decoding) on top of the fixed limit.
PEAK_LIMIT = {"idx": 2 << 20, "sums": 2 << 20, "classes": 2 << 20, "pictures": 16 << 20}
PICTURE_BYTES_PER_PIXEL = 64
TOTALS = {name: {"inputs": 0, "seconds": 0.0, "peak": 0} for name in EXAMPLES}

pytestmark = [
    pytest.mark.slow,  # 10,200 generated inputs per run (about 40 s): the full suite's, not the quick loop's
    pytest.mark.filterwarnings("ignore::UserWarning"),  # Pillow's notes on the corrupt files
    pytest.mark.filterwarnings("error::RuntimeWarning"),  # a NaN computed from a bad input is a bug too
]

FUZZ = dict(deadline=None, database=None, derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                   HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module", autouse=True)
def report_totals():
    yield
    total = sum(t["inputs"] for t in TOTALS.values())
    seconds = sum(t["seconds"] for t in TOTALS.values())
    for name, figures in TOTALS.items():
        print(f"fuzz {name}: {figures['inputs']} inputs, {figures['seconds']:.1f} s, "
              f"largest peak {figures['peak'] / 1e6:.2f} MB")
    print(f"fuzz total: {total} inputs in {seconds:.1f} s")


class Measured:
    """Counts the inputs of one reader and checks each one's peak allocation.

    Tracing runs only around the reader's call: hypothesis's own generation is
    neither measured nor slowed down.
    """

    def __init__(self, name: str, *, extra: int = 0):
        self.name, self.figures, self.limit = name, TOTALS[name], PEAK_LIMIT[name] + extra

    def __enter__(self):
        self.start = time.perf_counter()
        tracemalloc.start()
        return self

    def __exit__(self, *exc):
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        self.figures["inputs"] += 1
        self.figures["seconds"] += time.perf_counter() - self.start
        self.figures["peak"] = max(self.figures["peak"], peak)
        assert peak < self.limit, f"{self.name}: one input allocated {peak / 1e6:.1f} MB"
        return False


def _mutate(draw, data: bytes) -> bytes:
    """Keep, truncate, flip one byte or append garbage."""
    how = draw(st.sampled_from(["keep", "keep", "truncate", "flip", "append"]))
    if how == "truncate" and data:
        return data[: draw(st.integers(0, len(data) - 1))]
    if how == "flip" and data:
        i = draw(st.integers(0, len(data) - 1))
        return data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1:]
    if how == "append":
        return data + draw(st.binary(min_size=1, max_size=64))
    return data


def variants(data: bytes, seed: int, count: int) -> list[bytes]:
    """``data`` and ``count - 1`` mutants of it, from a seeded generator."""
    rng = random.Random(seed)
    out = [data]
    for _ in range(count - 1):
        mutant = bytearray(out[-1] if rng.random() < 0.3 else data)
        how = rng.choice(["truncate", "flip", "flip", "insert", "append", "zero"])
        i = rng.randrange(len(mutant) + 1)
        if how == "truncate":
            del mutant[i:]
        elif how == "flip" and mutant:
            mutant[min(i, len(mutant) - 1)] ^= rng.randrange(1, 256)
        elif how == "insert":
            mutant[i:i] = rng.randbytes(rng.randrange(1, 9))
        elif how == "append":
            mutant += rng.randbytes(rng.randrange(1, 65))
        else:
            mutant[i:i + rng.randrange(1, 17)] = bytes(len(mutant[i:i + 16]))
        out.append(bytes(mutant))
    return out


# =========================================================================== idx files

TYPE_CODES = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}


@st.composite
def idx_bytes(draw):
    magic = draw(st.sampled_from([b"\0\0", b"\0\0", b"\0\0", b"\x1f\x8b", b"\x01\0"]))
    code = draw(st.one_of(st.sampled_from(sorted(TYPE_CODES)), st.integers(0, 255)))
    ndim = draw(st.integers(0, 6))
    small = st.integers(0, 9)
    edges = st.sampled_from([0, 1, 2**16, 2**31, 2**32 - 1])  # where size arithmetic overflows or degenerates
    dims = draw(st.lists(st.one_of(small, small, edges, st.integers(0, 2**32 - 1)), min_size=ndim, max_size=ndim))
    header = magic + bytes([code, ndim]) + b"".join(d.to_bytes(4, "big") for d in dims)
    size = math.prod(dims) * TYPE_CODES.get(code, 1)
    if size <= 65536 and draw(st.booleans()):
        payload = draw(st.binary(min_size=size, max_size=size)) if size <= 256 else bytes(size)
    else:
        payload = draw(st.binary(max_size=300))
    data = _mutate(draw, header + payload)
    if draw(st.booleans()):
        data = _mutate(draw, gzip.compress(data, mtime=0))
    return data


def _declared(data: bytes) -> tuple[tuple[int, ...], int, int]:
    """(shape, type code, payload bytes) of the header actually in ``data`` (mutations included)."""
    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return shape, raw[2], len(raw) - 4 - 4 * ndim


@settings(max_examples=EXAMPLES["idx"], **FUZZ)
@given(sample=idx_bytes(), digest=st.sampled_from(["none", "right", "wrong"]), seed=st.integers(0, 2**32))
def test_the_idx_reader_returns_the_declared_array_or_a_data_error(tmp_path, sample, digest, seed):
    path = tmp_path / "fuzz.idx"
    for data in variants(sample, seed, VARIANTS["idx"]):
        path.write_bytes(data)
        sha256 = {"none": None, "right": hashlib.sha256(data).hexdigest(), "wrong": "0" * 64}[digest]
        with Measured("idx"):
            try:
                array = read_idx(path, sha256=sha256)
            except DataError as error:
                assert str(path) in str(error)
                continue
        assert digest != "wrong"
        shape, code, payload = _declared(data)
        assert isinstance(array, np.ndarray) and array.shape == shape and array.nbytes == payload
        assert array.dtype.itemsize == TYPE_CODES[code] and array.dtype.isnative


# =========================================================================== SHA256SUMS and classes.txt

NAME = st.text(st.characters(blacklist_categories=["Cs"]), min_size=0, max_size=12)


@st.composite
def sums_bytes(draw):
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["valid", "valid", "random", "blank"]))
        if kind == "valid":
            digest = draw(st.binary(min_size=32, max_size=32)).hex()
            lines.append(f"{digest}{draw(st.sampled_from(['  ', ' *', ' ', '   ']))}{draw(NAME)}")
        elif kind == "random":
            lines.append(draw(st.text(max_size=80)))
        else:
            lines.append(draw(st.sampled_from(["", " ", "\r", "\t"])))
    text = draw(st.sampled_from(["\n", "\r\n"])).join(lines)
    data = text.encode("utf-8", errors="surrogatepass")
    if draw(st.booleans()):
        data = _mutate(draw, data)
    if draw(st.integers(0, 9)) == 0:
        data = draw(st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\x80"])) + data
    return data


@settings(max_examples=EXAMPLES["sums"], **FUZZ)
@given(sample=sums_bytes(), seed=st.integers(0, 2**32))
def test_the_checksum_list_reader_returns_clean_entries_or_a_data_error(tmp_path, sample, seed):
    path = tmp_path / "SHA256SUMS"
    for data in variants(sample, seed, VARIANTS["sums"]):
        path.write_bytes(data)
        with Measured("sums"):
            try:
                sums = read_checksums(path)
            except DataError as error:
                assert str(path) in str(error)
                continue
        assert sums and all(len(d) == 64 and d == d.lower() and int(d, 16) >= 0 for d in sums.values())
        assert all(name and "/" not in name and name == name.strip() for name in sums)


@st.composite
def classes_bytes(draw):
    names = draw(st.lists(st.one_of(NAME, st.sampled_from(["0", "1", "cat", "", " "])), max_size=12))
    data = draw(st.sampled_from(["\n", "\r\n"])).join(names).encode("utf-8", errors="surrogatepass")
    if draw(st.booleans()):
        data += b"\n"
    if draw(st.booleans()):
        data = _mutate(draw, data)
    return data


@settings(max_examples=EXAMPLES["classes"], **FUZZ)
@given(sample=classes_bytes(), digest=st.sampled_from(["none", "right", "wrong"]), seed=st.integers(0, 2**32))
def test_the_class_list_reader_returns_distinct_names_or_a_data_error(tmp_path, sample, digest, seed):
    path = tmp_path / "classes.txt"
    for data in variants(sample, seed, VARIANTS["classes"]):
        path.write_bytes(data)
        sha256 = {"none": None, "right": hashlib.sha256(data).hexdigest(), "wrong": "0" * 64}[digest]
        with Measured("classes"):
            try:
                names = read_class_names(path, sha256=sha256)
            except DataError as error:
                assert str(path) in str(error)
                continue
        assert digest != "wrong"
        assert names and len(set(names)) == len(names) and all(n and n == n.strip() for n in names)


# =========================================================================== pictures

FORMATS = {"PNG": "png", "JPEG": "jpg", "GIF": "gif", "BMP": "bmp", "TIFF": "tif", "WEBP": "webp"}
MODES = ["L", "RGB", "RGBA", "LA", "P", "1", "I;16", "I", "F", "CMYK", "LAB", "YCbCr"]


@st.composite
def picture_bytes(draw):
    from PIL import Image

    kind = draw(st.sampled_from(["image", "image", "image", "magic"]))
    if kind == "magic":  # random bytes behind a real signature
        magic = draw(st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"BM", b"II*\x00",
                                      b"MM\x00*", b"RIFF\x00\x00\x00\x00WEBP"]))
        return magic + draw(st.binary(max_size=400)), "bin"
    width, height = draw(st.integers(1, 96)), draw(st.integers(1, 96))
    mode, fmt = draw(st.sampled_from(MODES)), draw(st.sampled_from(sorted(FORMATS)))
    seed = draw(st.integers(0, 2**32 - 1))
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width), dtype=np.uint8)
    if draw(st.booleans()):  # a dark bar on light paper, so some inputs hold a "digit"
        pixels[:] = 255
        pixels[height // 4: 3 * height // 4, width // 3: width // 3 + max(1, width // 6)] = 0
    picture = Image.fromarray(pixels, mode="L").convert(mode) if mode != "LAB" else \
        Image.merge("LAB", [Image.fromarray(pixels, mode="L")] * 3)
    buffer = io.BytesIO()
    try:
        picture.save(buffer, format=fmt)
    except (OSError, ValueError, KeyError):  # the format cannot store the mode: keep it as PNG/TIFF
        buffer = io.BytesIO()
        picture.save(buffer, format="TIFF")
        fmt = "TIFF"
    return _mutate(draw, buffer.getvalue()), FORMATS[fmt]


@settings(max_examples=EXAMPLES["pictures"], **FUZZ)
@given(sample=picture_bytes(), size=st.sampled_from([28, 8]), seed=st.integers(0, 2**32))
def test_the_picture_loader_returns_a_digit_or_an_image_error(tmp_path, sample, size, seed):
    from lussi.handwriting.files import MAX_PIXELS, ImageError, load_digit_image

    picture, suffix = sample
    path = tmp_path / f"fuzz.{suffix}"
    for data in variants(picture, seed, VARIANTS["pictures"]):
        path.write_bytes(data)
        declared = _declared_pixels(path)
        with Measured("pictures", extra=PICTURE_BYTES_PER_PIXEL * min(declared, MAX_PIXELS)):
            try:
                digit = load_digit_image(path, size=size)
            except ImageError as error:
                assert str(path) in str(error)
                continue
        assert digit.shape == (size, size) and digit.dtype == np.uint8
        assert declared <= MAX_PIXELS


def _declared_pixels(path: Path) -> int:
    """Pixels the picture's header declares (0 when Pillow cannot even read the header)."""
    from PIL import Image

    try:
        with Image.open(path) as picture:
            return picture.size[0] * picture.size[1]
    except Exception:  # noqa: BLE001 - the loader under test reports these; here they only mean "no size"
        return 0


def test_every_reader_met_its_inputs():
    """Run last in this module: each property above saw all its generated inputs."""
    wanted = {name: EXAMPLES[name] * VARIANTS[name] for name in EXAMPLES}
    missing = {name: (t["inputs"], wanted[name]) for name, t in TOTALS.items() if t["inputs"] < wanted[name]}
    if any(t["inputs"] == 0 for t in TOTALS.values()):
        pytest.skip("run the whole module to check the totals")
    assert not missing, missing
    assert sum(t["inputs"] for t in TOTALS.values()) >= 10_000
