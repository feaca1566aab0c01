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
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
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
    ],
)
def test_bad_input_gets_a_message_and_non_zero_exit(tmp_path: Path, args: list[str], message: str) -> None:
    caledee(tmp_path, "user", "create", "--email", "ann@example.com", "--slug", "ann")
    result = caledee(tmp_path, *args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


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

    import requests

    from tests.conftest import start_server, stop_server

    first = caledee(tmp_path, "init", "--demo")
    assert first.returncode == 0, first.stderr
    token = re.search(r"API token\s+(pat_\S+)", first.stdout)
    password = re.search(r"Password\s+(\S+)", first.stdout)
    assert token and password and "/dav/" in first.stdout
    # Running it again keeps the account and prints a new token.
    second = caledee(tmp_path, "init", "--demo")
    assert second.returncode == 0 and "pat_" in second.stdout

    server = start_server(f"sqlite:///{tmp_path}/cli.db", tmp_path)
    try:
        me = requests.get(
            f"{server.url}/api/v2/me", headers={"Authorization": f"Bearer {token.group(1)}"}, timeout=10
        )
        assert me.status_code == 200 and me.json()["slug"] == "demo"
        listing = requests.request(
            "PROPFIND",
            f"{server.url}/dav/demo/",
            auth=("demo", password.group(1)),
            headers={"Depth": "1"},
            timeout=10,
        )
        assert listing.status_code == 207 and "Demo calendar" in listing.text
    finally:
        stop_server(server)
