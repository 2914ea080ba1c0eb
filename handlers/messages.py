"""Messages of api.twilio.com's 2010-04-01 API: send, list, fetch, redact or cancel, delete.

Connexion has routed, authenticated and validated the request; these shape the answer and leave
the rules to twilio_fake.resources.messages.model. The account in the path must be the one the
credentials belong to: any other is answered as Twilio answers a resource that is not there.
Every call of the rules goes through `backend.db.call`, which never holds the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from connexion import request

from twilio_fake.backend import Backend
from twilio_fake.exceptions import ResourceNotFound
from twilio_fake.paging import Page
from twilio_fake.resources.messages import model
from twilio_fake.resources.messages.model import DateSent, Draft, Message
from twilio_fake.urls import api_version, path_for

from ._render import page_2010, rfc2822_date

LIST_KEY = "messages"
# The list's date filters: connexion hands parameters to a handler by their names made into
# Python names, and `DateSent<` and `DateSent>` would both become `DateSent`; so these three are
# read from the query as it came (connexion has validated them against the spec).
DATE_FILTERS = ("DateSent", "DateSent<", "DateSent>")


def _own(account_sid: str, user: str) -> None:
    """Another account's path names nothing the caller may see."""
    if account_sid != user:
        raise ResourceNotFound()


async def create(AccountSid: str, user: str, backend: Backend, form: dict[str, Any] | None = None):
    _own(AccountSid, user)
    form = form or {}
    draft = Draft(
        to=form.get("To"),
        from_=form.get("From"),
        service_sid=form.get("MessagingServiceSid"),
        body=form.get("Body"),
        media_urls=tuple(form.get("MediaUrl") or ()),
        content_sid=form.get("ContentSid"),
        status_callback=form.get("StatusCallback"),
        schedule_type=form.get("ScheduleType"),
        send_at=form.get("SendAt"),
    )
    message = await backend.db.call(partial(model.create, backend, user, draft), write=True)
    return resource(message, created=True), 201


async def list_messages(
    AccountSid: str,
    user: str,
    backend: Backend,
    PageSize: int,  # the spec supplies the default
    Page: int | None = None,
    PageToken: str | None = None,
    To: str | None = None,
    From: str | None = None,
):
    _own(AccountSid, user)
    dates = {name: request.query_params.get(name) for name in DATE_FILTERS}
    read = partial(
        model.list_messages,
        backend,
        user,
        to=To,
        from_=From,
        date_sent=DateSent(*dates.values()),
        page_size=PageSize,
        page=Page,
        page_token=PageToken or None,
    )
    page = await backend.db.call(read)
    filters = {"To": To, "From": From, **dates}
    return list_body(
        page,
        path_for("ListMessage", AccountSid=user),
        {name: value for name, value in filters.items() if value is not None},
        PageToken,
    )


async def fetch(AccountSid: str, Sid: str, user: str, backend: Backend):
    _own(AccountSid, user)
    return resource(await backend.db.call(partial(model.fetch, backend, user, Sid)))


async def update(
    AccountSid: str, Sid: str, user: str, backend: Backend, form: dict[str, Any] | None = None
):
    _own(AccountSid, user)
    form = form or {}
    change = partial(
        model.update, backend, user, Sid, body=form.get("Body"), status=form.get("Status")
    )
    return resource(await backend.db.call(change, write=True))


async def delete(AccountSid: str, Sid: str, user: str, backend: Backend):
    _own(AccountSid, user)
    await backend.db.call(partial(model.delete_message, backend, user, Sid), write=True)
    return None, 204  # no body


OPERATIONS: dict[str, Callable[..., Any]] = {
    "CreateMessage": create,
    "ListMessage": list_messages,
    "FetchMessage": fetch,
    "UpdateMessage": update,
    "DeleteMessage": delete,
}


def resource(message: Message, *, created: bool = False) -> dict[str, Any]:
    """Render a message as Twilio's Message. `num_segments` is "0" while no sender is chosen;
    `subresource_uris` names `feedback` on every answer but the create's, as Twilio's do."""
    uri = path_for("FetchMessage", AccountSid=message.account_sid, Sid=message.sid)
    base = uri.removesuffix(".json")
    subresources = {"media": f"{base}/Media.json"}
    if not created:
        subresources["feedback"] = f"{base}/Feedback.json"
    return {
        "account_sid": message.account_sid,
        "api_version": api_version("CreateMessage"),
        "body": message.body,
        "date_created": rfc2822_date(message.date_created),
        "date_sent": rfc2822_date(message.date_sent) if message.date_sent else None,
        "date_updated": rfc2822_date(message.date_updated),
        "direction": message.direction,
        "error_code": message.error_code,
        "error_message": message.error_message,
        "from": message.from_number,
        "messaging_service_sid": message.service_sid,
        "num_media": str(message.num_media),
        "num_segments": str(message.num_segments if message.from_number is not None else 0),
        "price": message.price,
        "price_unit": message.price_unit,
        "sid": message.sid,
        "status": message.status,
        "subresource_uris": subresources,
        "to": message.to_number,
        "uri": uri,
    }


def list_body(
    page: Page[Message], list_path: str, filters: dict[str, str], page_token: str | None
) -> dict[str, Any]:
    """The 2010 list of messages (see _render.page_2010)."""
    items = [resource(message) for message in page.rows]
    return page_2010(LIST_KEY, items, page, list_path, filters, page_token)
