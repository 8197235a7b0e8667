"""lussi.safe_io: the one atomic writer and the one PNG data-URI encoder."""

import base64
import io
import stat

import numpy as np
import pytest
from PIL import Image

from lussi.safe_io import atomic_write_text, atomic_writer, png_data_uri


def test_an_interrupted_write_keeps_the_old_file_and_leaves_nothing_beside_it(tmp_path):
    target = tmp_path / "page.html"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_writer(target) as stream:
        stream.write(b"half of the new")
        raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]


def test_a_finished_write_replaces_the_file_with_the_asked_permissions(tmp_path):
    target = tmp_path / "data.bin"
    with atomic_writer(target, mode=0o640, prefix=".data.bin.", suffix=".part") as stream:
        stream.write(b"\x00\x01")
        (temporary,) = tmp_path.iterdir()  # named for clean-up of what a killed run leaves
        assert temporary.name.startswith(".data.bin.") and temporary.name.endswith(".part")
        assert not target.exists()
    assert target.read_bytes() == b"\x00\x01"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["data.bin"]


def test_atomic_write_text_is_utf8(tmp_path):
    target = atomic_write_text(tmp_path / "t.txt", "déjà vu")
    assert target.read_bytes() == "déjà vu".encode("utf-8")


def test_png_data_uri_round_trips_the_pixels():
    pixels = np.arange(48, dtype=np.uint8).reshape(6, 8) * 5
    uri = png_data_uri(Image.fromarray(pixels))
    assert uri.startswith("data:image/png;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert decoded.format == "PNG"
    np.testing.assert_array_equal(np.asarray(decoded), pixels)
