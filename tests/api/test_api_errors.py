"""Errors from every layer (validation, routing, methods, media types) leave in Twilio's shape,
and every response carries Twilio's headers."""

from __future__ import annotations

import re

import pytest

from tests.support import AUTH, NUMBERS, SERVICE, assert_error, pool_path
from twilio_fake.edge import CORS_HEADERS


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Missing required parameter PhoneNumberSid in the post body"),
        ({"PhoneNumberSid": ""}, None),
        ({"PhoneNumberSid": "PN123"}, None),
        ({"PhoneNumberSid": "MG" + "0" * 32}, None),
        ({"PhoneNumberSid": "PN" + "g" * 32}, None),
        ({"PhoneNumberSid": NUMBERS[0], "FriendlyName": "x"}, None),
    ],
)
def test_invalid_create_bodies_are_20001_and_change_nothing(client, data, message) -> None:
    body = assert_error(client.post(pool_path(), data=data, auth=AUTH), 400, 20001, message)
    if data.get("PhoneNumberSid", NUMBERS[0]) != NUMBERS[0]:
        assert "PhoneNumberSid" in body["message"]
    assert client.get(pool_path(), auth=AUTH).json()["phone_numbers"] == []


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/v1/Services/MG123/PhoneNumbers", "ServiceSid"),
        ("/v1/Services/PN00000000000000000000000000000001/PhoneNumbers", "ServiceSid"),
        (f"/v1/Services/{SERVICE}/PhoneNumbers/PN123", "Sid"),
        (f"/v1/Services/{SERVICE}/PhoneNumbers/MG00000000000000000000000000000001", "Sid"),
    ],
)
def test_malformed_sids_in_the_path_are_20001_naming_the_parameter(client, path, parameter) -> None:
    body = assert_error(client.get(path, auth=AUTH), 400, 20001)
    assert body["message"].startswith(f"Invalid path parameter {parameter}: ")
    assert "\n" not in body["message"]


@pytest.mark.parametrize(
    ("content_type", "payload"),
    [
        ("application/json", b'{"PhoneNumberSid": "PN00000000000000000000000000000001"}'),
        ("text/plain", b"PhoneNumberSid=PN00000000000000000000000000000001"),
    ],
)
def test_a_body_that_is_not_form_encoded_is_415(client, content_type, payload) -> None:
    response = client.post(
        pool_path(), content=payload, headers={"Content-Type": content_type}, auth=AUTH
    )
    body = assert_error(response, 415, 20001)
    assert (
        content_type in body["message"] and "application/x-www-form-urlencoded" in body["message"]
    )


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
        ("/", "/"),
        ("/v2/Services", "/v2/Services"),
        ("/v1/Services", "/Services"),
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
        client.get("/v1/openapi.json"),
    ]
    ids = set()
    for response in responses:
        assert re.fullmatch(r"RQ[0-9a-f]{32}", response.headers["twilio-request-id"]), (
            response.request.url
        )
        ids.add(response.headers["twilio-request-id"])
        for name, value in CORS_HEADERS.items():
            assert response.headers[name] == value
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


def test_an_unexpected_failure_is_a_twilio_shaped_500(backend, app) -> None:
    def broken(*_args, **_kwargs):
        raise RuntimeError("database on fire")

    backend.get_phone_number = broken  # a fault the fake cannot produce on its own
    with app.test_client(raise_server_exceptions=False) as client:
        response = client.get(pool_path(sid=NUMBERS[0]), auth=AUTH)
    assert_error(response, 500, 20500, "Internal Server Error")
    assert "fire" not in response.text
