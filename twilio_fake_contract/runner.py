"""The kit's command: run the scenarios, then schemathesis, against a server; write reports.

The server is given by its URL, or by a command that starts one (`--serve`: the command must
print `listening on <URL>`; it is stopped after the run). The target is left as it was found:
what a stage added is removed, what it removed is put back, even when a check fails midway.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

import requests
import yaml

from . import reports, scenarios
from .scenarios import Client, Target
from .serving import Server

PASSWORD_VARIABLE = "TWILIO_CONTRACT_PASSWORD"  # the password, kept off the command line


@dataclass
class Options:
    url: str | None
    serve: str | None  # a command that starts the server (and prints where it listens)
    user: str | None
    password: str | None
    service: str | None
    numbers: list[str]
    service2: str | None
    max_examples: int
    seed: int
    rate: str | None  # "10/s", as schemathesis takes it
    read_only: bool
    reports_dir: Path
    disposable: bool = False  # a throwaway target: no snapshot, no restore
    voice_only: str | None = None
    pool_limit: int | None = None


def parse_args(argv: list[str], prog: str = "python -m twilio_fake_contract") -> Options:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Check a server against openapi.yaml: behavioural scenarios, then "
        "schemathesis with every check. Give the server's --url, or a --serve command that "
        "starts one.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--url", help="base URL of the server (scheme://host:port)")
    where.add_argument(
        "--serve",
        help="a command that starts the server and prints 'listening on <URL>'; stopped after",
    )
    parser.add_argument("--user", help="Account SID or API Key SID")
    parser.add_argument(
        "--password",
        default=os.environ.get(PASSWORD_VARIABLE),
        help=f"auth token or API key secret (default: ${PASSWORD_VARIABLE}, which keeps it "
        "out of the process list)",
    )
    parser.add_argument("--service", help="an MG… service of the account")
    parser.add_argument("--numbers", default="", help="comma-separated PN… incoming numbers, free")
    parser.add_argument(
        "--service2", help="a second MG… service of the account (21712; the pool-full fallback)"
    )
    parser.add_argument(
        "--voice-only", help="an incoming PN… number with neither SMS nor MMS (checks 21715)"
    )
    parser.add_argument(
        "--pool-limit",
        type=int,
        help="how many numbers --service may hold, if --numbers can fill it (checks 412 21714)",
    )
    parser.add_argument("--max-examples", type=int, default=50, help="per operation (default 50)")
    parser.add_argument("--seed", type=int, default=20261127, help="for reproducible runs")
    parser.add_argument("--rate", help="rate limit, e.g. 10/s (default: none)")
    parser.add_argument("--read-only", action="store_true", help="send GET requests only")
    parser.add_argument(
        "--disposable",
        action="store_true",
        help="the target is thrown away after the run (a stateless mock): no snapshot or restore",
    )
    parser.add_argument("--reports-dir", type=Path, default=Path("reports"))
    args = parser.parse_args(argv)
    if not (args.url or args.serve):
        parser.error("give --url, or --serve")
    if not (args.user and args.password and args.service and (args.numbers or args.read_only)):
        parser.error(f"give --user, --password (or ${PASSWORD_VARIABLE}), --service and --numbers")
    numbers = [n.strip() for n in args.numbers.split(",") if n.strip()]
    return Options(
        args.url,
        args.serve,
        args.user,
        args.password,
        args.service,
        numbers,
        args.service2,
        args.max_examples,
        args.seed,
        args.rate,
        args.read_only,
        args.reports_dir,
        args.disposable,
        args.voice_only,
        args.pool_limit,
    )


@contextlib.contextmanager
def target_for(options: Options) -> Iterator[Target]:
    """The given server, or one started with the --serve command (stopped on exit)."""
    rate = _per_second(options.rate)
    with contextlib.ExitStack() as stack:
        url = options.url
        if options.serve:
            url = stack.enter_context(Server(shlex.split(options.serve))).url
        assert url is not None
        yield Target(
            url.rstrip("/"),
            options.user or "",
            options.password or "",
            options.service or "",
            options.numbers,
            options.service2,
            rate,
            options.voice_only,
            options.pool_limit,
        )


def _per_second(rate: str | None) -> float | None:
    if not rate:
        return None
    count, _, unit = rate.partition("/")
    seconds = {"s": 1, "m": 60, "h": 3600}[unit or "s"]
    return float(count) / seconds


def schemathesis_config(target: Target, read_only: bool) -> str:
    """Keep schemathesis to the numbers it was given, and to GET when read-only.

    SIDs are drawn mostly from the target's service and numbers, so sequences reach state.
    Schemathesis would also reuse SIDs it saw in responses and follow links it infers (a list
    entry to its delete): on a real account that deletes numbers the run was not given, so both
    are off. Read-only runs do not probe undeclared methods either (that sends POST and DELETE).
    """
    services = [target.service] + ([target.service2] if target.service2 else [])

    def values(items: list[str]) -> str:
        return ", ".join(f'"{item}"' for item in items)

    lines = [
        "[phases.stateful.inference]",
        "algorithms = []",
        "[phases.examples]",
        "extra-data-sources = { responses = false }",
        "[phases.fuzzing]",
        "extra-data-sources = { responses = false }",
        "[phases.coverage]",
        "extra-data-sources = { responses = false }",
        *(["unexpected-methods = []"] if read_only else []),
        "[checks]",
        "positive_data_acceptance = { expected-statuses = "
        '["2xx", "400", "401", "404", "409", "412"] }',
        "[dictionaries.services]",
        f"values = [{values(services)}]",
    ]
    parameters = ['"path.ServiceSid" = { dictionary = "services", probability = 0.8 }']
    if target.numbers:
        lines += ["[dictionaries.numbers]", f"values = [{values(target.numbers)}]"]
        parameters += [
            '"path.Sid" = { dictionary = "numbers", probability = 0.8 }',
            '"body.PhoneNumberSid" = { dictionary = "numbers", probability = 0.8 }',
        ]
    return "\n".join([*lines, "[parameters]", *parameters]) + "\n"


def run_schemathesis(target: Target, options: Options) -> reports.Stage:
    """Run schemathesis's CLI with every check and phase; read its JUnit report back."""
    directory = options.reports_dir.resolve()
    config = directory / "schemathesis.toml"
    config.write_text(schemathesis_config(target, options.read_only))
    junit = directory / "contract-schemathesis.xml"
    # Read-only runs have no create, so the spec's links have nothing to start from.
    phases = ["examples", "coverage", "fuzzing"] + ([] if options.read_only else ["stateful"])
    spec = resources.files(__package__).joinpath("openapi.yaml")
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run", str(spec),
        "--url", target.url + _server_path(spec), "--auth", f"{target.user}:{target.password}",
        "--checks", "all", "--phases", ",".join(phases),
        "--seed", str(options.seed), "--max-examples", str(options.max_examples),
        "--report", "junit", "--report-junit-path", str(junit), "--no-color",
        "--generation-database", "none",
    ]  # fmt: skip
    if options.read_only:
        command += ["--include-method", "GET"]
    if options.rate:
        command += ["--rate-limit", options.rate]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": f"{__package__}.checks"}
    started = time.monotonic()
    # In a directory of its own: schemathesis keeps caches in its working directory, and the
    # user's is not the place for them.
    with tempfile.TemporaryDirectory(prefix="twilio-contract-") as scratch:
        result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=scratch)
    (directory / "contract-schemathesis.txt").write_text(result.stdout + result.stderr)
    failures = _junit_failures(junit) if junit.exists() else []
    if result.returncode != 0 and not failures:
        failures = [
            reports.Failure(
                "schemathesis",
                "run",
                "",
                "a completed run",
                (result.stdout + result.stderr)[-2000:],
            )
        ]
    return reports.Stage("schemathesis", time.monotonic() - started, failures, _junit_count(junit))


