"""What the control surface does to an account's messages (control.yaml): its clock, the rules
for how its messages end, and inbound messages.

Each function is one transaction of its own, and refuses an account the fake does not hold
(ResourceNotFound, a 404) before it changes anything. The handlers (handlers/control_messages.py)
run them through `Database.call`; the dispatcher runs `change_clock` inside a clock's advance.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from twilio_fake import clock, db
from twilio_fake.backend import Backend
from twilio_fake.exceptions import InvalidParameter, ResourceNotFound

from . import inbound, lifecycle


def read_clock(backend: Backend, account_sid: str) -> clock.Reading:
    with backend.db.read() as conn:
        _known(conn, account_sid)
        return clock.read(conn, account_sid)


def change_clock(
    backend: Backend,
    account_sid: str,
    *,
    freeze: bool = False,
    advance: float | None = None,
    resume: bool = False,
) -> clock.Reading:
    """Freeze, then advance, then resume, as asked; the clock as it is after."""
    with backend.db.write() as conn:
        _known(conn, account_sid)
        reading = clock.read(conn, account_sid)
        if freeze:
            reading = clock.freeze(conn, account_sid)
        if advance is not None:
            reading = clock.advance(conn, account_sid, advance)
        if resume:
            reading = clock.resume(conn, account_sid)
        return reading


def set_outcome(
    backend: Backend, account_sid: str, to: str, status: str, error_code: int | None
) -> lifecycle.Outcome:
    with backend.db.write() as conn:
        _known(conn, account_sid)
        return lifecycle.set_outcome(conn, account_sid, to, status, error_code)


def clear_outcomes(backend: Backend, account_sid: str) -> None:
    with backend.db.write() as conn:
        _known(conn, account_sid)
        lifecycle.clear_outcomes(conn, account_sid)


def receive(
    backend: Backend, account_sid: str | None, from_number: str, to_number: str, body: str
) -> tuple[str, inbound.Inbound]:
    """An inbound message to `to_number`, of `account_sid` or, when None, of the one account
    that holds the number; the account and what `inbound.receive` made of it."""
    with backend.db.write() as conn:
        account_sid = account_sid or inbound.account_of(conn, to_number)
        if account_sid is None:
            raise InvalidParameter(
                f"Invalid parameter to: no account, or several, hold {to_number}: give the account"
            )
        _known(conn, account_sid)
        received = inbound.receive(
            conn,
            account_sid,
            from_number=from_number,
            to_number=to_number,
            body=body,
            now=clock.read(conn, account_sid).now,
        )
        return account_sid, received


def _known(conn: Connection, account_sid: str) -> None:
    found = conn.scalar(select(db.accounts.c.sid).where(db.accounts.c.sid == account_sid))
    if found is None:
        raise ResourceNotFound()
