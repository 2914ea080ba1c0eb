"""The contract itself: valid OpenAPI, complete, and exactly what the app serves."""

from __future__ import annotations

import copy
import re

import pytest
import yaml
from openapi_spec_validator import validate
from twilio_fake.handlers import operations

from tests.support import ROOT, load_yaml
from twilio_fake.app import SpecError, create_app, served_documents
from twilio_fake.config import Settings
from twilio_fake.spec import CONTRACT as TWILIO_SPEC
from twilio_fake.spec import CONTROL as CONTROL_SPEC
from twilio_fake.spec import SPECS
from twilio_fake.spec import document as spec_document
from twilio_fake_contract.contract import bundled

SPEC = load_yaml(ROOT / "openapi.yaml")
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
OPERATIONS_OF_SPEC = [
    (path, method, operation)
    for path, item in SPEC["paths"].items()
    for method, operation in item.items()
    if method in HTTP_METHODS
]
STANDARD_HEADERS = {
    "Twilio-Request-Id",
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Allow-Credentials",
    "Access-Control-Expose-Headers",
}


def resolve(node: dict) -> dict:
    while "$ref" in node:
        section, name = node["$ref"].split("/")[-2:]
        node = SPEC["components"][section][name]
    return node


@pytest.mark.parametrize("name", SPECS)
def test_the_specs_are_valid_openapi(name: str) -> None:
    validate(copy.deepcopy(spec_document(name)))


def test_the_packaged_contract_is_the_one_at_the_top_of_the_repository() -> None:
    assert spec_document(TWILIO_SPEC) == SPEC


@pytest.mark.parametrize("name", SPECS)
def test_libyamls_loader_reads_each_spec_as_the_pure_python_one_does(name: str) -> None:
    """The fake, the kit and the tests read the specs with libyaml's loader (the quicker)."""
    text = (ROOT / "twilio_fake" / name).read_text()
    assert load_yaml(ROOT / "twilio_fake" / name) == yaml.safe_load(text)
    assert spec_document(name) == yaml.safe_load(text)
    if name == TWILIO_SPEC:
        assert bundled().spec == yaml.safe_load(text)


def test_the_operations_keep_twilios_operation_ids() -> None:
    # As in Twilio's own specs of these resources (twilio-oai, messaging v1 and api v2010).
    assert {operation["operationId"] for _, _, operation in OPERATIONS_OF_SPEC} == {
        "CreatePhoneNumber",
        "ListPhoneNumber",
        "FetchPhoneNumber",
        "DeletePhoneNumber",
        "CreateService",
        "ListService",
        "FetchService",
        "UpdateService",
        "DeleteService",
        "ListIncomingPhoneNumber",
        "CreateIncomingPhoneNumber",
        "FetchIncomingPhoneNumber",
        "UpdateIncomingPhoneNumber",
        "DeleteIncomingPhoneNumber",
        "ListAvailablePhoneNumberLocal",
        "ListAvailablePhoneNumberTollFree",
        "CreateMessage",
        "ListMessage",
        "FetchMessage",
        "UpdateMessage",
        "DeleteMessage",
    }


def test_every_operation_of_both_specs_has_a_handler_and_every_handler_an_operation() -> None:
    ids = {
        operation["operationId"]
        for name in SPECS
        for item in spec_document(name)["paths"].values()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }
    assert ids == set(operations())


