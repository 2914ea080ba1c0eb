"""Concurrent clients across several server processes on one SQLite file: the rules still hold."""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.support import AUTH, NUMBERS, SERVICE, SERVICE2, pool_path, scale, serve, survived

CLIENTS = scale(24, 64)
ROUNDS = scale(2, 20)


@pytest.fixture(scope="module", params=["two-servers", "workers-2"])
def cluster(request, tmp_path_factory) -> Iterator[tuple[list[str], Path]]:
    """Base URLs that all serve one database: two separate servers, or one with two workers."""
    database = tmp_path_factory.mktemp("cluster") / "shared.sqlite3"
    if request.param == "two-servers":
        servers = [serve(database), serve(database)]
        urls = [s.url for s in servers]
    else:
        servers = [serve(database, "--workers", "2")]
        urls = [servers[0].url]
    yield urls, database
    for server in servers:
        output = server.stop()
        assert " 500 " not in output and "Traceback" not in output, output


def race(
    urls: list[str], call: Callable[[requests.Session, str, int], requests.Response]
) -> list[dict]:
    """Fire CLIENTS calls at once (spread over the servers); return status and code of each."""
    start = threading.Barrier(CLIENTS)

    def one(i: int) -> dict:
        with requests.Session() as session:
            session.auth = AUTH
            start.wait()
            response = call(session, urls[i % len(urls)], i)
        body = response.json() if response.content else {}
        return {"status": response.status_code, "code": body.get("code")}

    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(one, range(CLIENTS)))
    survived["concurrent requests"] += len(results)
    return results


def rows(database: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(database) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
def fresh(cluster) -> tuple[list[str], Path]:
    urls, database = cluster
    requests.post(f"{urls[0]}/_fake/reset", timeout=10).raise_for_status()
    return urls, database


def add(number: str, service: str = SERVICE):
    return lambda session, url, _i: session.post(
        url + pool_path(service), data={"PhoneNumberSid": number}, timeout=30
    )


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_racing_adds_of_one_number_to_one_service(fresh, round_: int) -> None:
    urls, database = fresh
    outcomes = Counter((r["status"], r["code"]) for r in race(urls, add(NUMBERS[0])))
    assert outcomes == {(201, None): 1, (409, 21710): CLIENTS - 1}
    assert rows(database, "SELECT sid, service_sid FROM pool_entries") == [(NUMBERS[0], SERVICE)]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_racing_adds_of_one_number_to_two_services(fresh, round_: int) -> None:
    urls, database = fresh

    def add_to_either(session: requests.Session, url: str, i: int) -> requests.Response:
        return add(NUMBERS[1], SERVICE if i % 2 else SERVICE2)(session, url, i)

    results = race(urls, add_to_either)
    [(number, winner)] = rows(database, "SELECT sid, service_sid FROM pool_entries")
    assert number == NUMBERS[1]
    outcomes = Counter((r["status"], r["code"]) for r in results)
    assert outcomes[(201, None)] == 1
    # Losers that aimed at the winner's service are told it is already there (21710); the
    # others that it belongs to another service (21712). Half the clients aimed at each.
    assert outcomes[(409, 21710)] == CLIENTS // 2 - 1
    assert outcomes[(409, 21712)] == CLIENTS // 2
    assert winner in (SERVICE, SERVICE2)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_racing_deletes(fresh, round_: int) -> None:
    urls, database = fresh
    requests.post(urls[0] + pool_path(), data={"PhoneNumberSid": NUMBERS[2]}, auth=AUTH, timeout=10)
    outcomes = Counter(
        (r["status"], r["code"])
        for r in race(
            urls, lambda s, url, _i: s.delete(url + pool_path(sid=NUMBERS[2]), timeout=30)
        )
    )
    assert outcomes == {(204, None): 1, (404, 20404): CLIENTS - 1}
    assert rows(database, "SELECT count(*) FROM pool_entries") == [(0,)]


def test_racing_adds_never_overfill_a_pool(tmp_path: Path) -> None:
    database = tmp_path / "limited.sqlite3"
    servers = [serve(database, "--pool-limit", "3"), serve(database, "--pool-limit", "3")]
    try:
        urls = [s.url for s in servers]
        for _ in range(ROUNDS):
            requests.post(f"{urls[0]}/_fake/reset", timeout=10).raise_for_status()
            results = race(urls, lambda s, url, i: add(NUMBERS[i % 5])(s, url, i))
            outcomes = Counter((r["status"], r["code"]) for r in results)
            assert outcomes[(201, None)] == 3
            assert set(outcomes) <= {(201, None), (409, 21710), (412, 21714)}
            assert rows(database, "SELECT count(*) FROM pool_entries") == [(3,)]
    finally:
        for server in servers:
            server.stop()
