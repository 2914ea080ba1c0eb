"""HTTP Basic authentication, called by connexion for every operation that declares security."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .exceptions import AuthenticationFailed
from .models import Backend

if TYPE_CHECKING:
    from connexion.lifecycle import ConnexionRequest


def check_basic_credentials(
    username: str, password: str, request: ConnexionRequest
) -> dict[str, Any]:
    """Return connexion's token info for valid credentials; raise AuthenticationFailed otherwise.

    Connexion hands the token's `sub` to handlers as their `user` argument: the Account SID.
    """
    backend: Backend = request.context["backend"]
    account_sid = backend.authenticate(username, password)
    if account_sid is None:
        raise AuthenticationFailed(detail="Your AccountSid or AuthToken was incorrect.")
    return {"sub": account_sid}
