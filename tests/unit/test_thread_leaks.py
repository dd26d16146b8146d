"""The autouse fixture that fails a test leaking threads sees a leak, and only a leak."""

from __future__ import annotations

import threading

from conftest import leaked_threads


def test_a_thread_left_running_is_a_leak_and_a_joined_one_is_not() -> None:
    before = set(threading.enumerate())
    release = threading.Event()
    thread = threading.Thread(target=release.wait, name="left-running")
    thread.start()
    try:
        assert leaked_threads(before) == [thread]
    finally:
        release.set()
        thread.join()
    assert leaked_threads(before) == []
