from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lussi.cli import main
from lussi.data import load_dataset


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.slow  # trains the quick study (Keras) through the CLI
def test_evaluate_json_on_digits(capsys, cache_dir):
    status, out, err = run(capsys, "-q", "evaluate", "--dataset", "digits", "--profile", "quick", "--models", "knn,mlp", "--json")
    assert status == 0, err
    figures = json.loads(out)
    assert figures["dataset"] == "digits" and figures["profile"] == "quick"
    rows = {row["model"]: row for row in figures["models"]}
    assert set(rows) == {"knn", "mlp"}
    test_labels = load_dataset("digits").test_labels
    for row in rows.values():
        assert row["ci95_low"] <= row["accuracy"] <= row["ci95_high"] and row["n_test"] == len(test_labels)
        # accuracy is a whole number of correct digits out of the test set
        assert abs(row["accuracy"] * len(test_labels) - round(row["accuracy"] * len(test_labels))) < 1e-6
    assert rows["knn"]["accuracy"] > 0.95
    assert rows["knn"]["config"]["n_neighbors"] in (1, 3, 5, 7)  # chosen from the quick profile's sweep
    assert rows["knn"]["validation_accuracy"] is not None

    # The second run is served by the cache: same figures, nothing retrained.
    status, out2, _ = run(capsys, "-q", "evaluate", "--dataset", "digits", "--profile", "quick", "--models", "knn,mlp", "--json")
    assert status == 0 and json.loads(out2) == figures


def test_evaluate_table_and_train(capsys, cache_dir):
    status, out, _ = run(capsys, "-q", "train", "--dataset", "digits", "--profile", "quick", "--models", "knn_seed")
    assert status == 0 and "KNN (seed: scaled, k=3): trained" in out
    status, out, _ = run(capsys, "-q", "train", "--dataset", "digits", "--profile", "quick", "--models", "knn_seed")
    assert "KNN (seed: scaled, k=3): cached" in out
    status, out, _ = run(capsys, "-q", "evaluate", "--dataset", "digits", "--profile", "quick", "--models", "knn_seed")
    assert status == 0
    assert "test accuracy" in out and "95% interval" in out and "KNN (seed: scaled, k=3)" in out


def test_info(capsys, cache_dir):
    status, out, _ = run(capsys, "info", "--dataset", "digits", "--json")
    facts = json.loads(out)
    assert status == 0
    assert facts["dataset"]["image_shape"] == [8, 8] and facts["cache"]["directory"] == str(cache_dir)
    assert facts["hardware"]["logical_cores"] >= 1
    status, out, _ = run(capsys, "info", "--dataset", "digits")
    assert "digits" in out and "cache" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["evaluate", "--dataset", "nosuch"], "unknown dataset 'nosuch'"),
        (["evaluate", "--dataset", "digits", "--profile", "huge"], "unknown profile 'huge'"),
        (["train", "--dataset", "digits", "--models", "svm"], "unknown model(s) svm"),
        (["render", "missing.qmd"], "missing.qmd not found"),
        (["render", "--profile", "huge", "README.md"], "unknown profile 'huge'"),
        (["render", "-P", "novalue", "README.md"], "-P expects KEY:VALUE"),
    ],
)
def test_errors_are_one_line(capsys, cache_dir, argv, message):
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert err.startswith("lussi: error: ") and message in err
    assert "Traceback" not in err


def test_debug_shows_traceback(cache_dir):
    with pytest.raises(Exception, match="unknown dataset"):
        main(["--debug", "info", "--dataset", "nosuch"])


def test_console_script_entry_point(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "lussi.cli", "info", "--dataset", "nosuch"],
        capture_output=True, text=True, env={"LUSSI_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2 and "unknown dataset" in result.stderr and "Traceback" not in result.stderr


def test_cache_dir_problems_are_reported(capsys, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    status, _, err = run(capsys, "info", "--dataset", "digits", "--cache-dir", str(shared))
    assert status == 2 and "writable by other users" in err


FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures" / "handwriting"


def test_predict_own_images(capsys, cache_dir, tmp_path):
    images = sorted(str(p) for p in FIXTURES.iterdir())
    status, out, err = run(
        capsys, "-q", "predict", *images, "--dataset", "digits", "--profile", "quick", "--models", "knn",
        "--json", "--explain", str(tmp_path / "pages"),
    )
    assert status == 0, err
    rows = json.loads(out[: out.rindex("]") + 1])
    assert [row["file"] for row in rows] == [p.rsplit("/", 1)[1] for p in images]
    for row in rows:
        top = row["predictions"]["knn"]["top"]
        shares = [p for _, p in top]
        assert 1 <= len(top) <= 3 and sum(shares) <= 1 + 1e-6 and shares == sorted(shares, reverse=True)
        assert row["predictions"]["knn"]["predicted"] == top[0][0]
    pages = sorted((tmp_path / "pages").glob("*.html"))
    assert len(pages) == len(images) and "data:image/png;base64" in pages[0].read_text()


def test_predict_rejects_bad_files(capsys, cache_dir, tmp_path):
    bogus = tmp_path / "digit.png"
    bogus.write_text("not an image")
    status, _, err = run(capsys, "predict", str(bogus), "--dataset", "digits")
    assert status == 2 and str(bogus) in err and "Traceback" not in err


def _keras_imported_by_quiet(command: str) -> subprocess.CompletedProcess:
    """Run ``lussi -q COMMAND`` in a fresh interpreter, the command replaced by a probe printing whether Keras is loaded."""
    probe = (
        "import sys; import lussi.cli as cli\n"
        f"cli.COMMANDS[{command!r}] = lambda args: print('keras' in sys.modules) or 0\n"
        "import lussi.cli_checks as checks; checks.prepare = lambda args: None\n"
        f"sys.exit(cli._run(['-q', {command!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.parametrize("command", ["render", "download", "info"])
def test_quiet_commands_that_run_no_network_do_not_import_keras(command):
    # `-q` imports Keras with stderr closed off so TensorFlow's start-up lines stay quiet; a command that never
    # runs a network in this process (render runs the report in a kernel) must not pay the ~5-9 s import for it.
    assert _keras_imported_by_quiet(command).stdout.strip() == "False"


def test_quiet_train_still_imports_keras_with_stderr_closed():
    done = _keras_imported_by_quiet("train")
    assert done.stdout.strip() == "True"
    assert "oneDNN" not in done.stderr and "absl" not in done.stderr
