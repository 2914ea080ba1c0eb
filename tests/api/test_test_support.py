"""What the fake offers test suites: minted accounts, the request journal, injected faults."""

from __future__ import annotations

import json

import pytest

from tests.support import AUTH, NUMBERS, SERVICE, TOKEN, add, app_for, assert_error, pool_path


def mint(client, **sizes: int) -> dict:  # type: ignore[no-untyped-def]
    response = client.post("/_fake/accounts", json=sizes)
    assert response.status_code == 201, response.text
    return response.json()


def add_as(client, account: dict, number: int = 0, service: int = 0):  # type: ignore[no-untyped-def]
    return client.post(
        pool_path(account["services"][service]),
        data={"PhoneNumberSid": account["numbers"][number]},
        auth=(account["sid"], account["auth_token"]),
    )


def journal(client, **filters: object) -> list[dict]:  # type: ignore[no-untyped-def]
    response = client.get("/_fake/requests", params=filters)
    assert response.status_code == 200, response.text
    return response.json()["requests"]


# -- minted accounts ------------------------------------------------------------------------
def test_a_minted_account_has_its_services_and_messaging_numbers(client) -> None:
    account = mint(client, services=2, numbers=4)
    assert account["sid"].startswith("AC") and len(account["sid"]) == 34
    assert len(account["services"]) == 2 and len(account["numbers"]) == 4
    assert all(p.startswith("+1") for p in account["phone_numbers"])
    for number in range(4):
        assert add_as(client, account, number).status_code == 201
    listed = client.get(
        pool_path(account["services"][0]), auth=(account["sid"], account["auth_token"])
    ).json()["phone_numbers"]
    assert [entry["sid"] for entry in listed] == account["numbers"]
    assert {entry["phone_number"] for entry in listed} == set(account["phone_numbers"])


def test_minted_accounts_are_isolated_from_each_other_and_from_the_demo(client) -> None:
    first, second = mint(client), mint(client)
    assert first["sid"] != second["sid"] and first["numbers"][0] != second["numbers"][0]
    # The second account can see nothing of the first's, nor use its number or its service.
    other = (second["sid"], second["auth_token"])
    assert add_as(client, first).status_code == 201
    assert_error(client.get(pool_path(first["services"][0]), auth=other), 404, 20404)
    response = client.post(
        pool_path(second["services"][0]), data={"PhoneNumberSid": first["numbers"][1]}, auth=other
    )
    assert_error(response, 400, 21421)
    assert_error(
        client.get(pool_path(first["services"][0], first["numbers"][0]), auth=other), 404, 20404
    )
    assert_error(client.get(pool_path(first["services"][0]), auth=AUTH), 404, 20404)


def test_the_default_account_has_one_service_and_three_numbers(client) -> None:
    response = client.post("/_fake/accounts")
    assert response.status_code == 201, response.text
    account = response.json()
    assert (len(account["services"]), len(account["numbers"])) == (1, 3)


@pytest.mark.parametrize(
    "body",
    [{"services": 101}, {"numbers": 1001}, {"numbers": -1}, {"numbers": "3"}, {"nmbers": 3}],
)
def test_an_account_request_out_of_bounds_is_400_and_mints_nothing(client, body) -> None:
    before = client.get("/_fake/health").json()
    assert_error(client.post("/_fake/accounts", json=body), 400, 20001)
    assert client.get("/_fake/health").json() == before


def test_dropping_an_account_removes_what_it_owns_and_nothing_else(client) -> None:
    before = client.get("/_fake/health").json()
    add(client, NUMBERS[0])
    account = mint(client, services=2, numbers=3)
    assert add_as(client, account).status_code == 201
    response = client.delete(f"/_fake/accounts/{account['sid']}")
    assert response.status_code == 204 and response.content == b""
    assert client.get("/_fake/health").json() == {**before, "pool_entries": 1}
    assert_error(
        client.get(pool_path(account["services"][0]), auth=(account["sid"], account["auth_token"])),
        401,
        20003,
    )
    assert client.get(pool_path(), auth=AUTH).json()["phone_numbers"][0]["sid"] == NUMBERS[0]
    assert_error(client.delete(f"/_fake/accounts/{account['sid']}"), 404, 20404)


