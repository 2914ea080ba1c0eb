"""End to end: the bound on the messages one account holds (`x-limits` `messages-per-account`,
the contract's value, not a lowered one), met through twilio-python by a real server process
on a real SQLite file, that an earlier version of the fake made full of messages and without
the counts: the server counts them as it opens the file."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

from tests.support import (
    ACCOUNT,
    OTHER_ACCOUNT,
    OTHER_TOKEN,
    TOKEN,
    raises,
    sdk,
    serve,
    stop_cleanly,
)
from twilio_fake import fixtures, spec
from twilio_fake.backend import Backend

LIMIT = spec.limit("messages-per-account")
SENDER = next(n for n in fixtures.demo()[0].incoming_phone_numbers if "SMS" in n.capabilities)
TO = "+12125550123"


def a_full_database_of_an_earlier_version(path: Path, messages: int) -> list[str]:
    """A database file holding `messages` delivered messages of the demo account, and no
    table of counts, as a version of the fake before the bound left it; their SIDs."""
    Backend(str(path), fixtures.demo()).db.dispose()
    when = datetime(2026, 1, 1).isoformat(" ")
    sids = [f"SM{i:032x}" for i in range(messages)]
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO messages (sid, account_sid, from_number, to_number, body, num_segments,"
            " status, direction, date_created, date_updated, date_sent)"
            " VALUES (?, ?, ?, ?, 'Hello', 1, 'delivered', 'outbound-api', ?, ?, ?)",
            [(sid, ACCOUNT, SENDER.phone_number, TO, when, when, when) for sid in sids],
        )
        conn.execute("DROP TABLE message_counts")
    return sids


def test_a_send_past_the_bound_is_400_and_a_delete_makes_room(tmp_path: Path) -> None:
    database = tmp_path / "full.sqlite3"
    older = a_full_database_of_an_earlier_version(database, LIMIT - 1)
    server = serve(database)
    try:
        client = sdk(server, ACCOUNT, TOKEN)
        last = client.messages.create(to=TO, from_=SENDER.phone_number, body="the last place")
        assert last.status == "queued"
        for _ in range(2):
            with raises(400, 20001) as caught:
                client.messages.create(to=TO, from_=SENDER.phone_number, body="one too many")
            assert f"already holds {LIMIT} messages" in caught.value.msg
        assert [m.sid for m in client.messages.list(limit=2)] == [last.sid, older[-1]]
        theirs = sdk(server, OTHER_ACCOUNT, OTHER_TOKEN)  # the bound is per account
        assert theirs.messages.create(to=TO, from_="+15005550006", body="x").status == "queued"
        assert client.messages(older[0]).delete() is True
        assert client.messages.create(to=TO, from_=SENDER.phone_number, body="room").sid
        with raises(400, 20001):
            client.messages.create(to=TO, from_=SENDER.phone_number, body="full again")
    finally:
        stop_cleanly([server])  # and no 500 or traceback in its log
