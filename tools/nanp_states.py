"""Write `twilio_fake/resources/messages/nanp_states.py`: the US state or Canadian province of
each NANP number prefix, as libphonenumber's geocoder names it in English.

    python tools/nanp_states.py          # rewrite the module
    python tools/nanp_states.py --check  # exit 1 if it is not what the pinned phonenumbers gives

Why a table: importing `phonenumbers.geocoder` loads the descriptions of every prefix of every
country in every language, 108 MB of the server's memory and a third of a second of its
start-up, for the two letters of a state (Area Code Geomatch, a webhook's ToState/FromState).
The table keeps what a lookup needs: the prefixes under country code 1 whose answer differs
from their nearest shorter prefix's (the geocoder answers from the longest prefix it holds an
English name for, an empty one included). `tests/unit/test_nanp_states.py` checks it against
the geocoder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from phonenumbers.geodata import GEOCODE_DATA, GEOCODE_LONGEST_PREFIX

ROOT = Path(__file__).resolve().parent.parent
MODULE = ROOT / "twilio_fake" / "resources" / "messages" / "nanp_states.py"

# The states and provinces the geocoder names in full, by their postal abbreviations.
ABBREVIATIONS = dict(
    item.replace("_", " ").split(":", 1)
    for item in (
        "Alabama:AL Alaska:AK Arizona:AZ Arkansas:AR California:CA Colorado:CO Connecticut:CT "
        "Delaware:DE Florida:FL Georgia:GA Hawaii:HI Idaho:ID Illinois:IL Indiana:IN Iowa:IA "
        "Kansas:KS Kentucky:KY Louisiana:LA Maine:ME Maryland:MD Massachusetts:MA Michigan:MI "
        "Minnesota:MN Mississippi:MS Missouri:MO Montana:MT Nebraska:NE Nevada:NV "
        "New_Hampshire:NH New_Jersey:NJ New_Mexico:NM New_York:NY North_Carolina:NC "
        "North_Dakota:ND Ohio:OH Oklahoma:OK Oregon:OR Pennsylvania:PA Rhode_Island:RI "
        "South_Carolina:SC South_Dakota:SD Tennessee:TN Texas:TX Utah:UT Vermont:VT "
        "Virginia:VA Washington:WA West_Virginia:WV Wisconsin:WI Wyoming:WY "
        "Washington_D.C.:DC Alberta:AB British_Columbia:BC Manitoba:MB New_Brunswick:NB "
        "Newfoundland_and_Labrador:NL Nova_Scotia:NS Ontario:ON Prince_Edward_Island:PE "
        "Quebec:QC Saskatchewan:SK Northwest_Territories:NT Nunavut:NU Yukon:YT"
    ).split()
)


def state_in(place: str) -> str | None:
    """The state or province in a description: "San Francisco, CA" or "California"."""
    if ", " in place:
        return place.rsplit(", ", 1)[1]
    return ABBREVIATIONS.get(place)


def states() -> dict[str, str | None]:
    """Every prefix under country code 1 whose state differs from its nearest shorter one's."""
    # A prefix with no English name is passed over (the geocoder goes on to a shorter one).
    every = {
        prefix: state_in(names["en"])
        for prefix, names in GEOCODE_DATA.items()
        if prefix.startswith("1") and "en" in names
    }
    kept: dict[str, str | None] = {}
    for prefix in sorted(every, key=len):
        shorter = next(
            (every[prefix[:n]] for n in range(len(prefix) - 1, 0, -1) if prefix[:n] in every),
            None,
        )
        if every[prefix] != shorter:
            kept[prefix] = every[prefix]
    return dict(sorted(kept.items()))


def source() -> str:
    table = states()
    # Written as ruff formats it (double quotes), so that `make lint` leaves it as it is.
    lines = [
        f'    "{prefix}": {"None" if state is None else f"{chr(34)}{state}{chr(34)}"},'
        for prefix, state in table.items()
    ]
    return (
        '"""The US state or Canadian province of NANP number prefixes (E.164 digits, without\n'
        "the +), as libphonenumber's geocoder names them in English; a prefix whose answer is\n"
        "None has none (it hides a shorter prefix's). Written by tools/nanp_states.py from\n"
        "phonenumbers' data (Apache License 2.0, Copyright The Libphonenumber Authors): do not\n"
        'edit by hand."""\n\n'
        f"LONGEST_PREFIX = {GEOCODE_LONGEST_PREFIX}\n\n"
        "STATES: dict[str, str | None] = {\n" + "\n".join(lines) + "\n}\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    made = source()
    if parser.parse_args().check:
        if MODULE.read_text() != made:
            print(f"{MODULE} is not what phonenumbers gives: run tools/nanp_states.py")
            return 1
        return 0
    MODULE.write_text(made)
    print(f"wrote {MODULE}: {made.count(chr(10))} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
