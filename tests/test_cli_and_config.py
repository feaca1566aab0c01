"""The `caledee` command and configuration loading, as an operator meets them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from caldee_dav.config import ConfigError, Settings, load_settings
from tests.conftest import clock_env


def caledee(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CALEDEE_")}
    base["CALEDEE_DATABASE_URL"] = f"sqlite:///{tmp_path}/cli.db"
    base["CALEDEE_CONFIG"] = str(tmp_path / "absent.toml")
    base.update(clock_env())  # the tests' clock, as every server the tests start has it
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "caldee_dav.cli", *args],
        cwd=tmp_path,
        env=base,
        input=stdin,  # never a terminal: a command that would prompt must say so instead
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_user_token_and_calendar_lifecycle(tmp_path: Path) -> None:
    assert caledee(tmp_path, "init").returncode == 0
    created = caledee(
        tmp_path,
        "user",
        "create",
        "--email",
        "Ann@Example.com",
        "--slug",
        "ann",
        "--timezone",
        "Europe/Paris",
        "--password",
        "s3cret-pass",
    )
    assert created.returncode == 0, created.stderr
    assert "ann" in created.stdout

    token = caledee(tmp_path, "token", "create", "--user", "ann@example.com", "--name", "laptop")
    assert token.returncode == 0
    secret = token.stdout.strip()
    assert secret.startswith("pat_") and len(secret) > 40
    assert "shown once" in token.stderr

    calendar = caledee(tmp_path, "calendar", "create", "--user", "ann", "--name", "Team Meetings")
    assert calendar.returncode == 0
    assert "/dav/ann/team-meetings/" in calendar.stdout

    # The token is stored hashed: the database never holds the secret.
    assert secret.encode() not in (tmp_path / "cli.db").read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["user", "create", "--email", "b@example.com", "--slug", "ann"], "already exists"),
        (
            ["user", "create", "--email", "c@example.com", "--slug", "carl", "--timezone", "Mars/Olympus"],
            "unknown time zone",
        ),
        (["user", "create", "--email", "not-an-email", "--slug", "dan"], "not an email"),
        (["user", "create", "--email", "e@example.com", "--slug", "Bad Slug"], "slug"),
        # /feeds/... is the server's: a user "feeds" could never open their booking pages.
        (["user", "create", "--email", "g@example.com", "--slug", "feeds"], "reserved"),
        (["token", "create", "--user", "nobody"], "no user"),
        (["token", "create", "--user", "ann", "--scope", "root:everything"], "unknown scope"),
        (["token", "create", "--user", "ann", "--expires-days", "0"], "between 1 and 36500 days"),
        (["token", "create", "--user", "ann", "--expires-days", "99999999"], "between 1 and 36500 days"),
        (
            ["user", "create", "--email", "f@example.com", "--slug", "fay", "--timezone", "E" * 300],
            "time zone",
        ),
        (["calendar", "create", "--user", "ghost", "--name", "X"], "no user"),
        (["calendar", "create", "--user", "ann", "--name", "  "], "needs a name"),
        (["token", "revoke", "tok_0000000000000000"], "no token"),
        (["token", "list", "--user", "ghost"], "no user"),
        (["user", "set-password", "ghost", "--stdin"], "no user"),
        (["user", "set-password", "ann"], "--stdin"),  # no terminal to prompt on
    ],
)
def test_bad_input_gets_a_message_and_non_zero_exit(tmp_path: Path, args: list[str], message: str) -> None:
    caledee(tmp_path, "user", "create", "--email", "ann@example.com", "--slug", "ann")
    result = caledee(tmp_path, *args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_token_list_shows_everything_but_the_secret_and_revoke_stops_the_token(tmp_path: Path) -> None:
    """Item 16: `caledee token list|revoke`."""
    from caldee_dav import db
    from caldee_dav.calendars import accounts

    caledee(tmp_path, "user", "create", "--email", "ann@example.com", "--slug", "ann")
    laptop = caledee(tmp_path, "token", "create", "--user", "ann", "--name", "laptop").stdout.strip()
    phone = caledee(
        tmp_path,
        "token",
        "create",
        "--user",
        "ann",
        "--name",
        "phone",
        "--scope",
        "caldav",
        "--expires-days",
        "30",
    ).stdout.strip()
    listed = caledee(tmp_path, "token", "list")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["ID", "USER", "NAME", "SCOPES", "CREATED", "EXPIRES", "LAST", "USED", "STATE"]
    assert len(rows) == 2 and all(row.split()[1] == "ann" for row in rows)
    laptop_row = next(row for row in rows if " laptop " in row)
    phone_row = next(row for row in rows if " phone " in row)
    assert " all " in laptop_row and " caldav " in phone_row and "never" in laptop_row
    assert laptop not in listed.stdout and phone not in listed.stdout
    assert laptop[4:12] not in listed.stdout  # not even part of a secret

    revoked = caledee(tmp_path, "token", "revoke", laptop_row.split()[0])
    assert revoked.returncode == 0 and "Revoked" in revoked.stdout
    with db.read_unit(db.engine_for(f"sqlite:///{tmp_path}/cli.db")) as session:
        assert accounts.find_token(session, laptop) is None  # REST and CalDAV look tokens up here
        assert accounts.find_token(session, phone) is not None
    live = caledee(tmp_path, "token", "list", "--user", "ann").stdout
    assert " laptop " not in live and " phone " in live
    every = caledee(tmp_path, "token", "list", "--all").stdout
    assert "revoked" in next(line for line in every.splitlines() if " laptop " in line)
    again = caledee(tmp_path, "token", "revoke", laptop_row.split()[0])
    assert again.returncode == 0 and "already revoked" in again.stdout


def test_user_list_and_set_password_from_stdin(tmp_path: Path) -> None:
    """Item 16: `caledee user list|set-password`; the password never goes on the command line."""
    from caldee_dav import db
    from caldee_dav.calendars import accounts

    caledee(tmp_path, "user", "create", "--email", "ann@example.com", "--slug", "ann", "--name", "Ann A")
    caledee(tmp_path, "user", "create", "--email", "bob@example.com", "--slug", "bob")
    listed = caledee(tmp_path, "user", "list")
    assert listed.returncode == 0
    rows = listed.stdout.splitlines()[1:]
    assert [row.split()[:2] for row in rows] == [["ann", "ann@example.com"], ["bob", "bob@example.com"]]

    changed = caledee(
        tmp_path, "user", "set-password", "ann@example.com", "--stdin", stdin="n3w pass phrase\n"
    )
    assert changed.returncode == 0, changed.stderr
    with db.read_unit(db.engine_for(f"sqlite:///{tmp_path}/cli.db")) as session:
        assert accounts.check_password(accounts.require_user(session, "ann"), "n3w pass phrase")
    on_argv = caledee(tmp_path, "user", "set-password", "ann", "hunter2")
    assert on_argv.returncode != 0 and "unrecognized arguments" in on_argv.stderr
    empty = caledee(tmp_path, "user", "set-password", "ann", "--stdin", stdin="\n")
    assert empty.returncode != 0 and "empty" in empty.stderr


def test_serve_on_a_busy_port_says_so_in_one_line(tmp_path: Path) -> None:
    """Item 16: one line naming the port and how to change it (gunicorn retried for five seconds,
    logging ten lines of errors, before it gave up)."""
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = caledee(tmp_path, "serve", env={"CALEDEE_PORT": str(port), "CALEDEE_HOST": "127.0.0.1"})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(port) in lines[0] and "in use" in lines[0]
    assert "--port" in lines[0] and "CALEDEE_PORT" in lines[0]


def test_duplicate_calendar_is_refused(tmp_path: Path) -> None:
    caledee(tmp_path, "user", "create", "--email", "ann@example.com", "--slug", "ann")
    assert caledee(tmp_path, "calendar", "create", "--user", "ann", "--name", "Work").returncode == 0
    again = caledee(tmp_path, "calendar", "create", "--user", "ann", "--name", "Work")
    assert again.returncode != 0 and "already has a calendar" in again.stderr


def test_bad_configuration_fails_at_start_naming_the_setting(tmp_path: Path) -> None:
    result = caledee(tmp_path, "serve", env={"CALEDEE_PORT": "not-a-port"})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "CALEDEE_PORT" in lines[0]


def test_environment_wins_over_file(tmp_path: Path) -> None:
    config = tmp_path / "caledee.toml"
    config.write_text('[caledee]\nport = 9001\nlog_level = "debug"\n')
    settings = load_settings(config, environ={"CALEDEE_PORT": "9002"})
    assert settings.port == 9002 and settings.log_level == "debug"
    assert load_settings(config, environ={}).port == 9001


@pytest.mark.parametrize(
    ("environ", "setting"),
    [
        ({"CALEDEE_LOG_LEVEL": "loud"}, "log_level"),
        ({"CALEDEE_DATABASE_URL": "mysql://x"}, "database_url"),
        ({"CALEDEE_DEFAULT_TIMEZONE": "Nowhere/City"}, "default_timezone"),
        ({"CALEDEE_WORKERS": "0"}, "workers"),
    ],
)
def test_each_bad_setting_is_named(environ: dict[str, str], setting: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=setting):
        load_settings(None, environ={**environ, "CALEDEE_CONFIG": str(tmp_path / "none.toml")})


def test_every_setting_is_documented() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()
    example = (Path(__file__).parent.parent / "config" / "caledee.toml").read_text()
    for name in Settings.model_fields:
        assert f"`{name}`" in doc, f"{name} missing from docs/configuration.md"
        assert f"CALEDEE_{name.upper()}" in doc
        assert f"{name} =" in example, f"{name} missing from config/caledee.toml"


def test_make_run_demo_account_works_over_rest_and_caldav(tmp_path: Path) -> None:
    """What `make run` does: `caledee init --demo` prints credentials that work against the served app."""
    import re
    import time

    import requests

    from tests.conftest import start_server, stop_server

    first = caledee(tmp_path, "init", "--demo")
    assert first.returncode == 0, first.stderr
    first_token = re.search(r"API token\s+(pat_\S+)", first.stdout)
    password = re.search(r"Password\s+(\S+)", first.stdout)
    assert first_token and password and "/dav/" in first.stdout
    # Running it again keeps the account and replaces the demo token, saying so (item 16: tokens
    # did pile up, one more live token per `make run`).
    second = caledee(tmp_path, "init", "--demo")
    token = re.search(r"API token\s+(pat_\S+)", second.stdout)
    assert second.returncode == 0 and token and "demo token printed before is revoked" in second.stdout
    live = caledee(tmp_path, "token", "list").stdout.splitlines()[1:]
    assert len(live) == 1 and " demo " in live[0]

    # Item 17: gunicorn's control socket goes by the data (the SQLite file's folder), not in $HOME.
    home, runtime = tmp_path / "home", tmp_path / "runtime"
    home.mkdir()
    runtime.mkdir()
    server = start_server(
        f"sqlite:///{tmp_path}/cli.db",
        tmp_path,
        extra_env={"HOME": str(home), "XDG_RUNTIME_DIR": str(runtime)},
    )
    try:
        # gunicorn opens the socket once its workers are booting, so possibly after the first answer.
        control_socket = tmp_path / "gunicorn.ctl"
        deadline = time.monotonic() + 10
        while not control_socket.is_socket() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert control_socket.is_socket()
        assert list(home.iterdir()) == [] and list(runtime.iterdir()) == []
        me = requests.get(
            f"{server.url}/api/v2/me", headers={"Authorization": f"Bearer {token.group(1)}"}, timeout=10
        )
        assert me.status_code == 200 and me.json()["slug"] == "demo"
        replaced = requests.get(
            f"{server.url}/api/v2/me", headers={"Authorization": f"Bearer {first_token.group(1)}"}, timeout=10
        )
        assert replaced.status_code == 401
        listing = requests.request(
            "PROPFIND",
            f"{server.url}/dav/demo/",
            auth=("demo", password.group(1)),
            headers={"Depth": "1"},
            timeout=10,
        )
        assert listing.status_code == 207 and "Demo calendar" in listing.text
        # The feed printed last opens the demo calendar; the one printed before is dead.
        feed_paths = [re.search(r"Feed\s+https?://[^/]+(/feeds/\S+)", run.stdout) for run in (first, second)]
        assert feed_paths[0] and feed_paths[1]
        feed = requests.get(server.url + feed_paths[1].group(1), timeout=10)
        assert feed.status_code == 200 and "X-WR-CALNAME:Demo calendar" in feed.text
        assert requests.get(server.url + feed_paths[0].group(1), timeout=10).status_code == 404
    finally:
        stop_server(server)
