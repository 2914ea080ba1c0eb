"""The control surface of Messages over HTTP: an account's clock, callback faults, the journal of
webhooks. (What they make happen to messages and webhooks: e2e/test_callbacks.py.)"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support import ACCOUNT, AUTH, OTHER_ACCOUNT, assert_error
from twilio_fake import fixtures

CLOCK = f"/_fake/clock/{ACCOUNT}"
NOBODY = "AC" + "f" * 32


def test_an_accounts_clock_runs_until_frozen_then_moves_only_when_told(client) -> None:
    running = client.get(CLOCK).json()
    assert running["account"] == ACCOUNT and running["frozen"] is False
    frozen = client.post(CLOCK, json={"freeze": True}).json()
    assert frozen["frozen"] is True and frozen["transitions"] == []
    assert client.get(CLOCK).json()["now"] == frozen["now"]
    moved = client.post(CLOCK, json={"advance_seconds": 3600}).json()
    assert moved["now"] == frozen["now"] + 3600 and moved["frozen"] is True
    assert moved["date"].endswith("Z") and "T" in moved["date"]
    resumed = client.post(CLOCK, json={"resume": True}).json()
    assert resumed["frozen"] is False and resumed["now"] >= moved["now"]
    # Another account's clock never moved.
    other = client.get(f"/_fake/clock/{OTHER_ACCOUNT}").json()
    assert other["frozen"] is False and other["now"] < moved["now"]


def test_freeze_and_advance_in_one_request(client) -> None:
    before = client.post(CLOCK, json={"freeze": True}).json()["now"]
    after = client.post(CLOCK, json={"freeze": True, "advance_seconds": 10}).json()
    assert after["now"] == before + 10 and after["frozen"] is True


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({}, None),
        ({"freeze": True, "resume": True}, "A clock cannot be frozen and resumed at once"),
        ({"advance_seconds": -1}, None),
        ({"freeze": False}, None),
        ({"callback_wait": 5}, "Give freeze, resume or advance_seconds"),
        ({"advance_seconds": 1, "rewind": True}, None),
    ],
)
def test_a_clock_change_that_makes_no_sense_is_400_and_changes_nothing(
    client, change, message
) -> None:
    before = client.post(CLOCK, json={"freeze": True}).json()
    body = assert_error(client.post(CLOCK, json=change), 400, 20001)
    if message:
        assert body["message"].startswith(message)
    assert client.get(CLOCK).json() == {k: before[k] for k in ("account", "now", "date", "frozen")}


@pytest.mark.parametrize(
    "body",
    [b'{"advance_seconds": NaN}', b'{"advance_seconds": Infinity}', b'{"advance_seconds": -1e999}'],
)
def test_a_number_json_has_no_word_for_is_400_and_the_clock_is_unchanged(client, body) -> None:
    """Python's `json` reads NaN and Infinity, which pass a schema's minimum and maximum: a
    clock moved by NaN seconds was stored broken (every later send a 500 on PostgreSQL)."""
    before = client.post(CLOCK, json={"freeze": True}).json()
    response = client.post(CLOCK, content=body, headers={"Content-Type": "application/json"})
    assert "is not a JSON number" in assert_error(response, 400, 20001)["message"]
    assert client.get(CLOCK).json() == {k: before[k] for k in ("account", "now", "date", "frozen")}


def test_an_unknown_accounts_clock_is_404(client) -> None:
    assert_error(client.get(f"/_fake/clock/{NOBODY}"), 404, 20404)
    assert_error(client.post(f"/_fake/clock/{NOBODY}", json={"freeze": True}), 404, 20404)


def test_outcome_rules_are_set_and_cleared(client, backend) -> None:
    from twilio_fake.resources.messages import lifecycle

    outcomes = f"/_fake/outcomes/{ACCOUNT}"
    rule = client.post(outcomes, json={"to": "+1500555*", "status": "undelivered"})
    assert rule.status_code == 201
    assert rule.json() == {"to": "+1500555*", "status": "undelivered", "error_code": 30003}
    failed = {"to": "+15005550006", "status": "failed", "error_code": 30007}
    assert client.post(outcomes, json=failed).json() == failed
    with backend.db.read() as conn:
        assert lifecycle.plan(conn, ACCOUNT, "+15005550006") == ("failed", 30007)
        assert lifecycle.plan(conn, ACCOUNT, "+15005550009") == ("undelivered", 30003)
        assert lifecycle.plan(conn, OTHER_ACCOUNT, "+15005550006") == ("delivered", None)
    assert client.delete(outcomes).status_code == 204
    with backend.db.read() as conn:
        assert lifecycle.plan(conn, ACCOUNT, "+15005550006") == ("delivered", None)


@pytest.mark.parametrize(
    "rule",
    [
        {"to": "+1500*555", "status": "failed"},
        {"to": "+15005550006", "status": "sent"},
        {"to": "+15005550006", "status": "delivered", "error_code": 30003},
        {"to": "somebody", "status": "failed"},
        {"status": "failed"},
    ],
)
def test_an_outcome_rule_that_makes_no_sense_is_400(client, rule) -> None:
    assert_error(client.post(f"/_fake/outcomes/{ACCOUNT}", json=rule), 400, 20001)


def test_an_unknown_accounts_outcomes_are_404(client) -> None:
    rule = {"to": "*", "status": "failed"}
    assert_error(client.post(f"/_fake/outcomes/{NOBODY}", json=rule), 404, 20404)
    assert_error(client.delete(f"/_fake/outcomes/{NOBODY}"), 404, 20404)


def test_an_inbound_message_without_a_webhook_is_stored_and_sends_nothing(client) -> None:
    number = fixtures.demo()[0].incoming_phone_numbers[0].phone_number
    answer = client.post(
        "/_fake/inbound", json={"from": "+15005550006", "to": number, "body": "Hi"}
    )
    assert answer.status_code == 201
    received = answer.json()
    assert received["webhook"] is None
    message = received["message"]
    assert (message["from"], message["to"], message["body"]) == ("+15005550006", number, "Hi")
    assert (message["status"], message["direction"], message["account_sid"]) == (
        "received",
        "inbound",
        ACCOUNT,
    )
    assert message["sid"].startswith("SM") and message["stored"] is True
    # The message is shown as the Message resource shows it.
    fetched = client.get(message["uri"], auth=AUTH)
    assert fetched.status_code == 200
    assert {**message, "stored": None} == {**fetched.json(), "stored": None}
    assert client.get("/_fake/callbacks").json() == {"callbacks": []}


@pytest.mark.parametrize(
    ("request_body", "status", "code"),
    [
        ({"from": "+15005550006", "to": "+19999999999", "body": "Hi"}, 400, 20001),
        (
            {"from": "+15005550006", "to": "+14155550102", "body": "Hi", "account": ACCOUNT},
            404,
            20404,
        ),
        (
            {"from": "+15005550006", "to": "+14155550100", "body": "Hi", "account": NOBODY},
            404,
            20404,
        ),
        ({"from": "nobody", "to": "+14155550100", "body": "Hi"}, 400, 20001),
        ({"from": "+15005550006", "to": "+14155550100", "body": "x" * 1601}, 400, 20001),
        ({"from": "+15005550006", "to": "+14155550100"}, 400, 20001),
        # PostgreSQL cannot store NUL in text: refused, not a 500
        ({"from": "+15005550006", "to": "+14155550100", "body": "Hi\u0000"}, 400, 20001),
    ],
    ids=[
        "nobodys-number",
        "another-accounts-number",
        "unknown-account",
        "bad-from",
        "too-long",
        "no-body",
        "nul-in-body",
    ],
)
def test_an_inbound_message_that_cannot_arrive_is_refused(
    client, request_body, status, code
) -> None:
    assert_error(client.post("/_fake/inbound", json=request_body), status, code)


@pytest.mark.parametrize(
    ("path", "document", "where"),
    [
        (
            "/_fake/inbound",
            '{"from": "+14155550199", "to": "+14155550102", "body": "a\\ud800b"}',
            "body",
        ),
        (
            "/_fake/inbound",
            '{"from": "+14155550199", "to": "+14155550102", "body": "x", "account": "\\udfff"}',
            "account",
        ),
        ("/_fake/callback-faults", '{"action": "drop", "account": "AC\\ud83d"}', "account"),
        ("/_fake/callback-faults", '{"action": "drop", "\\udc00": 1}', "\\udc00"),
    ],
    ids=["inbound-body", "inbound-account", "fault-account", "a-key"],
)
def test_json_that_escapes_half_a_surrogate_pair_is_400_and_changes_nothing(
    client, path, document, where
) -> None:
    """JSON may write half of a surrogate pair alone (`\ud800`): not text, and no database
    stores it (an inbound message to a number in no pool, which is stored, was a 500)."""
    health = client.get("/_fake/health").json()
    response = client.post(path, content=document, headers={"Content-Type": "application/json"})
    body = assert_error(response, 400, 20001)
    assert f"The JSON body's {where} is not valid text" in body["message"]
    assert client.get("/_fake/health").json() == health
    assert client.get("/_fake/callback-faults").json() == {"faults": []}
    # A pair written as two escapes is one character, and is text.
    emoji = '{"from": "+14155550199", "to": "+14155550102", "body": "\\ud83d\\ude00"}'
    answer = client.post(
        "/_fake/inbound", content=emoji, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 201 and answer.json()["message"]["body"] == "\U0001f600"


INBOUND_TEXT = '{"from": "+14155550199", "to": "+14155550102", "body": "%s"}'


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        ((INBOUND_TEXT % "a\\ud800b").encode("utf-16-le"), "application/json;charset=utf-16-le"),
        ((INBOUND_TEXT % "a").encode() + b"\xed\xa0\x80", "application/json;charset=latin-1"),
        ((INBOUND_TEXT % "caf").encode()[:-2] + b'\xe9"}', "application/json;charset=latin-1"),
        ((INBOUND_TEXT % "a").encode()[:-2] + b'\xed\xa0\x80"}', "application/json"),
    ],
    ids=["utf-16-surrogate", "latin-1-surrogate-bytes", "latin-1-accent", "utf-8-surrogate-bytes"],
)
def test_a_json_body_that_is_not_utf_8_is_400_and_changes_nothing(
    client, content: bytes, content_type: str
) -> None:
    """The checks read a body in the charset its Content-Type named, the handler as `json`
    reads bytes (UTF-8): a body read two ways passed one and broke the other (a 500, a lone
    surrogate stored). JSON is UTF-8 (RFC 8259)."""
    health = client.get("/_fake/health").json()
    response = client.post(
        "/_fake/inbound", content=content, headers={"Content-Type": content_type}
    )
    assert "UTF-8" in assert_error(response, 400, 20001)["message"]
    assert client.get("/_fake/health").json() == health


@pytest.mark.parametrize("charset", ["", ";charset=utf-8", ';charset="UTF-8"', ";charset=utf_8"])
def test_a_json_body_in_utf_8_is_read_however_its_charset_is_written(client, charset) -> None:
    content = (INBOUND_TEXT % "caf\u00e9 \u2713").encode()
    headers = {"Content-Type": "application/json" + charset}
    answer = client.post("/_fake/inbound", content=content, headers=headers)
    assert answer.status_code == 201, answer.text
    assert answer.json()["message"]["body"] == "caf\u00e9 \u2713"


def test_callback_faults_are_armed_listed_and_disarmed(client) -> None:
    armed = [
        client.post("/_fake/callback-faults", json=fault)
        for fault in (
            {"action": "drop", "account": ACCOUNT},
            {"action": "delay", "delay": 2.5, "times": 3},
            {"action": "reverse", "times": 4},
            {"action": "duplicate"},
            {"action": "bad_signature"},
        )
    ]
    assert [r.status_code for r in armed] == [201] * 5
    faults = client.get("/_fake/callback-faults").json()["faults"]
    assert [(f["action"], f["times"], f["account"]) for f in faults] == [
        ("drop", 1, ACCOUNT),
        ("delay", 3, None),
        ("reverse", 4, None),
        ("duplicate", 1, None),
        ("bad_signature", 1, None),
    ]
    assert faults[1]["delay"] == 2.5 and all(f["sid"].startswith("CF") for f in faults)
    assert client.delete("/_fake/callback-faults").status_code == 204
    assert client.get("/_fake/callback-faults").json() == {"faults": []}


@pytest.mark.parametrize(
    "fault",
    [
        {"action": "delay"},
        {"action": "drop", "delay": 1},
        {"action": "reverse", "times": 1},
        {"action": "explode"},
        {"action": "drop", "times": 0},
        {"action": "delay", "delay": 61},
        {},
    ],
)
def test_a_callback_fault_that_makes_no_sense_is_400(client, fault) -> None:
    assert_error(client.post("/_fake/callback-faults", json=fault), 400, 20001)
    assert client.get("/_fake/callback-faults").json() == {"faults": []}


def test_a_callback_fault_with_a_nan_delay_is_400(client) -> None:
    body, json_type = '{"action": "delay", "delay": NaN}', {"Content-Type": "application/json"}
    response = client.post("/_fake/callback-faults", content=body, headers=json_type)
    assert_error(response, 400, 20001)
    assert client.get("/_fake/callback-faults").json() == {"faults": []}


def test_callback_faults_are_bounded(client) -> None:
    for _ in range(100):
        assert client.post("/_fake/callback-faults", json={"action": "drop"}).status_code == 201
    body = assert_error(client.post("/_fake/callback-faults", json={"action": "drop"}), 400, 20001)
    assert "100 callback faults are armed already" in body["message"]


def test_dropping_an_account_disarms_its_callback_faults(client) -> None:
    client.post("/_fake/callback-faults", json={"action": "drop", "account": OTHER_ACCOUNT})
    client.post("/_fake/callback-faults", json={"action": "drop"})
    assert client.delete(f"/_fake/accounts/{OTHER_ACCOUNT}").status_code == 204
    faults = client.get("/_fake/callback-faults").json()["faults"]
    assert [f["account"] for f in faults] == [None]


def test_the_journal_of_webhooks_starts_empty_and_is_emptied(client) -> None:
    assert client.get("/_fake/callbacks").json() == {"callbacks": []}
    assert client.get(f"/_fake/callbacks?account={ACCOUNT}&page_size=5").status_code == 200
    assert client.delete("/_fake/callbacks").status_code == 204
    assert client.delete(f"/_fake/callbacks?account={ACCOUNT}").status_code == 204
    assert_error(client.get("/_fake/callbacks?page_size=0"), 400, 20001)


def test_a_clock_moved_past_what_a_date_can_hold_is_400_and_changes_nothing(
    client, backend
) -> None:
    """advance_seconds is bounded per request (a year), not in all: some 8,000 advances took
    the clock past year 9999, and every date then (the clock, a message) was a 500. The
    clock is set near there directly instead of by 8,000 requests."""
    from sqlalchemy import update

    from twilio_fake.clock import account_clocks

    client.post(CLOCK, json={"freeze": True})
    near_the_end = datetime(9999, 6, 1, tzinfo=UTC).timestamp()
    with backend.db.write() as conn:
        conn.execute(
            update(account_clocks)
            .where(account_clocks.c.account_sid == ACCOUNT)
            .values(frozen_at=near_the_end)
        )
    before = client.get(CLOCK).json()
    assert before["now"] == near_the_end
    assert_error(client.post(CLOCK, json={"advance_seconds": 31622400}), 400, 20001)
    assert client.get(CLOCK).json() == before
