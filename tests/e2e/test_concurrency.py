"""Concurrent clients across several server processes on one database: the rules still hold.

Three ways of sharing: two servers on one SQLite file, one server with two workers on it, and
three replicas on one PostgreSQL database (the database the only arbiter).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import sqlalchemy

from tests.support import (
    AUTH,
    NUMBERS,
    SERVICE,
    SERVICE2,
    Server,
    pool_path,
    scale,
    serve,
    stop_cleanly,
    survived,
)
from tests.support.postgres import PostgresServer

CLIENTS = 64
ROUNDS = scale(2, 20)


SHARINGS = ["two-servers", "workers-2", "three-replicas-postgresql"]


def shared_database(sharing: str, request: pytest.FixtureRequest, directory: Path) -> str:
    if sharing.endswith("postgresql"):
        postgres: PostgresServer = request.getfixturevalue("postgres")
        return postgres.create_database()
    return str(directory / "shared.sqlite3")


def start(sharing: str, database: str, *options: str) -> list[Server]:
    """The servers of a sharing, started at once (replicas race to create the schema)."""
    if sharing == "workers-2":
        return [serve(database, "--workers", "2", *options)]
    count = 3 if sharing.endswith("postgresql") else 2
    with ThreadPoolExecutor(count) as pool:
        starting = [pool.submit(serve, database, *options) for _ in range(count)]
    started = [s.result() for s in starting if s.exception() is None]
    if len(started) < count:  # one failed to start: the others are not left running
        for server in started:
            server.stop()
        raise next(error for s in starting if (error := s.exception()) is not None)
    return started


@pytest.fixture(scope="module", params=SHARINGS)
def cluster(request, tmp_path_factory) -> Iterator[tuple[list[str], str]]:
    """Base URLs that all serve one database, and the database."""
    database = shared_database(request.param, request, tmp_path_factory.mktemp("cluster"))
    servers = start(request.param, database)
    yield [server.url for server in servers], database
    stop_cleanly(servers)


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


def rows(database: str, sql: str) -> list[tuple]:
    """Read the shared database directly (a SQLite file or a PostgreSQL URL)."""
    url = database if "://" in database else f"sqlite:///{database}"
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.exec_driver_sql(sql)]
    finally:
        engine.dispose()


@pytest.fixture
def fresh(cluster) -> tuple[list[str], str]:
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


@pytest.mark.parametrize("sharing", ["two-servers", "three-replicas-postgresql"])
def test_racing_adds_never_overfill_a_pool(sharing: str, request, tmp_path: Path) -> None:
    database = shared_database(sharing, request, tmp_path)
    servers = start(sharing, database, "--pool-limit", "3")
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
        stop_cleanly(servers)


def test_a_page_walk_can_go_from_server_to_server(fresh) -> None:
    urls, _database = fresh
    minted = requests.post(f"{urls[0]}/_fake/accounts", json={"numbers": 30}, timeout=10).json()
    auth, service = (minted["sid"], minted["auth_token"]), minted["services"][0]
    for i, number in enumerate(minted["numbers"]):
        response = requests.post(
            urls[i % len(urls)] + pool_path(service),
            data={"PhoneNumberSid": number},
            auth=auth,
            timeout=10,
        )
        assert response.status_code == 201, response.text
    seen: list[str] = []
    url: str | None = f"{urls[0]}{pool_path(service)}?PageSize=4"
    hops = 0
    while url:
        # Each page from the next server: a token issued by one is good on every other.
        path = url.split(pool_path(service), 1)[1]
        page = requests.get(
            urls[hops % len(urls)] + pool_path(service) + path, auth=auth, timeout=10
        ).json()
        seen += [entry["sid"] for entry in page["phone_numbers"]]
        url, hops = page["meta"]["next_page_url"], hops + 1
    assert seen == minted["numbers"] and hops == 8


def test_no_reader_on_any_server_sees_a_reset_half_done(fresh) -> None:
    urls, _database = fresh
    resets = scale(20, 300)
    done = threading.Event()
    statuses: Counter[int] = Counter()

    def read(url: str) -> None:
        with requests.Session() as session:
            session.auth = AUTH
            while not done.is_set():
                statuses[session.get(url + pool_path(), timeout=30).status_code] += 1
                statuses[session.get(url + pool_path(sid=NUMBERS[0]), timeout=30).status_code] += 1

    readers = [threading.Thread(target=read, args=(url,)) for url in urls[1:] or urls]
    for reader in readers:
        reader.start()
    try:
        with requests.Session() as session:
            for _ in range(resets):
                session.post(f"{urls[0]}/_fake/reset", timeout=30).raise_for_status()
                session.post(
                    urls[0] + pool_path(),
                    data={"PhoneNumberSid": NUMBERS[0]},
                    auth=AUTH,
                    timeout=30,
                ).raise_for_status()
    finally:
        done.set()
        for reader in readers:
            reader.join()
    # The list is always there (200); the entry is there or not (200 or 404): never a 401 for
    # credentials that a half-done reset had dropped, never a 500.
    assert set(statuses) <= {200, 404} and statuses[200] > 0, statuses
    survived["resets raced by readers on other servers"] += resets
    survived["reads during resets, all 200 or 404"] += sum(statuses.values())


@pytest.mark.parametrize("round_", range(scale(1, 5)))
@pytest.mark.parametrize("sharing", ["two-servers", "three-replicas-postgresql"])
def test_a_server_killed_under_writes_loses_nothing_acknowledged(
    sharing: str, round_: int, request, tmp_path: Path
) -> None:
    database = shared_database(sharing, request, tmp_path)
    servers = start(sharing, database)
    victim, survivors = servers[-1], servers[:-1]
    minted = requests.post(f"{survivors[0].url}/_fake/accounts", json={"numbers": 600}, timeout=30)
    account = minted.json()
    auth, service = (account["sid"], account["auth_token"]), account["services"][0]
    acknowledged: list[str] = []
    numbers = iter(account["numbers"])
    lock = threading.Lock()

    def write() -> None:
        with requests.Session() as session:
            session.auth = auth
            while True:
                with lock:
                    number = next(numbers, None)
                if number is None:
                    return
                try:
                    response = session.post(
                        victim.url + pool_path(service), data={"PhoneNumberSid": number}, timeout=10
                    )
                except requests.RequestException:
                    return  # the server is gone
                if response.status_code == 201:
                    with lock:
                        acknowledged.append(number)

    writers = [threading.Thread(target=write) for _ in range(8)]
    try:
        for writer in writers:
            writer.start()
        while len(acknowledged) < scale(50, 300) and any(w.is_alive() for w in writers):
            threading.Event().wait(0.01)
        victim.kill()
        for writer in writers:
            writer.join()
        # The others go on serving, and hold every write the killed one acknowledged.
        listed = requests.get(
            survivors[0].url + pool_path(service), params={"PageSize": 1000}, auth=auth, timeout=30
        ).json()["phone_numbers"]
        assert set(acknowledged) <= {entry["sid"] for entry in listed}
        assert len(acknowledged) >= scale(50, 300)
        survived["SIGKILLs of one server among several"] += 1
        survived["acknowledged writes before a SIGKILL, all kept"] += len(acknowledged)
    finally:
        stop_cleanly(survivors)
