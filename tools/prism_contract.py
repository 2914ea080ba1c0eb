"""Run the contract kit against Stoplight Prism mocking openapi.yaml (`make contract-prism`).

Prism serves a spec's paths at the root and ignores the server's base path (/v1), so it gets a
copy of openapi.yaml with /v1 folded into every path: the same contract, at the same URLs.
The kit starts Prism itself (`--serve`: Prism binds a free port and says where it listens).
The run is expected to report failures: it shows what a stateless mock cannot do.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from twilio_fake import fixtures

ROOT = Path(__file__).resolve().parent.parent
PRISM = ROOT / "tools" / "npm" / "node_modules" / ".bin" / "prism"
REPORTS = ROOT / "reports" / "prism"


def main() -> int:
    REPORTS.mkdir(parents=True, exist_ok=True)
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    spec["paths"] = {"/v1" + path: item for path, item in spec["paths"].items()}
    spec["servers"] = [{"url": "/"}]
    mock_spec = REPORTS / "openapi-for-prism.yaml"
    mock_spec.write_text(yaml.safe_dump(spec, sort_keys=False))
    prism = [str(PRISM), "mock", str(mock_spec), "--host", "127.0.0.1", "--port", "0"]
    # Prism checks only that credentials are present; any account of the demo will do.
    account = fixtures.demo()[0]
    service, service2 = list(account.services)[:2]
    command = [
        sys.executable, "-m", "twilio_fake_contract", "--serve", shlex.join(prism), "--disposable",
        "--user", account.sid, "--service", service, "--service2", service2,
        "--numbers", ",".join(n.sid for n in account.incoming_phone_numbers[2:]),
        "--max-examples", "30", "--reports-dir", str(REPORTS),
    ]  # fmt: skip
    env = {**os.environ, "TWILIO_CONTRACT_PASSWORD": account.auth_token}
    status = subprocess.run(command, cwd=ROOT, env=env).returncode
    print(
        f"contract against Prism finished with status {status} (failures are expected); "
        f"reports in {REPORTS.relative_to(ROOT)}/"
    )
    return 0 if (REPORTS / "contract-summary.md").exists() else 1


if __name__ == "__main__":
    sys.exit(main())
