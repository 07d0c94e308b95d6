"""The cache of verified API keys: only the exact key hits, entries expire, revoking forgets."""

from __future__ import annotations

from dataclasses import dataclass

from shared.auth import VerifiedKeyCache, generate_api_key


@dataclass(frozen=True)
class Source:
    id: int


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_only_the_exact_key_hits() -> None:
    cache: VerifiedKeyCache[Source] = VerifiedKeyCache(ttl=5)
    key = generate_api_key().key
    cache.put(key, Source(1))
    assert cache.get(key) == Source(1)
    prefix_only = key.rsplit("_", 1)[0] + "_wrongsecret"
    assert cache.get(prefix_only) is None
    assert cache.get(key + "x") is None


def test_entries_expire_after_the_ttl() -> None:
    clock = Clock()
    cache: VerifiedKeyCache[Source] = VerifiedKeyCache(ttl=5, timer=clock)
    key = generate_api_key().key
    cache.put(key, Source(1))
    clock.now = 4.9
    assert cache.get(key) == Source(1)
    clock.now = 5.0
    assert cache.get(key) is None


def test_forget_drops_every_key_of_a_source() -> None:
    cache: VerifiedKeyCache[Source] = VerifiedKeyCache(ttl=5)
    a1, a2, b = (generate_api_key().key for _ in range(3))
    cache.put(a1, Source(1))
    cache.put(a2, Source(1))
    cache.put(b, Source(2))
    cache.forget(id=1)
    assert cache.get(a1) is None
    assert cache.get(a2) is None
    assert cache.get(b) == Source(2)


def test_a_ttl_of_zero_caches_nothing() -> None:
    cache: VerifiedKeyCache[Source] = VerifiedKeyCache(ttl=0)
    key = generate_api_key().key
    cache.put(key, Source(1))
    assert cache.get(key) is None
