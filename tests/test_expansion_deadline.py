"""The expansion deadline (caldee_dav.ical.budget): a loop past its CPU limit is stopped, whatever
other deadlines the watchdog is waiting for."""

from __future__ import annotations

import threading
import time

import pytest

from caldee_dav.ical.budget import TooCostly, deadline


def _spin(seconds: float) -> None:
    """Pure Python work for up to ``seconds`` of wall time (an expansion that will not end)."""
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        pass


def test_a_loop_past_its_limit_is_stopped() -> None:
    started = time.monotonic()
    with pytest.raises(TooCostly, match="more than 0.2 s"):
        with deadline(0.2):
            _spin(10)
    assert time.monotonic() - started < 3


def test_a_short_deadline_armed_after_a_long_one_is_kept() -> None:
    """The watchdog sleeps until the earliest deadline it knows; one armed later that comes sooner
    must wake it, or the short one would only be looked at after the long one's time."""
    armed, done = threading.Event(), threading.Event()

    def wait_under_a_long_deadline() -> None:
        with deadline(60):
            armed.set()
            done.wait(20)

    other = threading.Thread(target=wait_under_a_long_deadline)
    other.start()
    try:
        assert armed.wait(5)
        started = time.monotonic()
        with pytest.raises(TooCostly):
            with deadline(0.2):
                _spin(10)
        assert time.monotonic() - started < 3
    finally:
        done.set()
        other.join()


def test_deadlines_of_other_threads_do_not_stop_a_loop_within_its_limit() -> None:
    stopped: list[BaseException] = []

    def expand_briefly() -> None:
        try:
            for _ in range(20):
                with deadline(5):
                    _spin(0.01)
        except BaseException as error:  # noqa: BLE001 - what the test looks for
            stopped.append(error)

    threads = [threading.Thread(target=expand_briefly) for _ in range(3)]
    for thread in threads:
        thread.start()
    with pytest.raises(TooCostly):
        with deadline(0.3):
            _spin(10)
    for thread in threads:
        thread.join()
    assert stopped == []
