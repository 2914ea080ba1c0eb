"""Where Twilio answers differently from a naive fake, both official SDKs see Twilio's answers.

One server, with a pool filled to its limit of 1,100 numbers: more than one page of 1000, and
full. Each row of twilio-behaviour.md that a client can meet is driven through twilio-python here
and through twilio-node (tests/e2e/node/sdk_rows.js); the README's Node example runs as written.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from tests.support import ROOT, Server, npm_tools, raises, serve

ACCOUNT, TOKEN = "AC" + "f" * 32, "fidelity-token"
SERVICE, SERVICE2 = "MG" + "a" * 32, "MG" + "b" * 32
LIMIT = 1100  # the pool limit: more than a page of 1000
NUMBERS = [f"PN{n:032x}" for n in range(1, LIMIT + 2)]  # one more than the pool may hold
VOICE_ONLY = "PN" + "e" * 32


@dataclass
class Pool:
    server: Server

    def client(self, token: str = TOKEN) -> Client:
        client = Client(ACCOUNT, token)
        client.messaging.base_url = self.server.url
        return client


@pytest.fixture(scope="module")
def full_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pool]:
    directory = tmp_path_factory.mktemp("fidelity")
    numbers = [
        {"sid": sid, "phone_number": f"+1415555{n:04d}", "capabilities": ["SMS"]}
        for n, sid in enumerate(NUMBERS)
    ] + [{"sid": VOICE_ONLY, "phone_number": "+14155559999", "capabilities": ["Voice"]}]
    services = [{"sid": SERVICE}, {"sid": SERVICE2}]
    account = {"sid": ACCOUNT, "auth_token": TOKEN, "services": services}
    document = {"accounts": [{**account, "incoming_phone_numbers": numbers}]}
    (directory / "fixtures.yaml").write_text(yaml.safe_dump(document))
    server = serve(
        directory / "fake.sqlite3",
        "--fixtures", str(directory / "fixtures.yaml"), "--pool-limit", str(LIMIT),
    )  # fmt: skip
    session = requests.Session()
    pool_url = f"{server.url}/v1/Services/{SERVICE}/PhoneNumbers"
    for sid in NUMBERS[:LIMIT]:
        response = session.post(pool_url, data={"PhoneNumberSid": sid}, auth=(ACCOUNT, TOKEN))
        assert response.status_code == 201, response.text
    yield Pool(server)
    server.stop()


# -- twilio-python ------------------------------------------------------------------------------
def test_python_pool_full_falls_back_to_the_next_service(full_pool: Pool) -> None:
    """As mozilla/fx-private-relay does it: on 412 with 21714, the number goes to the next one."""
    services = full_pool.client().messaging.v1.services
    number = NUMBERS[LIMIT]
    try:
        services(SERVICE).phone_numbers.create(phone_number_sid=number)
    except TwilioRestException as error:
        assert (error.status, error.code) == (412, 21714)
        assert "Number Pool size limit reached" in error.msg
        added = services(SERVICE2).phone_numbers.create(phone_number_sid=number)
    else:
        pytest.fail("a full pool took another number")
    assert added.service_sid == SERVICE2
    services(SERVICE2).phone_numbers(number).delete()


def test_python_limits_above_1000_walk_the_whole_pool(full_pool: Pool) -> None:
    pool = full_pool.client().messaging.v1.services(SERVICE).phone_numbers
    listed = [number.sid for number in pool.list(limit=5000)]
    assert listed == NUMBERS[:LIMIT]
    assert len(list(pool.stream(limit=1050))) == 1050
    page = pool.page(page_size=5000)
    assert len(list(page)) == 1000 and page.next_page_url is not None


def test_python_voice_only_number_is_21715(full_pool: Pool) -> None:
    with raises(400, 21715):
        full_pool.client().messaging.v1.services(SERVICE2).phone_numbers.create(
            phone_number_sid=VOICE_ONLY
        )


@pytest.mark.parametrize("sid", ["None", "undefined", "+14155550100"])
def test_python_malformed_sids_are_20404(full_pool: Pool, sid: str) -> None:
    services = full_pool.client().messaging.v1.services
    with raises(404, 20404):
        services(SERVICE).phone_numbers(sid).fetch()
    with raises(404, 20404):
        services(sid).phone_numbers.create(phone_number_sid=NUMBERS[LIMIT])


def test_python_malformed_phone_number_sid_in_the_body_is_21421(full_pool: Pool) -> None:
    with raises(400, 21421):
        full_pool.client().messaging.v1.services(SERVICE2).phone_numbers.create(
            phone_number_sid="None"
        )


def test_python_page_number_is_client_state(full_pool: Pool) -> None:
    page = (
        full_pool.client()
        .messaging.v1.services(SERVICE)
        .phone_numbers.page(page_number=3, page_size=2)
    )
    assert [number.sid for number in page] == NUMBERS[:2]
    assert "Page=4" in page.next_page_url


def test_python_request_layer_unknown_parameters_ignored_wrong_case_missing(
    full_pool: Pool,
) -> None:
    """What a shared wrapper sends through the SDK's own HTTP layer."""
    client = full_pool.client()
    pool = f"{full_pool.server.url}/v1/Services/{SERVICE2}/PhoneNumbers"
    extra = {"PhoneNumberSid": NUMBERS[LIMIT], "FriendlyName": "ignored", "_": "1"}
    assert client.request("POST", pool, data=extra).status_code == 201
    assert client.request("GET", pool, params={"_": "1700000000"}).status_code == 200
    assert client.request("DELETE", f"{pool}/{NUMBERS[LIMIT]}").status_code == 204
    wrong_case = client.request("POST", pool, data={"phoneNumberSid": NUMBERS[LIMIT]})
    assert wrong_case.status_code == 400
    assert json.loads(wrong_case.text)["message"] == (
        "Missing required parameter PhoneNumberSid in the post body"
    )
    slash = client.request("GET", pool + "/")
    assert (slash.status_code, json.loads(slash.text)["code"]) == (404, 20404)


