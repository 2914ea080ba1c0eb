"""What the fake offers test suites: minted accounts, the request journal, injected faults."""

from __future__ import annotations

import json
import re

import pytest

from tests.support import (
    AUTH,
    NUMBERS,
    SERVICE,
    TOKEN,
    add,
    app_for,
    assert_error,
    pool_path,
    post_in_pieces,
)
from twilio_fake import journal as journal_module
from twilio_fake.spec import document as spec_document


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


def written(text: str) -> int:
    """Bytes of a string as the journal's JSON writes it, without the quotes."""
    return len(json.dumps(text)) - 2


def test_journal_entries_are_bounded_whatever_was_sent(client) -> None:
    # A form under the body limit, so that it is read: the first fields are kept.
    form = {"PhoneNumberSid": NUMBERS[0]} | {f"Field{i}": "v" * 300 for i in range(40)}
    assert add(client, NUMBERS[1]).status_code == 201  # a 409 below, after the body is read
    assert client.post(pool_path(), data=form | {"PhoneNumberSid": NUMBERS[1]}, auth=AUTH)
    client.get(pool_path(), params=[("Repeated", "x")] * 1000, auth=AUTH)
    listed, created, _ = journal(client)
    assert created["status"] == 409  # the body was read
    cut = "v" * (journal_module.MAX_VALUE_BYTES - 3) + "..."
    names = ["PhoneNumberSid", *(f"Field{i}" for i in range(journal_module.MAX_PARAMETERS - 1))]
    assert created["form"] == {"PhoneNumberSid": NUMBERS[1]} | {name: cut for name in names[1:]}
    assert listed["query"] == {"Repeated": ["x"] * journal_module.MAX_PARAMETERS}


