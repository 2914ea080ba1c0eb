"""The five operations of /v1/Services: shape requests and responses only.

Connexion has routed, authenticated and validated the request against openapi.yaml and passes
parameters under the spec's names (Sid, PageSize…, the form body as `form`); `user` is the
authenticated Account SID. The rules are the model's (twilio_fake.resources.services), called
through `backend.db.call`, which never holds the event loop (see handlers/pool.py).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from twilio_fake.backend import Backend
from twilio_fake.resources.services import model
from twilio_fake.spec import contract
from twilio_fake.urls import path_for

from ._render import iso_date, v1_meta

LIST_KEY = "services"


async def create(form: dict[str, Any], user: str, backend: Backend, base_url: str):
    service = await backend.db.call(partial(model.create, backend, user, form), write=True)
    return resource(service, base_url), 201


async def list_services(
    user: str,
    backend: Backend,
    base_url: str,
    PageSize: int,  # the spec supplies the default
    Page: int | None = None,
    PageToken: str | None = None,
):
    page = await backend.db.call(
        partial(
            model.list_page, backend, user, page_size=PageSize, page=Page, token=PageToken or None
        )
    )
    return {
        LIST_KEY: [resource(service, base_url) for service in page.rows],
        "meta": v1_meta(page, base_url + path_for("ListService"), PageToken, LIST_KEY),
    }


async def fetch(Sid: str, user: str, backend: Backend, base_url: str):
    return resource(await backend.db.call(model.fetch, backend, user, Sid), base_url)


async def update(Sid: str, user: str, backend: Backend, base_url: str, form: dict | None = None):
    change = partial(model.update_service, backend, user, Sid, form or {})
    return resource(await backend.db.call(change, write=True), base_url), 200


async def delete(Sid: str, user: str, backend: Backend):
    # Empties the service's pool: as many rows as the pool holds.
    await backend.db.call(partial(model.delete_service, backend, user, Sid), write=True, bulk=True)
    return None, 204  # no body


def resource(service: model.Service, base_url: str) -> dict[str, Any]:
    """Render a service as Twilio's Service resource (fields in Twilio's order)."""
    url = base_url + path_for("FetchService", Sid=service.sid)
    return {
        "sid": service.sid,
        "account_sid": service.account_sid,
        "friendly_name": service.friendly_name,
        "date_created": iso_date(service.date_created),
        "date_updated": iso_date(service.date_updated),
        "inbound_request_url": service.inbound_request_url,
        "inbound_method": service.inbound_method,
        "fallback_url": service.fallback_url,
        "fallback_method": service.fallback_method,
        "status_callback": service.status_callback,
        "sticky_sender": service.sticky_sender,
        "mms_converter": service.mms_converter,
        "smart_encoding": service.smart_encoding,
        "scan_message_content": service.scan_message_content,
        "fallback_to_long_code": service.fallback_to_long_code,
        "area_code_geomatch": service.area_code_geomatch,
        "validity_period": service.validity_period,
        "synchronous_validation": service.synchronous_validation,
        "usecase": service.usecase,
        "us_app_to_person_registered": service.us_app_to_person_registered,
        "use_inbound_webhook_on_number": service.use_inbound_webhook_on_number,
        "url": url,
        "links": links(service.sid, base_url, url),
    }


def links(sid: str, base_url: str, service_url: str) -> dict[str, str]:
    """The service's subresources, as the spec's Service schema lists them: one the fake serves
    names its operation (`x-operation`), Twilio's others their path below the service's."""
    schema = contract()["components"]["schemas"]["Service"]["properties"]["links"]
    return {
        name: base_url + path_for(link["x-operation"], ServiceSid=sid)
        if "x-operation" in link
        else service_url + link["x-twilio-path"]
        for name, link in schema["properties"].items()
    }


# Twilio's operationIds (its spec of this resource) -> the handlers that serve them.
OPERATIONS: dict[str, Callable[..., Any]] = {
    "CreateService": create,
    "ListService": list_services,
    "FetchService": fetch,
    "UpdateService": update,
    "DeleteService": delete,
}
