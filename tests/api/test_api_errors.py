"""Errors from every layer (validation, routing, methods, media types) leave in Twilio's shape,
and every response carries Twilio's headers."""

from __future__ import annotations

import logging
import re

import pytest

from tests.support import (
    AUTH,
    KEY,
    KEY_SECRET,
    NUMBERS,
    SERVICE,
    add,
    app_for,
    assert_error,
    pool_path,
)
from twilio_fake.edge import CORS_HEADERS
from twilio_fake.resources.pool import model as pool


# Each of these follows a row of twilio-behaviour.md (the fake used to answer 400 20001).
@pytest.mark.parametrize(
    "data",
    [{}, {"phoneNumberSid": NUMBERS[0]}, {"PhoneNumberSID": NUMBERS[0], "Other": "x"}],
    ids=["nothing", "wrong case", "wrong case and another"],
)
def test_a_missing_phone_number_sid_is_20001_and_a_wrong_case_is_missing(client, data) -> None:
    message = "Missing required parameter PhoneNumberSid in the post body"
    assert_error(client.post(pool_path(), data=data, auth=AUTH), 400, 20001, message)
    assert client.get(pool_path(), auth=AUTH).json()["phone_numbers"] == []


@pytest.mark.parametrize(
    "sid", ["", "PN123", "MG" + "0" * 32, "PN" + "g" * 32, "None", "undefined", "+14155550100"]
)
def test_a_malformed_phone_number_sid_is_21421_and_changes_nothing(client, sid: str) -> None:
    body = assert_error(
        client.post(pool_path(), data={"PhoneNumberSid": sid}, auth=AUTH), 400, 21421
    )
    assert "PhoneNumberSid" in body["message"]
    assert client.get(pool_path(), auth=AUTH).json()["phone_numbers"] == []


def test_unknown_form_and_query_parameters_are_ignored(client) -> None:
    data = {"PhoneNumberSid": NUMBERS[0], "FriendlyName": "x", "_": "1"}
    assert client.post(pool_path(), data=data, auth=AUTH).status_code == 201
    listed = client.get(pool_path(), params={"_": "1700000000", "pagesize": "x"}, auth=AUTH)
    assert listed.status_code == 200
    assert [n["sid"] for n in listed.json()["phone_numbers"]] == [NUMBERS[0]]
    fetched = client.get(pool_path(sid=NUMBERS[0]), params={"cache": "busting"}, auth=AUTH)
    assert fetched.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/v1/Services/MG123/PhoneNumbers",
        "/v1/Services/None/PhoneNumbers",
        "/v1/Services/undefined/PhoneNumbers",
        "/v1/Services/PN00000000000000000000000000000001/PhoneNumbers",
        f"/v1/Services/{SERVICE}/PhoneNumbers/PN123",
        f"/v1/Services/{SERVICE}/PhoneNumbers/None",
        f"/v1/Services/{SERVICE}/PhoneNumbers/+14155550100",
        f"/v1/Services/{SERVICE}/PhoneNumbers/MG00000000000000000000000000000001",
    ],
)
def test_malformed_sids_in_the_path_are_20404_naming_the_resource(client, path: str) -> None:
    message = f"The requested resource {path.removeprefix('/v1')} was not found"
    if path.endswith("/PhoneNumbers"):
        assert_error(client.get(path, auth=AUTH), 404, 20404, message)
        added = client.post(path, data={"PhoneNumberSid": NUMBERS[0]}, auth=AUTH)
        assert_error(added, 404, 20404, message)
    else:
        assert_error(client.get(path, auth=AUTH), 404, 20404, message)
        assert_error(client.delete(path, auth=AUTH), 404, 20404, message)


