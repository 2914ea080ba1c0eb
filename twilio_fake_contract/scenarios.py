"""Behavioural scenarios a schema cannot express, written once and run against any target.

Each scenario talks plain HTTP (requests) to a target that has the given service and phone
numbers, and fails with the operation, the check, the request as a curl line, and what was
expected and seen. Whatever a scenario adds it removes again; `restore` puts back anything else.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests

from . import contract


@dataclass
class Target:
    """A server under test and what it must hold: a service of the account, and free numbers."""

    url: str  # scheme://host:port: the contract's paths (its server's path first) follow it
    user: str
    password: str
    service: str
    numbers: list[str]
    service2: str | None = None
    rate: float | None = None  # requests per second, for servers that throttle
    voice_only: str | None = None  # an incoming number that can send neither SMS nor MMS
    pool_limit: int | None = None  # how many numbers `service` may hold, when small enough to fill
    account: str | None = None  # the AC… account the 2010 API's paths name
    purchases: bool = False  # whether scenarios may buy numbers (on Twilio, that costs money)
    api_url: str | None = None  # where the 2010 API is, when not at `url` (api.twilio.com)
    send_to: str | None = None  # a number scenarios may text (on Twilio that costs money)
    test_numbers: bool = False  # the target answers Twilio's test numbers (+15005550001…)

    @property
    def api(self) -> str:
        return self.api_url or self.url

    def pool(self, service: str | None = None, sid: str | None = None) -> str:
        return contract.pool().url(self.url, service or self.service, sid)

    def services(self) -> list[str]:
        return [self.service] + ([self.service2] if self.service2 else [])

    def service_url(self, sid: str | None = None) -> str:
        return contract.services().url(self.url, sid)

    def number_url(self, sid: str | None = None) -> str:
        assert self.account
        owner = contract.incoming_numbers().list.path_parameters[0]
        return contract.incoming_numbers().url(self.api, sid, **{owner: self.account})

    def local_url(self, country: str, **query: str) -> str:
        assert self.account
        search = contract.available_local()
        account, country_parameter = search.path_parameters
        for name in query:
            contract.bundled().query_parameter(search.operation_id, name)
        url = search.url(self.api, **{account: self.account, country_parameter: country})
        return url + ("?" + urlencode(query) if query else "")


@dataclass
class Outcome:
    scenario: str
    passed: bool
    operation: str = ""
    check: str = ""
    curl: str = ""
    expected: str = ""
    seen: str = ""
    seconds: float = 0.0
    skipped: str = ""  # why the scenario could not be done on this target
    enable: str = ""  # the option that would let it run

    @property
    def failed(self) -> bool:
        return not self.passed and not self.skipped


class Skipped(Exception):
    """The scenario cannot be done on this target: why, and the option that enables it."""

    def __init__(self, reason: str, enable: str) -> None:
        super().__init__(reason)
        self.reason, self.enable = reason, enable


class ScenarioFailed(Exception):
    def __init__(self, check: str, expected: str, seen: str, call: Call | None) -> None:
        super().__init__(check)
        self.check, self.expected, self.seen, self.call = check, expected, seen, call


@dataclass
class Call:
    method: str
    url: str
    data: dict[str, str] | None
    user: str
    response: requests.Response

    @property
    def operation(self) -> str:
        return f"{self.method} {urlsplit(self.url).path}"

    def curl(self) -> str:
        """The request as a curl line; the password stays out of reports."""
        parts = [
            "curl",
            "-X",
            self.method,
            "-u",
            f'"{self.user}:$TWILIO_CONTRACT_PASSWORD"',
            f"'{self.url}'",
        ]
        for key, value in (self.data or {}).items():
            parts += ["--data-urlencode", f"'{key}={value}'"]
        return " ".join(parts)


@dataclass
class Client:
    """requests with basic auth, an optional rate limit, and a memory of the last call."""

    target: Target
    session: requests.Session = field(default_factory=requests.Session)
    last: Call | None = None
    calls: list[Call] = field(default_factory=list)  # every call, in order (compare mode)
    _next_slot: float = 0.0

    def call(
        self,
        method: str,
        url: str,
        data: dict[str, str] | None = None,
        password: str | None = None,
        *,
        record: bool = True,
    ) -> Call:
        """Send a request; `record=False` keeps it out of `calls` (a poll, whose count depends on
        timing, is not a step compare mode can match)."""
        if self.target.rate:
            time.sleep(max(self._next_slot - time.monotonic(), 0))
            self._next_slot = time.monotonic() + 1 / self.target.rate
        auth = (self.target.user, self.target.password if password is None else password)
        response = self.session.request(method, url, data=data, auth=auth, timeout=30)
        self.last = Call(method, url, data, self.target.user, response)
        if record:
            self.calls.append(self.last)
        return self.last

    def add(self, number: str, service: str | None = None) -> Call:
        """POST a number to a pool (the form field named as the contract names it)."""
        form = {contract.pool().number_field: number}
        return self.call("POST", self.target.pool(service), form)

    def expect(self, call: Call, status: int, code: int | None = None) -> dict:
        """Check the status (and Twilio error code); return the JSON body."""
        body = call.response.json() if call.response.content else {}
        code_seen = body.get("code", "") if isinstance(body, dict) else ""
        seen = f"{call.response.status_code} {code_seen}".strip()
        wanted = f"{status} {code or ''}".strip()
        if call.response.status_code != status or (code is not None and body.get("code") != code):
            raise ScenarioFailed(
                "status and code", wanted, f"{seen}: {call.response.text[:300]}", call
            )
        return body


def check(condition: bool, name: str, expected: object, seen: object, call: Call | None) -> None:
    if not condition:
        raise ScenarioFailed(name, str(expected), str(seen), call)


def with_query(url: str, **query: object) -> str:
    """The URL with a query of the list's own parameters (each name checked in the contract)."""
    for name in query:
        contract.bundled().query_parameter(contract.pool().list.operation_id, name)
    return url + "?" + urlencode(query)


