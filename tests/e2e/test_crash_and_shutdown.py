"""Crashes lose nothing that was acknowledged; SIGTERM lets requests in flight finish."""

from __future__ import annotations

import base64
import os
import random
import signal
import socket
import sqlite3
import threading
import time
from pathlib import Path

import requests

from tests.support import AUTH, NUMBERS, assert_error, pool_path, scale, serve, survived
from tests.support.postgres import PostgresServer


def pool_contents(url: str) -> set[str]:
    """Walk every page of the pool and return the SIDs in it."""
    sids, next_url = [], f"{url}{pool_path()}?PageSize=2"
    while next_url:
        body = requests.get(next_url, auth=AUTH, timeout=10).json()
        sids += [n["sid"] for n in body["phone_numbers"]]
        next_url = body["meta"]["next_page_url"]
    assert len(sids) == len(set(sids))
    return set(sids)


def write_until_the_server_dies(
    url: str, in_pool: dict[str, bool], seed: float, uncertain: set[str], disagreements: list[str]
) -> None:
    """Add or remove random numbers until the connection fails; keep `in_pool` to what was acked."""
    rng = random.Random(seed)
    with requests.Session() as session:
        session.auth = AUTH
        while True:
            number = rng.choice(NUMBERS)
            try:
                if in_pool[number]:
                    response = session.delete(url + pool_path(sid=number), timeout=10)
                    expected = 204
                else:
                    data = {"PhoneNumberSid": number}
                    response = session.post(url + pool_path(), data=data, timeout=10)
                    expected = 201
            except requests.RequestException:
                # In flight when the server died (even if the status line arrived and the body
                # did not): either outcome is right.
                uncertain.add(number)
                return
            if response.status_code != expected:
                disagreements.append(f"{number}: {response.status_code} {response.text}")
                return
            in_pool[number] = not in_pool[number]
            survived["acknowledged writes before a SIGKILL"] += 1


def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    database = tmp_path / "crash.sqlite3"
    in_pool = dict.fromkeys(NUMBERS, False)  # what the clients were told, number by number
    rng = random.Random(20261127)
    for _ in range(scale(3, 40)):
        server = serve(database)
        uncertain: set[str] = set()
        disagreements: list[str] = []
        writer = threading.Thread(
            target=write_until_the_server_dies,
            args=(server.url, in_pool, rng.random(), uncertain, disagreements),
        )
        writer.start()
        time.sleep(rng.uniform(0.2, 0.8))
        server.kill()
        writer.join(timeout=30)
        survived["SIGKILLs"] += 1
        assert not disagreements, disagreements

        with sqlite3.connect(database) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        restarted = serve(database)
        try:
            actual = pool_contents(restarted.url)
        finally:
            restarted.stop()
        for number in NUMBERS:
            if number in uncertain:
                in_pool[number] = number in actual
            else:
                assert (number in actual) == in_pool[number], f"{number} lost or resurrected"


def test_sigterm_finishes_requests_in_flight_refuses_new_ones_and_exits_0(tmp_path: Path) -> None:
    server = serve(tmp_path / "graceful.sqlite3")
    body = f"PhoneNumberSid={NUMBERS[0]}".encode()
    credentials = base64.b64encode(f"{AUTH[0]}:{AUTH[1]}".encode()).decode()
    head = (
        f"POST {pool_path()} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Authorization: Basic {credentials}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port)) as in_flight:
        in_flight.sendall(head + body[:10])  # the request has started; its body has not all come
        time.sleep(0.5)
        os.killpg(server.process.pid, signal.SIGTERM)
        assert refuses_connections(server.port, deadline=time.monotonic() + 30)
        in_flight.sendall(body[10:])
        in_flight.settimeout(10)
        response = b""
        while chunk := in_flight.recv(65536):
            response += chunk
    assert response.startswith(b"HTTP/1.1 201 "), response
    assert server.process.wait(timeout=30) == 0
    assert f"{NUMBERS[0]}" in response.decode()
    server.output()


def test_a_hung_postgresql_holds_neither_other_requests_nor_sigterm() -> None:
    """PostgreSQL stopped (SIGSTOP), as a partition leaves it: requests that need the database
    get 503 within the database timeout, those that need none are answered, health says 503 in
    time, and SIGTERM stops the server without waiting for the database."""
    postgres = PostgresServer()  # its own: it is stopped here
    try:
        env = {"TWILIO_FAKE_DATABASE_TIMEOUT": "2"}
        server = serve(postgres.create_database(), env=env)
        try:
            assert requests.get(f"{server.url}/_fake/health", timeout=10).status_code == 200
            with postgres.hung():
                answers: dict[str, requests.Response] = {}

                def get(name: str, path: str) -> None:
                    answers[name] = requests.get(server.url + path, auth=AUTH, timeout=60)

                waiting = [
                    threading.Thread(target=get, args=(name, path))
                    for name, path in (("list", pool_path()), ("fetch", pool_path(sid=NUMBERS[0])))
                ]
                for thread in waiting:
                    thread.start()
                assert_error(requests.get(f"{server.url}/_fake/health", timeout=30), 503, 20503)
                # The event loop is free: what needs no database is answered meanwhile.
                for path in ("/", "/_fake/faults"):
                    assert requests.get(server.url + path, timeout=10).status_code == 200
                for thread in waiting:
                    thread.join(60)
                assert_error(answers["list"], 503, 20503)
                assert_error(answers["fetch"], 503, 20503)
                server.signal(signal.SIGTERM)
                assert server.process.wait(timeout=60) == 0  # while PostgreSQL is still stopped
            output = server.output()
            assert "Traceback" not in output and "did not answer within 2 s" in output
        finally:
            server.stop()
    finally:
        postgres.stop()


def test_connections_a_postgresql_restart_cut_are_made_anew() -> None:
    """The connections the server keeps (one per thread that runs calls) and those of its pool
    die with a PostgreSQL restart: the requests after it are answered as before, none with an
    error, on every thread that kept one."""
    postgres = PostgresServer()  # its own: it is restarted here
    try:
        server = serve(postgres.create_database())
        try:
            added = requests.post(
                server.url + pool_path(), data={"PhoneNumberSid": NUMBERS[0]}, auth=AUTH, timeout=10
            )
            assert added.status_code == 201, added.text

            def requests_on_every_thread() -> list[requests.Response]:
                # Calls at once, so that several threads run them (and keep connections).
                answers: list[requests.Response] = []

                def fetch() -> None:
                    for _ in range(5):
                        answers.append(
                            requests.get(
                                server.url + pool_path(sid=NUMBERS[0]), auth=AUTH, timeout=30
                            )
                        )
                        answers.append(
                            requests.get(server.url + pool_path(), auth=AUTH, timeout=30)
                        )

                threads = [threading.Thread(target=fetch) for _ in range(8)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(120)
                return answers

            before = requests_on_every_thread()
            assert [a.status_code for a in before] == [200] * 80
            postgres.restart()
            after = requests_on_every_thread()
            assert [a.status_code for a in after] == [200] * 80, [a.text for a in after][:3]
            removed = requests.delete(server.url + pool_path(sid=NUMBERS[0]), auth=AUTH, timeout=10)
            assert removed.status_code == 204, removed.text
            assert "Traceback" not in server.output()
        finally:
            server.stop()
    finally:
        postgres.stop()


def refuses_connections(port: int, *, deadline: float) -> bool:
    """Poll until the port refuses a connection (the server stopped listening), or the deadline."""
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except ConnectionRefusedError:
            return True
        time.sleep(0.05)
    return False
