"""The fake's own control surface (control.yaml): health, reset, load fixtures.

Plain functions: connexion runs them in its thread pool, off the event loop (a reset or a
fixture load holds the write lock; counting a large database takes a while).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from twilio_fake import fixtures
from twilio_fake.exceptions import InvalidParameter
from twilio_fake.models import Backend


def health(backend: Backend):
    return {"status": "ok", **asdict(backend.counts())}


def reset(backend: Backend):
    backend.reset()
    return health(backend)


def load_fixtures(document: Any, backend: Backend):
    """Parse (bounded, in connexion's thread pool, before any lock), then load in one write."""
    try:
        accounts = (
            fixtures.load_text(document, aliases=False)
            if isinstance(document, bytes | str)
            else fixtures.parse(document)
        )
        backend.load(accounts)
    except fixtures.FixtureError as err:
        raise InvalidParameter(f"Invalid fixture document: {err}") from None
    return health(backend)
