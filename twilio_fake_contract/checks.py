"""Schemathesis checks of our own, loaded by the pytest suite and by `twilio-fake contract`.

Twilio refuses some schema-valid requests because of a rule, with a 400: a PhoneNumberSid that
is not one of the account's incoming numbers (21421), a number that can send neither SMS nor MMS
(21715), a PageToken the server never issued (21481), a Messaging Service use case outside
Twilio's list (21713: the contract leaves `Usecase` a free string, as Twilio's does), a phone
number that is not for sale (21422), an area code that is not one (21451) or has nothing for
sale (21452), a request body with none of the parameters its `x-one-of-required` names (of which
Twilio requires one); and a message Twilio will not send: no recipient, sender or content
(21604, 21603, 21602, 21619), too long (21617), a recipient or sender that is not a valid or
usable number or is one of Twilio's test numbers (21211, 21212, 21606, 21610, 21612, 21408,
21614), media or a status callback it cannot use (21620, 21623, 21609), a schedule it refuses
(35111, 35114, 35118), a service that is malformed or not the account's (21705, 21701), an update
that is neither a redaction nor a cancel, or a cancel too late (30400, 30409), a delete before
the message is final (20009); a page past the first asked for without its PageToken where the
list's `Page` says it needs one (`x-needs-a-token-past-the-first-page`: Twilio's 2010-04-01
lists, 20001). So positive_data_acceptance is configured to accept 400 (and 412, a full pool),
and this check makes sure such a 400 names one of those rules and is never a plain validation
error.
"""

from __future__ import annotations

import schemathesis

RULE_CODES = {21421, 21715, 21481, 21713, 21422, 21451, 21452}
RULE_CODES |= {  # Messages
    21604, 21603, 21602, 21619, 21617, 21211, 21212, 21606, 21610, 21612, 21408, 21614,
    21620, 21623, 21609, 35111, 35114, 35118, 21705, 21701, 30400, 30409, 20009,
}  # fmt: skip

# How schemathesis must generate requests for this contract (the kit's runs and the project's
# own fuzzing tests both use this):
# - allow-extra-parameters off: the contract says unknown query keys and form fields are
#   ignored, as Twilio ignores them. Schemathesis otherwise takes the declared query parameters
#   as a closed set (`additionalProperties: false`) and sends a request whose only fault is an
#   unknown key as "negative" data, which the server rightly accepts: a false ST201.
# - with-security-parameters off: credentials are the run's own (`--auth`), added to every
#   request. Schemathesis otherwise also generates the Authorization header as a parameter,
#   and its negative mode "removes" it, but the run's credentials are added back before the
#   request leaves: a request reported as lacking Authorization that carried it, and accepted
#   (another false ST201). Requests without or with wrong credentials are the `ignored_auth`
#   check's, and the scenarios', which send them for real.
GENERATION = {"allow-extra-parameters": False, "with-security-parameters": False}

# What counts as rejecting invalid data: schemathesis's own list, and 413: a form over the body
# limit (an over-long URL in a service's or a number's settings, say) is rejected before its
# fields are read. The kit's runs and the project's own fuzzing tests both use it.
REJECTION_STATUSES = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422",
                      "428", "429", "5xx"]  # fmt: skip


@schemathesis.check
def valid_data_is_refused_only_by_a_rule(ctx, response, case) -> bool | None:
    """A 400 to schema-valid data must name a business rule, not a malformed parameter."""
    if (
        case.meta is None
        or not case.meta.generation.mode.is_positive
        or response.status_code != 400
    ):
        return None
    body = response.json()
    if (
        body.get("code") in RULE_CODES
        or _none_of_the_required_choice(case)
        or (_names_the_page_token(body) and _a_later_page_without_its_token(case))
    ):
        return None
    raise AssertionError(f"schema-valid request refused as invalid: {body}")


def _names_the_page_token(body: dict) -> bool:
    """A 20001 that says the token is what is missing (Twilio's words: "PageToken is required
    for paging."), not a malformed parameter's."""
    return body.get("code") == 20001 and "PageToken" in str(body.get("message", ""))


def _a_later_page_without_its_token(case) -> bool:
    """Whether the request asks for a page past the first by its number alone, of a list whose
    `Page` parameter says that needs the page's token."""
    query = case.query if isinstance(case.query, dict) else {}
    if query.get("PageToken") or not _positive(query.get("Page")):
        return False
    return any(
        parameter.name == "Page"
        and parameter.definition.get("x-needs-a-token-past-the-first-page") is True
        for parameter in case.operation.query
    )


def _positive(value) -> bool:
    try:
        return int(value) > 0
    except (TypeError, ValueError):
        return False


def _none_of_the_required_choice(case) -> bool:
    """Whether the request body has none of the parameters of which the operation requires one."""
    request_body = case.operation.definition.raw.get("requestBody", {})
    names = request_body.get("x-one-of-required") if isinstance(request_body, dict) else None
    sent = case.body if isinstance(case.body, dict) else {}
    return isinstance(names, list) and bool(names) and not any(name in sent for name in names)
