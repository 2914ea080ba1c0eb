"""Schemathesis fuzzes the contract: the schema is loaded from the running app, every check on.

One deliberate setting: `positive_data_acceptance` also accepts 400, because Twilio refuses some
schema-valid requests by rule; twilio_fake_contract.checks makes sure such a 400 always names
one of those rules (it is registered on import, here and in `twilio-fake contract`).
"""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig

import twilio_fake_contract.checks  # noqa: F401  (registers the check)
from tests.support import (
    ACCOUNT,
    NUMBERS,
    OTHER_NUMBER,
    OTHER_SERVICE,
    SERVICE,
    SERVICE2,
    TOKEN,
    scale,
    survived,
)

CONFIG = {
    "seed": 20261127,
    "checks": {
        "enabled": True,
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "400", "401", "404", "409", "412"]
        },
    },
    # `make soak` raises this so that the run sends well over 10,000 requests.
    "generation": {"mode": "all", "max-examples": scale(30, 3000)},
    # Random SIDs almost never name real state; draw most of them from the demo fixture (the
    # other account's service and number included), so sequences reach 201, 409 and 204.
    "dictionaries": {
        "services": {"values": [SERVICE, SERVICE2, OTHER_SERVICE]},
        "numbers": {"values": [*NUMBERS, OTHER_NUMBER]},
    },
    "parameters": {
        "path.ServiceSid": {"dictionary": "services", "probability": 0.8},
        "path.Sid": {"dictionary": "numbers", "probability": 0.8},
        "body.PhoneNumberSid": {"dictionary": "numbers", "probability": 0.8},
    },
    "auth": {"basic": {"username": ACCOUNT, "password": TOKEN}},
}


@pytest.fixture
def contract(app):
    return schemathesis.openapi.from_asgi(
        "/v1/openapi.json", app, config=SchemathesisConfig.from_dict(CONFIG)
    )


schema = schemathesis.pytest.from_fixture("contract")


@schema.parametrize()
def test_every_operation_keeps_the_contract(case) -> None:
    case.call_and_validate()
    survived["schemathesis requests (one operation at a time)"] += 1


def test_stateful_sequences_over_the_links(contract, backend) -> None:
    class Workflow(contract.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # Every sequence starts from the fixtures, so Hypothesis can replay and shrink it.
            backend.reset()

        def after_call(self, response, case) -> None:  # type: ignore[no-untyped-def]
            survived["schemathesis requests (stateful sequences)"] += 1

    Workflow.run(settings=hypothesis.settings(max_examples=scale(30, 600), deadline=None))
