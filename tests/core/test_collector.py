"""core.collector: bulk work collects garbage less often, and restores the setting afterwards."""

import gc
import threading

from leadflow.core.collector import BULK_THRESHOLD, fewer_collections


def test_the_threshold_is_raised_inside_and_restored_after_nested_blocks() -> None:
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold()[0] == max(BULK_THRESHOLD, before[0])
        with fewer_collections():
            assert gc.get_threshold()[0] == max(BULK_THRESHOLD, before[0])
        assert gc.get_threshold()[0] == max(BULK_THRESHOLD, before[0])
    assert gc.get_threshold() == before


def test_overlapping_blocks_in_threads_restore_the_setting_when_the_last_ends() -> None:
    before = gc.get_threshold()
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with fewer_collections():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other)
    with fewer_collections():
        thread.start()
        inside.wait(5)
    assert gc.get_threshold()[0] == max(BULK_THRESHOLD, before[0])  # the other block still runs
    release.set()
    thread.join(5)
    assert gc.get_threshold() == before


def test_cycles_are_still_collected_inside() -> None:
    class Node:
        partner: "Node"

    with fewer_collections():
        a, b = Node(), Node()
        a.partner, b.partner = b, a
        del a, b
        assert gc.collect() >= 2
