"""The fast lane answers exactly as connexion does, and takes only what connexion would accept.

Two apps ("twins") start from copies of one database with a fixed clock: one with the fast
lane, one without. Every request goes to both, in the same order, and their answers must be
identical (status, headers, body) but for the request id and duration. The fast lane's counter
shows which requests it served itself: the plainly valid ones, and nothing else.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from twilio_fake import fixtures
from twilio_fake.app import TWILIO_SPEC, create_app, spec_document
from twilio_fake.config import Settings
from twilio_fake.fastlane import (
    INVALID,
    FastLane,
    ReadCache,
    Unsupported,
    compile_operations,
    value_parser,
)
from twilio_fake.models import Backend

from .conftest import AUTH, KEY, KEY_SECRET, NUMBERS, OTHER_NUMBER, OTHER_SERVICE, SERVICE, SERVICE2
from .conftest import pool_path as pool

UNSTAMPED = {"twilio-request-id", "twilio-request-duration"}
FORM = "application/x-www-form-urlencoded"
DISABLED_KEY = ("SK00000000000000000000000000000002", "demo-disabled-key-secret")


def fixed_clock() -> datetime:
    return datetime(2026, 1, 31, 12, 0, 0)


class Twins:
    def __init__(self, tmp_path: Path) -> None:
        first = tmp_path / "first.sqlite3"
        Backend(str(first), fixtures.demo(), clock=fixed_clock).db.dispose()
        second = tmp_path / "second.sqlite3"
        shutil.copy(first, second)  # the same page-token key, so the same tokens
        self.backends = [
            Backend(str(path), fixtures.demo(), clock=fixed_clock) for path in (first, second)
        ]
        self.apps = [
            create_app(Settings(validate_responses=True, fast_lane=lane), backend)
            for lane, backend in zip((True, False), self.backends, strict=True)
        ]
        self.clients = [TestClient(app, follow_redirects=False) for app in self.apps]
        for client in self.clients:
            client.__enter__()
        self.sent = 0

    def close(self) -> None:
        for client in self.clients:
            client.__exit__(None, None, None)
        for backend in self.backends:
            backend.db.dispose()

    @property
    def lane(self) -> FastLane:
        lane = self.apps[0].lane
        assert isinstance(lane, FastLane)
        return lane

    def send(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send to both twins; assert they answer alike; return the fast twin's answer."""
        self.sent += 1
        fast, reference = (client.request(method, path, **kwargs) for client in self.clients)
        assert (fast.status_code, fast.content) == (reference.status_code, reference.content), (
            f"{method} {path} {kwargs}: fast lane {fast.status_code} {fast.text!r}, "
            f"connexion {reference.status_code} {reference.text!r}"
        )
        assert headers(fast) == headers(reference), (method, path, kwargs)
        return fast


def headers(response: Any) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in response.headers.items() if k not in UNSTAMPED)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def twins(tmp_path: Path) -> Iterator[Twins]:
    twins = Twins(tmp_path)
    yield twins
    twins.close()


def served_by_lane(twins: Twins, method: str, path: str, **kwargs: Any) -> bool:
    before = twins.lane.served
    twins.send(method, path, **kwargs)
    return twins.lane.served == before + 1


def test_every_operation_of_the_spec_is_compiled() -> None:
    operations = compile_operations(spec_document(TWILIO_SPEC), {"user", "backend", "base_url"})
    assert sorted(op.operation_id for op in operations) == [
        "handlers.phone_numbers.create",
        "handlers.phone_numbers.delete",
        "handlers.phone_numbers.fetch",
        "handlers.phone_numbers.list_numbers",
    ]


