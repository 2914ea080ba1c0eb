"""`twilio-fake contract`: the contract kit (package twilio_fake_contract), handed this fake.

The kit knows nothing of the fake. With no --url, this gives it the command that starts a fresh
fake (launch.py) and the demo account to use; the fake is another process, so this imports
nothing of the server (connexion, SQLAlchemy, uvicorn): the kit's run starts in the time of the
kit's own imports (tests/e2e/test_command.py holds it so).
"""

from __future__ import annotations

import os
import shlex

from . import fixtures
from .command import fail
from .launch import MEMORY, serve_command

# Whom the kit texts on a fresh fake: a British mobile (libphonenumber's example), since the demo
# numbers it is given to pool are British, French and Australian.
CONTRACT_RECIPIENT = "+447400123456"


def contract(argv: list[str]) -> int:
    """Run the kit with `argv`; with no --url (nor --serve), against a fresh fake of its own."""
    try:
        from twilio_fake_contract import runner as kit
    except ImportError as err:
        return fail(
            f"the contract kit needs its extra: pip install 'twilio-fake[contract]' ({err})"
        )
    if not any(arg == "--url" or arg.startswith(("--url=", "--serve")) for arg in argv):
        account = fixtures.demo()[0]
        service, service2 = list(account.services)[:2]
        messaging = [
            n.sid for n in account.incoming_phone_numbers if {"SMS", "MMS"} & set(n.capabilities)
        ]
        voice_only = next(n.sid for n in account.incoming_phone_numbers if n.sid not in messaging)
        # PN…01 and PN…02 are left alone: PN…01 is the spec's example SID, which schemathesis's
        # examples phase fetches and deletes. A pool limit of 2 lets the kit fill a pool.
        argv = [
            "--serve", shlex.join(serve_command(MEMORY, "--pool-limit", "2")),
            "--user", account.sid, "--service", service, "--service2", service2,
            "--numbers", ",".join(messaging[2:]), "--voice-only", voice_only,
            "--pool-limit", "2", "--allow-purchases",
            # Nothing leaves the fake: it may text anyone, and answers Twilio's test numbers.
            "--send-to", CONTRACT_RECIPIENT, "--test-numbers", "--fuzz-sends", *argv,
        ]  # fmt: skip
        os.environ.setdefault(kit.PASSWORD_VARIABLE, account.auth_token)
    return kit.main(argv, prog="twilio-fake contract")
