"""The body limit's boundary: a body of exactly the limit is read, one byte more is 413, whether
its length is declared or it comes in chunks."""

from __future__ import annotations

import pytest

from tests.support import AUTH, NUMBERS, app_for, assert_error, pool_path, post_in_pieces

LIMIT = 200  # bytes; a small limit, so that the bodies stay small
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def body_of(size: int, number: str) -> bytes:
    body = f"PhoneNumberSid={number}&Pad=".encode()
    return body + b"x" * (size - len(body))


@pytest.mark.parametrize("sent", ["with a length", "chunked"])
def test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_413(backend, sent) -> None:
    with app_for(backend, max_body_bytes=LIMIT).test_client() as client:

        def post(body: bytes):  # type: ignore[no-untyped-def]
            if sent == "with a length":
                return client.post(pool_path(), content=body, headers=FORM, auth=AUTH)
            # No Content-Length, and two messages: the limit is counted as the body comes.
            return post_in_pieces(client, pool_path(), [body[:50], body[50:]], FORM)

        assert_error(post(body_of(LIMIT + 1, NUMBERS[0])), 413, 20001)
        response = post(body_of(LIMIT, NUMBERS[0]))
        assert response.status_code == 201, response.text
        listed = client.get(pool_path(), auth=AUTH).json()["phone_numbers"]
        assert [entry["sid"] for entry in listed] == [NUMBERS[0]]
