"""The connexion floor of `make bench` is connexion doing its whole job, not a bare route.

A floor that skipped authentication or validation would flatter connexion and blame the fake
for connexion's own cost: these check that it routes, authenticates and validates from the
same openapi.yaml, and answers the bodies it was given. The floor and the bare route answer the
headers the fake adds too (a client reads every one), so that all three send the same bytes.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest
from starlette.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import bench_bare  # tools, beside the tests' tree
import bench_floor

POOL = "/v1/Services/MG" + "b" * 32 + "/PhoneNumbers"
NUMBER = "PN" + "0" * 32
ENTRY = {"sid": NUMBER, "phone_number": "+14155550100"}
MESSAGES = f"/2010-04-01/Accounts/{bench_floor.ACCOUNT}/Messages.json"
MESSAGE = {"sid": "SM" + "0" * 32, "status": "queued", "body": "bench"}
SEND = {"From": "+14155550100", "To": "+14155550199", "Body": "bench"}
ADDED = {"twilio-request-id": "RQ" + "1" * 32, "access-control-allow-origin": "*"}
BODIES = {
    "fetch": json.dumps(ENTRY),
    "create": json.dumps(ENTRY),
    "list": {"50": json.dumps({"phone_numbers": [ENTRY]})},
    "send": json.dumps(MESSAGE),
    "headers": ADDED,
}


@pytest.fixture(scope="module")
def floor() -> TestClient:
    return TestClient(bench_floor.build(BODIES))


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


GOOD = basic(bench_floor.ACCOUNT, bench_floor.TOKEN)


def test_answers_the_bodies_it_was_given(floor: TestClient) -> None:
    assert floor.get(f"{POOL}/{NUMBER}", headers=GOOD).json() == ENTRY
    created = floor.post(POOL, data={"PhoneNumberSid": NUMBER}, headers=GOOD)
    assert (created.status_code, created.json()) == (201, ENTRY)
    assert floor.delete(f"{POOL}/{NUMBER}", headers=GOOD).status_code == 204
    assert floor.get(POOL, headers=GOOD).json() == {"phone_numbers": [ENTRY]}
    sent = floor.post(MESSAGES, data=SEND, headers=GOOD)
    assert (sent.status_code, sent.json()) == (201, MESSAGE)


@pytest.mark.parametrize("server", ["floor", "bare"])
def test_answers_the_headers_the_fake_adds(floor: TestClient, server: str) -> None:
    client = floor if server == "floor" else TestClient(bench_bare.build(BODIES))
    answers = [
        client.get(f"{POOL}/{NUMBER}", headers=GOOD),
        client.post(POOL, data={"PhoneNumberSid": NUMBER}, headers=GOOD),
        client.delete(f"{POOL}/{NUMBER}", headers=GOOD),
        client.get(POOL, params={"PageSize": "50"}, headers=GOOD),
        client.post(MESSAGES, data=SEND, headers=GOOD),
    ]
    assert [a.status_code for a in answers] == [200, 201, 204, 200, 201]
    for answer in answers:
        assert {name: answer.headers.get(name) for name in ADDED} == ADDED


def test_authenticates(floor: TestClient) -> None:
    assert floor.get(f"{POOL}/{NUMBER}").status_code == 401
    wrong = basic(bench_floor.ACCOUNT, "not the token")
    assert floor.get(f"{POOL}/{NUMBER}", headers=wrong).status_code == 401
    assert floor.post(MESSAGES, data=SEND).status_code == 401


def test_validates_requests_from_the_spec(floor: TestClient) -> None:
    assert floor.post(POOL, data={}, headers=GOOD).status_code == 400
    assert floor.get(POOL, params={"PageSize": "0"}, headers=GOOD).status_code == 400
    assert floor.get("/v1/Nowhere", headers=GOOD).status_code == 404


@pytest.mark.parametrize(
    "invalid",
    [{"To": "+1" + "4" * 255}, {"MaxPrice": "not a number"}, {"ProvideFeedback": "perhaps"}],
    ids=["To longer than 256", "MaxPrice not a number", "ProvideFeedback not a boolean"],
)
def test_validates_a_message_from_the_spec(floor: TestClient, invalid: dict[str, str]) -> None:
    """CreateMessage's form schema (the fake's own first check) refuses what it must, so that the
    floor's send costs the validation the fake's send costs."""
    assert floor.post(MESSAGES, data={**SEND, **invalid}, headers=GOOD).status_code == 400
