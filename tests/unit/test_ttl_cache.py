"""The one cache rule a warm instance keeps things by: expiry after ttl, oldest dropped past the cap."""

from __future__ import annotations

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
