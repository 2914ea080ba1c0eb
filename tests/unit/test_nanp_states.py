"""The state of a NANP number, from the fake's table, is what libphonenumber's geocoder says
(which the server no longer imports: 108 MB); and the table is what the pinned phonenumbers
gives."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import phonenumbers
import pytest
from phonenumbers import geocoder
from phonenumbers.geodata import GEOCODE_DATA

from twilio_fake.resources.messages.selection import state_of

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from nanp_states import state_in  # noqa: E402 - the generator's own reading of a description


def geocoders(number: str) -> str | None:
    """What `state_of` answered when it asked the geocoder (for a NANP number)."""
    return state_in(geocoder.description_for_number(phonenumbers.parse(number, None), "en"))


def test_the_table_is_what_the_pinned_phonenumbers_gives() -> None:
    check = [sys.executable, str(ROOT / "tools" / "nanp_states.py"), "--check"]
    assert subprocess.run(check, capture_output=True, text=True).returncode == 0


def test_the_server_does_not_load_the_geocoders_data() -> None:
    code = "import sys, twilio_fake.app; print('phonenumbers.geodata' in sys.modules)"
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "False"


def numbers_under_every_prefix(seed: int) -> list[str]:
    """A number under each prefix the geocoder knows for country code 1, the rest random."""
    rng = random.Random(seed)
    prefixes = [p for p in GEOCODE_DATA if p.startswith("1")]
    return [
        "+" + p + "".join(rng.choice("0123456789") for _ in range(11 - len(p))) for p in prefixes
    ]


@pytest.mark.parametrize("seed", [1])
def test_every_prefix_answers_as_the_geocoder(seed: int) -> None:
    numbers = numbers_under_every_prefix(seed)
    assert len(numbers) > 30_000
    differ = [(n, state_of(n), geocoders(n)) for n in numbers if state_of(n) != geocoders(n)]
    assert differ == []
    assert sum(1 for n in numbers if state_of(n) is not None) > 25_000  # (they are states)


def test_random_nanp_numbers_answer_as_the_geocoder() -> None:
    rng = random.Random(20261201)
    numbers = ["+1" + "".join(rng.choice("0123456789") for _ in range(10)) for _ in range(20_000)]
    assert [state_of(n) for n in numbers] == [geocoders(n) for n in numbers]
    assert (state_of("+14155550100"), state_of("+12015550100"), state_of("+14165550100")) == (
        "CA",
        "NJ",
        "ON",
    )


def test_a_number_outside_the_nanp_has_no_state() -> None:
    """Outside country code 1 a description can look like a state: the geocoder names a
    Georgian mobile number "Georgia" (which read as a state is GA). The fake names none there,
    as ToState is a US or Canadian number's."""
    for number in ("+995599123456", "+995322000000", "+61291234567", "+442071234567", "x"):
        assert state_of(number) is None
