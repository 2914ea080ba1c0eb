"""uvicorn's server with the proxy's listener beside the normal one, in the same event loop.

Both listeners share uvicorn's server state: one connection limit, one graceful shutdown (the
proxy stops accepting and its connections finish with the rest), one app.
"""

from __future__ import annotations

import asyncio
import socket

import uvicorn

from .ca import CertificateAuthority
from .tunnel import ProxyFront


class ServerWithProxy(uvicorn.Server):
    def __init__(
        self, config: uvicorn.Config, proxy_socket: socket.socket, authority: CertificateAuthority
    ) -> None:
        super().__init__(config)
        self.proxy_socket = proxy_socket
        self.authority = authority

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.should_exit:
            return

        def create_front(_loop: asyncio.AbstractEventLoop | None = None) -> ProxyFront:
            return ProxyFront(
                config=self.config,
                server_state=self.server_state,
                app_state=self.lifespan.state,
                _loop=_loop,
                authority=self.authority,
            )

        loop = asyncio.get_running_loop()
        proxy = await loop.create_server(
            create_front, sock=self.proxy_socket, backlog=self.config.backlog
        )
        self.servers.append(proxy)
