"""A time limit for recurrence expansion, enforced inside the thread that expands.

Why not a check between steps: one call into dateutil can run for minutes by itself. A rule whose
BY-parts no date satisfies (``FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30``) is searched day by day until the
year 9999, and ``recurring_ical_events`` asks for every window from the series' start. Signals reach
only the main thread, and server requests run in worker threads. So one watchdog thread per process
keeps the deadlines of the expansions under way and, when one passes, raises ``ExpansionTimeout`` in
the expanding thread (``PyThreadState_SetAsyncExc``: delivered at its next bytecode). Only pure
expansion code runs under a deadline, never SQL, so nothing is interrupted half-written.

The limit counts the expanding thread's CPU time (its POSIX thread CPU clock), not the wall clock: on a
busy machine a thread waiting for a core or for the GIL is not expanding, and a legitimate rule must
not be refused because the server was loaded (CI with four test runs at once refused a 600-instance
series). A thread starved for CPU still ends: at ``WALL_FACTOR`` times the limit in wall time.
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import threading
import time
from types import TracebackType

# The limit of one read-side expansion (a query over a series beyond the indexing horizon, busy time).
# Writes take theirs from the settings (``expansion_time_limit``); stored rules are bounded when written
# (caldee_dav.ical.rules), so this bounds a range far from a series' start and data stored before.
READ_SECONDS = 2.0
# However little CPU a starved expansion gets, it ends after this many times its limit in wall time.
WALL_FACTOR = 5.0


class ExpansionTimeout(BaseException):  # noqa: N818 - raised inside library code, see ``deadline``
    """Delivered into an expansion past its deadline. A BaseException, so that no ``except Exception``
    in a library swallows it and goes on expanding; ``deadline`` turns it into ``TooCostly``."""


class TooCostly(ValueError):
    """Expanding a recurrence took longer than its time limit."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"expanding the recurrence took more than {seconds:g} s")
        self.seconds = seconds


class _Watchdog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, _Deadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, entry: _Deadline) -> None:
        with self._lock:
            heapq.heappush(self._heap, (entry.expires, next(self._order), entry))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="caledee-watchdog", daemon=True)
                self._thread.start()
            # Woken only when this deadline comes first: otherwise the watchdog already sleeps until
            # an earlier one, and looks at the heap again then. (Every indexed series arms a deadline;
            # waking the thread for each cost a switch of threads, and of the GIL, per message.)
            if self._heap[0][2] is entry:
                self._wake.notify()

    def disarm(self, entry: _Deadline) -> None:
        with self._lock:
            entry.active = False
            if entry.fired:
                _set_async_exception(entry.thread_id, None)  # not yet delivered: withdraw it

    def _run(self) -> None:
        with self._lock:
            while True:
                while self._heap and not self._heap[0][2].active:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wake.wait()
                    continue
                expires, _, entry = self._heap[0]
                remaining = expires - time.monotonic()
                if remaining > 0:
                    self._wake.wait(remaining)
                    continue
                heapq.heappop(self._heap)
                left = entry.cpu_seconds_left()
                if left > 0:  # it waited rather than worked: look again when it may have used it up
                    entry.expires = min(time.monotonic() + left, entry.wall_cap)
                    heapq.heappush(self._heap, (entry.expires, next(self._order), entry))
                    continue
                entry.fired = True
                _set_async_exception(entry.thread_id, ExpansionTimeout)


def _set_async_exception(thread_id: int, exception: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exception) if exception is not None else None
    )


_WATCHDOG = _Watchdog()


def _cpu_clock(thread_id: int) -> int | None:
    """The CPU-time clock of a thread of this process, or None where there is none (then the limit is
    wall time)."""
    try:
        clock = time.pthread_getcpuclockid(thread_id)
        time.clock_gettime(clock)
    except (AttributeError, OSError):
        return None
    return clock


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        now = time.monotonic()
        # CPU time never runs faster than wall time: the first look is when it could be used up.
        self.expires = now + seconds
        self.wall_cap = now + seconds * WALL_FACTOR
        self.thread_id = threading.get_ident()
        self.clock = _cpu_clock(self.thread_id)
        self.cpu_start = time.clock_gettime(self.clock) if self.clock is not None else 0.0
        self.active = True
        self.fired = False

    def cpu_seconds_left(self) -> float:
        """CPU seconds the expansion may still use (0 once past the limit or the wall-time cap). Runs in
        the watchdog thread, under its lock, while the entry is active (its thread still alive)."""
        if self.clock is None or time.monotonic() >= self.wall_cap:
            return 0.0
        try:
            used = time.clock_gettime(self.clock) - self.cpu_start
        except OSError:
            return 0.0
        return max(0.0, self.seconds - used)

    def __enter__(self) -> _Deadline:
        _WATCHDOG.arm(self)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        # The timeout may be delivered while disarming; it is delivered once at most, so retry once.
        for _attempt in range(2):
            try:
                _WATCHDOG.disarm(self)
                break
            except ExpansionTimeout:
                kind = ExpansionTimeout
        if kind is ExpansionTimeout or (self.fired and kind is None):
            raise TooCostly(self.seconds) from None


def deadline(seconds: float | None) -> _Deadline | _NoDeadline:
    """``with deadline(2.0): expand...`` raises TooCostly once the block has used 2 s of CPU (or run
    for ``WALL_FACTOR`` times that)."""
    return _Deadline(seconds) if seconds else _NoDeadline()


class _NoDeadline:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        return None