# -- reading state ------------------------------------------------------------------------------
def walk(client: Client, start_url: str) -> Iterator[tuple[Call, dict]]:
    """Follow next_page_url from start_url; yield every page. It must stay on the target."""
    url: str | None = start_url
    pages = 0
    while url:
        check(
            urlsplit(url).netloc == urlsplit(client.target.url).netloc,
            "next_page_url stays on the server under test",
            client.target.url,
            url,
            client.last,
        )
        call = client.call("GET", url)
        body = client.expect(call, 200)
        yield call, body
        url = body["meta"]["next_page_url"]
        pages += 1
        check(pages <= 10_000, "paging ends", "a last page", "more than 10,000 pages", call)


def pool_of(client: Client, service: str) -> list[str]:
    return [
        n["sid"]
        for _, body in walk(client, with_query(client.target.pool(service), PageSize=50))
        for n in body["phone_numbers"]
    ]


SERVICES = "Services"  # snapshot keys beside the pools' (which are service SIDs)
NUMBERS = "IncomingPhoneNumbers"


def services_of(client: Client) -> list[str]:
    """The account's services (MG…), walking every page."""
    url = client.target.service_url() + "?" + urlencode({"PageSize": 50})
    key = contract.services().list_key
    return [s["sid"] for _, body in walk(client, url) for s in body[key]]


def numbers_of(client: Client) -> list[str]:
    """The account's incoming numbers (PN…), walking the 2010 API's pages (next_page_uri)."""
    url: str | None = client.target.number_url() + "?" + urlencode({"PageSize": 50})
    key = contract.incoming_numbers().list_key
    sids: list[str] = []
    pages = 0
    while url:
        body = client.expect(client.call("GET", url), 200)
        sids += [n["sid"] for n in body[key]]
        uri = body.get("next_page_uri")
        url = client.target.api + uri if uri else None
        pages += 1
        check(pages <= 10_000, "paging ends", "a last page", "more than 10,000 pages", client.last)
    return sids


def snapshot(client: Client) -> dict[str, set[str]]:
    """What the target holds now that the run may change: the pools of its services, the
    account's services and (when the account is known) its incoming numbers."""
    state = {service: set(pool_of(client, service)) for service in client.target.services()}
    state[SERVICES] = set(services_of(client))
    if client.target.account:
        state[NUMBERS] = set(numbers_of(client))
    return state


def restore(client: Client, before: dict[str, set[str]]) -> list[str]:
    """Remove what the run added and put back what it removed; return what was done.

    The pools first, then numbers the run bought are released and services it created deleted.
    A service or number the run deleted cannot be put back: the check after the run reports it.
    """
    done = []
    for service, numbers in before.items():
        if service in (SERVICES, NUMBERS):
            continue
        now = set(pool_of(client, service))
        for sid in sorted(now - numbers):
            client.expect(client.call("DELETE", client.target.pool(service, sid)), 204)
            done.append(f"took {sid}, which the run had added, out of {service} again")
        for sid in sorted(numbers - now):
            client.expect(client.add(sid, service), 201)
            done.append(f"put {sid}, which the run had taken out, back into {service}")
    if NUMBERS in before:
        for sid in sorted(set(numbers_of(client)) - before[NUMBERS]):
            client.expect(client.call("DELETE", client.target.number_url(sid)), 204)
            done.append(f"released {sid}, which the run had bought")
    if SERVICES in before:
        for sid in sorted(set(services_of(client)) - before[SERVICES]):
            client.expect(client.call("DELETE", client.target.service_url(sid)), 204)
            done.append(f"deleted {sid}, a service the run had created")
    return done


# -- the scenarios ------------------------------------------------------------------------------
def add_then_fetch(client: Client) -> None:
    target, number = client.target, client.target.numbers[0]
    created = client.expect(client.add(number), 201)
    try:
        for name, value in (("sid", number), ("service_sid", target.service)):
            check(
                created.get(name) == value, f"created {name}", value, created.get(name), client.last
            )
        check(
            str(created.get("url", "")).startswith(target.url),
            "url is absolute, on the server",
            target.url,
            created.get("url"),
            client.last,
        )
        fetched = client.expect(client.call("GET", target.pool(sid=number)), 200)
        check(
            fetched == created, "fetch returns what create returned", created, fetched, client.last
        )
    finally:
        client.call("DELETE", target.pool(sid=number))


