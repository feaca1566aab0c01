"""Several server processes on one database: concurrent PUTs lose nothing and sync tokens stay monotonic."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests import dates
from tests.conftest import LiveServer, create_account, start_server, stop_server

WRITERS = 6
EVENTS_PER_WRITER = 15
# A day a month ahead of the clock: inside the indexing horizon whatever the date.
DAY = dates.ical_day(dates.days_ahead(30))
EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
    f"DTSTAMP:20261101T000000Z\r\nDTSTART:{DAY}T100000Z\r\nDTEND:{DAY}T110000Z\r\nSUMMARY:{{uid}}\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)
SYNC = (
    '<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>{token}</d:sync-token>'
    "<d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"
)


@pytest.fixture(scope="module")
def multi_worker_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(database_url, tmp_path_factory.mktemp("workers"), workers=3)
    yield server
    stop_server(server)


def sync(url: str, auth: tuple[str, str], token: str) -> tuple[str, list[str]]:
    """One sync-collection REPORT: the new token and every href listed (repeats kept)."""
    response = requests.request(
        "REPORT",
        url,
        data=SYNC.format(token=token),
        auth=auth,
        headers={"Content-Type": "application/xml"},
        timeout=30,
    )
    assert response.status_code == 207, response.text
    new_token = re.search(r"<[^>]*sync-token>([^<]+)<", response.text)
    assert new_token is not None
    hrefs = [h.rsplit("/", 1)[1] for h in re.findall(r"<[^>]*href>([^<]+\.ics)<", response.text)]
    return new_token.group(1), hrefs


def revision_of(token: str) -> int:
    return int(token.rsplit("-", 1)[1])


def test_concurrent_puts_from_several_processes_are_all_synced(multi_worker_server: LiveServer) -> None:
    account = create_account(multi_worker_server.database_url)
    url = f"{multi_worker_server.dav_url}{account.slug}/calendar/"
    auth = (account.slug, account.token)
    start_token, initial = sync(url, auth, "")
    assert initial == []

    written: set[str] = set()
    done = threading.Event()
    seen_by_chained_syncs: set[str] = set()
    tokens: list[str] = []

    def writer(worker: int) -> list[int]:
        statuses = []
        with requests.Session() as session:
            for n in range(EVENTS_PER_WRITER):
                name = f"w{worker}-{n}"
                response = session.put(
                    url + f"{name}.ics",
                    data=EVENT.format(uid=name),
                    auth=auth,
                    headers={"Content-Type": "text/calendar"},
                    timeout=30,
                )
                statuses.append(response.status_code)
                written.add(f"{name}.ics")
        return statuses

    def chained_syncer() -> None:
        # Follow the token chain while writes happen: every change must show up in some step.
        token = start_token
        for _ in range(500):
            token, hrefs = sync(url, auth, token)
            tokens.append(token)
            seen_by_chained_syncs.update(hrefs)
            if done.is_set():
                break
        token, hrefs = sync(url, auth, token)
        tokens.append(token)
        seen_by_chained_syncs.update(hrefs)

    syncer = threading.Thread(target=chained_syncer)
    syncer.start()
    with ThreadPoolExecutor(WRITERS) as pool:
        results = list(pool.map(writer, range(WRITERS)))
    done.set()
    syncer.join(timeout=120)

    assert all(status == 201 for statuses in results for status in statuses)
    assert len(written) == WRITERS * EVENTS_PER_WRITER
    # One sync from the old token lists every change exactly once.
    _, listed = sync(url, auth, start_token)
    assert sorted(listed) == sorted(written)
    # Tokens never go back, and the chain of incremental syncs saw every change.
    revisions = [revision_of(t) for t in tokens]
    assert revisions == sorted(revisions)
    assert seen_by_chained_syncs == written