def test_plainly_valid_requests_are_served_by_the_lane(twins: Twins) -> None:
    create = {"data": {"PhoneNumberSid": NUMBERS[0]}, "auth": AUTH}
    assert served_by_lane(twins, "POST", pool(), **create)
    assert served_by_lane(twins, "POST", pool(), **create)  # 409: the rules' answer, rendered
    assert served_by_lane(twins, "GET", pool(sid=NUMBERS[0]), auth=AUTH)
    assert served_by_lane(twins, "GET", pool(sid=NUMBERS[0]), headers=basic(KEY, KEY_SECRET))
    assert served_by_lane(twins, "GET", pool(), auth=AUTH)
    assert served_by_lane(twins, "GET", pool() + "?PageSize=1&Page=0", auth=AUTH)
    assert served_by_lane(twins, "GET", pool(OTHER_SERVICE), auth=AUTH)  # 404 from the rules
    assert served_by_lane(twins, "GET", pool() + "?PageToken=PAforged", auth=AUTH)  # their 400
    assert served_by_lane(twins, "DELETE", pool(sid=NUMBERS[0]), auth=AUTH)
    assert served_by_lane(twins, "DELETE", pool(sid=NUMBERS[0]), auth=AUTH)  # 404
    assert served_by_lane(twins, "GET", "/_fake/health")  # the control surface: no credentials
    assert served_by_lane(twins, "POST", "/_fake/reset")


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", pool(sid=NUMBERS[0]), {}),  # no credentials
        ("GET", pool(sid=NUMBERS[0]), {"auth": (AUTH[0], "wrong")}),
        ("GET", pool(sid=NUMBERS[0]), {"headers": basic(*DISABLED_KEY)}),
        ("GET", pool(sid=NUMBERS[0]), {"headers": {"Authorization": "Bearer x"}}),
        ("GET", pool(sid=NUMBERS[0]), {"headers": {"Authorization": "Basic !!!"}}),
        ("GET", pool(sid=NUMBERS[0]) + "?Extra=1", {"auth": AUTH}),
        ("GET", pool(sid="PN" + "g" * 32), {"auth": AUTH}),
        ("GET", pool(service="MG123"), {"auth": AUTH}),
        ("GET", pool(sid=NUMBERS[0]) + "/", {"auth": AUTH}),
        ("GET", pool(sid=NUMBERS[0]), {"auth": AUTH, "content": b"x=1"}),
        ("HEAD", pool(sid=NUMBERS[0]), {"auth": AUTH}),
        ("PUT", pool(sid=NUMBERS[0]), {"auth": AUTH}),
        ("GET", pool() + "?PageSize=0", {"auth": AUTH}),
        ("GET", pool() + "?PageSize=1001", {"auth": AUTH}),
        ("GET", pool() + "?PageSize=1&PageSize=2", {"auth": AUTH}),
        ("GET", pool() + "?PageSize=", {"auth": AUTH}),
        ("GET", pool() + "?PageSize=+5", {"auth": AUTH}),
        ("GET", pool() + "?PageToken=", {"auth": AUTH}),
        ("GET", pool() + "?pagesize=5", {"auth": AUTH}),
        ("POST", pool(), {"auth": AUTH}),  # no body
        ("POST", pool(), {"auth": AUTH, "data": {"PhoneNumberSid": "PN1"}}),
        ("POST", pool(), {"auth": AUTH, "data": {"PhoneNumberSid": NUMBERS[1], "X": "1"}}),
        ("POST", pool(), {"auth": AUTH, "json": {"PhoneNumberSid": NUMBERS[1]}}),
        (
            "POST",
            pool(),
            {
                "auth": AUTH,
                "headers": {"Content-Type": FORM},
                "content": f"PhoneNumberSid={NUMBERS[1]}&PhoneNumberSid={NUMBERS[2]}",
            },
        ),
        ("POST", pool(), {"auth": AUTH, "content": f"PhoneNumberSid={NUMBERS[1]}"}),  # no type
        ("POST", pool(), {"auth": ("AC" + "0" * 32, "x"), "data": {"PhoneNumberSid": NUMBERS[1]}}),
    ],
)
def test_anything_else_goes_to_connexion_and_gets_the_same_answer(
    twins: Twins, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    assert not served_by_lane(twins, method, path, **kwargs)


def test_whole_scenarios_answer_alike(twins: Twins) -> None:
    """Fill a pool, page through it both ways with the tokens, take numbers out, refill."""
    for number in NUMBERS:
        twins.send("POST", pool(), data={"PhoneNumberSid": number}, auth=AUTH)
    twins.send("POST", pool(SERVICE2), data={"PhoneNumberSid": NUMBERS[0]}, auth=AUTH)  # 21712
    twins.send("POST", pool(), data={"PhoneNumberSid": OTHER_NUMBER}, auth=AUTH)  # not ours
    url: str | None = pool() + "?PageSize=2"
    last = ""
    while url:
        body = twins.send("GET", url, auth=AUTH).json()
        last, url = body["meta"]["url"], body["meta"]["next_page_url"]
    while last:
        body = twins.send("GET", last, auth=AUTH).json()
        last = body["meta"]["previous_page_url"]
    twins.send("GET", pool() + "?PageSize=2&Page=1", auth=AUTH)
    twins.send("GET", pool() + "?PageSize=2&Page=9", auth=AUTH)
    twins.send("DELETE", pool(sid=NUMBERS[2]), auth=AUTH)
    twins.send("GET", pool(sid=NUMBERS[2]), auth=AUTH)
    twins.send("POST", pool(SERVICE2), data={"PhoneNumberSid": NUMBERS[2]}, auth=AUTH)
    twins.send("GET", pool(SERVICE2) + "?PageSize=1000", headers=basic(KEY, KEY_SECRET))
    assert twins.lane.served == twins.sent  # every one of them valid: all served by the lane


_KEYS = st.sampled_from(["PageSize", "Page", "PageToken", "pagesize", "Other", ""])
_VALUES = st.sampled_from(
    ["", "0", "1", "2", "50", "1000", "1001", "-1", "007", "+5", " 5", "5_0", "%35", "1e3",
     "abc", "\u0661", "%00", "%0A", "1%20", "PA", "2147483648", "99999999999999999999"]
)  # fmt: skip


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=st.lists(st.tuples(_KEYS, _VALUES), max_size=3))
def test_any_list_query_gets_the_same_answer(twins: Twins, query: list[tuple[str, str]]) -> None:
    text = "&".join(f"{k}={v}" if k else v for k, v in query)
    twins.send("GET", pool() + "?" + text, auth=AUTH)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.lists(
        st.tuples(
            st.sampled_from(["PhoneNumberSid", "phonenumbersid", "Other"]),
            st.sampled_from(
                [*NUMBERS[:2], NUMBERS[0].lower(), "", "PN", "%50N" + "0" * 32, "\u00e9"]
            ),
        ),
        max_size=2,
    ),
    content_type=st.sampled_from([FORM, FORM + "; charset=utf-8", FORM + "; charset=latin-1",
                                  "text/plain", "APPLICATION/X-WWW-FORM-URLENCODED"]),
)  # fmt: skip
def test_any_create_body_gets_the_same_answer(
    twins: Twins, body: list[tuple[str, str]], content_type: str
) -> None:
    content = "&".join(f"{k}={v}" for k, v in body).encode()
    twins.send("POST", pool(), content=content, headers={"Content-Type": content_type}, auth=AUTH)
    twins.send("DELETE", pool(sid=NUMBERS[0]), auth=AUTH)  # the same state for the next example


