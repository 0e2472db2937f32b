"""`long_lived`: the collector is kept off what a run holds, and its state is put back afterwards."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from trackerbridge.longlived import _freeze_survivors, long_lived


@pytest.fixture(autouse=True)
def _collector() -> Iterator[None]:
    if not gc.isenabled() or gc.get_freeze_count():
        pytest.skip("the test process has its own collector policy")
    yield
    gc.unfreeze()
    gc.enable()


def test_a_run_freezes_what_is_alive_and_what_survives_full_collections() -> None:
    with long_lived() as active:
        assert active and gc.get_freeze_count() > 0
        frozen = gc.get_freeze_count()
        kept = [[n] for n in range(1000)]  # held by the run, not frozen yet
        gc.collect(1)
        assert gc.get_freeze_count() == frozen  # a young collection freezes nothing
        gc.collect()
        assert gc.get_freeze_count() >= frozen + len(kept)
    assert gc.get_freeze_count() == 0 and _freeze_survivors not in gc.callbacks


def test_as_a_decorator_each_call_is_a_run() -> None:
    @long_lived()
    def run() -> int:
        return gc.get_freeze_count()

    assert run() > 0 and run() > 0
    assert gc.get_freeze_count() == 0


def test_an_error_inside_still_puts_everything_back() -> None:
    with pytest.raises(RuntimeError), long_lived():
        raise RuntimeError("boom")
    assert gc.get_freeze_count() == 0 and _freeze_survivors not in gc.callbacks


def test_a_process_that_froze_objects_itself_keeps_its_policy() -> None:
    gc.freeze()
    theirs = gc.get_freeze_count()
    with long_lived() as active:
        assert not active
        gc.collect()
    assert gc.get_freeze_count() == theirs


def test_nothing_happens_when_the_collector_is_off() -> None:
    gc.disable()
    with long_lived() as active:
        assert not active and gc.get_freeze_count() == 0


def test_nested_runs_leave_it_to_the_outer_one() -> None:
    with long_lived() as outer:
        with long_lived() as inner:
            assert outer and not inner
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_frozen_objects_are_still_freed_when_dropped() -> None:
    class Record:
        pass

    with long_lived():
        record = Record()
        ref = weakref.ref(record)
        gc.collect()  # survives: frozen
        del record
        assert ref() is None
