"""Armed faults: make the next N matching API requests fail, wait, or lose their connection.

A test arms a fault through `POST /_fake/faults` to see how the code under test copes with a
429, a 500, a slow answer or a dropped connection. A fault matches Twilio API requests that
passed authentication (its account is known), by operation, account and method; each matching
request uses up one of its `times`, the oldest armed fault first. An injected error is a normal
Twilio error body, which the SDKs raise as TwilioRestException.

Faults live in the memory of the server process: with `--workers N`, each worker has its own.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from connexion.middleware.routing import ROUTING_CONTEXT
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import spec
from .exceptions import AuthenticationFailed, InvalidParameter, TwilioError

MAX_ARMED = 100  # faults armed at once
MAX_TIMES = 10_000
MAX_DELAY = 30.0  # seconds
INJECTED_KEY = "twilio_fake.injected"  # scope extension: the SID of the fault that applied
TRANSPORT_KEY = "twilio_fake.transport"  # scope extension: the connection, to drop it
RETRY_AFTER = "1"  # seconds, in an injected 429's Retry-After (the contract requires one)

# An injected error's code and message, unless the fault gives its own: what the fake itself
# answers with that status (its first error class of the status: 400 is 20001, 409 is 21710).
DEFAULT_MESSAGES = {429: "Too Many Requests"}


def _default_error(status: int) -> type[TwilioError]:
    found = next((cls for cls in _error_classes() if cls.status == status), None)
    return found or TwilioError


def _default_message(status: int, default: type[TwilioError]) -> str:
    if status in DEFAULT_MESSAGES:
        return DEFAULT_MESSAGES[status]
    # A class whose message depends on the request (a 404 names the resource) has none of its own.
    own = vars(default).get("default_message")
    return own or "Injected fault"


def _error_classes() -> list[type[TwilioError]]:
    classes, queue = [], list(TwilioError.__subclasses__())
    while queue:
        cls = queue.pop(0)
        classes.append(cls)
        queue.extend(cls.__subclasses__())
    return [cls for cls in classes if cls is not InjectedError]


@dataclass(frozen=True)
class Declared:
    """What the contract says of one operation: its method, the statuses of its error answers,
    and the methods of its path (an injected 405's `Allow`)."""

    method: str
    statuses: frozenset[int]
    allow: str


def declared_answers(spec: dict[str, Any]) -> dict[str, Declared]:
    """operationId -> what openapi.yaml declares of it: the answers a fault may inject."""
    methods = {"get", "put", "post", "delete", "patch", "head", "options"}
    declared = {}
    for item in spec["paths"].values():
        allow = ", ".join(sorted(m.upper() for m in item if m in methods))
        for method, operation in item.items():
            if method in methods:
                statuses = {int(s) for s in operation.get("responses", {}) if s.isdigit()}
                declared[operation["operationId"]] = Declared(
                    method.upper(), frozenset(s for s in statuses if s >= 400), allow
                )
    return declared


@dataclass
class Fault:
    sid: str
    times: int  # how many more matching requests it applies to
    operation: str | None = None
    account: str | None = None
    method: str | None = None
    status: int | None = None  # answer with this error...
    code: int | None = None
    message: str | None = None
    delay: float = 0.0  # ...after waiting this long (alone: then answer normally)
    drop: bool = False  # ...or close the connection without an answer
    applied: int = field(default=0)

    def matches(self, operation: str | None, account: str | None, method: str) -> bool:
        return (
            (self.operation is None or self.operation == operation)
            and (self.account is None or self.account == account)
            and (self.method is None or self.method == method)
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class InjectedError(TwilioError):
    """The error answer of a fault: a status its operation declares, with its Twilio code and
    the headers the contract requires of that answer; a 401 with the `detail` every 401 of
    Twilio's has, and, unless the fault names its own message, the API's words for it."""

    def __init__(
        self, status: int, code: int, message: str, allow: str = "", path: str = ""
    ) -> None:
        headers = {"Retry-After": RETRY_AFTER} if status == 429 else {}
        if status == 405:
            headers["Allow"] = allow
        detail = None
        if status == 401:
            detail = AuthenticationFailed.DETAIL
            if message == AuthenticationFailed.default_message:
                message = spec.authentication_failed_message(path) or message
        super().__init__(message, headers=headers, detail=detail)
        self.status = status  # type: ignore[misc]  # one class for every injected status
        self.code = code  # type: ignore[misc]


class _Armable(Protocol):
    account: str | None
    times: int
    applied: int


F = TypeVar("F", bound=_Armable)


class ArmedList(Generic[F]):
    """Faults armed in this process, oldest first, at most MAX_ARMED: what request faults and
    callback faults (callback_faults.py) share. A fault is taken once per use until its `times`
    are spent."""

    kind = "faults"
    path = "/_fake/faults"

    def __init__(self) -> None:
        self._armed: list[F] = []
        self._lock = threading.Lock()

    def _add(self, fault: F) -> F:
        with self._lock:
            if len(self._armed) >= MAX_ARMED:
                raise InvalidParameter(
                    f"{MAX_ARMED} {self.kind} are armed already: DELETE {self.path} first"
                )
            self._armed.append(fault)
        return fault

    def _take(self, matches: Callable[[F], bool]) -> F | None:
        """The oldest armed fault that `matches`, with one use taken from it."""
        with self._lock:
            for fault in self._armed:
                if matches(fault):
                    fault.times -= 1
                    fault.applied += 1
                    if fault.times <= 0:
                        self._armed.remove(fault)
                    return fault
        return None

    def armed(self) -> list[F]:
        with self._lock:
            return list(self._armed)

    def _remove(self, gone: Callable[[F], bool]) -> list[F]:
        """Disarm the faults for which `gone` holds; return them."""
        with self._lock:
            removed = [fault for fault in self._armed if gone(fault)]
            self._armed = [fault for fault in self._armed if not gone(fault)]
        return removed

    def disarm_account(self, account: str) -> None:
        """Disarm the faults that name an account (which is being dropped)."""
        self._remove(lambda fault: fault.account == account)


class Faults(ArmedList[Fault]):
    """The armed faults of this process, oldest first; they answer only what `declared` (the
    contract's operations) allows."""

    def __init__(self, declared: dict[str, Declared] | None = None) -> None:
        super().__init__()
        self.declared = declared or {}

    def arm(self, request: dict[str, Any]) -> Fault:
        """Arm a fault from the body of `POST /_fake/faults` (its shape checked by the spec)."""
        status, delay, drop = request.get("status"), request.get("delay", 0.0), request.get("drop")
        if status is None and not delay and not drop:
            raise InvalidParameter("A fault needs a status, a delay or drop: true")
        if status is not None and drop:
            raise InvalidParameter("A fault either answers with a status or drops: not both")
        operation, method = request.get("operation"), request.get("method")
        if status is not None:
            self._check_declared(status, operation, method)
        default = _default_error(status) if status is not None else None
        fault = Fault(
            sid="FT" + secrets.token_hex(16),
            times=request.get("times", 1),
            operation=operation,
            account=request.get("account"),
            method=method,
            status=status,
            code=request.get("code", default.code) if default is not None else None,
            message=request.get("message", _default_message(status, default))
            if default is not None and status is not None
            else None,
            delay=float(delay),
            drop=bool(drop),
        )
        return self._add(fault)

    def _check_declared(self, status: int, operation: str | None, method: str | None) -> None:
        """Refuse a status that an operation the fault may match does not declare: an injected
        answer is one the contract documents."""
        candidates = {
            name: declared
            for name, declared in self.declared.items()
            if (operation is None or name == operation)
            and (method is None or declared.method == method)
        }
        if not candidates:
            raise InvalidParameter(f"No operation is {operation} with method {method}")
        refusing = sorted(name for name, d in candidates.items() if status not in d.statuses)
        if refusing:
            declares = ", ".join(str(s) for s in sorted(candidates[refusing[0]].statuses))
            raise InvalidParameter(
                f"Invalid parameter status: {refusing[0]} does not declare {status} in the "
                f"contract (it declares {declares})"
            )

    def take(self, operation: str | None, account: str | None, method: str) -> Fault | None:
        """The oldest armed fault this request matches, with one use taken from it."""
        return self._take(lambda fault: fault.matches(operation, account, method))

    def clear(self) -> None:
        self._remove(lambda _fault: True)


class InjectFaults:
    """The middleware that applies faults: after routing, authentication and the body limits,
    before validation.

    Only the Twilio API's operations are faulted (not the control surface, not the docs).
    """

    def __init__(self, app: ASGIApp, *, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            extensions = scope.get("extensions", {})
            operation = extensions.get(ROUTING_CONTEXT, {}).get("operation_id")
            declared = self.faults.declared.get(operation)
            if declared is not None:
                account = extensions.get("connexion_context", {}).get("user")
                fault = self.faults.take(operation, account, scope["method"])
                if fault is not None:
                    extensions[INJECTED_KEY] = fault.sid
                    # The body is read first (for the journal, and within its own deadline:
                    # a delay longer than the body timeout must not turn into a 408).
                    if fault.drop or fault.status is not None:
                        await read_body(receive)
                    else:
                        receive = replaying(await read_whole_body(receive), receive)
                    if fault.delay:
                        await asyncio.sleep(fault.delay)
                    if fault.drop:
                        await drop_connection(scope)
                        return
                    if fault.status is not None:
                        assert fault.code is not None and fault.message is not None
                        raise InjectedError(
                            fault.status, fault.code, fault.message, declared.allow, scope["path"]
                        )
        await self.app(scope, receive, send)


async def read_body(receive: Receive) -> None:
    """Read the request body to its end; the body limits around this apply, and a body that
    breaks them is left unread (the fault answers all the same)."""
    try:
        while True:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                return
    except TwilioError:
        return


async def read_whole_body(receive: Receive) -> list[Message]:
    """Read the request body to its end, within the body limits around this (their errors
    answer as they would without the fault); return the messages, to be given again."""
    messages = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            return messages


def replaying(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that gives `messages` again, then whatever the client sends."""
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


async def drop_connection(scope: Scope) -> None:
    """Close the client's connection without an answer.

    The server's protocol (protocol.GuardedHttpProtocol) hands its transport over in the scope;
    in-process, with no connection to close, nothing is answered at all.
    """
    transport = scope.get("extensions", {}).get(TRANSPORT_KEY)
    if transport is None:
        return
    transport.abort()
    # Let the protocol see the connection go, so that it sends nothing in the app's place.
    await asyncio.sleep(0)
