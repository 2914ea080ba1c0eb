"""Which requests the proxy takes: Twilio's API hosts, on their ports, and nothing else.

Twilio's SDKs and CLI write a host as `{product}.twilio.com`, or with a region
(`{product}.{region}.twilio.com`) or an edge and a region (`{product}.{edge}.{region}.twilio.com`)
when TWILIO_REGION or TWILIO_EDGE is set. The fake serves products `messaging` and `api`.
A target is only ever matched as text: nothing here (or anywhere in the proxy) looks a name up.
"""

from __future__ import annotations

import re

PRODUCTS = ("messaging", "api")
TLS_PORT = 443  # CONNECT host:443, the only tunnel the proxy opens
HTTP_PORT = 80  # absolute-form http:// requests
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
SERVED = re.compile(rf"(?:{'|'.join(PRODUCTS)})(?:\.{_LABEL}){{0,2}}\.twilio\.com")
_USERINFO = re.compile(r"[^/?#@]*@")
SHOWN_LENGTH = 100  # characters of a refused target named in the answer and the log line


def served(host: str, port: int | None, default_port: int) -> str | None:
    """The host name (lower-cased) if the proxy serves `host` on `port`, else None."""
    name = host.lower()
    if SERVED.fullmatch(name) and (port if port is not None else default_port) == default_port:
        return name
    return None


def connect_target(target: bytes) -> str | None:
    """The host of a CONNECT request's `host:port` if the proxy opens a tunnel to it."""
    try:
        text = target.decode("ascii")
    except UnicodeDecodeError:
        return None
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit() or len(port) > 5:
        return None
    return served(host, int(port), TLS_PORT)


def shown(target: bytes | str) -> str:
    """A refused target as the answer and the log may name it: printable ASCII, cut short, and
    whatever it carries before an `@` in its authority (`user:token@`) masked."""
    text = target.decode("latin-1") if isinstance(target, bytes) else target
    text = "".join(c if " " < c < "\x7f" else "?" for c in _without_userinfo(text))
    if len(text) > SHOWN_LENGTH:
        return f"{text[:SHOWN_LENGTH]}...({len(text)} characters)"
    return text or "(nothing)"


def _without_userinfo(target: str) -> str:
    """`http://user:token@host/path` as `http://***@host/path`, and a CONNECT target
    (`user:token@host:443`) or a scheme-relative one (`//user:token@host/`) the same way:
    whatever ends with an `@` between two slashes is masked, wherever the target puts it (an
    `@` in a path loses the segment before it, which is no harm in a refusal)."""
    return _USERINFO.sub("***@", target)


def refusal(target: bytes | str) -> str:
    return (
        f"twilio-fake's proxy refused {shown(target)}: it serves only messaging.twilio.com and "
        "api.twilio.com (and their {edge}.{region} forms) on port 443, or 80 for http:// URLs, "
        "and forwards nothing"
    )
