"""HTTP Basic authentication: connexion's handler for the spec's `accountCredentials` scheme.

The scheme is declared in openapi.yaml as plain `http`/`basic`; connexion's `security_map` puts
this handler behind it, so the published contract names no Python function.
"""

from __future__ import annotations

import functools
import hmac
import re
from typing import TYPE_CHECKING, Any

from . import fixtures
from .backend import Backend
from .edge import from_another_origin
from .exceptions import AuthenticationFailed, ResourceNotFound

if TYPE_CHECKING:
    from connexion.lifecycle import ConnexionRequest

# An account SID as Twilio writes them. A path's account that is not one at all names no
# resource, whoever asks: Twilio answered `/2010-04-01/Accounts/invalid_sid/Messages.json` 404,
# not 401.
ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")


def check_basic_credentials(
    username: str, password: str, request: ConnexionRequest
) -> dict[str, Any]:
    """Return connexion's token info for valid credentials; raise AuthenticationFailed otherwise.

    Connexion hands the token's `sub` to handlers as their `user` argument: the Account SID.
    """
    account = request.scope.get("path_params", {}).get("AccountSid")
    if account is not None and not ACCOUNT_SID.fullmatch(account):
        raise ResourceNotFound()  # named by the HTTP layer, as any 404
    backend: Backend = request.context["backend"]
    headers = request.headers
    # The origin first: most requests come from no browser at all, and then the credentials
    # need not be compared with the demo's.
    demo_on_a_foreign_page = from_another_origin(
        headers.get("host", ""), headers.get("origin", ""), headers.get("sec-fetch-site", "")
    ) and _published(username, password)
    if not backend.db.is_sqlite:
        # Off the event loop, within the database's deadline (connexion awaits it).
        return _check_off_the_loop(  # type: ignore[return-value]
            backend, username, password, demo_on_a_foreign_page
        )
    return _token_info(backend.authenticate(username, password), demo_on_a_foreign_page)


async def _check_off_the_loop(
    backend: Backend, username: str, password: str, demo_on_a_foreign_page: bool
) -> dict[str, Any]:
    account_sid = await backend.db.call(backend.authenticate, username, password)
    return _token_info(account_sid, demo_on_a_foreign_page)


def _token_info(account_sid: str | None, demo_on_a_foreign_page: bool) -> dict[str, Any]:
    if account_sid is None:
        raise AuthenticationFailed()
    if demo_on_a_foreign_page:
        # The demo's credentials are printed in the README: any page on the web could use them
        # through a developer's browser (docs/decisions/0002-the-demo-credentials-stay-home.md).
        raise AuthenticationFailed(
            "Authentication Error - the demo credentials are public",
            detail="A page of another origin may not use the demo's published credentials: "
            "mint an account (POST /_fake/accounts) or load fixtures with secrets of your own.",
        )
    return {"sub": account_sid}


@functools.cache
def _published_credentials() -> frozenset[tuple[str, str]]:
    """The built-in demo's credentials (auth tokens and API key secrets): public knowledge."""
    found = set()
    for account in fixtures.demo():
        found.add((account.sid, account.auth_token))
        found.update(account.api_keys.items())
    return frozenset(found)


def _published(username: str, password: str) -> bool:
    return any(
        hmac.compare_digest(username.encode(), sid.encode())
        & hmac.compare_digest(password.encode(), secret.encode())
        for sid, secret in _published_credentials()
    )


def check_control_token(token: str | None, request: ConnexionRequest) -> dict[str, Any]:
    """Let a control request through when no token is configured, or when it sends the token."""
    configured = request.context.get("control_token")
    if configured and not (
        token is not None and hmac.compare_digest(token.encode(), configured.encode())
    ):
        raise AuthenticationFailed(
            "Authentication Error - the control surface needs its token",
            detail="This fake was started with --control-token: send Authorization: Bearer <it>.",
        )
    return {"sub": "control"}