def add_twice(client: Client) -> None:
    target, number = client.target, client.target.numbers[0]
    client.expect(client.add(number), 201)
    try:
        client.expect(client.add(number), 409, 21710)
    finally:
        client.call("DELETE", target.pool(sid=number))


def add_to_another_service(client: Client) -> None:
    target, number = client.target, client.target.numbers[0]
    assert target.service2
    client.expect(client.add(number), 201)
    try:
        client.expect(client.add(number, target.service2), 409, 21712)
    finally:
        client.call("DELETE", target.pool(sid=number))


def walk_every_page(client: Client, *, add: bool = True) -> None:
    """With PageSize 1, every number in the pool is seen exactly once, oldest first."""
    target = client.target
    added = []
    try:
        if add:
            room = len(target.numbers)
            if target.pool_limit is not None:
                room = min(room, target.pool_limit - len(pool_of(client, target.service)))
            for number in target.numbers[:room]:
                call = client.add(number)
                if target.pool_limit is None and _is_pool_full(call):
                    break  # a limit the run was not told: walk what the pool holds
                client.expect(call, 201)
                added.append(number)
        expected = pool_of(client, target.service)
        seen = [
            n["sid"]
            for _, body in walk(client, with_query(target.pool(), PageSize=1))
            for n in body["phone_numbers"]
        ]
        check(
            seen == expected,
            "each number exactly once, in a stable order",
            expected,
            seen,
            client.last,
        )
        check(set(added) <= set(seen), "every added number is listed", added, seen, client.last)
    finally:
        for number in added:
            client.call("DELETE", target.pool(sid=number))


def _is_pool_full(call: Call) -> bool:
    try:
        return call.response.status_code == 412 and call.response.json().get("code") == 21714
    except ValueError:
        return False


def delete_then_fetch(client: Client) -> None:
    target, number = client.target, client.target.numbers[0]
    client.expect(client.add(number), 201)
    deleted = client.call("DELETE", target.pool(sid=number))
    client.expect(deleted, 204)
    check(
        deleted.response.content == b"", "204 has an empty body", "", deleted.response.text, deleted
    )
    client.expect(client.call("GET", target.pool(sid=number)), 404, 20404)


def wrong_password(client: Client) -> None:
    call = client.call("GET", client.target.pool(), password=client.target.password + "-wrong")
    client.expect(call, 401, 20003)


def unknown_parameters_are_ignored(client: Client) -> None:
    """Twilio ignores form fields and query keys it does not know (a cache-buster, a typo)."""
    target, number = client.target, client.target.numbers[0]
    form = {contract.pool().number_field: number, "FriendlyName": "contract kit", "_": "1"}
    client.expect(client.call("POST", target.pool(), form), 201)
    try:
        client.expect(client.call("GET", target.pool() + "?_=1700000000&pagesize=x"), 200)
        client.expect(client.call("GET", target.pool(sid=number) + "?_=1700000000"), 200)
    finally:
        client.call("DELETE", target.pool(sid=number))


def unknown_query_keys_are_ignored(client: Client) -> None:
    """Read-only: a cache-busting key on a list is no error."""
    client.expect(client.call("GET", client.target.pool() + "?_=1700000000"), 200)


def page_size_above_1000(client: Client) -> None:
    """The SDKs send a caller's whole limit as PageSize: accepted, a page holds at most 1000."""
    expected = pool_of(client, client.target.service)
    seen = []
    for call, body in walk(client, with_query(client.target.pool(), PageSize=5000)):
        page = body["phone_numbers"]
        check(len(page) <= 1000, "a page holds at most 1000", "<= 1000", len(page), call)
        seen += [n["sid"] for n in page]
    check(seen == expected, "the walk visits each number once", expected, seen, client.last)


def voice_only_is_21715(client: Client) -> None:
    target = client.target
    assert target.voice_only
    call = client.add(target.voice_only)
    if call.response.status_code == 201:
        client.call("DELETE", target.pool(sid=target.voice_only))
    client.expect(call, 400, 21715)


def pool_full_then_next_service(client: Client) -> None:
    """Fill the pool to its limit: the next add is 412 21714, and the next service takes it.

    What production code for this endpoint does (it moves on only on 412 with 21714).
    """
    target = client.target
    assert target.pool_limit is not None and target.service2
    room = target.pool_limit - len(pool_of(client, target.service))
    if room < 0 or len(target.numbers) <= room:
        raise Skipped(
            f"--service holds {target.pool_limit - room} of its {target.pool_limit} numbers: "
            f"filling it and one more takes {room + 1} free numbers, --numbers gives "
            f"{len(target.numbers)}",
            "--numbers with more free numbers (or a --service with a smaller --pool-limit)",
        )
    added: list[tuple[str, str]] = []
    try:
        for number in target.numbers[:room]:
            client.expect(client.add(number), 201)
            added.append((target.service, number))
        extra = target.numbers[room]
        client.expect(client.add(extra), 412, 21714)
        fallback = client.add(extra, target.service2)
        client.expect(fallback, 201)
        added.append((target.service2, extra))
    finally:
        for service, number in added:
            client.call("DELETE", target.pool(service, number))