def test_python_wrong_token_is_401(full_pool: Pool) -> None:
    pool = full_pool.client(TOKEN + "-wrong").messaging.v1.services(SERVICE).phone_numbers
    with raises(401, 20003):
        pool(NUMBERS[0]).fetch()
    with pytest.raises(TwilioException):  # list() raises the base class, as against Twilio
        pool.list()


# -- twilio-node --------------------------------------------------------------------------------
def node(script: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NODE_PATH": str(npm_tools()), **env},
    )


def test_node_sdk_sees_twilios_answers(full_pool: Pool) -> None:
    result = node(
        ROOT / "tests" / "e2e" / "node" / "sdk_rows.js",
        {
            "FAKE_URL": full_pool.server.url, "ACCOUNT": ACCOUNT, "TOKEN": TOKEN,
            "SERVICE": SERVICE, "SERVICE2": SERVICE2, "FULL_NUMBER": NUMBERS[LIMIT],
            "VOICE_ONLY": VOICE_ONLY,
        },
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert (rows["poolFull"]["status"], rows["poolFull"]["code"]) == (412, 21714)
    assert rows["fallback"] == {"sid": NUMBERS[LIMIT], "serviceSid": SERVICE2}
    assert rows["listLimit2000"] == {"count": LIMIT, "unique": LIMIT}
    assert rows["eachLimit1500"] == LIMIT
    assert (rows["voiceOnly"]["status"], rows["voiceOnly"]["code"]) == (400, 21715)
    assert (rows["undefinedService"]["status"], rows["undefinedService"]["code"]) == (404, 20404)
    assert (rows["noneNumber"]["status"], rows["noneNumber"]["code"]) == (404, 20404)
    assert (rows["wrongToken"]["status"], rows["wrongToken"]["code"]) == (401, 20003)
    assert rows["pageNumber"]["sids"] == NUMBERS[:2] and "Page=4" in rows["pageNumber"]["next"]
    assert (rows["badToken"]["status"], rows["badToken"]["code"]) == (400, 21481)
    assert (rows["unknownField"], rows["cacheBuster"]) == (201, 200)
    assert (rows["malformedBodySid"]["status"], rows["malformedBodySid"]["code"]) == (400, 21421)


def test_the_readme_node_example_runs_as_written(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    (example,) = re.findall(r"```js\n(.*?)```", readme, flags=re.DOTALL)
    with serve(tmp_path / "readme.sqlite3") as server:
        # The example's only change: the fake's address in this test instead of port 8080.
        script = tmp_path / "example.js"
        script.write_text(example.replace("http://127.0.0.1:8080", server.url))
        result = node(script, {})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().replace("'", '"')) == [
        "PN00000000000000000000000000000001"
    ]
