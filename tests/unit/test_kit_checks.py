"""The kit's own schemathesis check: which 400s to schema-valid requests it lets through."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from twilio_fake_contract.checks import valid_data_is_refused_only_by_a_rule

TOKEN_MISSING = {"code": 20001, "message": "PageToken is required for paging.", "status": 400}
MALFORMED = {"code": 20001, "message": "Invalid parameter PageSize", "status": 400}


def case(query: dict, *, needs_a_token: bool = True) -> SimpleNamespace:
    """A positive case of a list whose `Page` says (or not) it needs a token past page 0."""
    extension = {"x-needs-a-token-past-the-first-page": True} if needs_a_token else {}
    page = SimpleNamespace(name="Page", definition={"name": "Page", **extension})
    size = SimpleNamespace(name="PageSize", definition={"name": "PageSize"})
    operation = SimpleNamespace(query=[size, page], definition=SimpleNamespace(raw={}))
    mode = SimpleNamespace(is_positive=True)
    meta = SimpleNamespace(generation=SimpleNamespace(mode=mode))
    return SimpleNamespace(query=query, body=None, operation=operation, meta=meta)


def answer(body: dict) -> SimpleNamespace:
    return SimpleNamespace(status_code=400, json=lambda: body)


def test_a_later_page_without_its_token_may_be_refused_where_the_list_says_so() -> None:
    assert (
        valid_data_is_refused_only_by_a_rule(None, answer(TOKEN_MISSING), case({"Page": 3})) is None
    )
    assert (
        valid_data_is_refused_only_by_a_rule(None, answer(TOKEN_MISSING), case({"Page": "2"}))
        is None
    )


@pytest.mark.parametrize(
    ("query", "body", "needs_a_token"),
    [
        ({"Page": 0}, TOKEN_MISSING, True),  # the first page needs no token
        ({}, TOKEN_MISSING, True),
        ({"Page": 3, "PageToken": "PA1"}, TOKEN_MISSING, True),  # it has one
        ({"Page": 3}, TOKEN_MISSING, False),  # a list whose Page selects nothing (v1)
        ({"Page": 3}, MALFORMED, True),  # a plain validation error, whatever the page
    ],
    ids=["page 0", "no page", "with a token", "a v1 list", "another 20001"],
)
def test_any_other_such_400_is_a_false_refusal(
    query: dict, body: dict, needs_a_token: bool
) -> None:
    with pytest.raises(AssertionError, match="schema-valid request refused as invalid"):
        valid_data_is_refused_only_by_a_rule(
            None, answer(body), case(query, needs_a_token=needs_a_token)
        )
