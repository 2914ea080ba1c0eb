"""Chaos for status callbacks: make the next ones late, lost, doubled, disordered or wrongly signed.

Twilio says its status callbacks may arrive out of order (and receivers see duplicates and
retries in practice); a test arms a callback fault (`POST /_fake/callback-faults`) to see how
the code under test copes. A fault applies to the next `times` status callbacks of its account
(or of any account), the oldest armed fault first:
- `delay`: each is sent `delay` seconds late (the message's later callbacks wait behind it);
- `drop`: not sent at all (journaled as dropped);
- `duplicate`: sent twice, one after the other;
- `bad_signature`: sent with an X-Twilio-Signature that verifies for nothing;
- `reverse`: the next `times` callbacks are held until all have come, then sent in the
  reverse order (a fault disarmed before then lets those held go in their own order).

Faults live in the memory of the server process (as the request faults do), bounded in number.
Inbound-message webhooks are never faulted: their answer is what `/_fake/inbound` returns.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from .exceptions import InvalidParameter
from .faults import ArmedList

ACTIONS = ("delay", "drop", "duplicate", "bad_signature", "reverse")


@dataclass
class CallbackFault:
    sid: str
    action: str
    times: int  # how many more callbacks it applies to
    account: str | None = None
    delay: float = 0.0
    applied: int = 0
    held: list[Any] = field(default_factory=list, repr=False)  # `reverse`: waiting to go

    def as_dict(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "action": self.action,
            "times": self.times,
            "account": self.account,
            "delay": self.delay,
            "applied": self.applied,
            "held": len(self.held),
        }


class CallbackFaults(ArmedList[CallbackFault]):
    """The armed callback faults of this process, oldest first."""

    kind = "callback faults"
    path = "/_fake/callback-faults"

    def arm(self, request: dict[str, Any]) -> CallbackFault:
        """Arm a fault from the body of `POST /_fake/callback-faults` (checked by the spec)."""
        action = request["action"]
        delay = float(request.get("delay", 0.0))
        if action == "delay" and delay <= 0:
            raise InvalidParameter("A delay fault needs delay: seconds, more than 0")
        if action != "delay" and delay:
            raise InvalidParameter(f"delay is for the delay fault only, not {action}")
        if action == "reverse" and request.get("times", 2) < 2:
            raise InvalidParameter("A reverse fault needs times: 2 or more callbacks to reverse")
        fault = CallbackFault(
            sid="CF" + secrets.token_hex(16),
            action=action,
            times=request.get("times", 2 if action == "reverse" else 1),
            account=request.get("account"),
            delay=delay,
        )
        return self._add(fault)

    def take(self, account: str) -> CallbackFault | None:
        """The oldest armed fault for this account's next callback, with one use taken."""
        return self._take(lambda fault: fault.account in (None, account))

    def clear(self, account: str | None = None) -> list[CallbackFault]:
        """Disarm every fault (or the account's); return them (their held callbacks go now)."""
        return self._remove(lambda fault: account is None or fault.account == account)
