"""The ``caledee`` command: init, serve, inbound, worker, user, token and calendar management."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import getpass
import secrets
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import datetime

from caldee_dav import clock, db
from caldee_dav.calendars import accounts, feed_tokens, throttle
from caldee_dav.config import ConfigError, Settings, load_settings
from caldee_dav.errors import CaledeeError
from caldee_dav.scheduling import mail_delivery, time_events, webhook_delivery
from caldee_dav.schema import migrate

DEMO_EMAIL = "demo@example.com"
DEMO_SLUG = "demo"
DEMO_TOKEN_NAME = "demo"


# prctl(2): the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1


class CommandError(Exception):
    """A command cannot go on: its message is printed as one line on stderr, exit status 2."""


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(
        getattr(args, "config", None),
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        workers=getattr(args, "workers", None),
    )
    # Token expiry and creation stamps read the one clock, moved by the test-only setting.
    clock.install(clock.Clock.moved_by_days(settings.clock_offset_days))
    return settings


def _engine(settings: Settings):  # type: ignore[no-untyped-def]
    engine = db.engine_for(settings.database_url)
    migrate(engine)
    return engine


def cmd_init(args: argparse.Namespace) -> int:
    settings = _settings(args)
    engine = _engine(settings)
    print(f"Database ready: {settings.database_url}")
    if not args.demo:
        return 0
    with db.write_unit(engine) as session:
        user = accounts.find_user(session, DEMO_SLUG)
        password = None
        if user is None:
            password = secrets.token_urlsafe(12)
            user = accounts.create_user(
                session,
                email=DEMO_EMAIL,
                slug=DEMO_SLUG,
                password=password,
                timezone="Europe/Paris",
                display_name="Demo User",
            )
            accounts.create_calendar(session, user, name="Demo calendar", slug="calendar")
        # The secret of the earlier demo token cannot be shown again: replace it rather than pile up
        # one more live token per run.
        replaced = accounts.revoke_tokens_named(session, user, DEMO_TOKEN_NAME)
        token = accounts.create_token(session, user, name=DEMO_TOKEN_NAME)
        # Feed URLs are shown once too: new ones each run (the old ones stop working).
        calendar = accounts.user_calendars(session, user)[0]
        feeds = feed_tokens.issue_calendar_feed_tokens(calendar)
        calendar_id = calendar.public_id
        inbound = accounts.inbound_address(calendar, settings.mail_domain)
    url = settings.public_url
    smtp = f"{settings.inbound_host}:{settings.inbound_port}"
    if replaced:
        token_note = "new: the demo token printed before is revoked"
    else:
        token_note = "shown once"
    print(
        f"""
