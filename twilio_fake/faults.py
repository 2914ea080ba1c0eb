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
from dataclasses import asdict, dataclass, field
from typing import Any

from connexion.middleware.routing import ROUTING_CONTEXT
from starlette.types import ASGIApp, Receive, Scope, Send

from .exceptions import InvalidParameter, TwilioError

MAX_ARMED = 100  # faults armed at once
MAX_TIMES = 10_000
MAX_DELAY = 30.0  # seconds
INJECTED_KEY = "twilio_fake.injected"  # scope extension: the SID of the fault that applied
TRANSPORT_KEY = "twilio_fake.transport"  # scope extension: the connection, to drop it

# Twilio's codes for the statuses a test most often wants; others default to 20000 + status.
DEFAULT_CODES = {400: 20001, 401: 20003, 429: 20429, 500: 20500, 503: 20503}
DEFAULT_MESSAGES = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


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
    """The error answer of a fault: any status, with its Twilio code."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status  # type: ignore[misc]  # one class for every injected status
        self.code = code  # type: ignore[misc]


class Faults:
    """The armed faults of this process, oldest first."""

    def __init__(self) -> None:
        self._armed: list[Fault] = []
        self._lock = threading.Lock()

    def arm(self, request: dict[str, Any]) -> Fault:
        """Arm a fault from the body of `POST /_fake/faults` (its shape checked by the spec)."""
        status, delay, drop = request.get("status"), request.get("delay", 0.0), request.get("drop")
        if status is None and not delay and not drop:
            raise InvalidParameter("A fault needs a status, a delay or drop: true")
        if status is not None and drop:
            raise InvalidParameter("A fault either answers with a status or drops: not both")
        fault = Fault(
            sid="FT" + secrets.token_hex(16),
            times=request.get("times", 1),
            operation=request.get("operation"),
            account=request.get("account"),
            method=request.get("method"),
            status=status,
            code=request.get("code", DEFAULT_CODES.get(status, 20000 + status))
            if status is not None
            else None,
            message=request.get("message", DEFAULT_MESSAGES.get(status, "Injected fault"))
            if status is not None
            else None,
            delay=float(delay),
            drop=bool(drop),
        )
        with self._lock:
            if len(self._armed) >= MAX_ARMED:
                raise InvalidParameter(
                    f"{MAX_ARMED} faults are armed already: DELETE /_fake/faults first"
                )
            self._armed.append(fault)
        return fault

    def take(self, operation: str | None, account: str | None, method: str) -> Fault | None:
        """The oldest armed fault this request matches, with one use taken from it."""
        with self._lock:
            for fault in self._armed:
                if fault.matches(operation, account, method):
                    fault.times -= 1
                    fault.applied += 1
                    if fault.times <= 0:
                        self._armed.remove(fault)
                    return fault
        return None

    def armed(self) -> list[Fault]:
        with self._lock:
            return list(self._armed)

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()


class InjectFaults:
    """The middleware that applies faults: after routing, authentication and the body limits,
    before validation.

    Only the Twilio API's operations are faulted (not the control surface, not the docs).
    """

    def __init__(self, app: ASGIApp, *, faults: Faults, operations: frozenset[str]) -> None:
        self.app = app
        self.faults = faults
        self.operations = operations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            extensions = scope.get("extensions", {})
            operation = extensions.get(ROUTING_CONTEXT, {}).get("operation_id")
            if operation in self.operations:
                account = extensions.get("connexion_context", {}).get("user")
                fault = self.faults.take(operation, account, scope["method"])
                if fault is not None:
                    extensions[INJECTED_KEY] = fault.sid
                    if fault.delay:
                        await asyncio.sleep(fault.delay)
                    if fault.drop or fault.status is not None:
                        await read_body(receive)  # so that the journal has the form sent
                    if fault.drop:
                        await drop_connection(scope)
                        return
                    if fault.status is not None:
                        assert fault.code is not None and fault.message is not None
                        raise InjectedError(fault.status, fault.code, fault.message)
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
