"""Run the contract kit against Stoplight Prism mocking openapi.yaml (`make contract-prism`).

Prism serves a spec's paths at the root and ignores the server's base path (/v1), so it gets a
copy of openapi.yaml with /v1 folded into every path: the same contract, at the same URLs.
The run is expected to report failures: it shows what a stateless mock cannot do.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
import yaml

from twilio_fake.contract.runner import demo_target

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
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with open(REPORTS / "prism.log", "w") as log:
        prism = subprocess.Popen(
            [str(PRISM), "mock", str(mock_spec), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    requests.get(url, timeout=1)
                    break
                except requests.ConnectionError:
                    time.sleep(0.2)
            demo = demo_target()
            command = [
                sys.executable, "-m", "twilio_fake", "contract", "--url", url, "--disposable",
                "--user", demo.user, "--password", demo.password, "--service", demo.service,
                "--service2", demo.service2 or "", "--numbers", ",".join(demo.numbers),
                "--max-examples", "30", "--reports-dir", str(REPORTS),
            ]  # fmt: skip
            status = subprocess.run(command, cwd=ROOT).returncode
        finally:
            prism.terminate()
            prism.wait(timeout=30)
    print(
        f"contract against Prism finished with status {status} (failures are expected); "
        f"reports in {REPORTS.relative_to(ROOT)}/"
    )
    return 0 if (REPORTS / "contract-summary.md").exists() else 1


if __name__ == "__main__":
    sys.exit(main())
