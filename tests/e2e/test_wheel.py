"""The built wheel works on its own: installed in a fresh environment, run from elsewhere.

`make` installs the project editable, which would hide a file left out of the wheel; this
builds the wheel, installs it (with the contract extra) into a virtual environment outside the
repository, and runs it from another directory.
"""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml
from twilio.rest import Client

from tests.support import (
    ACCOUNT,
    NUMBERS,
    ROOT,
    SERVICE,
    TOKEN,
    Server,
    fresh_environment,
    load_yaml,
)


@dataclass
class Installed:
    wheel: Path
    bin: Path  # the fresh environment's bin/
    elsewhere: Path  # a directory with nothing of the repository in it

    def run(self, *command: str, **options) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
        return subprocess.run(
            command, capture_output=True, text=True, cwd=self.elsewhere, timeout=120, **options
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, built_wheel: Path) -> Iterator[Installed]:
    scratch = tmp_path_factory.mktemp("wheel")
    bin_dir = fresh_environment(scratch / "venv", f"{built_wheel}[contract]")
    elsewhere = scratch / "elsewhere"
    elsewhere.mkdir()
    yield Installed(built_wheel, bin_dir, elsewhere)


def test_the_wheel_holds_two_packages_with_their_specs_and_no_generic_names(
    installed: Installed,
) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert {t for t in top_level if not t.endswith(".dist-info")} == {
        "twilio_fake",
        "twilio_fake_contract",
    }
    for packaged in (
        "twilio_fake/openapi.yaml",
        "twilio_fake/control.yaml",
        "twilio_fake/demo_fixtures.yaml",
        "twilio_fake/checked_specs.json",
        "twilio_fake/handlers/pool.py",
        "twilio_fake/resources/pool/model.py",
        "twilio_fake_contract/openapi.yaml",
    ):
        assert packaged in names
    contract = zipfile.ZipFile(installed.wheel).read("twilio_fake/openapi.yaml")
    assert contract == (ROOT / "openapi.yaml").read_bytes()


def test_the_installed_fake_serves_from_another_directory(installed: Installed) -> None:
    with Server(
        [str(installed.bin / "twilio-fake"), "--port", "0", "--database", "fake.sqlite3"],
        cwd=installed.elsewhere,
    ) as server:
        health = requests.get(f"{server.url}/_fake/health", timeout=5)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        client = Client(ACCOUNT, TOKEN)
        client.messaging.base_url = server.url
        pool = client.messaging.v1.services(SERVICE).phone_numbers
        assert pool.create(phone_number_sid=NUMBERS[0]).sid == NUMBERS[0]
        assert [number.sid for number in pool.list()] == [NUMBERS[0]]
        assert requests.get(f"{server.url}/docs/", timeout=5).status_code == 200
    assert (installed.elsewhere / "fake.sqlite3").exists()


def test_the_installed_contract_kit_answers_help(installed: Installed) -> None:
    result = installed.run(str(installed.bin / "twilio-fake"), "contract", "--help")
    assert result.returncode == 0, result.stderr
    assert "--url" in result.stdout and "--serve" in result.stdout


def shadowing_copy(installed: Installed, tmp_path: Path) -> Path:
    """A copy of the installed package, to be broken, that shadows the installed one."""
    site = Path(
        installed.run(
            str(installed.bin / "python"), "-c", "import twilio_fake; print(twilio_fake.__file__)"
        ).stdout.strip()
    ).parent
    shadow = tmp_path / "shadow"
    shutil.copytree(site, shadow / "twilio_fake")
    return shadow


def serve_shadowed(installed: Installed, shadow: Path) -> subprocess.CompletedProcess[str]:
    command = [str(installed.bin / "python"), "-m", "twilio_fake", "--port", "0",
               "--database", ":memory:"]  # fmt: skip
    return installed.run(*command, env={"PYTHONPATH": str(shadow), "PATH": "/usr/bin:/bin"})


def test_a_broken_operation_id_stops_the_server_before_it_listens(
    installed: Installed, tmp_path: Path
) -> None:
    shadow = shadowing_copy(installed, tmp_path)
    spec_file = shadow / "twilio_fake" / "openapi.yaml"
    spec = load_yaml(spec_file)
    spec["paths"]["/v1/Services/{ServiceSid}/PhoneNumbers"]["get"]["operationId"] = "ListNumbers"
    spec_file.write_text(yaml.safe_dump(spec))
    result = serve_shadowed(installed, shadow)
    assert result.returncode == 2
    assert "listening" not in result.stdout
    assert result.stderr.strip() == (
        "twilio-fake: GET /v1/Services/{ServiceSid}/PhoneNumbers: "
        "operationId 'ListNumbers' names no handler"
    )


def test_a_spec_that_does_not_parse_stops_the_server_before_it_listens(
    installed: Installed, tmp_path: Path
) -> None:
    shadow = shadowing_copy(installed, tmp_path)
    (shadow / "twilio_fake" / "control.yaml").write_text("paths: [unclosed\n")
    result = serve_shadowed(installed, shadow)
    assert result.returncode == 2
    assert "listening" not in result.stdout
    assert result.stderr.startswith("twilio-fake: control.yaml cannot be read: ")
    assert len(result.stderr.strip().splitlines()) == 1