@pytest.mark.parametrize(
    "path",
    [pool_path() + "/", pool_path(sid=NUMBERS[0]) + "/", "/v1/Services/", "/v1/"],
)
def test_a_trailing_slash_is_a_twilio_404_not_a_redirect(client, path: str) -> None:
    response = client.get(path, auth=AUTH, follow_redirects=False)
    message = f"The requested resource {path.removeprefix('/v1')} was not found"
    assert_error(response, 404, 20404, message)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded ; charset=utf-8",
        " Application/X-WWW-Form-Urlencoded;charset=UTF-8",
        "application/x-www-form-urlencoded",
    ],
)
def test_a_form_is_read_as_one_however_its_type_is_spaced_or_cased(client, content_type) -> None:
    headers = {"Content-Type": content_type}
    response = client.post(
        pool_path(), content=f"PhoneNumberSid={NUMBERS[0]}", headers=headers, auth=AUTH
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("content_type", "payload"),
    [
        ("application/json", b'{"PhoneNumberSid": "PN00000000000000000000000000000001"}'),
        ("text/plain", b"PhoneNumberSid=PN00000000000000000000000000000001"),
        ("multipart/form-data; boundary=x", b"--x--"),
        (None, b"PhoneNumberSid=PN00000000000000000000000000000001"),
    ],
)
def test_a_body_that_is_not_a_form_is_read_as_no_parameters(client, content_type, payload) -> None:
    """Twilio reads parameters from a form body only: another body is a request without them
    (a JSON body's message create is 21604, its `To` missing: docs/fidelity.md)."""
    before = client.get(pool_path(), auth=AUTH).json()["phone_numbers"]
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(pool_path(), content=payload, headers=headers, auth=AUTH)
    assert_error(response, 400, 20001, "Missing required parameter PhoneNumberSid in the post body")
    assert client.get(pool_path(), auth=AUTH).json()["phone_numbers"] == before


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", pool_path(), "GET, POST"),
        ("PATCH", pool_path(), "GET, POST"),
        ("DELETE", pool_path(), "GET, POST"),
        ("POST", pool_path(sid=NUMBERS[0]), "DELETE, GET"),
        ("PUT", pool_path(sid=NUMBERS[0]), "DELETE, GET"),
        (
            "OPTIONS",
            pool_path(),
            "GET, POST",
        ),  # without Access-Control-Request-Method: no preflight
    ],
)
def test_a_wrong_method_is_405_with_allow(client, method, path, allow) -> None:
    response = client.request(method, path, auth=AUTH)
    assert_error(response, 405, 20004)
    assert response.headers["allow"] == allow


@pytest.mark.parametrize(
    ("path", "resource"),
    [
        ("/index.html", "/index.html"),
        ("/v2/Services", "/v2/Services"),
        ("/v1", "/v1"),
        ("/_fake/nothing", "/_fake/nothing"),
        (f"/v1/Services/{SERVICE}/ShortCodes", f"/Services/{SERVICE}/ShortCodes"),
        (
            f"/v1/Services/{SERVICE}/PhoneNumbers/{NUMBERS[0]}/Extra",
            f"/Services/{SERVICE}/PhoneNumbers/{NUMBERS[0]}/Extra",
        ),
    ],
)
def test_an_unknown_route_is_20404(client, path, resource) -> None:
    assert_error(
        client.get(path, auth=AUTH), 404, 20404, f"The requested resource {resource} was not found"
    )


@pytest.mark.parametrize(
    "path",
    [
        # Found by schemathesis: these fell through connexion's router to Flask's, which matched
        # them and failed with a 500.
        "/v1/Services/AB%0A/PhoneNumbers",
        "/v1/Services/AB%2F/PhoneNumbers",
        f"/v1/Services/{SERVICE}/PhoneNumbers/%0APN",
        "/v1/Services/%0A%0A/PhoneNumbers/PN1",
    ],
)
def test_paths_connexion_does_not_route_are_404_not_500(client, path) -> None:
    for method in ("GET", "POST", "DELETE"):
        assert_error(client.request(method, path, auth=AUTH), 404, 20404)


def test_no_error_is_problem_json_or_html(client) -> None:
    responses = [
        client.get("/nowhere"),
        client.put(pool_path()),
        client.get(pool_path()),
        client.post(pool_path(), json={}, auth=AUTH),
        client.get(pool_path(), params={"PageSize": "x"}, auth=AUTH),
    ]
    for response in responses:
        assert response.headers["content-type"] == "application/json"
        assert set(response.json()) >= {"code", "message", "more_info", "status"}


# -- headers ----------------------------------------------------------------------------------
def test_every_response_carries_the_request_id_and_cors_headers(client) -> None:
    responses = [
        client.post(pool_path(), data={"PhoneNumberSid": NUMBERS[0]}, auth=AUTH),
        client.get(pool_path(), auth=AUTH),
        client.get(pool_path(sid=NUMBERS[0]), auth=AUTH),
        client.delete(pool_path(sid=NUMBERS[0]), auth=AUTH),
        client.get(pool_path(sid=NUMBERS[0]), auth=AUTH),  # 404
        client.get(pool_path()),  # 401
        client.put(pool_path(), auth=AUTH),  # 405
        client.get("/nowhere"),  # unknown route
        client.get("/_fake/health"),
        client.get("/openapi.json"),
    ]
    ids = set()
    for response in responses:
        assert re.fullmatch(r"RQ[0-9a-f]{32}", response.headers["twilio-request-id"]), (
            response.request.url
        )
        ids.add(response.headers["twilio-request-id"])
        control = response.request.url.path.startswith("/_fake/")
        for name, value in CORS_HEADERS.items():
            # The control surface gives browsers no CORS approval (a page must not drive it).
            assert response.headers.get(name) == (None if control else value)
        assert float(response.headers["twilio-request-duration"]) >= 0
    assert len(ids) == len(responses)


