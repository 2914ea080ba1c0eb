"""The fake's control surface: health, reset, and loading fixtures at run time."""

from __future__ import annotations

import copy
import gc
import json
from pathlib import Path

import pytest
import sqlalchemy

from tests.support import (
    AUTH,
    DEMO_COUNTS,
    KEY,
    KEY_SECRET,
    NUMBERS,
    OTHER_ACCOUNT,
    OTHER_TOKEN,
    SERVICE,
    add,
    app_for,
    assert_error,
    pool_path,
)
from twilio_fake import fixtures
from twilio_fake.backend import Backend

NEW_ACCOUNT = {
    "accounts": [
        {
            "sid": "AC" + "7" * 32,
            "auth_token": "t7",
            "services": [{"sid": "MG" + "7" * 32, "friendly_name": "Loaded"}],
            "incoming_phone_numbers": [{"sid": "PN" + "7" * 32, "phone_number": "+14155550177"}],
        }
    ]
}


def test_health_counts_what_is_loaded(client, backend) -> None:
    response = client.get("/_fake/health")
    assert response.status_code == 200
    names = ("accounts", "services", "incoming_phone_numbers", "pool_entries")
    health = response.json()
    assert health.pop("database") == backend.db.describe()
    assert health == {"status": "ok", **dict(zip(names, DEMO_COUNTS, strict=True))}


def test_health_never_shows_a_password_given_in_the_url_query(postgres) -> None:
    """libpq takes `?password=` as well as `user:password@`: health (no token needed) shows
    neither."""
    backend = Backend(postgres.create_database() + "?password=s3cret", fixtures.demo())
    try:
        with app_for(backend).test_client() as client:
            response = client.get("/_fake/health")
        assert response.status_code == 200
        assert "s3cret" not in response.text
        assert response.json()["database"].endswith("?password=***")
    finally:
        backend.db.dispose()


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_health_and_writes_are_503_when_the_database_file_is_removed(
    client, backend, database: str, caplog
) -> None:
    """What is written to a removed file is lost at the next start: say so, do not answer 201."""
    assert client.get("/_fake/health").status_code == 200
    Path(database).unlink()
    body = assert_error(client.get("/_fake/health"), 503, 20503)
    assert "cannot be reached" in body["message"]
    assert_error(add(client, NUMBERS[0]), 503, 20503)
    assert "was removed or replaced" in caplog.text


# The connections the forced drop cut are left for the garbage collector, which says so.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_health_and_the_api_are_503_when_the_database_is_out_of_reach(postgres, caplog) -> None:
    backend = Backend(postgres.create_database(), fixtures.demo())
    admin = sqlalchemy.create_engine(postgres.url(), isolation_level="AUTOCOMMIT")
    try:
        with app_for(backend).test_client() as client:
            assert client.get("/_fake/health").status_code == 200
            with admin.connect() as conn:
                name = backend.db.engine.url.database
                conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
            body = assert_error(client.get("/_fake/health"), 503, 20503)
            assert "cannot be reached" in body["message"]
            assert backend.db.describe() in body["message"]
            # Requests get a 503 clients retry, and the log names the cause, not the SQL.
            caplog.clear()
            assert_error(client.get(pool_path(), auth=AUTH), 503, 20503)
            assert_error(add(client, NUMBERS[0]), 503, 20503)
            logged = caplog.text
            assert "database error on GET" in logged and "OperationalError" in logged
    finally:
        backend.db.dispose()
        admin.dispose()
        gc.collect()


def test_a_statement_the_database_cancels_is_503_and_its_sql_is_not_logged(
    postgres, caplog
) -> None:
    """A table held by someone else past the statement timeout: the add is cancelled by the
    database (an OperationalError carrying the statement and its values), answered 503."""
    url = postgres.create_database()
    # The fake's own statement timeout is a minute; a URL's libpq options win over it.
    backend = Backend(url + "?options=-c%20statement_timeout%3D300", fixtures.demo())
    admin = sqlalchemy.create_engine(postgres.url(), isolation_level="AUTOCOMMIT")
    holder = sqlalchemy.create_engine(url)
    try:
        with app_for(backend).test_client() as client, holder.begin() as held:
            held.exec_driver_sql("LOCK TABLE services IN ACCESS EXCLUSIVE MODE")
            caplog.clear()
            assert_error(add(client, NUMBERS[0]), 503, 20503)
        logged = caplog.text
        assert "database error on POST" in logged and "QueryCanceled" in logged
        assert "SELECT" not in logged and NUMBERS[0] not in logged.split("PhoneNumbers")[-1]
    finally:
        backend.db.dispose()
        holder.dispose()
        admin.dispose()


def test_reset_drops_the_pools(client) -> None:
    add(client, NUMBERS[0])
    assert client.get("/_fake/health").json()["pool_entries"] == 1
    response = client.post("/_fake/reset")
    assert response.status_code == 200 and response.json()["pool_entries"] == 0
    assert client.get(pool_path(), auth=AUTH).json()["phone_numbers"] == []


