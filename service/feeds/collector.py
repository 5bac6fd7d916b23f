"""The cyclic garbage collector paused for the span of a feed batch.

A batch allocates some hundred thousand short-lived objects; reference counting frees them
all, yet each allocation counts toward the collector's next pass, and those passes cost
several microseconds per event while finding nothing (a batch builds no reference cycles
that outlive it). Paused per batch, the collector runs once the batch is done. Batches in
several threads of one process (the API) share one pause: the first to start pauses, the
last to finish resumes.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
