"""The four operations of a Messaging Service's pool: shape requests and responses only.

Connexion has validated every parameter against openapi.yaml before these run, and passes them
under the spec's names (ServiceSid, PageSize...); `user` is the authenticated Account SID, and
`backend` and `base_url` come from the edge middleware.

They run on the event loop, and call the rules through `backend.db.call`, which never holds the
loop: on SQLite, reads (a few indexed statements) run there and writes (which may wait for the
write lock another worker process holds) in a thread; on PostgreSQL everything runs in threads,
reads within a deadline.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from twilio_fake.backend import Backend
from twilio_fake.resources.pool import model as pool
from twilio_fake.urls import path_for

from ._render import iso_date, v1_meta


async def create(ServiceSid: str, form: dict[str, str], user: str, backend: Backend, base_url: str):
    add = partial(pool.add, backend, user, ServiceSid, form["PhoneNumberSid"])
    entry = await backend.db.call(add, write=True)
    return resource(entry, base_url), 201


async def list_numbers(
    ServiceSid: str,
    user: str,
    backend: Backend,
    base_url: str,
    PageSize: int,  # the spec supplies the default
    Page: int | None = None,
    PageToken: str | None = None,
):
    page = await backend.db.call(
        partial(
            pool.page,
            backend,
            user,
            ServiceSid,
            page_size=PageSize,
            page=Page,
            page_token=PageToken or None,
        )
    )
    list_url = base_url + path_for("ListPhoneNumber", ServiceSid=ServiceSid)
    # Every entry of the page is in this service's pool: their URLs differ in the last segment
    # only (the contract's path ends in {Sid}), made once a page rather than once an entry.
    entries_url = base_url + path_for("FetchPhoneNumber", ServiceSid=ServiceSid, Sid="")
    return {
        "phone_numbers": [
            resource(entry, base_url, entries_url + entry.sid) for entry in page.rows
        ],
        "meta": v1_meta(page, list_url, PageToken, "phone_numbers"),
    }


async def fetch(ServiceSid: str, Sid: str, user: str, backend: Backend, base_url: str):
    return resource(await backend.db.call(pool.get, backend, user, ServiceSid, Sid), base_url)


async def delete(ServiceSid: str, Sid: str, user: str, backend: Backend):
    await backend.db.call(partial(pool.remove, backend, user, ServiceSid, Sid), write=True)
    return None, 204  # no body


def resource(entry: pool.PoolEntry, base_url: str, url: str | None = None) -> dict[str, Any]:
    """Render a pool entry as Twilio's PhoneNumber resource (`url`: its URL, if known)."""
    created = iso_date(entry.date_created)
    return {
        "sid": entry.sid,
        "account_sid": entry.account_sid,
        "service_sid": entry.service_sid,
        "date_created": created,
        # An entry is written once, both dates the same, and never updated: formatted once.
        "date_updated": created
        if entry.date_updated == entry.date_created
        else iso_date(entry.date_updated),
        "phone_number": entry.phone_number,
        "country_code": entry.country_code,
        "capabilities": list(entry.capabilities),
        "url": url
        or base_url + path_for("FetchPhoneNumber", ServiceSid=entry.service_sid, Sid=entry.sid),
    }


OPERATIONS = {
    "CreatePhoneNumber": create,
    "ListPhoneNumber": list_numbers,
    "FetchPhoneNumber": fetch,
    "DeletePhoneNumber": delete,
}
