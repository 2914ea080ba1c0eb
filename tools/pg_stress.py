"""Writes racing bulk changes on PostgreSQL, in one process: what fails, counted by kind.

    python tools/pg_stress.py [--seconds 20]

On a throwaway PostgreSQL server (the tests' own), an account is minted with one service and
two numbers in its pool; then, for the given time, six threads send (half from a number, half
through the service, so that the dispatcher chooses and records a sticky sender), one thread
runs the dispatcher's step over every due message, and one mints and drops other accounts (bulk
changes). It prints what was done and every error by kind. Before every write held the bulk
lock (docs/deployment.md), such a run met PostgreSQL's deadlock error dozens of times a minute;
docs/performance.md (twenty-second pass) has what it showed.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' throwaway PostgreSQL server

from tests.support.postgres import PostgresServer  # noqa: E402
from twilio_fake import fixtures  # noqa: E402
from twilio_fake.backend import Backend  # noqa: E402
from twilio_fake.resources.messages import lifecycle, model  # noqa: E402
from twilio_fake.resources.messages.model import Draft  # noqa: E402
from twilio_fake.resources.pool import model as pool  # noqa: E402

SENDERS = 6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    server = PostgresServer()
    try:
        backend = Backend(server.create_database(), fixtures.demo())
        done: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        account = backend.mint_account(services=1, numbers=2)
        service = next(iter(account.services))
        for pooled in account.incoming_phone_numbers:
            pool.add(backend, account.sid, service, pooled.sid)
        number = account.incoming_phone_numbers[0].phone_number
        stop = time.monotonic() + args.seconds

        def repeat(kind: str, action: Callable[[int], object]) -> Callable[[], None]:
            def run() -> None:
                n = 0
                while time.monotonic() < stop:
                    n += 1
                    try:
                        action(n)
                        done[kind] += 1
                    except Exception as error:  # what failed is what this counts
                        errors[f"{kind}: {type(error).__name__}: {str(error)[:70]!r}"] += 1

            return run

        def send(through_service: bool) -> Callable[[int], object]:
            def one(n: int) -> object:
                to = f"+1415555{n % 10_000:04d}"
                if through_service:
                    return model.create(
                        backend, account.sid, Draft(to=to, service_sid=service, body="hi")
                    )
                return model.create(backend, account.sid, Draft(to=to, from_=number, body="hi"))

            return one

        def dispatch(_n: int) -> object:
            with backend.db.write() as conn:  # as the dispatcher calls it; everything due
                return lifecycle.advance_due(conn, real_now=time.time() + 3600)

        def mint_and_drop(_n: int) -> None:
            other = backend.mint_account(services=2, numbers=3)
            backend.drop_account(other.sid)

        work = [repeat("send", send(through_service=i % 2 == 0)) for i in range(SENDERS)]
        work += [repeat("dispatch", dispatch), repeat("mint+drop", mint_and_drop)]
        threads = [threading.Thread(target=run) for run in work]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print("done:", dict(done))
        print("errors:", dict(errors) or "none")
        backend.db.dispose()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
