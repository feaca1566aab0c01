"""The background loop behind outgoing mail, webhook delivery and time-based work: a daemon thread that
runs a round every ``interval`` seconds, and at once when a transaction that queued work commits.

The nudge: while started, a loop with a ``queued_flag`` listens to every SQLAlchemy ``Session``'s
``after_commit`` and wakes when the committed session's ``info`` holds the flag (set by whoever queued
the work, in the same transaction). That keeps the edges out of it (no call to remember after each
write unit) and wakes only after the commit, when the rows are visible to the loop's own transaction;
a rolled-back session never commits and so never nudges. The listener is the instance's and ``stop``
removes it.

A round that fails (the database away for a while) is logged once per kind of trouble, not once a
second, and tried again next round. A send that fails is tried again after ``retry_pause``.
"""

from __future__ import annotations

import logging
import random
import threading
from datetime import timedelta

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

# Retries of what the loops send (mail, webhooks): the pause doubles per failed attempt up to this.
MAX_PAUSE = timedelta(hours=1)
JITTER = 0.2  # a pause is drawn between 80 % and 120 % of its nominal length


def retry_pause(base_seconds: float, attempts: int) -> timedelta:
    """The pause after the ``attempts``-th failed attempt: base, 2 x base, 4 x base ... up to
    ``MAX_PAUSE``, each with up to ``JITTER`` either way, so that many sends refused together do not
    come back together."""
    nominal = min(base_seconds * 2 ** max(attempts - 1, 0), MAX_PAUSE.total_seconds())
    spread = random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 - spreading retries, not a secret
    return timedelta(seconds=nominal * spread)


class BackgroundLoop:
    """Subclasses name themselves (``name``, the log's ``what``) and do one ``run_round``."""

    name = "caledee-background"
    what = "background work"
    # The session ``info`` key that, after a commit, wakes the loop (None: no nudge, the interval only).
    queued_flag: str | None = None
    # Seconds to wait after a nudge before the round: the request that committed is still answering in
    # this process, and a round started at once contends with it for the GIL.
    nudge_delay = 0.0

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_problem: str | None = None

    def run_round(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        if self._thread is not None:
            return
        if self.queued_flag is not None:
            event.listen(Session, "after_commit", self._after_commit)
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def nudge(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the round under way (waiting at most ``timeout`` seconds for it)."""
        if self._thread is None:
            return
        if self.queued_flag is not None:
            event.remove(Session, "after_commit", self._after_commit)
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)
        self._thread = None

    def _after_commit(self, session: Session) -> None:
        if self.queued_flag is not None and session.info.pop(self.queued_flag, False):
            self.nudge()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._round()
            if self._wake.wait(self.interval) and self.nudge_delay:
                self._stopping.wait(self.nudge_delay)
            self._wake.clear()

    def _round(self) -> None:
        try:
            self.run_round()
        except Exception as exc:  # noqa: BLE001 - the database may be away for a while: try next round
            problem = f"{type(exc).__name__}: {exc}"
            if problem != self._last_problem:
                log.warning("%s: a round failed, trying again: %s", self.what, problem)
            self._last_problem = problem
        else:
            self._last_problem = None
