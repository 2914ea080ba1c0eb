"""What each override kept for speed in twilio_fake/overrides.py gains over connexion's own way.

    .venv/bin/python tools/override_gains.py [--served SECONDS] [--rounds 3]

For each such override, the fake is run as it is and with that override put back to what
connexion does itself, and the two are compared:
- in-process, by calls per request (cProfile, worker threads included: tools/profile_requests.py),
  which do not drift on a shared machine;
- with --served, by twilio-python's sequential calls to two servers started side by side (one as
  it is, one without the override), measured in interleaved rounds: the median of the rounds'
  ratios.

An override whose gain is under 5% in both goes (docs/performance.md, "Overrides kept for speed").
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import profile_requests  # beside this file

from twilio_fake import overrides

OPERATIONS = ("fetch", "list", "create+delete")


def connexion_basic_check() -> None:
    """TwilioBasicAuth calls the check directly; connexion's wrapper (`_generic_check`) inspects
    the check's signature twice a request to decide what to pass it."""
    from connexion.security import BasicSecurityHandler

    def through_connexion(self: Any, check: Any) -> Any:
        return BasicSecurityHandler._get_verify_func(
            self, lambda username, password, request: check(username, password, request)
        )

    overrides.TwilioBasicAuth._get_verify_func = through_connexion  # type: ignore[method-assign,assignment]


def connexion_parameter_validation() -> None:
    """TwilioParameterValidator compiles each parameter's schema once; connexion's own
    `validate_parameter` deep-copies the schema and builds a Draft 4 validator for every value
    (the messages are worded as the fake's, to compare the compiling alone)."""
    from connexion.validators import ParameterValidator

    def per_value(self: Any, kind: str, value: Any, param: dict, name: Any = None) -> Any:
        error = ParameterValidator.validate_parameter(kind, value, param, name)
        return error and f"Invalid {kind} parameter {param['name']}: {error.splitlines()[0]}"

    overrides.TwilioParameterValidator.validate_parameter = per_value  # type: ignore[method-assign,assignment]


def connexion_handler_chain() -> None:
    """OperationBuiltOnce puts each handler's decorators together once; connexion's
    `AsyncOperation.fn` makes the decorator, and its wrapper the chain and a URI parser, on
    every request."""
    overrides.build_handlers_once = lambda app: None
    from twilio_fake import app

    app.build_handlers_once = overrides.build_handlers_once


def connexion_request_validators() -> None:
    """ValidatorsBuiltOnce makes an operation's validators once; connexion's
    `RequestValidationOperation` makes its URI parsers and validators on every request."""
    from connexion.middleware.request_validation import RequestValidationAPI

    overrides.ValidatorsBuiltOnceAPI.make_operation = RequestValidationAPI.make_operation  # type: ignore[method-assign]


VARIANTS: dict[str, Callable[[], None]] = {
    "TwilioBasicAuth (the check called directly)": connexion_basic_check,
    "TwilioParameterValidator (schemas compiled once)": connexion_parameter_validation,
    "OperationBuiltOnce (each handler's decorators put together once)": connexion_handler_chain,
    "ValidatorsBuiltOnce (each operation's validators made once)": connexion_request_validators,
}


def calls_per_request(operation: str, count: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        app = profile_requests.bench_app(Path(tmp))  # the bench's data, as profile_requests
        run = profile_requests.operations(app)[operation]
        asyncio.run(profile_requests.repeat(run, 50))  # warm-up
        _own, calls, _stats = profile_requests.profile(lambda: profile_requests.repeat(run, count))
    return sum(calls.values()) / count


def serve(variant: str, argv: list[str]) -> int:
    """The fake's command line, with one override put back to connexion's way ("" for none)."""
    if variant:
        VARIANTS[variant]()
    from twilio_fake.cli import main

    return main(argv)


def served_ratios(variant: str, seconds: float, rounds: int) -> dict[str, float]:
    """Median over interleaved rounds of (calls/s as it is) / (calls/s without the override)."""
    import bench  # beside this file

    ratios: dict[str, list[float]] = {op: [] for op in OPERATIONS}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        fixtures = bench.fixture_file(directory)
        servers: list[bench.Measured] = []
        for name, which in (("as is", ""), ("without", variant)):
            database = directory / f"{len(servers)}.sqlite3"
            command = [sys.executable, __file__, "--serve", which, "--", "--port", "0",
                       "--database", str(database), "--fixtures", str(fixtures),
                       "--pool-limit", "2000"]  # fmt: skip
            bench.Measured(command, "/_fake/health").stop()  # the tables and the fixtures
            bench.fill_pool(database, bench.STORED)
            servers.append(bench.Measured(command, "/_fake/health"))
            print(f"    {name}: {servers[-1].url}", flush=True)
        try:
            for _ in range(rounds):
                for op in OPERATIONS:
                    kept, without = (
                        bench.sdk_rate(s.url, bench.SDK_FOR[op], seconds) for s in servers
                    )
                    ratios[op].append(kept / without)
        finally:
            for server in servers:
                server.stop()
    return {op: statistics.median(values) for op, values in ratios.items()}


def main() -> int:
    if sys.argv[1:2] == ["--serve"]:
        separator = sys.argv.index("--")
        return serve(sys.argv[2], sys.argv[separator + 1 :])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="requests profiled per operation")
    parser.add_argument("--served", type=float, default=0, help="seconds per served measure")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved served rounds")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    as_is = {op: calls_per_request(op, args.count) for op in OPERATIONS}
    print("calls per request as it is: " + ", ".join(f"{op} {n:.0f}" for op, n in as_is.items()))
    for variant, put_back in VARIANTS.items():
        print(f"{variant}:", flush=True)
        saved = {}
        for op in OPERATIONS:
            # Each variant in a process of its own: the override is put back for good.
            saved[op] = _in_child(put_back, op, args.count) / as_is[op] - 1
        print("  calls without it: " + ", ".join(f"{op} +{v:.1%}" for op, v in saved.items()))
        if args.served:
            ratios = served_ratios(variant, args.served, args.rounds)
            print(
                "  served, calls/s with / without (median of rounds): "
                + ", ".join(f"{op} {r:.3f}" for op, r in ratios.items())
            )
    return 0


def _in_child(put_back: Callable[[], None], operation: str, count: int) -> float:
    import multiprocessing

    def run(queue: Any) -> None:
        logging.basicConfig(level=logging.WARNING)
        put_back()
        queue.put(calls_per_request(operation, count))

    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=run, args=(queue,))
    child.start()
    result = float(queue.get())
    child.join()
    return result


if __name__ == "__main__":
    sys.exit(main())
