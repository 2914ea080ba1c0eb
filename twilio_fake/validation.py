"""Connexion's request validators, with messages phrased as Twilio phrases them.

They are plugged in through connexion's `validator_map`, so validation itself stays connexion's
(driven by openapi.yaml); only the wording of the errors changes, and every message names the
parameter at fault.
"""

from __future__ import annotations

import copy
from typing import Any

from jsonschema import Draft4Validator, ValidationError


def _first_line(message: str) -> str:
    return message.split("\n", 1)[0]


SHOWN_VALUE = 64  # characters of a refused value that an error message repeats
SHOWN_PATTERN = 200  # characters of a pattern that an error message recites


def _message(error: ValidationError) -> str:
    """jsonschema's message, first line, with the value at fault shown up to SHOWN_VALUE
    characters: a 60 KB FriendlyName is refused without being echoed back whole. A pattern
    longer than SHOWN_PATTERN (a webhook URL's is 1,800 characters) is not recited: the
    schema's description says what it admits."""
    message = error.message
    shown = repr(error.instance)
    if error.validator == "pattern" and len(str(error.validator_value)) > SHOWN_PATTERN:
        described = error.schema.get("description") if isinstance(error.schema, dict) else None
        message = f"{shown} does not match the contract's pattern" + (
            f": {described}" if described else ""
        )
    if len(shown) > SHOWN_VALUE and shown in message:
        message = message.replace(shown, shown[: SHOWN_VALUE - 3] + "...", 1)
    return _first_line(message)


def _repeated(pairs: list[tuple[str, Any]], declared: set[str]) -> str | None:
    """Return the first declared name given more than once, if any (others are ignored)."""
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen and name in declared:
            return name
        seen.add(name)
    return None


def _compile(schema: dict) -> Draft4Validator:
    return Draft4Validator(copy.deepcopy(schema), format_checker=Draft4Validator.FORMAT_CHECKER)
