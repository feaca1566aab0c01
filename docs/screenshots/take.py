"""Screenshots of the booking pages at desktop and phone widths, saved beside this script.

Run from the repository root after `make lint` (or `make run`) has made .venv, with Debian's Chromium
installed (`apt-get install chromium`; `make test` installs it):

    .venv/bin/python docs/screenshots/take.py

It starts a demo server of its own (`caledee init --demo` in a temporary folder, on a free loopback
port), gives the demo user office hours and three event types over the REST API, then opens the
pages in headless Chromium: the host page, an event page with a day's times, the form, the
confirmation and the manage page, each at 1280 and 390 pixels wide.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from playwright.sync_api import Page, sync_playwright

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CHROMIUM = "/usr/bin/chromium"
WIDTHS = {"desktop": 1280, "phone": 390}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def caledee(env: dict[str, str], *args: str, **popen: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "caldee_dav.cli", *args], env=env, text=True, **popen)  # type: ignore[call-overload]


def start_demo(folder: Path) -> tuple[subprocess.Popen[str], str, str]:
    """A demo server: its process, base URL and the demo user's API token."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALEDEE_")}
    env.update(
        {
            "CALEDEE_DATABASE_URL": f"sqlite:///{folder / 'demo.db'}",
            "CALEDEE_HOST": "127.0.0.1",
            "CALEDEE_PORT": str(port),
            "CALEDEE_CONFIG": str(folder / "absent.toml"),
            "PYTHONPATH": str(ROOT),
        }
    )
    init = caledee(env, "init", "--demo", stdout=subprocess.PIPE)
    output, _ = init.communicate(timeout=60)
    token = re.search(r"API token\s+(\S+)", output)
    if init.returncode or token is None:
        raise SystemExit(f"caledee init --demo failed:\n{output}")
    # Its own process group: gunicorn's workers end with it.
    server = caledee(
        env, "serve", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/health", timeout=1).status_code == 200:
                return server, url, token.group(1)
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    os.killpg(server.pid, signal.SIGKILL)
    raise SystemExit("the demo server did not start")


def set_up_host(url: str, token: str) -> dict[str, str]:
    """Office hours and event types for the demo user; the event pages' URLs by name."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"

    def post(path: str, body: dict[str, object]) -> dict[str, str]:
        response = session.post(f"{url}/api/v2{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    rules = [{"day": day, "start": "09:00", "end": "17:00"} for day in WEEKDAYS]
    post(
        "/schedules",
        {"name": "Office hours", "timezone": "Europe/Paris", "isDefault": True, "weeklyRules": rules},
    )
    intro = post(
        "/event-types",
        {
            "name": "Intro call",
            "slug": "intro",
            "durationsMin": [30],
            "description": "A first half hour to see whether we can help each other.",
            "location": {"kind": "link", "value": "https://meet.example.com/demo"},
            "bookingWindowDays": 60,
        },
    )
    consultation = post(
        "/event-types",
        {
            "name": "Project consultation",
            "slug": "consultation",
            "durationsMin": [30, 60],
            "description": "Bring your plans: we go through them together.",
            "questions": [
                {"id": "company", "label": "Company", "required": True},
                {"id": "size", "label": "Team size", "type": "select", "options": ["1-10", "11-50", "51+"]},
            ],
            "bookingWindowDays": 60,
        },
    )
    post(
        "/event-types",
        {"name": "Private follow-up", "slug": "follow-up", "durationsMin": [45], "secret": True},
    )
    return {"intro": intro["url"], "consultation": consultation["url"]}


def shot(page: Page, name: str, width_name: str) -> None:
    path = HERE / f"{name}-{width_name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"  {path.relative_to(ROOT)}  {path.stat().st_size // 1024} KB")


def take(page: Page, url: str, urls: dict[str, str], width_name: str, slot_index: int) -> None:
    page.goto(f"{url}/demo")
    shot(page, "host", width_name)

    page.goto(urls["consultation"])
    page.wait_for_selector("#picker[data-state=ready]")
    page.locator("button.day.open").nth(1).click()
    page.wait_for_selector("#times:not([hidden])")
    shot(page, "event", width_name)

    page.locator("button.time").nth(slot_index).click()
    page.fill("#name", "Ada Lovelace")
    page.fill("#email", "ada@example.com")
    page.fill("#q-0", "Analytical Engines Ltd")
    page.select_option("#q-1", "1-10")
    page.fill("#notes", "I would like to talk about the new mill.")
    page.locator("#details-title").scroll_into_view_if_needed()
    shot(page, "form", width_name)

    page.click("#book")
    page.wait_for_url(re.compile(r"new=1"))
    shot(page, "confirmation", width_name)

    page.goto(page.url.replace("&new=1", ""))
    page.click("#show-reschedule")
    page.wait_for_selector("#picker[data-state=ready]")
    page.locator("button.day.open").nth(2).click()
    page.wait_for_selector("#times:not([hidden])")
    shot(page, "manage", width_name)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        server, url, token = start_demo(Path(folder))
        try:
            urls = set_up_host(url, token)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM)
                for index, (width_name, width) in enumerate(WIDTHS.items()):
                    context = browser.new_context(
                        viewport={"width": width, "height": 900}, timezone_id="Europe/Paris", locale="en-GB"
                    )
                    print(f"{width_name} ({width} px)")
                    take(context.new_page(), url, urls, width_name, slot_index=index)
                    context.close()
                browser.close()
        finally:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
