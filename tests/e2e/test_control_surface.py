"""The control surface against real server processes: hostile documents and racing resets."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import requests

from tests.support import AUTH, NUMBERS, pool_path, scale, serve, survived


def test_a_deeply_nested_document_is_refused_and_the_server_stays_up(tmp_path: Path) -> None:
    """25,000 levels used to overflow libyaml's composer: the process died with SIGSEGV."""
    with serve(tmp_path / "fake.sqlite3") as server:
        response = requests.post(
            f"{server.url}/_fake/fixtures",
            data="accounts: " + "[" * 25_000,
            headers={"Content-Type": "application/yaml"},
            timeout=10,
        )
        assert response.status_code == 400 and response.json()["code"] == 20001
        assert requests.get(f"{server.url}/_fake/health", timeout=5).status_code == 200
        assert server.process.poll() is None
        survived["hostile documents refused"] += 1


def test_readers_in_another_process_never_see_a_reset_half_done(tmp_path: Path) -> None:
    """A reset deletes and reloads in one transaction: credentials never vanish in between."""
    database = tmp_path / "shared.sqlite3"
    with serve(database) as resetter, serve(database) as reader:
        resets = scale(100, 3000)
        statuses: Counter[int] = Counter()
        done = threading.Event()

        def read() -> None:
            with requests.Session() as session:
                while not done.is_set():
                    response = session.get(reader.url + pool_path(), auth=AUTH, timeout=10)
                    statuses[response.status_code] += 1

        readers = [threading.Thread(target=read) for _ in range(2)]
        for thread in readers:
            thread.start()
        try:
            with requests.Session() as session:
                for _ in range(resets):
                    reset = session.post(f"{resetter.url}/_fake/reset", timeout=10)
                    assert reset.status_code == 200
        finally:
            done.set()
            for thread in readers:
                thread.join()
    assert statuses[200] > 0 and set(statuses) == {200}, statuses
    survived["resets raced by readers in another process"] += resets
    survived["reads during resets, all 200"] += statuses[200]


def test_a_browsers_cross_origin_reset_and_a_rebound_host_are_refused(tmp_path: Path) -> None:
    """What a page on another site can send without a preflight, and DNS rebinding's Host."""
    with serve(tmp_path / "fake.sqlite3") as server:
        added = requests.post(
            server.url + pool_path(), data={"PhoneNumberSid": NUMBERS[0]}, auth=AUTH, timeout=5
        )
        assert added.status_code == 201
        browser = {
            "Origin": "http://evil.example",
            "Sec-Fetch-Site": "cross-site",
            "Sec-Fetch-Mode": "no-cors",
            "Content-Type": "text/plain",
        }
        reset = requests.post(f"{server.url}/_fake/reset", headers=browser, data="", timeout=5)
        assert reset.status_code == 403 and reset.json()["code"] == 20403
        rebound = {"Host": f"evil.example:{server.port}"}
        reset = requests.post(f"{server.url}/_fake/reset", headers=rebound, timeout=5)
        assert reset.status_code == 403
        health = requests.get(f"{server.url}/_fake/health", timeout=5).json()
        assert health["pool_entries"] == 1
