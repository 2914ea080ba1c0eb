"""The contract kit passes against the fake, and catches each deliberately broken variant."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from xml.etree import ElementTree

import pytest
import requests

from tests.support import (
    AUTH,
    NUMBERS,
    ROOT,
    SERVICE,
    SERVICE2,
    VOICE_ONLY_NUMBER,
    Server,
    pool_path,
    serve,
)

DEMO_TARGET = [
    "--user", AUTH[0], "--service", SERVICE,
    "--numbers", ",".join(NUMBERS[2:5]), "--service2", SERVICE2, "--voice-only", VOICE_ONLY_NUMBER,
]  # fmt: skip


def contract(reports: Path, *args: str) -> tuple[int, str]:
    """Run `twilio-fake contract`; return its exit status and the Markdown summary."""
    command = [sys.executable, "-m", "twilio_fake", "contract", "--reports-dir", str(reports),
               "--max-examples", "15", *args]  # fmt: skip
    env = {**os.environ, "TWILIO_CONTRACT_PASSWORD": AUTH[1]}
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env=env, cwd=reports.parent
    )
    summary = (reports / "contract-summary.md").read_text()
    assert summary in result.stdout
    return result.returncode, summary


def test_passes_against_a_fresh_fake_and_writes_its_reports(tmp_path: Path) -> None:
    status, summary = contract(tmp_path)
    assert status == 0, summary
    assert summary.startswith("# Contract run: PASSED")
    for name in ("contract-scenarios.xml", "contract-schemathesis.xml"):
        suite = ElementTree.parse(tmp_path / name).getroot()
        cases = list(suite.iter("testcase"))
        assert cases and not [c for c in cases if c.find("failure") is not None]
    assert "| scenarios | passed | 10 |" in summary
    # It says it undid its own changes, in words that cannot read as the user's numbers lost.
    assert "Clean-up (the target's pools are as the run found them): " in summary
    assert "which the run had added, out of" in summary or "left nothing to undo" in summary
    for scenario in (
        "a full pool is 412 21714; the next service takes it",
        "a voice-only number is 21715",
        "PageSize above 1000 pages by 1000 at most",
        "unknown parameters are ignored",
    ):
        assert scenario in (tmp_path / "contract-scenarios.xml").read_text()


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[Server]:
    server = serve(tmp_path / "target.sqlite3")
    yield server
    server.stop()


def pools(server: Server) -> dict[str, list[dict]]:
    return {
        service: requests.get(server.url + pool_path(service), auth=AUTH, timeout=5).json()[
            "phone_numbers"
        ]
        for service in (SERVICE, SERVICE2)
    }


def test_runs_against_a_given_url_and_leaves_it_as_it_found_it(
    fake: Server, tmp_path: Path
) -> None:
    # Some state of the target's own that must survive the run untouched. (Not PN…01: that is
    # the spec's example SID, which the examples phase fetches and deletes.)
    requests.post(fake.url + pool_path(), data={"PhoneNumberSid": NUMBERS[1]}, auth=AUTH, timeout=5)
    before = pools(fake)
    status, summary = contract(tmp_path, "--url", fake.url, *DEMO_TARGET, "--rate", "500/s")
    assert status == 0, summary
    assert f"- target: {fake.url}" in summary
    assert pools(fake) == before


def test_read_only_mode_sends_only_gets(fake: Server, tmp_path: Path) -> None:
    status, summary = contract(tmp_path, "--url", fake.url, *DEMO_TARGET, "--read-only")
    assert status == 0, summary
    requests_made = [
        ln
        for ln in fake.output_so_far().splitlines()
        if "twilio_fake.requests" in ln and " /v1/" in ln
    ]
    assert len(requests_made) > 20
    assert {line.split()[5] for line in requests_made} == {"GET"}


def test_the_rate_limit_is_kept(fake: Server, tmp_path: Path) -> None:
    status, summary = contract(tmp_path, "--url", fake.url, *DEMO_TARGET, "--rate", "20/s")
    assert status == 0, summary
    stamps = [
        datetime.strptime(" ".join(ln.split()[:2]), "%Y-%m-%d %H:%M:%S,%f")
        for ln in fake.output_so_far().splitlines()
        if "twilio_fake.requests" in ln and " /v1/" in ln
    ]
    # The limiter keeps the average; a burst where two of its windows meet may reach twice it.
    seconds = (stamps[-1] - stamps[0]).total_seconds()
    assert len(stamps) > 100 and len(stamps) / seconds <= 22
    busiest = max(sum(1 for t in stamps if 0 <= (t - s).total_seconds() < 1) for s in stamps)
    assert busiest <= 40


@pytest.mark.parametrize(
    ("variant", "caught_by"),
    [
        (
            "wrong-code",
            r"add twice is 21710: POST .*\n.*\n.*\nexpected: 409 21710\nseen: 409 21711",
        ),
        ("missing-header", r"(?i)twilio-request-id"),
        ("broken-paging", r"next_page_url stays on the server under test"),
        ("server-error", r"(?i)server error"),
        ("auth-bypass", r"wrong password is 20003: GET .*\n.*\n.*\nexpected: 401 20003\nseen: 200"),
    ],
)
def test_catches_a_broken_variant(variant: str, caught_by: str, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "tests.support.broken_fakes", variant,
               "--database", str(tmp_path / "broken.sqlite3")]  # fmt: skip
    server = Server(command, cwd=ROOT)
    try:
        before = pools(server)
        status, summary = contract(tmp_path / "reports", "--url", server.url, *DEMO_TARGET)
        after = pools(server)
    finally:
        server.stop()
    assert status == 1
    assert summary.startswith("# Contract run: FAILED")
    assert re.search(caught_by, summary), summary
    assert (
        "request: curl " in summary or "curl -X" in summary
    )  # each failure says how to reproduce it
    assert after == before  # left as found, even though checks failed midway
