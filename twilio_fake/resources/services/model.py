"""The rules and state of Messaging Services; nothing here knows about HTTP.

A service belongs to one account, and only that account sees it: every statement is scoped to
the authenticated account, and another account's service is reported exactly like a missing
one. Parameters arrive under the API's names (`FriendlyName`, `StickySender`…), already checked
against openapi.yaml (types, lengths, ranges, methods, URLs); what the schema cannot say is
checked here: the use case (Twilio's own code, 21713) and how many services an account holds.
Every limit and default is read from the spec.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from twilio_fake import spec
from twilio_fake.db import refuse_foreign
from twilio_fake.exceptions import AuthenticationFailed, ResourceNotFound
from twilio_fake.fixtures import Account
from twilio_fake.paging import KeysetList, Page

from .errors import TooManyServices, UsecaseInvalid
from .tables import NEXT_SEQ, services

if TYPE_CHECKING:
    from twilio_fake.backend import Backend

CREATE_FORM = "CreateServiceForm"  # its `default`s are a new service's settings
UPDATE_FORM = "UpdateServiceForm"  # the parameters that change a service's settings
USECASES = "Usecase"  # the schema that lists Twilio's use cases
LIMIT = "services-per-account"  # in the contract's x-limits


@dataclass(frozen=True)
class Service:
    """A Messaging Service and its settings."""

    sid: str
    account_sid: str
    friendly_name: str
    date_created: datetime
    date_updated: datetime
    inbound_request_url: str | None
    inbound_method: str
    fallback_url: str | None
    fallback_method: str
    status_callback: str | None
    sticky_sender: bool
    mms_converter: bool
    smart_encoding: bool
    scan_message_content: str
    fallback_to_long_code: bool
    area_code_geomatch: bool
    validity_period: int
    synchronous_validation: bool
    usecase: str
    use_inbound_webhook_on_number: bool
    # No US A2P 10DLC campaign can be registered in the fake.
    us_app_to_person_registered: bool = False

    @classmethod
    def from_row(cls, row: Any) -> Service:
        """A service from its row; a setting the row leaves NULL (a row an earlier version of
        the fake made) reads as the spec's default."""
        values = dict(row._mapping)
        for field, default in create_settings().items():
            if values.get(field) is None:
                values[field] = default
        return cls(**{name: values[name] for name in _STORED})


_STORED = [f.name for f in fields(Service) if f.name != "us_app_to_person_registered"]
_COLUMNS = [services.c[name] for name in _STORED]
# "service", not "sid": a bound name may not be a column's in an UPDATE.
_mine = (services.c.sid == bindparam("service")) & (services.c.account_sid == bindparam("account"))
_FETCH = select(*_COLUMNS).where(_mine)
_LOCK = select(services.c.sid).where(_mine).with_for_update()
_COUNT = (
    select(func.count()).select_from(services).where(services.c.account_sid == bindparam("account"))
)
_DELETE = services.delete().where(_mine)
_LIST = KeysetList(
    select(services.c.seq, *_COLUMNS),
    services.c.seq,
    services.c.account_sid == bindparam("account"),
)


def column_of(parameter: str) -> str:
    """The field a parameter sets: `InboundRequestUrl` sets `inbound_request_url`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", parameter).lower()


def _schema(name: str) -> dict[str, Any]:
    return spec.contract()["components"]["schemas"][name]


def create_settings() -> dict[str, Any]:
    """A new service's settings where its creator gives none: the spec's defaults, by field."""
    return {
        column_of(name): schema["default"]
        for name, schema in _schema(CREATE_FORM)["properties"].items()
        if "default" in schema
    }


def settings_from(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The fields that parameters set, by field name. Parameters the API does not declare are
    ignored, as Twilio ignores them; an empty value (only a URL may be one) stands for null."""
    declared = _schema(UPDATE_FORM)["properties"]
    settings = {
        column_of(name): None if value == "" else value
        for name, value in parameters.items()
        if name in declared
    }
    usecases = _schema(USECASES)["enum"]
    if "usecase" in settings and settings["usecase"] not in usecases:
        raise UsecaseInvalid(
            f"Messaging Service Use Case is Invalid: {_shown(parameters['Usecase'])} is not one "
            f"of {', '.join(usecases)}"
        )
    return settings


def _shown(value: Any, limit: int = 64) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def services_per_account() -> int:
    return spec.limit(LIMIT)


def take_turns(conn: Connection) -> None:
    """Make inserts of services take turns, so that no two pass the per-account count together
    or take the same `seq`. SQLite's write transaction already does; on PostgreSQL the table is
    locked in a mode that only excludes other writers of it (adds to pools, which lock a service
    row, go on). Services is the table bulk changes lock first (lock_rank 0): no deadlock."""
    if conn.dialect.name != "sqlite":
        conn.exec_driver_sql("LOCK TABLE services IN SHARE ROW EXCLUSIVE MODE")


