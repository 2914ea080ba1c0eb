"""Thin HTTP handlers, and the table that routes each operationId of the specs to one of them.

This package is installed as `twilio_fake.handlers`. Connexion has routed, authenticated and
validated a request before a handler runs; the handler shapes the answer and leaves the rules
to the backend (twilio_fake.models).
"""

from collections.abc import Callable
from typing import Any

from . import control, phone_numbers

# operationId (as in openapi.yaml and control.yaml) -> handler. The published contract keeps
# Twilio's own operationIds; a name missing here stops the server at start-up.
OPERATIONS: dict[str, Callable[..., Any]] = {
    "CreatePhoneNumber": phone_numbers.create,
    "ListPhoneNumber": phone_numbers.list_numbers,
    "FetchPhoneNumber": phone_numbers.fetch,
    "DeletePhoneNumber": phone_numbers.delete,
    "FakeHealth": control.health,
    "FakeReset": control.reset,
    "FakeLoadFixtures": control.load_fixtures,
    "FakeIndex": control.index,
    "FakeCreateAccount": control.create_account,
    "FakeDeleteAccount": control.delete_account,
    "FakeListRequests": control.list_requests,
    "FakeClearRequests": control.clear_requests,
    "FakeListFaults": control.list_faults,
    "FakeArmFault": control.arm_fault,
    "FakeClearFaults": control.clear_faults,
}
