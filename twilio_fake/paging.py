"""Page tokens: opaque to clients, signed by the server, bound to one service.

A token is `PA` (a page after a position) or `PB` (a page before one) followed by
base64url(JSON payload) "." base64url(HMAC-SHA256 of the prefix and payload). The payload
names the service, the page index and the `seq` of the entry at the boundary, so a page is
found with an indexed range query however deep in the list it is (keyset paging), and entries
added or removed while a client walks the list neither repeat nor skip the others.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Literal

from .exceptions import InvalidPageToken

Direction = Literal["after", "before"]
_PREFIX: dict[Direction, str] = {"after": "PA", "before": "PB"}
_DIRECTION = {prefix: direction for direction, prefix in _PREFIX.items()}


@dataclass(frozen=True)
class PageCursor:
    """Where a page starts: strictly after (or before) the entry with `seq` in `service_sid`."""

    service_sid: str
    page: int
    direction: Direction
    seq: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PageTokens:
    """Issue and check page tokens with one secret key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def issue(self, cursor: PageCursor) -> str:
        prefix = _PREFIX[cursor.direction]
        payload = json.dumps(
            {"s": cursor.service_sid, "p": cursor.page, "k": cursor.seq}, separators=(",", ":")
        ).encode()
        return f"{prefix}{_b64(payload)}.{_b64(self._sign(prefix.encode() + payload))}"

    def read(self, token: str, service_sid: str) -> PageCursor:
        """Return the cursor a token stands for, or raise InvalidPageToken."""
        direction = _DIRECTION.get(token[:2])
        encoded_payload, _, encoded_signature = token[2:].partition(".")
        try:
            payload = _unb64(encoded_payload)
            signature = _unb64(encoded_signature)
        except (binascii.Error, ValueError):
            raise InvalidPageToken() from None
        signed = token[:2].encode("utf-8") + payload  # the direction is signed too
        if direction is None or not hmac.compare_digest(signature, self._sign(signed)):
            raise InvalidPageToken()
        fields = json.loads(payload)
        if fields["s"] != service_sid:
            raise InvalidPageToken()  # issued for another list: Twilio's token is per list too
        return PageCursor(service_sid, fields["p"], direction, fields["k"])