Caledee demo account
  CalDAV URL   {url}/dav/            (or just {url}/ : discovery via /.well-known/caldav)
  User         {DEMO_SLUG}  (or {DEMO_EMAIL})
  Password     {password or "(unchanged since the first `make run`; use the token below)"}
  API token    {token.secret}   ({token_note}; also works as the CalDAV password)
  Booking page {url}/{DEMO_SLUG}   (the event types you create, for anyone to book)

  Feed         {url}{feed_tokens.calendar_feed_path(calendar_id, feeds.full)}
               (subscribe in Apple or Google Calendar; new on every `make run`)
  Invitations  mail them to {inbound} (SMTP on {smtp}, or POST to the calendar's inboundUrl)

Try
  curl -H "Authorization: Bearer {token.secret}" {url}/api/v2/me
  curl -H "Authorization: Bearer {token.secret}" {url}/api/v2/calendars/{calendar_id}/upcoming
  curl -u {DEMO_SLUG}:{token.secret} -X PROPFIND -H "Depth: 1" {url}/dav/{DEMO_SLUG}/
  curl -H "Authorization: Bearer {token.secret}" {url}/api/v2/calendars/{calendar_id}/inbound-messages
"""
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    # Before anything else: gunicorn would retry for five seconds, logging ten lines, then fail.
    reason = port_unavailable(settings.host, settings.port)
    if reason is not None:
        raise CommandError(
            f"cannot listen on {settings.host} port {settings.port} ({reason}); choose another port with"
            f" --port or CALEDEE_PORT"
        )
    throttle.open_storage(settings.rate_limit_storage_url)  # a bad storage stops the start, not each request
    engine = _engine(settings)
    # Workers are forked from this process: they must not inherit its pooled connections.
    engine.dispose()
    db.engine_for.cache_clear()
    from caldee_dav.server import serve

    print(f"Caledee listening on {settings.public_url} ({settings.workers} worker(s))", flush=True)
    print(f"  CalDAV   {settings.public_url}/dav/", flush=True)
    print(f"  REST     {settings.public_url}/api/v2/", flush=True)
    print(f"  Health   {settings.public_url}/health", flush=True)
    worker = _start_worker(args) if settings.background_in_server else None
    try:
        serve(settings)
    finally:
        if worker is not None:
            _stop_worker(worker)
    return 0


def _start_worker(args: argparse.Namespace) -> subprocess.Popen[bytes]:
    """`caledee worker` beside the web server (background_in_server): outgoing mail, webhooks and
    time-based events in a process of their own, so that their sends never take the GIL from a request
    (bench/webhooks.py: POST /bookings 10-20 % slower on SQLite with the dispatcher in the server's
    processes, within noise with it outside). One for the whole server, however many web workers."""
    command = [sys.executable, "-m", "caldee_dav.cli"]
    if getattr(args, "config", None):
        command += ["--config", args.config]
    return subprocess.Popen([*command, "worker"], preexec_fn=_end_with_parent)  # noqa: S603, PLW1509


def _end_with_parent() -> None:
    """In the worker's process (Linux): SIGTERM when the server that started it dies, however it dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _stop_worker(worker: subprocess.Popen[bytes]) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=10)
    except subprocess.TimeoutExpired:
        worker.kill()


def cmd_inbound(args: argparse.Namespace) -> int:
    """The inbound SMTP server, until SIGINT or SIGTERM."""
    settings = _settings(args)
    overrides = {
        "inbound_host": args.inbound_host,
        "inbound_port": args.inbound_port,
        "inbound_workers": args.inbound_workers,
    }
    settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    reason = port_unavailable(settings.inbound_host, settings.inbound_port)
    if reason is not None:
        raise CommandError(
            f"cannot listen on {settings.inbound_host} port {settings.inbound_port} ({reason}); choose"
            " another port with --port or CALEDEE_INBOUND_PORT"
        )
    _engine(settings).dispose()  # migrated; each worker opens its own
    db.engine_for.cache_clear()
    from api.webhook_payloads import install  # webhook events of mail (invite.received, event.*)
    from inbound.smtp import serve

    install()

    address = f"{settings.inbound_host}:{settings.inbound_port}"
    print(
        f"Caledee inbound mail on {address} for cal-<id>@{settings.mail_domain}"
        f" ({settings.inbound_workers} process(es))",
        flush=True,
    )
    serve(settings, settings.inbound_workers)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """The background worker: delivers webhooks and outgoing mail, fires time-based events and booking
    reminders until SIGINT or SIGTERM.
    Any number may run beside the servers (their claims never overlap)."""
    from api.webhook_payloads import install  # the REST edge's renderers of webhook data

    settings = _settings(args)
    engine = _engine(settings)
    install()
    stopping = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stopping.set())
    dispatcher = webhook_delivery.WebhookDispatcher(engine, settings)
    dispatcher.start()
    scanner = time_events.TimeEventScanner(engine, settings)
    scanner.start()
    from caldee_dav.scheduling.mail_delivery import MailSender
    from caldee_dav.server import outbox_dir

    mail_sender = MailSender(engine, settings, outbox_dir(settings))
    mail_sender.start()
    print("Caledee worker: delivering webhooks and mail, firing time-based events and reminders", flush=True)
    try:
        while not stopping.wait(1.0):  # bounded waits: the signal handler runs between them
            pass
    finally:
        mail_sender.stop()
        scanner.stop()
        dispatcher.stop()
    return 0


def port_unavailable(host: str, port: int) -> str | None:
    """Why the server could not listen on ``host``:``port`` ("in use", ...), or None when it can. Binds
    as gunicorn does (SO_REUSEADDR: a port left in TIME_WAIT is free) and lets go at once."""
    if port == 0:
        return None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"unknown host: {exc.strerror}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return "already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
    return None


