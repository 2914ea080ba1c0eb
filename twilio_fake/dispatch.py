"""The dispatcher: moves messages through their statuses when they fall due, and sends their
status callbacks.

One per server process, started and stopped with the app (its ASGI lifespan). It sets
`backend.wake_dispatcher`, which a write that gave a message a due time calls with the real time
it falls due; then it runs the due transitions (`lifecycle.advance_due`, through
`Database.call`: never on the event loop's time) and sleeps until the next one falls due by its
account's clock, or until woken for an earlier one. Rounds are at least BATCH_SECONDS apart, so
that the steps of a stream of sends are taken a batch at a time, not one round each. A slow
poll (POLL_INTERVAL) also finds what other processes (`--workers`, replicas) made due: the
rules claim each step safely, so two dispatchers never move one message twice.

Each transition's callback is sent by `outbound.Sender`. A message's callbacks go in order,
one after the other (a per-message chain); different messages' go at once, within the
sender's bounds. The backlog of callbacks not yet sent is bounded (MAX_BACKLOG; beyond it
they are journaled as dropped). Callback faults (`callback_faults`) are applied here.

The clock's control (`POST /_fake/clock/{AccountSid}`) advances through `advance_account`,
which runs that account's due transitions at once and waits for their callbacks. What is not
sent when the server stops is lost, as a message's status is not: it stays in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError

from .backend import Backend
from .callback_faults import CallbackFault, CallbackFaults
from .outbound import CallbackEntry, Sender, Webhook
from .resources.messages import lifecycle

log = logging.getLogger("twilio_fake.dispatch")

POLL_INTERVAL = 2.0  # seconds between looks for what other processes made due
LIMIT = 100  # messages moved per call of advance_due
MAX_ROUNDS = 20  # steps one clock advance runs for its account (a message has fewer statuses)
MAX_BACKLOG = 10_000  # callbacks waiting to be sent, beyond which new ones are dropped
# The least time between two rounds (unless a round was full, or a message is due now): the
# steps that fall due meanwhile are taken together, in one transaction, up to this late (their
# dates are still their due times). Without it, a stream of sends made a round per step.
BATCH_SECONDS = 0.02

Advance = Callable[..., list[Any]]  # lifecycle.advance_due's signature


@dataclass
class Sent:
    """What became of one transition: its status and its callback's journal entries."""

    account_sid: str
    message_sid: str
    status: str
    callbacks: list[CallbackEntry]
    pending: bool = False  # not sent yet (held by a fault, or still under way)
    finished: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "message_sid": self.message_sid,
            "status": self.status,
            "pending": self.pending,
            "callbacks": [entry.as_dict() for entry in self.callbacks],
        }


