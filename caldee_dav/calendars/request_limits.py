"""REST request rate limits: every /api/v2 request is counted, per API token when it carries a valid
one, else per client address, in fixed windows of one clock minute.

The counters live in the same ``limits`` storage as the failed-login counters (``throttle.py``):
``memory://`` in each process, ``redis://`` shared by every process and machine. A window is a clock
minute (12:00:00 to 12:00:59), so its end is known without asking the storage: counting a request is
one round trip (an INCR that also sets the key's expiry on its first hit), and the answer tells the
limit, what is left and when the window ends. The price of fixed windows: a client may spend its
limit at the end of one minute and again at the start of the next (at most twice the limit within
any 60 s); a moving window would cost a list per client and more round trips per request.

A storage outage lets requests through uncounted (with a warning at most once a minute) rather than
refuse every client.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass

from limits import RateLimitItemPerMinute
from limits.storage import Storage

from caldee_dav.calendars.throttle import open_storage
from caldee_dav.config import Settings
from caldee_dav.errors import TooManyRequests

log = logging.getLogger(__name__)

# The counters' namespace in a shared storage (the login throttle and the feeds use others).
NAMESPACE = "caledee-api"
WINDOW_SECONDS = 60
# How often a storage outage is logged at most (a busy server would otherwise log every request).
OUTAGE_LOG_INTERVAL = 60.0


@dataclass(frozen=True)
class WindowCount:
    """One counted request: the limit, what is left of it, and when the window ends (Unix seconds)."""

    limit: int
    remaining: int
    reset_at: int
    allowed: bool

    def retry_after(self, now: float) -> int:
        """Whole seconds until the window ends (at least 1)."""
        return max(1, math.ceil(self.reset_at - now))


class RequestLimits:
    """``per_token`` requests per minute for each API token, ``per_address`` for each client address
    without one; 0 turns that limit off (nothing counted, no headers)."""

    def __init__(self, storage: Storage, per_token: int, per_address: int) -> None:
        self._storage = storage
        self._items = {
            "token": RateLimitItemPerMinute(max(per_token, 1), namespace=NAMESPACE),
            "address": RateLimitItemPerMinute(max(per_address, 1), namespace=NAMESPACE),
        }
        self._enabled = {"token": per_token > 0, "address": per_address > 0}
        self._last_outage_log = -OUTAGE_LOG_INTERVAL
        self._log_lock = threading.Lock()

    @classmethod
    def for_settings(cls, settings: Settings) -> RequestLimits:
        storage = open_storage(settings.rate_limit_storage_url)
        return cls(storage, settings.api_requests_per_minute, settings.public_requests_per_minute)

    def count_token(self, token_id: str) -> WindowCount | None:
        """Count one request of the API token ``token_id`` (its id, never its secret)."""
        return self._count("token", token_id)

    def count_address(self, address: str) -> WindowCount | None:
        """Count one request from ``address`` that carries no valid token."""
        return self._count("address", address or "unknown")

    def _count(self, kind: str, who: str) -> WindowCount | None:
        """One round trip to the storage; None when the limit is off or the storage is down."""
        if not self._enabled[kind]:
            return None
        item = self._items[kind]
        # Wall-clock seconds, not caldee_dav.clock: the storage expires keys by the wall clock, and the
        # reset time is a real instant a client waits for; the test clock moves calendar time by days.
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        try:
            hits = self._storage.incr(item.key_for(kind, who, str(window)), WINDOW_SECONDS + 1)
        except Exception:  # noqa: BLE001 - a storage outage must not refuse every request
            self._log_outage()
            return None
        return WindowCount(
            limit=item.amount,
            remaining=max(0, item.amount - hits),
            reset_at=(window + 1) * WINDOW_SECONDS,
            allowed=hits <= item.amount,
        )

    def _log_outage(self) -> None:
        moment = time.monotonic()
        with self._log_lock:
            if moment - self._last_outage_log < OUTAGE_LOG_INTERVAL:
                return
            self._last_outage_log = moment
        log.warning("request rate limits: storage unavailable, requests are not counted", exc_info=True)


def refuse(count: WindowCount, who: str) -> TooManyRequests:
    """The 429 for a request over its limit: how long to wait, in seconds."""
    wait = count.retry_after(time.time())
    return TooManyRequests(
        f"Rate limit of {count.limit} requests per minute exceeded for this {who}; try again in {wait} s.",
        retry_after=wait,
    )
