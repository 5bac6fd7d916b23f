"""The collector is paused while a batch runs and resumed after, also when batches overlap."""

from __future__ import annotations

import gc
import threading

from service.feeds.collector import collector_paused


def test_the_collector_is_paused_for_a_batch_and_resumed_after_it():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_overlapping_batches_resume_the_collector_only_when_the_last_one_ends():
    first_in, second_done, release = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with collector_paused():
            first_in.set()
            release.wait(5)
            seen.append(gc.isenabled())

    t = threading.Thread(target=first)
    t.start()
    first_in.wait(5)
    with collector_paused():
        pass
    # The second batch ended while the first still runs: still paused.
    seen.append(gc.isenabled())
    second_done.set()
    release.set()
    t.join(5)
    assert seen == [False, False]
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled():
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
