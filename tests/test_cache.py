from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from lussi.cache import Cache, CacheError, CacheWarning, cache_key, default_cache_dir


def _writer(value: str, calls: list):
    def build(directory):
        calls.append(value)
        (directory / "payload.txt").write_text(value)
        return {"value": value}

    return build


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("LUSSI_CACHE_DIR", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("LUSSI_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "lussi"


def test_key_is_order_independent_and_config_sensitive():
    assert cache_key({"a": 1, "b": [1, 2]}) == cache_key({"b": [1, 2], "a": 1})
    assert cache_key({"a": 1}) != cache_key({"a": 2})


def test_build_once_then_hit(tmp_path):
    cache = Cache(tmp_path / "c")
    assert oct((tmp_path / "c").stat().st_mode & 0o777) == "0o700"
    calls = []
    first = cache.get_or_build("m", {"k": 3}, _writer("one", calls))
    second = cache.get_or_build("m", {"k": 3}, _writer("two", calls))
    assert (first.hit, second.hit) == (False, True)
    assert calls == ["one"] and second.record == {"value": "one"}
    assert (second.path / "payload.txt").read_text() == "one"
    other = cache.get_or_build("m", {"k": 5}, _writer("five", calls))
    assert not other.hit and other.path != first.path  # a changed hyperparameter never returns a stale entry
    rebuilt = cache.get_or_build("m", {"k": 3}, _writer("again", calls), rebuild=True)
    assert not rebuilt.hit and rebuilt.record == {"value": "again"}
    assert [e["ok"] for e in cache.entries()] == [True, True]


def test_failed_build_leaves_nothing(tmp_path):
    cache = Cache(tmp_path)

    def failing(directory):
        (directory / "half.txt").write_text("half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        cache.get_or_build("m", {"k": 1}, failing)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


@pytest.mark.parametrize("damage", ["edit", "delete", "extra", "manifest", "key"])
def test_damaged_entry_is_discarded_and_rebuilt(tmp_path, damage):
    cache = Cache(tmp_path)
    calls = []
    entry = cache.get_or_build("m", {"k": 1}, _writer("good", calls))
    if damage == "edit":
        (entry.path / "payload.txt").write_text("evil")
    elif damage == "delete":
        (entry.path / "payload.txt").unlink()
    elif damage == "extra":
        (entry.path / "planted.pkl").write_bytes(b"\x80\x04.")
    elif damage == "manifest":
        (entry.path / "MANIFEST.json").write_text("{")
    else:
        manifest = json.loads((entry.path / "MANIFEST.json").read_text())
        manifest["key"] = "0" * 24
        (entry.path / "MANIFEST.json").write_text(json.dumps(manifest))
    with pytest.warns(CacheWarning, match="discarding damaged cache entry"):
        again = cache.get_or_build("m", {"k": 1}, _writer("fresh", calls))
    assert not again.hit and (again.path / "payload.txt").read_text() == "fresh"
    assert not (again.path / "planted.pkl").exists()


def test_unsafe_cache_directories(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with pytest.raises(CacheError, match="writable by other users.*chmod go-w"):
        Cache(shared)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(CacheError, match="cannot create cache directory"):
        Cache(blocker / "sub")


@pytest.mark.skipif(os.getuid() == 0, reason="root can write anywhere")
def test_unwritable_cache_directory(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(CacheError, match="not writable"):
        Cache(locked)


def test_concurrent_processes_build_once(tmp_path):
    """Two processes asking for the same entry: one builds, the other waits and hits."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from lussi.cache import Cache
        def build(d):
            with open({str(tmp_path / "builds.log")!r}, "a") as log:
                log.write("built\\n")
            time.sleep(1.0)
            (d / "x").write_text("x")
            return {{}}
        entry = Cache({str(tmp_path / "c")!r}).get_or_build("m", {{"k": 1}}, build)
        print("hit" if entry.hit else "built")
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
    assert outs == ["built", "hit"]
    assert (tmp_path / "builds.log").read_text() == "built\n"