def fetch_what_is_listed(client: Client) -> None:
    """Read-only: every listed number can be fetched, and comes back the same."""
    for _, body in walk(client, with_query(client.target.pool(), PageSize=50)):
        for listed in body["phone_numbers"]:
            fetched = client.expect(client.call("GET", client.target.pool(sid=listed["sid"])), 200)
            check(fetched == listed, "fetch matches the list", listed, fetched, client.last)


# -- Services -----------------------------------------------------------------------------------
KIT_NAME = "contract kit"  # the FriendlyName of what the kit creates, to recognise it


def create_service(client: Client, **form: str) -> dict:
    name = contract.services().field("create", "FriendlyName")
    call = client.call("POST", client.target.service_url(), {name: KIT_NAME, **form})
    return client.expect(call, 201)


def delete_service(client: Client, sid: str) -> None:
    client.call("DELETE", client.target.service_url(sid))


def service_lifecycle(client: Client) -> None:
    """Create with a FriendlyName, fetch, update, find it listed, delete: then fetch is 20404."""
    target = client.target
    created = create_service(client)
    sid = created["sid"]
    try:
        check(
            created.get("friendly_name") == KIT_NAME,
            "created friendly_name",
            KIT_NAME,
            created.get("friendly_name"),
            client.last,
        )
        fetched = client.expect(client.call("GET", target.service_url(sid)), 200)
        check(
            fetched == created, "fetch returns what create returned", created, fetched, client.last
        )
        renamed = KIT_NAME + " (renamed)"
        form = {contract.services().field("update", "FriendlyName"): renamed}
        updated = client.expect(client.call("POST", target.service_url(sid), form), 200)
        check(
            updated.get("friendly_name") == renamed,
            "update changes friendly_name",
            renamed,
            updated.get("friendly_name"),
            client.last,
        )
        fetched = client.expect(client.call("GET", target.service_url(sid)), 200)
        check(fetched == updated, "fetch returns the update", updated, fetched, client.last)
        listed = services_of(client)
        check(sid in listed, "the list holds the new service", sid, listed, client.last)
        deleted = client.call("DELETE", target.service_url(sid))
        client.expect(deleted, 204)
        client.expect(client.call("GET", target.service_url(sid)), 404, 20404)
        listed = services_of(client)
        check(sid not in listed, "the list no longer holds it", "absent", listed, client.last)
    finally:
        delete_service(client, sid)


def service_without_name(client: Client) -> None:
    call = client.call("POST", client.target.service_url(), {})
    if call.response.status_code == 201:
        delete_service(client, call.response.json()["sid"])
    client.expect(call, 400, 20001)


def service_usecase_outside_the_list(client: Client) -> None:
    usecase = contract.services().field("create", "Usecase")
    name = contract.services().field("create", "FriendlyName")
    form = {name: KIT_NAME, usecase: "not-a-use-case"}
    call = client.call("POST", client.target.service_url(), form)
    if call.response.status_code == 201:
        delete_service(client, call.response.json()["sid"])
    client.expect(call, 400, 21713)


def deleting_a_service_empties_its_pool(client: Client) -> None:
    """A number pooled in a service that is deleted is free again: another service takes it."""
    target, number = client.target, client.target.numbers[0]
    sid = create_service(client)["sid"]
    try:
        client.expect(client.add(number, sid), 201)
        client.expect(client.call("DELETE", target.service_url(sid)), 204)
        client.expect(client.call("GET", target.pool(sid)), 404, 20404)
        client.expect(client.add(number), 201)  # not 21712: the deleted service let it go
        client.call("DELETE", target.pool(sid=number))
    finally:
        client.call("DELETE", target.pool(sid, number))
        delete_service(client, sid)


# -- AvailablePhoneNumbers and IncomingPhoneNumbers ---------------------------------------------
COUNTRY = "US"
AREA_CODE = "415"  # San Francisco: numbers are for sale there, on Twilio and on the fake
# Twilio's test numbers: one not for sale, one invalid.
MAGIC = {"+15005550000": 21422, "+15005550001": 21421}
MAGIC_AREA_CODE = ("533", 21452)  # no numbers for sale


def search_local(client: Client) -> list[dict]:
    """Local numbers for sale in AREA_CODE: at least one, each of that area code."""
    call = client.call("GET", client.target.local_url(COUNTRY, AreaCode=AREA_CODE))
    found = client.expect(call, 200)["available_phone_numbers"]
    check(bool(found), "numbers are for sale in the area code", "at least one", found, call)
    prefix = "+1" + AREA_CODE
    wrong = [n["phone_number"] for n in found if not n["phone_number"].startswith(prefix)]
    check(not wrong, f"every number found starts {prefix}", prefix, wrong, call)
    return found


def search_local_numbers(client: Client) -> None:
    search_local(client)


def buy(client: Client, phone_number: str) -> Call:
    field_name = contract.incoming_numbers().field("create", "PhoneNumber")
    return client.call("POST", client.target.number_url(), {field_name: phone_number})


def release(client: Client, sid: str) -> None:
    client.call("DELETE", client.target.number_url(sid))


