"""Failed logins counted per client address, shared by REST and CalDAV: past the limit, the address is
refused (429 with Retry-After) before its credentials are even checked, so guessing costs nothing more
than the refusal. Only failures count: a good login never adds to the counter, and one address's
failures never refuse another address.

The counters live in a storage of the ``limits`` library (the one behind flask-limiter), so that a
request rate limiter can later share the same storage: ``memory://`` keeps them in each server process
(with several workers each counts on its own, so an address gets up to ``workers`` times the limit);
``redis://`` shares them between processes and machines.
"""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItemPerSecond
from limits.errors import ConfigurationError
from limits.storage import MovingWindowSupport, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from caldee_dav.config import Settings
from caldee_dav.errors import InvalidInput, TooManyRequests

log = logging.getLogger(__name__)

# The counters' namespace in a shared storage: other limiters use other namespaces.
NAMESPACE = "caledee-login-failures"


def open_storage(url: str) -> Storage:
    """The counters' storage; InvalidInput when the URL names none that works here (e.g. redis://
    without the `redis` extra installed)."""
    try:
        storage = storage_from_string(url)
    except ConfigurationError as exc:
        raise InvalidInput(f"rate limit storage {url!r}: {exc}") from exc
    if not isinstance(storage, MovingWindowSupport):
        raise InvalidInput(f"rate limit storage {url!r} does not keep moving windows")
    return storage


class LoginThrottle:
    """At most ``limit`` failed logins per client address within any ``window_seconds``; 0: no limit."""

    def __init__(self, storage: Storage, limit: int, window_seconds: int) -> None:
        self.enabled = limit > 0
        self.item = RateLimitItemPerSecond(max(limit, 1), window_seconds, namespace=NAMESPACE)
        self._limiter = MovingWindowRateLimiter(storage)

    @classmethod
    def for_settings(cls, settings: Settings) -> LoginThrottle:
        storage = open_storage(settings.rate_limit_storage_url)
        return cls(storage, settings.login_failure_limit, settings.login_failure_window_seconds)

    def key(self, address: str) -> str:
        """The storage key counting ``address``'s failures (one per address)."""
        return self.item.key_for(address)

    def check(self, address: str) -> None:
        """Raise TooManyRequests when ``address`` has used up its failed logins for now."""
        if not self.enabled:
            return
        try:
            if self._limiter.test(self.item, address):
                return
            reset_at = self._limiter.get_window_stats(self.item, address).reset_time
        except Exception:  # noqa: BLE001 - a storage outage must not lock every user out
            log.warning("login throttle: storage unavailable, not checking %s", address, exc_info=True)
            return
        # The storage stamps failures with the wall clock (time.time), not caldee_dav.clock: a window of
        # seconds between requests, not a calendar time that the test clock may move by days.
        wait = max(1, math.ceil(reset_at - time.time()))
        raise TooManyRequests(
            f"Too many failed logins from {address}; try again in {wait} s.", retry_after=wait
        )

    def record_failure(self, address: str) -> None:
        if not self.enabled:
            return
        try:
            self._limiter.hit(self.item, address)
        except Exception:  # noqa: BLE001 - as in check()
            log.warning("login throttle: storage unavailable, failure of %s not counted", address)
