"""The pytest plugin (entry point `pytest11`): the fake as fixtures, once twilio-fake is installed.

    def test_adds_number(twilio_client, twilio_account):
        pool = twilio_client.messaging.v1.services(twilio_account.services[0]).phone_numbers
        pool.create(phone_number_sid=twilio_account.numbers[0])
        assert [n.sid for n in pool.list()] == [twilio_account.numbers[0]]

- `twilio_fake`: one fake per test session (per worker under pytest-xdist), started on a free
  port with a database of its own, or the one `--twilio-fake-url` names. It has `.url` and the
  methods of twilio_fake.testing.FakeTwilio (journal, faults, accounts).
- `twilio_account`: a freshly minted account for each test (`.sid`, `.auth_token`,
  `.services`, `.numbers`), dropped after it; tests see nothing of each other's, so they can
  run in parallel. `@pytest.mark.twilio_account(services=2, numbers=5)` sizes it.
- `twilio_client`: a `twilio.rest.Client` for that account that only talks to the fake.
- `twilio_proxy_env`: for code under test that builds its own `Client()`: the environment that
  sends it, unmodified, through the fake's proxy to the fake, as that account (applied with
  monkeypatch for the test; the dict is returned, e.g. for a subprocess).
- `twilio_clock`: `twilio_account`'s clock, frozen for the test: its messages change status only
  when the test calls `.advance(seconds)`, which answers once their callbacks were sent.
- `twilio_callbacks`: a real HTTP receiver on loopback, in a thread, for the test: point a
  StatusCallback or an sms_url at `.url`; `.requests` is what came, in order (`.wait_for(n)`,
  `.params`, `.signed_by(auth_token)`); it answers 200 with an empty TwiML `<Response/>`.

Nothing starts unless a test asks for one of these fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from twilio.rest import Client

    from twilio_fake.testing import Account, CallbackReceiver, Clock, FakeTwilio

DEFAULT_SERVICES = 1
DEFAULT_NUMBERS = 3


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("twilio-fake", "the Twilio fake (twilio_fake, twilio_account, ...)")
    group.addoption(
        "--twilio-fake-url",
        metavar="URL",
        help="use the fake already running at URL instead of starting one per session (its "
        "control token, if any, from $TWILIO_FAKE_CONTROL_TOKEN)",
    )
    group.addoption(
        "--twilio-fake-fixtures",
        metavar="FILE",
        help="fixture YAML file for the fake this starts (default: the built-in demo)",
    )
    group.addoption(
        "--twilio-fake-pool-limit",
        metavar="N",
        type=int,
        help="phone numbers a service may hold in the fake this starts (default 400)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "twilio_account(services=1, numbers=3): the size of the test's minted Twilio account",
    )


@pytest.fixture(scope="session")
def twilio_fake(pytestconfig: pytest.Config) -> Iterator[FakeTwilio]:
    """The fake of this test session (of this xdist worker): started here, or given by URL."""
    from twilio_fake.testing import FakeTwilio

    fake = FakeTwilio(
        pytestconfig.getoption("twilio_fake_url"),
        fixtures=pytestconfig.getoption("twilio_fake_fixtures"),
        pool_limit=pytestconfig.getoption("twilio_fake_pool_limit"),
    )
    with fake:
        yield fake


@pytest.fixture
def twilio_account(twilio_fake: FakeTwilio, request: pytest.FixtureRequest) -> Iterator[Account]:
    """An account of this test's own, dropped (with everything in it) after the test."""
    from twilio_fake.testing import FakeTwilioError

    marker = request.node.get_closest_marker("twilio_account")
    sizes: dict[str, Any] = {"services": DEFAULT_SERVICES, "numbers": DEFAULT_NUMBERS}
    sizes |= marker.kwargs if marker else {}
    account = twilio_fake.new_account(**sizes)
    yield account
    try:
        twilio_fake.drop_account(account)
    except FakeTwilioError:
        pass  # dropped by the test itself, or the fake was reset


@pytest.fixture
def twilio_proxy_env(
    twilio_fake: FakeTwilio, twilio_account: Account, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Proxy variables and `twilio_account`'s credentials, set for the test: a plain `Client()`
    in the code under test reaches the fake through its proxy (see docs/proxy.md)."""
    env = twilio_fake.proxy_env(twilio_account)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def twilio_client(twilio_fake: FakeTwilio, twilio_account: Account) -> Client:
    """An official SDK client for `twilio_account`; it refuses to send to any host but the fake."""
    return twilio_fake.client(twilio_account)


@pytest.fixture
def twilio_clock(twilio_fake: FakeTwilio, twilio_account: Account) -> Clock:
    """`twilio_account`'s clock, frozen: statuses move when the test advances it."""
    clock = twilio_fake.clock(twilio_account)
    clock.freeze()
    return clock


@pytest.fixture
def twilio_callbacks() -> Iterator[CallbackReceiver]:
    """A webhook receiver of the test's own (a real HTTP server on loopback, in a thread)."""
    from twilio_fake.testing import CallbackReceiver

    with CallbackReceiver() as receiver:
        yield receiver
