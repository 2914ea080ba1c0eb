"""AvailablePhoneNumbers of api.twilio.com's 2010-04-01 API: search the numbers for sale.

Twilio's two published examples of this list hold only `available_phone_numbers` and `uri`
(its schema lists the paging keys as well); the fake answers as the examples do. A search is
one page: there is no next page to follow.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from twilio_fake import spec
from twilio_fake.backend import Backend
from twilio_fake.exceptions import ResourceNotFound
from twilio_fake.resources.numbers import model
from twilio_fake.resources.numbers.inventory import AvailableNumber, Kind, Search
from twilio_fake.urls import path_for

LIST_KEY = "available_phone_numbers"


def _most_per_search() -> int:
    """The spec's bound on one answer's list (`maxItems`): a larger PageSize is served this
    many, as the SDKs send a caller's whole `limit` as PageSize."""
    schema = spec.contract()["components"]["schemas"]["AvailablePhoneNumberList"]
    return int(schema["properties"][LIST_KEY]["maxItems"])


async def _search(
    operation_id: str,
    kind: Kind,
    AccountSid: str,
    CountryCode: str,
    user: str,
    backend: Backend,
    PageSize: int,
    filters: Search,
) -> dict[str, Any]:
    if AccountSid != user:
        raise ResourceNotFound()
    page_size = min(PageSize, _most_per_search())
    search = partial(
        model.search_available, backend, CountryCode, kind, filters, page_size=page_size
    )
    found = await backend.db.call(search)
    return {
        LIST_KEY: [item(number) for number in found],
        "uri": path_for(operation_id, AccountSid=user, CountryCode=CountryCode),
    }


async def list_local(
    AccountSid: str,
    CountryCode: str,
    user: str,
    backend: Backend,
    PageSize: int,  # the spec supplies the default
    AreaCode: int | None = None,
    Contains: str | None = None,
    SmsEnabled: bool | None = None,
    MmsEnabled: bool | None = None,
    VoiceEnabled: bool | None = None,
    FaxEnabled: bool | None = None,
    InRegion: str | None = None,
    InLocality: str | None = None,
    InPostalCode: str | None = None,
):
    filters = Search(
        AreaCode, Contains, SmsEnabled, MmsEnabled, VoiceEnabled, FaxEnabled, InRegion,
        InLocality, InPostalCode,
    )  # fmt: skip
    return await _search(
        "ListAvailablePhoneNumberLocal", "local", AccountSid, CountryCode, user, backend,
        PageSize, filters,
    )  # fmt: skip


async def list_toll_free(
    AccountSid: str,
    CountryCode: str,
    user: str,
    backend: Backend,
    PageSize: int,
    AreaCode: int | None = None,
    Contains: str | None = None,
    SmsEnabled: bool | None = None,
    MmsEnabled: bool | None = None,
    VoiceEnabled: bool | None = None,
    FaxEnabled: bool | None = None,
):
    filters = Search(AreaCode, Contains, SmsEnabled, MmsEnabled, VoiceEnabled, FaxEnabled)
    return await _search(
        "ListAvailablePhoneNumberTollFree", "toll-free", AccountSid, CountryCode, user, backend,
        PageSize, filters,
    )  # fmt: skip


OPERATIONS: dict[str, Callable[..., Any]] = {
    "ListAvailablePhoneNumberLocal": list_local,
    "ListAvailablePhoneNumberTollFree": list_toll_free,
}


def item(number: AvailableNumber) -> dict[str, Any]:
    """One number for sale, as Twilio's search shows it (latitude and longitude as strings with
    six decimals, as in Twilio's examples)."""
    return {
        "friendly_name": number.friendly_name,
        "phone_number": number.phone_number,
        "lata": number.lata,
        "locality": number.locality,
        "rate_center": number.rate_center,
        "latitude": number.latitude,
        "longitude": number.longitude,
        "region": number.region,
        "postal_code": number.postal_code,
        "iso_country": number.iso_country,
        "address_requirements": number.address_requirements,
        "beta": False,
        "capabilities": number.capabilities.as_dict(),
    }