def test_reset_drops_minted_accounts(client) -> None:
    account = mint(client)
    client.post("/_fake/reset").raise_for_status()
    assert_error(
        client.get(pool_path(account["services"][0]), auth=(account["sid"], account["auth_token"])),
        401,
        20003,
    )


# -- the journal ----------------------------------------------------------------------------
def test_the_journal_shows_what_was_sent_newest_first_and_no_credential(client) -> None:
    add(client, NUMBERS[0])
    client.get(pool_path(), params={"PageSize": 2}, auth=AUTH)
    client.get(pool_path(), auth=(AUTH[0], "wrong"))
    entries = journal(client)
    assert [e["operation"] for e in entries] == [
        "ListPhoneNumber",
        "ListPhoneNumber",
        "CreatePhoneNumber",
    ]
    wrong, listed, created = entries
    assert created["method"] == "POST" and created["path"] == pool_path()
    assert created["form"] == {"PhoneNumberSid": NUMBERS[0]}
    assert (created["status"], created["code"], created["account"]) == (201, None, AUTH[0])
    assert created["request_id"].startswith("RQ") and created["injected"] is None
    assert listed["query"] == {"PageSize": "2"} and listed["status"] == 200
    assert (wrong["status"], wrong["code"], wrong["account"]) == (401, 20003, None)
    text = json.dumps(entries)
    assert TOKEN not in text and "wrong" not in text and "Basic" not in text


def test_the_journal_filters_by_account_operation_method_and_status(client) -> None:
    account = mint(client)
    add_as(client, account)
    add_as(client, account)  # 409: already in the pool
    add(client, NUMBERS[0])
    client.get(pool_path(), auth=AUTH)
    mine = journal(client, account=account["sid"])
    assert [(e["status"], e["code"]) for e in mine] == [(409, 21710), (201, None)]
    assert [e["status"] for e in journal(client, operation="CreatePhoneNumber")] == [201, 409, 201]
    assert [e["operation"] for e in journal(client, method="GET")] == ["ListPhoneNumber"]
    assert len(journal(client, status=409)) == 1
    assert len(journal(client, operation="CreatePhoneNumber", limit=1)) == 1
    assert_error(client.get("/_fake/requests", params={"method": "PUT"}), 400, 20001)
    assert_error(client.get("/_fake/requests", params={"status": "x" * 5000}), 400, 20001)


def test_the_journal_records_no_control_request_and_clears(client) -> None:
    client.get("/_fake/health")
    client.post("/_fake/fixtures", json={"accounts": []})
    client.get("/docs/")
    client.get("/")
    assert journal(client) == []
    add(client, NUMBERS[0])
    assert len(journal(client)) == 1
    assert client.delete("/_fake/requests").status_code == 204
    assert journal(client) == []


def test_the_journal_is_bounded_and_forgets_the_oldest_first(backend) -> None:
    with app_for(backend, journal_size=3).test_client() as client:
        for page_size in range(1, 6):
            client.get(pool_path(), params={"PageSize": page_size}, auth=AUTH)
        assert [e["query"]["PageSize"] for e in journal(client)] == ["5", "4", "3"]


def test_a_journal_of_size_zero_records_nothing(backend) -> None:
    with app_for(backend, journal_size=0).test_client() as client:
        add(client, NUMBERS[0])
        assert journal(client) == []


def test_journal_entries_are_bounded_whatever_was_sent(client) -> None:
    form = {f"Field{i}": "v" * 5000 for i in range(100)} | {"PhoneNumberSid": NUMBERS[0]}
    client.post(pool_path(), data=form, auth=AUTH)
    client.get(pool_path(), params=[("Repeated", "x")] * 1000, auth=AUTH)
    listed, created = journal(client)
    assert len(created["form"]) <= 20 and all(len(v) <= 256 for v in created["form"].values())
    assert listed["query"] == {"Repeated": ["x"] * 20}