def test_journal_values_and_paths_are_cut_by_the_bytes_they_are_written_in(client) -> None:
    """`%01` is one character, written as six bytes (\\u0001): the cut counts bytes."""
    control = "\x01" * 300
    long_path = pool_path() + "/" + "P" * 2000
    client.get(pool_path(), params={"Name" + "\x01" * 100: control}, auth=AUTH)
    client.get(long_path, auth=AUTH)
    by_path, by_value = journal(client)
    ((name, value),) = by_value["query"].items()
    limit = journal_module.MAX_VALUE_BYTES
    assert value == "\x01" * ((limit - 3) // 6) + "..." and written(value) <= limit
    assert name == "Name" + "\x01" * ((limit - 7) // 6) + "..." and written(name) <= limit
    assert by_path["path"] == long_path[: journal_module.MAX_PATH_BYTES - 3] + "..."
    assert by_path["status"] == 404


def test_the_journal_is_read_a_page_at_a_time_by_default(client) -> None:
    parameter = next(
        p
        for p in spec_document("control.yaml")["paths"]["/_fake/requests"]["get"]["parameters"]
        if p["name"] == "page_size"
    )
    default, maximum = parameter["schema"]["default"], parameter["schema"]["maximum"]
    for page_size in range(default + 5):
        client.get(pool_path(), params={"PageSize": page_size + 1}, auth=AUTH)
    client.post(pool_path(), data={"PhoneNumberSid": NUMBERS[0]}, auth=AUTH)
    first = client.get("/_fake/requests").json()
    assert len(first["requests"]) == default and first["next_cursor"]
    assert first["requests"][0]["operation"] == "CreatePhoneNumber"
    rest = client.get("/_fake/requests", params={"cursor": first["next_cursor"]}).json()
    assert rest["next_cursor"] is None
    sizes = [int(e["query"]["PageSize"]) for e in first["requests"][1:] + rest["requests"]]
    assert sizes == list(range(default + 5, 0, -1))  # each once, newest first
    # The filters apply on every page; a page of the filtered entries, then the next.
    page = client.get("/_fake/requests", params={"method": "GET", "page_size": 3}).json()
    assert [e["query"]["PageSize"] for e in page["requests"]] == [
        str(default + 5 - i) for i in range(3)
    ]
    page = client.get(
        "/_fake/requests", params={"method": "GET", "page_size": 3, "cursor": page["next_cursor"]}
    ).json()
    assert [e["query"]["PageSize"] for e in page["requests"]] == [
        str(default + 2 - i) for i in range(3)
    ]
    assert len(journal(client, limit=2)) == 2  # the former name of page_size
    assert_error(client.get("/_fake/requests", params={"page_size": maximum + 1}), 400, 20001)
    for cursor in ["JE", "JEx1", "1", "JE" + "9" * 30, "JE\u0661"]:
        assert_error(client.get("/_fake/requests", params={"cursor": cursor}), 400, 20001)


def test_a_page_of_the_journal_is_bounded_in_bytes(client) -> None:
    """Each entry as large as its bounds let it be: a page stops before 1 MiB, and the pages
    together give every entry once."""
    fields = {f"F{i}" + "\x01" * 90: "\x01" * 90 for i in range(journal_module.MAX_PARAMETERS)}
    requests_sent = 100
    for _ in range(requests_sent):
        client.get(pool_path(), params=fields, auth=AUTH)
    seen, cursor, pages = 0, None, 0
    while True:
        params = {"page_size": requests_sent} | ({"cursor": cursor} if cursor else {})
        response = client.get("/_fake/requests", params=params)
        assert len(response.content) <= journal_module.MAX_PAGE_BYTES
        page = response.json()
        assert all(len(entry["query"]) == len(fields) for entry in page["requests"])
        seen, pages, cursor = seen + len(page["requests"]), pages + 1, page["next_cursor"]
        if cursor is None:
            break
    assert seen == requests_sent and pages > 1


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


def test_an_injected_401_is_worded_as_its_api_words_it(client) -> None:
    arm(client, operation="ListMessage", status=401)
    arm(client, operation="ListService", status=401)
    messages = f"/2010-04-01/Accounts/{AUTH[0]}/Messages.json"
    on_2010 = assert_error(client.get(messages, auth=AUTH), 401, 20003, "Authenticate")
    on_v1 = assert_error(client.get("/v1/Services", auth=AUTH), 401, 20003)
    assert on_v1["message"] == "Authentication Error - invalid username"
    assert on_2010["detail"] == on_v1["detail"] == "Your AccountSid or AuthToken was incorrect."
    arm(client, operation="ListMessage", status=401, message="Own words")
    assert_error(client.get(messages, auth=AUTH), 401, 20003, "Own words")


def test_the_journal_keeps_a_body_as_a_form_only_if_it_was_read_as_one(client) -> None:
    messages = f"/2010-04-01/Accounts/{AUTH[0]}/Messages.json"
    body = "To=%2B15005550006&Body=hi"
    for content_type in ("application/x-www-form-urlencoded-x", "text/plain"):
        response = client.post(
            messages, content=body, headers={"Content-Type": content_type}, auth=AUTH
        )
        assert_error(response, 400, 21604)  # read as no parameters
    assert [entry["form"] for entry in journal(client, status=400)] == [{}, {}]


def test_a_fault_matches_by_account_and_method(client) -> None:
    account = mint(client)
    arm(client, account=account["sid"], method="POST", status=500)
    assert add(client, NUMBERS[0]).status_code == 201  # the demo account: not matched
    client.get(pool_path(account["services"][0]), auth=(account["sid"], account["auth_token"]))
    assert_error(add_as(client, account), 500, 20500)
    assert add_as(client, account).status_code == 201


def test_faults_apply_oldest_first_list_and_disarm(client) -> None:
    first = arm(client, status=429)
    second = arm(client, status=500, code=20501, message="Something broke")
    assert [f["sid"] for f in client.get("/_fake/faults").json()["faults"]] == [
        first["sid"],
        second["sid"],
    ]
    assert_error(add(client, NUMBERS[0]), 429, 20429)
    assert_error(add(client, NUMBERS[0]), 500, 20501, "Something broke")
    arm(client, status=429, times=5)
    assert client.delete("/_fake/faults").status_code == 204
    assert add(client, NUMBERS[0]).status_code == 201


def test_a_fault_counts_its_applications(client) -> None:
    fault = arm(client, operation="ListPhoneNumber", status=500, times=3)
    for applied in (1, 2):
        assert_error(client.get(pool_path(), auth=AUTH), 500, 20500)
        (armed,) = client.get("/_fake/faults").json()["faults"]
        assert (armed["sid"], armed["applied"], armed["times"]) == (
            fault["sid"],
            applied,
            3 - applied,
        )


def test_dropping_an_account_disarms_its_faults_and_no_others(client) -> None:
    account, other = mint(client), mint(client)
    arm(client, account=account["sid"], status=500, times=5)
    kept = [arm(client, account=other["sid"], status=500), arm(client, status=429, method="GET")]
    assert client.delete(f"/_fake/accounts/{account['sid']}").status_code == 204
    armed = client.get("/_fake/faults").json()["faults"]
    assert [fault["sid"] for fault in armed] == [fault["sid"] for fault in kept]


def test_a_teardown_after_a_reset_still_disarms_the_accounts_faults(client) -> None:
    """The plugin drops each test's account after it; if a reset dropped it first, that is a
    404, and the faults armed for it go all the same."""
    account = mint(client)
    arm(client, account=account["sid"], status=500)
    client.post("/_fake/reset").raise_for_status()
    assert_error(client.delete(f"/_fake/accounts/{account['sid']}"), 404, 20404)
    assert client.get("/_fake/faults").json() == {"faults": []}


def declared_statuses() -> dict[str, set[int]]:
    """operationId -> the error statuses openapi.yaml declares for it."""
    return {
        operation["operationId"]: {int(s) for s in operation["responses"] if int(s) >= 400}
        for item in spec_document("openapi.yaml")["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "responses" in operation
    }


def test_an_injected_answer_is_one_the_operation_declares_with_its_headers(client) -> None:
    """Each declared error status of each operation, injected: the status, Twilio's body and
    the headers the contract requires of that answer (Retry-After on a 429, Allow on a 405)."""
    spec = spec_document("openapi.yaml")
    account = mint(client)
    credentials = (account["sid"], account["auth_token"])
    service, number = account["services"][0], account["numbers"][0]
    requests_of = {
        "CreatePhoneNumber": ("POST", pool_path(service), {"PhoneNumberSid": number}),
        "ListPhoneNumber": ("GET", pool_path(service), None),
        "FetchPhoneNumber": ("GET", pool_path(service, number), None),
        "DeletePhoneNumber": ("DELETE", pool_path(service, number), None),
    }
    # The pool's operations; those of the other resources answer the same injected statuses
    # through the same code, and every answer in these tests is validated against the spec.
    for operation, statuses in declared_statuses().items():
        if operation not in requests_of:
            continue
        method, path, form = requests_of[operation]
        for status in sorted(statuses):
            arm(client, operation=operation, account=account["sid"], status=status)
            response = client.request(method, path, data=form, auth=credentials)
            assert response.status_code == status, (operation, response.text)
            assert response.json()["status"] == status
            declared = next(
                o
                for item in spec["paths"].values()
                for o in item.values()
                if isinstance(o, dict) and o.get("operationId") == operation
            )["responses"][str(status)]
            declared = spec["components"]["responses"][declared["$ref"].split("/")[-1]]
            for name, header in declared.get("headers", {}).items():
                schema = spec["components"]["headers"][header["$ref"].split("/")[-1]]
                if schema.get("required"):
                    assert name in response.headers, (operation, status, name)
                    if schema["schema"]["type"] == "integer":
                        assert response.headers[name].isdigit()
    assert client.get("/_fake/faults").json() == {"faults": []}


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (400, 20001, "Injected fault"),  # 20001 has many messages: none is the default
        (401, 20003, "Authentication Error - invalid username"),
        (404, 20404, "Injected fault"),  # the fake's own 404 names the resource: none here
        (405, 20004, "Method not allowed"),
        (409, 21710, "Phone Number or Short Code is already in the Messaging Service."),
        (412, 21714, "Number Pool size limit reached"),
        (429, 20429, "Too Many Requests"),
        (500, 20500, "Internal Server Error"),
    ],  # fmt: skip
)
def test_an_injected_error_has_the_fakes_own_code_and_message_for_its_status(
    client, status, code, message
) -> None:
    arm(client, operation="CreatePhoneNumber", status=status)
    response = add(client, NUMBERS[0])
    assert_error(response, status, code, message)
    assert ("retry-after" in response.headers) == (status == 429)
    assert ("allow" in response.headers) == (status == 405)
    if status == 405:  # the methods of the path, as the fake's own 405 names them
        assert response.headers["allow"] == client.put(pool_path(), auth=AUTH).headers["allow"]


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 503},  # declared by no operation
        {"status": 409},  # declared by CreatePhoneNumber only: a fault for any operation
        {"status": 409, "method": "GET"},
        {"status": 412, "operation": "ListPhoneNumber"},
        {"status": 403, "operation": "CreatePhoneNumber"},
    ],
)
def test_a_status_the_operation_does_not_declare_is_refused(client, fault) -> None:
    message = assert_error(client.post("/_fake/faults", json=fault), 400, 20001)["message"]
    refusing = re.search(r": (\w+) does not declare", message)
    assert refusing is not None and f"does not declare {fault['status']}" in message
    declared = ", ".join(str(s) for s in sorted(declared_statuses()[refusing[1]]))
    assert message.endswith(f"(it declares {declared})")
    assert client.get("/_fake/faults").json() == {"faults": []}