def test_fixtures_load_as_yaml_and_as_json(client) -> None:
    import yaml

    response = client.post(
        "/_fake/fixtures",
        content=yaml.safe_dump(NEW_ACCOUNT),
        headers={"Content-Type": "application/yaml"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["accounts"] == 3
    new = ("AC" + "7" * 32, "t7")
    created = client.post(
        pool_path("MG" + "7" * 32), data={"PhoneNumberSid": "PN" + "7" * 32}, auth=new
    )
    assert created.status_code == 201
    # JSON works too, and loading again updates in place.
    rotated = copy.deepcopy(NEW_ACCOUNT)
    rotated["accounts"][0]["auth_token"] = "rotated"
    response = client.post(
        "/_fake/fixtures",
        content=json.dumps(rotated),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200 and response.json()["accounts"] == 3
    assert client.get(pool_path("MG" + "7" * 32), auth=new).status_code == 401
    # Reset forgets fixtures loaded at run time.
    client.post("/_fake/reset")
    assert (
        client.get(pool_path("MG" + "7" * 32), auth=("AC" + "7" * 32, "rotated")).status_code == 401
    )


def test_a_bad_fixture_document_is_400_and_loads_nothing(client) -> None:
    response = client.post(
        "/_fake/fixtures",
        content="accounts: [{sid: AC1, auth_token: x}]",
        headers={"Content-Type": "application/yaml"},
    )
    body = assert_error(response, 400, 20001)
    assert "sid must be AC" in body["message"]
    assert client.get("/_fake/health").json()["accounts"] == 2


@pytest.mark.parametrize("content_type", ["text/csv", "application/x-www-form-urlencoded"])
def test_fixtures_in_another_media_type_are_415_naming_what_to_send(
    client, content_type: str
) -> None:
    response = client.post("/_fake/fixtures", content="x=1", headers={"Content-Type": content_type})
    message = assert_error(response, 415, 20001)["message"]
    assert message.endswith("send application/yaml or application/json")


# -- hostile documents (issue "Harden the control surface"): refused cheaply, nothing loaded ----
YAML = {"Content-Type": "application/yaml"}
JSON = {"Content-Type": "application/json"}
LAUGHS = "a: &a [lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)


@pytest.mark.parametrize(
    ("body", "headers", "names"),
    [
        ("accounts: " + "[" * 25_000, YAML, "nested more than 32 levels"),
        (LAUGHS + "accounts: [*i]\n", YAML, "aliases are not accepted"),
        ("accounts: [" + "9" * 5000 + "]", YAML, "cannot be read"),
        ("accounts: [2001-13-45]", YAML, "cannot be read"),
        ('{"accounts": ' + "[" * 30_000 + "]" * 30_000 + "}", JSON, "nested too deeply"),
        (
            '{"accounts": [{"sid": "AC' + "8" * 32 + '", "auth_token": "\\ud800"}]}',
            JSON,
            "auth_token is not valid text",
        ),
        (b'{"accounts": "\xff"}', JSON, "not UTF-8"),
        ('{"accounts": ' + "9" * 4301 + "}", JSON, "a number in it has too many digits"),
        ('{"accounts": [NaN]}', JSON, "NaN is not a JSON number"),
        (
            '{"accounts": [{"sid": "AC' + "8" * 32 + '", "auth_token": "t", '
            '"incoming_phone_numbers": [{"sid": "PN' + "8" * 32 + '", '
            '"phone_number": "+14155550100", "capabilities": [["SMS"], {"a": 1}]}]}]}',
            JSON,
            "capabilities must be a list drawn from",
        ),
        (f"accounts: [{{sid: AC{'8' * 32}, auth_token: !!bool x}}]", YAML, "a tag"),
        (f"accounts: [{{sid: AC{'8' * 32}, auth_token: !!timestamp x}}]", YAML, "a tag"),
        ("accounts: [{sid: 0x" + "f" * 3600 + ", auth_token: t}]", YAML, "an int too long"),
        (
            f"accounts: [{{sid: AC{'8' * 32}, auth_token: t, services: "
            f"[{{sid: MG{'8' * 32}, friendly_name: 0x{'f' * 3600}}}]}}]",
            YAML,
            "friendly_name is a number too long to be a name",
        ),
        (
            f"accounts:\n- sid: AC{'8' * 32}\n  auth_token: t\n  ? 0x{'f' * 3600}\n  : 1\n",
            YAML,
            "unknown key an int too long",
        ),
        (
            '{"accounts": [{"sid": "AC' + "8" * 32 + '", "auth_token": "t", '
            '"services": [{"sid": "MG' + "8" * 32 + '", "friendly_name": "a\\u0000b"}]}]}',
            JSON,
            "friendly_name holds a NUL character",
        ),
    ],
    ids=[
        "deep yaml",
        "billion laughs",
        "huge integer",
        "bad date",
        "deep json",
        "lone surrogate",
        "not utf-8",
        "json integer of 4301 digits",
        "json NaN",
        "capabilities not strings",
        "yaml bool tag",
        "yaml timestamp tag",
        "yaml hex sid of 3600 digits",
        "yaml hex name of 3600 digits",
        "yaml hex key of 3600 digits",
        "nul",
    ],  # fmt: skip
)
def test_a_hostile_document_is_400_naming_why_and_loads_nothing(
    client, body, headers: dict, names: str
) -> None:
    response = client.post("/_fake/fixtures", content=body, headers=headers)
    assert names in assert_error(response, 400, 20001)["message"]
    assert len(response.content) < 2000
    health = client.get("/_fake/health").json()
    assert [health[n] for n in ("accounts", "services", "incoming_phone_numbers")] == list(
        DEMO_COUNTS[:3]
    )


@pytest.mark.parametrize("what", ["services", "incoming_phone_numbers", "api_keys"])
def test_a_fixture_cannot_move_a_service_number_or_key_to_another_account(
    client, what: str
) -> None:
    add(client, NUMBERS[0])
    taken, sid = {
        "services": ({"services": [{"sid": SERVICE}]}, SERVICE),
        "incoming_phone_numbers": (
            {"incoming_phone_numbers": [{"sid": NUMBERS[0], "phone_number": "+14155550100"}]},
            NUMBERS[0],
        ),
        "api_keys": ({"api_keys": [{"sid": KEY, "secret": "stolen"}]}, KEY),
    }[what]
    thief = {"accounts": [{"sid": OTHER_ACCOUNT, "auth_token": "stolen", **taken}]}
    response = client.post("/_fake/fixtures", content=json.dumps(thief), headers=JSON)
    message = assert_error(response, 400, 20001)["message"]
    assert "belongs to another account" in message and sid in message
    # Nothing moved, nothing else loaded: the other account still cannot see the pool, and its
    # token is unchanged; the key still signs in to its own account, with its own secret.
    assert client.get(pool_path(), auth=(OTHER_ACCOUNT, "stolen")).status_code == 401
    assert client.get(pool_path(), auth=(OTHER_ACCOUNT, OTHER_TOKEN)).status_code == 404
    assert client.get(pool_path(), auth=(KEY, "stolen")).status_code == 401
    assert client.get(pool_path(), auth=(KEY, KEY_SECRET)).status_code == 200
    listed = client.get(pool_path(), auth=AUTH).json()["phone_numbers"]
    assert [n["sid"] for n in listed] == [NUMBERS[0]]


# -- not a cross-site target -------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},  # a page elsewhere posting a simple request
        {"Origin": "null"},  # a sandboxed frame
        {"Origin": "http://[::1"},  # unreadable
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://localhost:3000"},  # another port
    ],
)
def test_a_browsers_cross_origin_reset_is_refused_and_changes_nothing(client, headers) -> None:
    add(client, NUMBERS[0])
    response = client.post("/_fake/reset", headers=headers)
    assert_error(response, 403, 20403, "Cross-origin requests to the control surface are refused")
    assert "access-control-allow-origin" not in response.headers
    assert client.get("/_fake/health").json()["pool_entries"] == 1


def test_the_control_surface_gives_browsers_no_cors_approval(client) -> None:
    preflight = client.options(
        "/_fake/reset",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code >= 400
    assert "access-control-allow-origin" not in preflight.headers
    # The API keeps Twilio's CORS: a browser app may call it, as it may call Twilio.
    api = client.options(
        pool_path(),
        headers={"Origin": "http://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert api.status_code == 204 and api.headers["access-control-allow-origin"] == "*"


def test_a_same_origin_control_request_is_served(client) -> None:
    response = client.post("/_fake/reset", headers={"Origin": "http://testserver"})
    assert response.status_code == 200


def test_an_unknown_host_is_refused_when_bound_to_loopback(client) -> None:
    """DNS rebinding: evil.example resolving to 127.0.0.1 reaches the fake with its own name."""
    for path in ("/_fake/reset", pool_path()):
        response = client.post(path, headers={"Host": "evil.example:8080"}, auth=AUTH)
        assert_error(response, 403, 20403)
    for host in ("localhost:8080", "127.0.0.1", "[::1]:8080"):
        assert client.get("/_fake/health", headers={"Host": host}).status_code == 200


def test_the_control_token_guards_reset_and_fixtures_but_not_health(backend) -> None:
    with app_for(backend, control_token="s3cret").test_client() as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic czM="}):
            body = assert_error(client.post("/_fake/reset", headers=headers), 401, 20003)
            assert "control surface" in body["message"]
            response = client.post("/_fake/fixtures", content="{}", headers={**JSON, **headers})
            assert_error(response, 401, 20003)
        assert client.get("/_fake/health").status_code == 200
        bearer = {"Authorization": "Bearer s3cret"}
        assert client.post("/_fake/reset", headers=bearer).status_code == 200
        loaded = client.post(
            "/_fake/fixtures", content=json.dumps(NEW_ACCOUNT), headers={**JSON, **bearer}
        )
        assert loaded.status_code == 200
