"""The four operations of /v1/Services/{ServiceSid}/PhoneNumbers: shape requests and responses only.

Connexion has validated every parameter against openapi.yaml before these run, and passes them
under the spec's names (ServiceSid, PageSize...); `user` is the authenticated Account SID, and
`backend` and `base_url` come from the edge middleware.

They run on the event loop, and call the rules through `backend.db.call`, which never holds the
loop: on SQLite, reads (a few indexed statements) run there and writes (which may wait for the
write lock another worker process holds) in a thread; on PostgreSQL everything runs in threads,
reads within a deadline.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import urlencode

from twilio_fake.models import Backend, PoolEntry
from twilio_fake.models import Page as PoolPage


def iso_date(moment: datetime) -> str:
    """ISO 8601 in UTC to the second, as Twilio's v1 APIs write dates (2026-01-31T12:00:00Z)."""
    return moment.isoformat(timespec="seconds") + "Z"  # stored naive, in UTC


async def create(ServiceSid: str, form: dict[str, str], user: str, backend: Backend, base_url: str):
    add = partial(backend.add_phone_number, user, ServiceSid, form["PhoneNumberSid"])
    entry = await backend.db.call(add, write=True)
    return resource(entry, base_url), 201


async def list_numbers(
    ServiceSid: str,
    user: str,
    backend: Backend,
    base_url: str,
    PageSize: int,  # the spec supplies the default (50)
    Page: int | None = None,
    PageToken: str | None = None,
):
    page = await backend.db.call(
        partial(
            backend.list_phone_numbers,
            user,
            ServiceSid,
            page_size=PageSize,
            page=Page,
            page_token=PageToken or None,
        )
    )
    return {
        "phone_numbers": [resource(entry, base_url) for entry in page.entries],
        "meta": meta(page, f"{base_url}/v1/Services/{ServiceSid}/PhoneNumbers", PageToken),
    }


async def fetch(ServiceSid: str, Sid: str, user: str, backend: Backend, base_url: str):
    return resource(
        await backend.db.call(backend.get_phone_number, user, ServiceSid, Sid), base_url
    )


async def delete(ServiceSid: str, Sid: str, user: str, backend: Backend):
    await backend.db.call(partial(backend.remove_phone_number, user, ServiceSid, Sid), write=True)
    return None, 204  # no body


def resource(entry: PoolEntry, base_url: str) -> dict[str, Any]:
    """Render a pool entry as Twilio's PhoneNumber resource."""
    return {
        "sid": entry.sid,
        "account_sid": entry.account_sid,
        "service_sid": entry.service_sid,
        "date_created": iso_date(entry.date_created),
        "date_updated": iso_date(entry.date_updated),
        "phone_number": entry.phone_number,
        "country_code": entry.country_code,
        "capabilities": list(entry.capabilities),
        "url": f"{base_url}/v1/Services/{entry.service_sid}/PhoneNumbers/{entry.sid}",
    }


def meta(page: PoolPage, list_url: str, page_token: str | None) -> dict[str, Any]:
    """Build Twilio's paging block; neighbour URLs are absolute, on this server, or null."""

    def page_url(index: int, token: str | None) -> str:
        query: dict[str, int | str] = {"PageSize": page.page_size, "Page": index}
        if token:
            query["PageToken"] = token
        return f"{list_url}?{urlencode(query)}"

    return {
        "page": page.page,
        "page_size": page.page_size,
        "first_page_url": page_url(0, None),
        "previous_page_url": page_url(max(page.page - 1, 0), page.previous_token)
        if page.previous_token
        else None,
        "url": page_url(page.page, page_token),
        "next_page_url": page_url(page.page + 1, page.next_token) if page.next_token else None,
        "key": "phone_numbers",
    }
