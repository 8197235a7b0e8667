"""lussi.progress: log lines and bars only while shown, and the overall line of a long run."""

from __future__ import annotations

import logging

from conftest import FakeClock

from lussi import progress


def test_lines_and_bars_appear_only_while_shown(capsys):
    progress.log.info("hidden")
    with progress.bar(range(3), desc="quiet") as bar:
        list(bar)
    with progress.showing():
        progress.log.info("shown")
        assert progress.enabled()
        list(progress.bar(range(3), desc="loud"))
    assert not progress.enabled() and progress.log.level == logging.NOTSET
    err = capsys.readouterr().err
    assert "shown" in err and "loud" in err and "hidden" not in err and "quiet" not in err


def test_steps_estimate_what_is_left_from_the_cold_steps(capsys):
    clock = FakeClock(0.0)
    steps = progress.Steps([("cnn", 300), ("knn", 30), ("plots", 10)])
    steps._clock = clock
    steps._began = 0.0
    with progress.showing():
        steps.start()            # nothing measured yet: the declared costs
        clock.now = 600.0        # the CNN took twice its cost: this machine is half as fast
        steps.start()
        clock.now = 600.5        # the KNN came from the cache: it says nothing about speed
        steps.start()
        clock.now = 620.0
        steps.done()
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("==")]
    assert lines == [
        "== step 1 of 3: cnn (0 s elapsed, about 5 min 40 s left)",
        "== step 2 of 3: knn (10 min 00 s elapsed, about 1 min 20 s left)",
        "== step 3 of 3: plots (10 min 00 s elapsed, about 20 s left)",
        "== done: 3 steps in 10 min 20 s",
    ]
