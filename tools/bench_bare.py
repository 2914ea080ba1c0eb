"""The ceiling for `make bench`: a bare Starlette app answering the fake's own bodies and headers,
unchecked.

    python tools/bench_bare.py BODIES.json

BODIES.json holds what the fake answered: {"fetch": …, "create": …, "list": {PageSize: …},
"send": …, "headers": {…}} (the created message; a file without it answers `{}`; the headers the
fake adds to every answer).
It binds a free port and prints `listening on URL`, as the fake does.
"""

from __future__ import annotations

import json
import socket
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def build(bodies: dict) -> Starlette:
    entry, created = bodies["fetch"].encode(), bodies["create"].encode()
    pages = {size: body.encode() for size, body in bodies["list"].items()}
    sent = bodies.get("send", "{}").encode()
    headers = bodies.get("headers", {})  # what the fake adds to every answer: the same bytes

    def answer(body: bytes | None, status: int = 200) -> Response:
        media = "application/json" if body is not None else None
        return Response(body, status_code=status, headers=headers, media_type=media)

    async def one(request: Request) -> Response:
        if request.method == "DELETE":
            return answer(None, 204)
        return answer(entry)

    async def pool(request: Request) -> Response:
        if request.method == "POST":
            await request.form()  # read the body, as any server must
            return answer(created, 201)
        return answer(pages[request.query_params.get("PageSize", "50")])

    async def messages(request: Request) -> Response:
        await request.form()  # read the body, as any server must
        return answer(sent, 201)

    return Starlette(routes=[
        Route("/v1/Services/{service}/PhoneNumbers", pool, methods=["GET", "POST"]),
        Route("/v1/Services/{service}/PhoneNumbers/{sid}", one, methods=["GET", "DELETE"]),
        Route("/2010-04-01/Accounts/{account}/Messages.json", messages, methods=["POST"]),
    ])  # fmt: skip


if __name__ == "__main__":
    with open(sys.argv[1]) as file:
        app = build(json.load(file))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(f"bare route listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