def create(backend: Backend, account_sid: str, parameters: Mapping[str, Any]) -> Service:
    """Create a service for the account; the parameters not given take the spec's defaults."""
    values = create_settings() | settings_from(parameters)
    now = backend.clock()
    limit = services_per_account()
    try:
        with backend.db.write() as conn:
            take_turns(conn)
            if (conn.scalar(_COUNT, {"account": account_sid}) or 0) >= limit:
                raise TooManyServices(
                    f"This account already has {limit} Messaging Services, the most the fake "
                    "holds for one account; delete one first"
                )
            created = conn.execute(
                insert(services)
                .values(
                    sid="MG" + secrets.token_hex(16),
                    account_sid=account_sid,
                    seq=NEXT_SEQ,
                    date_created=now,
                    date_updated=now,
                    **values,
                )
                .returning(*_COLUMNS)
            ).one()
    except backend.db.integrity_errors:
        # The account was dropped (control surface) while this create waited for the lock.
        raise AuthenticationFailed() from None
    return Service.from_row(created)


def fetch(backend: Backend, account_sid: str, sid: str) -> Service:
    row = backend.db.first(_FETCH, {"service": sid, "account": account_sid})
    if row is None:
        raise ResourceNotFound()
    return Service.from_row(row)


def list_page(
    backend: Backend,
    account_sid: str,
    *,
    page_size: int | None = None,
    page: int | None = None,
    token: str | None = None,
) -> Page[Service]:
    """One page of the account's services, oldest first (see paging.KeysetList.page)."""
    found = _LIST.read_page(
        backend.db,
        {"account": account_sid},
        account_sid,  # a token names the account's list it was issued for
        backend.tokens,
        page_size=page_size,
        page=page,
        token=token,
    )
    return found.of(Service.from_row)


def update_service(
    backend: Backend, account_sid: str, sid: str, parameters: Mapping[str, Any]
) -> Service:
    """Change the settings given; the others stay as they are."""
    settings = settings_from(parameters)
    with backend.db.write() as conn:
        row = conn.execute(
            update(services)
            .where(_mine)
            .values(**settings, date_updated=backend.clock())
            .returning(*_COLUMNS),
            {"service": sid, "account": account_sid},
        ).first()
    if row is None:
        raise ResourceNotFound()
    return Service.from_row(row)


def delete_service(backend: Backend, account_sid: str, sid: str) -> None:
    """Delete the service and empty its pool; the numbers stay with the account, in no pool."""
    # Imported here: the pool's tables refer to this package's, which import this module.
    from twilio_fake.resources.pool import model as pool

    owned = {"service": sid, "account": account_sid}
    with backend.db.write() as conn:
        # Locked first: a number added to the pool meanwhile waits, then finds no service.
        if conn.execute(_LOCK, owned).first() is None:
            raise ResourceNotFound()
        pool.empty_pool(conn, sid)
        conn.execute(_DELETE, owned)


def load_fixtures(conn: Connection, account: Account, now: datetime) -> None:
    """Add or update the account's services of a fixture document (inside its transaction): a
    new one gets the spec's default settings; an existing one keeps its settings and takes the
    document's name."""
    refuse_foreign(conn, services, "service", list(account.services), account.sid)
    take_turns(conn)
    for sid, name in account.services.items():
        renamed = conn.execute(
            update(services)
            .where(services.c.sid == sid)
            .values(account_sid=account.sid, friendly_name=name)
        )
        if renamed.rowcount == 0:
            conn.execute(
                insert(services).values(
                    sid=sid,
                    account_sid=account.sid,
                    friendly_name=name,
                    seq=NEXT_SEQ,
                    date_created=now,
                    date_updated=now,
                    **create_settings(),
                )
            )
    _number_older_rows(conn, now)


_UNNUMBERED = select(services.c.sid).where(services.c.seq.is_(None)).order_by(services.c.sid)


def _number_older_rows(conn: Connection, now: datetime) -> None:
    """Give rows an earlier version of the fake made (no `seq`, no dates) their place at the end
    of their lists, dated now. An indexed look-up that finds none after the first load."""
    for sid in conn.scalars(_UNNUMBERED).all():
        conn.execute(
            update(services)
            .where(services.c.sid == sid)
            .values(
                seq=NEXT_SEQ,
                date_created=func.coalesce(services.c.date_created, now),
                date_updated=func.coalesce(services.c.date_updated, now),
            )
        )
