"""The connexion floor for `make bench`: what connexion alone costs over the fake's contract.

    python tools/bench_floor.py BODIES.json

Connexion's AsyncApp over the same openapi.yaml the fake serves, as connexion ships it: its
default middleware, request validation (`strict_validation` off, as the fake), its own HTTP Basic
handler (the spec's scheme, given a check here), and handlers that return fixed bodies with no
storage behind them, with the headers the fake adds to every answer (the contract's request id
and CORS headers, and its duration: the same bytes). The fake's own cost is what it adds on top
of this; the bare route (tools/bench_bare.py) is the ceiling of Python, uvicorn and the network
without connexion.

BODIES.json holds what the fake answered: {"fetch": …, "create": …, "list": {PageSize: …},
"send": …, "headers": {…}} (the created message; a file without it answers `{}`; the headers
the fake adds to every answer). CreateMessage is validated
as connexion validates the fake's (the form's schema); the rules behind it are the fake's own.
It binds a free port and prints `listening on URL`, as the fake does.
"""

from __future__ import annotations

import copy
import hmac
import json
import socket
import sys
from typing import Any

import connexion
import uvicorn
from connexion.resolver import Resolver

from twilio_fake import spec

ACCOUNT, TOKEN = "AC" + "b" * 32, "bench-token"  # tools/bench.py's account
CREDENTIALS = {ACCOUNT: TOKEN}  # who the floor lets in (tools/profile_requests.py: the demo's)


def check(username: str, password: str) -> dict[str, str] | None:
    """The Basic check connexion calls (`x-basicInfoFunc`): one dict look-up, compared in
    constant time, as the least any server with credentials does."""
    if hmac.compare_digest(password, CREDENTIALS.get(username, "\0")):
        return {"sub": username}
    return None


def build(bodies: dict, credentials: dict[str, str] | None = None) -> connexion.AsyncApp:
    """The floor's app, answering `bodies`; `credentials` (user: password) replaces the
    bench's account."""
    if credentials is not None:
        CREDENTIALS.clear()
        CREDENTIALS.update(credentials)
    entry, created = json.loads(bodies["fetch"]), json.loads(bodies["create"])
    pages = {size: json.loads(body) for size, body in bodies["list"].items()}
    sent = json.loads(bodies.get("send", "{}"))
    headers = bodies.get("headers", {})  # the contract's headers, as the fake wrote them

    async def fetch(**_parameters: Any) -> Any:
        return entry, 200, headers

    async def create(**_parameters: Any) -> Any:
        return created, 201, headers

    async def delete(**_parameters: Any) -> Any:
        return None, 204, headers

    async def send(**_parameters: Any) -> Any:
        return sent, 201, headers

    async def listing(PageSize: int = 50, **_parameters: Any) -> Any:
        return pages.get(str(PageSize), pages["50"]), 200, headers

    async def anything(**_parameters: Any) -> Any:
        return {}, 200, headers

    fixed = {
        "FetchPhoneNumber": fetch,
        "CreatePhoneNumber": create,
        "DeletePhoneNumber": delete,
        "ListPhoneNumber": listing,
        "CreateMessage": send,
    }
    document = copy.deepcopy(spec.document(spec.CONTRACT))
    for scheme in document["components"]["securitySchemes"].values():
        scheme["x-basicInfoFunc"] = f"{__name__}.check"
    app = connexion.AsyncApp(__name__)
    app.add_api(
        document,
        base_path=document["servers"][0]["url"].rstrip("/"),
        resolver=Resolver(function_resolver=lambda operation_id: fixed.get(operation_id, anything)),
        strict_validation=False,
    )
    return app


if __name__ == "__main__":
    with open(sys.argv[1]) as file:
        application = build(json.load(file))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(f"connexion floor listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(application, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
