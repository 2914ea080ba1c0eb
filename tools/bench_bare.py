"""The ceiling for `make bench`: a bare Starlette app answering the fake's own bodies, unchecked.

    python tools/bench_bare.py BODIES.json

BODIES.json holds what the fake answered: {"fetch": …, "create": …, "list": {PageSize: …},
"send": …} (the created message; a file without it answers `{}`).
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

    async def one(request: Request) -> Response:
        if request.method == "DELETE":
            return Response(status_code=204)
        return Response(entry, media_type="application/json")

    async def pool(request: Request) -> Response:
        if request.method == "POST":
            await request.form()  # read the body, as any server must
            return Response(created, status_code=201, media_type="application/json")
        page = pages[request.query_params.get("PageSize", "50")]
        return Response(page, media_type="application/json")

    async def messages(request: Request) -> Response:
        await request.form()  # read the body, as any server must
        return Response(sent, status_code=201, media_type="application/json")

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
