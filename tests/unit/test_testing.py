"""The SDK client of twilio_fake.testing sends to the fake only, whatever Twilio host it names."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from twilio_fake.testing import FakeTwilioError, to_fake

FAKE = urlsplit("http://127.0.0.1:8123")


@pytest.mark.parametrize(
    "url",
    [
        "https://messaging.twilio.com/v1/Services/MG1/PhoneNumbers?PageSize=2",
        "https://messaging.sydney.au1.twilio.com/v1/Services/MG1/PhoneNumbers?PageSize=2",
        "https://MESSAGING.TWILIO.COM/v1/Services/MG1/PhoneNumbers?PageSize=2",
    ],
)
def test_every_twilio_host_is_moved_onto_the_fake(url: str) -> None:
    assert to_fake(url, FAKE) == "http://127.0.0.1:8123/v1/Services/MG1/PhoneNumbers?PageSize=2"


def test_the_fakes_own_urls_pass_as_they_are() -> None:
    url = "http://127.0.0.1:8123/v1/Services/MG1/PhoneNumbers?Page=1&PageToken=x"
    assert to_fake(url, FAKE) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/v1/Services",
        "https://twilio.com.example.com/v1",
        "https://eviltwilio.com/v1",
        "http://127.0.0.1:9999/v1",
        "https://127.0.0.1:8123/v1",
    ],
)
def test_any_other_host_is_refused(url: str) -> None:
    with pytest.raises(FakeTwilioError, match="not the fake"):
        to_fake(url, FAKE)
