"""The contract as other teams receive it: the published files, and a kit of its own."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT, load_yaml, npm_tools

CURRENT = load_yaml(ROOT / "openapi.yaml")


def test_the_published_artefacts_are_built_from_the_contract(tmp_path: Path) -> None:
    """`make spec` builds the published files from openapi.yaml; here into a scratch folder."""
    npm_tools()  # installed first, one worker at a time (make spec would install them too)
    subprocess.run(
        ["make", "--no-print-directory", "-s", "spec", f"DIST={tmp_path}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    bundled_yaml = load_yaml(tmp_path / "openapi.yaml")
    bundled_json = json.loads((tmp_path / "openapi.json").read_text())
    assert bundled_yaml == bundled_json
    assert (
        bundled_yaml["info"] == CURRENT["info"]
        and bundled_yaml["paths"].keys() == CURRENT["paths"].keys()
    )
    html = (tmp_path / "openapi.html").read_text()
    assert CURRENT["info"]["title"] in html
    # Self-contained: nothing is loaded from elsewhere (links a reader may click are fine).
    assert not re.search(r'<script[^>]+src="https?:', html)
    assert not re.search(
        r'<link[^>]+rel="(stylesheet|modulepreload|preload)"[^>]+href="https?:', html
    )
    # Opened, it contacts no host: Redoc's telemetry is off, and the page's own policy lets the
    # browser load nothing but what the file holds (Redoc's logo from its CDN, say).
    assert redoc_options(html)["disableTelemetry"] is True
    policy = content_security_policy(html)
    assert policy["default-src"] == ["'none'"] and policy["connect-src"] == ["'none'"]
    for directive, sources in policy.items():
        assert set(sources) <= {"'none'", "'unsafe-inline'", "data:"}, (directive, sources)
    # What other teams read names no Python: no module paths, no x-…Func extensions.
    for published in [*tmp_path.iterdir(), ROOT / "published" / "openapi.yaml"]:
        text = published.read_text()
        assert not re.search(r"twilio_fake|handlers\.|x-\w+Func", text), published.name


def redoc_options(html: str) -> dict:
    (options,) = re.findall(r"const __redoc_options = (\{.*?\});\n", html)
    return json.loads(options)


def content_security_policy(html: str) -> dict[str, list[str]]:
    """The directives of the page's Content-Security-Policy meta element (there must be one)."""
    (content,) = re.findall(r'<meta http-equiv="Content-Security-Policy"\s+content="([^"]*)"', html)
    directives = (part.split() for part in content.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


def test_make_spec_sends_no_telemetry() -> None:
    """Every Redocly command `make spec` runs has its telemetry (and update check) off."""
    commands = subprocess.run(
        ["make", "--no-print-directory", "-n", "spec", "DIST=/nonexistent"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    redocly = [line for line in commands if "node_modules/.bin/redocly" in line]
    assert len(redocly) == 4
    for line in redocly:
        assert "REDOCLY_TELEMETRY=off" in line and "REDOCLY_SUPPRESS_UPDATE_NOTICE=true" in line


def test_the_contract_kit_runs_without_the_fake() -> None:
    """The kit is its own package: importing all of it loads no module of the fake."""
    code = (
        "import sys, twilio_fake_contract.runner, twilio_fake_contract.compat, "
        "twilio_fake_contract.serving, twilio_fake_contract.checks; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'twilio_fake'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