def buy_fetch_update_release(client: Client) -> None:
    """Buy a number found for sale, fetch it, rename it, release it: then fetch is 20404."""
    target = client.target
    wanted = search_local(client)[0]["phone_number"]
    bought = client.expect(buy(client, wanted), 201)
    sid = bought["sid"]
    try:
        check(
            bought.get("phone_number") == wanted,
            "the number bought is the one asked for",
            wanted,
            bought.get("phone_number"),
            client.last,
        )
        fetched = client.expect(client.call("GET", target.number_url(sid)), 200)
        check(fetched == bought, "fetch returns what buy returned", bought, fetched, client.last)
        form = {contract.incoming_numbers().field("update", "FriendlyName"): KIT_NAME}
        updated = client.expect(client.call("POST", target.number_url(sid), form), 200)
        check(
            updated.get("friendly_name") == KIT_NAME,
            "update changes friendly_name",
            KIT_NAME,
            updated.get("friendly_name"),
            client.last,
        )
        listed = numbers_of(client)
        check(sid in listed, "the list holds the number bought", sid, listed, client.last)
        client.expect(client.call("DELETE", target.number_url(sid)), 204)
        client.expect(client.call("GET", target.number_url(sid)), 404, 20404)
    finally:
        release(client, sid)


def magic_numbers(client: Client) -> None:
    """Twilio's test numbers: +15005550000 is not for sale (21422), +15005550001 is invalid
    (21421), area code 533 has none (21452)."""
    for number, code in MAGIC.items():
        call = buy(client, number)
        if call.response.status_code == 201:
            release(client, call.response.json()["sid"])
        client.expect(call, 400, code)
    area_code, code = MAGIC_AREA_CODE
    field_name = contract.incoming_numbers().field("create", "AreaCode")
    call = client.call("POST", client.target.number_url(), {field_name: area_code})
    if call.response.status_code == 201:
        release(client, call.response.json()["sid"])
    client.expect(call, 400, code)


def released_number_leaves_its_pool(client: Client) -> None:
    """A number in a pool that is released is no longer in the pool (fetch is 20404)."""
    target = client.target
    wanted = search_local(client)[0]["phone_number"]
    sid = client.expect(buy(client, wanted), 201)["sid"]
    try:
        client.expect(client.add(sid), 201)
        client.expect(client.call("DELETE", target.number_url(sid)), 204)
        client.expect(client.call("GET", target.pool(sid=sid)), 404, 20404)
        pooled = pool_of(client, target.service)
        check(sid not in pooled, "the pool no longer lists it", "absent", pooled, client.last)
    finally:
        client.call("DELETE", target.pool(sid=sid))
        release(client, sid)


# -- Messages -----------------------------------------------------------------------------------
# A fictional line (555-01xx): where a send must be refused, a server that wrongly accepted it
# would text no one.
NOWHERE = "+12125550123"
MESSAGE_FINAL = ("delivered", "undelivered", "failed")
MESSAGE_BODY = "contract kit: a test message"
WAIT_SECONDS = 60.0  # for a message to reach a final status, and its callbacks to come
LOOPBACK = ("127.0.0.1", "localhost", "::1")
# Where the kit's own receiver of status callbacks listens (on a port of the moment, which
# compare mode normalises away).
RECEIVER_PATH = "/contract-kit/status"
RECEIVER_URL = re.compile(r"http://127\.0\.0\.1:\d+" + re.escape(RECEIVER_PATH))


def message_url(client: Client, sid: str | None = None) -> str:
    assert client.target.account
    owner = contract.messages().list.path_parameters[0]
    return contract.messages().url(client.target.api, sid, **{owner: client.target.account})


def send_message(client: Client, **form: str) -> Call:
    """POST a message, each form field's name checked in the contract."""
    fields = {contract.messages().field("create", name): value for name, value in form.items()}
    return client.call("POST", message_url(client), fields)


def sender_number(client: Client) -> str:
    """The phone number of the first of --numbers: a sender the account owns."""
    call = client.call("GET", client.target.number_url(client.target.numbers[0]))
    return client.expect(call, 200)["phone_number"]


@contextlib.contextmanager
def pooled_sender(client: Client) -> Iterator[str]:
    """The first of --numbers in --service's pool, for the scenario: its phone number."""
    phone_number = sender_number(client)
    client.expect(client.add(client.target.numbers[0]), 201)
    try:
        yield phone_number
    finally:
        client.call("DELETE", client.target.pool(sid=client.target.numbers[0]))


