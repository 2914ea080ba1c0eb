"""The kit's command: run the scenarios, then schemathesis, against a server; write reports.

The server is given by its URL, or by a command that starts one (`--serve`: the command must
print `listening on <URL>`; it is stopped after the run). The target is left as it was found:
what a stage added is removed, what it removed is put back, even when a check fails midway.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from xml.etree import ElementTree

import requests

from . import checks, compare, contract, reports, scenarios
from .scenarios import Client, Target
from .serving import Server

PASSWORD_VARIABLE = "TWILIO_CONTRACT_PASSWORD"  # the password, kept off the command line
COMPARE_PASSWORD_VARIABLE = "TWILIO_COMPARE_PASSWORD"  # the second server's, in compare mode
BUYING_OPERATION = "CreateIncomingPhoneNumber"  # costs money on Twilio: only --allow-purchases
# Texts random numbers when fuzzed: for a fake only (--fuzz-sends), never a real account.
SENDING_OPERATION = "CreateMessage"


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
    compare: Target | None = None  # compare mode: the second server
    compare_ignore: list[str] = field(default_factory=list)
    account: str | None = None  # the AC… account of the 2010 API's paths
    purchases: bool = False  # scenarios and schemathesis may buy numbers
    api_url: str | None = None  # the 2010 API's base URL, when not --url's
    send_to: str | None = None  # a number the scenarios may text
    test_numbers: bool = False  # the target answers Twilio's test numbers for the account
    fuzz_sends: bool = False  # schemathesis may send messages (to random numbers)
    scenarios_only: bool = False  # no schemathesis stage: a short run of the scenarios alone


def parse_args(argv: list[str], prog: str = "python -m twilio_fake_contract") -> Options:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Check a server against openapi.yaml: behavioural scenarios, then "
        "schemathesis with every check. Give the server's --url, or a --serve command that "
        "starts one.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--url", help="base URL of the server: the contract's paths follow it")
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
    parser.add_argument(
        "--account",
        help="the AC… account whose numbers to check (default: --user, when it is an AC… SID)",
    )
    parser.add_argument(
        "--api-url",
        help="base URL of the 2010 API (IncomingPhoneNumbers…) when not --url's; "
        "for Twilio: https://api.twilio.com",
    )
    parser.add_argument(
        "--allow-purchases",
        action="store_true",
        help="let the run buy phone numbers (it releases them again); on Twilio that costs money",
    )
    parser.add_argument(
        "--send-to",
        metavar="NUMBER",
        help="a phone number (E.164) the scenarios may text, through --service; on Twilio each "
        "message costs money and reaches that phone",
    )
    parser.add_argument(
        "--test-numbers",
        action="store_true",
        help="the target answers Twilio's test numbers (+15005550001…) for this account, as the "
        "fake does for every account and Twilio only for test credentials",
    )
    parser.add_argument(
        "--fuzz-sends",
        action="store_true",
        help=f"let schemathesis run {SENDING_OPERATION}, which texts random numbers: for a fake "
        "only, never a real account",
    )
    parser.add_argument(
        "--scenarios-only",
        action="store_true",
        help="the scenarios alone, without schemathesis: a hundred requests or so, not a thousand",
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
    compare = parser.add_argument_group(
        "compare mode",
        "run the scenarios against a second server too, step by step, and report where the "
        f"answers differ (no schemathesis); its password comes from ${COMPARE_PASSWORD_VARIABLE}",
    )
    compare.add_argument("--compare-url", help="base URL of the second server")
    compare.add_argument("--compare-user", help="its Account SID or API Key SID")
    compare.add_argument("--compare-service", help="an MG… service of that account")
    compare.add_argument(
        "--compare-numbers", default="", help="as many free PN… numbers as --numbers gives"
    )
    compare.add_argument("--compare-service2", help="a second MG… service of that account")
    compare.add_argument("--compare-voice-only", help="a PN… number of it with neither SMS nor MMS")
    compare.add_argument(
        "--compare-pool-limit", type=int, help="how many numbers its service holds"
    )
    compare.add_argument(
        "--compare-ignore",
        action="append",
        default=[],
        metavar="[SCENARIO:]FIELD,…",
        help="differences to accept knowingly (shell wildcards; repeatable; @FILE reads one a "
        "line, # starts a comment), e.g. 'body.phone_numbers[*].phone_number'",
    )
    args = parser.parse_args(argv)
    if not (args.url or args.serve):
        parser.error("give --url, or --serve")
    if not (args.user and args.password and args.service and (args.numbers or args.read_only)):
        parser.error(f"give --user, --password (or ${PASSWORD_VARIABLE}), --service and --numbers")
    numbers = [n.strip() for n in args.numbers.split(",") if n.strip()]
    second = None
    if args.compare_url:
        second_password = os.environ.get(COMPARE_PASSWORD_VARIABLE)
        compare_numbers = [n.strip() for n in args.compare_numbers.split(",") if n.strip()]
        if not (args.compare_user and second_password and args.compare_service):
            parser.error(
                f"compare mode: give --compare-user, ${COMPARE_PASSWORD_VARIABLE}, "
                "--compare-service and --compare-numbers"
            )
        if len(compare_numbers) != len(numbers):
            parser.error(
                f"compare mode: --compare-numbers gives {len(compare_numbers)} numbers, "
                f"--numbers {len(numbers)}: the scenarios must take the same steps on both"
            )
        second = Target(
            args.compare_url.rstrip("/"),
            args.compare_user,
            second_password,
            args.compare_service,
            compare_numbers,
            args.compare_service2,
            _per_second(args.rate),
            args.compare_voice_only,
            args.compare_pool_limit,
            args.compare_user if args.compare_user.startswith("AC") else None,
            args.allow_purchases,
            send_to=args.send_to,
            test_numbers=args.test_numbers,
        )
    elif any(
        getattr(args, name)
        for name in ("compare_user", "compare_service", "compare_numbers", "compare_ignore")
    ):
        parser.error("the --compare-… options need --compare-url")
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
        second,
        args.compare_ignore,
        args.account or (args.user if args.user.startswith("AC") else None),
        args.allow_purchases,
        args.api_url.rstrip("/") if args.api_url else None,
        args.send_to,
        args.test_numbers,
        args.fuzz_sends,
        args.scenarios_only,
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
            options.account,
            options.purchases,
            options.api_url,
            options.send_to,
            options.test_numbers,
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
    The credentials are read from the environment (`${…}`), so the file holds no password, and
    the generation settings are the contract's leniency (see checks.GENERATION).
    """
    pool = contract.pool()

    def values(items: list[str]) -> str:
        return ", ".join(f'"{item}"' for item in items)

    lines = [
        "[auth.basic]",
        f'username = "{target.user}"',
        f'password = "${{{PASSWORD_VARIABLE}}}"',
        "[generation]",
        *(f"{key} = {str(value).lower()}" for key, value in checks.GENERATION.items()),
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
        "negative_data_rejection = { expected-statuses = "
        f"{json.dumps(checks.REJECTION_STATUSES)} }}",
        "[dictionaries.services]",
        f"values = [{values(target.services())}]",
    ]
    parameters = [
        f'"path.{pool.service_parameter}" = {{ dictionary = "services", probability = 0.8 }}'
    ]
    if target.numbers:
        lines += ["[dictionaries.numbers]", f"values = [{values(target.numbers)}]"]
        parameters += [
            f'"path.{pool.entry_parameter}" = {{ dictionary = "numbers", probability = 0.8 }}',
            f'"body.{pool.number_field}" = {{ dictionary = "numbers", probability = 0.8 }}',
        ]
    # Only the pool's operations draw from them: a service's or a number's own `Sid` would
    # otherwise be the given ones too, and schemathesis would update, delete or release them.
    pool_operations = [pool.create, pool.list, pool.fetch, pool.delete]
    return (
        "\n".join(
            [
                *lines,
                "[[operations]]",
                f"include-operation-id = [{values([op.operation_id for op in pool_operations])}]",
                "[operations.parameters]",
                *parameters,
            ]
        )
        + "\n"
    )


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
        "--url", target.url + contract.bundled().base_path,
        "--checks", "all", "--phases", ",".join(phases),
        "--seed", str(options.seed), "--max-examples", str(options.max_examples),
        "--report", "junit", "--report-junit-path", str(junit), "--no-color",
        "--generation-database", "none",
    ]  # fmt: skip
    if options.read_only:
        command += ["--include-method", "GET"]
    if not options.purchases:
        command += ["--exclude-operation-id", BUYING_OPERATION]
    if not options.fuzz_sends:
        command += ["--exclude-operation-id", SENDING_OPERATION]
    if options.rate:
        command += ["--rate-limit", options.rate]
    # The password reaches schemathesis through its environment, never its command line.
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": f"{__package__}.checks",
        PASSWORD_VARIABLE: target.password,
    }
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
    stage = reports.Stage("schemathesis", time.monotonic() - started, failures, _junit_count(junit))
    if not options.purchases and not options.read_only:
        stage.skipped.append(
            scenarios.Outcome(
                f"schemathesis: {BUYING_OPERATION}",
                False,
                skipped="it buys phone numbers, which costs money on a real account",
                enable="--allow-purchases",
            )
        )
    if not options.fuzz_sends and not options.read_only:
        stage.skipped.append(
            scenarios.Outcome(
                f"schemathesis: {SENDING_OPERATION}",
                False,
                skipped="fuzzed, it texts random numbers: a fake's operation only",
                enable="--fuzz-sends",
            )
        )
    return stage