@pytest.mark.parametrize(
    ("spec", "break_it", "message"),
    [
        (
            TWILIO_SPEC,
            lambda s: s["paths"]["/v1/Services/{ServiceSid}/PhoneNumbers"]["post"].update(
                operationId="CreatePhoneNumbers"
            ),
            "POST /v1/Services/{ServiceSid}/PhoneNumbers: "
            "operationId 'CreatePhoneNumbers' names no handler",
        ),
        (
            CONTROL_SPEC,
            lambda s: s["paths"]["/_fake/health"]["get"].update(operationId="Health"),
            "GET /_fake/health: operationId 'Health' names no handler",
        ),
        (TWILIO_SPEC, lambda s: s.update(security=[{"accountCredential": []}]), "KeyError"),
    ],
    ids=["operationId", "control operationId", "security reference"],
)
def test_a_spec_that_cannot_be_served_fails_when_the_app_is_created(
    spec: str, break_it, message: str
) -> None:
    broken = copy.deepcopy(spec_document(spec))
    break_it(broken)
    with pytest.raises(SpecError) as raised:
        create_app(Settings(database=":memory:"), specs={spec: broken})
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("path", "method", "operation"),
    OPERATIONS_OF_SPEC,
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_every_status_the_server_returns_is_declared(
    path: str, method: str, operation: dict
) -> None:
    expected = {"400", "401", "404", "405", "408", "413", "429", "500"} | (
        {"409"} if operation["operationId"] == "CreatePhoneNumber" else set()  # a pool's rules
    )
    assert expected <= set(operation["responses"])
    for status, response in operation["responses"].items():
        response = resolve(response)
        assert STANDARD_HEADERS <= set(response["headers"]), (path, method, status)
        for header in response["headers"].values():
            assert resolve(header)["required"] is True
        if status != "204":
            content = response["content"]["application/json"]
            assert content.get("examples") or content.get("example"), (path, method, status)
        if status.startswith(("4", "5")):
            assert content["schema"] == {"$ref": "#/components/schemas/Error"}


def test_special_statuses_declare_their_headers() -> None:
    responses = SPEC["components"]["responses"]
    assert "WWW-Authenticate" in responses["Unauthorized"]["headers"]
    assert "Allow" in responses["MethodNotAllowed"]["headers"]
    assert "Retry-After" in responses["TooManyRequests"]["headers"]


def test_create_links_to_fetch_and_delete() -> None:
    links = SPEC["paths"]["/v1/Services/{ServiceSid}/PhoneNumbers"]["post"]["responses"]["201"][
        "links"
    ]
    assert {link["operationId"] for link in links.values()} == {
        "FetchPhoneNumber",
        "DeletePhoneNumber",
    }
    for link in links.values():
        assert link["parameters"] == {
            "ServiceSid": "$request.path.ServiceSid",
            "Sid": "$response.body#/sid",
        }


def test_the_phone_number_schema_has_the_nine_fields_of_the_seed() -> None:
    schema = SPEC["components"]["schemas"]["PhoneNumber"]
    assert set(schema["required"]) == set(schema["properties"]) == {
        "sid", "account_sid", "service_sid", "date_created", "date_updated",
        "phone_number", "country_code", "capabilities", "url",
    }  # fmt: skip


def test_basic_auth_is_the_security_scheme() -> None:
    scheme = SPEC["components"]["securitySchemes"]["accountCredentials"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "basic")
    assert SPEC["security"] == [{"accountCredentials": []}]


def test_the_app_serves_the_spec_it_was_built_from(client) -> None:
    served = client.get("/openapi.json").json()
    assert served["paths"].keys() == SPEC["paths"].keys()
    assert served["info"] == SPEC["info"]
    # Connexion serves it with references inlined, so compare names rather than bodies.
    assert served["components"]["schemas"].keys() == SPEC["components"]["schemas"].keys()
    assert client.get("/openapi.yaml").status_code == 200
    assert client.get("/_fake/docs/").status_code == 200


def test_the_interactive_docs_need_no_network(client) -> None:
    page = client.get("/docs/")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(asset.startswith("./") for asset in assets), assets
    for asset in assets:
        assert client.get("/docs/" + asset[2:]).status_code == 200


def test_the_control_surface_names_every_operation_of_the_contract_and_no_other() -> None:
    # Faults and the journal filter by operation: the control spec's enum is the contract's ids.
    served = served_documents()[CONTROL_SPEC]["components"]["schemas"]["Operation"]["enum"]
    assert served == [operation["operationId"] for _, _, operation in OPERATIONS_OF_SPEC]
