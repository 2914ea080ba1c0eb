"""Deliberately broken variants of the fake, to prove the contract kit catches each one.

    python -m tests.support.broken_fakes VARIANT --database FILE [--pool-limit N]

Each variant is the real fake behind one ASGI middleware that breaks one promise. They live in
the tests, never in the app.
"""

from __future__ import annotations

import argparse
import base64
import json
import re

import uvicorn
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.support import ACCOUNT as DEMO_ACCOUNT
from tests.support import OTHER_ACCOUNT
from tests.support import TOKEN as DEMO_TOKEN
from twilio_fake.app import create_app
from twilio_fake.backend import Backend
from twilio_fake.cli import READY, listen
from twilio_fake.config import Settings


def wrong_code(body: bytes) -> bytes:
    """Report 'already in this service' with a neighbouring code."""
    return body.replace(b'"code": 21710', b'"code": 21711')


def broken_paging(body: bytes) -> bytes:
    """Send clients to the real Twilio for the next page, as a careless fake would."""
    return re.sub(
        rb'"next_page_url": "http://[^/]+', b'"next_page_url": "https://messaging.twilio.com', body
    )


def wrong_magic_code(body: bytes) -> bytes:
    """Answer Twilio's invalid test number (+15005550001) as if it were merely not for sale."""
    return body.replace(b'"code": 21421', b'"code": 21422')


# Where deleted services and released numbers go, as in a careless soft delete: out of the
# demo account's sight (into the other demo account: the tables want an account that exists).
NOBODY = OTHER_ACCOUNT


def service_delete_keeps_pool() -> None:
    """Deleting a service hides it from its account but leaves its pool: its numbers stay taken."""
    from twilio_fake.resources.pool import model as pool
    from twilio_fake.resources.services import model as services

    services._DELETE = (
        services.services.update().where(services._mine).values(account_sid=NOBODY)  # type: ignore[assignment]
    )
    pool.empty_pool = lambda conn, service_sid: None


def release_keeps_pool_entry() -> None:
    """Releasing a number that sits in a pool answers 204 but leaves it there (and bought)."""
    from sqlalchemy import select

    from twilio_fake.resources.numbers import model as numbers
    from twilio_fake.resources.pool.tables import pool_entries

    real = numbers.release

    def release(backend: Backend, account_sid: str, sid: str) -> None:
        with backend.db.read() as conn:
            pooled = conn.execute(select(pool_entries.c.sid).where(pool_entries.c.sid == sid))
            if pooled.first() is not None:
                return
        real(backend, account_sid, sid)

    numbers.release = release


def callbacks_signed_wrongly() -> None:
    """Sign webhooks with another key than the account's auth token: they carry an
    X-Twilio-Signature, and no validator accepts it."""
    from twilio_fake import outbound

    real = outbound.signature
    outbound.signature = lambda auth_token, url, params: real("not " + auth_token, url, params)


BODY_REWRITES = {
    "wrong-code": wrong_code,
    "broken-paging": broken_paging,
    "wrong-magic-code": wrong_magic_code,
}
# Variants that break a rule of a resource itself, in its rules (below HTTP).
RULE_BREAKS = {
    "service-delete-keeps-pool": service_delete_keeps_pool,
    "release-keeps-pool-entry": release_keeps_pool_entry,
    "callbacks-signed-wrongly": callbacks_signed_wrongly,
}
VARIANTS = [*BODY_REWRITES, *RULE_BREAKS, "missing-header", "server-error", "auth-bypass"]


class Break:
    def __init__(self, app: ASGIApp, variant: str) -> None:
        self.app, self.variant = app, variant

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.variant == "server-error" and re.search(
            rb"PageSize=([5-9][0-9]{2}|[0-9]{4,})\b", scope["query_string"]
        ):
            await self.fail(send)  # large pages crash
            return
        if self.variant == "auth-bypass":
            scope = {**scope, "headers": [self.any_password(k, v) for k, v in scope["headers"]]}
        if self.variant == "missing-header":
            send = self.without_request_id(send)
        if self.variant in BODY_REWRITES:
            send = self.rewriting(send, BODY_REWRITES[self.variant])
        await self.app(scope, receive, send)

    @staticmethod
    async def fail(send: Send) -> None:
        body = json.dumps(
            {
                "code": 20500,
                "message": "Internal Server Error",
                "more_info": "https://www.twilio.com/docs/errors/20500",
                "status": 500,
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def any_password(name: bytes, value: bytes) -> tuple[bytes, bytes]:
        """The demo account gets in with any password."""
        if name == b"authorization" and value.lower().startswith(b"basic "):
            user = base64.b64decode(value[6:]).split(b":", 1)[0]
            if user == DEMO_ACCOUNT.encode():
                value = b"Basic " + base64.b64encode(f"{DEMO_ACCOUNT}:{DEMO_TOKEN}".encode())
        return name, value

    @staticmethod
    def without_request_id(send: Send) -> Send:
        async def sender(message: Message) -> None:
            if message["type"] == "http.response.start":
                del MutableHeaders(scope=message)["twilio-request-id"]
            await send(message)

        return sender

    @staticmethod
    def rewriting(send: Send, rewrite) -> Send:  # type: ignore[no-untyped-def]
        start: Message = {}
        chunks: list[bytes] = []

        async def sender(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = rewrite(b"".join(chunks))
            MutableHeaders(scope=start)["content-length"] = str(len(body))
            await send(start)
            await send({"type": "http.response.body", "body": body})

        return sender


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("variant", choices=VARIANTS)
    parser.add_argument("--database", required=True)
    parser.add_argument("--pool-limit", type=int, default=Settings.pool_limit)
    args = parser.parse_args()
    if args.variant in RULE_BREAKS:
        RULE_BREAKS[args.variant]()
    app = create_app(Settings(database=args.database, pool_limit=args.pool_limit))
    sock = listen("127.0.0.1", 0)
    print(f"{READY}http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    # Outermost: the variant breaks what the real fake would have answered.
    config = uvicorn.Config(Break(app, args.variant), log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