def schemathesis_left_out(options: Options) -> reports.Stage:
    """The stage --scenarios-only leaves out. Its JUnit file says so, and what an earlier run
    left in the reports folder (schemathesis's log and configuration) is removed: nothing there
    reads as this run's schemathesis."""
    for name in ("contract-schemathesis.txt", "schemathesis.toml"):
        (options.reports_dir / name).unlink(missing_ok=True)
    reason = "--scenarios-only was given. To run it: leave out --scenarios-only"
    return reports.Stage("schemathesis", 0.0, left_out=reason)


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
    if options.compare is not None:
        return run_compare(options, options.compare)
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
                if options.scenarios_only:
                    stages.append(schemathesis_left_out(options))
                else:
                    stages.append(run_schemathesis(target, options))
            finally:
                if before is not None:
                    stages += _restore(client, before, restored)
    secrets = reports.Secrets([(options.user or "", options.password or "")])
    summary = reports.write(options.reports_dir, target.url, options, stages, restored, secrets)
    print(summary)
    return 0 if reports.verdict(stages) == "PASSED" else 1


def run_compare(options: Options, second: Target) -> int:
    """Compare mode: the scenarios against both servers; exit 1 on any difference not accepted."""
    secrets = reports.Secrets(
        [(options.user or "", options.password or ""), (second.user, second.password)]
    )
    ignore = compare.Ignore.parse(options.compare_ignore)
    stages: list[reports.Stage] = []
    restored: list[str] = []
    comparisons: list[compare.Comparison] = []
    notes: list[str] = []
    with target_for(options) as first:
        clients = [Client(first), Client(second)]
        befores: list[dict[str, set[str]] | None] = []
        for label, client in zip(("first", "second"), clients, strict=True):
            try:
                keeps_state = not (options.read_only or options.disposable)
                befores.append(scenarios.snapshot(client) if keeps_state else None)
            except (
                scenarios.ScenarioFailed, requests.RequestException, ValueError, KeyError
            ) as error:  # fmt: skip
                stages.append(
                    _stage_failure(
                        f"snapshot of the {label} server", "the pools can be listed", error
                    )
                )
                befores.append(None)
        if not stages:
            sizes = [sorted(len(v) for v in b.values()) for b in befores if b is not None]
            if len(sizes) == 2 and sizes[0] != sizes[1]:
                notes.append(
                    f"the pools did not start alike (numbers in each pool: {sizes[0]} on the "
                    f"first server, {sizes[1]} on the second): lists differ for that reason"
                )
            try:
                comparisons = compare.run(first, second, ignore, options.read_only)
            finally:
                for client, before in zip(clients, befores, strict=True):
                    if before is not None:
                        stages += _restore(client, before, restored)
    text = compare.summary(first, second, comparisons, notes)
    text += (
        "\nClean-up (the pools, services and numbers are as the run found them): "
        + ("; ".join(restored) if restored else "the run left nothing to undo")
        + ".\n"
    )
    for stage in stages:
        text += "".join(
            f"\n## {stage.name}: {f.check}\n\n```\n{reports.describe(f)}\n```\n"
            for f in stage.failures
        )
    if stages:
        text = text.replace(
            "# Contract comparison: NO DIFFERENCE", "# Contract comparison: FAILED", 1
        )
    compare.write_junit(options.reports_dir / "contract-compare.xml", comparisons)
    text = secrets.scrub(text)
    (options.reports_dir / "contract-summary.md").write_text(text)
    secrets.scrub_files(options.reports_dir)
    print(text)
    return 0 if not stages and compare.verdict(comparisons) == "NO DIFFERENCE" else 1


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
