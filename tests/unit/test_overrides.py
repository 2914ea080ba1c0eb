"""The overrides of libraries' private members stay pinned to the libraries they were read from.

twilio_fake/overrides.py holds every class of the fake that overrides or reads a member
connexion, starlette or uvicorn do not publish, and `PINS` records a digest of each such member's
source at the pinned versions. These fail when a library is upgraded or patched under the fake
(then each changed member must be read again before the pin is moved), and when an override is
added anywhere in the fake without its pin.
"""

from __future__ import annotations

import copy
import functools
import importlib
import inspect
import json
import pkgutil
import subprocess
import sys
import tracemalloc
from importlib import metadata
from types import FunctionType
from typing import Any

import pytest

import twilio_fake
from twilio_fake import overrides

LIBRARIES = ("connexion", "starlette", "uvicorn")
# What a class may override: methods and properties (not class attributes such as ABC's cache).
MEMBERS = (FunctionType, property, staticmethod, classmethod, functools.cached_property)


@pytest.mark.parametrize("library", sorted(overrides.PINNED))
def test_the_installed_library_is_the_pinned_one(library: str) -> None:
    assert metadata.version(library) == overrides.PINNED[library], (
        f"{library} is not the version twilio_fake/overrides.py was checked against: read each "
        f"of its pinned members again, then record the version and digests "
        f"(python -m twilio_fake.overrides)"
    )


@pytest.mark.parametrize("path", sorted(overrides.pinned_members()))
def test_a_pinned_member_is_unchanged(path: str) -> None:
    assert overrides.digest(path) == overrides.pinned_members()[path], (
        f"{path} changed in the installed library: the override that relies on it must be "
        f"checked against the new source before its pin is moved"
    )


def _library_classes(cls: type) -> list[type]:
    return [base for base in cls.__mro__ if base.__module__.split(".")[0] in LIBRARIES]


def _overriding_classes() -> list[type]:
    """Every class of the fake (any module) that subclasses one of the libraries'."""
    found = []
    for module_info in pkgutil.walk_packages(twilio_fake.__path__, "twilio_fake."):
        if module_info.name.endswith("__main__"):
            continue
        module = importlib.import_module(module_info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and _library_classes(cls):
                found.append(cls)
    return found


def test_every_override_of_a_library_member_lives_in_one_module_and_is_pinned() -> None:
    pinned = set(overrides.pinned_members())
    unpinned, elsewhere = [], []
    for cls in _overriding_classes():
        for name, value in vars(cls).items():
            if (name.startswith("__") and name not in ("__init__", "__call__")) or not isinstance(
                value, MEMBERS
            ):
                continue
            owner = next((base for base in _library_classes(cls) if name in vars(base)), None)
            if owner is None:
                continue  # the fake's own member
            if cls.__module__ != overrides.__name__:
                elsewhere.append(f"{cls.__module__}.{cls.__qualname__}.{name}")
            path = f"{owner.__module__}.{owner.__qualname__}.{name}"
            if path not in pinned:
                unpinned.append(f"{cls.__qualname__}.{name} overrides {path}")
    assert not elsewhere, f"overrides outside twilio_fake/overrides.py: {elsewhere}"
    assert not unpinned, f"overrides with no pin in overrides.PINS: {unpinned}"


def test_the_log_line_read_for_a_failed_operation_is_still_written() -> None:
    """FailedOperations reads connexion's log line that names an operation it failed to add."""
    source = inspect.getsource(
        overrides.member(
            "connexion.middleware.abstract.AbstractRoutingAPI._handle_add_operation_error"
        )
    )
    assert 'f"Failed to add operation for ' in source
    assert overrides.FailedOperations.logger.name == "connexion.middleware.abstract"


def test_a_contract_request_walks_the_contracts_routes_only(tmp_path) -> None:
    """The contract's routes are tried before the control surface's (connexion orders the APIs
    of one base path itself: see app.create_app), and no routing layer matches a request a
    second time to offer a redirect to the path with or without a slash. A request then walks
    the docs' routes once and the contract's up to its own, nothing else (it walked 47 routes,
    the control surface's and the docs' twice, before)."""
    from starlette import routing

    from tests.support import AUTH
    from twilio_fake.app import create_app
    from twilio_fake.config import Settings

    walked: list[str] = []
    original = routing.Route.matches

    def matches(self: routing.Route, scope: dict) -> tuple:
        walked.append(self.path)
        return original(self, scope)

    app = create_app(Settings(database=str(tmp_path / "fake.sqlite3")))
    with app.test_client(base_url="http://127.0.0.1:8080") as client:
        routing.Route.matches = matches  # type: ignore[method-assign]
        try:
            response = client.get("/v1/Services/MG00000000000000000000000000000001", auth=AUTH)
        finally:
            routing.Route.matches = original  # type: ignore[method-assign]
        app.backend.db.dispose()
    assert response.status_code == 200
    docs = [path for path in walked if "docs" in path or "openapi" in path]
    assert walked[-1] == "/v1/Services/{Sid}"
    assert not [path for path in walked if path.startswith("/_fake/") and path not in docs]
    assert len(docs) == len(set(docs))


def test_an_operation_puts_its_handler_chain_and_validators_together_once(
    tmp_path, monkeypatch
) -> None:
    """Connexion makes, on every request, each operation's decorator chain (`decorate`, with the
    handler's signature inspected), its URI parsers, and its parameter and body validators
    (`AsyncOperation.fn`, `RequestValidationOperation.__call__`). With `OperationBuiltOnce`
    and `ValidatorsBuiltOnce`, an operation's first request makes them and later ones make
    none, while each is still validated: a bad one is refused after as before."""
    from connexion.decorators.main import BaseDecorator
    from connexion.uri_parsing import AbstractURIParser

    from tests.support import AUTH, NUMBERS, SERVICE
    from twilio_fake.app import create_app
    from twilio_fake.config import Settings

    made: list[str] = []

    def counting(cls: type, name: str) -> None:
        original = getattr(cls, name)

        def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
            made.append(f"{cls.__name__}.{name}")
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, counted)

    counting(BaseDecorator, "decorate")
    counting(AbstractURIParser, "__init__")
    counting(overrides.TwilioParameterValidator, "__init__")
    counting(overrides.TwilioFormValidator, "__init__")
    pool = f"/v1/Services/{SERVICE}/PhoneNumbers"
    app = create_app(Settings(database=str(tmp_path / "fake.sqlite3")))
    with app.test_client(base_url="http://127.0.0.1:8080") as client:

        def both_operations() -> list[int]:
            created = client.post(pool, data={"PhoneNumberSid": NUMBERS[0]}, auth=AUTH)
            deleted = client.delete(f"{pool}/{NUMBERS[0]}", auth=AUTH)
            return [created.status_code, deleted.status_code]

        assert both_operations() == [201, 204]
        assert "BaseDecorator.decorate" in made and "TwilioFormValidator.__init__" in made
        made.clear()
        for _ in range(3):
            assert both_operations() == [201, 204]
        refused = client.post(pool, data={"PhoneNumberSid": "PN-not-a-sid"}, auth=AUTH)
        not_found = client.delete(f"{pool}/{NUMBERS[0]}", params={"PageSize": "x"}, auth=AUTH)
        app.backend.db.dispose()
    assert made == []
    assert refused.status_code == 400 and "PhoneNumberSid" in refused.json()["message"]
    assert not_found.status_code == 404


