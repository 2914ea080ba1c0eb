"""Behavioural scenarios a schema cannot express, written once and run against any target.

Each scenario talks plain HTTP (requests) to a target that has the given service and phone
numbers, and fails with the operation, the check, the request as a curl line, and what was
expected and seen. Whatever a scenario adds it removes again; `restore` puts back anything else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

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

    def pool(self, service: str | None = None, sid: str | None = None) -> str:
        return contract.pool().url(self.url, service or self.service, sid)

    def services(self) -> list[str]:
        return [self.service] + ([self.service2] if self.service2 else [])


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
        self, method: str, url: str, data: dict[str, str] | None = None, password: str | None = None
    ) -> Call:
        if self.target.rate:
            time.sleep(max(self._next_slot - time.monotonic(), 0))
            self._next_slot = time.monotonic() + 1 / self.target.rate
        auth = (self.target.user, self.target.password if password is None else password)
        response = self.session.request(method, url, data=data, auth=auth, timeout=30)
        self.last = Call(method, url, data, self.target.user, response)
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


def snapshot(client: Client) -> dict[str, set[str]]:
    """What the target's pools hold now, for the services the run may change."""
    return {service: set(pool_of(client, service)) for service in client.target.services()}


def restore(client: Client, before: dict[str, set[str]]) -> list[str]:
    """Remove what the run added and put back what it removed; return what was done."""
    done = []
    for service, numbers in before.items():
        now = set(pool_of(client, service))
        for sid in sorted(now - numbers):
            client.expect(client.call("DELETE", client.target.pool(service, sid)), 204)
            done.append(f"took {sid}, which the run had added, out of {service} again")
        for sid in sorted(numbers - now):
            client.expect(client.add(sid, service), 201)
            done.append(f"put {sid}, which the run had taken out, back into {service}")
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


# -- which scenarios a run does -----------------------------------------------------------------
@dataclass
class Scenario:
    name: str
    function: Callable[[Client], None]
    writes: bool = True  # sends POST or DELETE
    needs: tuple[str, ...] = ()  # Target attributes it cannot run without

    def missing(self, target: Target, read_only: bool) -> Skipped | None:
        """Why this scenario cannot run against the target, or None."""
        if self.writes and read_only:
            return Skipped("the run is read-only (GET only)", "leave out --read-only")
        lacking = [need for need in self.needs if getattr(target, need) in (None, "", [])]
        if lacking:
            options = " and ".join("--" + need.replace("_", "-") for need in lacking)
            return Skipped(f"it needs {options}", options)
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
