"""Proxy mode: unmodified Twilio clients reach the fake through an HTTP proxy, and nothing else.

`twilio-fake --proxy-port PORT` listens, beside the normal listener, for proxy requests: a
`CONNECT messaging.twilio.com:443` (or api.twilio.com, or their edge and region forms) is
answered with a TLS tunnel whose certificate a CA of the fake's own signs (`ca`), and the
requests inside go to the same app as every other request (`tunnel`); so does an absolute-form
`GET http://messaging.twilio.com/…`. Every other target gets a Twilio-shaped 403: the proxy never
resolves a name, never opens a connection anywhere (`hosts`). The user's guide is docs/proxy.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..db import MEMORY

if TYPE_CHECKING:
    from .ca import CERTIFICATE_FILE, CertificateAuthority, CertificateAuthorityError

# The CA's names are read from `ca` when first asked for: it imports cryptography (8 MB and a
# tenth of the start-up's imports), which only a server with --proxy-port needs.
_FROM_CA = ("CERTIFICATE_FILE", "CertificateAuthority", "CertificateAuthorityError")

CA_DIRECTORY = "twilio-fake-proxy-ca"  # beside a SQLite database file, unless --proxy-ca says


def ca_directory(database: str, configured: str | None) -> Path | None:
    """Where the CA lives: --proxy-ca, else beside a SQLite file; None when there is no file
    (`:memory:`: a temporary directory for this run; PostgreSQL: --proxy-ca is required)."""
    if configured:
        return Path(configured)
    if database == MEMORY or "://" in database:
        return None
    return Path(database).expanduser().resolve().parent / CA_DIRECTORY


def __getattr__(name: str) -> Any:
    if name in _FROM_CA:
        from . import ca

        return getattr(ca, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CA_DIRECTORY",
    "CERTIFICATE_FILE",
    "CertificateAuthority",
    "CertificateAuthorityError",
    "ca_directory",
]