def test_value_parsers_follow_the_schema() -> None:
    sid = value_parser({"type": "string", "pattern": "^PN[0-9a-f]{2}$", "maxLength": 4})
    assert sid("PN0a") == "PN0a"
    assert sid("PN0g") is INVALID
    assert sid("PN0a\n") is INVALID  # `$` would let a trailing newline through
    size = value_parser({"type": "integer", "minimum": 1, "maximum": 1000, "default": 50})
    assert size("1000") == 1000 and size("007") == 7
    assert size("0") is INVALID and size("1001") is INVALID and size("\u0661") is INVALID


@pytest.mark.parametrize(
    "schema",
    [{"type": "string", "format": "date-time"}, {"type": "number"}, {"anyOf": []}, {}],
)
def test_a_schema_it_cannot_check_fully_is_left_to_connexion(schema: dict[str, Any]) -> None:
    with pytest.raises(Unsupported):
        value_parser(schema)


# -- the read cache ----------------------------------------------------------------------------
def pool_sids(client: Any, service: str = SERVICE) -> list[str]:
    response = client.get(pool(service), auth=AUTH)
    assert response.status_code == 200, response.text
    return [entry["sid"] for entry in response.json()["phone_numbers"]]


def test_answers_come_from_the_cache_until_anything_commits(twins: Twins, tmp_path: Path) -> None:
    fast = twins.clients[0]
    cache = twins.lane.cache
    assert cache is not None
    assert pool_sids(fast) == [] and pool_sids(fast) == []
    assert cache.hits == 1
    # A write on the lane's own connection.
    assert fast.post(pool(), data={"PhoneNumberSid": NUMBERS[0]}, auth=AUTH).status_code == 201
    assert pool_sids(fast) == [NUMBERS[0]]
    # A write on another connection to the same file (another worker, say).
    other = Backend(str(tmp_path / "first.sqlite3"), fixtures.demo())
    try:
        other.add_phone_number(AUTH[0], SERVICE, NUMBERS[1])
        assert pool_sids(fast) == NUMBERS[:2]
        other.remove_phone_number(AUTH[0], SERVICE, NUMBERS[0])
        assert pool_sids(fast) == [NUMBERS[1]]
    finally:
        other.db.dispose()
    # A reset through the control API (connexion, on a pooled SQLAlchemy connection).
    assert fast.post("/_fake/reset").status_code in (200, 204)
    assert pool_sids(fast) == []
    hits = cache.hits
    assert pool_sids(fast) == [] and cache.hits == hits + 1


