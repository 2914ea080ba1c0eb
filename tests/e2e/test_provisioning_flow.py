"""The provisioning flow of issue 17, end to end, as a team's code runs it against Twilio: create
a Messaging Service, search numbers in an area code, buy two, pool both, list the pool, release
one (its pool entry goes), delete the service; and the documented errors on the way. Both
official SDKs, against a real server process, in an account minted with no services and no
numbers. The Python side uses `FakeTwilio.client()`, the plugin's client, which moves every
Twilio host (api.twilio.com and messaging.twilio.com alike) onto the fake."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.support import OTHER_NUMBER, ROOT, Server, npm_tools, raises, serve
from twilio_fake.testing import Account, FakeTwilio

UNKNOWN_SERVICE = "MG" + "f" * 32


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = serve(tmp_path_factory.mktemp("provisioning") / "fake.sqlite3")
    yield server
    server.stop()


@pytest.fixture
def fake(server: Server) -> FakeTwilio:
    return FakeTwilio(server.url)


@pytest.fixture
def account(fake: FakeTwilio) -> Iterator[Account]:
    account = fake.new_account(services=0, numbers=0)  # a team's empty account
    yield account
    fake.drop_account(account)


def test_twilio_python_provisions_from_nothing(fake: FakeTwilio, account: Account) -> None:
    client = fake.client(account)
    service = client.messaging.v1.services.create(friendly_name="Appointment reminders")
    assert service.sid.startswith("MG") and service.account_sid == account.sid
    pool = client.messaging.v1.services(service.sid).phone_numbers
    assert pool.list() == []

    found = client.available_phone_numbers("US").local.list(area_code=415, limit=2)
    assert len(found) == 2 and all(n.phone_number.startswith("+1415") for n in found)
    bought = [client.incoming_phone_numbers.create(phone_number=n.phone_number) for n in found]
    assert [b.phone_number for b in bought] == [n.phone_number for n in found]
    for number in bought:
        added = pool.create(phone_number_sid=number.sid)
        assert (added.sid, added.phone_number, added.country_code) == (
            number.sid,
            number.phone_number,
            "US",
        )
    assert [entry.sid for entry in pool.list()] == [b.sid for b in bought]

    # The errors on the way, as Twilio answers them.
    with raises(400, 21422):
        client.incoming_phone_numbers.create(phone_number="+15005550000")  # not for sale
    with raises(400, 21421):
        client.incoming_phone_numbers.create(phone_number="+15005550001")  # invalid
    with raises(400, 21452):
        client.incoming_phone_numbers.create(area_code="533")  # none for sale there
    with raises(404, 20404):
        client.messaging.v1.services(UNKNOWN_SERVICE).phone_numbers.create(
            phone_number_sid=bought[0].sid
        )
    with raises(400, 21421):
        pool.create(phone_number_sid=OTHER_NUMBER)  # a number of another account
    with raises(409, 21710):
        pool.create(phone_number_sid=bought[0].sid)  # already in this pool

    assert client.incoming_phone_numbers(bought[0].sid).delete() is True  # release
    with raises(404, 20404):
        pool(bought[0].sid).fetch()  # the release took it out of the pool
    assert [entry.sid for entry in pool.list()] == [bought[1].sid]

    assert client.messaging.v1.services(service.sid).delete() is True
    with raises(404, 20404):
        client.messaging.v1.services(service.sid).fetch()
    # The service's pool went with it; the number stays with the account, in no pool.
    assert client.incoming_phone_numbers(bought[1].sid).fetch().sid == bought[1].sid
    other = client.messaging.v1.services.create(friendly_name="Next")
    assert other.phone_numbers.create(phone_number_sid=bought[1].sid).sid == bought[1].sid


def test_twilio_node_provisions_from_nothing(server: Server, account: Account) -> None:
    npm_tools()
    result = subprocess.run(
        ["node", str(ROOT / "tests" / "e2e" / "node" / "provisioning_flow.js")],
        capture_output=True,
        text=True,
        timeout=300,
        env={
            **os.environ,
            "NODE_PATH": str(ROOT / "tools" / "npm" / "node_modules"),
            "FAKE_URL": server.url,
            "ACCOUNT": account.sid,
            "TOKEN": account.auth_token,
            "UNKNOWN_SERVICE": UNKNOWN_SERVICE,
            "OTHER_NUMBER": OTHER_NUMBER,
        },
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert rows["emptyPool"] == []
    assert rows["bought"] == rows["found"] and len(rows["found"]) == 2
    assert rows["pooled"] == rows["boughtSids"]
    assert rows["afterRelease"] == rows["boughtSids"][1:]
    assert rows["serviceRemoved"] is True
    for row, status, code in [
        ("notForSale", 400, 21422),
        ("invalid", 400, 21421),
        ("noneInAreaCode", 400, 21452),
        ("unknownService", 404, 20404),
        ("otherAccountsNumber", 400, 21421),
        ("poolEntryAfterRelease", 404, 20404),
        ("serviceAfterRemove", 404, 20404),
    ]:
        assert (rows[row]["status"], rows[row]["code"]) == (status, code), row