def cmd_user_create(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with db.write_unit(_engine(settings)) as session:
        user = accounts.create_user(
            session,
            email=args.email,
            slug=args.slug,
            password=args.password,
            timezone=args.timezone or settings.default_timezone,
            display_name=args.name,
        )
        print(f"Created user {user.slug} <{user.email}> (id {user.id})")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with db.read_unit(_engine(settings)) as session:
        rows = [
            [
                user.slug,
                user.email,
                user.display_name or "",
                user.timezone,
                "yes" if user.password_hash else "no",
                _stamp(user.created_at),
            ]
            for user in accounts.list_users(session)
        ]
    _print_table(["SLUG", "EMAIL", "NAME", "TIME ZONE", "PASSWORD", "CREATED"], rows, empty="No users.")
    return 0


def cmd_user_set_password(args: argparse.Namespace) -> int:
    settings = _settings(args)
    engine = _engine(settings)
    with db.read_unit(engine) as session:
        accounts.require_user(session, args.user)  # a typo is told before the password is typed
    password = _read_password(args.stdin)
    with db.write_unit(engine) as session:
        user = accounts.require_user(session, args.user)
        accounts.set_password(session, user, password)
        print(f"Password of {user.slug} changed.")
    return 0


def _read_password(from_stdin: bool) -> str:
    """The new password, from one line of standard input or typed twice at a prompt: never from the
    command line, where other users' `ps` and the shell's history would see it."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CommandError("no terminal to ask for the password on; pipe it in with --stdin")
    try:
        password = getpass.getpass("New password: ")
        again = getpass.getpass("Repeat it: ")
    except (EOFError, KeyboardInterrupt):
        raise CommandError("password not changed") from None
    if password != again:
        raise CommandError("the two passwords differ; password not changed")
    return password


def cmd_token_create(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with db.write_unit(_engine(settings)) as session:
        user = accounts.require_user(session, args.user)
        token = accounts.create_token(
            session, user, name=args.name or "", scopes=args.scope, expires_days=args.expires_days
        )
    print(token.secret)
    print(f"Token {token.id} for {user.slug}: scopes {' '.join(token.scopes)}; shown once.", file=sys.stderr)
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with db.read_unit(_engine(settings)) as session:
        user = accounts.require_user(session, args.user) if args.user else None
        tokens = accounts.list_tokens(session, user, include_inactive=args.all)
        rows = [
            [
                token.id,
                token.user_slug,
                token.name,
                _scopes(token.scopes),
                _stamp(token.created_at),
                _stamp(token.expires_at, "never"),
                _stamp(token.last_used_at, "never"),
                token.state,
            ]
            for token in tokens
        ]
    header = ["ID", "USER", "NAME", "SCOPES", "CREATED", "EXPIRES", "LAST USED", "STATE"]
    _print_table(header, rows, empty="No tokens." if args.all else "No live tokens (--all lists every one).")
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with db.write_unit(_engine(settings)) as session:
        revoked = accounts.revoke_token(session, args.id)
    print(f"Revoked token {args.id}." if revoked else f"Token {args.id} was already revoked.")
    return 0


def _scopes(scopes: list[str]) -> str:
    return "all" if set(scopes) >= set(accounts.ALL_SCOPES) else ",".join(scopes)


def _stamp(moment: datetime | None, missing: str = "") -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment is not None else missing


def _print_table(header: list[str], rows: list[list[str]], *, empty: str) -> None:
    if not rows:
        print(empty)
        return
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def cmd_calendar_create(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with db.write_unit(_engine(settings)) as session:
        user = accounts.require_user(session, args.user)
        calendar = accounts.create_calendar(
            session, user, name=args.name, slug=args.slug, color=args.color, timezone=args.timezone
        )
        print(f"Created calendar {settings.public_url}/dav/{calendar.path}/")
    return 0


def cmd_mail_send(args: argparse.Namespace) -> int:
    """Deliver the outgoing mail that is due now (what every server process does each second), and say
    what is left: for operators, and for a developer without a running server."""
    from caldee_dav.server import outbox_dir  # the server's modules (Flask, gunicorn) only when needed

    settings = _settings(args)
    engine = _engine(settings)
    outbox = outbox_dir(settings)
    sent = mail_delivery.deliver_due(engine, settings, outbox, clock.now())
    counts = mail_delivery.queue_counts(engine)
    where = f"relay {settings.smtp_host}:{settings.smtp_port}" if settings.smtp_host else str(outbox)
    print(f"Sent {sent} message(s) to {where}.")
    print(f"Queue: {counts.pending} waiting to be retried, {counts.failed} failed (given up).")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="caledee", description="Caledee calendar and scheduling server")
    parser.add_argument("--config", help="TOML settings file (default config/caledee.toml if present)")
    commands = parser.add_subparsers(dest="command", required=True)

    init = commands.add_parser("init", help="create or upgrade the database")
    init.add_argument("--demo", action="store_true", help="also create a demo user, calendar and token")
    init.set_defaults(handler=cmd_init)

    serve = commands.add_parser("serve", help="run the HTTP server (CalDAV, REST, feeds)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.set_defaults(handler=cmd_serve)

    inbound = commands.add_parser("inbound", help="run the inbound SMTP server (invitations by mail)")
    inbound.add_argument("--host", dest="inbound_host", help="default inbound_host (127.0.0.1)")
    inbound.add_argument("--port", dest="inbound_port", type=int, help="default inbound_port (2525)")
    inbound.add_argument("--workers", dest="inbound_workers", type=int, help="default inbound_workers (1)")
    inbound.set_defaults(handler=cmd_inbound)

    worker = commands.add_parser(
        "worker", help="run the background worker (webhook deliveries, time-based events, reminders)"
    )
    worker.set_defaults(handler=cmd_worker)

    user = commands.add_parser("user", help="manage users").add_subparsers(dest="action", required=True)
    user_create = user.add_parser("create", help="create a user")
    user_create.add_argument("--email", required=True)
    user_create.add_argument("--slug", required=True)
    user_create.add_argument("--password")
    user_create.add_argument("--timezone")
    user_create.add_argument("--name")
    user_create.set_defaults(handler=cmd_user_create)
    user_list = user.add_parser("list", help="list users")
    user_list.set_defaults(handler=cmd_user_list)
    user_password = user.add_parser(
        "set-password", help="set a user's password (asked twice at a prompt, or one line on stdin)"
    )
    user_password.add_argument("user", help="slug or email")
    user_password.add_argument("--stdin", action="store_true", help="read the password from standard input")
    user_password.set_defaults(handler=cmd_user_set_password)

    token = commands.add_parser("token", help="manage API tokens").add_subparsers(
        dest="action", required=True
    )
    token_create = token.add_parser("create", help="create a token (printed once)")
    token_create.add_argument("--user", required=True, help="slug or email")
    token_create.add_argument("--name")
    token_create.add_argument("--scope", action="append", help="repeat for several; default: every scope")
    token_create.add_argument(
        "--expires-days", type=int, help=f"1 to {accounts.MAX_TOKEN_DAYS}; default: the token never expires"
    )
    token_create.set_defaults(handler=cmd_token_create)
    token_list = token.add_parser("list", help="list tokens (never their secrets)")
    token_list.add_argument("--user", help="only this user's (slug or email)")
    token_list.add_argument("--all", action="store_true", help="also revoked and expired tokens")
    token_list.set_defaults(handler=cmd_token_list)
    token_revoke = token.add_parser("revoke", help="revoke a token by its id (see `token list`)")
    token_revoke.add_argument("id")
    token_revoke.set_defaults(handler=cmd_token_revoke)

    calendar = commands.add_parser("calendar", help="manage calendars").add_subparsers(
        dest="action", required=True
    )
    calendar_create = calendar.add_parser("create", help="create a calendar")
    calendar_create.add_argument("--user", required=True, help="slug or email")
    calendar_create.add_argument("--name", required=True)
    calendar_create.add_argument("--slug")
    calendar_create.add_argument("--color")
    calendar_create.add_argument("--timezone")
    calendar_create.set_defaults(handler=cmd_calendar_create)

    mail = commands.add_parser("mail", help="outgoing mail").add_subparsers(dest="action", required=True)
    mail_send = mail.add_parser("send", help="deliver the outgoing mail due now, then exit")
    mail_send.set_defaults(handler=cmd_mail_send)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (ConfigError, CaledeeError, CommandError) as exc:
        print(f"caledee: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