class Dispatcher:
    def __init__(
        self,
        backend: Backend,
        sender: Sender,
        faults: CallbackFaults,
        *,
        advance: Advance | None = None,
        poll_interval: float = POLL_INTERVAL,
        backlog: int = MAX_BACKLOG,
        batch: float = BATCH_SECONDS,
    ) -> None:
        self.backend = backend
        self.sender = sender
        self.faults = faults
        self._advance = advance or lifecycle.advance_due
        self.poll_interval = poll_interval
        self.backlog = backlog
        self.batch = batch
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._runner: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one advance at a time in this process
        self._tasks: set[asyncio.Task[Any]] = set()
        self._chains: dict[str, asyncio.Task[Any]] = {}
        self._waiting = 0  # callbacks submitted and not yet sent (the backlog)
        self._db_calls: set[asyncio.Task[Any]] = set()  # database calls under way
        # While the loop sleeps: the real time it looks again by (None: it is looking now, or
        # about to). What wakes it meanwhile: a message due now, or the earliest due time.
        self._asleep_until: float | None = None
        self._look_now = False
        self._look_at: float | None = None

    # -- life ------------------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        self._lock = asyncio.Lock()
        await self.sender.open()
        self.backend.wake_dispatcher = self.wake
        self._runner = asyncio.create_task(self._run(), name="dispatcher")

    async def stop(self) -> None:
        self.backend.wake_dispatcher = _nothing
        tasks = [t for t in (self._runner, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._db_calls:
            # Let the database calls under way end (within the database's timeout) rather than
            # leave their threads holding connections of an engine about to be disposed.
            await asyncio.wait(self._db_calls, timeout=self.backend.db.timeout)
        self._runner, self._loop = None, None
        self._tasks.clear()
        self._chains.clear()
        self._waiting = 0
        await self.sender.close()

    @property
    def next_look(self) -> float | None:
        """While the loop sleeps, the real time it looks for due messages again (None: it is
        looking, or about to)."""
        return self._asleep_until

    def wake(self, at: float | None = None) -> None:
        """Look for due messages at `at` (the real time a message just written falls due,
        seconds since the epoch; None: now): callable from any thread (a handler's write).
        Nothing to do when the loop looks by then anyway, as it does for all but the first of
        a run of sends."""
        loop, event = self._loop, self._event
        if loop is None or event is None:
            return
        asleep_until = self._asleep_until  # read once: the loop's thread may change it
        if at is not None and asleep_until is not None and at >= asleep_until:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing to wake
            loop.call_soon_threadsafe(self._woken, at)

    def _woken(self, at: float | None) -> None:
        """On the loop's thread: note what a wake asked for, and let the loop see it."""
        if at is None:
            self._look_now = True
        elif self._look_at is None or at < self._look_at:
            self._look_at = at
        if self._event is not None:
            self._event.set()

    # -- the loop --------------------------------------------------------------------------------
    async def _run(self) -> None:
        assert self._event is not None
        failing = False
        while True:
            # Awake from here until it sleeps: a wake meanwhile makes it look once more (the
            # write may have come after its look at the database).
            self._event.clear()
            self._asleep_until, self._look_now, self._look_at = None, False, None
            moved = 0
            try:
                async with self._lock:
                    moved = len(await self._advance_and_submit(None))
                wait = 0.0 if moved >= LIMIT else await self._until_next_due()
                failing = False
            except asyncio.CancelledError:
                raise
            except DBAPIError as err:
                if not failing:  # once per spell of failures, not every poll
                    reason = " ".join(str(err.orig or err).split())[:300]
                    log.warning("the dispatcher cannot reach the database: %s", reason)
                failing = True
                wait = self.poll_interval
            except Exception:
                if not failing:
                    log.exception("the dispatcher could not run the due transitions")
                failing = True
                wait = self.poll_interval
            if moved < LIMIT:
                wait = max(wait, self.batch)
            if wait > 0:
                now = time.time()
                await self._sleep(now + wait, now + min(wait, self.batch))

    async def _sleep(self, until: float, not_before: float) -> None:
        """Sleep until the real time `until`, or until a wake asks for an earlier look: now,
        or at the due time it names but `not_before` (then without a look at the database
        before it)."""
        assert self._event is not None
        self._asleep_until = until
        while True:
            if self._look_now:
                return
            if self._look_at is not None:
                until = min(until, max(self._look_at, not_before))
                self._asleep_until, self._look_at = until, None
            self._event.clear()
            try:
                async with asyncio.timeout(max(0.0, until - time.time())):
                    await self._event.wait()
            except TimeoutError:
                return

    async def _advance_and_submit(self, account_sid: str | None) -> list[Sent]:
        """Run one step of every due message (of one account, or all); submit the callbacks.
        The caller holds the lock: one advance at a time in this process."""
        advance = self._advance
        db = self.backend.db

        def step() -> list[Any]:
            with db.write() as conn:
                return advance(conn, real_now=time.time(), account_sid=account_sid, limit=LIMIT)

        transitions = await self._db(step, write=True)
        return [self._submit(transition) for transition in transitions]

    async def _db(self, function: Callable[[], Any], *, write: bool = False) -> Any:
        """`Database.call`, run to its end even when the caller is cancelled (stop waits)."""
        call = asyncio.ensure_future(self.backend.db.call(function, write=write))
        self._db_calls.add(call)
        call.add_done_callback(self._db_calls.discard)
        # A call whose caller was cancelled (a stop) may still fail: its error is nobody's to
        # report (asyncio would log it as never retrieved, with a traceback).
        call.add_done_callback(_retrieved)
        return await asyncio.shield(call)

    async def _until_next_due(self) -> float:
        """Seconds until the next message falls due by its account's running clock (frozen
        clocks move only when told), at most the poll interval."""

        def next_due() -> float | None:
            with self.backend.db.read() as conn:
                return lifecycle.next_due(conn)

        due = await self._db(next_due)
        if due is None:
            return self.poll_interval
        return max(0.0, min(due - time.time(), self.poll_interval))

    # -- callbacks -------------------------------------------------------------------------------
    def _submit(self, transition: Any) -> Sent:
        """Queue the transition's callback behind its message's earlier ones (or apply a fault);
        return its record, whose `callbacks` fill in as they are sent."""
        sent = Sent(transition.account_sid, transition.message_sid, transition.status, [])
        callback = transition.callback
        if callback is None:
            return sent
        hook = Webhook(
            account=transition.account_sid,
            url=callback.url,
            params=dict(callback.params),
            message=transition.message_sid,
        )
        if self._waiting >= self.backlog:
            sent.callbacks.append(self._not_sent(hook, "dropped", "the callback backlog is full"))
            return sent
        fault = self.faults.take(transition.account_sid)
        if fault is not None:
            hook.fault = fault.sid
            if fault.action == "drop":
                sent.callbacks.append(self._not_sent(hook, "dropped", "dropped by a fault"))
                return sent
            hook.bad_signature = fault.action == "bad_signature"
        sent.pending = True
        self._waiting += 1
        if fault is not None and fault.action == "reverse":
            fault.held.append((hook, sent))
            if fault.times <= 0:
                self._release(fault, reverse=True)
            return sent
        copies = 2 if fault is not None and fault.action == "duplicate" else 1
        delay = fault.delay if fault is not None and fault.action == "delay" else 0.0
        self._chain(transition.message_sid, self._send_into(sent, hook, copies, delay))
        return sent

    def _release(self, fault: CallbackFault, *, reverse: bool) -> None:
        """Send what a `reverse` fault held, one after the other: reversed, or (the fault
        disarmed early) in their own order."""
        held, fault.held = fault.held, []
        order = list(reversed(held)) if reverse else held

        async def in_turn() -> None:
            for hook, sent in order:
                await self._send_into(sent, hook, 1, 0.0)

        self._spawn(in_turn())

    def release_disarmed(self, faults: list[CallbackFault]) -> None:
        """Disarmed faults let what they held go, in its own order."""
        for fault in faults:
            if fault.held:
                self._release(fault, reverse=False)

    async def _send_into(self, sent: Sent, hook: Webhook, copies: int, delay: float) -> None:
        try:
            if delay:
                await asyncio.sleep(delay)
            token = await self._signing_key(hook.account)
            for _ in range(copies):
                sent.callbacks.append(await self.sender.send(hook, token))
        except asyncio.CancelledError:
            raise
        except DBAPIError as err:  # the signing key out of reach: lost, and said so
            reason = " ".join(str(err.orig or err).split())[:300]
            log.warning("a status callback could not be signed: %s", reason)
            sent.callbacks.append(self._not_sent(hook, "failed", f"the database: {reason}"))
        except Exception as err:
            log.exception("a status callback could not be sent")
            sent.callbacks.append(self._not_sent(hook, "failed", f"{type(err).__name__}: {err}"))
        finally:
            sent.pending = False
            sent.finished.set()
            self._waiting -= 1

    def _chain(self, key: str, work: Any) -> None:
        """Run `work` after the work queued before it under `key` (a message's callbacks)."""
        previous = self._chains.get(key)

        async def after() -> None:
            if previous is not None:
                await asyncio.wait([previous])  # its failure or cancellation is its own
            await work

        task = self._spawn(after())
        self._chains[key] = task

        def forget(done: asyncio.Task[Any]) -> None:
            if self._chains.get(key) is done:
                del self._chains[key]

        task.add_done_callback(forget)

    def _spawn(self, work: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _not_sent(self, hook: Webhook, outcome: str, error: str) -> CallbackEntry:
        return self.sender.unsent(hook, outcome, error)

    async def _signing_key(self, account_sid: str) -> str | None:
        def read() -> str | None:
            with self.backend.db.read() as conn:
                return self.backend.signing_key(conn, account_sid)

        token: str | None = await self._db(read)
        return token

    # -- what the control surface asks ------------------------------------------------------
    async def advance_account(
        self, account_sid: str, deadline: float, change: Callable[[], Any] | None = None
    ) -> tuple[Any, list[Sent]]:
        """Make `change` (a write: the clock's move), then run the account's due transitions,
        step after step until none is due, and wait (up to `deadline` seconds) for their
        callbacks; return what `change` returned and the transitions, in the order they ran.

        Nothing else in this process advances meanwhile, so the answer lists every step the
        change made due (another process's dispatcher may still take some: `--workers`)."""
        done: list[Sent] = []
        async with self._lock:
            changed = await self._db(change, write=True) if change else None
            for _ in range(MAX_ROUNDS):
                step = await self._advance_and_submit(account_sid)
                if not step:
                    break
                done += step
        await self.settled(done, deadline)
        return changed, done

    async def settled(self, records: list[Sent], deadline: float) -> None:
        """Wait until each record's callbacks were sent, or `deadline` seconds have passed."""
        waiting = [asyncio.ensure_future(r.finished.wait()) for r in records if r.pending]
        if waiting:
            await asyncio.wait(waiting, timeout=deadline)
            for waiter in waiting:
                waiter.cancel()

    async def send_now(self, hook: Webhook) -> CallbackEntry:
        """Send one webhook at once (an inbound message's), outside any chain or fault."""
        return await self.sender.send(hook, await self._signing_key(hook.account))


def _nothing(at: float | None = None) -> None:
    pass


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


__all__ = ["Dispatcher", "Sent"]
