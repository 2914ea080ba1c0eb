"""The ceiling for `make bench`: a bare Starlette app answering the fake's own JSON, unchecked.

python tools/bench_bare.py BODIES.json PORT
"""

from __future__ import annotations

import json
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route


def build(bodies: dict[str, str]) -> Starlette:
    entry, page = bodies["fetch"].encode(), bodies["list"].encode()

    async def one(request):  # type: ignore[no-untyped-def]
        if request.method == "DELETE":
            return Response(status_code=204)
        return Response(entry, media_type="application/json")

    async def pool(request):  # type: ignore[no-untyped-def]
        if request.method == "POST":
            return Response(entry, status_code=201, media_type="application/json")
        return Response(page, media_type="application/json")

    return Starlette(routes=[
        Route("/v1/Services/{service}/PhoneNumbers", pool, methods=["GET", "POST"]),
        Route("/v1/Services/{service}/PhoneNumbers/{sid}", one, methods=["GET", "DELETE"]),
    ])  # fmt: skip


if __name__ == "__main__":
    app = build(json.loads(open(sys.argv[1]).read()))
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