def test_body_validators_kept_per_declared_encoding_are_bounded(tmp_path) -> None:
    """The media type and encoding that pick a body validator come from the client: an operation
    keeps validators for BODY_VALIDATORS_PER_OPERATION of them, and validates any other body
    with one made for the request, as connexion does."""
    import gc

    from tests.support import AUTH, SERVICE
    from twilio_fake.app import create_app
    from twilio_fake.config import Settings

    pool = f"/v1/Services/{SERVICE}/PhoneNumbers"
    app = create_app(Settings(database=str(tmp_path / "fake.sqlite3")))
    with app.test_client(base_url="http://127.0.0.1:8080") as client:
        answers = [
            client.post(
                pool,
                content=b"PhoneNumberSid=PN-not-a-sid",
                headers={"Content-Type": f"application/x-www-form-urlencoded;charset=x-{n}"},
                auth=AUTH,
            )
            for n in range(overrides.BODY_VALIDATORS_PER_OPERATION * 3)
        ]
        app.backend.db.dispose()
    assert {answer.status_code for answer in answers} == {400}
    assert all("PhoneNumberSid" in answer.json()["message"] for answer in answers)
    kept = [
        len(operation._body_validators)
        for operation in gc.get_objects()
        if isinstance(operation, overrides.ValidatorsBuiltOnce)
    ]
    assert kept and max(kept) == overrides.BODY_VALIDATORS_PER_OPERATION


def test_connexion_checks_a_spec_once_and_a_bad_one_every_time(monkeypatch) -> None:
    """`check_each_spec_once`: a document that passed connexion's check is not checked again in
    the process; one that failed fails every time; and a change of type the check sees (a date
    where the schema wants a string) is a different document."""
    from connexion.exceptions import InvalidSpecification
    from connexion.spec import Specification

    checked = []
    original = overrides._connexions_check

    def counting(cls, spec):  # type: ignore[no-untyped-def]
        checked.append(spec["info"]["title"])
        return original(cls, spec)

    monkeypatch.setattr(overrides, "_connexions_check", counting)
    overrides.check_each_spec_once()
    title = f"checked once {id(checked)}"  # a document no other test built
    good = {"openapi": "3.0.3", "info": {"title": title, "version": "1.0.0"}, "paths": {}}
    for _ in range(3):
        Specification.from_dict(dict(good))
    assert checked == [title]

    bad = {**good, "paths": {"/x": {"get": {"responses": "none"}}}}
    for _ in range(2):
        with pytest.raises(InvalidSpecification):
            Specification.from_dict(dict(bad))
    assert checked == [title] * 3

    import datetime

    dated = {**good, "info": {"title": title, "version": datetime.date(2026, 12, 2)}}
    stringly = {**good, "info": {"title": title, "version": "2026-12-02"}}
    Specification.from_dict(stringly)
    with pytest.raises(InvalidSpecification):
        Specification.from_dict(dated)


