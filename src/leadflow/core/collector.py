"""Python's garbage collector during bulk work.

A batch of the intake flow keeps tens of thousands of new objects alive until it is written (rows,
payloads, traces). With the default threshold (a collection every 700 new container objects) the
collector walks them again and again: a quarter to a third of an import's CPU time. Bulk work raises
the threshold while it runs; the objects are freed as usual by reference counting, and cycles are
still collected, only less often.
"""

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

BULK_THRESHOLD = 50_000


class _Setting:
    """The threshold in force outside bulk blocks, and how many bulk blocks are running."""

    lock = threading.Lock()
    depth = 0
    saved: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Collects young objects every BULK_THRESHOLD allocations instead of 700 while the block runs
    (nested and concurrent blocks share one setting; the last one out restores the previous one)."""
    with _Setting.lock:
        if _Setting.depth == 0:
            _Setting.saved = gc.get_threshold()
            first, *older = _Setting.saved
            gc.set_threshold(max(BULK_THRESHOLD, first), *older)
        _Setting.depth += 1
    try:
        yield
    finally:
        with _Setting.lock:
            _Setting.depth -= 1
            if _Setting.depth == 0:
                gc.set_threshold(*_Setting.saved)
