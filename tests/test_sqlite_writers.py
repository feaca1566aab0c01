"""SQLite writers queue for their turn: threads on a lock, processes on a lock file beside the database.

What a user notices: no write is lost when threads and processes write at once; a writer starts as soon
as the one before it is done (not after SQLite's busy handler's next sleep); and a queue held too long
never stalls a writer past the busy timeout.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from caldee_dav import db

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def counter_db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'counter.db'}"
    with db.write_unit(db.make_engine(url)) as session:
        session.execute(sa.text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        session.execute(sa.text("INSERT INTO counter VALUES (0)"))
    return url


def _count(url: str) -> int:
    with db.read_unit(db.make_engine(url)) as session:
        return session.execute(sa.text("SELECT n FROM counter")).scalar_one()


INCREMENTER = textwrap.dedent(
    """
    import sys, threading
    import sqlalchemy as sa
    from caldee_dav import db

    engine = db.make_engine(sys.argv[1])

    def work():
        for _ in range(int(sys.argv[2])):
            with db.write_unit(engine) as session:
                n = session.execute(sa.text("SELECT n FROM counter")).scalar_one()
                session.execute(sa.text("UPDATE counter SET n = :n"), {"n": n + 1})

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    """
)


def test_no_increment_is_lost_across_threads_and_processes(counter_db: str) -> None:
    # Read-then-write increments: a lost update would show as a smaller count.
    processes = [
        subprocess.Popen([sys.executable, "-c", INCREMENTER, counter_db, "25"], cwd=ROOT) for _ in range(2)
    ]
    for process in processes:
        assert process.wait(timeout=120) == 0
    assert _count(counter_db) == 2 * 3 * 25


HOLDER = textwrap.dedent(
    """
    import fcntl, sys
    with open(sys.argv[1], "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        print("held", flush=True)
        sys.stdin.readline()
    """
)


def _hold_lock_file(url: str) -> subprocess.Popen[str]:
    path = sa.engine.make_url(url).database + "-writer.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_writer_waits_for_another_process_and_starts_when_it_is_done(counter_db: str) -> None:
    holder = _hold_lock_file(counter_db)
    engine = db.make_engine(counter_db)
    started: list[float] = []

    def write() -> None:
        with db.write_unit(engine) as session:
            started.append(time.monotonic())
            session.execute(sa.text("UPDATE counter SET n = n + 1"))

    writer = threading.Thread(target=write)
    writer.start()
    time.sleep(0.5)
    assert started == [], "the writer began while another process held the writers' lock"
    released = time.monotonic()
    assert holder.stdin is not None
    holder.stdin.write("\n")
    holder.stdin.flush()
    writer.join(timeout=10)
    holder.wait(timeout=10)
    assert started and started[0] - released < 0.5
    assert _count(counter_db) == 1


def test_a_queue_held_past_the_timeout_does_not_stall_a_writer(counter_db: str) -> None:
    holder = _hold_lock_file(counter_db)
    try:
        engine = db.make_engine(counter_db)
        began = time.monotonic()
        # The turn gives up after its timeout (write units wait the busy timeout, 30 s); the write
        # then goes ahead on SQLite's own lock.
        with db._sqlite_writers(engine).turn(0.3), engine.begin() as connection:
            connection.execute(sa.text("UPDATE counter SET n = n + 1"))
        assert 0.3 <= time.monotonic() - began < 5
        assert _count(counter_db) == 1
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=10)