def test_a_delay_longer_than_the_body_timeout_still_reads_the_body(backend) -> None:
    """The body is read before the delay: the request is answered, not timed out, and the
    journal has its form."""
    with app_for(backend, body_timeout=0.2).test_client() as client:
        arm(client, operation="CreatePhoneNumber", delay=0.5)
        assert add(client, NUMBERS[0]).status_code == 201
        (created,) = journal(client)
        assert created["form"] == {"PhoneNumberSid": NUMBERS[0]} and created["status"] == 201
        arm(client, operation="CreatePhoneNumber", delay=0.5, status=429)
        assert_error(add(client, NUMBERS[1]), 429, 20429)
        assert journal(client)[0]["form"] == {"PhoneNumberSid": NUMBERS[1]}


@pytest.mark.parametrize("fault", [{"status": 429}, {"status": 429, "delay": 0.01}])
def test_a_fault_that_answers_answers_a_body_that_stops_coming_all_the_same(backend, fault) -> None:
    """A fault that answers stops waiting for a body that breaks the body's deadline, and
    answers; only a fault that lets the request through (a delay alone) gives it the 408."""
    body = f"PhoneNumberSid={NUMBERS[0]}".encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Content-Length": str(len(body)),
    }
    with app_for(backend, body_timeout=0.1).test_client() as client:
        arm(client, operation="CreatePhoneNumber", **fault)
        stopped = post_in_pieces(client, pool_path(), [body[:10]], headers, stall=True)
        assert_error(stopped, 429, 20429)
        arm(client, operation="CreatePhoneNumber", delay=0.01)
        stopped = post_in_pieces(client, pool_path(), [body[:10]], headers, stall=True)
        assert_error(stopped, 408, 20001)


