"""The journal's page bound, to the byte: a page holds entries while their JSON, each with the
comma after it, fits in `max_page_bytes`; the first entry always fits."""

from __future__ import annotations

import json
import re

from twilio_fake.journal import MAX_VALUE_BYTES, Entry, Journal, now, parameters


def entry(number: int) -> Entry:
    return Entry(
        time="2026-12-01T00:00:00.000Z",
        request_id=f"RQ{number:032x}",
        operation="ListPhoneNumber",
        method="GET",
        path="/v1/Services/MG/PhoneNumbers",
        query={"PageSize": str(number)},
        form={},
        status=200,
        code=None,
        account=None,
        injected=None,
        duration_ms=1.0,
    )


def size(number: int) -> int:
    return len(json.dumps(entry(number).as_dict()))


def pages(journal: Journal, page_size: int = 100) -> list[list[str]]:
    found, cursor = [], None
    while True:
        page = journal.page(page_size, cursor)
        found.append([e.query["PageSize"] for e in page.entries])
        if page.cursor is None:
            return found
        cursor = page.cursor


def test_a_page_holds_entries_while_they_fit_to_the_byte() -> None:
    fits = size(3) + 1 + size(2)  # the two newest, the first with its comma
    for limit, expected in [
        (fits, [["3", "2"], ["1"]]),
        (fits - 1, [["3"], ["2"], ["1"]]),
        (1, [["3"], ["2"], ["1"]]),  # one entry always fits
    ]:
        journal = Journal(10, max_page_bytes=limit)
        for number in (1, 2, 3):
            journal.record(entry(number))
        assert pages(journal) == expected, limit


def test_page_size_and_cursor_walk_every_entry_once_newest_first() -> None:
    journal = Journal(5)
    for number in range(1, 8):  # the two oldest are forgotten
        journal.record(entry(number))
    assert pages(journal, page_size=2) == [["7", "6"], ["5", "4"], ["3"]]
    assert pages(journal, page_size=5) == [["7", "6", "5", "4", "3"]]


def test_parameters_keep_blanks_repeats_and_undecodable_bytes() -> None:
    assert parameters(b"A=&B=one&B=two&B=three&C=%FF&D=\xff") == {
        "A": "",
        "B": ["one", "two", "three"],
        "C": "\ufffd",  # escaped
        "D": "\ufffd",  # raw: a body need not be UTF-8
    }


def test_a_value_is_kept_while_it_is_written_in_the_bound_and_cut_past_it() -> None:
    fits = "v" * MAX_VALUE_BYTES
    assert parameters(f"A={fits}".encode()) == {"A": fits}
    assert parameters(f"A={fits}v".encode()) == {"A": "v" * (MAX_VALUE_BYTES - 3) + "..."}
    escaped = "%01" * (MAX_VALUE_BYTES // 6)  # each written as six bytes: \u0001
    assert parameters(f"A={escaped}".encode()) == {"A": "\x01" * (MAX_VALUE_BYTES // 6)}


def test_an_entrys_time_is_utc_to_the_millisecond() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", now())


def test_a_request_is_read_into_the_entry_it_was_before_being_kept_raw() -> None:
    """The edge keeps a request as it came (journal.Request) and the journal decodes and cuts
    it when read: the entry read is the one built at once from the whole request."""
    from twilio_fake.journal import Request, cut_path, error_code

    path = "/v1/Services/" + "\u00e9" * 700  # six bytes each, as JSON writes them
    query = b"PageSize=50&" + b"&".join(b"x%d=%s" % (n, b"v" * 300) for n in range(30))
    form = b"PhoneNumberSid=PN1&FriendlyName=%F0%9F%98%80"
    error = b'{"code": 21710, "message": "no", "more_info": "", "status": 400}'
    moment = 1_780_000_000.1234
    request = Request(moment, "RQ1", "CreatePhoneNumber", "POST", path[:513], query, form,
                      400, error, "AC1", None, 1.5)  # fmt: skip
    kept = Journal(10)
    kept.record(request)
    (entry,) = kept.page(10).entries
    assert entry == Entry(
        time="2026-05-28T20:26:40.123Z",
        request_id="RQ1",
        operation="CreatePhoneNumber",
        method="POST",
        path=cut_path(path),
        query=parameters(query),
        form=parameters(form),
        status=400,
        code=error_code(error),
        account="AC1",
        injected=None,
        duration_ms=1.5,
    )
    assert entry.path.endswith("...") and len(entry.query) == 20
    assert (
        Request(moment, "RQ2", None, "GET", "/", b"", b"", 200, b"", None, None, 1.0).entry().code
        is None
    )