def test_the_packaged_specs_are_recorded_as_checked() -> None:
    """A server starts without connexion's check of the packaged specs (0.19 s of its start-up)
    because `checked_specs.json` records them as passed: a record of what connexion's own check
    passes now, for the connexion installed."""
    assert overrides.checked_specs() == json.loads(overrides.CHECKED_RECORD.read_text()), (
        "the packaged specs changed: run `python -m twilio_fake.overrides --record-checked-specs`"
    )


def test_a_fresh_process_builds_the_app_without_checking_the_recorded_specs(tmp_path) -> None:
    """With connexion's check replaced by one that fails, a new process still builds the app:
    the record stood in for it. (A document not recorded is checked: the test above.)"""
    program = (
        "from twilio_fake import overrides\n"
        "def refuse(cls, spec): raise AssertionError('checked: ' + spec['info']['title'])\n"
        "overrides._connexions_check = refuse\n"
        "from twilio_fake.app import create_app\n"
        "from twilio_fake.config import Settings\n"
        f"create_app(Settings(database={str(tmp_path / 'fake.sqlite3')!r}))\n"
        "print('built')\n"
    )
    built = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60
    )
    assert built.stdout.strip() == "built", built.stderr[-2000:]


# jsonschema warns that it retrieves the other document itself (deprecated, as it should be).
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_spec_that_reaches_outside_itself_is_checked_every_time(tmp_path, monkeypatch) -> None:
    """Connexion's check follows a `$ref` to another document (checking a default against the
    schema there): the same document passes or fails as that file says, so it is never
    remembered. Nor is a pass with one checking class taken for another's."""
    from connexion.exceptions import InvalidSpecification
    from connexion.spec import OpenAPISpecification, Specification

    overrides.check_each_spec_once()
    elsewhere = tmp_path / "elsewhere.json"
    schema = {
        "type": "object",
        "properties": {"a": {"$ref": elsewhere.as_uri()}},
        "default": {"a": 5},
    }
    document = {
        "openapi": "3.0.3",
        "info": {"title": f"reaches out {id(tmp_path)}", "version": "1.0.0"},
        "paths": {},
        "components": {"schemas": {"Thing": schema}},
    }
    elsewhere.write_text(json.dumps({"type": "integer"}))
    Specification.from_dict(copy.deepcopy(document))
    elsewhere.write_text(json.dumps({"type": "string"}))
    with pytest.raises(InvalidSpecification):
        Specification.from_dict(copy.deepcopy(document))

    checked = []
    original = overrides._connexions_check
    monkeypatch.setattr(
        overrides, "_connexions_check", lambda c, s: (checked.append(c), original(c, s))
    )

    class Stricter(OpenAPISpecification):
        pass

    plain = {
        "openapi": "3.0.3",
        "info": {"title": f"two checkers {id(checked)}", "version": "1"},
        "paths": {},
    }
    OpenAPISpecification(copy.deepcopy(plain))
    Stricter(copy.deepcopy(plain))
    assert checked == [OpenAPISpecification, Stricter]


# -- a JSON body's lone surrogates ---------------------------------------------------------------
def test_the_place_of_a_lone_surrogate_is_named_and_a_deep_document_costs_little_to_walk() -> None:
    assert overrides.lone_surrogate(json.loads('{"a": [1, {"b": "x\\ud800"}]}')) == "a[1].b"
    assert overrides.lone_surrogate(json.loads('{"\\udc00k": 1}')) == "\\udc00k"
    assert overrides.lone_surrogate(json.loads('"\\ud800"')) == "(the document)"
    assert overrides.lone_surrogate(json.loads('{"a": "\\ud83d\\ude00"}')) is None  # a pair
    # 700 levels of 40-character keys, 3,700 more keys at the bottom, the surrogate last: the
    # walk spelled out every node's path, some 107 MB for a body under 64 KiB (a review, with
    # tracemalloc); now a link to its parent a node, and one path spelled.
    key = "k" * 40
    bottom: dict[str, Any] = {f"{key}{n}": n for n in range(3700)}
    bottom["last"] = "\ud800"
    document: Any = bottom
    for _ in range(700):
        document = {key: document}
    tracemalloc.start()
    try:
        where = overrides.lone_surrogate(document)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert where is not None and where.endswith(".last") and len(where) < 300
    assert peak < 5_000_000, peak
