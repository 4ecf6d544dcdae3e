"""The one cache rule a warm instance keeps things by: expiry after ttl, oldest dropped past the cap."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from sysvmdiag.ttl_cache import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_value_is_kept_until_its_ttl_and_not_at_it() -> None:
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(5, 10, clock)
    cache.put("a", 1)
    clock.now += 4.9
    assert cache.get("a") == 1
    clock.now += 0.1
    assert cache.get("a") is None


def test_a_zero_ttl_keeps_nothing() -> None:
    cache: TtlCache[str, int] = TtlCache(0, 10, Clock())
    cache.put("a", 1)
    assert cache.get("a") is None and len(cache) == 0


def test_the_oldest_stored_goes_first_past_the_cap_and_a_rewrite_makes_it_young() -> None:
    cache: TtlCache[str, int] = TtlCache(60, 2, Clock())
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 3)
    cache.put("c", 4)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (3, None, 4)


def test_discard_drops_only_what_the_predicate_refuses() -> None:
    cache: TtlCache[tuple[str, int], str] = TtlCache(60, 10, Clock())
    for key in (("vm1", 1), ("vm1", 2), ("vm2", 1)):
        cache.put(key, "x")
    cache.discard(lambda key: key[0] != "vm1")
    assert len(cache) == 1 and cache.get(("vm2", 1)) == "x"


def _until(condition, what: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.001)


def test_callers_missing_one_key_together_share_one_load() -> None:
    cache: TtlCache[str, str] = TtlCache(60, 10, Clock())
    loads: list[str] = []
    release = threading.Event()

    def slow_load() -> str:
        loads.append("first")
        release.wait(10)
        return "answer"

    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(cache.get_or_load, "key", slow_load)
        _until(lambda: loads == ["first"], "the first load under way")
        second = pool.submit(cache.get_or_load, "key", lambda: loads.append("second") or "other")
        _until(lambda: cache.waiting == 1, "the second caller waiting for the first load")
        release.set()
        assert (first.result(10), second.result(10)) == ("answer", "answer")
    assert loads == ["first"]


def test_a_failed_or_empty_load_is_not_shared_and_not_kept() -> None:
    cache: TtlCache[str, str] = TtlCache(60, 10, Clock())
    release = threading.Event()
    started = threading.Event()

    def failing() -> str:
        started.set()
        release.wait(10)
        raise RuntimeError("store down")

    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(cache.get_or_load, "key", failing)
        assert started.wait(10)
        second = pool.submit(cache.get_or_load, "key", lambda: "own")
        _until(lambda: cache.waiting == 1, "the second caller waiting")
        release.set()
        assert second.result(10) == "own"
        with pytest.raises(RuntimeError):
            first.result(10)
    assert cache.get_or_load("missing", lambda: None) is None and len(cache) == 1


def test_with_a_zero_ttl_every_caller_loads() -> None:
    cache: TtlCache[str, int] = TtlCache(0, 10, Clock())
    count = iter(range(10))
    assert [cache.get_or_load("k", lambda: next(count)) for _ in range(3)] == [0, 1, 2]