def wait_until_final(client: Client, sid: str) -> dict:
    """The message once its status is final, or after WAIT_SECONDS: polled, then fetched once
    more as the scenario's step."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        poll = client.call("GET", message_url(client, sid), record=False)
        if poll.response.status_code != 200 or poll.response.json().get("status") in MESSAGE_FINAL:
            break
        time.sleep(0.5)
    return client.expect(client.call("GET", message_url(client, sid)), 200)


def forget_message(client: Client, sid: str) -> None:
    """Delete a message the scenario made, once final (Twilio refuses before: 20009)."""
    wait_until_final(client, sid)
    client.call("DELETE", message_url(client, sid))


def refused(client: Client, call: Call, status: int | tuple[int, ...], code: int) -> None:
    """The send was refused with `code`; a message wrongly made is deleted again."""
    if call.response.status_code == 201:
        forget_message(client, call.response.json()["sid"])
    statuses = status if isinstance(status, tuple) else (status,)
    seen = call.response.status_code
    client.expect(call, seen if seen in statuses else statuses[0], code)


def message_lifecycle(client: Client) -> None:
    """Send through --service to --send-to: fetch it, wait for a final status sent from the
    pool's number, find it first in the list of its recipient, redact it, delete it (then 20404)."""
    target = client.target
    assert target.send_to
    with pooled_sender(client) as sender:
        call = send_message(
            client, To=target.send_to, MessagingServiceSid=target.service, Body=MESSAGE_BODY
        )
        created = client.expect(call, 201)
        sid = created["sid"]
        try:
            check(
                created.get("status") in ("accepted", "queued"),
                "a message sent through a service starts accepted (or queued)",
                "accepted",
                created.get("status"),
                call,
            )
            for name, value in (
                ("to", target.send_to),
                ("messaging_service_sid", target.service),
                ("body", MESSAGE_BODY),
                ("direction", "outbound-api"),
                ("account_sid", target.account),
            ):
                check(created.get(name) == value, f"created {name}", value, created.get(name), call)
            fetched = client.expect(client.call("GET", message_url(client, sid)), 200)
            check(fetched.get("sid") == sid, "fetch finds it", sid, fetched.get("sid"), client.last)
            final = wait_until_final(client, sid)
            check(
                final.get("status") in MESSAGE_FINAL,
                f"a final status within {WAIT_SECONDS:.0f} s",
                " or ".join(MESSAGE_FINAL),
                final.get("status"),
                client.last,
            )
            check(
                final.get("from") == sender,
                "the pool's only number sent it",
                sender,
                final.get("from"),
                client.last,
            )
            query = {
                contract.bundled().query_parameter(contract.messages().list.operation_id, name): v
                for name, v in (("To", target.send_to), ("PageSize", "20"))
            }
            listed = client.expect(
                client.call("GET", message_url(client) + "?" + urlencode(query)), 200
            )
            sids = [m.get("sid") for m in listed.get(contract.messages().list_key, [])]
            check(
                sids[:1] == [sid], "the list, newest first, starts with it", sid, sids, client.last
            )
            body = contract.messages().field("update", "Body")
            redacted = client.expect(client.call("POST", message_url(client, sid), {body: ""}), 200)
            check(redacted.get("body") == "", "a redacted body is empty", "", redacted, client.last)
            deleted = client.call("DELETE", message_url(client, sid))
            client.expect(deleted, 204)
            client.expect(client.call("GET", message_url(client, sid)), 404, 20404)
        finally:
            client.call("DELETE", message_url(client, sid))


def message_errors(client: Client) -> None:
    """What Twilio refuses at once, as recorded (evidence 1.1-1.9): no To (21604), no sender
    (21603), no body (21602), no content through a service (21619), 1,601 characters (21617),
    a To that is no number or is the sender (21211), a From the account does not own (21606)."""
    target = client.target
    sender = sender_number(client)
    cases: list[tuple[dict[str, str], int]] = [
        ({"From": sender, "Body": MESSAGE_BODY}, 21604),
        ({"To": NOWHERE, "Body": MESSAGE_BODY}, 21603),
        ({"To": NOWHERE, "From": sender}, 21602),
        ({"To": NOWHERE, "MessagingServiceSid": target.service}, 21619),
        ({"To": NOWHERE, "From": sender, "Body": "a" * 1601}, 21617),
        ({"To": "123", "From": sender, "Body": MESSAGE_BODY}, 21211),
        ({"To": sender, "From": sender, "Body": MESSAGE_BODY}, 21211),
        ({"To": NOWHERE, "From": "+15005550000", "Body": MESSAGE_BODY}, 21606),
    ]
    for form, code in cases:
        refused(client, send_message(client, **form), 400, code)


# Twilio's test numbers for Messages (evidence section 8), with the test sender +15005550006.
TEST_FROM = "+15005550006"
TEST_TO = {
    "+15005550001": 21211,
    "+15005550002": 21612,
    "+15005550003": 21408,
    "+15005550004": 21610,
    "+15005550009": 21614,
}
# 21611's status is 429 in one record and 400 in another: either is Twilio's.
TEST_FROM_REFUSED: dict[str, tuple[int, tuple[int, ...]]] = {
    "+15005550001": (21212, (400,)),
    "+15005550007": (21606, (400,)),
    "+15005550008": (21611, (429, 400)),
}


def message_test_numbers(client: Client) -> None:
    """Twilio's test numbers: each To and From of section 8 answers its code; +15005550006
    sends (queued)."""
    for to, code in TEST_TO.items():
        refused(client, send_message(client, To=to, From=TEST_FROM, Body=MESSAGE_BODY), 400, code)
    for sender, (code, status) in TEST_FROM_REFUSED.items():
        call = send_message(client, To=NOWHERE, From=sender, Body=MESSAGE_BODY)
        refused(client, call, status, code)
    call = send_message(client, To=NOWHERE, From=TEST_FROM, Body=MESSAGE_BODY)
    created = client.expect(call, 201)
    try:
        check(
            (created.get("status"), created.get("from")) == ("queued", TEST_FROM),
            "the test sender's message is queued, from it",
            ("queued", TEST_FROM),
            (created.get("status"), created.get("from")),
            call,
        )
    finally:
        forget_message(client, created["sid"])


def signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature as Twilio computes it: HMAC-SHA1 with the auth token over the URL and
    each parameter's name and value, sorted by name; base64."""
    signed = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@dataclass(frozen=True)
class Webhook:
    method: str
    url: str  # as the server called it
    content_type: str
    signature: str | None
    params: dict[str, str]


class Receiver:
    """An HTTP server of the kit's own, on loopback, that takes webhooks and answers 200."""

    def __init__(self) -> None:
        self.received: list[Webhook] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), 1 << 20)
                form = self.rfile.read(length).decode("utf-8", "replace")
                webhook = Webhook(
                    self.command,
                    f"http://{self.headers.get('Host', '')}{self.path}",
                    self.headers.get("Content-Type", ""),
                    self.headers.get("X-Twilio-Signature"),
                    dict(parse_qsl(form, keep_blank_values=True)),
                )
                with receiver.arrived:
                    receiver.received.append(webhook)
                    receiver.arrived.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{RECEIVER_PATH}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, done: Callable[[list[Webhook]], bool]) -> list[Webhook]:
        """What came once `done` says so, or after WAIT_SECONDS."""
        deadline = time.monotonic() + WAIT_SECONDS
        with self.arrived:
            while not done(self.received) and time.monotonic() < deadline:
                self.arrived.wait(deadline - time.monotonic())
            return list(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def callbacks_are_signed(client: Client) -> None:
    """Send to --send-to with a StatusCallback on a receiver of the kit's: every callback is a
    form POST signed with the account's auth token, with Twilio's parameters, none for the
    first status, ErrorCode only on failed or undelivered, and one for the final status."""
    target = client.target
    assert target.send_to and target.account
    if urlsplit(target.api).hostname not in LOOPBACK:
        raise Skipped(
            "the target is not on this machine, and the kit has no public URL for it to call "
            "back (its receiver listens on loopback)",
            "a run on the target's own machine (a loopback --url)",
        )
    if not target.user.startswith("AC"):
        raise Skipped(
            "callbacks are signed with the account's auth token, and --user is an API key",
            "--user with the Account SID, and its auth token as the password",
        )
    receiver = Receiver()
    try:
        with pooled_sender(client):
            call = send_message(
                client,
                To=target.send_to,
                MessagingServiceSid=target.service,
                Body=MESSAGE_BODY,
                StatusCallback=receiver.url,
            )
            created = client.expect(call, 201)
            sid = created["sid"]
            try:
                final = wait_until_final(client, sid)["status"]
                came = receiver.wait(lambda got: any(w.params.get("MessageStatus") == final
                                                     for w in got))  # fmt: skip
                statuses = [w.params.get("MessageStatus") for w in came]
                check(final in statuses, "a callback for the final status", final, statuses, call)
                check(
                    created["status"] not in statuses,
                    "no callback for the first status",
                    f"none for {created['status']}",
                    statuses,
                    call,
                )
                for webhook in came:
                    _check_callback(target, webhook, sid, call)
            finally:
                client.call("DELETE", message_url(client, sid))
    finally:
        receiver.close()


def _check_callback(target: Target, webhook: Webhook, sid: str, call: Call) -> None:
    expected = signature(target.password, webhook.url, webhook.params)
    check(
        webhook.signature is not None and hmac.compare_digest(webhook.signature, expected),
        "X-Twilio-Signature is the auth token's signature of the URL and parameters",
        "a valid signature",
        webhook.signature,
        call,
    )
    check(
        (webhook.method, webhook.content_type.split(";")[0])
        == ("POST", "application/x-www-form-urlencoded"),
        "a callback is a form POST",
        "POST application/x-www-form-urlencoded",
        (webhook.method, webhook.content_type),
        call,
    )
    status = webhook.params.get("MessageStatus")
    wanted = {
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsStatus": status,
        "AccountSid": target.account,
        "To": target.send_to,
        "MessagingServiceSid": target.service,
        "ApiVersion": "2010-04-01",
    }
    seen = {name: webhook.params.get(name) for name in wanted}
    check(seen == wanted, "Twilio's callback parameters", wanted, seen, call)
    check(
        ("ErrorCode" in webhook.params) == (status in ("failed", "undelivered")),
        "ErrorCode only on failed or undelivered",
        f"ErrorCode {'present' if status in ('failed', 'undelivered') else 'absent'} on {status}",
        webhook.params,
        call,
    )


# -- which scenarios a run does -----------------------------------------------------------------
@dataclass
class Scenario:
    name: str
    function: Callable[[Client], None]
    writes: bool = True  # sends POST or DELETE
    needs: tuple[str, ...] = ()  # Target attributes it cannot run without
    buys: bool = False  # buys phone numbers: on Twilio, that costs money
    sends: bool = False  # texts --send-to: on Twilio, that costs money and reaches a phone

    def missing(self, target: Target, read_only: bool) -> Skipped | None:
        """Why this scenario cannot run against the target, or None."""
        if self.writes and read_only:
            return Skipped("the run is read-only (GET only)", "leave out --read-only")
        lacking = [need for need in self.needs if getattr(target, need) in (None, "", [], False)]
        if lacking:
            options = " and ".join("--" + need.replace("_", "-") for need in lacking)
            return Skipped(f"it needs {options}", options)
        if self.buys and not target.purchases:
            return Skipped(
                "it buys phone numbers, which costs money on a real account",
                "--allow-purchases",
            )
        if self.sends and not target.send_to:
            return Skipped(
                "it sends a text message, which on Twilio costs money and reaches a phone: it "
                "needs a number it may text",
                "--send-to",
            )
        return None


# Every scenario the kit knows, in the order it runs them: a run reports those it could not do.
SCENARIOS = [
    Scenario("add then fetch", add_then_fetch, needs=("numbers",)),
    Scenario("add twice is 21710", add_twice, needs=("numbers",)),
    Scenario(
        "add to a second service is 21712", add_to_another_service, needs=("numbers", "service2")
    ),
    Scenario("walk every page with PageSize 1", walk_every_page),
    Scenario("PageSize above 1000 pages by 1000 at most", page_size_above_1000, writes=False),
    Scenario("delete then fetch is 20404", delete_then_fetch, needs=("numbers",)),
    Scenario("unknown parameters are ignored", unknown_parameters_are_ignored, needs=("numbers",)),
    Scenario("wrong password is 20003", wrong_password, writes=False),
    Scenario("a voice-only number is 21715", voice_only_is_21715, needs=("voice_only",)),
    Scenario(
        "a full pool is 412 21714; the next service takes it",
        pool_full_then_next_service,
        needs=("numbers", "pool_limit", "service2"),
    ),
    Scenario("service: create, fetch, update, list, delete, then 20404", service_lifecycle),
    Scenario("a service without FriendlyName is 20001", service_without_name),
    Scenario("a Usecase outside the list is 21713", service_usecase_outside_the_list),
    Scenario(
        "deleting a service empties its pool",
        deleting_a_service_empties_its_pool,
        needs=("numbers",),
    ),
    Scenario(
        "search local numbers in an area code",
        search_local_numbers,
        writes=False,
        needs=("account",),
    ),
    Scenario(
        "number: buy, fetch, update, release, then 20404",
        buy_fetch_update_release,
        needs=("account",),
        buys=True,
    ),
    Scenario("magic numbers are 21422, 21421, 21452", magic_numbers, needs=("account",), buys=True),
    Scenario(
        "a released number leaves its pool",
        released_number_leaves_its_pool,
        needs=("account",),
        buys=True,
    ),
    Scenario(
        "message: send through the service, fetch, list, redact, delete",
        message_lifecycle,
        needs=("account", "numbers"),
        sends=True,
    ),
    Scenario(
        "message errors are 21604, 21603, 21602, 21619, 21617, 21211, 21606",
        message_errors,
        needs=("account", "numbers"),
    ),
    Scenario(
        "Messages' test numbers answer as Twilio's",
        message_test_numbers,
        needs=("account", "test_numbers"),
    ),
    Scenario(
        "status callbacks are signed, with Twilio's parameters",
        callbacks_are_signed,
        needs=("account", "numbers"),
        sends=True,
    ),
]
# Read-only runs do these instead of the writing ones.
READ_ONLY = [
    Scenario(
        "walk every page with PageSize 1 (read-only)",
        lambda c: walk_every_page(c, add=False),
        writes=False,
    ),
    Scenario("fetch what is listed", fetch_what_is_listed, writes=False),
    Scenario("unknown query keys are ignored", unknown_query_keys_are_ignored, writes=False),
]


def scenarios(read_only: bool) -> list[Scenario]:
    return [*SCENARIOS, *READ_ONLY] if read_only else SCENARIOS


def run_one(scenario: Scenario, client: Client) -> Outcome:
    """Run one scenario; turn what stops it into an Outcome."""
    started = time.monotonic()
    try:
        scenario.function(client)
    except Skipped as skipped:
        return Outcome(scenario.name, False, skipped=skipped.reason, enable=skipped.enable)
    except ScenarioFailed as failure:
        call = failure.call
        return Outcome(
            scenario.name,
            False,
            call.operation if call else "",
            failure.check,
            call.curl() if call else "",
            failure.expected,
            failure.seen,
            time.monotonic() - started,
        )
    except (requests.RequestException, ValueError, KeyError, TypeError) as error:
        call = client.last
        return Outcome(
            scenario.name,
            False,
            call.operation if call else "",
            "a well-formed answer",
            call.curl() if call else "",
            "a JSON answer in the contract's shape",
            f"{type(error).__name__}: {error}",
            time.monotonic() - started,
        )
    return Outcome(scenario.name, True, seconds=time.monotonic() - started)


def run(target: Target, read_only: bool = False) -> list[Outcome]:
    """Run every scenario the target allows, a failing one not stopping the others; the
    outcomes of those it does not allow say why, and what would enable them."""
    outcomes = []
    for scenario in scenarios(read_only):
        missing = scenario.missing(target, read_only)
        if missing is not None:
            outcomes.append(
                Outcome(scenario.name, False, skipped=missing.reason, enable=missing.enable)
            )
            continue
        client = Client(target)
        try:
            outcomes.append(run_one(scenario, client))
        finally:
            client.session.close()
    return outcomes
