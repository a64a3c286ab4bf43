"""Failed sign-ins, counted per account and per address: after ``FREE`` failures in a row the
next attempt waits, and each further failure doubles the wait (up to ``LONGEST``). While a wait
runs the password is not even checked, so guessing stops. A success clears both counts.

The counts live in the ``throttle`` cache: process memory for the one embedded web process, Redis
where REDIS_URL is set (so every web process sees the same counts).
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import caches

FREE = 5  # failures before the first wait
FIRST_WAIT = 30.0  # seconds, after the FREE-th failure
LONGEST = 3600.0  # the wait stops doubling here
FORGET = 24 * 3600  # a count nobody adds to for a day is dropped


def _keys(username: str, address: str) -> list[str]:
    return [f"login-user:{username.strip().lower()[:150]}", f"login-addr:{address}"]


def _cache():
    return caches[settings.FLUX_THROTTLE_CACHE]


def _wait(failures: int) -> float:
    return 0.0 if failures < FREE else min(LONGEST, FIRST_WAIT * 2 ** (failures - FREE))


def wait_for(username: str, address: str) -> float:
    """Seconds to wait before this account or address may try again (0: it may now)."""
    now = time.time()
    keys = _keys(username, address)
    seen = _cache().get_many([k + suffix for k in keys for suffix in (":n", ":at")])
    return max([0.0] + [seen.get(k + ":at", 0.0) + _wait(seen.get(k + ":n", 0)) - now for k in keys])


def failed(username: str, address: str) -> None:
    # Counted with the cache's atomic increment (INCRBY in Redis): two web processes failing the
    # same account at once both count; a read-modify-write of one record would lose one of them.
    now, cache = time.time(), _cache()
    for key in _keys(username, address):
        cache.add(key + ":n", 0, FORGET)
        try:
            cache.incr(key + ":n")
        except ValueError:  # dropped between the add and the increment
            cache.set(key + ":n", 1, FORGET)
        cache.touch(key + ":n", FORGET)
        cache.set(key + ":at", now, FORGET)


def succeeded(username: str, address: str) -> None:
    _cache().delete_many([k + suffix for k in _keys(username, address) for suffix in (":n", ":at")])