# -- faults ---------------------------------------------------------------------------------
def arm(client, **fault: object) -> dict:  # type: ignore[no-untyped-def]
    response = client.post("/_fake/faults", json=fault)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_fault_answers_the_next_matching_requests_then_disarms(client) -> None:
    fault = arm(client, operation="CreatePhoneNumber", status=429, times=2)
    assert fault["sid"].startswith("FT") and fault["code"] == 20429
    client.get(pool_path(), auth=AUTH)  # another operation: not matched, not counted
    for _ in range(2):
        body = assert_error(add(client, NUMBERS[0]), 429, 20429)
        assert body["message"] == "Too Many Requests"
    assert client.get("/_fake/faults").json() == {"faults": []}
    assert add(client, NUMBERS[0]).status_code == 201  # the retry gets through
    faulted = journal(client, status=429)
    assert [e["injected"] for e in faulted] == [fault["sid"]] * 2
    assert faulted[0]["form"] == {"PhoneNumberSid": NUMBERS[0]}
    # Nothing was added by the faulted requests: the one entry is the retry's.
    assert client.get("/_fake/health").json()["pool_entries"] == 1


def test_a_fault_matches_by_account_and_method(client) -> None:
    account = mint(client)
    arm(client, account=account["sid"], method="POST", status=500)
    assert add(client, NUMBERS[0]).status_code == 201  # the demo account: not matched
    client.get(pool_path(account["services"][0]), auth=(account["sid"], account["auth_token"]))
    assert_error(add_as(client, account), 500, 20500)
    assert add_as(client, account).status_code == 201


def test_faults_apply_oldest_first_list_and_disarm(client) -> None:
    first = arm(client, status=503)
    second = arm(client, status=500, code=20500, message="Something broke")
    assert [f["sid"] for f in client.get("/_fake/faults").json()["faults"]] == [
        first["sid"],
        second["sid"],
    ]
    assert_error(add(client, NUMBERS[0]), 503, 20503)
    assert_error(add(client, NUMBERS[0]), 500, 20500, "Something broke")
    arm(client, status=429, times=5)
    assert client.delete("/_fake/faults").status_code == 204
    assert add(client, NUMBERS[0]).status_code == 201


def test_an_unauthenticated_request_is_never_faulted(client) -> None:
    arm(client, status=500)
    assert_error(client.get(pool_path(), auth=(AUTH[0], "wrong")), 401, 20003)
    assert len(client.get("/_fake/faults").json()["faults"]) == 1


def test_a_fault_with_a_delay_alone_answers_normally_after_it(client) -> None:
    arm(client, delay=0.3)
    entry = add(client, NUMBERS[0])
    assert entry.status_code == 201
    assert journal(client)[0]["duration_ms"] >= 300


@pytest.mark.parametrize(
    "fault",
    [
        {},
        {"status": 200},
        {"status": 600},
        {"status": 500, "drop": True},
        {"delay": 31},
        {"times": 0},
        {"operation": "SendMessage", "status": 500},
        {"status": 500, "colour": "red"},
    ],
)
def test_a_bad_fault_is_400_and_arms_nothing(client, fault) -> None:
    assert_error(client.post("/_fake/faults", json=fault), 400, 20001)
    assert client.get("/_fake/faults").json() == {"faults": []}


def test_at_most_a_hundred_faults_are_armed(client) -> None:
    for _ in range(100):
        arm(client, status=500, account="AC" + "9" * 32)
    assert_error(client.post("/_fake/faults", json={"status": 500}), 400, 20001)


def test_the_control_token_guards_accounts_journal_and_faults(backend) -> None:
    with app_for(backend, control_token="s3cret").test_client() as client:
        for method, path in [
            ("POST", "/_fake/accounts"),
            ("DELETE", "/_fake/accounts/AC" + "1" * 32),
            ("GET", "/_fake/requests"),
            ("DELETE", "/_fake/requests"),
            ("GET", "/_fake/faults"),
            ("POST", "/_fake/faults"),
            ("DELETE", "/_fake/faults"),
        ]:
            assert_error(client.request(method, path, json={"status": 500}), 401, 20003)
        response = client.post(
            "/_fake/accounts", headers={"Authorization": "Bearer s3cret"}, json={}
        )
        assert response.status_code == 201


def test_the_index_says_where_things_are(client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.json() == {
        "api": "http://testserver/v1/Services/{ServiceSid}/PhoneNumbers",
        "docs": "http://testserver/docs/",
        "contract": "http://testserver/openapi.json",
        "control": "http://testserver/_fake/health",
    }
    assert client.get(response.json()["docs"]).status_code == 200
    assert client.get("/_fake/docs/").status_code == 200
    assert SERVICE in client.get("/openapi.json").text