def _server_path(contract: Any) -> str:
    """The path of the contract's first server (`/` or `/v1`), which its paths follow."""
    servers = yaml.safe_load(contract.read_text(encoding="utf-8")).get("servers") or [{}]
    return urlsplit(servers[0].get("url", "/")).path.rstrip("/")


def _junit_failures(path: Path) -> list[reports.Failure]:
    failures = []
    for case in ElementTree.parse(path).iter("testcase"):
        for problem in [*case.findall("failure"), *case.findall("error")]:
            text = problem.text or problem.get("message") or ""
            curl = next(
                (ln.strip() for ln in text.splitlines() if ln.strip().startswith("curl ")), ""
            )
            check = problem.get("message") or text.strip().splitlines()[0] if text.strip() else ""
            failures.append(
                reports.Failure(case.get("name", "?"), check, curl, "see the check", text)
            )
    return failures


def _junit_count(path: Path) -> int:
    return len(list(ElementTree.parse(path).iter("testcase"))) if path.exists() else 0


def run(options: Options) -> int:
    options.reports_dir.mkdir(parents=True, exist_ok=True)
    stages: list[reports.Stage] = []
    restored: list[str] = []
    with target_for(options) as target:
        client = Client(target)
        try:
            keeps_state = not (options.read_only or options.disposable)
            before = scenarios.snapshot(client) if keeps_state else None
        except (scenarios.ScenarioFailed, requests.RequestException, ValueError, KeyError) as error:
            # Without knowing the starting state the run could not promise to restore it.
            stages.append(_stage_failure("snapshot", "the pools can be listed", error))
        else:
            try:
                started = time.monotonic()
                outcomes = scenarios.run(target, options.read_only)
                seconds = time.monotonic() - started
                stages.append(reports.Stage.from_outcomes("scenarios", seconds, outcomes))
                if before is not None:
                    restored += scenarios.restore(client, before)
                stages.append(run_schemathesis(target, options))
            finally:
                if before is not None:
                    stages += _restore(client, before, restored)
    summary = reports.write(options.reports_dir, target.url, options, stages, restored)
    print(summary)
    return 0 if stages and all(stage.passed for stage in stages) else 1


def _restore(
    client: Client, before: dict[str, set[str]], restored: list[str]
) -> list[reports.Stage]:
    """Put the target back as it was; report a failure if it cannot be done."""
    try:
        restored += scenarios.restore(client, before)
        after = scenarios.snapshot(client)
    except (scenarios.ScenarioFailed, requests.RequestException, ValueError, KeyError) as error:
        return [_stage_failure("restore", "the target is left as it was found", error)]
    if after != before:
        failure = reports.Failure(
            "restore", "the target is left as it was found", "", str(before), str(after)
        )
        return [reports.Stage("restore", 0, [failure], 1, ["restore"])]
    return []


def _stage_failure(name: str, check: str, error: Exception) -> reports.Stage:
    call = getattr(error, "call", None)
    seen = getattr(error, "seen", None) or f"{type(error).__name__}: {error}"
    failure = reports.Failure(name, check, call.curl() if call else "", check, str(seen))
    return reports.Stage(name, 0, [failure], 1, [name])


def main(argv: list[str], prog: str = "python -m twilio_fake_contract") -> int:
    return run(parse_args(argv, prog))
