"""`make bench` still runs: a tiny-duration pass of tools/bench.py (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from twilio_fake.app import SPEC_DIR

pytestmark = pytest.mark.e2e


def test_the_benchmark_runs_and_reports_every_measure(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    command = [sys.executable, str(SPEC_DIR / "tools" / "bench.py"), "--seconds", "1",
               "--warmup", "1", "--large", "2000", "--output", str(output)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=SPEC_DIR)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(output.read_text())
    for server in ("fake", "prism", "bare"):
        for operation in ("fetch", "list", "create+delete"):
            for connections in ("1", "16", "64"):
                measured = report["load"][server][operation][connections]
                assert measured["rps"] > 0 and measured["p99_ms"] >= measured["p50_ms"] > 0
    assert all(report["startup_s"][name] > 0 for name in ("fake", "prism", "bare"))
    for variant in ("--no-read-cache", "--no-fast-lane (connexion only)", "--workers 2"):
        assert all(report["variants"][variant][op]["rps"] > 0 for op in ("fetch", "list"))
    assert set(report["scale"]) == {"1000", "2000"}
    assert len(report["targets"]) == 11
    assert "| target | measured | bar | met |" in result.stdout
