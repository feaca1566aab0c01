"""Inbound mail benchmark: invitations per second through SMTP into the store.

    .venv/bin/python bench/inbound.py [--messages 2000] [--clients 4] [--workers CPUs] [--postgres URL]

`caledee inbound` (the real server, a subprocess) on a loopback port, against a fresh SQLite file
(and PostgreSQL with ``--postgres``), one calendar. The mix, shaped by the senders of
tests/imip_fixtures.py: per event a first invitation (Google weekly series, Outlook/Teams series in a
Windows zone, iCloud, Thunderbird, Zoom, Fastmail all-day), and for some an update of the series, a
one-occurrence cancel or a whole cancel, each a separate message sent after the invitation it changes.
``--clients`` SMTP connections send at once (each message: MAIL, RCPT, DATA on a kept connection) to
``--workers`` server processes (``caledee inbound --workers``, default one more than the CPUs);
the server answers DATA once the message is applied, so a message counted is a message stored.

Baseline in the same run: the same messages, the same clients, to aiosmtpd's own Sink handler (a
subprocess: it receives and drops), i.e. what SMTP on this machine costs with nothing applied. Ratio =
Caledee / Sink. Checked after each run: one log row per message, and the outcomes the mix expects.

Target: at least 200 messages/s, said for each backend (the exit status is 1 when any misses it).
Results: docs/performance.md ("Inbound mail").
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from caldee_dav import db  # noqa: E402
from caldee_dav.calendars import accounts  # noqa: E402
from caldee_dav.schema import migrate  # noqa: E402
from tests import imip_fixtures  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET = 200  # messages a second
FIRST_INVITATIONS = [
    "google_series",
    "outlook_teams_series",
    "icloud_invitation",
    "thunderbird_invitation",
    "zoom_webinar_request",
    "fastmail_allday",
]
# Follow-ups of a Google series (same UID): (fixture, outcome it gives after the ones before it).
FOLLOW_UPS = [
    ("google_series_update", "updated"),
    ("google_occurrence_cancel", "cancelled"),
    ("google_series_cancel", "cancelled"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_database(url: str, calendars: int) -> list[str]:
    """A migrated store with one user and ``calendars`` calendars; their inbound addresses."""
    engine = db.engine_for(url)
    migrate(engine)
    with db.write_unit(engine) as session:
        user = accounts.create_user(
            session, email="bench@example.com", slug="bench", password="bench-password", timezone="UTC"
        )
        addresses = [
            accounts.inbound_address(
                accounts.create_calendar(session, user, name=f"Bench {n}", slug=f"calendar-{n}"), "localhost"
            )
            for n in range(calendars)
        ]
    engine.dispose()
    db.engine_for.cache_clear()
    return addresses


def the_mix(
    count: int, addresses: list[str], seed: int = 7
) -> tuple[list[tuple[str, list[bytes]]], Counter[str]]:
    """``count`` messages in chains (an invitation, then its follow-ups in order, to one calendar, the
    calendars taking turns) and the outcomes they must give."""
    rng = random.Random(seed)
    base = imip_fixtures.base_day()
    chains: list[tuple[str, list[bytes]]] = []
    expected: Counter[str] = Counter()
    made = 0
    while made < count:
        first = rng.choice(FIRST_INVITATIONS)
        uid = f"bench-{made}-{rng.getrandbits(32):08x}@example.net"
        chain = [(first, "created")]
        if first == "google_series":
            chain += FOLLOW_UPS[: rng.randint(0, len(FOLLOW_UPS))]
        chain = chain[: count - made]
        expected.update(outcome for _, outcome in chain)
        address = addresses[len(chains) % len(addresses)]
        chains.append(
            (address, [imip_fixtures.render(name, to=address, base_day=base, uid=uid) for name, _ in chain])
        )
        made += len(chain)
    return chains, expected


def send_all(port: int, chains: list[tuple[str, list[bytes]]], clients: int) -> float:
    """Seconds to send every chain (each in order, on one client's connection). The clients take the
    next chain when they are free, as a mail server's connections deliver as fast as they are taken:
    a fixed share each left the connections the kernel gave to a less busy server process idle at the
    end, and the run measured the busiest process alone."""
    queue: deque[tuple[str, list[bytes]]] = deque(chains)
    errors: list[str] = []

    def client() -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
            smtp.ehlo()
            while True:
                try:
                    address, chain = queue.popleft()
                except IndexError:
                    return
                for raw in chain:
                    smtp.mail("sender@example.net")
                    code, reply = smtp.rcpt(address)
                    if code != 250:
                        errors.append(reply.decode())
                        smtp.rset()
                        continue
                    code, reply = smtp.data(raw)
                    if code != 250:
                        errors.append(reply.decode())

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{len(errors)} messages refused, first: {errors[0]}")
    return elapsed


def wait_for_smtp(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text()}")
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=2) as smtp:
                smtp.noop()
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server did not start:\n{log.read_text()}")


def start(command: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT
    )
    wait_for_smtp(port, process, log)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def logged_outcomes(url: str) -> Counter[str]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT outcome, count(*) FROM inbound_messages GROUP BY outcome"))
        found = Counter({outcome: count for outcome, count in rows})
    engine.dispose()
    return found


def cpu_seconds(*pgrep_args: str) -> dict[str, float]:
    """User and system CPU used so far by each process ``pgrep`` finds with these arguments (Linux
    /proc), by pid."""
    found = subprocess.run(["pgrep", *pgrep_args], capture_output=True, text=True, check=False)
    used = {}
    for pid in found.stdout.split():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        used[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return used


def cpu_between(before: dict[str, float], after: dict[str, float]) -> float:
    """CPU seconds used between two readings (a process started in between counts whole)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


@dataclass(frozen=True)
class Measured:
    """A backend's run: messages a second, and CPU milliseconds a message (the server's processes, the
    database's: PostgreSQL's processes, which run on the same cores; nothing for SQLite, in-process)."""

    rate: float
    baseline: float
    server_ms: float
    database_ms: float


def run_backend(name: str, url: str, args: argparse.Namespace, workdir: Path) -> Measured:
    addresses = prepare_database(url, args.calendars)
    chains, expected = the_mix(args.messages, addresses)
    sent = sum(len(chain) for _, chain in chains)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALEDEE_")}
    env.update({"CALEDEE_DATABASE_URL": url, "CALEDEE_CONFIG": str(workdir / "absent.toml")})
    env["CALEDEE_LOG_LEVEL"] = "warning"

    port = free_port()
    caledee = start(
        [sys.executable, "-m", "caldee_dav.cli", "inbound", "--port", str(port)]
        + ["--workers", str(args.workers)],
        env,
        port,
        workdir / f"{name}.log",
    )
    try:
        # CPU, besides the rate: on a machine whose speed drifts, CPU a message compares runs better.
        # PostgreSQL's processes: its backends for the server's connections start during the run.
        server, database = ("-g", str(caledee.pid)), ("-x", "postgres")
        before = cpu_seconds(*server), cpu_seconds(*database)
        ours = send_all(port, chains, args.clients)
        after = cpu_seconds(*server), cpu_seconds(*database)
    finally:
        stop(caledee)
    found = logged_outcomes(url)
    if sum(found.values()) != sent or found != expected:
        raise SystemExit(f"{name}: logged {dict(found)}, expected {dict(expected)} ({sent} messages)")

    port = free_port()
    sink = start(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"],
        env,
        port,
        workdir / f"{name}-sink.log",
    )
    try:
        baseline = send_all(port, chains, args.clients)
    finally:
        stop(sink)
    return Measured(
        sent / ours,
        sent / baseline,
        cpu_between(before[0], after[0]) / sent * 1000,
        cpu_between(before[1], after[1]) / sent * 1000,
    )


def reset_postgres(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP SCHEMA public CASCADE"))
        connection.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--calendars", type=int, default=1, help="calendars the messages are addressed to")
    parser.add_argument(
        "--workers",
        type=int,
        default=(os.cpu_count() or 1) + 1,
        help="inbound server processes (default: one more than the CPUs, so that a process waiting for"
        " the database does not leave a core idle)",
    )
    parser.add_argument("--postgres", help="also run on this PostgreSQL database (its schema is dropped)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-inbound-"))
    backends = [("SQLite", f"sqlite:///{workdir / 'caledee.db'}")]
    if args.postgres:
        reset_postgres(args.postgres)
        backends.append(("PostgreSQL", args.postgres))
    print(
        f"{args.messages} messages to {args.calendars} calendar(s), {args.clients} SMTP clients at once,"
        f" {args.workers} server process(es)"
    )
    print(
        f"{'backend':<12} {'Caledee':>14} {'Sink (baseline)':>17} {'ratio':>7}"
        f" {'server CPU':>14} {'database CPU':>14}"
    )
    verdicts = []
    try:
        for name, url in backends:
            run = run_backend(name, url, args, workdir)
            database = f"{run.database_ms:>8.2f} ms/msg" if "postgresql" in url else f"{'-':>14}"
            rates = f"{run.rate:>8.0f} msg/s {run.baseline:>11.0f} msg/s {run.rate / run.baseline:>7.2f}"
            print(f"{name:<12} {rates} {run.server_ms:>8.2f} ms/msg {database}")
            verdicts.append((name, run.rate >= TARGET))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    said = ", ".join(f"{name} {'met' if met else 'missed'}" for name, met in verdicts)
    print(f"target: at least {TARGET} messages/s: {said}")
    return 0 if all(met for _, met in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