@pytest.mark.parametrize("fault", [{"delay": 0.5}, {"status": 429}, {"delay": 0.5, "status": 500}])
def test_a_faulted_body_that_comes_in_pieces_is_read_whole(backend, fault) -> None:
    """The body is read to its end before the fault applies, however many pieces it comes
    in, and before the delay (longer than the body's deadline here): the journal has the
    whole form, and a delay alone still answers normally."""
    body = f"PhoneNumberSid={NUMBERS[0]}&FriendlyName=pieces".encode()
    with app_for(backend, body_timeout=0.25).test_client() as client:
        arm(client, operation="CreatePhoneNumber", **fault)
        response = post_in_pieces(
            client,
            pool_path(),
            [body[:10], body[10:20], body[20:]],
            {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(len(body))},
        )
        assert response.status_code == fault.get("status", 201), response.text
        (sent,) = journal(client)
    assert sent["form"] == {"PhoneNumberSid": NUMBERS[0], "FriendlyName": "pieces"}


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
    ("fault", "says"),
    [
        ({}, "A fault needs a status, a delay or drop: true"),
        ({"status": 200}, "status"),
        ({"status": 600}, "status"),
        ({"status": 500, "drop": True}, "A fault either answers with a status or drops: not both"),
        ({"delay": 31}, "delay"),
        ({"times": 0}, "times"),
        ({"operation": "SendMessage", "status": 500}, "operation"),
        ({"status": 500, "colour": "red"}, "colour"),
        (
            {"operation": "ListPhoneNumber", "method": "POST", "status": 500},
            "No operation is ListPhoneNumber with method POST",
        ),
    ],
)
def test_a_bad_fault_is_400_naming_why_and_arms_nothing(client, fault, says) -> None:
    assert says in assert_error(client.post("/_fake/faults", json=fault), 400, 20001)["message"]
    assert client.get("/_fake/faults").json() == {"faults": []}


@pytest.mark.parametrize("delay", ["NaN", "Infinity"])
def test_a_delay_json_has_no_number_for_is_400_and_arms_nothing(client, delay: str) -> None:
    """A NaN delay was armed, listed as invalid JSON, then made its operation a 500."""
    body = f'{{"operation": "ListService", "delay": {delay}}}'
    response = client.post(
        "/_fake/faults", content=body, headers={"Content-Type": "application/json"}
    )
    assert "is not a JSON number" in assert_error(response, 400, 20001)["message"]
    assert client.get("/_fake/faults").json() == {"faults": []}


def test_a_fault_is_listed_as_armed(client) -> None:
    """What arming answers, and lists: the SID, and only what the fault was given."""
    delayed = arm(client, delay=0.5)
    dropping = arm(client, drop=True, operation="FetchPhoneNumber")
    conflict = arm(client, status=409, operation="CreatePhoneNumber", method="POST")
    for fault in (delayed, dropping, conflict):
        assert re.fullmatch(r"FT[0-9a-f]{32}", fault["sid"])
    assert [(f["status"], f["code"], f["message"], f["drop"]) for f in (delayed, dropping)] == [
        (None, None, None, False),
        (None, None, None, True),
    ]
    assert (conflict["status"], conflict["code"], conflict["drop"]) == (409, 21710, False)
    assert client.get("/_fake/faults").json()["faults"] == [delayed, dropping, conflict]


def test_at_most_a_hundred_faults_are_armed(client) -> None:
    for _ in range(100):
        arm(client, status=500, account="AC" + "9" * 32)
    message = assert_error(client.post("/_fake/faults", json={"status": 500}), 400, 20001)[
        "message"
    ]
    assert message == "100 faults are armed already: DELETE /_fake/faults first"


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
