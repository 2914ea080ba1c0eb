"""The fake's own control surface (control.yaml): the index, health, reset, fixtures, minted
accounts, the request journal and faults.

Plain functions: connexion runs them in its thread pool, off the event loop (a reset or a
fixture load holds the write lock; counting a large database takes a while). Health alone is a
coroutine: it answers within the database timeout even when the database does not.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from anyio import fail_after, to_thread
from sqlalchemy.exc import DBAPIError

from twilio_fake import fixtures, spec
from twilio_fake.backend import Backend
from twilio_fake.dispatch import Dispatcher
from twilio_fake.exceptions import InvalidParameter, ServiceUnavailable
from twilio_fake.faults import Faults
from twilio_fake.journal import Journal


async def health(backend: Backend):
    """The fake is up, the database it uses, and what it holds; 503 if the database is out of
    reach, or does not answer within the database timeout (a load balancer takes the replica
    out). The count runs in a thread, which a hung database may keep: the answer does not wait
    for it."""
    try:
        with fail_after(backend.db.timeout):
            return await to_thread.run_sync(_health, backend, abandon_on_cancel=True)
    except TimeoutError:
        raise ServiceUnavailable(
            f"The database did not answer within {backend.db.timeout:g} s: {backend.db.describe()}"
        ) from None


def _health(backend: Backend) -> dict[str, Any]:
    try:
        backend.db.check_present()
        counts = backend.counts()
    except DBAPIError:
        raise ServiceUnavailable(
            f"The database cannot be reached: {backend.db.describe()}"
        ) from None
    return {"status": "ok", "database": backend.db.describe(), **asdict(counts)}


def reset(backend: Backend):
    backend.reset()
    return _health(backend)


def load_fixtures(document: Any, backend: Backend):
    """Parse (bounded, in connexion's thread pool, before any lock), then load in one write."""
    try:
        accounts = (
            fixtures.load_text(document, aliases=False)
            if isinstance(document, bytes | str)
            else fixtures.parse(document)
        )
        backend.load(accounts)
    except fixtures.FixtureError as err:
        raise InvalidParameter(f"Invalid fixture document: {err}") from None
    return _health(backend)


def index(base_url: str):
    """GET /: where the API, its docs, the contract and the control surface are."""
    return {
        "api": base_url + spec.path_template("ListPhoneNumber"),
        "docs": base_url + spec.DOCS_PATH + "/",
        "contract": base_url + spec.CONTRACT_PATH,
        "control": base_url + spec.path_template("FakeHealth", spec.CONTROL),
    }


def create_account(backend: Backend, body: dict[str, Any] | None = None):
    body = body or {}
    sizes = {
        size: body.get(size, spec.control_default("NewAccount", size))
        for size in ("services", "numbers")
    }
    account = backend.mint_account(**sizes)
    numbers = account.incoming_phone_numbers
    return {
        "sid": account.sid,
        "auth_token": account.auth_token,
        "services": list(account.services),
        "numbers": [number.sid for number in numbers],
        "phone_numbers": [number.phone_number for number in numbers],
    }, 201


def delete_account(Sid: str, backend: Backend, faults: Faults, dispatcher: Dispatcher):
    """Drop the account, and disarm its faults (callback faults too): they could match nothing
    any more, and would hold places under the cap of armed faults. Disarmed first, so that an
    account gone already (dropped by a reset, say: a 404) leaves no fault behind either."""
    faults.disarm_account(Sid)
    dispatcher.faults.clear(Sid)
    backend.drop_account(Sid)
    return None, 204


def list_requests(
    journal: Journal,
    page_size: int,
    account: str | None = None,
    operation: str | None = None,
    method: str | None = None,
    status: int | None = None,
    limit: int | None = None,
    cursor: str | None = None,
):
    """A page of the journal; `page_size` has its default and maximum from control.yaml."""
    try:
        page = journal.page(
            limit if limit is not None else page_size,
            cursor,
            account=account,
            operation=operation,
            method=method,
            status=status,
        )
    except ValueError:
        raise InvalidParameter(
            "Invalid parameter cursor: not a next_cursor this journal gave"
        ) from None
    return {"requests": [entry.as_dict() for entry in page.entries], "next_cursor": page.cursor}


def clear_requests(journal: Journal):
    journal.clear()
    return None, 204


def list_faults(faults: Faults):
    return {"faults": [fault.as_dict() for fault in faults.armed()]}


def arm_fault(body: dict[str, Any], faults: Faults):
    return faults.arm(body).as_dict(), 201


def clear_faults(faults: Faults):
    faults.clear()
    return None, 204


OPERATIONS = {
    "FakeIndex": index,
    "FakeHealth": health,
    "FakeReset": reset,
    "FakeLoadFixtures": load_fixtures,
    "FakeCreateAccount": create_account,
    "FakeDeleteAccount": delete_account,
    "FakeListRequests": list_requests,
    "FakeClearRequests": clear_requests,
    "FakeListFaults": list_faults,
    "FakeArmFault": arm_fault,
    "FakeClearFaults": clear_faults,
}