def test_a_cors_preflight_is_answered_without_credentials(client) -> None:
    response = client.options(
        pool_path(),
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-methods"] == "GET, POST, DELETE, OPTIONS"
    assert "Authorization" in response.headers["access-control-allow-headers"]
    assert re.fullmatch(r"RQ[0-9a-f]{32}", response.headers["twilio-request-id"])
    assert "twilio-request-duration" in response.headers


FOREIGN_PAGES = [
    {"Origin": "https://elsewhere.example"},
    {"Origin": "null"},  # a sandboxed frame, a file
    {"Origin": "http://testserver:8081"},  # another port is another origin
    {"Sec-Fetch-Site": "cross-site"},
]


@pytest.mark.parametrize("page", FOREIGN_PAGES)
@pytest.mark.parametrize("credentials", [AUTH, (KEY, KEY_SECRET)], ids=["auth token", "API key"])
def test_the_demos_public_credentials_are_refused_to_a_page_of_another_origin(
    client, page, credentials
) -> None:
    """The README prints them: a page elsewhere must not drive the demo's pools through the
    developer's browser (docs/decisions/0002-the-demo-credentials-stay-home.md)."""
    assert add(client, NUMBERS[0]).status_code == 201
    for method, path, data in [
        ("DELETE", pool_path(sid=NUMBERS[0]), None),
        ("POST", pool_path(), {"PhoneNumberSid": NUMBERS[1]}),
        ("GET", pool_path(), None),
    ]:
        refused = client.request(method, path, data=data, headers=page, auth=credentials)
        body = assert_error(
            refused, 401, 20003, "Authentication Error - the demo credentials are public"
        )
        assert "mint an account" in body["detail"]
        assert refused.headers["access-control-allow-origin"] == "*"  # the page can read why
    listed = client.get(pool_path(), auth=AUTH).json()["phone_numbers"]
    assert [entry["sid"] for entry in listed] == [NUMBERS[0]]


def test_the_demos_credentials_work_from_the_fakes_own_pages_and_without_a_browser(client) -> None:
    own = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    assert add(client, NUMBERS[0]).status_code == 201  # no Origin: curl, the SDKs
    assert client.get(pool_path(), headers=own, auth=AUTH).status_code == 200  # Swagger UI


@pytest.mark.parametrize("page", FOREIGN_PAGES)
def test_an_account_with_a_secret_of_its_own_answers_any_origin_as_twilio_does(
    client, page
) -> None:
    account = client.post("/_fake/accounts").json()
    credentials = (account["sid"], account["auth_token"])
    response = client.post(
        pool_path(account["services"][0]),
        data={"PhoneNumberSid": account["numbers"][0]},
        headers=page,
        auth=credentials,
    )
    assert response.status_code == 201
    assert response.headers["access-control-allow-origin"] == "*"


def test_an_unexpected_failure_is_a_twilio_shaped_500(app, monkeypatch) -> None:
    def broken(*_args, **_kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(pool, "get", broken)  # a fault the fake cannot produce on its own
    with app.test_client(raise_server_exceptions=False) as client:
        response = client.get(pool_path(sid=NUMBERS[0]), auth=AUTH)
    assert_error(response, 500, 20500, "Internal Server Error")
    assert "fire" not in response.text


def test_an_oversized_host_is_not_copied_into_answers(client, backend) -> None:
    huge = {"Host": "h" * 1_000_000}
    refused = client.get(pool_path(), headers=huge, auth=AUTH)  # bound to loopback: refused
    assert_error(refused, 403, 20403)
    assert len(refused.content) < 1000
    with app_for(backend, allowed_hosts="*").test_client() as any_host:
        response = any_host.get(pool_path(), headers=huge, auth=AUTH)
    assert response.status_code == 200 and len(response.content) < 2000
    assert "hhhh" not in response.json()["meta"]["url"]


def test_a_long_path_is_cut_in_the_log(client, caplog) -> None:
    caplog.set_level(logging.INFO, logger="twilio_fake.requests")
    client.get("/v1/" + "x" * 65_000, auth=AUTH)
    (line,) = [r.getMessage() for r in caplog.records if r.name == "twilio_fake.requests"]
    assert len(line) < 1000 and "(65004 characters)" in line


def test_a_form_of_too_many_fields_is_a_400_and_one_log_line(client, caplog) -> None:
    """starlette's form parser stops at 1,000 fields: that is the client's error, in Twilio's
    shape, logged as the request's one line (it used to be a 500 and a 75-line traceback)."""
    caplog.set_level(logging.INFO)
    body = "PhoneNumberSid=" + NUMBERS[0] + "&" + "&".join(f"F{i}=v" for i in range(1001))
    response = client.post(
        pool_path(),
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=AUTH,
    )
    assert "Too many fields" in assert_error(response, 400, 20001)["message"]
    assert [r.name for r in caplog.records if r.name != "httpx"] == ["twilio_fake.requests"]
    assert client.get(pool_path(), auth=AUTH).json()["phone_numbers"] == []
