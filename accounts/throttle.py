"""Failed sign-ins, counted per account and per address: after ``FREE`` failures in a row the
next attempt waits, and each further failure doubles the wait (up to ``LONGEST``). While a wait
runs the password is not even checked, so guessing stops. A success clears both counts.

The counts live in the ``throttle`` cache: process memory for the one embedded web process, Redis
where REDIS_URL is set (so every web process sees the same counts).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches

FREE = 5  # failures before the first wait
FIRST_WAIT = 30.0  # seconds, after the FREE-th failure
LONGEST = 3600.0  # the wait stops doubling here
FORGET = 24 * 3600  # a count nobody adds to for a day is dropped


@dataclass
class Count:
    failures: int = 0
    until: float = 0.0  # no attempt before this time


def _keys(username: str, address: str) -> list[str]:
    return [f"login-user:{username.strip().lower()[:150]}", f"login-addr:{address}"]


def _cache():
    return caches[settings.FLUX_THROTTLE_CACHE]


def wait_for(username: str, address: str) -> float:
    """Seconds to wait before this account or address may try again (0: it may now)."""
    now = time.time()
    counts = _cache().get_many(_keys(username, address))
    return max([0.0] + [c.until - now for c in counts.values()])


def failed(username: str, address: str) -> None:
    now = time.time()
    for key in _keys(username, address):
        count = _cache().get(key) or Count()
        count.failures += 1
        if count.failures >= FREE:
            count.until = now + min(LONGEST, FIRST_WAIT * 2 ** (count.failures - FREE))
        _cache().set(key, count, FORGET)


def succeeded(username: str, address: str) -> None:
    _cache().delete_many(_keys(username, address))