def test_each_account_and_base_url_has_answers_of_its_own(twins: Twins) -> None:
    fast = twins.clients[0]
    fast.post(pool(), data={"PhoneNumberSid": NUMBERS[0]}, auth=AUTH)
    path = pool(sid=NUMBERS[0])
    assert fast.get(path, auth=AUTH).status_code == 200
    assert fast.get(path, auth=AUTH).status_code == 200  # cached now
    other = fast.get(path, auth=("AC00000000000000000000000000000002", "demo-auth-token-2"))
    assert other.status_code == 404
    elsewhere = fast.get(path, auth=AUTH, headers={"Host": "fake.example:9000"})
    assert elsewhere.json()["url"].startswith("http://fake.example:9000/v1/")


def test_a_write_in_another_process_is_seen_at_once(tmp_path: Path) -> None:
    from .servers import serve

    database = tmp_path / "shared.sqlite3"
    first = serve(database)
    second = serve(database)
    try:
        import requests

        url = first.url + pool()
        for expected in ([], [NUMBERS[0]], []):
            for _ in range(2):  # the second answer may come from the cache
                listed = requests.get(url, auth=AUTH, timeout=5).json()["phone_numbers"]
                assert [entry["sid"] for entry in listed] == expected
            if expected:
                gone = requests.delete(f"{second.url}{pool(sid=NUMBERS[0])}", auth=AUTH, timeout=5)
                assert gone.status_code == 204
            else:
                added = requests.post(
                    second.url + pool(), data={"PhoneNumberSid": NUMBERS[0]}, auth=AUTH, timeout=5
                )
                assert added.status_code == 201
    finally:
        first.stop()
        second.stop()


def test_the_cache_keeps_to_its_budget_oldest_out_first() -> None:
    cache = ReadCache(budget=10)
    assert cache.get("v1", ("a",)) is None  # a new version: empty
    cache.put("v1", ("a",), (200, "aaaa"))
    cache.put("v1", ("b",), (200, "bbbb"))
    cache.put("v1", ("c",), (200, "cccc"))  # over budget: "a" goes
    assert cache.get("v1", ("a",)) is None
    assert cache.get("v1", ("b",)) == (200, "bbbb") and cache.size == 8
    cache.put("v1", ("d",), (200, "d" * 11))  # larger than the whole budget: not kept
    cache.put("v1", ("e",), (404, "e"))  # only 200s are kept
    assert cache.get("v1", ("d",)) is None and cache.get("v1", ("e",)) is None
    cache.put("v0", ("f",), (200, "f"))  # read under an older version: not kept
    assert cache.get("v1", ("f",)) is None
    assert cache.get("v2", ("b",)) is None and cache.size == 0  # the data changed: all gone


def test_the_lane_serves_before_connexion_is_built_and_connexion_comes_when_needed(
    backend: Backend,
) -> None:
    app = create_app(Settings(validate_responses=True), backend)
    client = app.test_client()  # outside `with`: no lifespan, so nothing starts building
    assert client.get("/_fake/health").status_code == 200
    assert client.post(pool(), data={"PhoneNumberSid": NUMBERS[0]}, auth=AUTH).status_code == 201
    assert client.get(pool(sid=NUMBERS[0]), auth=AUTH).status_code == 200
    assert app.connexion._app is None  # all of that without connexion
    response = client.get(pool(sid=NUMBERS[0]), auth=(AUTH[0], "wrong"))  # connexion's to answer
    assert response.status_code == 401 and response.json()["code"] == 20003
    assert app.connexion._app is not None


def test_a_failure_outside_any_handler_is_still_a_twilio_shaped_500(backend: Backend) -> None:
    app = create_app(Settings(), backend)
    assert app.lane is not None

    def broken(_scope: Any) -> None:
        raise RuntimeError("a bug in the lane itself")

    app.lane._match = broken  # type: ignore[method-assign]
    response = app.test_client().get(pool(sid=NUMBERS[0]), auth=AUTH)
    assert response.status_code == 500 and response.json()["code"] == 20500
    assert response.headers["twilio-request-id"].startswith("RQ")
    assert "bug" not in response.text
