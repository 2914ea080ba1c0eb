"""IncomingPhoneNumbers of api.twilio.com's 2010-04-01 API: buy, list, fetch, update, release.

Connexion has routed, authenticated and validated the request; these shape the answer and leave
the rules to twilio_fake.resources.numbers.model. The account in the path must be the one the
credentials belong to: any other is answered as Twilio answers a resource that is not there.
The rules may write (a number from a fixture gets its 2010 fields the first time it is read),
so every call goes through `backend.db.call` as a write: in a thread, off the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from twilio_fake.backend import Backend
from twilio_fake.exceptions import ResourceNotFound
from twilio_fake.paging import Page
from twilio_fake.resources.numbers import model
from twilio_fake.resources.numbers.model import IncomingNumber
from twilio_fake.urls import api_version, path_for

from ._render import page_2010, rfc2822_date

# Form fields of a buy or an update -> the model's names.
FIELDS = {
    "FriendlyName": "friendly_name",
    "SmsUrl": "sms_url",
    "SmsMethod": "sms_method",
    "SmsFallbackUrl": "sms_fallback_url",
    "SmsFallbackMethod": "sms_fallback_method",
    "SmsApplicationSid": "sms_application_sid",
    "StatusCallback": "status_callback",
    "StatusCallbackMethod": "status_callback_method",
    "VoiceUrl": "voice_url",
    "VoiceMethod": "voice_method",
    "VoiceFallbackUrl": "voice_fallback_url",
    "VoiceFallbackMethod": "voice_fallback_method",
    "VoiceApplicationSid": "voice_application_sid",
    "VoiceCallerIdLookup": "voice_caller_id_lookup",
    "VoiceReceiveMode": "voice_receive_mode",
    "TrunkSid": "trunk_sid",
}
LIST_KEY = "incoming_phone_numbers"


def _own(account_sid: str, user: str) -> None:
    """Another account's path names nothing the caller may see."""
    if account_sid != user:
        raise ResourceNotFound()


def _settings(form: dict[str, Any] | None) -> dict[str, Any]:
    return {FIELDS[name]: value for name, value in (form or {}).items() if name in FIELDS}


async def create(AccountSid: str, user: str, backend: Backend, form: dict[str, Any] | None = None):
    _own(AccountSid, user)
    form = form or {}
    buy = partial(
        model.buy,
        backend,
        user,
        phone_number=form.get("PhoneNumber"),
        area_code=form.get("AreaCode"),
        settings=_settings(form),
    )
    return resource(await backend.db.call(buy, write=True)), 201


async def list_numbers(
    AccountSid: str,
    user: str,
    backend: Backend,
    PageSize: int,  # the spec supplies the default
    Page: int | None = None,
    PageToken: str | None = None,
    PhoneNumber: str | None = None,
    FriendlyName: str | None = None,
    Origin: str | None = None,
    Beta: bool | None = None,
):
    _own(AccountSid, user)
    read = partial(
        model.list_numbers,
        backend,
        user,
        phone_number=PhoneNumber,
        friendly_name=FriendlyName,
        origin=Origin,
        page_size=PageSize,
        page=Page,
        page_token=PageToken or None,
    )
    page = await backend.db.call(read, write=True)
    filters = {"PhoneNumber": PhoneNumber, "FriendlyName": FriendlyName, "Origin": Origin}
    if Beta is not None:
        filters["Beta"] = "true" if Beta else "false"
    return list_body(
        page,
        path_for("ListIncomingPhoneNumber", AccountSid=user),
        {name: value for name, value in filters.items() if value is not None},
        PageToken,
    )


async def fetch(AccountSid: str, Sid: str, user: str, backend: Backend):
    _own(AccountSid, user)
    return resource(await backend.db.call(partial(model.fetch, backend, user, Sid), write=True))


async def update(
    AccountSid: str, Sid: str, user: str, backend: Backend, form: dict[str, Any] | None = None
):
    _own(AccountSid, user)
    change = partial(model.update, backend, user, Sid, _settings(form))
    return resource(await backend.db.call(change, write=True))


async def delete(AccountSid: str, Sid: str, user: str, backend: Backend):
    _own(AccountSid, user)
    await backend.db.call(partial(model.release, backend, user, Sid), write=True)
    return None, 204  # no body


OPERATIONS: dict[str, Callable[..., Any]] = {
    "ListIncomingPhoneNumber": list_numbers,
    "CreateIncomingPhoneNumber": create,
    "FetchIncomingPhoneNumber": fetch,
    "UpdateIncomingPhoneNumber": update,
    "DeleteIncomingPhoneNumber": delete,
}


def resource(number: IncomingNumber) -> dict[str, Any]:
    """Render an incoming number as Twilio's IncomingPhoneNumber. Webhooks never set read as
    Twilio's own example shows them: "" for the SMS side and the applications, null for the
    voice URLs."""
    settings = number.settings
    return {
        "account_sid": number.account_sid,
        "address_requirements": "none",
        "address_sid": None,
        "api_version": api_version("FetchIncomingPhoneNumber"),
        "beta": False,
        "capabilities": number.capabilities,
        "date_created": rfc2822_date(number.date_created),
        "date_updated": rfc2822_date(number.date_updated),
        "emergency_status": "Inactive",
        "emergency_address_sid": None,
        "emergency_address_status": "unregistered",
        "friendly_name": number.friendly_name,
        "identity_sid": None,
        "origin": "twilio",
        "phone_number": number.phone_number,
        "sid": number.sid,
        "sms_application_sid": settings["sms_application_sid"] or "",
        "sms_fallback_method": settings["sms_fallback_method"],
        "sms_fallback_url": _or_empty(settings["sms_fallback_url"]),
        "sms_method": settings["sms_method"],
        "sms_url": _or_empty(settings["sms_url"]),
        "status_callback": _or_empty(settings["status_callback"]),
        "status_callback_method": settings["status_callback_method"],
        "trunk_sid": settings["trunk_sid"],
        "uri": path_for("FetchIncomingPhoneNumber", AccountSid=number.account_sid, Sid=number.sid),
        "voice_application_sid": settings["voice_application_sid"] or "",
        "voice_caller_id_lookup": settings["voice_caller_id_lookup"],
        "voice_fallback_method": settings["voice_fallback_method"],
        "voice_fallback_url": settings["voice_fallback_url"],
        "voice_method": settings["voice_method"],
        "voice_url": settings["voice_url"],
        "bundle_sid": None,
        "voice_receive_mode": settings["voice_receive_mode"],
        "status": "in-use",
        "type": number.type,
    }


def _or_empty(value: str | None) -> str:
    return "" if value is None else value


def list_body(
    page: Page[IncomingNumber], list_path: str, filters: dict[str, str], page_token: str | None
) -> dict[str, Any]:
    """The 2010 list of numbers (see _render.page_2010)."""
    items = [resource(number) for number in page.rows]
    return page_2010(LIST_KEY, items, page, list_path, filters, page_token)
