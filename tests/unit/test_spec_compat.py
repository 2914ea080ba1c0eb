"""The contract's version: a change that breaks clients needs a new major version."""

from __future__ import annotations

import copy
import re

import pytest

from tests.support import ROOT, load_yaml
from twilio_fake_contract.compat import breaking_changes, major

CURRENT = load_yaml(ROOT / "openapi.yaml")
PUBLISHED = load_yaml(ROOT / "published" / "openapi.yaml")
CHANGELOG = (ROOT / "CHANGELOG.md").read_text()
POOL = "/v1/Services/{ServiceSid}/PhoneNumbers"
ENTRY = POOL + "/{Sid}"


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_no_breaking_change_without_a_major_version_bump() -> None:
    if major(CURRENT["info"]["version"]) == major(PUBLISHED["info"]["version"]):
        assert breaking_changes(PUBLISHED, CURRENT) == []


def test_the_version_only_moves_forward_and_is_in_the_changelog() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", CURRENT["info"]["version"])
    assert version(CURRENT["info"]["version"]) >= version(PUBLISHED["info"]["version"])
    assert f"## {CURRENT['info']['version']} " in CHANGELOG


def changed(edit) -> dict:  # type: ignore[no-untyped-def]
    spec = copy.deepcopy(CURRENT)
    edit(spec)
    return spec


# Each edit below is one kind of change; the checker must call it breaking, or must not.
BREAKING = {
    "a response field removed": lambda s: s["components"]["schemas"]["PhoneNumber"][
        "properties"
    ].pop("url"),
    "a response field no longer required": lambda s: s["components"]["schemas"]["PhoneNumber"][
        "required"
    ].remove("sid"),
    "a pattern added": lambda s: s["components"]["schemas"]["CreatePhoneNumberForm"]["properties"][
        "PhoneNumberSid"
    ].update(pattern="^PN[0-9a-f]{32}$"),
    "a status removed": lambda s: s["paths"][ENTRY]["delete"]["responses"].pop("404"),
    "an operation removed": lambda s: s["paths"][ENTRY].pop("delete"),
    "an operationId renamed": lambda s: s["paths"][ENTRY]["delete"].update(
        operationId="RemovePhoneNumber"
    ),
    "a maximum lowered": lambda s: s["components"]["parameters"]["PageSize"]["schema"].update(
        maximum=500
    ),
    "a new required parameter": lambda s: s["paths"][POOL]["get"]["parameters"].append(
        {"name": "Region", "in": "query", "required": True, "schema": {"type": "string"}}
    ),
    "a new required body field": lambda s: s["components"]["schemas"][
        "CreatePhoneNumberForm"
    ].update(
        required=["PhoneNumberSid", "FriendlyName"],
        properties={"PhoneNumberSid": {"type": "string"}, "FriendlyName": {"type": "string"}},
    ),
    "a new value in a response enum": lambda s: s["components"]["schemas"]["PhoneNumber"][
        "properties"
    ]["capabilities"]["items"]["enum"].append("Fax"),
    "a required header dropped": lambda s: s["paths"][ENTRY]["get"]["responses"]["200"].update(
        headers={}
    ),
    "a parameter removed": lambda s: s["paths"][POOL]["get"]["parameters"].pop(),
}
COMPATIBLE = {
    "nothing": lambda s: None,
    "a new optional response field": lambda s: s["components"]["schemas"]["PhoneNumber"][
        "properties"].update(friendly_name={"type": "string"}),
    "a new status": lambda s: s["paths"][ENTRY]["get"]["responses"].update(
        {"403": s["paths"][ENTRY]["get"]["responses"]["404"]}),
    "a new optional parameter": lambda s: s["paths"][POOL]["get"]["parameters"].append(
        {"name": "PhoneNumber", "in": "query", "schema": {"type": "string"}}),
    "a maximum raised": lambda s: s["components"]["parameters"]["Page"]["schema"].update(
        maximum=2000000000
    ),
    "a new operation": lambda s: s["paths"][ENTRY].update(post=s["paths"][ENTRY]["get"]),
    "a description reworded": lambda s: s["info"].update(description="Reworded."),
}  # fmt: skip


@pytest.mark.parametrize("name", BREAKING)
def test_breaking_changes_are_found(name: str) -> None:
    assert breaking_changes(CURRENT, changed(BREAKING[name])), name


@pytest.mark.parametrize("name", COMPATIBLE)
def test_compatible_changes_pass(name: str) -> None:
    assert breaking_changes(CURRENT, changed(COMPATIBLE[name])) == []


def test_moving_the_version_from_the_server_to_the_paths_breaks_nothing() -> None:
    # The same URLs, written as server /v1 + /Services/… or as server / + /v1/Services/….
    moved = copy.deepcopy(CURRENT)
    moved["servers"] = [{"url": "/v1"}]
    moved["paths"] = {
        path.removeprefix("/v1"): item
        for path, item in CURRENT["paths"].items()
        if path.startswith("/v1/")  # the 2010-04-01 paths never had a server of their own
    }
    assert breaking_changes(moved, CURRENT) == []
    moved["paths"].pop("/Services/{ServiceSid}/PhoneNumbers/{Sid}")
    assert breaking_changes(CURRENT, moved) != []
